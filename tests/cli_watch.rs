//! `crypto-market watch SYMBOL --book` (a live depth ladder) and `--trades` (a live tape)
//! through the real binaries against the simulator (SPEC.md 5.1 and 8): every book drawn is the
//! simulator's true book at its nonce, top levels first; the tape shows the venue's trades in
//! order, none missing, as the simulator's REST trades have them; over `--mcp-url` too, where
//! Ctrl-C ends the watch and the server lets the venue's streams go.

mod common;

use std::time::{Duration, Instant};

use common::cli::{parse_num, run, sim_args, spawn_in_pty, CLI};
use common::{simulator, start_http_server};
use crypto_market_sim::SimHandle;
use serde_json::Value;

/// The simulator's book at `nonce`, `limit` levels a side, as the served JSON numbers.
fn truth(sim: &SimHandle, nonce: u64, limit: usize) -> (Vec<[f64; 2]>, Vec<[f64; 2]>) {
    let book = sim.book_at("BTCUSDT", nonce, limit).expect("BTCUSDT");
    let side = |levels: &[(u64, u64)]| -> Vec<[f64; 2]> {
        levels
            .iter()
            .map(|&(p, q)| [p as f64 / 1e8, q as f64 / 1e8])
            .collect()
    };
    (side(&book.bids), side(&book.asks))
}

fn side(v: &Value) -> Vec<[f64; 2]> {
    v.as_array()
        .expect("levels")
        .iter()
        .map(|l| [l[0].as_f64().unwrap(), l[1].as_f64().unwrap()])
        .collect()
}

#[tokio::test]
async fn the_json_book_watch_prints_each_true_book_on_its_own_line() {
    let sim = simulator();
    let out = run(
        &sim_args(&sim, &["--json", "watch", "BTC/USDT", "--book", "-n", "5"]),
        &[],
    )
    .await
    .success();
    let books: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(books.len(), 5, "{}", out.stdout);
    let mut last = 0;
    for book in &books {
        let nonce = book["nonce"].as_u64().expect("a nonce");
        assert!(nonce > last, "books in order: {nonce} after {last}");
        last = nonce;
        let (bids, asks) = truth(&sim, nonce, 20);
        assert_eq!(side(&book["bids"]), bids, "bids at {nonce}");
        assert_eq!(side(&book["asks"]), asks, "asks at {nonce}");
    }
}

/// The ladder frames of `watch --book` off a terminal: (nonce, bids, asks), each side best
/// first, read back from the drawn rows.
type Frame = (u64, Vec<[f64; 2]>, Vec<[f64; 2]>);

fn frames(stdout: &str) -> Vec<Frame> {
    let mut frames: Vec<Frame> = Vec::new();
    for line in stdout.lines() {
        if let Some((_, rest)) = line.split_once("order book - nonce ") {
            let nonce = rest.split_whitespace().next().unwrap().parse().unwrap();
            frames.push((nonce, Vec::new(), Vec::new()));
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let Some((side, price)) = cells[0].split_once(' ') else {
            continue;
        };
        if side != "bid" && side != "ask" {
            continue; // the header and the spread
        }
        let level = [parse_num(price.trim()), parse_num(cells[1])];
        let frame = frames.last_mut().expect("a title before the rows");
        if side == "bid" {
            frame.1.push(level);
        } else {
            frame.2.push(level);
        }
    }
    for frame in &mut frames {
        // Asks are drawn farthest first, above the spread.
        frame.2.reverse();
    }
    frames
}

#[tokio::test]
async fn the_book_watch_draws_the_true_ladder_one_frame_per_update() {
    let sim = simulator();
    let out = run(
        &sim_args(&sim, &["watch", "BTC/USDT", "--book", "-n", "3"]),
        &[],
    )
    .await
    .success();
    let frames = frames(&out.stdout);
    assert_eq!(frames.len(), 3, "{}", out.stdout);
    for (nonce, bids, asks) in &frames {
        let (true_bids, true_asks) = truth(&sim, *nonce, 20);
        assert_eq!(bids, &true_bids, "bids at {nonce}:\n{}", out.stdout);
        assert_eq!(asks, &true_asks, "asks at {nonce}:\n{}", out.stdout);
        assert!(bids[0][0] < asks[0][0], "not crossed");
    }
    assert!(out.stdout.contains("spread "), "{}", out.stdout);
}

/// The simulator's REST trades at `at_ms` (`/api/v3/trades`, the last 1000): id → (price,
/// amount).
fn rest_trades(sim: &SimHandle, at_ms: u64) -> std::collections::HashMap<u64, (f64, f64)> {
    let body = sim
        .rest_body_at("trades", "symbol=BTCUSDT&limit=1000", at_ms)
        .expect("REST trades");
    let list: Vec<Value> = serde_json::from_str(&body).expect("JSON");
    list.iter()
        .map(|t| {
            (
                t["id"].as_u64().unwrap(),
                (
                    parse_num(t["price"].as_str().unwrap()),
                    parse_num(t["qty"].as_str().unwrap()),
                ),
            )
        })
        .collect()
}

/// A tape time (`HH:MM:SS.mmm`, UTC, within the last day) as Unix ms.
fn ms_today(hms: &str) -> u64 {
    let parts: Vec<f64> = hms.split(':').map(|p| p.parse().unwrap()).collect();
    let of_day = ((parts[0] * 3600.0 + parts[1] * 60.0 + parts[2]) * 1000.0).round() as u64;
    let now = common::cli::now_ms();
    let day = now - now % 86_400_000;
    if day + of_day > now {
        day + of_day - 86_400_000
    } else {
        day + of_day
    }
}

#[tokio::test]
async fn the_trade_tape_shows_the_venues_trades_in_order() {
    let sim = simulator();
    let out = run(
        &sim_args(
            &sim,
            &["--json", "watch", "BTC/USDT", "--trades", "-n", "6"],
        ),
        &[],
    )
    .await
    .success();
    let trades: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(trades.len(), 6, "{}", out.stdout);
    let ids: Vec<u64> = trades
        .iter()
        .map(|t| t["id"].as_str().unwrap().parse().unwrap())
        .collect();
    // Binance numbers trades one by one: in order, none missing, none twice.
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
    let newest = trades.iter().filter_map(|t| t["timestamp"].as_u64()).max();
    let rest = rest_trades(&sim, newest.expect("trade times"));
    for t in &trades {
        let id: u64 = t["id"].as_str().unwrap().parse().unwrap();
        let (price, amount) = rest
            .get(&id)
            .unwrap_or_else(|| panic!("REST knows trade {id}: {:?}", rest.keys().max()));
        assert_eq!(t["price"].as_f64(), Some(*price), "trade {id}");
        assert_eq!(t["amount"].as_f64(), Some(*amount), "trade {id}");
    }

    // As a tape for people: a header, then one line per trade, oldest first.
    let out = run(
        &sim_args(&sim, &["watch", "BTC/USDT", "--trades", "-n", "4"]),
        &[],
    )
    .await
    .success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with("BTC/USDT binance trades"),
        "{}",
        out.stdout
    );
    assert!(lines[1].starts_with("time (UTC)"), "{}", out.stdout);
    let rows: Vec<Vec<&str>> = lines[2..]
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 4, "{}", out.stdout);
    let ids: Vec<u64> = rows.iter().map(|r| r[4].parse().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
    let newest = rows.iter().map(|r| ms_today(r[0])).max();
    let rest = rest_trades(&sim, newest.expect("trade times"));
    for r in &rows {
        assert!(r[1] == "buy" || r[1] == "sell", "{r:?}");
        let (price, amount) = rest[&r[4].parse::<u64>().unwrap()];
        assert_eq!((parse_num(r[2]), parse_num(r[3])), (price, amount), "{r:?}");
    }
    assert!(
        rows.windows(2).all(|w| w[0][0] <= w[1][0]),
        "times in order"
    );
}

#[tokio::test]
async fn over_mcp_url_ctrl_c_ends_the_tape_and_the_server_lets_the_streams_go() {
    use tokio::io::AsyncBufReadExt;
    let sim = simulator();
    let (_server, addr) = start_http_server(&sim, &[]).await;
    let mut child = tokio::process::Command::new(CLI)
        .args([
            "--mcp-url",
            &format!("http://{addr}/mcp"),
            "--json",
            "watch",
            "BTC/USDT",
            "--trades",
        ])
        .env_remove("MCP_AUTH_TOKEN")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the CLI runs");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut ids = Vec::new();
    while ids.len() < 3 {
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("trades keep coming")
            .unwrap()
            .expect("a line");
        let t: Value = serde_json::from_str(&line).expect("JSON");
        ids.push(t["id"].as_str().unwrap().parse::<u64>().unwrap());
    }
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
    assert!(sim.ws_stats().open > 0, "streamed while watched");
    common::send_signal(child.id().unwrap(), libc::SIGINT);
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("Ctrl-C ends it")
        .unwrap();
    assert_eq!(status.code(), Some(0), "Ctrl-C is a clean exit");
    // The server stays up; its last watcher gone, the venue's streams go.
    let deadline = Instant::now() + Duration::from_secs(15);
    while sim.ws_stats().open > 0 {
        assert!(Instant::now() < deadline, "the streams were not released");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn book_and_trades_take_one_symbol() {
    let sim = simulator();
    let out = run(
        &sim_args(&sim, &["watch", "BTC/USDT", "ETH/USDT", "--book"]),
        &[],
    )
    .await;
    let line = out.one_error_line(2);
    assert!(line.contains("one symbol"), "{line}");
    let out = run(
        &sim_args(&sim, &["watch", "BTC/USDT", "--book", "--trades"]),
        &[],
    )
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
}

#[tokio::test]
async fn on_a_terminal_the_ladder_is_redrawn_in_place_until_ctrl_c() {
    let sim = simulator();
    let (child, master) = spawn_in_pty(&sim_args(&sim, &["watch", "BTC/USDT", "--book"]), &[]);
    let text = common::cli::pty_output(master);
    let deadline = Instant::now() + Duration::from_secs(30);
    while text().matches("Ctrl-C to quit").count() < 3 {
        assert!(Instant::now() < deadline, "3 books:\n{}", text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    common::cli::ctrl_c_exits_cleanly(child, &text).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let out = text();
    assert!(out.contains("order book · nonce "), "{out}");
    assert!(
        out.contains('│') && out.contains('█'),
        "unicode ladder: {out}"
    );
    assert!(
        out.contains("\x1b[2K") || out.contains("\x1b[1A"),
        "redrawn in place"
    );
    let shown = out.rfind("\x1b[?25h").expect("the cursor shown again");
    assert!(
        shown > out.rfind("Ctrl-C to quit").unwrap(),
        "after the last book"
    );
    assert!(!out.contains("error"), "{out}");
}
