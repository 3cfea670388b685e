//! What a bench run measures and shows: the latency histogram and CPU time of a measurement,
//! and the progress line on a terminal. Shared by the RPC bench and the raw echo bench.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{Map, Value, json};

/// Sequential calls before measuring (they also open the connection).
pub(crate) const WARMUP: usize = 200;

/// What one measurement gives: a latency histogram of the calls that succeeded (µs), the
/// calls that failed, the measured time.
pub(crate) struct Stats {
    pub(crate) hist: Histogram<u64>,
    pub(crate) errors: u64,
    pub(crate) secs: f64,
    /// CPU time this process used while measuring (user + system), when the OS tells.
    pub(crate) cpu_secs: Option<f64>,
}

/// CPU time (user + system) this process has used so far, from `/proc/self/stat` (Linux).
pub(crate) fn process_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// An empty latency histogram: 1 µs to one hour, 3 significant digits.
pub(crate) fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// Microseconds since `t`, saturating.
pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Stats {
    /// The fields of the output line, in their order.
    pub(crate) fn fields(&self, label: &str, transport: &str, inflight: usize) -> Map<String, Value> {
        let calls = self.hist.len();
        let pct = |q: f64| if calls == 0 { Value::Null } else { json!(self.hist.value_at_quantile(q)) };
        let ops = if self.secs > 0.0 { (calls as f64 / self.secs).round() } else { 0.0 };
        let v = json!({
            "impl": label,
            "transport": transport,
            "inflight": inflight,
            "calls": calls,
            "secs": (self.secs * 1000.0).round() / 1000.0,
            "ops_per_sec": ops,
            "errors": self.errors,
            "p50_us": pct(0.5),
            "p99_us": pct(0.99),
            "p999_us": pct(0.999),
            "cpu_us_per_call": self.cpu_secs.filter(|_| calls > 0).map(|c| (c * 1e6 / calls as f64 * 100.0).round() / 100.0),
        });
        let Value::Object(m) = v else { unreachable!("json! of an object") };
        m
    }
}

/// A single updating line on stderr (only when it is a terminal), redrawn ten times a second
/// after the first half second, so that short runs print nothing. It draws from the cursor
/// position it found (saved with ESC 7), so a caller may print a label before it.
pub(crate) struct ProgressLine {
    done: Arc<AtomicU64>,
    task: Option<(tokio::task::JoinHandle<()>, Arc<AtomicBool>)>,
}

impl ProgressLine {
    pub(crate) fn start(enabled: bool, render: impl Fn(u64, f64) -> String + Send + 'static) -> Self {
        let done = Arc::new(AtomicU64::new(0));
        if !enabled {
            return ProgressLine { done, task: None };
        }
        let drawn = Arc::new(AtomicBool::new(false));
        let (counter, flag) = (done.clone(), drawn.clone());
        let task = tokio::spawn(async move {
            let started = Instant::now();
            tokio::time::sleep(Duration::from_millis(500)).await;
            loop {
                let text = render(counter.load(Ordering::Relaxed), started.elapsed().as_secs_f64());
                let first = !flag.swap(true, Ordering::Relaxed);
                {
                    let mut err = std::io::stderr().lock();
                    let _ = write!(err, "{}{text}", if first { "\x1b7" } else { "\x1b8\x1b[K" });
                    let _ = err.flush();
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        ProgressLine { done, task: Some((task, drawn)) }
    }

    pub(crate) fn counter(&self) -> Arc<AtomicU64> {
        self.done.clone()
    }

    pub(crate) async fn finish(self) {
        if let Some((task, drawn)) = self.task {
            task.abort();
            let _ = task.await;
            if drawn.load(Ordering::Relaxed) {
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\x1b8\x1b[K");
                let _ = err.flush();
            }
        }
    }
}

pub(crate) fn calls_line(count: u64) -> impl Fn(u64, f64) -> String + Send + 'static {
    move |done, secs| {
        let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
        format!("{done}/{count} calls, {rate:.0} ops/s")
    }
}
