use super::*;
use crate::domain::decision::{claim_failover, complete_transition, Claimant};
use crate::domain::state::{Trigger, Vote, VoteRecord};

const T: Millis = 1_795_000_000_000;

fn arn(i: usize) -> String {
    format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:o{i}")
}

fn def() -> ServiceDefinition {
    ServiceDefinition::parse(
        "svc",
        &format!(
            r#"{{"name":"svc","primary":{{"region":"us-east-1","health_check_id":"p"}},
               "secondary":{{"region":"eu-west-1","health_check_id":"s"}},
               "observers":["{}","{}","{}"],"quorum":2,"recovery_timeout_seconds":600}}"#,
            arn(0),
            arn(1),
            arn(2)
        ),
    )
    .unwrap()
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

/// Failed over: observers 0 and 1 alarmed at T and T+10 s, decided at T+11 s, switched at T+12 s.
fn failed_over() -> ServiceState {
    let votes: Vec<VoteRecord> = [(0, T), (1, T + 10_000)]
        .iter()
        .map(|(i, at)| VoteRecord {
            observer: arn(*i),
            at: *at,
            reason: String::new(),
        })
        .collect();
    let claimant = Claimant {
        owner: "me".into(),
        lease_until: T + 60_000,
    };
    let trigger = Trigger::Quorum {
        quorum: 2,
        observers: 3,
    };
    let mut s = claim_failover(
        &ServiceState::default(),
        votes,
        trigger,
        &claimant,
        T + 11_000,
    );
    s.execution.as_mut().unwrap().switched_at = Some(T + 12_000);
    let mut s = complete_transition(&s, T + 12_500);
    s.votes.insert(arn(0), vote(ObservedState::Alarm, T));
    s.votes
        .insert(arn(1), vote(ObservedState::Alarm, T + 10_000));
    s.votes
        .insert(arn(2), vote(ObservedState::Ok, T - 3_600_000));
    s
}

#[test]
fn every_observer_ok_after_the_switch_is_a_recovery_with_the_rto_from_the_first_alarm() {
    let d = def();
    let mut s = failed_over();
    for (i, at) in [(0, T + 60_000), (1, T + 70_000), (2, T + 80_000)] {
        s.votes.insert(arn(i), vote(ObservedState::Ok, at));
    }
    let RecoveryCheck::Recovered(r) = check(&d, &s, &Reads::none(), T + 90_000) else {
        panic!("not recovered");
    };
    assert_eq!(r.recovered_at, Some(T + 80_000));
    assert_eq!(r.rto_ms, Some(80_000));
    assert_eq!(r.first_alarm_at, Some(T));
    assert_eq!(r.observers_ok.len(), 3);
    let exec = s.execution.clone().unwrap();
    let labels: Vec<String> = timeline(&exec, &r).into_iter().map(|(l, _)| l).collect();
    assert_eq!(labels[0], "first ALARM (o0)");
    assert_eq!(labels[1..3], ["decision", "switch"]);
    assert_eq!(labels.len(), 6);
    // Recorded: the watch ends.
    let done = with_recovery(&s, r);
    assert_eq!(
        check(&d, &done, &Reads::none(), T + 90_000),
        RecoveryCheck::NotWatching
    );
}

#[test]
fn an_ok_from_before_the_switch_does_not_count_but_a_read_after_it_does() {
    let d = def();
    let mut s = failed_over();
    s.votes.insert(arn(0), vote(ObservedState::Ok, T + 60_000));
    s.votes.insert(arn(1), vote(ObservedState::Ok, T + 70_000));
    let RecoveryCheck::Waiting { failing, page, .. } = check(&d, &s, &Reads::none(), T + 90_000)
    else {
        panic!("observer 2's OK predates the switch");
    };
    assert_eq!(failing.len(), 1, "{failing:?}");
    assert!(failing[0].starts_with("o2: OK since"), "{failing:?}");
    assert!(!page, "the timeout has not passed");
    assert_eq!(observers_to_read(&d, &s), vec![arn(2)]);
    let ok = |_: &str| Some(ObservedState::Ok);
    let reads = Reads {
        at: T + 95_000,
        state: &ok,
    };
    let RecoveryCheck::Recovered(r) = check(&d, &s, &reads, T + 95_000) else {
        panic!("the read finds observer 2 OK");
    };
    assert_eq!(r.rto_ms, Some(95_000), "dated at the read: an upper bound");
    assert_eq!(r.observers_ok[2].source, OkSource::Read);
    assert!(keeps_vote(&d, &s, &arn(0)) && !keeps_vote(&d, &s, &arn(2)));
}

#[test]
fn the_timeout_pages_once_and_a_later_recovery_still_counts() {
    let d = def();
    let s = failed_over();
    let late = T + 12_000 + 600_000;
    let RecoveryCheck::Waiting { failing, page, .. } = check(&d, &s, &Reads::none(), late) else {
        panic!()
    };
    assert!(page);
    assert_eq!(failing.len(), 3);
    let mut paged = with_not_recovered(&s, failing, late);
    assert!(matches!(
        check(&d, &paged, &Reads::none(), late + 60_000),
        RecoveryCheck::Waiting { page: false, .. }
    ));
    for i in 0..3 {
        paged
            .votes
            .insert(arn(i), vote(ObservedState::Ok, late + 1_000));
    }
    let RecoveryCheck::Recovered(r) = check(&d, &paged, &Reads::none(), late + 2_000) else {
        panic!()
    };
    assert_eq!(r.not_recovered_at, Some(late), "the page is remembered");
}

#[test]
fn no_watch_without_a_completed_switched_failover() {
    let d = def();
    let mut s = failed_over();
    s.phase = Phase::FailingBack;
    assert_eq!(check(&d, &s, &Reads::none(), T), RecoveryCheck::NotWatching);
    let mut s = failed_over();
    s.execution.as_mut().unwrap().switched_at = None;
    assert_eq!(check(&d, &s, &Reads::none(), T), RecoveryCheck::NotWatching);
    assert!(observers_to_read(&d, &s).is_empty());
}
