//! Driving the incident: start moto, provision, start the functions behind the tap, run
//! the scenario's steps, check the whole, measure, write the report.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Instant;

use chrono::Utc;

use super::checks::{self, IncidentSeen};
use super::latency::{latency, rto_budget};
use super::report::{self, DrillReport};
use super::step::StepRunner;
use super::tap::FaultKind;
use super::timeline::{Kind, Timeline};
use super::{stage, AwsTap, DrillOptions, Stage, FUNCTIONS};
use crate::{put_catalog_entry, Emulator, LambdaWatch};

/// Runs the drill. Returns the report whether or not the product held (see
/// [`DrillReport::held`]); panics only when the harness itself cannot work (moto or
/// cargo lambda missing, the emulator refusing to provision).
pub async fn run(options: DrillOptions) -> DrillReport {
    let origin = Instant::now();
    let started_at = Utc::now();
    let scenario = options.scenario;
    let mut tl = Timeline::new(origin, options.echo);
    if options.echo {
        println!(
            "Failover drill, scenario '{scenario}': {}",
            scenario.description()
        );
    }

    let emulator = tokio::task::spawn_blocking(Emulator::start)
        .await
        .expect("starting moto");
    tl.say(
        None,
        Kind::Setup,
        format!(
            "emulator: moto on {} (pid {}, started in {:.1} s)",
            emulator.endpoint(),
            emulator.pid(),
            emulator.startup_time().as_secs_f64()
        ),
    );
    let upstream = SocketAddr::from((Ipv4Addr::LOCALHOST, emulator.port()));
    let mut stage = {
        let mut say = |s: String| tl.say(None, Kind::Setup, s);
        Stage::provision_with(emulator, &mut say, scenario.stage_options()).await
    };
    if let Some(window) = scenario.vote_window_seconds() {
        // Before the functions start, so none has cached the deployment's entry.
        stage.definition["vote_window_seconds"] = window.into();
        put_catalog_entry(
            &stage.sdk,
            stage::TABLE,
            stage::SERVICE,
            &stage.definition.to_string(),
        )
        .await;
        tl.say(
            None,
            Kind::Setup,
            format!(
                "catalog entry {}: vote_window_seconds {window} for this scenario (PutItem), so the incident outlives the window in seconds",
                stage::SERVICE
            ),
        );
    }
    let runbook = match scenario == super::Scenario::Runbook {
        // Before the functions start, like the vote window's rewrite above.
        true => Some(super::runbook::setup(&mut stage, &mut tl).await),
        false => None,
    };
    if scenario.secondary_not_ready() {
        let (_, state) = stage
            .set_alarm(stage::SECONDARY_REGION, stage::SECONDARY_ALARM, "ALARM")
            .await;
        tl.say(
            None,
            Kind::Scripted,
            format!(
                "the secondary is not ready: CloudWatch alarm {}/{} OK -> {state} (SetAlarmState)",
                stage::SECONDARY_REGION,
                stage::SECONDARY_ALARM
            ),
        );
    }

    let tap = AwsTap::start(upstream, origin).expect("starting the AWS call tap");
    if scenario.route53_down() {
        tap.set_outage("route53", Some(FaultKind::Unavailable));
        tl.say(
            None,
            Kind::Scripted,
            "Route 53's API is down for the whole drill: the tap answers every route53 call of the functions with HTTP 503 ServiceUnavailable (the data planes, DNS answers and health checkers, are not affected)".to_string(),
        );
    }
    let env = stage.function_env(&tap.endpoint());
    let watch = {
        let env = env.clone();
        tokio::task::spawn_blocking(move || LambdaWatch::start(&FUNCTIONS, &env))
            .await
            .expect("starting cargo lambda watch")
    };
    tl.say(
        None,
        Kind::Setup,
        format!(
            "functions: cargo lambda watch on 127.0.0.1:{} (pid {}) serving {}; their AWS calls go through the recording tap {} to moto",
            watch.port(),
            watch.pid(),
            FUNCTIONS.join(", "),
            tap.endpoint()
        ),
    );
    let records_before = stage.records().await;
    let mut before = stage.snapshot().await;
    let incident_start = origin.elapsed();

    let mut runner = StepRunner::new(scenario, &stage, &watch, &tap, origin);
    runner.runbook = runbook;
    let mut steps = Vec::new();
    for (i, step) in scenario.steps().into_iter().enumerate() {
        let (record, after) = runner.run_step(&mut tl, i + 1, &step, &before).await;
        steps.push(record);
        before = after;
    }

    let records_after = stage.records().await;
    let calls = tap.all();
    let StepRunner {
        mut checks,
        alerts,
        switches,
        runbook,
        ..
    } = runner;
    checks.extend(checks::check_incident(
        scenario,
        &IncidentSeen {
            steps: &steps,
            alerts: &alerts,
            switches: &switches,
            calls: &calls,
            records_before: &records_before,
            records_after: &records_after,
            last: &before,
            secondary_hc: &stage.secondary_hc,
        },
    ));
    if runbook.is_some() {
        checks.extend(super::runbook::check_incident(&steps, &calls, &before));
    }
    checks::announce(&mut tl, &checks);

    let latency = latency(&steps, &alerts, started_at);
    let rto = rto_budget(latency.as_ref(), &stage);

    // Keep the functions' logs with the report: the watcher's log goes when it stops.
    let functions_log = options.out_dir.as_ref().and_then(|dir| {
        std::fs::create_dir_all(dir).ok()?;
        let path = dir.join("functions.log");
        std::fs::copy(watch.log_path(), &path).ok()?;
        Some(path)
    });
    let invoke_port = watch.port();
    let tap_endpoint = tap.endpoint();
    drop(watch);
    drop(tap);

    let held = checks.iter().all(|c| c.ok);
    let mut report = DrillReport {
        scenario,
        held,
        started_at,
        incident_start,
        duration: origin.elapsed(),
        emulator_endpoint: stage.emulator.endpoint(),
        tap_endpoint,
        invoke_port,
        primary_hc: stage.primary_hc.clone(),
        secondary_hc: stage.secondary_hc.clone(),
        definition: stage.definition.clone(),
        lines: tl.lines,
        steps,
        checks,
        calls,
        alerts,
        switches,
        records_before,
        records_after,
        final_phase: before.phase.clone(),
        final_epoch: before.epoch,
        final_primary: before.primary,
        final_secondary: before.secondary,
        switch_mode: stage.switch_mode,
        switch_alarm: stage.switch_alarm.clone(),
        final_switch: before.switch.clone(),
        latency,
        rto,
        summary: Vec::new(),
        json_path: None,
        html_path: None,
        functions_log,
    };
    drop(stage);
    report.summary = report::summary(&report);
    if let Some(dir) = &options.out_dir {
        match report::write(&report, dir) {
            Ok((json, html)) => {
                report.json_path = Some(json.clone());
                report.html_path = Some(html.clone());
                report.summary.push(format!(
                    "Reports: {} and {}{}",
                    json.display(),
                    html.display(),
                    report
                        .functions_log
                        .as_ref()
                        .map(|p| format!(" (function logs: {})", p.display()))
                        .unwrap_or_default()
                ));
            }
            Err(e) => report.summary.push(format!(
                "Reports could not be written to {}: {e}",
                dir.display()
            )),
        }
    }
    if options.echo {
        for line in &report.summary {
            println!("{line}");
        }
    }
    report
}
