use super::*;
use crate::domain::arn::HomeAccount;

const FULL: &str = r#"{"name": "checkout",
 "primary":   {"region": "us-east-1", "health_check_id": "hc-primary"},
 "secondary": {"region": "eu-west-1", "health_check_id": "hc-secondary"},
 "observers": ["arn:aws:cloudwatch:us-east-1:210987654321:alarm:checkout-canary-use1",
           "arn:aws:cloudwatch:us-west-2:210987654321:alarm:checkout-canary-usw2",
           "arn:aws:cloudwatch:eu-west-1:210987654321:alarm:checkout-canary-euw1"],
 "quorum": 2,
 "vote_window_seconds": 300, "max_event_age_seconds": 300,
 "cooldown_seconds": 3600, "max_auto_failovers_per_day": 1,
 "preflight": {"secondary_health_check": true,
           "secondary_alarm_arn": "arn:aws:cloudwatch:eu-west-1:210987654321:alarm:checkout-health-euw1",
           "replica_lag": {"region": "eu-west-1", "namespace": "AWS/RDS", "metric_name": "ReplicaLag",
                           "dimensions": {"DBInstanceIdentifier": "checkout-replica"},
                           "statistic": "Maximum", "max_seconds": 30}}}"#;

const MINIMAL: &str = r#"{"name": "checkout",
 "primary":   {"region": "us-east-1", "health_check_id": "hc-primary"},
 "secondary": {"region": "eu-west-1", "health_check_id": "hc-secondary"},
 "observers": ["arn:aws:cloudwatch:us-east-1:210987654321:alarm:a",
           "arn:aws:cloudwatch:us-west-2:210987654321:alarm:b"]}"#;

fn full_value() -> serde_json::Value {
    serde_json::from_str(FULL).unwrap_or_default()
}

/// The full example with `value` set at a '/'-separated path (the parent must exist).
fn with(path: &str, value: serde_json::Value) -> String {
    let mut v = full_value();
    let (parent, key) = path.rsplit_once('/').unwrap_or(("", path));
    let pointer = if parent.is_empty() {
        String::new()
    } else {
        format!("/{parent}")
    };
    match v.pointer_mut(&pointer) {
        Some(serde_json::Value::Object(m)) => {
            m.insert(key.to_string(), value);
        }
        Some(serde_json::Value::Array(a)) => {
            a[key.parse::<usize>().unwrap()] = value;
        }
        _ => panic!("bad test path {path}"),
    }
    v.to_string()
}

/// The full example without the key at a '/'-separated path.
fn without(path: &str) -> String {
    let mut v = full_value();
    let (parent, key) = path.rsplit_once('/').unwrap_or(("", path));
    let pointer = if parent.is_empty() {
        String::new()
    } else {
        format!("/{parent}")
    };
    if let Some(m) = v.pointer_mut(&pointer).and_then(|p| p.as_object_mut()) {
        m.remove(key);
    }
    v.to_string()
}

#[test]
fn full_example_parses() {
    let def = ServiceDefinition::parse("checkout", FULL).unwrap();
    assert_eq!(def.name, "checkout");
    assert_eq!(def.primary.region, "us-east-1");
    assert_eq!(def.secondary.health_check_id, "hc-secondary");
    assert_eq!(def.observers.len(), 3);
    assert_eq!(def.quorum, 2);
    let lag = def.preflight.replica_lag.as_ref().unwrap();
    assert_eq!(lag.namespace, "AWS/RDS");
    assert_eq!(
        lag.dimensions
            .get("DBInstanceIdentifier")
            .map(String::as_str),
        Some("checkout-replica")
    );
    assert_eq!(lag.max_seconds, 30.0);
    assert!(def.preflight.secondary_alarm_arn.is_some());
    // Round-trips through serde unchanged.
    let again =
        ServiceDefinition::parse("checkout", &serde_json::to_string(&def).unwrap()).unwrap();
    assert_eq!(again, def);
}

#[test]
fn minimal_example_gets_defaults() {
    let def = ServiceDefinition::parse("checkout", MINIMAL).unwrap();
    assert_eq!(def.quorum, 2);
    assert_eq!(def.vote_window_seconds, 300);
    assert_eq!(def.max_event_age_seconds, 300);
    assert_eq!(def.cooldown_seconds, 3600);
    assert_eq!(def.max_auto_failovers_per_day, 1);
    assert_eq!(def.preflight, Preflight::default());
    assert!(def.preflight.secondary_health_check);
    assert_eq!(def.preflight.secondary_alarm_arn, None);
    assert_eq!(def.preflight.replica_lag, None);
}

#[test]
fn replica_lag_defaults() {
    let json = with(
        "preflight/replica_lag",
        serde_json::json!({"region": "eu-west-1", "namespace": "AWS/RDS", "metric_name": "ReplicaLag"}),
    );
    let def = ServiceDefinition::parse("checkout", &json).unwrap();
    let lag = def.preflight.replica_lag.unwrap();
    assert_eq!(lag.statistic, "Maximum");
    assert!(lag.dimensions.is_empty());
    assert_eq!(lag.max_seconds, 30.0);
    // A preflight object with only some keys keeps the other defaults.
    let json = with(
        "preflight",
        serde_json::json!({"secondary_alarm_arn": null}),
    );
    let def = ServiceDefinition::parse("checkout", &json).unwrap();
    assert_eq!(def.preflight, Preflight::default());
}

#[test]
fn each_rule_names_its_field() {
    use serde_json::json;
    let arn = |r: &str, n: &str| format!("arn:aws:cloudwatch:{r}:210987654321:alarm:{n}");
    let obs3 =
        |third: serde_json::Value| json!([arn("us-east-1", "a"), arn("us-west-2", "b"), third]);
    let cases: Vec<(&str, &str, String)> = vec![
        // (case, expected field, json)
        (
            "sk differs from name",
            "name",
            with("name", json!("payments")),
        ),
        ("empty name", "name", with("name", json!(""))),
        ("long name", "name", with("name", json!("a".repeat(81)))),
        ("bad char in name", "name", with("name", json!("check out"))),
        ("unicode in name", "name", with("name", json!("chéckout"))),
        (
            "bad primary region",
            "primary.region",
            with("primary/region", json!("US-EAST-1")),
        ),
        (
            "region without number",
            "primary.region",
            with("primary/region", json!("us-east")),
        ),
        (
            "region one part",
            "secondary.region",
            with("secondary/region", json!("useast-1")),
        ),
        (
            "region trailing",
            "secondary.region",
            with("secondary/region", json!("eu-west-1a")),
        ),
        (
            "empty primary hc",
            "primary.health_check_id",
            with("primary/health_check_id", json!("")),
        ),
        (
            "blank secondary hc",
            "secondary.health_check_id",
            with("secondary/health_check_id", json!("  ")),
        ),
        (
            "same regions",
            "secondary.region",
            with("secondary/region", json!("us-east-1")),
        ),
        (
            "same hc ids",
            "secondary.health_check_id",
            with("secondary/health_check_id", json!("hc-primary")),
        ),
        ("no observers", "observers", with("observers", json!([]))),
        (
            "observer not an arn",
            "observers[2]",
            with("observers", obs3(json!("checkout-canary"))),
        ),
        (
            "observer sns arn",
            "observers[2]",
            with(
                "observers",
                obs3(json!("arn:aws:sns:us-east-1:210987654321:topic")),
            ),
        ),
        (
            "observer short account",
            "observers[2]",
            with(
                "observers",
                obs3(json!("arn:aws:cloudwatch:us-east-1:21098765432:alarm:x")),
            ),
        ),
        (
            "observer no name",
            "observers[2]",
            with(
                "observers",
                obs3(json!("arn:aws:cloudwatch:us-east-1:210987654321:alarm:")),
            ),
        ),
        (
            "observer dashboard",
            "observers[2]",
            with(
                "observers",
                obs3(json!("arn:aws:cloudwatch::210987654321:dashboard:x")),
            ),
        ),
        (
            "duplicate observer",
            "observers[2]",
            with("observers", obs3(json!(arn("us-east-1", "a")))),
        ),
        ("quorum zero", "quorum", with("quorum", json!(0))),
        ("quorum too big", "quorum", with("quorum", json!(4))),
        (
            "vote window zero",
            "vote_window_seconds",
            with("vote_window_seconds", json!(0)),
        ),
        (
            "vote window huge",
            "vote_window_seconds",
            with("vote_window_seconds", json!(u64::MAX)),
        ),
        (
            "event age zero",
            "max_event_age_seconds",
            with("max_event_age_seconds", json!(0)),
        ),
        (
            "cooldown zero",
            "cooldown_seconds",
            with("cooldown_seconds", json!(0)),
        ),
        (
            "failovers zero",
            "max_auto_failovers_per_day",
            with("max_auto_failovers_per_day", json!(0)),
        ),
        (
            "secondary alarm arn",
            "preflight.secondary_alarm_arn",
            with(
                "preflight/secondary_alarm_arn",
                json!("arn:aws:sns:eu-west-1:210987654321:x"),
            ),
        ),
        (
            "lag region",
            "preflight.replica_lag.region",
            with("preflight/replica_lag/region", json!("europe")),
        ),
        (
            "lag namespace",
            "preflight.replica_lag.namespace",
            with("preflight/replica_lag/namespace", json!("")),
        ),
        (
            "lag metric",
            "preflight.replica_lag.metric_name",
            with("preflight/replica_lag/metric_name", json!("")),
        ),
        (
            "lag dimensions",
            "preflight.replica_lag.dimensions",
            with("preflight/replica_lag/dimensions", json!({"": "x"})),
        ),
        (
            "lag statistic",
            "preflight.replica_lag.statistic",
            with("preflight/replica_lag/statistic", json!("p99")),
        ),
        (
            "lag max zero",
            "preflight.replica_lag.max_seconds",
            with("preflight/replica_lag/max_seconds", json!(0)),
        ),
        (
            "lag max negative",
            "preflight.replica_lag.max_seconds",
            with("preflight/replica_lag/max_seconds", json!(-1.5)),
        ),
        // serde errors
        ("unknown field", "quorom", with("quorom", json!(2))),
        (
            "unknown nested field",
            "primary.health_check",
            with("primary/health_check", json!("x")),
        ),
        ("missing field", "definition", without("observers")),
        (
            "missing nested field",
            "preflight.replica_lag",
            without("preflight/replica_lag/metric_name"),
        ),
        ("wrong type", "quorum", with("quorum", json!("2"))),
        ("negative quorum", "quorum", with("quorum", json!(-1))),
        (
            "lag unit unknown",
            "preflight.replica_lag.unit",
            with("preflight/replica_lag/unit", json!("minutes")),
        ),
        (
            "lag unit abbreviated",
            "preflight.replica_lag.unit",
            with("preflight/replica_lag/unit", json!("ms")),
        ),
        (
            "lag unit a number",
            "preflight.replica_lag.unit",
            with("preflight/replica_lag/unit", json!(1000)),
        ),
        (
            "insufficient data unknown",
            "preflight.secondary_alarm_insufficient_data",
            with(
                "preflight/secondary_alarm_insufficient_data",
                json!("ignore"),
            ),
        ),
        (
            "insufficient data a bool",
            "preflight.secondary_alarm_insufficient_data",
            with("preflight/secondary_alarm_insufficient_data", json!(true)),
        ),
        ("not json", "definition", "{\"name\": ".to_string()),
        ("not an object", "definition", "[]".to_string()),
    ];
    for (case, field, json) in &cases {
        match ServiceDefinition::parse("checkout", json) {
            Ok(_) => panic!("{case}: accepted"),
            Err(e) => {
                assert_eq!(&e.field, field, "{case}: {e}");
                assert_eq!(e.service, "checkout", "{case}: {e}");
                assert!(!e.message.is_empty(), "{case}");
            }
        }
    }
    // A missing field is named by the message; the field is where it is missing from.
    for (json, missing) in [
        (without("observers"), "observers"),
        (without("preflight/replica_lag/metric_name"), "metric_name"),
    ] {
        let e = ServiceDefinition::parse("checkout", &json).unwrap_err();
        let want = format!("missing field `{missing}`");
        assert!(e.message.contains(&want), "{e}");
    }
}

#[test]
fn huge_values_are_capped_in_messages() {
    let long = "x".repeat(100_000);
    let err =
        ServiceDefinition::parse("checkout", &with("primary/region", serde_json::json!(long)))
            .unwrap_err();
    assert_eq!(err.field, "primary.region");
    assert!(err.to_string().len() < 400, "{}", err.to_string().len());
    let err = ServiceDefinition::parse(&long, MINIMAL).unwrap_err();
    assert!(err.to_string().len() < 600);
}

#[test]
fn from_entries_keeps_good_entries() {
    let other = MINIMAL.replace("\"checkout\"", "\"payments\"");
    let (catalog, errors) = Catalog::from_entries(vec![
        ("checkout".to_string(), FULL.to_string()),
        ("broken".to_string(), "{".to_string()),
        ("payments".to_string(), other),
        ("mismatch".to_string(), MINIMAL.to_string()),
        ("checkout".to_string(), FULL.to_string()),
    ]);
    assert_eq!(catalog.len(), 2);
    assert!(!catalog.is_empty());
    assert!(catalog.service("checkout").is_some());
    assert!(catalog.service("payments").is_some());
    assert!(catalog.service("broken").is_none());
    let names: Vec<&str> = catalog.services().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["checkout", "payments"]);
    let failed: Vec<(&str, &str)> = errors
        .iter()
        .map(|e| (e.service.as_str(), e.field.as_str()))
        .collect();
    assert_eq!(
        failed,
        [
            ("broken", "definition"),
            ("mismatch", "name"),
            ("checkout", "name")
        ]
    );
    let empty = Catalog::default();
    assert!(empty.is_empty());
    assert!(empty.services_observing("x").is_empty());
}

#[test]
fn observer_shared_by_two_services() {
    let shared = "arn:aws:cloudwatch:us-east-1:210987654321:alarm:a";
    let other = MINIMAL.replace("\"checkout\"", "\"payments\"");
    let (catalog, errors) = Catalog::from_entries(vec![
        ("payments".to_string(), other),
        ("checkout".to_string(), MINIMAL.to_string()),
    ]);
    assert!(errors.is_empty(), "{errors:?}");
    let names: Vec<&str> = catalog
        .services_observing(shared)
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, ["checkout", "payments"]);
    assert!(catalog
        .services_observing("arn:aws:cloudwatch:us-east-1:210987654321:alarm:zzz")
        .is_empty());
}

#[test]
fn lag_unit_and_insufficient_data_default_parse_and_convert() {
    use serde_json::json;
    let def = ServiceDefinition::parse("checkout", FULL).unwrap();
    let lag = def.preflight.replica_lag.as_ref().unwrap();
    assert_eq!(lag.unit, LagUnit::Seconds, "seconds unless told");
    assert_eq!(lag.to_seconds(12.5), 12.5);
    assert_eq!(
        def.preflight.secondary_alarm_insufficient_data,
        InsufficientData::NotReady,
        "INSUFFICIENT_DATA is not ready unless told"
    );

    let ms = with("preflight/replica_lag/unit", json!("milliseconds"));
    let def = ServiceDefinition::parse("checkout", &ms).unwrap();
    let lag = def.preflight.replica_lag.as_ref().unwrap();
    assert_eq!(lag.unit, LagUnit::Milliseconds);
    assert_eq!(lag.to_seconds(5_000.0), 5.0);
    assert!(lag.to_seconds(31_000.0) > lag.max_seconds);
    // Round-trips with the unit kept.
    let again =
        ServiceDefinition::parse("checkout", &serde_json::to_string(&def).unwrap()).unwrap();
    assert_eq!(again, def);

    let ready = with(
        "preflight/secondary_alarm_insufficient_data",
        json!("ready"),
    );
    let def = ServiceDefinition::parse("checkout", &ready).unwrap();
    assert_eq!(
        def.preflight.secondary_alarm_insufficient_data,
        InsufficientData::Ready
    );

    // Terraform writes null for an optional input it was not given: the default.
    for (path, check) in [
        (
            "preflight/replica_lag/unit",
            (|d: &ServiceDefinition| {
                d.preflight.replica_lag.as_ref().map(|l| l.unit) == Some(LagUnit::Seconds)
            }) as fn(&ServiceDefinition) -> bool,
        ),
        ("preflight/secondary_alarm_insufficient_data", |d| {
            d.preflight.secondary_alarm_insufficient_data == InsufficientData::NotReady
        }),
    ] {
        let def = ServiceDefinition::parse("checkout", &with(path, json!(null)))
            .unwrap_or_else(|e| panic!("{path}: null refused: {e}"));
        assert!(check(&def), "{path}: null is the default");
    }
    // An unknown unit names the values it takes.
    let e = ServiceDefinition::parse(
        "checkout",
        &with("preflight/replica_lag/unit", json!("minutes")),
    )
    .unwrap_err();
    assert!(
        e.message.contains("seconds") && e.message.contains("milliseconds"),
        "{e}"
    );
}

#[test]
fn alarms_outside_the_deployments_account_or_partition_are_refused_by_field() {
    use serde_json::json;
    // FULL's alarms are all in 210987654321, partition aws.
    let home = HomeAccount::of_arn("arn:aws:sns:us-east-1:210987654321:failover-alerts").unwrap();
    assert!(ServiceDefinition::parse_in("checkout", FULL, Some(&home)).is_ok());
    let elsewhere = HomeAccount::of_arn("arn:aws:sns:us-east-1:123456789012:alerts").unwrap();
    let e = ServiceDefinition::parse_in("checkout", FULL, Some(&elsewhere)).unwrap_err();
    assert_eq!(e.field, "observers[0]", "{e}");
    assert!(
        e.message.contains("account 210987654321") && e.message.contains("123456789012"),
        "{e}"
    );
    // Without a home (tests, the parser alone) the account is not checked.
    assert!(ServiceDefinition::parse("checkout", FULL).is_ok());

    let other_account = "arn:aws:cloudwatch:us-east-1:999999999999:alarm:x";
    let other_partition = "arn:aws-us-gov:cloudwatch:us-gov-west-1:210987654321:alarm:x";
    let obs = |third: &str| {
        json!([
            "arn:aws:cloudwatch:us-east-1:210987654321:alarm:a",
            "arn:aws:cloudwatch:us-west-2:210987654321:alarm:b",
            third
        ])
    };
    for (case, field, json, what) in [
        (
            "observer in another account",
            "observers[2]",
            with("observers", obs(other_account)),
            "account 999999999999",
        ),
        (
            "observer in another partition",
            "observers[2]",
            with("observers", obs(other_partition)),
            "partition 'aws-us-gov'",
        ),
        (
            "secondary alarm in another account",
            "preflight.secondary_alarm_arn",
            with("preflight/secondary_alarm_arn", json!(other_account)),
            "account 999999999999",
        ),
        (
            "secondary alarm in another partition",
            "preflight.secondary_alarm_arn",
            with("preflight/secondary_alarm_arn", json!(other_partition)),
            "partition 'aws-us-gov'",
        ),
    ] {
        assert!(
            ServiceDefinition::parse("checkout", &json).is_ok(),
            "{case}: well formed"
        );
        let e = ServiceDefinition::parse_in("checkout", &json, Some(&home)).unwrap_err();
        assert_eq!(e.field, field, "{case}: {e}");
        assert!(e.message.contains(what), "{case}: {e}");
    }

    // The catalog keeps the entries inside the account and reports the other by field.
    let foreign = with("observers", obs(other_account)).replace("\"checkout\"", "\"payments\"");
    let (catalog, errors) = Catalog::from_entries_in(
        vec![
            ("checkout".to_string(), FULL.to_string()),
            ("payments".to_string(), foreign),
        ],
        Some(&home),
    );
    let names: Vec<&str> = catalog.services().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["checkout"]);
    let failed: Vec<(&str, &str)> = errors
        .iter()
        .map(|e| (e.service.as_str(), e.field.as_str()))
        .collect();
    assert_eq!(failed, [("payments", "observers[2]")]);
}
