//! Time as the core sees it: Unix milliseconds passed in by the caller, and how they are written.

/// Unix time in milliseconds. The core never reads a clock: callers pass `now`.
pub type Millis = i64;

/// Seconds from the catalog as millis, saturating instead of overflowing.
pub fn secs(s: u64) -> Millis {
    Millis::try_from(s.saturating_mul(1000)).unwrap_or(Millis::MAX)
}

/// RFC 3339 to the second, for people (alerts, operator responses).
pub fn fmt_time(ms: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| format!("{ms}ms"))
}

/// RFC 3339 to the millisecond, for keys that must sort by time.
pub fn fmt_time_ms(ms: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| fmt_time(ms))
}

/// A duration for people: `45s`, `4m`, `4m 10s`, `2h 5m`.
pub fn fmt_duration_ms(ms: Millis) -> String {
    let s = ms.max(0) / 1000;
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m {s}s"),
        (h, m, _) => format!("{h}h {m}m"),
    }
}
