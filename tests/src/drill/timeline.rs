//! The drill's timeline: one line per thing that happened, printed live by the demo.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// What kind of timeline line. Serialised as [`Kind::name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Setup,
    Step,
    Scripted,
    Arrived,
    #[serde(rename = "response")]
    Decided,
    Decision,
    Audit,
    Change,
    Alert,
    Calls,
    Check,
    Fail,
}

impl Kind {
    pub const ALL: [Kind; 12] = [
        Kind::Setup,
        Kind::Step,
        Kind::Scripted,
        Kind::Arrived,
        Kind::Decided,
        Kind::Decision,
        Kind::Audit,
        Kind::Change,
        Kind::Alert,
        Kind::Calls,
        Kind::Check,
        Kind::Fail,
    ];

    /// The tag printed in the text timeline.
    pub fn tag(self) -> &'static str {
        match self {
            Kind::Setup => "setup",
            Kind::Step => "step",
            Kind::Scripted => "scripted",
            Kind::Arrived => "->",
            Kind::Decided => "<-",
            Kind::Decision => "DECIDED",
            Kind::Audit => "audit",
            Kind::Change => "CHANGE",
            Kind::Alert => "ALERT",
            Kind::Calls => "calls",
            Kind::Check => "check",
            Kind::Fail => "FAIL",
        }
    }

    /// The name in the JSON report and the HTML row's class.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Setup => "setup",
            Kind::Step => "step",
            Kind::Scripted => "scripted",
            Kind::Arrived => "arrived",
            Kind::Decided => "response",
            Kind::Decision => "decision",
            Kind::Audit => "audit",
            Kind::Change => "change",
            Kind::Alert => "alert",
            Kind::Calls => "calls",
            Kind::Check => "check",
            Kind::Fail => "fail",
        }
    }
}

/// One timeline line.
#[derive(Debug, Clone)]
pub struct Line {
    /// Since the drill began.
    pub t: Duration,
    /// The step (1-based), or `None` during setup and the summary.
    pub step: Option<usize>,
    pub kind: Kind,
    pub text: String,
}

impl Line {
    pub fn render(&self) -> String {
        match self.kind {
            Kind::Step => format!(
                "\n[{:>7.2}s] step {} {}",
                self.t.as_secs_f64(),
                self.step.unwrap_or(0),
                self.text
            ),
            _ => format!(
                "[{:>7.2}s]   {:<8} {}",
                self.t.as_secs_f64(),
                self.kind.tag(),
                self.text
            ),
        }
    }
}

/// The timeline as it is written, printed live when `echo`.
#[derive(Debug)]
pub struct Timeline {
    origin: Instant,
    echo: bool,
    pub lines: Vec<Line>,
}

impl Timeline {
    pub(super) fn new(origin: Instant, echo: bool) -> Self {
        Timeline {
            origin,
            echo,
            lines: Vec::new(),
        }
    }

    pub(super) fn say(&mut self, step: Option<usize>, kind: Kind, text: impl Into<String>) {
        let line = Line {
            t: self.origin.elapsed(),
            step,
            kind,
            text: text.into(),
        };
        if self.echo {
            println!("{}", line.render());
        }
        self.lines.push(line);
    }
}

#[cfg(test)]
mod tests {
    use super::Kind;

    #[test]
    fn a_kind_is_serialised_as_its_name() {
        for kind in Kind::ALL {
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, kind.name(), "{kind:?}");
            assert_eq!(serde_json::from_value::<Kind>(json).unwrap(), kind);
        }
    }
}
