//! The runbook after the switch (`workflow` in the catalog): ordered steps that scale the
//! secondary, promote its database on a human's approval and call the user's own Lambda.
//! Read here from the flat JSON form (`RawStep`) into a typed step; every error names the
//! step and the field. The progress of a run is `domain::workflow_run`.

use serde::{Deserialize, Serialize};

use super::arn::is_region;
use super::text::quote_capped;

/// Steps in one workflow at most: each is kept in the state item while it runs.
pub const MAX_WORKFLOW_STEPS: usize = 20;
/// Longest step id; ids end up in alert subjects and operator requests.
pub const MAX_STEP_ID_CHARS: usize = 64;
/// Largest capacity a scale step may set (a typo guard, far above real groups).
pub const MAX_CAPACITY: i32 = 10_000;

/// Whether a human must approve the step before it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Approval {
    None,
    Required,
}

impl Approval {
    pub fn as_str(self) -> &'static str {
        match self {
            Approval::None => "none",
            Approval::Required => "required",
        }
    }
}

/// The step kinds, as spelled in `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    AutoscalingGroup,
    EcsService,
    RdsReadReplica,
    AuroraGlobal,
    Invoke,
}

impl StepKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::AutoscalingGroup => "autoscaling_group",
            StepKind::EcsService => "ecs_service",
            StepKind::RdsReadReplica => "rds_read_replica",
            StepKind::AuroraGlobal => "aurora_global",
            StepKind::Invoke => "invoke",
        }
    }

    /// Database promotions cannot be taken back in seconds, so a human approves them by default.
    pub fn default_approval(self) -> Approval {
        match self {
            StepKind::RdsReadReplica | StepKind::AuroraGlobal => Approval::Required,
            _ => Approval::None,
        }
    }

    /// The fields this kind takes besides `id`, `kind` and `approval`.
    fn fields(self) -> &'static [&'static str] {
        match self {
            StepKind::AutoscalingGroup => {
                &["region", "name", "min", "max", "desired", "on_failback"]
            }
            StepKind::EcsService => &["region", "cluster", "service", "desired", "on_failback"],
            StepKind::RdsReadReplica => &["region", "identifier"],
            StepKind::AuroraGlobal => &["global_cluster", "target_cluster_arn", "allow_data_loss"],
            StepKind::Invoke => &["function_arn"],
        }
    }
}

/// A scale step's target on failback (`on_failback`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleBack {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<i32>,
    pub desired: i32,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepAction {
    /// UpdateAutoScalingGroup: MinSize and DesiredCapacity (MaxSize raised to `max` when given).
    AutoscalingGroup {
        region: String,
        name: String,
        min: i32,
        max: Option<i32>,
        desired: i32,
    },
    /// UpdateService: desiredCount.
    EcsService {
        region: String,
        cluster: String,
        service: String,
        desired: i32,
    },
    /// PromoteReadReplica.
    RdsReadReplica { region: String, identifier: String },
    /// SwitchoverGlobalCluster, or FailoverGlobalCluster with AllowDataLoss for an automatic
    /// failover of a step that allows data loss.
    AuroraGlobal {
        global_cluster: String,
        target_cluster_arn: String,
        allow_data_loss: bool,
    },
    /// The user's Lambda, given the transition; its answer is recorded.
    Invoke { function_arn: String },
}

impl StepAction {
    pub fn kind(&self) -> StepKind {
        match self {
            StepAction::AutoscalingGroup { .. } => StepKind::AutoscalingGroup,
            StepAction::EcsService { .. } => StepKind::EcsService,
            StepAction::RdsReadReplica { .. } => StepKind::RdsReadReplica,
            StepAction::AuroraGlobal { .. } => StepKind::AuroraGlobal,
            StepAction::Invoke { .. } => StepKind::Invoke,
        }
    }

    /// The resource, for people: `autoscaling group checkout-asg (eu-west-1)`.
    pub fn target(&self) -> String {
        match self {
            StepAction::AutoscalingGroup { region, name, .. } => {
                format!("autoscaling group {name} ({region})")
            }
            StepAction::EcsService {
                region,
                cluster,
                service,
                ..
            } => format!("ECS service {cluster}/{service} ({region})"),
            StepAction::RdsReadReplica { region, identifier } => {
                format!("RDS read replica {identifier} ({region})")
            }
            StepAction::AuroraGlobal {
                global_cluster,
                target_cluster_arn,
                ..
            } => format!("Aurora global database {global_cluster} -> {target_cluster_arn}"),
            StepAction::Invoke { function_arn } => format!("Lambda {function_arn}"),
        }
    }
}

/// One step of a service's workflow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawStep", into = "RawStep")]
pub struct WorkflowStep {
    pub id: String,
    pub approval: Approval,
    pub action: StepAction,
    /// Scale steps only: the target applied on failback. Without it a failback leaves the
    /// step's resource as it is.
    pub on_failback: Option<ScaleBack>,
}

impl WorkflowStep {
    pub fn kind(&self) -> StepKind {
        self.action.kind()
    }

    /// Database steps are never reversed automatically.
    pub fn is_database(&self) -> bool {
        matches!(
            self.kind(),
            StepKind::RdsReadReplica | StepKind::AuroraGlobal
        )
    }
}

/// The step as written in the catalog: every kind's fields, each optional; which ones a kind
/// requires or refuses is checked in `TryFrom`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub id: String,
    pub kind: Option<StepKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_cluster: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_cluster_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_data_loss: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failback: Option<ScaleBack>,
}

impl RawStep {
    /// The fields that are set, by name.
    fn given(&self) -> Vec<&'static str> {
        let mut given = Vec::new();
        let mut add = |name: &'static str, set: bool| {
            if set {
                given.push(name);
            }
        };
        add("region", self.region.is_some());
        add("name", self.name.is_some());
        add("min", self.min.is_some());
        add("max", self.max.is_some());
        add("desired", self.desired.is_some());
        add("cluster", self.cluster.is_some());
        add("service", self.service.is_some());
        add("identifier", self.identifier.is_some());
        add("global_cluster", self.global_cluster.is_some());
        add("target_cluster_arn", self.target_cluster_arn.is_some());
        add("allow_data_loss", self.allow_data_loss.is_some());
        add("function_arn", self.function_arn.is_some());
        add("on_failback", self.on_failback.is_some());
        given
    }
}

fn quote(s: &str) -> String {
    quote_capped(s, 100)
}

impl TryFrom<RawStep> for WorkflowStep {
    type Error = String;

    fn try_from(raw: RawStep) -> Result<Self, String> {
        let id = raw.id.clone();
        let step = || format!("step '{}'", quote(&id));
        if let Some(problem) = step_id_problem(&id) {
            return Err(format!("{}: field 'id': {problem}", step()));
        }
        let Some(kind) = raw.kind else {
            return Err(format!(
                "{}: field 'kind' is required: one of autoscaling_group, ecs_service, rds_read_replica, aurora_global, invoke",
                step()
            ));
        };
        let field_err = |field: &str, msg: String| {
            format!("{} ({}): field '{field}': {msg}", step(), kind.as_str())
        };
        for f in raw.given() {
            if !kind.fields().contains(&f) {
                return Err(field_err(
                    f,
                    format!(
                        "is not used by kind {} (it takes {})",
                        kind.as_str(),
                        kind.fields().join(", ")
                    ),
                ));
            }
        }
        let text = |field: &str, v: &Option<String>| -> Result<String, String> {
            match v {
                Some(s)
                    if !s.trim().is_empty()
                        && s.len() <= 1024
                        && !s.chars().any(char::is_control) =>
                {
                    Ok(s.clone())
                }
                Some(_) => Err(field_err(field, "must be a non-empty single line".into())),
                None => Err(field_err(field, "is required".into())),
            }
        };
        let region = |v: &Option<String>| -> Result<String, String> {
            let r = text("region", v)?;
            if is_region(&r) {
                Ok(r)
            } else {
                Err(field_err(
                    "region",
                    format!("'{}' is not an AWS region", quote(&r)),
                ))
            }
        };
        let count = |field: &str, v: Option<i32>, required: bool| -> Result<Option<i32>, String> {
            match v {
                None if required => Err(field_err(field, "is required".into())),
                Some(n) if !(0..=MAX_CAPACITY).contains(&n) => Err(field_err(
                    field,
                    format!("{n} must be between 0 and {MAX_CAPACITY}"),
                )),
                v => Ok(v),
            }
        };
        let action = match kind {
            StepKind::AutoscalingGroup => {
                let min = count("min", raw.min, true)?.unwrap_or_default();
                let desired = count("desired", raw.desired, true)?.unwrap_or_default();
                let max = count("max", raw.max, false)?;
                if desired < min {
                    return Err(field_err(
                        "desired",
                        format!("{desired} is below min {min}"),
                    ));
                }
                if let Some(max) = max.filter(|m| *m < desired) {
                    return Err(field_err(
                        "max",
                        format!("{max} is below desired {desired}"),
                    ));
                }
                if let Some(back) = &raw.on_failback {
                    let bmin = count("on_failback.min", back.min, true)?.unwrap_or_default();
                    count("on_failback.desired", Some(back.desired), true)?;
                    if back.desired < bmin {
                        return Err(field_err(
                            "on_failback.desired",
                            format!("{} is below on_failback.min {bmin}", back.desired),
                        ));
                    }
                }
                StepAction::AutoscalingGroup {
                    region: region(&raw.region)?,
                    name: text("name", &raw.name)?,
                    min,
                    max,
                    desired,
                }
            }
            StepKind::EcsService => {
                if let Some(back) = &raw.on_failback {
                    if back.min.is_some() {
                        return Err(field_err(
                            "on_failback.min",
                            "an ECS service has only a desired count".into(),
                        ));
                    }
                    count("on_failback.desired", Some(back.desired), true)?;
                }
                StepAction::EcsService {
                    region: region(&raw.region)?,
                    cluster: text("cluster", &raw.cluster)?,
                    service: text("service", &raw.service)?,
                    desired: count("desired", raw.desired, true)?.unwrap_or_default(),
                }
            }
            StepKind::RdsReadReplica => StepAction::RdsReadReplica {
                region: region(&raw.region)?,
                identifier: text("identifier", &raw.identifier)?,
            },
            StepKind::AuroraGlobal => {
                let arn = text("target_cluster_arn", &raw.target_cluster_arn)?;
                if arn_parts(&arn, "rds", "cluster:").is_none() {
                    return Err(field_err(
                        "target_cluster_arn",
                        format!(
                            "'{}' is not an Aurora DB cluster ARN (arn:aws:rds:<region>:<account>:cluster:<name>)",
                            quote(&arn)
                        ),
                    ));
                }
                StepAction::AuroraGlobal {
                    global_cluster: text("global_cluster", &raw.global_cluster)?,
                    target_cluster_arn: arn,
                    allow_data_loss: raw.allow_data_loss.unwrap_or(false),
                }
            }
            StepKind::Invoke => {
                let arn = text("function_arn", &raw.function_arn)?;
                if arn_parts(&arn, "lambda", "function:").is_none() {
                    return Err(field_err(
                        "function_arn",
                        format!(
                            "'{}' is not a Lambda function ARN (arn:aws:lambda:<region>:<account>:function:<name>)",
                            quote(&arn)
                        ),
                    ));
                }
                StepAction::Invoke { function_arn: arn }
            }
        };
        Ok(WorkflowStep {
            id,
            approval: raw.approval.unwrap_or(kind.default_approval()),
            action,
            on_failback: raw.on_failback,
        })
    }
}

impl From<WorkflowStep> for RawStep {
    fn from(s: WorkflowStep) -> RawStep {
        let mut raw = RawStep {
            id: s.id,
            kind: Some(s.action.kind()),
            approval: Some(s.approval),
            on_failback: s.on_failback,
            ..RawStep::default()
        };
        match s.action {
            StepAction::AutoscalingGroup {
                region,
                name,
                min,
                max,
                desired,
            } => {
                raw.region = Some(region);
                raw.name = Some(name);
                raw.min = Some(min);
                raw.max = max;
                raw.desired = Some(desired);
            }
            StepAction::EcsService {
                region,
                cluster,
                service,
                desired,
            } => {
                raw.region = Some(region);
                raw.cluster = Some(cluster);
                raw.service = Some(service);
                raw.desired = Some(desired);
            }
            StepAction::RdsReadReplica { region, identifier } => {
                raw.region = Some(region);
                raw.identifier = Some(identifier);
            }
            StepAction::AuroraGlobal {
                global_cluster,
                target_cluster_arn,
                allow_data_loss,
            } => {
                raw.global_cluster = Some(global_cluster);
                raw.target_cluster_arn = Some(target_cluster_arn);
                raw.allow_data_loss = Some(allow_data_loss);
            }
            StepAction::Invoke { function_arn } => raw.function_arn = Some(function_arn),
        }
        raw
    }
}

fn step_id_problem(id: &str) -> Option<String> {
    if id.is_empty() {
        return Some("must not be empty".into());
    }
    if id.chars().count() > MAX_STEP_ID_CHARS {
        return Some(format!("longer than {MAX_STEP_ID_CHARS} characters"));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Some("may only contain A-Z, a-z, 0-9, '_', '.', '-'".into());
    }
    None
}

/// `(region, account)` of `arn:<partition>:<service>:<region>:<account>:<prefix><name>`.
pub fn arn_parts<'a>(arn: &'a str, service: &str, prefix: &str) -> Option<(&'a str, &'a str)> {
    let mut parts = arn.splitn(6, ':');
    let (lit, partition, svc, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let name = resource.strip_prefix(prefix)?;
    (lit == "arn"
        && !partition.is_empty()
        && svc == service
        && is_region(region)
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && !name.is_empty()
        && !name.chars().any(char::is_control))
    .then_some((region, account))
}

/// The region of an ARN this module accepted (the Aurora target, the Lambda function).
pub fn arn_region(arn: &str) -> &str {
    arn.split(':').nth(3).unwrap_or_default()
}

/// `preflight.capacity`: the secondary's warm capacity a failover needs before it switches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CapacityFloor {
    /// The group's InService instances.
    AutoscalingGroup {
        region: String,
        name: String,
        at_least: i32,
    },
    /// The service's running tasks.
    EcsService {
        region: String,
        cluster: String,
        service: String,
        at_least: i32,
    },
}

impl CapacityFloor {
    pub fn at_least(&self) -> i32 {
        match self {
            CapacityFloor::AutoscalingGroup { at_least, .. }
            | CapacityFloor::EcsService { at_least, .. } => *at_least,
        }
    }

    pub fn region(&self) -> &str {
        match self {
            CapacityFloor::AutoscalingGroup { region, .. }
            | CapacityFloor::EcsService { region, .. } => region,
        }
    }

    /// What is counted, for people.
    pub fn target(&self) -> String {
        match self {
            CapacityFloor::AutoscalingGroup { region, name, .. } => {
                format!("autoscaling group {name} ({region}) InService instances")
            }
            CapacityFloor::EcsService {
                region,
                cluster,
                service,
                ..
            } => format!("ECS service {cluster}/{service} ({region}) running tasks"),
        }
    }
}

/// The pre-flight's `capacity` check from what was read (`None`: not read).
pub fn capacity_check(
    floor: &CapacityFloor,
    read: Option<&Result<Option<i32>, String>>,
) -> super::state::PreflightCheck {
    let need = floor.at_least();
    let (ok, detail) = match read {
        Some(Ok(Some(n))) if *n >= need => (
            true,
            format!("{}: {n} (needs at least {need})", floor.target()),
        ),
        Some(Ok(Some(n))) => (
            false,
            format!(
                "{}: {n}, below the floor of {need}: the secondary cannot take the traffic yet",
                floor.target()
            ),
        ),
        Some(Ok(None)) => (false, format!("{}: not found", floor.target())),
        Some(Err(e)) => (false, format!("{}: could not be read: {e}", floor.target())),
        None => (false, format!("{}: not checked", floor.target())),
    };
    super::state::PreflightCheck {
        name: "capacity".into(),
        ok,
        detail,
    }
}

/// Checks across steps: unique ids, a bounded count. `(field, message)` on the first fault.
pub fn check_steps(steps: &[WorkflowStep]) -> Result<(), (String, String)> {
    if steps.len() > MAX_WORKFLOW_STEPS {
        return Err((
            "workflow".into(),
            format!("{} steps; at most {MAX_WORKFLOW_STEPS}", steps.len()),
        ));
    }
    for (i, s) in steps.iter().enumerate() {
        if steps[..i].iter().any(|t| t.id == s.id) {
            return Err((
                format!("workflow[{i}].id"),
                format!("step '{}': the id is used by an earlier step", quote(&s.id)),
            ));
        }
    }
    Ok(())
}

/// Checks of `preflight.capacity`. `(field, message)` on the first fault.
pub fn check_capacity(c: &CapacityFloor) -> Result<(), (String, String)> {
    let f = |name: &str| format!("preflight.capacity.{name}");
    if !is_region(c.region()) {
        return Err((
            f("region"),
            format!("'{}' is not an AWS region", quote(c.region())),
        ));
    }
    let names: Vec<(&str, &String)> = match c {
        CapacityFloor::AutoscalingGroup { name, .. } => vec![("name", name)],
        CapacityFloor::EcsService {
            cluster, service, ..
        } => vec![("cluster", cluster), ("service", service)],
    };
    for (field, v) in names {
        if v.trim().is_empty() {
            return Err((f(field), "must not be empty".into()));
        }
    }
    if !(1..=MAX_CAPACITY).contains(&c.at_least()) {
        return Err((
            f("at_least"),
            format!("{} must be between 1 and {MAX_CAPACITY}", c.at_least()),
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "workflow_tests.rs"]
mod tests;
