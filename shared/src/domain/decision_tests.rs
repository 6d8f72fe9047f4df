use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::domain::event::{AlarmObservation, EventShape, ObservedState};
use crate::domain::state::{Pause, Vote};

const NOW: Millis = 1_795_000_000_000;

fn def(observers: usize, quorum: u32) -> ServiceDefinition {
    let obs: Vec<String> = (0..observers)
        .map(|i| format!("\"arn:aws:cloudwatch:us-east-1:123456789012:alarm:o{i}\""))
        .collect();
    ServiceDefinition::parse(
        "svc",
        &format!(
            r#"{{"name":"svc","primary":{{"region":"us-east-1","health_check_id":"p"}},
               "secondary":{{"region":"eu-west-1","health_check_id":"s"}},
               "observers":[{}],"quorum":{quorum}}}"#,
            obs.join(",")
        ),
    )
    .unwrap()
}

fn arn(i: usize) -> String {
    format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:o{i}")
}

fn vote(state: ObservedState, at: Millis) -> Vote {
    Vote {
        state,
        at,
        event_id: format!("e{at}"),
        reason: String::new(),
        received_at: at,
        received_by: "r".into(),
        confirmed_at: None,
    }
}

fn with_votes(votes: &[(usize, ObservedState, Millis)]) -> ServiceState {
    ServiceState {
        votes: votes
            .iter()
            .map(|(i, s, at)| (arn(*i), vote(*s, *at)))
            .collect(),
        ..ServiceState::default()
    }
}

fn obs(state_at: Millis, event_at: Millis) -> AlarmObservation {
    AlarmObservation {
        observer: arn(0),
        alarm_name: "o0".into(),
        state: ObservedState::Alarm,
        state_changed_at: state_at,
        event_time: event_at,
        event_id: "e".into(),
        reason: String::new(),
        shape: EventShape::EventBridge,
    }
}

#[test]
fn freshness_table() {
    let d = def(3, 2); // max_event_age_seconds = 300
    let cases = [
        (NOW, NOW, Ok(())),
        (NOW - 300_000, NOW, Ok(())),
        (NOW - 300_001, NOW, Err("stale")),
        (NOW, NOW - 300_001, Err("stale")),
        (NOW + 30_000, NOW, Ok(())),
        (NOW + 30_001, NOW, Err("future_dated")),
        (NOW, NOW + 3_600_000, Err("future_dated")),
    ];
    for (state_at, event_at, want) in cases {
        let got = check_freshness(&d, &obs(state_at, event_at), NOW).map_err(|e| e.label());
        assert_eq!(got, want, "state_at {state_at} event_at {event_at}");
    }
}

#[test]
fn a_vote_lives_from_its_last_confirmation_not_from_when_it_entered_alarm() {
    use ObservedState::*;
    let d = def(3, 2);
    let window = 300_000;
    let confirmed = |state, at, confirmed_at| Vote {
        confirmed_at,
        ..vote(state, at)
    };
    // (what, the older vote, live ALARM votes expected)
    let cases = [
        (
            "entered 10 min ago, never confirmed",
            confirmed(Alarm, NOW - 600_000, None),
            1,
        ),
        (
            "entered 10 min ago, read a minute ago",
            confirmed(Alarm, NOW - 600_000, Some(NOW - 60_000)),
            2,
        ),
        (
            "read exactly a window ago",
            confirmed(Alarm, NOW - 600_000, Some(NOW - window)),
            2,
        ),
        (
            "read a window and 1 ms ago",
            confirmed(Alarm, NOW - 600_000, Some(NOW - window - 1)),
            1,
        ),
        (
            "a confirmation older than the event counts as the event",
            confirmed(Alarm, NOW - 10, Some(NOW - 600_000)),
            2,
        ),
        (
            "an OK is never live, read or not",
            confirmed(Ok, NOW - 600_000, Some(NOW)),
            1,
        ),
    ];
    for (what, older, want) in cases {
        let mut s = with_votes(&[(0, Alarm, NOW)]);
        s.votes.insert(arn(1), older.clone());
        assert_eq!(live_votes(&d, &s, NOW).len(), want, "{what}");
        let standing: Vec<String> = standing_alarms(&d, &s)
            .into_iter()
            .map(|(o, _)| o)
            .collect();
        let alarmed = usize::from(older.state == Alarm);
        assert_eq!(
            standing.len(),
            1 + alarmed,
            "{what}: every ALARM vote, live or not"
        );
        // Expiry keeps what a confirmation keeps live.
        let expired = expired_votes(&d, &s, NOW).len();
        assert_eq!(
            expired == 1,
            older.last_confirmed() < NOW - window,
            "{what}"
        );
    }
}

#[test]
fn assessment_table() {
    use ObservedState::*;
    let d = def(3, 2);
    let window = 300_000;
    let paused = |until| Pause {
        reason: "r".into(),
        requested_by: "b".into(),
        since: 0,
        until,
    };
    let mut cases: Vec<(&str, ServiceState, &str)> = vec![
        ("no votes", with_votes(&[]), "no_quorum"),
        ("one alarm", with_votes(&[(0, Alarm, NOW)]), "no_quorum"),
        (
            "two alarms",
            with_votes(&[(0, Alarm, NOW), (1, Alarm, NOW - 10)]),
            "quorum",
        ),
        (
            "alarm + ok",
            with_votes(&[(0, Alarm, NOW), (1, Ok, NOW)]),
            "no_quorum",
        ),
        (
            "alarm + insufficient",
            with_votes(&[(0, Alarm, NOW), (1, InsufficientData, NOW)]),
            "no_quorum",
        ),
        (
            "one expired",
            with_votes(&[(0, Alarm, NOW), (1, Alarm, NOW - window - 1)]),
            "no_quorum",
        ),
        (
            "at the window edge",
            with_votes(&[(0, Alarm, NOW), (1, Alarm, NOW - window)]),
            "quorum",
        ),
        (
            "far future vote",
            with_votes(&[(0, Alarm, NOW), (1, Alarm, NOW + 60_000)]),
            "no_quorum",
        ),
    ];
    let mut s = with_votes(&[(0, Alarm, NOW), (1, Alarm, NOW)]);
    s.votes.insert(
        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:not-an-observer".into(),
        vote(Alarm, NOW),
    );
    s.votes.remove(&arn(1));
    cases.push(("votes from non-observers do not count", s, "no_quorum"));
    let quorum = with_votes(&[(0, Alarm, NOW), (1, Alarm, NOW)]);
    let mut s = quorum.clone();
    s.pause = Some(paused(None));
    cases.push(("paused indefinitely", s, "paused"));
    let mut s = quorum.clone();
    s.pause = Some(paused(Some(NOW + 1)));
    cases.push(("paused until later", s, "paused"));
    let mut s = quorum.clone();
    s.pause = Some(paused(Some(NOW)));
    cases.push(("pause expired", s, "quorum"));
    let mut s = quorum.clone();
    s.last_transition_at = Some(NOW - 3_599_000);
    cases.push(("cooldown", s, "cooldown"));
    let mut s = quorum.clone();
    s.last_transition_at = Some(NOW - 3_600_000);
    cases.push(("cooldown over", s, "quorum"));
    let mut s = quorum.clone();
    s.auto_failovers = vec![NOW - DAY_MS + 1];
    cases.push(("daily cap", s, "daily_cap"));
    let mut s = quorum.clone();
    s.auto_failovers = vec![NOW - DAY_MS];
    cases.push(("cap a day later", s, "quorum"));
    for phase in [Phase::FailedOver, Phase::Blocked] {
        let mut s = quorum.clone();
        s.phase = phase;
        cases.push(("terminal phases", s, "phase"));
    }
    let claimant = Claimant {
        owner: "x".into(),
        lease_until: NOW + 1,
    };
    let claimed = claim_failover(
        &quorum,
        vec![],
        Trigger::Quorum {
            quorum: 2,
            observers: 3,
        },
        &claimant,
        NOW - 10,
    );
    cases.push(("in progress", claimed.clone(), "in_progress"));
    let mut s = claimed;
    s.execution.as_mut().unwrap().lease_until = NOW;
    cases.push(("lease expired", s, "resume"));

    for (name, state, want) in cases {
        let got = match assess(&d, &state, NOW) {
            Assessment::NoQuorum { .. } => "no_quorum",
            Assessment::QuorumReached { .. } => "quorum",
            Assessment::ResumeDue { .. } => "resume",
            Assessment::Held(h) => h.label(),
        };
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn claim_moves_to_the_next_epoch_and_completion_starts_cooldown_and_counts_the_cap() {
    let s = ServiceState {
        epoch: 4,
        version: 9,
        auto_failovers: vec![NOW - DAY_MS - 1, NOW - 5],
        ..Default::default()
    };
    let c = Claimant {
        owner: "me".into(),
        lease_until: NOW + 900,
    };
    let next = claim_failover(
        &s,
        vec![],
        Trigger::Quorum {
            quorum: 2,
            observers: 3,
        },
        &c,
        NOW,
    );
    assert_eq!(
        (next.phase, next.epoch, next.version),
        (Phase::FailingOver, 5, 10)
    );
    assert_eq!(
        next.last_transition_at, None,
        "a claim alone is not a transition"
    );
    let exec = next.execution.clone().unwrap();
    assert_eq!(
        (exec.epoch, exec.owner.as_str(), exec.lease_until),
        (5, "me", NOW + 900)
    );

    let mut switched = next.clone();
    switched.execution.as_mut().unwrap().switched_at = Some(NOW + 10);
    let done = complete_transition(&switched, NOW + 20);
    assert_eq!((done.phase, done.version), (Phase::FailedOver, 11));
    assert_eq!(done.last_transition_at, Some(NOW));
    assert_eq!(
        done.auto_failovers,
        vec![NOW - 5, NOW],
        "pruned to 24h, plus this one"
    );
    assert_eq!(
        done.execution.unwrap().lease_until,
        NOW + 20,
        "lease released"
    );

    let mut blocked = next.clone();
    blocked.execution.as_mut().unwrap().blocked_reason = Some("not ready".into());
    let done = complete_transition(&blocked, NOW + 20);
    assert_eq!(done.phase, Phase::Blocked);
    assert_eq!(
        done.last_transition_at, None,
        "a blocked failover starts no cooldown"
    );
    assert_eq!(done.auto_failovers, s.auto_failovers);

    let manual = claim_failover(
        &s,
        vec![],
        Trigger::Operator {
            requested_by: "a".into(),
            reason: "r".into(),
            forced: false,
        },
        &c,
        NOW,
    );
    let mut manual = manual;
    manual.execution.as_mut().unwrap().switched_at = Some(NOW);
    assert_eq!(
        complete_transition(&manual, NOW).auto_failovers,
        vec![NOW - 5],
        "operator failovers do not count against the cap"
    );

    let back = claim_failback(
        &done_failed_over(),
        Some(HealthCheckSettings {
            disabled: true,
            inverted: false,
        }),
        vec![],
        Trigger::Operator {
            requested_by: "a".into(),
            reason: "r".into(),
            forced: false,
        },
        &c,
        NOW,
    );
    assert_eq!(back.phase, Phase::FailingBack);
    let unswitched = complete_transition(&back, NOW + 5);
    assert_eq!(unswitched.phase, Phase::PrimaryActive);
    assert_eq!(
        unswitched.last_transition_at, None,
        "a failback that restored nothing (e.g. from BLOCKED) starts no cooldown"
    );
    let mut back = back;
    back.execution.as_mut().unwrap().switched_at = Some(NOW + 3);
    let back = complete_transition(&back, NOW + 5);
    assert_eq!(back.phase, Phase::PrimaryActive);
    assert_eq!(
        back.last_transition_at,
        Some(NOW),
        "a failback that restored the primary starts the cooldown"
    );
}

fn done_failed_over() -> ServiceState {
    ServiceState {
        phase: Phase::FailedOver,
        epoch: 1,
        version: 3,
        ..Default::default()
    }
}

#[test]
fn preflight_table() {
    let d = def(3, 2);
    let r = |healthy: u32| PreflightReadings {
        secondary_health: Some(Ok(HealthReading {
            healthy_checkers: healthy,
            checkers: 16,
        })),
        ..Default::default()
    };
    assert!(preflight_passed(&preflight_checks(&d, &r(16))));
    assert!(preflight_passed(&preflight_checks(&d, &r(3))), "3/16 > 18%");
    assert!(
        !preflight_passed(&preflight_checks(&d, &r(2))),
        "2/16 <= 18%"
    );
    let unreadable = PreflightReadings {
        secondary_health: Some(Err("throttled".into())),
        ..Default::default()
    };
    let checks = preflight_checks(&d, &unreadable);
    assert!(!preflight_passed(&checks));
    assert!(checks[0].detail.contains("could not be read: throttled"));
    assert!(
        !preflight_passed(&preflight_checks(&d, &PreflightReadings::default())),
        "unchecked is not ready"
    );
}

proptest! {
    /// Never acts without quorum: whatever the votes, a QuorumReached carries at least
    /// `quorum` distinct catalogued observers, each in ALARM inside the window.
    #[test]
    fn never_acts_without_quorum(
        n in 1usize..6,
        q in 1u32..6,
        votes in proptest::collection::vec((0usize..8, 0u8..3, -400_000i64..60_000), 0..12),
    ) {
        let q = q.min(n as u32);
        let d = def(n, q);
        let mut state = ServiceState::default();
        for (i, s, dt) in votes {
            let s = [ObservedState::Alarm, ObservedState::Ok, ObservedState::InsufficientData][s as usize];
            state.votes.insert(arn(i), vote(s, NOW + dt));
        }
        if let Assessment::QuorumReached { votes } = assess(&d, &state, NOW) {
            let distinct: std::collections::BTreeSet<_> = votes.iter().map(|v| v.observer.clone()).collect();
            prop_assert!(distinct.len() >= q as usize);
            for v in &votes {
                prop_assert!(d.observers.contains(&v.observer));
                let stored = &state.votes[&v.observer];
                prop_assert_eq!(stored.state, ObservedState::Alarm);
                prop_assert!(NOW - stored.at <= 300_000);
            }
        }
    }

    /// Never two decisions for one incident: any interleaving of duplicated, reordered
    /// deliveries, each recording its vote and later trying to claim with what it saw,
    /// yields at most one claim; and exactly one whenever some delivery saw a quorum.
    #[test]
    fn never_two_decisions_for_one_incident(
        n in 1usize..5,
        q in 1u32..5,
        events in proptest::collection::vec((0usize..4, any::<bool>(), 0i64..120_000, 1usize..5), 1..8),
        order in proptest::collection::vec(any::<prop::sample::Index>(), 0..80),
    ) {
        let q = q.min(n as u32);
        let d = def(n, q);
        // Every delivery, duplicates included.
        let mut deliveries = Vec::new();
        for (i, alarm, dt, copies) in &events {
            for _ in 0..*copies {
                deliveries.push((arn(i % n), if *alarm { ObservedState::Alarm } else { ObservedState::Ok }, NOW - 120_000 + dt));
            }
        }
        // Each delivery is two atomic steps (vote, then claim); `order` picks which runs next.
        let mut pending: Vec<usize> = (0..deliveries.len()).flat_map(|k| [k, k]).collect();
        let mut seen: BTreeMap<usize, ServiceState> = BTreeMap::new();
        let mut store = ServiceState::default();
        let (mut claims, mut saw_quorum) = (0, false);
        let mut picks = order.into_iter();
        while !pending.is_empty() {
            let idx = picks.next().map_or(0, |p| p.index(pending.len()));
            let k = pending.remove(idx);
            let (observer, s, at) = deliveries[k].clone();
            match seen.remove(&k) {
                None => {
                    // Step 1: the conditional vote write (newer only), returning the state.
                    if store.votes.get(&observer).is_none_or(|v| v.at < at) {
                        store.votes.insert(observer, vote(s, at));
                    }
                    seen.insert(k, store.clone());
                }
                Some(snapshot) => {
                    // Step 2: claim with the version this delivery saw.
                    if let Assessment::QuorumReached { votes } = assess(&d, &snapshot, NOW) {
                        saw_quorum = true;
                        prop_assert!(votes.len() >= q as usize);
                        let c = Claimant { owner: format!("d{k}"), lease_until: NOW + 1000 };
                        let next = claim_failover(&snapshot, votes, Trigger::Quorum { quorum: q, observers: n as u32 }, &c, NOW);
                        if store.version == snapshot.version {
                            let votes = std::mem::take(&mut store.votes);
                            store = ServiceState { votes, ..next };
                            claims += 1;
                        }
                    }
                }
            }
        }
        prop_assert!(claims <= 1, "{} claims", claims);
        prop_assert_eq!(claims == 1, saw_quorum);
        prop_assert!(store.epoch <= 1);
    }
}
