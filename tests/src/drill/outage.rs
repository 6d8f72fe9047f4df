//! The `control-plane-outage` scenario: Route 53's API answers 503 (the tap's outage of
//! `route53`) from before the functions start to the end of the drill. The service
//! switches by its metric (`switch.mode` `metric`): one PutMetricData in eu-west-1, no
//! Route 53 call on the deciding path; the reconciler republishes the decided value every
//! run; the operator fails back, forced past the primary's probe (see [`steps`]).

use super::scenario::{Act, Step};

/// What the alert and the audit say of a switch by metric.
pub const SWITCHED_BY_METRIC: &str = "switched by: metric; Route 53's API was not needed";

/// What the operator's refusal says when the primary's probe gates a failback.
pub const PROBE_GATE: &str = "a failback needs it healthy for";

/// The script. The drill runs in seconds, so the primary's probe (healthy again only when
/// the observers recover) cannot honestly have been healthy for
/// `failback_min_healthy_seconds` (300 s): the planned failback is refused by the probe's
/// gate, and the operator then fails back with `force`, as a human would who has checked
/// the primary some other way.
pub(super) fn steps() -> Vec<Step> {
    use Act::*;
    const ACTIVE: &str = "PRIMARY_ACTIVE";
    const FAILED_OVER: &str = "FAILED_OVER";
    vec![
        Step::new(
            Status,
            "operator status before the incident (Route 53's API already down)",
        )
        .expect("ok", &[], false, ACTIVE),
        Step::new(
            Alarm(1, "ALARM"),
            "observer 1 goes to ALARM; the primary's probe reports unhealthy",
        )
        .probe(false)
        .expect("vote_recorded", &[], false, ACTIVE),
        Step::new(
            Alarm(2, "ALARM"),
            "observer 2 goes to ALARM: quorum, switched by the metric (Route 53's API down)",
        )
        .expect("failed_over", &["failover"], true, FAILED_OVER)
        .audit_says(SWITCHED_BY_METRIC)
        .publishes(1.0),
        Step::new(Alarm(3, "ALARM"), "observer 3 goes to ALARM").expect(
            "held",
            &[],
            true,
            FAILED_OVER,
        ),
        Step::new(Alarm(1, "OK"), "observer 1 recovers").expect("held", &[], true, FAILED_OVER),
        Step::new(Alarm(2, "OK"), "observer 2 recovers").expect("held", &[], true, FAILED_OVER),
        Step::new(
            Alarm(3, "OK"),
            "observer 3 recovers: every observer OK again, [RECOVERED] with the measured RTO; no automatic failback; the primary's probe reports healthy again",
        )
        .probe(true)
        .expect("held", &["recovered"], true, FAILED_OVER),
        Step::new(
            Reconcile,
            "reconciler run: republishes PrimaryForcedOut=1 (the stream never goes silent)",
        )
        .expect("in_sync", &[], true, FAILED_OVER)
        .publishes(1.0),
        Step::new(
            Reconcile,
            "reconciler run again (the next minute's schedule): republishes 1 again",
        )
        .expect("in_sync", &[], true, FAILED_OVER)
        .publishes(1.0),
        Step::new(
            Failback,
            "planned failback by the operator: the probe has not been healthy long enough",
        )
        .expect("refused", &[], true, FAILED_OVER)
        .detail_contains(PROBE_GATE),
        Step::new(
            ForcedFailback,
            "failback by the operator with force: PrimaryForcedOut=0",
        )
        .expect("ok", &["failback"], false, ACTIVE)
        .audit_says(SWITCHED_BY_METRIC)
        .publishes(0.0),
        Step::new(
            Reconcile,
            "reconciler run after the failback: republishes PrimaryForcedOut=0",
        )
        .expect("in_sync", &[], false, ACTIVE)
        .publishes(0.0),
        Step::new(Status, "operator status after the incident").expect("ok", &[], false, ACTIVE),
    ]
}
