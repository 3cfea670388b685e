//! Replaying recorded calls against a target (Rust or Node) with the real [`RpcClient`].
//!
//! Every recorded request that got a recorded answer is sent again, in recorded order, with at
//! most `concurrency` in flight and at most `rate` started per second. The client gives each
//! call a fresh id on its own connection and matches the answer by that id, so recorded ids
//! never reach the target (a fixture from several connections, or from another dialect, replays
//! over one connection of any dialect). The whole run is bounded by `max_time`; each call by
//! `timeout`.
//!
//! Requests go out with their arguments exactly as recorded (raw JSON text: a lone surrogate
//! leaves as the same escape). A reply identical byte for byte to the recorded one matches at
//! once; any other is read as values ([`crate::wire::json`]) and judged by the [`Comparator`].

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::CaptureError;
use super::compare::{Comparator, Difference, glob_match};
use super::fixture::{Fixture, RecordedCall};
use crate::client::{ClientError, ClientOptions, RpcClient, ServerInfo};
use crate::message::Resp;
use crate::transport::Transport;

/// How to replay.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Dialect to speak to the target.
    pub transport: Transport,
    /// The target, `host:port`.
    pub target: String,
    /// Server id the client uses for the target (appears in error messages only).
    pub server_id: String,
    /// Calls in flight at most.
    pub concurrency: usize,
    /// Calls started per second at most (`None`: as fast as `concurrency` allows).
    pub rate: Option<f64>,
    /// Deadline of one call.
    pub timeout: Duration,
    /// Deadline of the whole replay; calls not started by then are reported as not run.
    pub max_time: Duration,
    /// Send requests in JSON arrays (bufferMsg).
    pub buffer_msg: bool,
    /// Largest frame sent or accepted.
    pub max_frame: usize,
    /// How answers are compared.
    pub comparator: Comparator,
    /// Only calls whose route matches one of these globs (empty: all).
    pub only: Vec<String>,
}

impl ReplayOptions {
    /// Defaults: 16 in flight, no rate limit, 10 s per call, 10 min in all, default ignores.
    pub fn new(transport: Transport, target: impl Into<String>) -> Self {
        ReplayOptions {
            transport,
            target: target.into(),
            server_id: "replay-target".into(),
            concurrency: 16,
            rate: None,
            timeout: Duration::from_secs(10),
            max_time: Duration::from_secs(600),
            buffer_msg: false,
            max_frame: crate::wire::DEFAULT_MAX_FRAME,
            comparator: Comparator::defaults(),
            only: Vec::new(),
        }
    }
}

/// What happened to one replayed call.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The new answer means the same as the recorded one.
    Match,
    /// The answers differ here.
    Mismatch {
        /// The new answer.
        got: Vec<serde_json::Value>,
        /// Where they differ.
        differences: Vec<Difference>,
    },
    /// No answer: refused, closed, timed out.
    NoReply(String),
    /// Not sent: the replay ran out of time first.
    NotRun,
}

/// One replayed call.
#[derive(Debug, Clone)]
pub struct CallResult {
    /// The recorded call.
    pub call: RecordedCall,
    /// Position of the call among the fixture's requests (0-based).
    pub index: usize,
    /// What happened.
    pub outcome: Outcome,
    /// How long the target took, in milliseconds.
    pub latency_ms: Option<f64>,
    /// The reply exactly as the target wrote it, when one came.
    pub reply: Option<Resp>,
}

/// Progress of a running replay.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Calls finished.
    pub done: usize,
    /// Calls to run.
    pub total: usize,
    /// Finished calls that did not match.
    pub failed: usize,
}

/// The result of a replay.
#[derive(Debug, Clone)]
pub struct ReplayReport {
    /// Every selected call, in fixture order.
    pub results: Vec<CallResult>,
    /// Recorded requests without a recorded answer (not replayed: nothing to compare).
    pub unanswered: usize,
    /// Answered requests left out by `only`.
    pub filtered: usize,
    /// Wall time of the replay.
    pub elapsed: Duration,
}

impl ReplayReport {
    fn count(&self, f: impl Fn(&Outcome) -> bool) -> usize {
        self.results.iter().filter(|r| f(&r.outcome)).count()
    }

    /// Calls whose answers matched.
    pub fn matched(&self) -> usize {
        self.count(|o| *o == Outcome::Match)
    }

    /// Calls whose answers differed.
    pub fn mismatched(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Mismatch { .. }))
    }

    /// Calls that got no answer.
    pub fn no_reply(&self) -> usize {
        self.count(|o| matches!(o, Outcome::NoReply(_)))
    }

    /// Calls never sent.
    pub fn not_run(&self) -> usize {
        self.count(|o| *o == Outcome::NotRun)
    }

    /// Whether every selected call matched (and there was at least one).
    pub fn ok(&self) -> bool {
        !self.results.is_empty() && self.matched() == self.results.len()
    }
}

/// Splits `host:port` (IPv6 in brackets allowed).
fn split_target(target: &str) -> Result<(String, u16), CaptureError> {
    let bad = || CaptureError::Options(format!("target {target:?}: expected HOST:PORT, e.g. 127.0.0.1:3333"));
    let (host, port) = target.rsplit_once(':').ok_or_else(bad)?;
    let port = port.parse().map_err(|_| bad())?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host.to_string(), port))
}

/// Replays the answered calls of `fixture` against `opts.target`; `progress` is called after
/// every finished call.
pub async fn replay(
    fixture: &Fixture,
    opts: &ReplayOptions,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<ReplayReport, CaptureError> {
    if opts.concurrency == 0 {
        return Err(CaptureError::Options("concurrency must be at least 1".into()));
    }
    if opts.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        return Err(CaptureError::Options("rate must be a positive number of calls per second".into()));
    }
    let (host, port) = split_target(&opts.target)?;
    let mut copts = ClientOptions::new(opts.transport);
    copts.mailbox.buffer_msg = opts.buffer_msg;
    copts.mailbox.max_frame = opts.max_frame;
    copts.default_timeout = opts.timeout;
    let client = RpcClient::new(copts);
    client.add_server(ServerInfo::new(&opts.server_id, "", host, port));

    let answered: Vec<(usize, &RecordedCall)> =
        fixture.calls.iter().enumerate().filter(|(_, c)| c.resp.is_some()).collect();
    let unanswered = fixture.calls.len() - answered.len();
    let selected: Vec<(usize, &RecordedCall)> = answered
        .iter()
        .copied()
        .filter(|(_, c)| opts.only.is_empty() || opts.only.iter().any(|g| glob_match(g, &c.route())))
        .collect();
    let filtered = answered.len() - selected.len();
    let total = selected.len();

    let started = Instant::now();
    let deadline = started + opts.max_time;
    let sem = Arc::new(Semaphore::new(opts.concurrency));
    let mut ticker = opts.rate.map(|r| {
        let mut t = tokio::time::interval(Duration::from_secs_f64(1.0 / r));
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    let mut outcomes: Vec<Option<Judged>> = vec![None; total];
    let mut tasks = JoinSet::new();
    let mut done = 0usize;
    let mut failed = 0usize;
    let mut finish = |slot: usize, judged: Judged, outcomes: &mut Vec<_>| {
        done += 1;
        if judged.outcome != Outcome::Match {
            failed += 1;
        }
        outcomes[slot] = Some(judged);
        progress(Progress { done, total, failed });
    };

    for (slot, (_, call)) in selected.iter().enumerate() {
        while let Some(joined) = tasks.try_join_next() {
            if let Ok((s, judged)) = joined {
                finish(s, judged, &mut outcomes);
            }
        }
        if let Some(t) = ticker.as_mut() {
            tokio::select! {
                _ = t.tick() => {}
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        let permit = tokio::select! {
            p = sem.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            _ = tokio::time::sleep_until(deadline) => break,
        };
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let limit = opts.timeout.min(deadline - now);
        let (client, id, msg) = (client.clone(), opts.server_id.clone(), call.msg.clone());
        let call = (*call).clone();
        let comparator = opts.comparator.clone();
        tasks.spawn(async move {
            let t0 = Instant::now();
            let result = client.call_raw(&id, msg, Some(limit)).await;
            let latency_ms = Some(t0.elapsed().as_secs_f64() * 1000.0);
            drop(permit);
            let judged = match result {
                Ok(reply) => {
                    Judged { outcome: judge(&comparator, &call, &reply), latency_ms, reply: Some(reply) }
                }
                Err(e) => Judged { outcome: Outcome::NoReply(e.to_string()), latency_ms, reply: None },
            };
            (slot, judged)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((s, judged)) => finish(s, judged, &mut outcomes),
            Err(e) => tracing::error!("replay: a call task failed: {e}"),
        }
    }
    client.close();
    let results = selected
        .into_iter()
        .zip(outcomes)
        .map(|((index, call), judged)| {
            let Judged { outcome, latency_ms, reply } =
                judged.unwrap_or(Judged { outcome: Outcome::NotRun, latency_ms: None, reply: None });
            CallResult { call: call.clone(), index, outcome, latency_ms, reply }
        })
        .collect();
    Ok(ReplayReport { results, unanswered, filtered, elapsed: started.elapsed() })
}

/// What one finished call came to.
#[derive(Debug, Clone)]
struct Judged {
    outcome: Outcome,
    latency_ms: Option<f64>,
    reply: Option<Resp>,
}

/// Compares a reply with the recorded one: the same text matches as it is; otherwise both are
/// compared as values.
fn judge(comparator: &Comparator, call: &RecordedCall, reply: &Resp) -> Outcome {
    if call.resp_text.as_ref() == Some(reply) {
        return Outcome::Match;
    }
    let got = match reply.values() {
        Ok(got) => got,
        Err(e) => return Outcome::NoReply(ClientError::ReplyValues(e).to_string()),
    };
    let expected = call.resp.as_deref().unwrap_or_default();
    let differences = comparator.compare(&call.route(), expected, &got);
    if differences.is_empty() { Outcome::Match } else { Outcome::Mismatch { got, differences } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(split_target("127.0.0.1:3333").unwrap(), ("127.0.0.1".into(), 3333));
        assert_eq!(split_target("[::1]:80").unwrap(), ("::1".into(), 80));
        for bad in ["nope", ":80", "h:x", "h:70000"] {
            assert!(split_target(bad).is_err(), "{bad}");
        }
    }
}
