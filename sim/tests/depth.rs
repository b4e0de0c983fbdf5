//! The diff depth stream `<symbol>@depth@100ms` against REST `/api/v3/depth` and the true book:
//! a client following Binance's documented procedure holds exactly the simulator's book, and a
//! skipped event shows as a gap in `U`/`u`.

use crypto_market_sim::{SimConfig, SimHandle, Simulator};
use futures::StreamExt;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

const PATIENCE: Duration = Duration::from_secs(10);
const STREAM: &str = "btcusdt@depth@100ms";

/// Units of 1e-8, as the simulator keeps prices and sizes.
fn units(s: &str) -> u64 {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let frac = format!("{frac:0<8}");
    int.parse::<u64>().unwrap() * 100_000_000 + frac[..8].parse::<u64>().unwrap()
}

async fn get(sim: &SimHandle, path: &str) -> Value {
    let addr = sim.addr();
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    timeout(PATIENCE, s.read_to_end(&mut raw))
        .await
        .unwrap()
        .unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (_, body) = raw.split_once("\r\n\r\n").unwrap();
    serde_json::from_str(body).unwrap()
}

struct Side(BTreeMap<u64, u64>);

impl Side {
    fn from_rows(rows: &Value) -> Side {
        let mut s = Side(BTreeMap::new());
        s.apply(rows);
        s
    }
    fn apply(&mut self, rows: &Value) {
        for row in rows.as_array().unwrap() {
            let (p, q) = (
                units(row[0].as_str().unwrap()),
                units(row[1].as_str().unwrap()),
            );
            if q == 0 {
                self.0.remove(&p);
            } else {
                self.0.insert(p, q);
            }
        }
    }
}

async fn next_event(
    ws: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin),
) -> Value {
    loop {
        let msg = timeout(PATIENCE, ws.next())
            .await
            .expect("an event in time");
        if let Some(Ok(Message::Text(t))) = msg {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}

#[tokio::test]
async fn a_client_following_the_procedure_holds_the_true_book_and_sees_a_skip_as_a_gap() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let url = format!("{}/ws/{STREAM}", sim.ws_url());
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    // 1. Buffer, 2. snapshot, 3. drop u <= lastUpdateId, first kept U <= id + 1 <= u.
    let first = next_event(&mut ws).await;
    assert_eq!(first["e"], "depthUpdate");
    let snap = get(&sim, "/api/v3/depth?symbol=BTCUSDT&limit=5000").await;
    let id = snap["lastUpdateId"].as_u64().unwrap();
    assert!(
        first["U"].as_u64().unwrap() <= id + 1,
        "the snapshot is not older than the stream"
    );
    let (mut bids, mut asks) = (
        Side::from_rows(&snap["bids"]),
        Side::from_rows(&snap["asks"]),
    );
    let mut last_u = id;
    let mut ev = first;
    let mut applied = 0;
    while applied < 15 {
        let (big_u, u) = (ev["U"].as_u64().unwrap(), ev["u"].as_u64().unwrap());
        if u > id {
            if applied == 0 {
                assert!(
                    big_u <= id + 1 && id < u,
                    "first kept event {big_u}..={u} spans {}",
                    id + 1
                );
            } else {
                assert_eq!(big_u, last_u + 1, "events follow on");
            }
            bids.apply(&ev["b"]);
            asks.apply(&ev["a"]);
            last_u = u;
            applied += 1;
            let truth = sim.book_at("BTCUSDT", u, 5000).unwrap();
            let held_bids: Vec<(u64, u64)> = bids.0.iter().rev().map(|(p, q)| (*p, *q)).collect();
            let held_asks: Vec<(u64, u64)> = asks.0.iter().map(|(p, q)| (*p, *q)).collect();
            assert_eq!(held_bids, truth.bids, "bids after u={u}");
            assert_eq!(held_asks, truth.asks, "asks after u={u}");
        }
        ev = next_event(&mut ws).await;
    }
    // A skipped event: the next one starts past last u + 1.
    sim.ws_skip_update(STREAM).unwrap();
    assert!(
        sim.ws_skip_update("btcusdt@trade").is_err(),
        "only depth streams skip"
    );
    let mut prev = last_u;
    let gap = loop {
        let ev = next_event(&mut ws).await;
        let (big_u, u) = (ev["U"].as_u64().unwrap(), ev["u"].as_u64().unwrap());
        if big_u != prev + 1 {
            break big_u - prev - 1;
        }
        prev = u;
    };
    assert!(gap >= 1, "one event's updates are missing");
    assert!(sim.book_update_id() >= prev);
}
