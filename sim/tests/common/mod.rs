//! Helpers of the venue websocket tests: a websocket client reading JSON with a deadline, a
//! local book kept from absolute-size updates, an independent CRC32 (bitwise, not the
//! simulator's table-driven crate) and a comparison of message shapes with the fixtures.
#![allow(dead_code, reason = "each test file uses a part")]

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const PATIENCE: Duration = Duration::from_secs(10);

pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    pub async fn connect(url: &str) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket connect");
        Client { ws }
    }

    pub async fn send(&mut self, text: &str) {
        self.ws
            .send(Message::text(text.to_string()))
            .await
            .expect("send");
    }

    /// The close frame's code once the connection ends (texts before it skipped); None if it
    /// ended without one.
    pub async fn close_code(&mut self) -> Option<u16> {
        loop {
            match timeout(PATIENCE, self.ws.next())
                .await
                .expect("an end in time")
            {
                Some(Ok(Message::Close(f))) => return f.map(|f| u16::from(f.code)),
                None | Some(Err(_)) => return None,
                Some(Ok(_)) => {}
            }
        }
    }

    /// The next text message (pings are answered by tungstenite), or None when the
    /// connection ended.
    pub async fn next_text(&mut self) -> Option<String> {
        loop {
            match timeout(PATIENCE, self.ws.next())
                .await
                .expect("a message in time")
            {
                Some(Ok(Message::Text(t))) => return Some(t.to_string()),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => {}
            }
        }
    }

    pub async fn next_json(&mut self) -> Value {
        let t = self.next_text().await.expect("connection open");
        serde_json::from_str(&t).unwrap_or_else(|e| panic!("{e}: {t}"))
    }

    /// The next message for which `pick` is true (others are skipped).
    pub async fn next_where(&mut self, pick: impl Fn(&Value) -> bool) -> Value {
        loop {
            let v = self.next_json().await;
            if pick(&v) {
                return v;
            }
        }
    }

    /// Texts that arrive until `d` passes without one.
    pub async fn drain_text(&mut self, d: Duration) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(Some(Ok(m))) = timeout(d, self.ws.next()).await {
            if let Message::Text(t) = m {
                out.push(t.to_string());
            }
        }
        out
    }

    /// Messages that arrive within `d` (then quiet).
    pub async fn drain(&mut self, d: Duration) -> Vec<Value> {
        let mut out = Vec::new();
        while let Ok(Some(Ok(m))) = timeout(d, self.ws.next()).await {
            if let Message::Text(t) = m {
                out.push(serde_json::from_str(&t).expect("json"));
            }
        }
        out
    }
}

/// Bitwise CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320).
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// A decimal string as an integer of 1e-8 (exact; the simulator's values have ≤ 8 decimals).
pub fn units(s: &str) -> u64 {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    assert!(frac.len() <= 8, "{s}");
    let frac = format!("{frac:0<8}");
    int.parse::<u64>().expect("int") * 100_000_000 + frac.parse::<u64>().expect("frac")
}

/// One side of a local book: price (units) → (price, size) strings as received.
#[derive(Default, Debug, Clone)]
pub struct Side {
    pub levels: BTreeMap<u64, (String, String)>,
    pub bids: bool,
}

impl Side {
    pub fn new(bids: bool) -> Side {
        Side {
            levels: BTreeMap::new(),
            bids,
        }
    }

    /// Absolute size at `px`; 0 removes the level.
    pub fn apply(&mut self, px: &str, sz: &str) {
        if units(sz) == 0 {
            self.levels.remove(&units(px));
        } else {
            self.levels
                .insert(units(px), (px.to_string(), sz.to_string()));
        }
    }

    /// Best first.
    pub fn best(&self) -> Vec<(String, String)> {
        if self.bids {
            self.levels.values().rev().cloned().collect()
        } else {
            self.levels.values().cloned().collect()
        }
    }

    /// Keeps the best `depth` levels.
    pub fn truncate(&mut self, depth: usize) {
        while self.levels.len() > depth {
            let worst = if self.bids {
                self.levels.keys().next().copied()
            } else {
                self.levels.keys().next_back().copied()
            };
            if let Some(k) = worst {
                self.levels.remove(&k);
            }
        }
    }

    /// Trailing zeros dropped, to compare with the simulator's canonical strings.
    pub fn canonical(&self) -> Vec<(String, String)> {
        self.best()
            .into_iter()
            .map(|(p, q)| (trim(&p), trim(&q)))
            .collect()
    }
}

pub fn trim(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

/// JSON type name, to compare shapes.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Panics unless `got` has the fixture's shape: the same keys (every fixture key present, no
/// key the fixture lacks), each value of the same JSON type, arrays compared by their first
/// element.
pub fn same_shape(fixture: &Value, got: &Value, path: &str) {
    assert_eq!(kind(fixture), kind(got), "{path}: {got}");
    match (fixture, got) {
        (Value::Object(f), Value::Object(g)) => {
            let fk: Vec<&String> = f.keys().collect();
            let gk: Vec<&String> = g.keys().collect();
            let mut fs = fk.clone();
            let mut gs = gk.clone();
            fs.sort();
            gs.sort();
            assert_eq!(fs, gs, "{path}: keys");
            for (k, fv) in f {
                same_shape(fv, &g[k], &format!("{path}.{k}"));
            }
        }
        (Value::Array(f), Value::Array(g)) => {
            if let (Some(a), Some(b)) = (f.first(), g.first()) {
                same_shape(a, b, &format!("{path}[0]"));
            }
        }
        _ => {}
    }
}

/// A fixture of `sim/fixtures/<venue>/ws/`.
pub fn fixture(venue: &str, name: &str) -> Value {
    let path = format!("{}/fixtures/{venue}/ws/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).expect("fixture json")
}

/// POST a JSON body to the simulator (a control route); the status and body.
pub fn post(addr: std::net::SocketAddr, path: &str, body: &str) -> (u16, Value) {
    http(addr, "POST", path, body)
}

/// GET from the simulator; the status and body.
pub fn get(addr: std::net::SocketAddr, path: &str) -> (u16, Value) {
    http(addr, "GET", path, "")
}

fn http(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> (u16, Value) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(PATIENCE)).expect("timeout");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}
