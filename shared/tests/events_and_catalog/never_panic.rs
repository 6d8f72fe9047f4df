//! Properties: no JSON, however random or mutated from a sample, makes the parser panic,
//! and every error stays short. `make fuzz` runs these with more cases.

use super::*;

/// Keys and strings that steer random JSON towards the parser's interesting paths.
const KEYS: [&str; 16] = [
    "detail-type",
    "detail",
    "alarmArn",
    "alarmData",
    "source",
    "state",
    "value",
    "timestamp",
    "resources",
    "alarmName",
    "time",
    "id",
    "reason",
    "reasonData",
    "previousState",
    "configuration",
];
const STRINGS: [&str; 10] = [
    "aws.cloudwatch",
    "CloudWatch Alarm State Change",
    "ALARM",
    "OK",
    "INSUFFICIENT_DATA",
    "2026-11-20T09:14:02Z",
    "2026-11-20T09:14:30.220+0000",
    "arn:aws:cloudwatch:eu-west-1:210987654321:alarm:checkout-canary-euw1",
    "checkout-canary-euw1",
    "\u{202e}\u{0}é👍",
];

fn arb_string() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(&STRINGS[..]).prop_map(str::to_string),
        ".{0,16}",
        (0usize..3000).prop_map(|n| "ü".repeat(n)),
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        arb_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        let key = prop_oneof![
            prop::sample::select(&KEYS[..]).prop_map(str::to_string),
            ".{0,8}"
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key, inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A JSON pointer to a node chosen by `seed`, descending at random.
fn pick_pointer(root: &Value, mut seed: u64) -> String {
    let mut pointer = String::new();
    let mut node = root;
    loop {
        let len = match node {
            Value::Object(m) => m.len(),
            Value::Array(a) => a.len(),
            _ => 0,
        };
        if len == 0 || seed % 5 == 0 {
            return pointer;
        }
        seed /= 5;
        let i = usize::try_from(seed % len as u64).unwrap_or(0);
        seed /= len as u64;
        let (token, child) = match node {
            Value::Object(m) => match m.iter().nth(i) {
                Some((k, c)) => (k.replace('~', "~0").replace('/', "~1"), c),
                None => return pointer,
            },
            Value::Array(a) => match a.get(i) {
                Some(c) => (i.to_string(), c),
                None => return pointer,
            },
            _ => return pointer,
        };
        pointer.push('/');
        pointer.push_str(&token);
        node = child;
    }
}

fn mutate(root: &mut Value, op: u8, seed: u64, pick: usize, new: Value) {
    let pointer = pick_pointer(root, seed);
    let Some(node) = root.pointer_mut(&pointer) else {
        return;
    };
    match (op % 5, node) {
        (1, Value::Object(m)) if !m.is_empty() => {
            let key = m.keys().nth(pick % m.len()).cloned().unwrap_or_default();
            m.remove(&key);
        }
        (1, Value::Array(a)) if !a.is_empty() => {
            a.remove(pick % a.len());
        }
        (2, Value::Object(m)) => {
            m.insert(KEYS[pick % KEYS.len()].to_string(), new);
        }
        (2, Value::Array(a)) => a.push(new),
        (3, Value::String(s)) => {
            *s = match pick % 5 {
                0 => s.chars().take(pick % (s.chars().count() + 1)).collect(),
                1 => format!("{s}\u{0}\u{202e}"),
                2 => s.to_lowercase(),
                3 => s.replace("+0000", "+00"),
                _ => s.repeat(1 + pick % 50),
            }
        }
        (_, node) => *node = new,
    }
}

fn check_result(payload: &Value) {
    match parse_alarm_event(payload) {
        Ok(obs) => {
            assert!(obs.reason.chars().count() <= 500);
            assert!(!obs.event_id.is_empty());
            assert!(obs
                .observer
                .ends_with(&format!(":alarm:{}", obs.alarm_name)));
        }
        Err(e) => assert!(e.to_string().chars().count() <= 700, "{e}"),
    }
}

/// 512 cases per property in `make test`; `make fuzz` sets `FUZZ_CASES` for a longer run.
fn fuzz_cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: fuzz_cases(), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_json_never_panics(v in arb_json()) {
        check_result(&v);
    }

    #[test]
    fn arbitrary_json_under_a_shape_never_panics(detail in arb_json(), data in arb_json(), eventbridge in any::<bool>()) {
        let v = if eventbridge {
            json!({"source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change", "id": "x",
                   "resources": [arn("eu-west-1", "a")], "detail": detail})
        } else {
            json!({"alarmArn": arn("eu-west-1", "a"), "time": "2026-11-20T09:14:02Z", "alarmData": data})
        };
        check_result(&v);
    }

    #[test]
    fn mutated_fixtures_never_panic(
        which in 0..FIXTURES.len(),
        mutations in prop::collection::vec((any::<u8>(), any::<u64>(), any::<usize>(), arb_json()), 1..6),
    ) {
        let (name, _) = FIXTURES[which];
        let mut v = fixture(name);
        for (op, seed, pick, new) in mutations {
            mutate(&mut v, op, seed, pick, new);
        }
        check_result(&v);
    }
}
