//! `replay`: sends the requests of a capture file to a target and compares the answers with
//! the recorded ones.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;
use serde_json::{Value, json};

use super::{CliError, millis, parse_transport};
use crate::capture::compare::{Comparator, IgnoreRule, show_pair};
use crate::capture::fixture::Fixture;
use crate::capture::replay::{self, CallResult, Outcome, Progress, ReplayOptions, ReplayReport};
use crate::message::JsonArray;
use crate::transport::Transport;

/// Options of `replay`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    pomelo-interop replay fixtures/rpc/mqtt-rpc10-corpus.jsonl --target 127.0.0.1:3333\n  \
    pomelo-interop replay run.jsonl --target 127.0.0.1:3334 -t tcp --concurrency 1 --rate 50\n  \
    pomelo-interop replay run.jsonl --target 127.0.0.1:3333 --ignore 'user.*.chatRemote.*:$[1].ts'\n\n\
    Answers are compared as JSON (key order and number spelling do not matter). Default ignores: \
    error objects compare only the first line of `stack` and drop a `msg` that repeats it; \
    `*.timeRemote.getCurrentTime:$[*]` (the clock; the number of values still counts). Reply \
    timing and order are never compared. --no-default-ignores turns the defaults off.\n\n\
    Exit status: 0 when every answer matched, 1 when one did not (or none came), 2 on bad usage.")]
pub struct ReplayArgs {
    /// The capture file (JSON lines written by `capture`).
    #[arg(value_name = "FILE.jsonl")]
    file: PathBuf,
    /// The server to replay against, HOST:PORT (Rust or Node).
    #[arg(long, value_name = "HOST:PORT")]
    target: String,
    /// Dialect to speak to the target (default: the one the capture was recorded on).
    #[arg(long, short = 't', value_parser = parse_transport)]
    transport: Option<Transport>,
    /// Calls in flight at most.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Calls started per second at most, e.g. 200 or 200/s.
    #[arg(long, value_parser = parse_rate, value_name = "N[/s]")]
    rate: Option<f64>,
    /// Deadline of one call.
    #[arg(long, default_value = "10000", value_parser = millis, value_name = "MS")]
    timeout: Duration,
    /// Deadline of the whole replay; calls not started by then fail.
    #[arg(long, default_value_t = 600.0, value_name = "SECONDS")]
    max_seconds: f64,
    /// Do not compare the value at this path: [ROUTE_GLOB:]PATH, e.g. '$[1].ts',
    /// '$..stack', 'user.*.timeRemote.*:$[*]' (repeatable).
    #[arg(long, value_name = "[ROUTE:]PATH")]
    ignore: Vec<String>,
    /// Compare strictly: no default ignores (error stacks, the demo clock).
    #[arg(long)]
    no_default_ignores: bool,
    /// Replay only calls whose route (namespace.serverType.service.method) matches this glob
    /// (repeatable).
    #[arg(long, value_name = "ROUTE_GLOB")]
    only: Vec<String>,
    /// Output for tests: one JSON line per call that did not match, then a summary line; no
    /// progress bar.
    #[arg(long)]
    check: bool,
    /// Send requests in JSON arrays (bufferMsg).
    #[arg(long)]
    buffer_msg: bool,
    /// Largest frame sent or accepted, in bytes.
    #[arg(long, default_value_t = crate::wire::DEFAULT_MAX_FRAME, value_name = "BYTES")]
    max_frame: usize,
    /// Also list the calls that matched.
    #[arg(long, short = 'v')]
    verbose: bool,
    /// No progress bar even on a terminal.
    #[arg(long)]
    no_progress: bool,
}

fn parse_rate(s: &str) -> Result<f64, super::BadValue> {
    let n = s.strip_suffix("/s").unwrap_or(s);
    match n.parse::<f64>() {
        Ok(r) if r > 0.0 && r.is_finite() => Ok(r),
        _ => Err(super::BadValue(format!("{s:?} is not a rate; give calls per second, e.g. 200 or 200/s"))),
    }
}

/// A progress bar on stderr, redrawn at most ten times a second.
struct Bar {
    started: Instant,
    last: Mutex<Option<Instant>>,
}

impl Bar {
    fn draw(&self, p: Progress) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if p.done < p.total && last.is_some_and(|t| now - t < Duration::from_millis(100)) {
            return;
        }
        *last = Some(now);
        const WIDTH: usize = 30;
        let filled = WIDTH * p.done / p.total.max(1);
        let failing = if p.failed > 0 { format!(", {} not matching", p.failed) } else { String::new() };
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[K[{}{}] {}/{} calls{failing}, {:.1} s",
            "#".repeat(filled),
            ".".repeat(WIDTH - filled),
            p.done,
            p.total,
            self.started.elapsed().as_secs_f64()
        );
        let _ = err.flush();
    }

    fn clear(&self) {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[K");
        let _ = err.flush();
    }
}

/// Runs the replay and prints the result.
pub async fn run(a: ReplayArgs) -> Result<(), CliError> {
    let fixture = Fixture::load(&a.file).map_err(|e| match e {
        crate::capture::CaptureError::File { .. } => CliError::Usage(e.to_string()),
        other => CliError::Failed(other.to_string()),
    })?;
    let transport = match (a.transport, fixture.transport()) {
        (Some(t), _) | (None, Some(t)) => t,
        (None, None) => {
            return Err(CliError::Usage(format!(
                "{}: the capture does not say its transport; give --transport",
                a.file.display()
            )));
        }
    };
    let mut comparator = if a.no_default_ignores { Comparator::strict() } else { Comparator::defaults() };
    for text in &a.ignore {
        let rule: IgnoreRule =
            text.parse().map_err(|e: crate::capture::CaptureError| CliError::Usage(e.to_string()))?;
        comparator = comparator.ignore(rule);
    }
    if !(a.max_seconds > 0.0 && a.max_seconds.is_finite()) {
        return Err(CliError::Usage("--max-seconds must be a positive number".into()));
    }
    let mut opts = ReplayOptions::new(transport, a.target.clone());
    opts.concurrency = a.concurrency;
    opts.rate = a.rate;
    opts.timeout = a.timeout;
    opts.max_time = Duration::from_secs_f64(a.max_seconds);
    opts.buffer_msg = a.buffer_msg;
    opts.max_frame = a.max_frame;
    opts.comparator = comparator.clone();
    opts.only = a.only.clone();
    if fixture.answered().next().is_none() {
        return Err(CliError::Failed(format!(
            "{}: no recorded request has a recorded answer; nothing to replay",
            a.file.display()
        )));
    }

    if !a.check {
        let recorded_on = fixture.transport().map(|t| t.name()).unwrap_or("?");
        let impl_ = fixture.meta("impl").map(|i| format!(", {i}")).unwrap_or_default();
        println!(
            "replaying {} ({} calls recorded on {recorded_on}{impl_}) against {} over {transport}, {} in flight",
            a.file.display(),
            fixture.answered().count(),
            a.target,
            a.concurrency
        );
        println!("comparing as JSON; ignored: {}", or_none(&comparator.describe()));
    }
    let bar = (!a.check && !a.no_progress && std::io::stderr().is_terminal())
        .then(|| Bar { started: Instant::now(), last: Mutex::new(None) });
    let progress = |p: Progress| {
        if let Some(b) = &bar {
            b.draw(p);
        }
    };
    let report =
        replay::replay(&fixture, &opts, &progress).await.map_err(|e| CliError::Usage(e.to_string()))?;
    if let Some(b) = &bar {
        b.clear();
    }
    if a.check {
        print_check(&report);
    } else {
        print_human(&report, a.verbose);
    }
    if report.ok() {
        Ok(())
    } else {
        Err(CliError::Failed(format!(
            "{} of {} calls did not match ({} differ, {} without reply, {} not run)",
            report.results.len() - report.matched(),
            report.results.len(),
            report.mismatched(),
            report.no_reply(),
            report.not_run()
        )))
    }
}

fn or_none(items: &[String]) -> String {
    if items.is_empty() { "nothing".into() } else { items.join("; ") }
}

fn args_text(r: &CallResult) -> String {
    crate::capture::record::shorten(r.call.msg.args.as_str(), 160)
}

fn print_human(report: &ReplayReport, verbose: bool) {
    let mut out = std::io::stdout().lock();
    for r in &report.results {
        let head = format!("#{} {} (recorded {} id {})", r.index, r.call.route(), r.call.session, r.call.id);
        match &r.outcome {
            Outcome::Match => {
                if verbose {
                    let _ = writeln!(out, "ok       {head}");
                }
            }
            Outcome::Mismatch { differences, .. } => {
                let _ = writeln!(out, "\nDIFFERS  {head}");
                let _ = writeln!(out, "  args {}", args_text(r));
                for d in differences {
                    let (recorded, got) = show_pair(d);
                    let _ = writeln!(out, "  {}\n      recorded {recorded}\n      got      {got}", d.path);
                }
            }
            Outcome::NoReply(e) => {
                let _ = writeln!(out, "\nNO REPLY {head}\n  args {}\n  error {e}", args_text(r));
            }
            Outcome::NotRun => {
                let _ = writeln!(out, "NOT RUN  {head} (out of time)");
            }
        }
    }
    let _ = writeln!(
        out,
        "\nreplay: {} calls: {} match, {} differ, {} without reply, {} not run ({:.2} s)",
        report.results.len(),
        report.matched(),
        report.mismatched(),
        report.no_reply(),
        report.not_run(),
        report.elapsed.as_secs_f64()
    );
    if report.unanswered > 0 {
        let _ = writeln!(
            out,
            "  {} recorded request(s) had no recorded answer and were not sent",
            report.unanswered
        );
    }
    if report.filtered > 0 {
        let _ = writeln!(out, "  {} call(s) left out by --only", report.filtered);
    }
    let median = |mut v: Vec<f64>| -> Option<f64> {
        v.sort_by(f64::total_cmp);
        (!v.is_empty()).then(|| v[v.len() / 2])
    };
    let recorded = median(report.results.iter().filter_map(|r| r.call.latency_ms()).collect());
    let replayed = median(report.results.iter().filter_map(|r| r.latency_ms).collect());
    if let (Some(a), Some(b)) = (recorded, replayed) {
        let _ = writeln!(out, "  median latency: recorded {a:.2} ms, replayed {b:.2} ms");
    }
}

/// One `--check` line: a call that did not match. Written with the wire JSON writer, so the
/// arguments appear exactly as recorded (a lone surrogate stays an escape).
#[derive(Serialize)]
struct CheckLine<'a> {
    outcome: &'static str,
    index: usize,
    route: String,
    session: &'a str,
    id: &'a Value,
    args: &'a JsonArray,
    expected: &'a Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    got: Option<&'a Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    differences: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

fn print_check(report: &ReplayReport) {
    let mut out = std::io::stdout().lock();
    for r in &report.results {
        let mut line = CheckLine {
            outcome: "",
            index: r.index,
            route: r.call.route(),
            session: &r.call.session,
            id: &r.call.id,
            args: &r.call.msg.args,
            expected: &r.call.resp,
            got: None,
            differences: None,
            error: None,
        };
        match &r.outcome {
            Outcome::Match => continue,
            Outcome::Mismatch { got, differences } => {
                line.outcome = "mismatch";
                line.got = Some(got);
                line.differences = Some(differences.iter().map(|d| d.to_json()).collect());
            }
            Outcome::NoReply(e) => {
                line.outcome = "no_reply";
                line.error = Some(e);
            }
            Outcome::NotRun => line.outcome = "not_run",
        }
        let _ = writeln!(out, "{}", crate::wire::json::to_string(&line));
    }
    let summary = json!({ "summary": {
        "calls": report.results.len(),
        "matched": report.matched(),
        "mismatched": report.mismatched(),
        "no_reply": report.no_reply(),
        "not_run": report.not_run(),
        "unanswered": report.unanswered,
        "filtered": report.filtered,
        "ms": report.elapsed.as_millis() as u64,
        "ok": report.ok(),
    }});
    let _ = writeln!(out, "{summary}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("200").unwrap(), 200.0);
        assert_eq!(parse_rate("2.5/s").unwrap(), 2.5);
        for bad in ["0", "-1", "x", "inf"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }
}
