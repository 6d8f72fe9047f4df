//! The checks a parsed catalog entry must pass, each error naming its field.

use std::collections::HashSet;

use super::{
    quote_cap, service_name_problem, CatalogError, ServiceDefinition, MAX_DURATION_SECONDS,
    REPLICA_LAG_STATISTICS,
};
use crate::domain::arn::{is_region, AlarmArn, HomeAccount};
use crate::domain::switch::SwitchMode;
use crate::domain::workflow::{check_capacity, check_steps};

impl ServiceDefinition {
    pub fn validate(&self) -> Result<(), CatalogError> {
        self.validate_in(None)
    }

    /// [`Self::validate`], and every alarm ARN inside `home` when it is given.
    pub fn validate_in(&self, home: Option<&HomeAccount>) -> Result<(), CatalogError> {
        let err = |field: &str, message: String| Err(CatalogError::new(&self.name, field, message));
        let outside = |arn: &AlarmArn<'_>| home.and_then(|h| h.refuses(arn));
        // Every alarm ARN in an entry: a CloudWatch alarm, in the deployment's account.
        let home_alarm = |field: &str, arn: &str| -> Result<(), CatalogError> {
            let Some(parsed) = AlarmArn::parse(arn) else {
                return err(
                    field,
                    format!("'{}' is not a CloudWatch alarm ARN", quote_cap(arn)),
                );
            };
            match outside(&parsed) {
                Some(why) => err(field, format!("'{}' {why}", quote_cap(arn))),
                None => Ok(()),
            }
        };

        if let Some(problem) = service_name_problem(&self.name) {
            return err("name", problem);
        }
        for (prefix, ep) in [("primary", &self.primary), ("secondary", &self.secondary)] {
            if !is_region(&ep.region) {
                return err(
                    &format!("{prefix}.region"),
                    format!("'{}' is not an AWS region", quote_cap(&ep.region)),
                );
            }
            if ep.health_check_id.trim().is_empty() {
                return err(
                    &format!("{prefix}.health_check_id"),
                    "must not be empty".into(),
                );
            }
        }
        if let Some(probe) = &self.primary.probe_health_check_id {
            if probe.trim().is_empty() {
                return err("primary.probe_health_check_id", "must not be empty".into());
            }
            if probe == &self.primary.health_check_id || probe == &self.secondary.health_check_id {
                return err(
                    "primary.probe_health_check_id",
                    "must be a check of its own, never flipped: it is the same as a health_check_id".into(),
                );
            }
        }
        if self.secondary.probe_health_check_id.is_some() {
            return err(
                "secondary.probe_health_check_id",
                "only the primary has a probe (the secondary's health_check_id is never flipped)"
                    .into(),
            );
        }
        if self.primary.region == self.secondary.region {
            return err(
                "secondary.region",
                format!(
                    "'{}' is the same as primary.region",
                    quote_cap(&self.secondary.region)
                ),
            );
        }
        if self.primary.health_check_id == self.secondary.health_check_id {
            return err(
                "secondary.health_check_id",
                "is the same as primary.health_check_id".into(),
            );
        }

        if self.observers.is_empty() {
            return err("observers", "must list at least one alarm ARN".into());
        }
        let mut seen = HashSet::new();
        for (i, arn) in self.observers.iter().enumerate() {
            let field = format!("observers[{i}]");
            home_alarm(&field, arn)?;
            if !seen.insert(arn.as_str()) {
                return err(&field, format!("'{}' is listed twice", quote_cap(arn)));
            }
        }
        // usize -> u64 never truncates on supported targets; compare in u64 to avoid casts down.
        let observer_count = self.observers.len() as u64;
        if self.quorum == 0 || u64::from(self.quorum) > observer_count {
            return err(
                "quorum",
                format!(
                    "{} must be between 1 and the number of observers ({observer_count})",
                    self.quorum
                ),
            );
        }

        for (field, value) in [
            ("vote_window_seconds", self.vote_window_seconds),
            ("max_event_age_seconds", self.max_event_age_seconds),
            ("cooldown_seconds", self.cooldown_seconds),
            (
                "failback_min_healthy_seconds",
                self.failback_min_healthy_seconds,
            ),
            ("recovery_timeout_seconds", self.recovery_timeout_seconds),
            (
                "readiness_interval_seconds",
                self.readiness_interval_seconds,
            ),
        ] {
            if value == 0 || value > MAX_DURATION_SECONDS {
                return err(
                    field,
                    format!("{value} must be between 1 and {MAX_DURATION_SECONDS}"),
                );
            }
        }
        if self.max_auto_failovers_per_day == 0 {
            return err("max_auto_failovers_per_day", "must be at least 1".into());
        }

        if let Some(arn) = &self.preflight.secondary_alarm_arn {
            home_alarm("preflight.secondary_alarm_arn", arn)?;
        }
        match (self.switch.mode, &self.switch.alarm_arn) {
            (SwitchMode::HealthCheck, Some(_)) => {
                return err(
                    "switch.alarm_arn",
                    "is only used with mode \"metric\" or \"both\"; remove it or change switch.mode".into(),
                )
            }
            (SwitchMode::HealthCheck, None) => {}
            (mode, None) => {
                return err(
                    "switch.alarm_arn",
                    format!(
                        "is required with mode \"{}\": the alarm on RegionalFailover/PrimaryForcedOut for this service",
                        mode.as_str()
                    ),
                )
            }
            (_, Some(arn)) => {
                let field = "switch.alarm_arn";
                home_alarm(field, arn)?;
                if self.observers.contains(arn) {
                    return err(
                        field,
                        format!("'{}' is also an observer: the switch alarm follows the decision, it must not vote", quote_cap(arn)),
                    );
                }
            }
        }
        if let Some(lag) = &self.preflight.replica_lag {
            if !is_region(&lag.region) {
                return err(
                    "preflight.replica_lag.region",
                    format!("'{}' is not an AWS region", quote_cap(&lag.region)),
                );
            }
            if lag.namespace.trim().is_empty() {
                return err(
                    "preflight.replica_lag.namespace",
                    "must not be empty".into(),
                );
            }
            if lag.metric_name.trim().is_empty() {
                return err(
                    "preflight.replica_lag.metric_name",
                    "must not be empty".into(),
                );
            }
            if lag
                .dimensions
                .iter()
                .any(|(k, v)| k.is_empty() || v.is_empty())
            {
                return err(
                    "preflight.replica_lag.dimensions",
                    "dimension names and values must not be empty".into(),
                );
            }
            if !REPLICA_LAG_STATISTICS.contains(&lag.statistic.as_str()) {
                return err(
                    "preflight.replica_lag.statistic",
                    format!(
                        "'{}' is not one of {}",
                        quote_cap(&lag.statistic),
                        REPLICA_LAG_STATISTICS.join(", ")
                    ),
                );
            }
            if !(lag.max_seconds.is_finite() && lag.max_seconds > 0.0) {
                return err(
                    "preflight.replica_lag.max_seconds",
                    format!("{} must be a finite number > 0", lag.max_seconds),
                );
            }
        }
        if let Some(c) = &self.preflight.capacity {
            check_capacity(c).or_else(|(field, message)| err(&field, message))?;
        }
        check_steps(&self.workflow).or_else(|(field, message)| err(&field, message))?;
        Ok(())
    }
}
