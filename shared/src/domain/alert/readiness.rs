//! The readiness pages: the secondary stopped being ready for a failover (what fails and
//! since when), and it is ready again. One each per change (`domain::readiness`).

use std::fmt::Write;

use super::{subject, Alert};
use crate::domain::catalog::ServiceDefinition;
use crate::domain::readiness::Readiness;
use crate::domain::text::clip;
use crate::domain::time::{fmt_duration_ms, fmt_time};

pub fn readiness_alert(def: &ServiceDefinition, r: &Readiness, epoch: u64) -> Alert {
    let mut m = String::new();
    let (tag, tail, severity) = if r.ready {
        let _ = writeln!(
            m,
            "READY: the secondary {} of {} passes every pre-flight check again (since {}). A failover would go ahead.",
            def.secondary.region,
            def.name,
            fmt_time(r.since)
        );
        (
            "[READY]",
            format!(": {} ready for failover again", def.secondary.region),
            "info",
        )
    } else {
        let _ = writeln!(
            m,
            "NOT READY: a failover of {} to {} would be BLOCKED now: the secondary fails its pre-flight (since {}).\n",
            def.name,
            def.secondary.region,
            fmt_time(r.since)
        );
        let _ = writeln!(m, "Failing");
        for f in &r.failing {
            let _ = writeln!(m, "  - {}", clip(f, 300));
        }
        let _ = writeln!(
            m,
            "\nFix it before the primary fails: restore the secondary's health, capacity or replication. \
             Checked every {} (readiness_interval_seconds={}); [READY] follows when it passes again.",
            fmt_duration_ms(crate::domain::time::secs(def.readiness_interval_seconds)),
            def.readiness_interval_seconds
        );
        let names: Vec<&str> = r
            .failing
            .iter()
            .map(|f| f.split(':').next().unwrap_or(f))
            .collect();
        let named = format!(
            ": {} cannot take a failover ({})",
            def.secondary.region,
            names.join(", ")
        );
        // The service's name is what must not be cut: name the checks only if they fit.
        let fits = "[NOT READY] ".len() + def.name.len() + named.len() <= super::MAX_SUBJECT_CHARS;
        let tail = if fits {
            named
        } else {
            format!(
                ": {} cannot take a failover ({} checks fail)",
                def.secondary.region,
                names.len()
            )
        };
        ("[NOT READY]", tail, "warning")
    };
    Alert {
        subject: subject(tag, &def.name, &tail),
        message: m,
        service: def.name.clone(),
        event_type: "readiness".into(),
        epoch,
        severity: severity.into(),
    }
}
