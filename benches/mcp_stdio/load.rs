//! The closed-loop load generator and its results.

use super::*;
use tokio::task::JoinSet;

// ---------------------------------------------------------------------------------------------
// Load generation

/// How long a level runs.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Load {
    /// Keep calling for `warmup` (not recorded), then for `measure` (recorded).
    For { warmup: Duration, measure: Duration },
    /// Exactly this many calls, all recorded.
    Calls(u64),
}

/// What one level measured. Failed calls are counted, never part of the latencies.
#[derive(Debug)]
pub(crate) struct LoadResult {
    pub(crate) in_flight: usize,
    /// Successful recorded calls, in milliseconds, sorted.
    pub(crate) latencies_ms: Vec<f64>,
    pub(crate) failures: u64,
    pub(crate) failure_samples: Vec<String>,
    /// From the start of the recorded window until the last recorded call ended.
    pub(crate) wall: Duration,
    /// CPU time the server process used during the recorded window.
    pub(crate) server_cpu: Option<Duration>,
    /// CPU time this bench process (the client) used during the recorded window.
    pub(crate) client_cpu: Option<Duration>,
}

pub(crate) fn per_call_us(cpu: Duration, calls: usize) -> Option<f64> {
    (calls > 0).then(|| cpu.as_secs_f64() * 1e6 / calls as f64)
}

impl LoadResult {
    /// Server CPU µs per recorded call.
    pub(crate) fn cpu_us_per_call(&self) -> Option<f64> {
        per_call_us(self.server_cpu?, self.calls())
    }

    /// Client CPU µs per recorded call.
    pub(crate) fn client_cpu_us_per_call(&self) -> Option<f64> {
        per_call_us(self.client_cpu?, self.calls())
    }

    pub(crate) fn calls(&self) -> usize {
        self.latencies_ms.len()
    }

    pub(crate) fn calls_per_s(&self) -> f64 {
        self.calls() as f64 / self.wall.as_secs_f64()
    }

    /// Nearest-rank percentile, `q` in 0..=1.
    pub(crate) fn percentile_ms(&self, q: f64) -> f64 {
        let n = self.latencies_ms.len();
        if n == 0 {
            return f64::NAN;
        }
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        self.latencies_ms[rank - 1]
    }

    pub(crate) fn p50(&self) -> f64 {
        self.percentile_ms(0.50)
    }

    pub(crate) fn p99(&self) -> f64 {
        self.percentile_ms(0.99)
    }

    pub(crate) fn report_failures(&self, label: &str) {
        if self.failures == 0 {
            return;
        }
        eprintln!(
            "!! {label} at {} in flight: {} failed calls (not counted), e.g.:",
            self.in_flight, self.failures
        );
        for sample in &self.failure_samples {
            eprintln!("!!   {sample}");
        }
    }
}

/// What one worker saw.
#[derive(Default)]
pub(crate) struct WorkerLog {
    pub(crate) latencies_ms: Vec<f64>,
    pub(crate) failures: u64,
    pub(crate) failure_samples: Vec<String>,
    pub(crate) last_end: Option<Instant>,
}

/// Closed loop: `in_flight` tasks on the current runtime, each sending its next `get_ticker`
/// call as soon as its previous one is answered, so exactly `in_flight` calls are outstanding.
/// `make_args(i)` gives the arguments of the i-th call (0-based, unique per call of this level);
/// `check` accepts or rejects a result. Shared by the real server and the echo server so both
/// pay for the same client work.
pub(crate) async fn run_closed_loop<A, C>(
    server: &Child,
    in_flight: usize,
    load: Load,
    make_args: A,
    check: C,
) -> LoadResult
where
    A: Fn(u64) -> JsonObject + Send + Sync + 'static,
    C: Fn(&CallToolResult) -> Result<(), String> + Send + Sync + 'static,
{
    let make_args = Arc::new(make_args);
    let check = Arc::new(check);
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let (record_from, stop_at, total) = match load {
        Load::For { warmup, measure } => (start + warmup, Some(start + warmup + measure), None),
        Load::Calls(n) => (start, None, Some(n)),
    };

    // The server's CPU time over the recorded window: its own cost per call, whatever the
    // client's speed.
    let pid = server.pid;
    let cpu_at_start = tokio::spawn(async move {
        tokio::time::sleep_until(record_from.into()).await;
        (process_cpu(pid), process_cpu(std::process::id()))
    });
    let peer = server.peer();
    let mut workers = JoinSet::new();
    for _ in 0..in_flight {
        let (peer, make_args, check, next) =
            (peer.clone(), make_args.clone(), check.clone(), next.clone());
        workers.spawn(async move {
            let mut log = WorkerLog::default();
            loop {
                let sent = Instant::now();
                if stop_at.is_some_and(|stop| sent >= stop) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if total.is_some_and(|n| i >= n) {
                    break;
                }
                let params = CallToolRequestParams::new("get_ticker").with_arguments(make_args(i));
                let outcome = tokio::time::timeout(CALL_TIMEOUT, peer.call_tool(params)).await;
                let done = Instant::now();
                if sent < record_from {
                    continue; // warm-up
                }
                let verdict = match outcome {
                    Err(_) => Err(format!("no answer within {CALL_TIMEOUT:?}")),
                    Ok(Err(e)) => Err(format!("protocol error: {e}")),
                    Ok(Ok(result)) => check(&result),
                };
                match verdict {
                    Ok(()) => log.latencies_ms.push((done - sent).as_secs_f64() * 1000.0),
                    Err(message) => {
                        log.failures += 1;
                        if log.failure_samples.len() < MAX_FAILURE_SAMPLES {
                            log.failure_samples.push(format!("call {i}: {message}"));
                        }
                    }
                }
                log.last_end = Some(done);
            }
            log
        });
    }

    let mut result = LoadResult {
        in_flight,
        latencies_ms: Vec::new(),
        failures: 0,
        failure_samples: Vec::new(),
        wall: Duration::ZERO,
        server_cpu: None,
        client_cpu: None,
    };
    let mut last_end = record_from;
    while let Some(joined) = workers.join_next().await {
        let log = joined.expect("load worker panicked");
        result.latencies_ms.extend(log.latencies_ms);
        result.failures += log.failures;
        let room = MAX_FAILURE_SAMPLES.saturating_sub(result.failure_samples.len());
        result
            .failure_samples
            .extend(log.failure_samples.into_iter().take(room));
        last_end = last_end.max(log.last_end.unwrap_or(record_from));
    }
    result.latencies_ms.sort_by(f64::total_cmp);
    result.wall = last_end - record_from;
    if let Ok((server_start, client_start)) = cpu_at_start.await {
        let since = |start: Option<Duration>, end: Option<Duration>| end?.checked_sub(start?);
        result.server_cpu = since(server_start, process_cpu(pid));
        result.client_cpu = since(client_start, process_cpu(std::process::id()));
    }
    result
}

/// User + system CPU time of process `pid` so far (Linux /proc; `None` elsewhere).
pub(crate) fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on Linux for every architecture this runs on.
    Some(Duration::from_millis(ticks * 10))
}

pub(crate) fn ticker_args(symbol: &str) -> JsonObject {
    let mut args = JsonObject::new();
    args.insert("symbol".into(), Value::from(symbol));
    args
}

/// Accepts a successful result whose `source` is `expected`.
pub(crate) fn expect_source(
    expected: &'static str,
) -> impl Fn(&CallToolResult) -> Result<(), String> {
    move |result| {
        let structured = result.structured_content.as_ref();
        if result.is_error == Some(true) {
            return Err(format!("tool error: {structured:?}"));
        }
        match structured.and_then(|s| s.get("source")) {
            Some(source) if source == expected => Ok(()),
            other => Err(format!("source {other:?}, expected {expected:?}")),
        }
    }
}
