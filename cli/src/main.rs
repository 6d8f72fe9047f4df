//! `failoverctl`: the operator's command line. It sends the operator function the same JSON
//! requests as any other client and reads its answers with the function's own types
//! (`failover::api`), against the deployed function or the local stack (`make local-up`).
//!
//! Exit codes scripts can rely on: 0 done, 1 refused (`ok: false`, or not confirmed),
//! 2 usage (bad arguments, no terminal to confirm on), 3 unreachable (no stack, the invoke
//! failed, the function failed or answered something else).

mod invoke;
mod render;

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use failover::api::operator_request::{parse_request, Action};
use failover::api::operator_response::{OperatorResponse, StepStatus};
use serde_json::{json, Value};

use invoke::{Operator, Target};
use render::Style;

#[derive(Parser)]
#[command(
    name = "failoverctl",
    version,
    about = "Operate regional failover: status, failover, failback, pause, resume, approve, decline",
    after_help = "Talks to the deployed operator with --function-name (or FAILOVER_OPERATOR_FUNCTION), \
                  else to the local stack (make local-up).\n\
                  Exit codes: 0 done, 1 refused, 2 usage, 3 unreachable."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    target: Target,
    /// Print the operator's response as JSON.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Every service as a table, or one service in detail.
    Status {
        /// One service, in detail.
        service: Option<String>,
    },
    /// Fail SERVICE over to its secondary (planned).
    Failover(ActionArgs),
    /// Fail SERVICE back to its primary.
    Failback(ActionArgs),
    /// Hold automatic failover of SERVICE (--until, else until resumed).
    Pause(ActionArgs),
    /// End SERVICE's pause.
    Resume(ActionArgs),
    /// Approve the workflow step that waits for a human (--step).
    Approve(ActionArgs),
    /// Decline it: the workflow ends there.
    Decline(ActionArgs),
}

#[derive(Args)]
struct ActionArgs {
    service: String,
    /// Why: it lands in the audit history and the alert.
    #[arg(long)]
    reason: String,
    /// Show the plan only; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// failover/failback: go ahead despite the gate (secondary not ready, primary probe).
    #[arg(long)]
    force: bool,
    /// pause: until when (RFC 3339, within 7 days).
    #[arg(long, value_name = "RFC3339")]
    until: Option<String>,
    /// approve/decline: the workflow step's id (see status).
    #[arg(long, value_name = "ID")]
    step: Option<String>,
    /// Who asks (default: the caller's AWS identity).
    #[arg(long, value_name = "WHO")]
    requested_by: Option<String>,
    /// Do not ask for confirmation (needed without a terminal).
    #[arg(long, short = 'y')]
    yes: bool,
}

/// Why the command did not finish with 0.
#[derive(Debug)]
pub enum Fail {
    /// The operator answered `ok: false`, or the operator said no at the prompt.
    Refused,
    Usage(String),
    Unreachable(String),
}

impl Fail {
    fn code(&self) -> u8 {
        match self {
            Fail::Refused => 1,
            Fail::Usage(_) => 2,
            Fail::Unreachable(_) => 3,
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // clap: help and version are not errors; everything else is usage (2).
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let out = Style::stdout();
    let err = Style::stderr();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("failoverctl: cannot start the async runtime: {e}");
            return ExitCode::from(3);
        }
    };
    match runtime.block_on(run(cli, &out, &err)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(fail) => {
            match &fail {
                Fail::Refused => {}
                Fail::Usage(m) => eprintln!("{} {m}", err.red("usage:")),
                Fail::Unreachable(m) => eprintln!("{} {m}", err.red("unreachable:")),
            }
            ExitCode::from(fail.code())
        }
    }
}

async fn run(cli: Cli, out: &Style, err: &Style) -> Result<(), Fail> {
    let (action, args) = match cli.command {
        Command::Status { service } => {
            let operator = Operator::connect(&cli.target).await?;
            return status(&operator, service, cli.json, out).await;
        }
        Command::Failover(a) => (Action::Failover, a),
        Command::Failback(a) => (Action::Failback, a),
        Command::Pause(a) => (Action::Pause, a),
        Command::Resume(a) => (Action::Resume, a),
        Command::Approve(a) => (Action::Approve, a),
        Command::Decline(a) => (Action::Decline, a),
    };
    // Checked here with the function's own parser, so a bad flag is a usage error before
    // anything is sent (a placeholder identity until the caller's is known).
    let given = args.requested_by.as_deref().unwrap_or("failoverctl");
    let mut payload = request(action, &args, given);
    parse_request(&payload, chrono::Utc::now().timestamp_millis())
        .map_err(|e| Fail::Usage(e.to_string()))?;
    let operator = Operator::connect(&cli.target).await?;
    let who = match &args.requested_by {
        Some(who) => who.clone(),
        None => {
            let (who, note) = operator.caller().await;
            if let Some(note) = note {
                eprintln!("{}", err.dim(&format!("note: {note}")));
            }
            who
        }
    };
    payload["requested_by"] = json!(who);
    let answers = matches!(action, Action::Approve | Action::Decline);

    // The plan first: a dry run of the same request, or for approve/decline (which have no
    // dry run) the step as status shows it.
    if answers {
        show_step(&operator, &args, err).await?;
    } else {
        let mut dry = payload.clone();
        dry["dry_run"] = json!(true);
        let (plan, raw) = operator.call(&dry).await?;
        if args.dry_run {
            return finish(&plan, &raw, cli.json, out);
        }
        render::plan(&plan, err);
        if !plan.ok {
            eprintln!("{}", err.dim("nothing was sent: the dry run was refused"));
            return Err(Fail::Refused);
        }
        // Nothing it would do (already on the primary, not paused): no question, no request.
        if !plan.steps.iter().any(|s| s.status == StepStatus::WouldDo) {
            eprintln!("{}", err.dim("nothing to do: nothing was sent"));
            return Ok(());
        }
    }
    confirm(&args, err)?;
    let (response, raw) = operator.call(&payload).await?;
    finish(&response, &raw, cli.json, out)
}

/// The request as the operator reads it (`failover::api::operator_request`).
fn request(action: Action, args: &ActionArgs, requested_by: &str) -> Value {
    let mut payload = json!({
        "action": action.as_str(),
        "service": args.service,
        "reason": args.reason,
        "requested_by": requested_by,
    });
    if args.dry_run {
        payload["dry_run"] = json!(true);
    }
    if args.force {
        payload["force"] = json!(true);
    }
    if let Some(until) = &args.until {
        payload["until"] = json!(until);
    }
    if let Some(step) = &args.step {
        payload["step"] = json!(step);
    }
    payload
}

async fn status(
    operator: &Operator,
    service: Option<String>,
    as_json: bool,
    out: &Style,
) -> Result<(), Fail> {
    let mut payload = json!({"action": "status"});
    if let Some(s) = &service {
        payload["service"] = json!(s);
    }
    parse_request(&payload, chrono::Utc::now().timestamp_millis())
        .map_err(|e| Fail::Usage(e.to_string()))?;
    let (response, raw) = operator.call(&payload).await?;
    if as_json {
        print_json(&raw);
    } else if !response.ok {
        render::response(&response, out);
    } else if service.is_some() && response.status.len() == 1 {
        render::detail(&response.status[0], out);
    } else {
        render::table(&response.status, out);
    }
    if response.ok {
        Ok(())
    } else {
        Err(Fail::Refused)
    }
}

/// approve/decline have no dry run: show the step they answer, as status has it.
async fn show_step(operator: &Operator, args: &ActionArgs, err: &Style) -> Result<(), Fail> {
    let (status, _) = operator
        .call(&json!({"action": "status", "service": args.service}))
        .await?;
    let step_id = args.step.as_deref().unwrap_or_default();
    let step = status
        .status
        .first()
        .and_then(|s| s.workflow.as_ref())
        .and_then(|w| w.steps.iter().find(|s| s.id == step_id));
    match step {
        Some(step) => render::step(step, err),
        None => eprintln!(
            "{}",
            err.yellow(&format!(
                "{}: no workflow step '{step_id}' in status; the operator decides",
                args.service
            ))
        ),
    }
    Ok(())
}

/// "Proceed? [y/N]" on a terminal; `--yes` skips it; without a terminal it refuses (2).
fn confirm(args: &ActionArgs, err: &Style) -> Result<(), Fail> {
    if args.yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Fail::Usage(
            "stdin is not a terminal, so there is no one to confirm: add --yes to proceed (nothing was changed)".into(),
        ));
    }
    eprint!("{} ", err.bold("Proceed? [y/N]"));
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    if matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        eprintln!("not confirmed: nothing was changed");
        Err(Fail::Refused)
    }
}

fn finish(
    response: &OperatorResponse,
    raw: &Value,
    as_json: bool,
    out: &Style,
) -> Result<(), Fail> {
    if as_json {
        print_json(raw);
    } else {
        render::response(response, out);
    }
    if response.ok {
        Ok(())
    } else {
        Err(Fail::Refused)
    }
}

fn print_json(raw: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(raw).unwrap_or_else(|_| raw.to_string())
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The command an `[APPROVAL NEEDED]` page gives, with its reason filled in, is one
    /// failoverctl takes, and sends the request the page's JSON would.
    #[test]
    fn the_approval_pages_command_parses() {
        for approve in [true, false] {
            let line = failover::domain::alert::answer_command("checkout", "promote-db", approve)
                .replace("<why>", "replica caught up");
            // As a shell splits it: the quoted reason is one word.
            let (head, reason) = line.split_once(" --reason ").unwrap();
            let mut argv: Vec<String> = head.split_whitespace().map(String::from).collect();
            argv.push("--reason".into());
            argv.push(reason.trim_matches('"').into());
            let cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{line}: {e}"));
            let (action, args) = match cli.command {
                Command::Approve(a) => (Action::Approve, a),
                Command::Decline(a) => (Action::Decline, a),
                _ => panic!("{line}"),
            };
            let payload = request(action, &args, "bob");
            let req = parse_request(&payload, 0).unwrap();
            assert_eq!(
                req.action,
                if approve {
                    Action::Approve
                } else {
                    Action::Decline
                }
            );
            assert_eq!(req.step.as_deref(), Some("promote-db"));
            assert_eq!(req.reason, "replica caught up");
        }
    }
}
