//! The raw echo baseline: `echo-server` and the client loop of `bench --raw-echo`.
//!
//! The protocol is the least an RPC over TCP can do: a frame is a u32 big-endian length and
//! that many bytes; the server sends every frame back unchanged. No parsing, no JSON, no
//! dispatch: what this pair measures over loopback is the ceiling of the machine (syscalls,
//! loopback copies, the tokio reactor) that every RPC row is compared with.

use std::collections::VecDeque;
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use clap::Args;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::CliError;
use super::bench::stats::{Stats, WARMUP, micros, new_histogram, process_cpu_secs};

/// Largest frame body the echo server accepts; a longer length closes the connection.
pub const MAX_ECHO_FRAME: usize = 64 << 20;

/// Options of `echo-server`.
#[derive(Debug, Args)]
pub struct EchoServerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port to listen on (0 picks a free one; the READY line says which).
    #[arg(long, short = 'p', default_value_t = 0)]
    pub port: u16,
}

/// Serves the echo protocol until SIGINT or SIGTERM; prints `READY {"port":N}` once listening.
pub async fn run_server(a: EchoServerArgs) -> Result<(), CliError> {
    let stop = super::serve::stop_signal();
    let listener = TcpListener::bind((a.host, a.port))
        .await
        .map_err(|e| CliError::Failed(format!("cannot listen on {}:{}: {e}", a.host, a.port)))?;
    let port = listener.local_addr().map_err(|e| CliError::Failed(e.to_string()))?.port();
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "READY {}", serde_json::json!({ "port": port }));
        let _ = out.flush();
    }
    tokio::pin!(stop);
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    conns.spawn(async move {
                        if let Err(e) = echo_connection(stream).await {
                            tracing::debug!("echo connection ended: {e}");
                        }
                    });
                }
                Err(e) => {
                    // Out of descriptors and the like: wait a little instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
    Ok(())
}

/// One connection: read what is there, write back every complete frame in one write.
async fn echo_connection(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut need = 0usize; // bytes the next incomplete frame still lacks
    loop {
        buf.reserve(need.max(16 * 1024));
        if stream.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
        let mut end = 0;
        need = 0;
        while buf.len() - end >= 4 {
            let len = u32::from_be_bytes([buf[end], buf[end + 1], buf[end + 2], buf[end + 3]]) as usize;
            if len > MAX_ECHO_FRAME {
                return Err(io::Error::new(io::ErrorKind::InvalidData, format!("frame of {len} bytes")));
            }
            if buf.len() - end < 4 + len {
                need = 4 + len - (buf.len() - end);
                break;
            }
            end += 4 + len;
        }
        if end > 0 {
            stream.write_all(&buf[..end]).await?;
            buf.advance(end);
        }
    }
}

/// One frame: length prefix and `payload` bytes.
fn frame(payload: usize) -> Result<Vec<u8>, CliError> {
    if payload > MAX_ECHO_FRAME {
        return Err(CliError::Usage(format!("--payload: at most {MAX_ECHO_FRAME} bytes with --raw-echo")));
    }
    let mut f = Vec::with_capacity(4 + payload);
    f.extend_from_slice(&(payload as u32).to_be_bytes());
    f.resize(4 + payload, b'x');
    Ok(f)
}

fn io_failed(what: &str) -> impl Fn(io::Error) -> CliError + '_ {
    move |e| CliError::NoReply(format!("{what}: {e}"))
}

async fn timed<T>(
    timeout: Duration,
    what: &str,
    f: impl Future<Output = io::Result<T>>,
) -> Result<T, CliError> {
    match tokio::time::timeout(timeout, f).await {
        Ok(r) => r.map_err(io_failed(what)),
        Err(_) => Err(CliError::NoReply(format!("{what}: nothing for {} ms", timeout.as_millis()))),
    }
}

/// Connects (TCP_NODELAY) and does the warm-up round trips one at a time.
pub(crate) async fn connect_and_warm_up(
    to: &str,
    payload: usize,
    timeout: Duration,
) -> Result<TcpStream, CliError> {
    let f = frame(payload)?;
    let mut stream = timed(timeout, &format!("connecting to {to}"), TcpStream::connect(to)).await?;
    stream.set_nodelay(true).map_err(io_failed("TCP_NODELAY"))?;
    let mut reply = vec![0u8; f.len()];
    for _ in 0..WARMUP {
        timed(timeout, "warm-up write", stream.write_all(&f)).await?;
        timed(timeout, "warm-up read", stream.read_exact(&mut reply)).await?;
        if reply != f {
            return Err(CliError::Failed("warm-up: the echo differs from the frame sent".into()));
        }
    }
    Ok(stream)
}

/// What `measure` runs.
pub(crate) struct EchoLoad<'a> {
    /// Frames kept in flight.
    pub(crate) inflight: usize,
    /// Stop issuing after this many frames...
    pub(crate) count: u64,
    /// ...or after this long.
    pub(crate) limit: Duration,
    /// Body size of every frame.
    pub(crate) payload: usize,
    /// Deadline of every read and write.
    pub(crate) timeout: Duration,
    /// Frames answered so far (for a progress line).
    pub(crate) done: &'a AtomicU64,
}

/// The cheapest client loop: one task, no channel, no lock. It writes `inflight` frames at
/// once, then, for every read, takes each complete echo (FIFO: the server keeps the order),
/// records its latency and writes as many new frames as came back, in one write.
pub(crate) async fn measure(mut stream: TcpStream, load: &EchoLoad<'_>) -> Result<Stats, CliError> {
    let f = frame(load.payload)?;
    let inflight = load.inflight.max(1);
    let mut hist = new_histogram();
    let mut errors = 0u64;
    let mut sent: VecDeque<Instant> = VecDeque::with_capacity(inflight);
    let mut out: Vec<u8> = Vec::with_capacity(f.len() * inflight);
    let mut buf = BytesMut::with_capacity((f.len() * inflight).max(64 * 1024));
    let cpu0 = process_cpu_secs();
    let started = Instant::now();
    let mut issued = 0u64;
    let mut answered = 0u64;
    let first = (inflight as u64).min(load.count) as usize;
    for _ in 0..first {
        out.extend_from_slice(&f);
    }
    issued += first as u64;
    sent.extend(std::iter::repeat_n(Instant::now(), first));
    timed(load.timeout, "write", stream.write_all(&out)).await?;
    while !sent.is_empty() {
        buf.reserve(f.len());
        if timed(load.timeout, "read", stream.read_buf(&mut buf)).await? == 0 {
            return Err(CliError::NoReply(format!(
                "the echo server closed with {} frames unanswered",
                sent.len()
            )));
        }
        let now = Instant::now();
        let more_allowed = now.duration_since(started) < load.limit;
        let mut pos = 0;
        let mut more = 0usize;
        while buf.len() - pos >= 4 {
            let len = u32::from_be_bytes([buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]]) as usize;
            if buf.len() - pos < 4 + len {
                break;
            }
            pos += 4 + len;
            let Some(t0) = sent.pop_front() else {
                return Err(CliError::Failed("the echo server sent a frame nobody asked for".into()));
            };
            answered += 1;
            if len == load.payload {
                hist.saturating_record(micros(now.duration_since(t0)));
            } else {
                errors += 1;
            }
            if more_allowed && issued < load.count {
                issued += 1;
                more += 1;
            }
        }
        buf.advance(pos);
        load.done.store(answered, Ordering::Relaxed);
        if more > 0 {
            out.clear();
            for _ in 0..more {
                out.extend_from_slice(&f);
            }
            sent.extend(std::iter::repeat_n(Instant::now(), more));
            timed(load.timeout, "write", stream.write_all(&out)).await?;
        }
    }
    let cpu_secs = process_cpu_secs().zip(cpu0).map(|(b, a)| b - a);
    Ok(Stats { hist, errors, secs: started.elapsed().as_secs_f64(), cpu_secs })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_server_echoes_split_and_batched_frames_unchanged() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let _ = echo_connection(s).await;
        });
        let mut c = TcpStream::connect(addr).await.unwrap();
        let mut sent = Vec::new();
        for n in [0usize, 5, 70_000, 3] {
            sent.extend_from_slice(&frame(n).unwrap());
        }
        // Split at an awkward place: in the middle of the second length prefix.
        c.write_all(&sent[..6]).await.unwrap();
        // Pacing: lets the server read the first part alone; the assertion holds however the
        // bytes arrive (read_exact waits for all of them).
        tokio::time::sleep(Duration::from_millis(20)).await;
        c.write_all(&sent[6..]).await.unwrap();
        let mut got = vec![0u8; sent.len()];
        c.read_exact(&mut got).await.unwrap();
        assert_eq!(got, sent);
    }

    #[tokio::test]
    async fn the_client_loop_counts_every_frame_once() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let _ = echo_connection(s).await;
        });
        let stream = connect_and_warm_up(&addr.to_string(), 100, Duration::from_secs(5)).await.unwrap();
        let done = AtomicU64::new(0);
        let load = EchoLoad {
            inflight: 7,
            count: 1000,
            limit: Duration::from_secs(20),
            payload: 100,
            timeout: Duration::from_secs(5),
            done: &done,
        };
        let stats = measure(stream, &load).await.unwrap();
        assert_eq!((stats.hist.len(), stats.errors, done.load(Ordering::Relaxed)), (1000, 0, 1000));
    }
}
