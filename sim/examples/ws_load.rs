//! Rough CPU cost of the websocket streams (Linux: reads /proc/self/task/*/stat).
//!
//! `cargo run --release -p crypto-market-sim --example ws_load [seconds]`
//!
//! Scenarios: 1500 `@ticker` streams on 2 connections at 1 update/s; 500 streams at 10/s on
//! one connection (5,000 messages/s); the same 500 streams on 2 connections (10,000 messages/s
//! sent, 5,000 payloads computed). For each: messages received, CPU used by the simulator's
//! threads (its runtime workers) and by the client, and how late events arrive (receive time
//! minus the event's `E`).

#![allow(
    clippy::print_stdout,
    reason = "an example shows its results on stdout"
)]

use crypto_market_sim::{SimConfig, Simulator, WsIntervals};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio_tungstenite::tungstenite::Message;

/// USER_HZ: /proc times are in 1/100 s on Linux.
const TICKS_PER_SEC: f64 = 100.0;

/// CPU seconds used so far by this process's threads, split into (simulator, others). The
/// simulator's threads are named "crypto-market-sim" (truncated to 15 characters in /proc).
fn cpu_seconds() -> (f64, f64) {
    let (mut sim, mut other) = (0u64, 0u64);
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return (0.0, 0.0);
    };
    for t in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = &stat[open + 1..close];
        // Fields after the name: state is field 3, utime 14, stime 15 (1-based).
        let f: Vec<&str> = stat[close + 2..].split(' ').collect();
        let ticks = f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
            + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        if name.starts_with("crypto-market-s") {
            sim += ticks;
        } else {
            other += ticks;
        }
    }
    (sim as f64 / TICKS_PER_SEC, other as f64 / TICKS_PER_SEC)
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// One connection subscribed to `streams`, counting messages and lateness for `run`.
async fn client(url: String, streams: Vec<String>, run: Duration) -> (u64, u64, u64) {
    let (mut ws, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("connect");
    let req = json!({"method": "SUBSCRIBE", "params": streams, "id": 1});
    ws.send(Message::text(req.to_string()))
        .await
        .expect("subscribe");
    // Warm-up: let the first update pass, then measure.
    let warm = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < warm {
        let _ = tokio::time::timeout(Duration::from_millis(100), ws.next()).await;
    }
    let (mut n, mut late_sum, mut late_max) = (0u64, 0u64, 0u64);
    let end = Instant::now() + run;
    while let Ok(Some(Ok(msg))) =
        tokio::time::timeout(end.saturating_duration_since(Instant::now()), ws.next()).await
    {
        if let Message::Text(t) = msg {
            n += 1;
            // Parse a sample only: the client is not what is measured.
            if n % 50 == 0 {
                if let Ok(v) = serde_json::from_str::<Value>(t.as_str()) {
                    if let Some(e) = v["E"].as_u64() {
                        let late = unix_ms().saturating_sub(e);
                        late_sum += late;
                        late_max = late_max.max(late);
                    }
                }
            }
        }
    }
    let samples = (n / 50).max(1);
    (n, late_sum / samples, late_max)
}

async fn scenario(name: &str, ticker_ms: u64, conns: Vec<Vec<String>>, run: Duration) {
    let sim = Simulator::start(SimConfig {
        extra_symbols: 1500,
        ws_ticker_interval_ms: ticker_ms,
        ..SimConfig::default()
    })
    .expect("simulator");
    sim.set_ws_intervals(WsIntervals {
        ticker_ms,
        ..sim.ws_intervals()
    })
    .expect("intervals");
    let url = format!("{}/ws", sim.ws_url());
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|s| tokio::spawn(client(url.clone(), s, run)))
        .collect();
    // Measure over the clients' window (after their warm-up).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (sim0, other0) = cpu_seconds();
    let t0 = Instant::now();
    let mut total = 0;
    let mut late = Vec::new();
    for t in tasks {
        let (n, avg, max) = t.await.expect("client");
        total += n;
        late.push(format!("avg {avg} ms / max {max} ms"));
    }
    let secs = t0.elapsed().as_secs_f64();
    let (sim1, other1) = cpu_seconds();
    println!(
        "{name}: {:.0} msg/s received; simulator CPU {:.1}% of one core, client {:.1}%; lateness {}",
        total as f64 / secs,
        (sim1 - sim0) / secs * 100.0,
        (other1 - other0) / secs * 100.0,
        late.join(", ")
    );
}

fn names(range: std::ops::RangeInclusive<usize>) -> Vec<String> {
    range.map(|n| format!("sim{n:04}usdt@ticker")).collect()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let run = Duration::from_secs(secs);
    scenario(
        "1500 streams, 2 connections, 1/s",
        1000,
        vec![names(1..=750), names(751..=1500)],
        run,
    )
    .await;
    scenario(
        "500 streams, 1 connection, 10/s",
        100,
        vec![names(1..=500)],
        run,
    )
    .await;
    scenario(
        "500 streams, 2 connections (same streams), 10/s",
        100,
        vec![names(1..=500), names(1..=500)],
        run,
    )
    .await;
}
