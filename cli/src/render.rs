//! What the operator reads at 3 a.m.: short aligned lines, colour only on a terminal
//! (ANSI by hand; `NO_COLOR` turns it off).

use std::io::IsTerminal;

use failover::api::operator_response::{
    HealthCheckStatus, OperatorResponse, ServiceStatus, StepReport, StepStatus, WorkflowStepStatus,
};
use failover::domain::state::{Execution, TransitionKind, Trigger};
use failover::domain::time::{fmt_duration_ms, fmt_time};
use failover::Phase;

/// How many audit records the detail view shows.
const HISTORY_SHOWN: usize = 8;

pub struct Style {
    color: bool,
}

impl Style {
    fn for_stream(is_terminal: bool) -> Style {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            color: is_terminal && !no_color,
        }
    }

    pub fn stdout() -> Style {
        Style::for_stream(std::io::stdout().is_terminal())
    }

    pub fn stderr() -> Style {
        Style::for_stream(std::io::stderr().is_terminal())
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    pub fn bold(&self, t: &str) -> String {
        self.paint("1", t)
    }
    pub fn dim(&self, t: &str) -> String {
        self.paint("2", t)
    }
    pub fn red(&self, t: &str) -> String {
        self.paint("1;31", t)
    }
    pub fn green(&self, t: &str) -> String {
        self.paint("32", t)
    }
    pub fn yellow(&self, t: &str) -> String {
        self.paint("33", t)
    }

    fn tone(&self, tone: Tone, t: &str) -> String {
        match tone {
            Tone::Plain => t.to_string(),
            Tone::Good => self.green(t),
            Tone::Warn => self.yellow(t),
            Tone::Bad => self.red(t),
            Tone::Dim => self.dim(t),
            Tone::Head => self.bold(t),
        }
    }
}

#[derive(Clone, Copy)]
enum Tone {
    Plain,
    Good,
    Warn,
    Bad,
    Dim,
    Head,
}

type Cell = (String, Tone);

fn print_rows(rows: &[Vec<Cell>], indent: &str, style: &Style) {
    for line in format_rows(rows, indent, style) {
        println!("{line}");
    }
}

/// Rows padded on their plain text (colour codes have no width), two spaces apart; the
/// last column is not padded.
fn format_rows(rows: &[Vec<Cell>], indent: &str, style: &Style) -> Vec<String> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|(t, _)| t.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|row| {
            let mut line = String::from(indent);
            for (i, (text, tone)) in row.iter().enumerate() {
                line.push_str(&style.tone(*tone, text));
                if i + 1 < row.len() {
                    let pad = widths[i] - text.chars().count() + 2;
                    line.push_str(&" ".repeat(pad));
                }
            }
            line.trim_end().to_string()
        })
        .collect()
}

fn cell(text: impl Into<String>, tone: Tone) -> Cell {
    (text.into(), tone)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn phase_tone(phase: Phase) -> Tone {
    match phase {
        Phase::PrimaryActive => Tone::Good,
        Phase::FailedOver | Phase::FailingOver | Phase::FailingBack => Tone::Warn,
        Phase::Blocked => Tone::Bad,
    }
}

/// `2/3 (q 2)`: live votes of the observers known to have voted (status lists no others),
/// and the quorum.
fn votes(s: &ServiceStatus) -> String {
    let decided = match s.execution.as_ref().map(|e| &e.trigger) {
        Some(Trigger::Quorum { observers, .. }) => *observers as usize,
        _ => 0,
    };
    let known = (s.observers as usize)
        .max(s.votes.len())
        .max(decided)
        .max(s.live_votes.len());
    format!("{}/{} (q {})", s.live_votes.len(), known, s.quorum)
}

fn readiness(s: &ServiceStatus) -> Cell {
    // The reconciler's continuous evaluation first (with its age), else the checks read now.
    if let Some(r) = &s.readiness {
        return if r.ready {
            cell(format!("ready ({})", r.age), Tone::Good)
        } else {
            let failing: Vec<&str> = r
                .failing
                .iter()
                .map(|f| short_check(f.split(':').next().unwrap_or(f)))
                .collect();
            cell(
                format!("NOT READY: {} ({})", failing.join(", "), r.age),
                Tone::Bad,
            )
        };
    }
    if s.preflight.is_empty() {
        return cell("unknown", Tone::Warn);
    }
    let failing: Vec<&str> = s
        .preflight
        .iter()
        .filter(|c| !c.ok)
        .map(|c| short_check(&c.name))
        .collect();
    if failing.is_empty() {
        cell("ready", Tone::Good)
    } else {
        cell(format!("NOT READY: {}", failing.join(", ")), Tone::Bad)
    }
}

/// A pre-flight check's name fit for a table cell: `secondary health check <id>` is
/// `health check` (the detail view has the ids).
fn short_check(name: &str) -> &str {
    let name = name.strip_prefix("secondary ").unwrap_or(name);
    if name.starts_with("health check ") {
        "health check"
    } else {
        name
    }
}

fn probe(s: &ServiceStatus) -> Cell {
    match &s.primary_probe {
        None => cell("-", Tone::Dim),
        Some(p) => match p.healthy {
            Some(true) => {
                let at_least = if p.at_least { ">=" } else { "" };
                cell(
                    format!("healthy {at_least}{}", fmt_duration_ms(p.healthy_for_ms)),
                    Tone::Good,
                )
            }
            Some(false) => cell("UNHEALTHY", Tone::Bad),
            None => cell("unknown", Tone::Warn),
        },
    }
}

fn pause(s: &ServiceStatus) -> Cell {
    match &s.paused {
        None => cell("-", Tone::Dim),
        Some(p) => match &p.until {
            Some(until) => cell(format!("until {until}"), Tone::Warn),
            None => cell("paused", Tone::Warn),
        },
    }
}

fn workflow(s: &ServiceStatus) -> Cell {
    let Some(w) = &s.workflow else {
        return cell("-", Tone::Dim);
    };
    let mut text = format!("{} {}", w.direction, w.progress);
    let current = w
        .current
        .as_ref()
        .and_then(|id| w.steps.iter().find(|st| &st.id == id));
    let mut tone = Tone::Plain;
    if let Some(step) = current {
        text.push_str(&format!(" {} {}", step.id, step.status));
        tone = match step.status.as_str() {
            "awaiting_approval" => Tone::Warn,
            "failed" | "declined" => Tone::Bad,
            _ => Tone::Plain,
        };
    }
    cell(text, tone)
}

fn kind_name(kind: TransitionKind) -> &'static str {
    match kind {
        TransitionKind::Failover => "failover",
        TransitionKind::Failback => "failback",
    }
}

fn trigger(e: &Execution) -> String {
    match &e.trigger {
        Trigger::Quorum { .. } => "quorum".into(),
        Trigger::Operator {
            requested_by,
            forced,
            ..
        } => format!("{requested_by}{}", if *forced { ", forced" } else { "" }),
    }
}

fn last_transition(s: &ServiceStatus) -> Cell {
    match &s.execution {
        None => cell("-", Tone::Dim),
        Some(e) => cell(
            format!(
                "{} #{} {} ago ({})",
                kind_name(e.kind),
                e.epoch,
                fmt_duration_ms(now_ms() - e.decided_at),
                trigger(e)
            ),
            Tone::Plain,
        ),
    }
}

/// Every service, one row each.
pub fn table(services: &[ServiceStatus], style: &Style) {
    let head = [
        "SERVICE",
        "PHASE",
        "EPOCH",
        "VOTES",
        "READINESS",
        "PROBE",
        "PAUSE",
        "WORKFLOW",
        "LAST TRANSITION",
    ];
    let mut rows = vec![head.iter().map(|h| cell(*h, Tone::Head)).collect()];
    for s in services {
        rows.push(vec![
            cell(s.service.clone(), Tone::Plain),
            cell(s.phase.as_str(), phase_tone(s.phase)),
            cell(s.epoch.to_string(), Tone::Plain),
            cell(votes(s), Tone::Plain),
            readiness(s),
            probe(s),
            pause(s),
            workflow(s),
            last_transition(s),
        ]);
    }
    print_rows(&rows, "", style);
    if services.is_empty() {
        println!("{}", style.dim("no services in the catalog"));
    }
}

fn section(title: &str, style: &Style) {
    println!("\n{}", style.bold(title));
}

/// One service in detail: sections, the workflow step by step, the newest audit records.
pub fn detail(s: &ServiceStatus, style: &Style) {
    println!(
        "{}  {}  epoch {}",
        style.bold(&s.service),
        style.tone(phase_tone(s.phase), s.phase.as_str()),
        s.epoch
    );
    let primary_check = match &s.primary.health_check {
        HealthCheckStatus::Read {
            disabled,
            inverted,
            version,
        } => {
            let forced = *disabled && *inverted;
            let what = if forced {
                "forced unhealthy"
            } else {
                "not forced"
            };
            cell(
                format!("{what} (disabled={disabled} inverted={inverted}, version {version})"),
                if forced { Tone::Warn } else { Tone::Plain },
            )
        }
        HealthCheckStatus::Unreadable { error } => cell(format!("unreadable: {error}"), Tone::Bad),
    };
    let mut rows = vec![
        vec![
            cell("primary", Tone::Plain),
            cell(s.primary.region.clone(), Tone::Plain),
            cell(s.primary.health_check_id.clone(), Tone::Plain),
            primary_check,
        ],
        vec![
            cell("secondary", Tone::Plain),
            cell(s.secondary.region.clone(), Tone::Plain),
            cell(s.secondary.health_check_id.clone(), Tone::Plain),
        ],
    ];
    if let Some(p) = &s.primary_probe {
        let (text, tone) = probe(s);
        rows.push(vec![
            cell("probe", Tone::Plain),
            cell(text, tone),
            cell(p.health_check_id.clone(), Tone::Plain),
            cell(p.detail.clone(), Tone::Dim),
        ]);
    }
    if let Some(sw) = &s.switch {
        let mode = serde_json::to_value(sw.mode)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let alarm = sw
            .alarm_state
            .map(|a| format!("switch alarm {}", a.as_str()))
            .or_else(|| sw.alarm_detail.clone())
            .unwrap_or_default();
        rows.push(vec![
            cell("switch", Tone::Plain),
            cell(mode, Tone::Plain),
            cell(alarm, Tone::Plain),
        ]);
    }
    section("Endpoints", style);
    print_rows(&rows, "  ", style);

    section(&format!("Votes  {}", votes(s)), style);
    let live: Vec<&str> = s.live_votes.iter().map(|v| v.observer.as_str()).collect();
    let rows: Vec<Vec<Cell>> = s
        .votes
        .iter()
        .map(|(observer, v)| {
            let tone = if live.contains(&observer.as_str()) {
                Tone::Warn
            } else {
                Tone::Plain
            };
            vec![
                cell(observer.clone(), Tone::Plain),
                cell(v.state.as_str(), tone),
                cell(v.at.clone(), Tone::Dim),
            ]
        })
        .collect();
    print_rows(&rows, "  ", style);

    let (ready, tone) = readiness(s);
    section("Readiness", style);
    println!("  {}", style.tone(tone, &ready));
    let rows: Vec<Vec<Cell>> = s
        .preflight
        .iter()
        .map(|c| {
            vec![
                if c.ok {
                    cell("ok", Tone::Good)
                } else {
                    cell("FAIL", Tone::Bad)
                },
                cell(c.name.clone(), Tone::Plain),
                cell(c.detail.clone(), Tone::Dim),
            ]
        })
        .collect();
    print_rows(&rows, "  ", style);

    section("Controls", style);
    let mut rows = vec![vec![cell("pause", Tone::Plain), pause(s)]];
    if let Some(p) = &s.paused {
        rows[0].push(cell(
            format!("by {} since {}: {}", p.requested_by, p.since, p.reason),
            Tone::Dim,
        ));
    }
    rows.push(vec![
        cell("cooldown", Tone::Plain),
        cell(
            match s.cooldown_remaining_seconds {
                0 => "-".to_string(),
                n => format!("{} left", fmt_duration_ms(n * 1000)),
            },
            Tone::Plain,
        ),
    ]);
    rows.push(vec![
        cell("last transition", Tone::Plain),
        last_transition(s),
    ]);
    if let Some(r) = &s.recovery {
        rows.push(vec![
            cell("recovery", Tone::Plain),
            cell(r.state.clone(), Tone::Plain),
            cell(
                r.rto
                    .as_ref()
                    .map(|rto| format!("RTO {rto}"))
                    .unwrap_or_else(|| format!("deadline {}", r.deadline)),
                Tone::Dim,
            ),
        ]);
    }
    if let Some(c) = &s.catalog {
        rows.push(vec![
            cell("catalog", Tone::Plain),
            cell(format!("{c:?}"), Tone::Bad),
        ]);
    }
    print_rows(&rows, "  ", style);

    if let Some(w) = &s.workflow {
        section(&format!("Workflow  {} {}", w.direction, w.progress), style);
        let rows: Vec<Vec<Cell>> = w.steps.iter().map(step_row).collect();
        print_rows(&rows, "  ", style);
    }

    section(
        &format!("History  newest {}", s.history.len().min(HISTORY_SHOWN)),
        style,
    );
    let rows: Vec<Vec<Cell>> = s
        .history
        .iter()
        .take(HISTORY_SHOWN)
        .map(|h| {
            vec![
                cell(fmt_time(h.at), Tone::Dim),
                cell(h.kind.clone(), Tone::Plain),
                cell(format!("#{}", h.epoch), Tone::Plain),
                cell(format!("{}: {}", h.what, h.why), Tone::Plain),
            ]
        })
        .collect();
    print_rows(&rows, "  ", style);
}

fn step_row(st: &WorkflowStepStatus) -> Vec<Cell> {
    let tone = match st.status.as_str() {
        "done" | "applied" => Tone::Good,
        "awaiting_approval" | "running" => Tone::Warn,
        "failed" | "declined" => Tone::Bad,
        _ => Tone::Plain,
    };
    let note = st
        .last_error
        .clone()
        .or_else(|| st.answered.clone())
        .or_else(|| st.result.clone())
        .unwrap_or_default();
    vec![
        cell(st.id.clone(), Tone::Plain),
        cell(st.status.clone(), tone),
        cell(format!("{} {}", st.kind, st.change), Tone::Plain),
        cell(format!("approval {}", st.approval), Tone::Dim),
        cell(note, Tone::Dim),
    ]
}

/// The step an approve or decline answers (they have no dry run).
pub fn step(st: &WorkflowStepStatus, style: &Style) {
    eprintln!("{}", style.bold("the step this answers:"));
    for line in format_rows(&[step_row(st)], "  ", style) {
        eprintln!("{line}");
    }
    eprintln!("  target {}", st.target);
}

fn step_rows(steps: &[StepReport]) -> Vec<Vec<Cell>> {
    steps
        .iter()
        .map(|st| {
            let (label, tone) = match st.status {
                StepStatus::Done => ("done", Tone::Good),
                StepStatus::Skipped => ("skipped", Tone::Dim),
                StepStatus::Failed => ("FAILED", Tone::Bad),
                StepStatus::WouldDo => ("would do", Tone::Warn),
            };
            vec![
                cell(st.name.clone(), Tone::Plain),
                cell(label, tone),
                cell(st.detail.clone(), Tone::Plain),
            ]
        })
        .collect()
}

fn phases(r: &OperatorResponse) -> String {
    match (r.phase_before, r.phase_after) {
        (Some(b), Some(a)) if a != b => format!("{} -> {}", b.as_str(), a.as_str()),
        (Some(b), _) => b.as_str().to_string(),
        _ => String::new(),
    }
}

fn headline(r: &OperatorResponse, style: &Style) -> String {
    let verdict = match (r.ok, r.dry_run) {
        (false, _) => style.red("REFUSED"),
        (true, true) => style.yellow("plan (dry run)"),
        (true, false) => style.green("done"),
    };
    let epoch = r.epoch.map(|e| format!("  epoch {e}")).unwrap_or_default();
    format!(
        "{} {}: {verdict}  {}{epoch}",
        r.action.as_str(),
        r.service.as_deref().unwrap_or("*"),
        phases(r)
    )
}

/// The dry run's plan, before the prompt (to stderr: stdout is the result).
pub fn plan(r: &OperatorResponse, style: &Style) {
    eprintln!("{}", headline(r, style).trim_end());
    for line in format_rows(&step_rows(&r.steps), "  ", style) {
        eprintln!("{line}");
    }
    eprintln!("  {}", r.message);
}

/// An action's answer.
pub fn response(r: &OperatorResponse, style: &Style) {
    println!("{}", headline(r, style).trim_end());
    print_rows(&step_rows(&r.steps), "  ", style);
    if !r.message.is_empty() {
        println!("{}", r.message);
    }
    if let Some(next) = &r.next {
        println!("{} {next}", style.dim("next:"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_on_the_visible_text_with_colour_on() {
        let style = Style { color: true };
        let rows = vec![
            vec![cell("a", Tone::Bad), cell("x", Tone::Plain)],
            vec![cell("longer", Tone::Good), cell("y", Tone::Plain)],
        ];
        let lines: Vec<String> = format_rows(&rows, "", &style)
            .into_iter()
            .map(|l| {
                l.replace("\x1b[1;31m", "")
                    .replace("\x1b[32m", "")
                    .replace("\x1b[0m", "")
            })
            .collect();
        assert_eq!(lines, ["a       x", "longer  y"]);
        assert_eq!(Style { color: false }.red("r"), "r");
    }

    #[test]
    fn table_cells_name_checks_briefly() {
        assert_eq!(
            short_check("secondary health check 1a2b-3c"),
            "health check"
        );
        assert_eq!(short_check("secondary alarm ready"), "alarm ready");
        assert_eq!(short_check("capacity"), "capacity");
    }
}
