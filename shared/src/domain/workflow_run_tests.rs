use super::*;
use crate::domain::workflow::StepKind;

fn step(id: &str, kind: StepKind, approval: Approval, back: Option<ScaleBack>) -> WorkflowStep {
    let action = match kind {
        StepKind::AutoscalingGroup => StepAction::AutoscalingGroup {
            region: "eu-west-1".into(),
            name: "asg".into(),
            min: 12,
            max: None,
            desired: 12,
        },
        StepKind::EcsService => StepAction::EcsService {
            region: "eu-west-1".into(),
            cluster: "prod".into(),
            service: "svc".into(),
            desired: 8,
        },
        _ => StepAction::RdsReadReplica {
            region: "eu-west-1".into(),
            identifier: "replica".into(),
        },
    };
    WorkflowStep {
        id: id.into(),
        approval,
        action,
        on_failback: back,
    }
}

fn steps() -> Vec<WorkflowStep> {
    vec![
        step(
            "scale",
            StepKind::AutoscalingGroup,
            Approval::None,
            Some(ScaleBack {
                min: Some(3),
                desired: 3,
            }),
        ),
        step("api", StepKind::EcsService, Approval::None, None),
        step("db", StepKind::RdsReadReplica, Approval::Required, None),
    ]
}

#[test]
fn failback_runs_only_the_scale_steps_with_a_target() {
    let run = WorkflowRun::plan(&steps(), TransitionKind::Failback).unwrap();
    assert_eq!(run.steps.len(), 1);
    assert_eq!(
        run.steps[0].step.action,
        StepAction::AutoscalingGroup {
            region: "eu-west-1".into(),
            name: "asg".into(),
            min: 3,
            max: None,
            desired: 3
        }
    );
    assert!(WorkflowRun::plan(&steps()[1..], TransitionKind::Failback).is_none());
}

#[test]
fn steps_go_in_order_and_an_approval_step_waits_for_a_human() {
    let mut run = WorkflowRun::plan(&steps(), TransitionKind::Failover).unwrap();
    assert_eq!(next(&run, 0, 900_000), Next::Run(0));
    run.steps[0].status = StepStatus::Done;
    run.steps[1].status = StepStatus::Running;
    run.steps[1].lease_until = Some(10);
    assert_eq!(next(&run, 5, 900_000), Next::Wait(Some(10)));
    assert_eq!(
        next(&run, 10, 900_000),
        Next::Run(1),
        "a lapsed claim is resumed"
    );
    run.steps[1].status = StepStatus::Done;
    assert_eq!(next(&run, 20, 900_000), Next::AskApproval(2));
    run.steps[2].status = StepStatus::AwaitingApproval;
    run.steps[2].approval = Some(ApprovalState {
        requested_at: 20,
        pages: 1,
        last_paged_at: 20,
        decision: None,
    });
    assert_eq!(next(&run, 30, 900_000), Next::Wait(Some(900_020)));
    assert_eq!(next(&run, 900_020, 900_000), Next::RePage(2));
    run.steps[2].approval.as_mut().unwrap().decision = Some(ApprovalDecision {
        approved: true,
        by: "alice".into(),
        reason: "go".into(),
        at: 40,
        request_id: "r".into(),
    });
    assert_eq!(next(&run, 41, 900_000), Next::Run(2));
    run.steps[2].status = StepStatus::Applied;
    assert_eq!(next(&run, 42, 900_000), Next::Verify(2));
    run.steps[2].status = StepStatus::Done;
    assert_eq!(next(&run, 43, 900_000), Next::End);
    run.ended_at = Some(43);
    assert_eq!(next(&run, 44, 900_000), Next::Nothing);
    assert_eq!(run.progress(), "3/3");
}

#[test]
fn a_failed_step_backs_off_doubling_up_to_ten_minutes() {
    assert_eq!(retry_delay(1), 30_000);
    assert_eq!(retry_delay(2), 60_000);
    assert_eq!(retry_delay(5), 480_000);
    assert_eq!(retry_delay(6), 600_000);
    assert_eq!(retry_delay(u32::MAX), 600_000);
    let mut run = WorkflowRun::plan(&steps(), TransitionKind::Failover).unwrap();
    run.steps[0].status = StepStatus::Failed;
    run.steps[0].next_attempt_at = Some(100);
    assert_eq!(next(&run, 99, 1), Next::Wait(Some(100)));
    assert_eq!(next(&run, 100, 1), Next::Run(0));
}

#[test]
fn aurora_fails_over_with_data_loss_only_when_automatic_and_allowed() {
    let quorum = Trigger::Quorum {
        quorum: 2,
        observers: 3,
    };
    let operator = Trigger::Operator {
        requested_by: "a".into(),
        reason: "b".into(),
        forced: false,
    };
    assert_eq!(
        aurora_move(&quorum, true),
        AuroraMove::FailoverAllowingDataLoss
    );
    assert_eq!(aurora_move(&quorum, false), AuroraMove::Switchover);
    assert_eq!(aurora_move(&operator, true), AuroraMove::Switchover);
}

#[test]
fn read_backs_tell_done_from_in_progress_from_not_yet() {
    let g = GroupCapacity {
        min: 12,
        max: 20,
        desired: 12,
        in_service: 4,
    };
    assert!(matches!(
        check_group(12, None, 12, Some(g)),
        ReadBack::AtTarget(_)
    ));
    assert!(matches!(
        check_group(12, Some(24), 12, Some(g)),
        ReadBack::NotYet(_)
    ));
    assert!(matches!(
        check_group(12, None, 12, None),
        ReadBack::NotYet(_)
    ));
    let db = |src: Option<&str>, status: &str| DbInstance {
        replica_of: src.map(String::from),
        status: status.into(),
    };
    assert!(matches!(
        check_promoted(Some(&db(None, "available"))),
        ReadBack::AtTarget(_)
    ));
    assert!(matches!(
        check_promoted(Some(&db(None, "modifying"))),
        ReadBack::InProgress(_)
    ));
    assert!(matches!(
        check_promoted(Some(&db(Some("p"), "available"))),
        ReadBack::NotYet(_)
    ));
    let t = "arn:aws:rds:eu-west-1:123456789012:cluster:b";
    let gc = |w: &str, s: &str| GlobalCluster {
        writer_arn: Some(w.into()),
        status: s.into(),
    };
    assert!(matches!(
        check_writer(t, Some(&gc(t, "available"))),
        ReadBack::AtTarget(_)
    ));
    assert!(matches!(
        check_writer(t, Some(&gc("x", "switching-over"))),
        ReadBack::InProgress(_)
    ));
    assert!(matches!(
        check_writer(t, Some(&gc("x", "available"))),
        ReadBack::NotYet(_)
    ));
    assert!(matches!(
        check_service(
            8,
            Some(ServiceCapacity {
                desired: 8,
                running: 2
            })
        ),
        ReadBack::AtTarget(_)
    ));
}
