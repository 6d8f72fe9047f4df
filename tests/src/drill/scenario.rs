//! The scripted incidents and what the product must do in each, step by step.

use serde::{Deserialize, Serialize};

use crate::harness::stage::StageOptions;

/// Which incident the drill rehearses. Serialised as [`Scenario::name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// Two of three observers alarm: one failover, one alert, no automatic failback, the
    /// operator fails back.
    Quorum,
    /// A quorum, but the secondary is not ready (its readiness alarm is in ALARM): BLOCKED,
    /// one page, no switch; the operator's planned failover is refused too.
    Blocked,
    /// Alarms that come and go: failover, failback by the operator, then a new quorum
    /// inside the cooldown is held.
    Flapping,
    /// Only one observer ever alarms: nothing happens.
    Split,
    /// Two observers alarm further apart than the vote window and stay in ALARM: no event
    /// completes the quorum, the reconciler's run reads both alarms and fails over.
    Staggered,
    /// Route 53's API answers 503 for the whole drill; a `metric` service fails over by its
    /// switch metric, the reconciler keeps the stream, the operator fails it back.
    ControlPlaneOutage,
    /// The runbook after the switch: scale the secondary, promote the replica on the
    /// operator's approval, recovery measured ([`super::runbook`]).
    Runbook,
}

/// The staggered scenario's `vote_window_seconds`: short, so the drill outlives it in
/// seconds (the other scenarios keep the deployment's 300 s).
pub const STAGGERED_VOTE_WINDOW_SECONDS: u64 = 5;

impl Scenario {
    pub const ALL: [Scenario; 7] = [
        Scenario::Quorum,
        Scenario::Blocked,
        Scenario::Flapping,
        Scenario::Split,
        Scenario::Staggered,
        Scenario::ControlPlaneOutage,
        Scenario::Runbook,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Quorum => "quorum",
            Scenario::Blocked => "blocked",
            Scenario::Flapping => "flapping",
            Scenario::Split => "split",
            Scenario::Staggered => "staggered",
            Scenario::ControlPlaneOutage => "control-plane-outage",
            Scenario::Runbook => "runbook",
        }
    }

    pub fn parse(name: &str) -> Option<Scenario> {
        Scenario::ALL
            .into_iter()
            .find(|s| s.name() == name.trim().to_ascii_lowercase())
    }

    /// One line: the incident and the expected outcome.
    pub fn description(self) -> &'static str {
        match self {
            Scenario::Quorum => {
                "two of three observers alarm: exactly one failover and one failover alert, \
                 one recovered alert with the measured RTO and no automatic failback when they recover, \
                 one failback by the operator"
            }
            Scenario::Blocked => {
                "a quorum while the secondary is not ready (its readiness alarm in ALARM): \
                 BLOCKED, one page, no switch; the operator's planned failover is refused too"
            }
            Scenario::Flapping => {
                "alarms that come and go: failover, failback by the operator, then a new \
                 quorum inside the cooldown is held (no second failover; one held page)"
            }
            Scenario::Split => {
                "only one observer ever alarms (a local problem near one canary): \
                 no decision, no switch, no alert"
            }
            Scenario::Staggered => {
                "two observers alarm further apart than the vote window and stay in ALARM \
                 (no event completes the quorum): the reconciler's run reads both alarms and \
                 fails over, exactly once, with one failover alert"
            }
            Scenario::ControlPlaneOutage => {
                "Route 53's API answers 503 for the whole drill: a service in 'metric' switch \
                 mode fails over by its switch metric (one PutMetricData, no Route 53 call), \
                 one failover alert and no PENDING; the reconciler keeps the metric's stream; \
                 the operator fails it back (forced: the primary's probe has not been healthy \
                 for failback_min_healthy_seconds)"
            }
            Scenario::Runbook => super::runbook::DESCRIPTION,
        }
    }

    /// The switch mode and the probe the service is provisioned with.
    pub fn stage_options(self) -> StageOptions {
        match self {
            Scenario::ControlPlaneOutage => StageOptions {
                switch_mode: Some("metric"),
                probe: true,
            },
            _ => StageOptions::default(),
        }
    }

    /// Whether every Route 53 API call is answered 503 by the tap for the whole drill.
    pub fn route53_down(self) -> bool {
        self == Scenario::ControlPlaneOutage
    }

    /// The catalog's `vote_window_seconds` when the scenario needs its own (the drill
    /// rewrites the catalog entry before the functions start); `None`: the deployment's.
    pub fn vote_window_seconds(self) -> Option<u64> {
        (self == Scenario::Staggered).then_some(STAGGERED_VOTE_WINDOW_SECONDS)
    }

    /// Whether the secondary's readiness alarm is in ALARM from the start.
    pub fn secondary_not_ready(self) -> bool {
        self == Scenario::Blocked
    }

    /// The script.
    pub fn steps(self) -> Vec<Step> {
        use Act::*;
        const ACTIVE: &str = "PRIMARY_ACTIVE";
        const FAILED_OVER: &str = "FAILED_OVER";
        const BLOCKED: &str = "BLOCKED";
        let status = |phase: &'static str, forced: bool| {
            Step::new(Status, "operator status").expect("ok", &[], forced, phase)
        };
        match self {
            Scenario::Quorum => vec![
                status(ACTIVE, false).titled("operator status before the incident"),
                Step::new(Alarm(1, "ALARM"), "observer 1 goes to ALARM").expect(
                    "vote_recorded",
                    &[],
                    false,
                    ACTIVE,
                ),
                Step::new(
                    Duplicate(1),
                    "observer 1's event delivered again (duplicate)",
                )
                .expect("duplicate", &[], false, ACTIVE),
                Step::new(
                    Stale(1),
                    "a stale redelivery of observer 1's event (11 minutes old)",
                )
                .expect("ignored", &[], false, ACTIVE)
                .calls(0),
                Step::new(Alarm(2, "ALARM"), "observer 2 goes to ALARM: quorum").expect(
                    "failed_over",
                    &["failover"],
                    true,
                    FAILED_OVER,
                ),
                Step::new(Alarm(3, "ALARM"), "observer 3 goes to ALARM").expect(
                    "held",
                    &[],
                    true,
                    FAILED_OVER,
                ),
                Step::new(Alarm(1, "OK"), "observer 1 recovers").expect(
                    "held",
                    &[],
                    true,
                    FAILED_OVER,
                ),
                Step::new(Alarm(2, "OK"), "observer 2 recovers").expect(
                    "held",
                    &[],
                    true,
                    FAILED_OVER,
                ),
                Step::new(
                    Alarm(3, "OK"),
                    "observer 3 recovers: every observer OK again, [RECOVERED] with the measured RTO; no automatic failback",
                )
                .expect("held", &["recovered"], true, FAILED_OVER),
                Step::new(Reconcile, "reconciler run (the one-minute schedule)").expect(
                    "in_sync",
                    &[],
                    true,
                    FAILED_OVER,
                ),
                Step::new(Failback, "planned failback by the operator").expect(
                    "ok",
                    &["failback"],
                    false,
                    ACTIVE,
                ),
                status(ACTIVE, false).titled("operator status after the incident"),
            ],
            Scenario::Blocked => vec![
                status(ACTIVE, false).titled("operator status: the secondary is not ready"),
                Step::new(Alarm(1, "ALARM"), "observer 1 goes to ALARM").expect(
                    "vote_recorded",
                    &[],
                    false,
                    ACTIVE,
                ),
                Step::new(
                    Alarm(2, "ALARM"),
                    "observer 2 goes to ALARM: quorum, but the secondary is not ready",
                )
                .expect("blocked", &["blocked"], false, BLOCKED),
                Step::new(Alarm(3, "ALARM"), "observer 3 goes to ALARM").expect(
                    "held",
                    &[],
                    false,
                    BLOCKED,
                ),
                Step::new(
                    Failover,
                    "the operator tries a planned failover (not forced)",
                )
                .expect("refused", &[], false, BLOCKED),
                Step::new(Reconcile, "reconciler run (the one-minute schedule)").expect(
                    "in_sync",
                    &[],
                    false,
                    BLOCKED,
                ),
                status(BLOCKED, false).titled("operator status after the incident"),
            ],
            Scenario::Flapping => vec![
                status(ACTIVE, false).titled("operator status before the incident"),
                Step::new(Alarm(1, "ALARM"), "observer 1 goes to ALARM").expect(
                    "vote_recorded",
                    &[],
                    false,
                    ACTIVE,
                ),
                Step::new(Alarm(2, "ALARM"), "observer 2 goes to ALARM: quorum").expect(
                    "failed_over",
                    &["failover"],
                    true,
                    FAILED_OVER,
                ),
                Step::new(Alarm(1, "OK"), "observer 1 recovers").expect(
                    "held",
                    &[],
                    true,
                    FAILED_OVER,
                ),
                Step::new(Alarm(2, "OK"), "observer 2 recovers").expect(
                    "held",
                    &[],
                    true,
                    FAILED_OVER,
                ),
                Step::new(Failback, "planned failback by the operator").expect(
                    "ok",
                    &["failback"],
                    false,
                    ACTIVE,
                ),
                Step::new(Alarm(1, "ALARM"), "observer 1 alarms again").expect(
                    "vote_recorded",
                    &[],
                    false,
                    ACTIVE,
                ),
                Step::new(
                    Alarm(2, "ALARM"),
                    "observer 2 alarms again: a new quorum inside the cooldown",
                )
                .expect("held", &["held"], false, ACTIVE)
                .detail_contains("cooldown")
                .audited("refusal"),
                Step::new(Alarm(1, "OK"), "observer 1 recovers").expect(
                    "vote_recorded",
                    &[],
                    false,
                    ACTIVE,
                ),
                Step::new(Alarm(2, "OK"), "observer 2 recovers").expect(
                    "vote_recorded",
                    &[],
                    false,
                    ACTIVE,
                ),
                Step::new(Reconcile, "reconciler run (the one-minute schedule)").expect(
                    "in_sync",
                    &[],
                    false,
                    ACTIVE,
                ),
                status(ACTIVE, false).titled("operator status after the incident"),
            ],
            Scenario::Split => vec![
                status(ACTIVE, false).titled("operator status before the incident"),
                Step::new(Alarm(1, "ALARM"), "observer 1 goes to ALARM").expect(
                    "vote_recorded",
                    &[],
                    false,
                    ACTIVE,
                ),
                Step::new(
                    Duplicate(1),
                    "observer 1's event delivered again (duplicate)",
                )
                .expect("duplicate", &[], false, ACTIVE),
                Step::new(Alarm(1, "OK"), "observer 1 recovers").expect(
                    "vote_recorded",
                    &[],
                    false,
                    ACTIVE,
                ),
                Step::new(
                    Alarm(1, "ALARM"),
                    "observer 1 alarms again; observers 2 and 3 stay OK",
                )
                .expect("vote_recorded", &[], false, ACTIVE),
                Step::new(Reconcile, "reconciler run (the one-minute schedule)").expect(
                    "in_sync",
                    &[],
                    false,
                    ACTIVE,
                ),
                status(ACTIVE, false).titled("operator status after the incident"),
            ],
            Scenario::Staggered => staggered_steps(),
            Scenario::ControlPlaneOutage => super::outage::steps(),
            Scenario::Runbook => super::runbook::steps(),
        }
    }

    /// Scenario-wide totals: automatic failovers, operator failbacks, alerts by type.
    pub fn totals(self) -> Totals {
        match self {
            Scenario::Quorum => Totals {
                failovers: 1,
                failbacks: 1,
                alerts: &["failover", "recovered", "failback"],
                final_phase: "PRIMARY_ACTIVE",
                failover_by: "alarm-trigger",
                switch: "health_check",
            },
            Scenario::Blocked => Totals {
                failovers: 0,
                failbacks: 0,
                alerts: &["blocked"],
                final_phase: "BLOCKED",
                failover_by: "alarm-trigger",
                switch: "health_check",
            },
            Scenario::Flapping => Totals {
                failovers: 1,
                failbacks: 1,
                alerts: &["failover", "failback", "held"],
                final_phase: "PRIMARY_ACTIVE",
                failover_by: "alarm-trigger",
                switch: "health_check",
            },
            Scenario::Split => Totals {
                failovers: 0,
                failbacks: 0,
                alerts: &[],
                final_phase: "PRIMARY_ACTIVE",
                failover_by: "alarm-trigger",
                switch: "health_check",
            },
            Scenario::Staggered => Totals {
                failovers: 1,
                failbacks: 0,
                alerts: &["failover"],
                final_phase: "FAILED_OVER",
                failover_by: "reconciler",
                switch: "health_check",
            },
            Scenario::ControlPlaneOutage => Totals {
                failovers: 1,
                failbacks: 1,
                alerts: &["failover", "recovered", "failback"],
                final_phase: "PRIMARY_ACTIVE",
                failover_by: "alarm-trigger",
                switch: "metric",
            },
            Scenario::Runbook => super::runbook::TOTALS,
        }
    }
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The staggered incident: observer 1 alarms and stays in ALARM; observer 2 alarms after
/// observer 1's vote has outlived the vote window unconfirmed, so its event finds one live
/// vote of the two needed; the reconciler's run reads both alarms in ALARM, confirms
/// both votes and decides the standing quorum. A second run changes nothing.
fn staggered_steps() -> Vec<Step> {
    use Act::*;
    let window = STAGGERED_VOTE_WINDOW_SECONDS;
    let wait = std::time::Duration::from_secs(window + 2);
    vec![
        Step::new(Status, "operator status before the incident").expect(
            "ok",
            &[],
            false,
            "PRIMARY_ACTIVE",
        ),
        Step::new(
            Alarm(1, "ALARM"),
            "observer 1 goes to ALARM and stays there",
        )
        .expect("vote_recorded", &[], false, "PRIMARY_ACTIVE")
        .detail_contains("1 of 2 votes live"),
        Step::new(
            Alarm(2, "ALARM"),
            &format!(
                "observer 2 goes to ALARM {} s later, beyond the vote window ({window} s): \
                 observer 1's vote, never confirmed, no longer counts",
                wait.as_secs()
            ),
        )
        .after(wait)
        .expect("vote_recorded", &[], false, "PRIMARY_ACTIVE")
        .detail_contains("1 of 2 votes live"),
        Step::new(
            Reconcile,
            "reconciler run: both alarms read in ALARM, the standing quorum decides",
        )
        .expect("decided", &["failover"], true, "FAILED_OVER")
        .detail_contains("2 votes confirmed")
        .audited("step")
        .voted_by(&[1, 2]),
        Step::new(
            Reconcile,
            "reconciler run again: the quorum still stands, already failed over",
        )
        .expect("in_sync", &[], true, "FAILED_OVER"),
        Step::new(Status, "operator status after the incident").expect(
            "ok",
            &[],
            true,
            "FAILED_OVER",
        ),
    ]
}

/// What the scenario must add up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Switches of the primary's check to forced-unhealthy (all by `failover_by`).
    pub failovers: usize,
    /// Restores of the primary's check (all by the operator).
    pub failbacks: usize,
    /// The alerts, by `event_type`, in order.
    pub alerts: &'static [&'static str],
    pub final_phase: &'static str,
    /// The function that makes the automatic failovers: `alarm-trigger` (an event completes
    /// the quorum) or `reconciler` (a standing quorum, no event).
    pub failover_by: &'static str,
    /// The switch mechanism: `health_check` (UpdateHealthCheck, one per switch) or
    /// `metric` (PrimaryForcedOut 1 then 0, no UpdateHealthCheck).
    pub switch: &'static str,
}

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// `operator` `{"action": "status"}`.
    Status,
    /// Observer `n` (1-based) enters `state` in the emulator and its event is delivered.
    Alarm(usize, &'static str),
    /// Observer `n`'s last event is delivered again, unchanged.
    Duplicate(usize),
    /// Observer `n`'s last event is delivered again, dated older than the maximum event age.
    Stale(usize),
    /// One reconciler run.
    Reconcile,
    /// The operator's planned failback.
    Failback,
    /// The operator's planned failover (not forced).
    Failover,
    /// The operator's failback with `force` (past the probe's gate).
    ForcedFailback,
    /// The operator approves the workflow step with this id.
    Approve(&'static str),
    /// The operator declines the workflow step with this id.
    Decline(&'static str),
}

/// One step of the script and what must come of it.
#[derive(Debug, Clone)]
pub struct Step {
    pub act: Act,
    pub title: String,
    /// Time that passes before the act (e.g. beyond the vote window).
    pub after: Option<std::time::Duration>,
    /// Before the act, Route 53's checkers report the primary's probe healthy (or not):
    /// its `HealthCheckStatus` datapoint, published by the drill.
    pub probe: Option<bool>,
    pub expect: Expect,
}

/// The expected result of a step.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// alarm-trigger: the service's `outcome`; operator: `ok` or `refused`; reconciler:
    /// `in_sync` (checked every service, no drift, nothing resumed or escalated, no errors)
    /// or `decided` (the same, and a standing quorum decided).
    pub outcome: &'static str,
    /// The alerts this step sends, by `event_type`.
    pub alerts: &'static [&'static str],
    /// The primary's health check is forced unhealthy after the step.
    pub primary_forced: bool,
    /// The service's phase after the step.
    pub phase: &'static str,
    /// The exact number of AWS calls the function makes, when it matters.
    pub calls: Option<usize>,
    /// Text the outcome's detail must contain.
    pub detail_contains: Option<&'static str>,
    /// A kind of audit record the step must write (e.g. `refusal`).
    pub audit: Option<&'static str>,
    /// Observers (1-based) whose votes an audit record of the step must carry, exactly.
    pub voters: &'static [usize],
    /// Text a new audit record of the step must say (its `what`).
    pub audit_says: Option<&'static str>,
    /// The step publishes the switch metric with this value (a new datapoint read back
    /// from moto).
    pub publishes: Option<f64>,
    /// The workflow's resources read back from moto, and its steps' status.
    pub runbook: Option<super::runbook::RunbookExpect>,
}

impl Step {
    pub(super) fn new(act: Act, title: &str) -> Step {
        Step {
            act,
            title: title.to_string(),
            after: None,
            probe: None,
            expect: Expect::default(),
        }
    }

    pub(super) fn expect(
        mut self,
        outcome: &'static str,
        alerts: &'static [&'static str],
        primary_forced: bool,
        phase: &'static str,
    ) -> Step {
        self.expect.outcome = outcome;
        self.expect.alerts = alerts;
        self.expect.primary_forced = primary_forced;
        self.expect.phase = phase;
        self
    }

    pub(super) fn titled(mut self, title: &str) -> Step {
        self.title = title.to_string();
        self
    }

    pub(super) fn calls(mut self, n: usize) -> Step {
        self.expect.calls = Some(n);
        self
    }

    pub(super) fn detail_contains(mut self, text: &'static str) -> Step {
        self.expect.detail_contains = Some(text);
        self
    }

    pub(super) fn audited(mut self, kind: &'static str) -> Step {
        self.expect.audit = Some(kind);
        self
    }

    pub(super) fn voted_by(mut self, observers: &'static [usize]) -> Step {
        self.expect.voters = observers;
        self
    }

    pub(super) fn after(mut self, wait: std::time::Duration) -> Step {
        self.after = Some(wait);
        self
    }

    pub(super) fn probe(mut self, healthy: bool) -> Step {
        self.probe = Some(healthy);
        self
    }

    pub(super) fn audit_says(mut self, text: &'static str) -> Step {
        self.expect.audit_says = Some(text);
        self
    }

    pub(super) fn publishes(mut self, value: f64) -> Step {
        self.expect.publishes = Some(value);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::Scenario;

    #[test]
    fn a_scenario_is_serialised_as_its_name() {
        for scenario in Scenario::ALL {
            let json = serde_json::to_value(scenario).unwrap();
            assert_eq!(json, scenario.name(), "{scenario:?}");
            assert_eq!(serde_json::from_value::<Scenario>(json).unwrap(), scenario);
            assert_eq!(Scenario::parse(scenario.name()), Some(scenario));
        }
    }
}
