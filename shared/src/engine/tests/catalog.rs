//! A catalog entry edited badly mid-incident: the service keeps its last good definition
//! (kept in the table, so a cold start has it too), still fails over on a quorum, is paged
//! once per bad version and shows the fallback in `status`; a fix ends the fallback.

use serde_json::{json, Value};

use super::*;
use crate::api::operator_response::CatalogStatus;
use crate::domain::catalog::KeptVersions;
use crate::domain::state::Phase;
use crate::engine::{CATALOG_KEEPER, CATALOG_TTL_MS};

/// `checkout` with a `"quorum": "2"` typo: a string where a number belongs.
fn bad_definition() -> String {
    let mut def: Value = serde_json::from_str(&definition(json!({}))).unwrap();
    def["quorum"] = json!("2");
    def.to_string()
}

/// An engine running as `function` over a store holding `catalog` and `kept`.
fn engine_as(
    function: &'static str,
    catalog: Vec<(String, String)>,
    kept: std::collections::HashMap<String, KeptVersions>,
) -> TestEngine {
    let store = MemStore::default();
    *store.catalog.lock().unwrap() = catalog;
    *store.kept.lock().unwrap() = kept;
    let health = MemHealthChecks::default();
    health.add(PRIMARY, false);
    health.add(SECONDARY, true);
    let clock = FakeClock::default();
    clock.set(T0);
    Engine::new(
        store,
        health,
        MemAlarms::default(),
        MemNotifier::default(),
        clock,
        function,
    )
    .with_runbook(MemRunbook::default())
}

fn keeper() -> TestEngine {
    engine_as(
        CATALOG_KEEPER,
        vec![("checkout".into(), definition(json!({})))],
        Default::default(),
    )
}

fn set_entry(e: &TestEngine, key: &str, json: String) {
    let mut catalog = e.store.catalog.lock().unwrap();
    catalog.retain(|(k, _)| k != key);
    catalog.push((key.into(), json));
}

/// The reconciler's run a catalog TTL later (so it reads the catalog again).
async fn next_run(e: &TestEngine) -> ReconcileReport {
    e.clock.set(e.clock.now() + CATALOG_TTL_MS);
    reconcile(e).await
}

fn kept(e: &TestEngine, key: &str) -> KeptVersions {
    e.store
        .kept
        .lock()
        .unwrap()
        .get(key)
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn a_bad_edit_keeps_the_last_good_definition_and_a_cold_start_still_fails_over() {
    let e = keeper();
    reconcile(&e).await;
    let good = kept(&e, "checkout")
        .last_good
        .expect("the good version is kept");
    assert_eq!(good.definition, definition(json!({})));
    assert_eq!(good.since, T0);

    set_entry(&e, "checkout", bad_definition());
    next_run(&e).await;
    // A cold alarm-trigger: only the table, no cache.
    let cold = engine_as(
        "alarm-trigger",
        e.store.catalog.lock().unwrap().clone(),
        e.store.kept.lock().unwrap().clone(),
    );
    cold.clock.set(T0 + 3 * MINUTE);
    let at = T0 + 3 * MINUTE - 1_000;
    assert_eq!(
        send(&cold, &event(0, "ALARM", at, "a"), "r1")
            .await
            .unwrap(),
        ["vote_recorded"]
    );
    assert_eq!(
        send(&cold, &event(1, "ALARM", at, "b"), "r2")
            .await
            .unwrap(),
        ["failed_over"],
        "the votes count on the last good definition"
    );
    assert_eq!(cold.store.state("checkout").phase, Phase::FailedOver);
}

#[tokio::test]
async fn a_bad_version_is_paged_once_and_another_bad_version_again() {
    let e = keeper();
    reconcile(&e).await;
    set_entry(&e, "checkout", bad_definition());
    next_run(&e).await;
    next_run(&e).await;
    let sent = e.notifier.sent();
    assert_eq!(alert_kinds(&e), ["catalog"], "paged once");
    assert_eq!(sent[0].severity, "warning", "still protected");
    assert!(
        sent[0].subject.contains("field 'quorum'"),
        "{}",
        sent[0].subject
    );
    assert!(sent[0].message.contains("last good definition"));

    // Across invocations: a fresh keeper reads the same bad text and does not page.
    let cold = engine_as(
        CATALOG_KEEPER,
        e.store.catalog.lock().unwrap().clone(),
        e.store.kept.lock().unwrap().clone(),
    );
    reconcile(&cold).await;
    assert!(
        cold.notifier.sent().is_empty(),
        "{:?}",
        cold.notifier.sent()
    );

    let mut other: Value = serde_json::from_str(&definition(json!({}))).unwrap();
    other["cooldown_seconds"] = json!(-1);
    set_entry(&e, "checkout", other.to_string());
    next_run(&e).await;
    assert_eq!(alert_kinds(&e), ["catalog", "catalog"], "a new bad version");
    assert!(e.notifier.sent()[1].subject.contains("cooldown_seconds"));
}

#[tokio::test]
async fn status_shows_the_fallback_and_a_fix_ends_it() {
    let e = keeper();
    reconcile(&e).await;
    set_entry(&e, "checkout", bad_definition());
    next_run(&e).await;
    let bad_since = e.clock.now();
    let r = operate(&e, json!({"action": "status", "service": "checkout"})).await;
    let status = &r.status[0];
    match &status.catalog {
        Some(CatalogStatus::LastGood {
            since,
            field,
            error,
            definition_since,
        }) => {
            assert_eq!(since, &crate::domain::time::fmt_time(bad_since));
            assert_eq!(field, "quorum");
            assert!(error.contains("expected u32"), "{error}");
            assert_eq!(definition_since, &crate::domain::time::fmt_time(T0));
        }
        None => panic!("no fallback shown: {status:?}"),
    }
    assert_eq!(status.quorum, 2);

    // Fixed, with a new quorum: in use at the next read, the fallback over.
    set_entry(&e, "checkout", definition(json!({"quorum": 3})));
    next_run(&e).await;
    let r = operate(&e, json!({"action": "status", "service": "checkout"})).await;
    assert_eq!(r.status[0].catalog, None);
    assert_eq!(r.status[0].quorum, 3);
    let k = kept(&e, "checkout");
    assert_eq!(k.bad, None);
    assert_eq!(
        k.last_good.unwrap().definition,
        definition(json!({"quorum": 3}))
    );
    // The same bad text again is a new incident of it: paged again.
    set_entry(&e, "checkout", bad_definition());
    next_run(&e).await;
    assert_eq!(alert_kinds(&e), ["catalog", "catalog"]);
}

#[tokio::test]
async fn a_new_entry_that_never_parsed_is_paged_and_named_in_status() {
    let e = keeper();
    let mut def: Value = serde_json::from_str(&definition(json!({}))).unwrap();
    def["name"] = json!("payments");
    def["observers"] = json!(["not an arn"]);
    set_entry(&e, "payments", def.to_string());
    reconcile(&e).await;
    next_run(&e).await;
    let sent = e.notifier.sent();
    assert_eq!(alert_kinds(&e), ["catalog"], "paged once");
    assert_eq!(sent[0].service, "payments");
    assert_eq!(sent[0].severity, "critical");
    assert!(
        sent[0].subject.contains("NOT PROTECTED"),
        "{}",
        sent[0].subject
    );
    assert!(sent[0].message.contains("observers[0]"));
    let r = operate(&e, json!({"action": "status", "service": null})).await;
    assert!(
        r.message.contains(
            "NOT PROTECTED (no definition parses): catalog entry 'payments': field 'observers[0]'"
        ),
        "{}",
        r.message
    );
    assert_eq!(r.status.len(), 1, "checkout only");
}

#[tokio::test]
async fn a_page_that_fails_is_sent_by_the_next_run() {
    let e = keeper();
    reconcile(&e).await;
    set_entry(&e, "checkout", bad_definition());
    e.notifier.failures.fail_next("publish");
    next_run(&e).await;
    assert!(e.notifier.sent().is_empty());
    assert_eq!(
        kept(&e, "checkout").bad.unwrap().paged_at,
        None,
        "given back"
    );
    next_run(&e).await;
    assert_eq!(alert_kinds(&e), ["catalog"]);
    next_run(&e).await;
    assert_eq!(alert_kinds(&e), ["catalog"]);
}

#[tokio::test]
async fn only_the_keeper_writes_and_a_deleted_entry_leaves_nothing_behind() {
    // The alarm-trigger and the operator only read: their round trips stay as they are.
    let other = engine_as(
        "operator",
        vec![("checkout".into(), bad_definition())],
        Default::default(),
    );
    other.catalog().await.unwrap();
    operate(&other, json!({"action": "status", "service": null})).await;
    assert!(other.store.kept.lock().unwrap().is_empty());
    assert!(other.notifier.sent().is_empty());

    let e = keeper();
    reconcile(&e).await;
    e.store.catalog.lock().unwrap().clear();
    next_run(&e).await;
    assert_eq!(
        kept(&e, "checkout"),
        KeptVersions {
            rev: 2,
            ..KeptVersions::default()
        },
        "a new entry of that name never runs on an old definition"
    );
    set_entry(&e, "checkout", bad_definition());
    next_run(&e).await;
    assert!(e.catalog().await.unwrap().service("checkout").is_none());
}

const MINUTE: i64 = 60_000;
