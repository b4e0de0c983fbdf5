//! Websocket market streams over real sockets, with tokio-tungstenite as the client.
//!
//! Timing assertions use generous bounds (the machine running them is shared and loaded);
//! control messages are paced under Binance's 5 per second like a well-behaved client.

use crypto_market_sim::{SimConfig, SimHandle, Simulator, WsIntervals};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout, Instant};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Long enough for anything on a loaded machine; only reached when something is broken.
const PATIENCE: Duration = Duration::from_secs(10);

macro_rules! ws_fixture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/binance/ws/",
            $name
        ))
    };
}

/// Fast streams so tests need not wait a second per update.
fn fast() -> SimConfig {
    SimConfig {
        ws_ticker_interval_ms: 100,
        ws_book_ticker_interval_ms: 100,
        ws_kline_interval_ms: 100,
        ..SimConfig::default()
    }
}

/// A client connection that keeps under the 5-messages-per-second limit when sending.
struct Client {
    ws: Ws,
    sent: VecDeque<Instant>,
    next_id: i64,
}

/// What the client read next.
#[derive(Debug)]
enum Got {
    Json(Value),
    Ping(Vec<u8>),
    Close(Option<u16>),
    /// The stream ended or failed (after a close frame, or without one).
    End(#[allow(dead_code, reason = "shown by Debug when an assertion fails")] String),
}

impl Client {
    async fn connect(url: &str) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .unwrap_or_else(|e| panic!("connect {url}: {e}"));
        Client {
            ws,
            sent: VecDeque::new(),
            next_id: 1,
        }
    }

    /// Waits until sending keeps the last second at ≤ 5 messages (with a margin).
    async fn pace(&mut self) {
        let window = Duration::from_millis(1100);
        while self.sent.len() >= 5 {
            let oldest = self.sent[self.sent.len() - 5];
            if oldest.elapsed() >= window {
                break;
            }
            sleep(window - oldest.elapsed()).await;
        }
        self.sent.push_back(Instant::now());
        if self.sent.len() > 10 {
            self.sent.pop_front();
        }
    }

    async fn send_raw(&mut self, text: String) {
        self.ws
            .send(Message::text(text))
            .await
            .expect("send control frame");
    }

    /// Sends `{"method", "params", "id"}` (paced) and returns the id used.
    async fn request(&mut self, method: &str, params: Option<Value>) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        let mut req = json!({ "method": method, "id": id });
        if let Some(p) = params {
            req["params"] = p;
        }
        self.pace().await;
        self.send_raw(req.to_string()).await;
        id
    }

    /// The reply to request `id`, skipping stream events.
    async fn reply(&mut self, id: i64) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv(left).await {
                Some(Got::Json(v)) if v.get("id") == Some(&json!(id)) => return v,
                Some(Got::Json(_) | Got::Ping(_)) => {}
                other => panic!("no reply to {id}: {other:?}"),
            }
        }
    }

    async fn call(&mut self, method: &str, params: Option<Value>) -> Value {
        let id = self.request(method, params).await;
        self.reply(id).await
    }

    /// The next message within `within`, or None on timeout.
    async fn recv(&mut self, within: Duration) -> Option<Got> {
        loop {
            let msg = match timeout(within, self.ws.next()).await {
                Err(_) => return None,
                Ok(m) => m,
            };
            return Some(match msg {
                None => Got::End("stream ended".into()),
                Some(Err(e)) => Got::End(e.to_string()),
                Some(Ok(Message::Text(t))) => Got::Json(
                    serde_json::from_str(t.as_str()).unwrap_or_else(|e| panic!("{e}: {t}")),
                ),
                Some(Ok(Message::Ping(p))) => Got::Ping(p.to_vec()),
                Some(Ok(Message::Close(f))) => Got::Close(f.map(|f| u16::from(f.code))),
                Some(Ok(Message::Pong(_) | Message::Binary(_) | Message::Frame(_))) => continue,
            });
        }
    }

    /// The next JSON message (pings skipped); panics if the connection ends or nothing comes.
    async fn next_json(&mut self) -> Value {
        loop {
            match self.recv(PATIENCE).await {
                Some(Got::Json(v)) => return v,
                Some(Got::Ping(_)) => {}
                other => panic!("expected a message, got {other:?}"),
            }
        }
    }

    /// Everything received for `d` (JSON only), stopping early if the connection ends.
    async fn collect_for(&mut self, d: Duration) -> Vec<Value> {
        let end = Instant::now() + d;
        let mut out = Vec::new();
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return out;
            }
            match self.recv(left).await {
                Some(Got::Json(v)) => out.push(v),
                Some(Got::Ping(_)) => {}
                None => return out,
                Some(other) => panic!("connection ended while collecting: {other:?}"),
            }
        }
    }

    /// Reads until the connection ends; returns the close code if a close frame came first.
    /// After a close frame it reads on, so tungstenite sends its reply and sees the end.
    async fn until_end(&mut self, within: Duration) -> Result<Option<u16>, String> {
        let deadline = Instant::now() + within;
        let mut code = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv(left).await {
                None if code.is_some() => return Err("no end after the close frame".into()),
                None => return Err("still open".into()),
                Some(Got::Close(c)) => code = Some(c),
                Some(Got::End(_)) => return Ok(code.flatten()),
                Some(Got::Json(_) | Got::Ping(_)) => {}
            }
        }
    }
}

/// A bare HTTP/1.1 request (Connection: close) → (status, JSON body or Null).
async fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    timeout(PATIENCE, s.read_to_end(&mut raw))
        .await
        .expect("HTTP answer in time")
        .expect("read");
    let raw = String::from_utf8(raw).expect("utf-8");
    let (head, body) = raw.split_once("\r\n\r\n").expect("HTTP head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// The upgrade's HTTP status when the server refuses it.
async fn refused_status(url: &str) -> u16 {
    match tokio_tungstenite::connect_async(url).await {
        Err(WsError::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("expected an HTTP refusal, got {e}"),
        Ok(_) => panic!("expected {url} to be refused"),
    }
}

/// Polls `f` until true (the connection ends asynchronously on the server side).
async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(20)).await;
    }
}

/// JSON kind of a value, for comparing field types with the fixtures.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "integer",
        Value::Bool(_) => "bool",
        Value::Null => "null",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Same keys with the same value kinds, recursively (key order is checked by the unit tests).
fn assert_same_fields(got: &Value, fixture: &Value, what: &str) {
    let (g, f) = (got.as_object().unwrap(), fixture.as_object().unwrap());
    let mut gk: Vec<&String> = g.keys().collect();
    let mut fk: Vec<&String> = f.keys().collect();
    gk.sort();
    fk.sort();
    assert_eq!(gk, fk, "{what}: field set");
    for (k, fv) in f {
        assert_eq!(kind(&g[k]), kind(fv), "{what}: type of {k}");
        if fv.is_object() {
            assert_same_fields(&g[k], fv, what);
        }
    }
}

fn fixture(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn rest_at(sim: &SimHandle, endpoint: &str, query: &str, at_ms: u64) -> Value {
    serde_json::from_str(&sim.rest_body_at(endpoint, query, at_ms).unwrap()).unwrap()
}

fn conn_stats(sim: &SimHandle) -> Vec<crypto_market_sim::WsConnectionStats> {
    sim.ws_stats().connections
}

#[tokio::test]
async fn payloads_have_the_fixture_fields_and_the_rest_values() {
    // A one-minute walk step: REST fetched around an event sees the event's prices.
    let sim = Simulator::start(SimConfig {
        tick_ms: 60_000,
        ..fast()
    })
    .unwrap();
    let a = sim.addr();
    let (_, before) = http(a, "GET", "/api/v3/ticker/24hr?symbol=BTCUSDT", "").await;
    let streams = [
        "btcusdt@ticker",
        "btcusdt@miniTicker",
        "btcusdt@bookTicker",
        "btcusdt@trade",
        "btcusdt@aggTrade",
        "btcusdt@kline_1m",
    ];
    let mut c = Client::connect(&format!(
        "{}/stream?streams={}",
        sim.ws_url(),
        streams.join("/")
    ))
    .await;
    let mut seen: HashMap<String, Value> = HashMap::new();
    while seen.len() < streams.len() {
        let v = c.next_json().await;
        let stream = v["stream"].as_str().expect("combined envelope").to_string();
        assert!(streams.contains(&stream.as_str()), "{stream}");
        seen.entry(stream).or_insert(v["data"].clone());
    }
    let (_, after) = http(a, "GET", "/api/v3/ticker/24hr?symbol=BTCUSDT", "").await;
    for (stream, file) in [
        ("btcusdt@ticker", ws_fixture!("ticker.json")),
        ("btcusdt@miniTicker", ws_fixture!("miniTicker.json")),
        ("btcusdt@bookTicker", ws_fixture!("bookTicker.json")),
        ("btcusdt@trade", ws_fixture!("trade.json")),
        ("btcusdt@aggTrade", ws_fixture!("aggTrade.json")),
        ("btcusdt@kline_1m", ws_fixture!("kline_1m.json")),
    ] {
        assert_same_fields(&seen[stream], &fixture(file), stream);
    }

    // @ticker: every value equals REST's at the event time E, and the live REST answers around
    // it (same walk step) agree on the prices.
    let t = &seen["btcusdt@ticker"];
    let e = t["E"].as_u64().unwrap();
    let rest = rest_at(&sim, "ticker/24hr", "symbol=BTCUSDT", e);
    for (ws, r) in [
        ("p", "priceChange"),
        ("P", "priceChangePercent"),
        ("w", "weightedAvgPrice"),
        ("x", "prevClosePrice"),
        ("c", "lastPrice"),
        ("Q", "lastQty"),
        ("b", "bidPrice"),
        ("B", "bidQty"),
        ("a", "askPrice"),
        ("A", "askQty"),
        ("o", "openPrice"),
        ("h", "highPrice"),
        ("l", "lowPrice"),
        ("v", "volume"),
        ("q", "quoteVolume"),
        ("O", "openTime"),
        ("C", "closeTime"),
        ("F", "firstId"),
        ("L", "lastId"),
        ("n", "count"),
    ] {
        assert_eq!(t[ws], rest[r], "@ticker {ws} vs REST {r}");
    }
    assert!(before["closeTime"].as_u64() <= Some(e) && Some(e) <= after["closeTime"].as_u64());
    for (ws, r) in [
        ("c", "lastPrice"),
        ("b", "bidPrice"),
        ("a", "askPrice"),
        ("o", "openPrice"),
    ] {
        // Equal to one of them: both unless a walk step boundary fell in between.
        assert!(
            t[ws] == before[r] || t[ws] == after[r],
            "{ws}: {} not in {{{}, {}}}",
            t[ws],
            before[r],
            after[r]
        );
    }
    let mini = &seen["btcusdt@miniTicker"];
    let rest = rest_at(
        &sim,
        "ticker/24hr",
        "symbol=BTCUSDT",
        mini["E"].as_u64().unwrap(),
    );
    assert_eq!(mini["c"], rest["lastPrice"]);
    assert_eq!(mini["v"], rest["volume"]);

    // @bookTicker: `u` is the walk step, so REST's bookTicker at that step's time matches.
    let bt = &seen["btcusdt@bookTicker"];
    let step_time = bt["u"].as_u64().unwrap() * 60_000;
    let rest = rest_at(&sim, "ticker/bookTicker", "symbol=BTCUSDT", step_time);
    assert_eq!(
        (&bt["b"], &bt["B"], &bt["a"], &bt["A"]),
        (
            &rest["bidPrice"],
            &rest["bidQty"],
            &rest["askPrice"],
            &rest["askQty"]
        )
    );

    // @trade / @aggTrade: the tape's trade with that id.
    for stream in ["btcusdt@trade", "btcusdt@aggTrade"] {
        let tr = &seen[stream];
        let id = tr[if stream.ends_with("@trade") { "t" } else { "a" }]
            .as_u64()
            .unwrap();
        let rest = rest_at(
            &sim,
            "historicalTrades",
            &format!("symbol=BTCUSDT&fromId={id}&limit=1"),
            tr["E"].as_u64().unwrap(),
        );
        assert_eq!(
            (&tr["p"], &tr["q"], &tr["T"], &tr["m"]),
            (
                &rest[0]["price"],
                &rest[0]["qty"],
                &rest[0]["time"],
                &rest[0]["isBuyerMaker"]
            ),
            "{stream}"
        );
        assert!(tr["T"].as_u64() <= tr["E"].as_u64());
    }

    // @kline_1m: REST's open candle at E.
    let k = &seen["btcusdt@kline_1m"];
    let rest = rest_at(
        &sim,
        "klines",
        "symbol=BTCUSDT&interval=1m&limit=1",
        k["E"].as_u64().unwrap(),
    );
    let row = &rest[0];
    let kk = &k["k"];
    assert_eq!(
        (&kk["t"], &kk["o"], &kk["h"], &kk["l"], &kk["c"], &kk["v"]),
        (&row[0], &row[1], &row[2], &row[3], &row[4], &row[5])
    );
    assert_eq!(
        (&kk["T"], &kk["n"], &kk["i"]),
        (&row[6], &row[8], &json!("1m"))
    );
}

#[tokio::test]
async fn raw_endpoint_sends_bare_events_and_microseconds_on_request() {
    let sim = Simulator::start(fast()).unwrap();
    let mut c = Client::connect(&format!("{}/ws/ethusdt@ticker", sim.ws_url())).await;
    let v = c.next_json().await;
    assert_eq!(
        (v["e"].as_str(), v["s"].as_str()),
        (Some("24hrTicker"), Some("ETHUSDT"))
    );
    assert!(v.get("stream").is_none());
    let e = v["E"].as_u64().unwrap();
    assert!(
        (1_600_000_000_000..4_000_000_000_000).contains(&e),
        "ms: {e}"
    );

    let mut us = Client::connect(&format!(
        "{}/ws/ethusdt@ticker/ethusdt@trade?timeUnit=MICROSECOND",
        sim.ws_url()
    ))
    .await;
    let v = us.next_json().await;
    let e = v["E"].as_u64().unwrap();
    assert!(e > 1_600_000_000_000_000, "µs: {e}");
    let t = if v["e"] == "trade" { "T" } else { "C" };
    assert!(v[t].as_u64().unwrap() > 1_600_000_000_000_000);
    let mut lower = Client::connect(&format!(
        "{}/ws/ethusdt@ticker?timeUnit=microsecond",
        sim.ws_url()
    ))
    .await;
    assert!(lower.next_json().await["E"].as_u64().unwrap() > 1_600_000_000_000_000);

    // Malformed URLs are refused before the upgrade.
    for path in [
        "/ws/BTCUSDT@ticker",
        "/ws/btcusdt@depth5",
        "/stream?streams=btcusdt@ticker/btcusdt@kline_2m",
        "/ws/btcusdt@ticker?timeUnit=NANOSECOND",
    ] {
        assert_eq!(
            refused_status(&format!("{}{path}", sim.ws_url())).await,
            400,
            "{path}"
        );
    }
}

#[tokio::test]
async fn subscribe_unsubscribe_and_list_subscriptions() {
    let sim = Simulator::start(fast()).unwrap();
    let mut c = Client::connect(&format!("{}/ws", sim.ws_url())).await;
    assert_eq!(
        c.call("LIST_SUBSCRIPTIONS", None).await,
        json!({"result": [], "id": 1})
    );
    let id = c
        .request(
            "SUBSCRIBE",
            Some(json!([
                "btcusdt@ticker",
                "ethusdt@bookTicker",
                "nopeusdt@ticker"
            ])),
        )
        .await;
    // The reply comes before the new streams' events.
    assert_eq!(c.next_json().await, json!({"result": null, "id": id}));
    let mut kinds = HashMap::new();
    while kinds.len() < 2 {
        let v = c.next_json().await;
        let key = v["e"].as_str().unwrap_or("bookTicker").to_string();
        assert_ne!(v["s"], "NOPEUSDT", "unknown symbols send nothing");
        kinds.insert(key, v);
    }
    assert_eq!(kinds["24hrTicker"]["s"], "BTCUSDT");
    assert_eq!(kinds["bookTicker"]["s"], "ETHUSDT");
    // String ids are echoed.
    c.pace().await;
    c.send_raw(r#"{"method":"LIST_SUBSCRIPTIONS","id":"abc1"}"#.into())
        .await;
    let list = loop {
        let v = c.next_json().await;
        if v["id"] == "abc1" {
            break v;
        }
    };
    assert_eq!(
        list,
        json!({"result": ["btcusdt@ticker", "ethusdt@bookTicker", "nopeusdt@ticker"], "id": "abc1"})
    );
    assert_eq!(
        c.call(
            "UNSUBSCRIBE",
            Some(json!(["btcusdt@ticker", "nopeusdt@ticker"]))
        )
        .await["result"],
        Value::Null
    );
    let list = c.call("LIST_SUBSCRIPTIONS", None).await;
    assert_eq!(list["result"], json!(["ethusdt@bookTicker"]));
    // Frames already queued may still arrive; after that, no more tickers.
    c.collect_for(Duration::from_millis(300)).await;
    let later = c.collect_for(Duration::from_millis(600)).await;
    assert!(later.iter().all(|v| v["e"] != "24hrTicker"), "{later:?}");
    assert!(later.iter().any(|v| v["s"] == "ETHUSDT"));

    // A malformed name: error reply with the id, nothing subscribed.
    let r = c
        .call(
            "SUBSCRIBE",
            Some(json!(["btcusdt@trade", "btcusdt@nonsense"])),
        )
        .await;
    assert_eq!(r["code"], 2);
    assert!(
        r["msg"].as_str().unwrap().starts_with("Invalid request: "),
        "{r}"
    );
    let r = c.call("SUBSCRIBE", Some(json!(["BTCUSDT@trade"]))).await;
    assert_eq!(r["code"], 2);
    let r = c.call("NOT_A_METHOD", None).await;
    assert_eq!(r["code"], 2);
    c.pace().await;
    c.send_raw("{not json".into()).await;
    let r = loop {
        let v = c.next_json().await;
        if v.get("code").is_some() {
            break v;
        }
    };
    assert_eq!(r["code"], 3);
    assert_eq!(
        c.call("LIST_SUBSCRIPTIONS", None).await["result"],
        json!(["ethusdt@bookTicker"])
    );
    let stats = conn_stats(&sim);
    assert_eq!(stats.len(), 1);
    assert_eq!(stats[0].subscriptions, ["ethusdt@bookTicker"]);
    assert!(stats[0].max_control_per_sec <= 5);
    assert!(stats[0].messages_sent > 10);
}

#[tokio::test]
async fn combined_envelope_on_stream_endpoints() {
    let sim = Simulator::start(fast()).unwrap();
    let mut c = Client::connect(&format!("{}/stream?streams=btcusdt@trade", sim.ws_url())).await;
    let v = c.next_json().await;
    assert_eq!(v["stream"], "btcusdt@trade");
    assert_eq!(v["data"]["e"], "trade");
    assert_eq!(v["data"]["s"], "BTCUSDT");

    // Bare /stream: subscribe later, frames still wrapped; SET_PROPERTY combined=false unwraps.
    let mut c = Client::connect(&format!("{}/stream", sim.ws_url())).await;
    assert_eq!(
        c.call("GET_PROPERTY", Some(json!(["combined"]))).await,
        json!({"result": true, "id": 1})
    );
    c.call("SUBSCRIBE", Some(json!(["solusdt@miniTicker"])))
        .await;
    let v = c.next_json().await;
    assert_eq!(v["stream"], "solusdt@miniTicker");
    assert_eq!(v["data"]["e"], "24hrMiniTicker");
    c.call("SET_PROPERTY", Some(json!(["combined", false])))
        .await;
    c.collect_for(Duration::from_millis(150)).await;
    let v = c.next_json().await;
    assert_eq!(v["e"], "24hrMiniTicker");
}

#[tokio::test]
async fn six_messages_within_a_second_disconnect_five_do_not() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let url = format!("{}/ws", sim.ws_url());

    let mut five = Client::connect(&url).await;
    for id in 1..=5 {
        five.send_raw(json!({"method": "LIST_SUBSCRIPTIONS", "id": id}).to_string())
            .await;
    }
    for id in 1..=5 {
        assert_eq!(five.reply(id).await["result"], json!([]));
    }
    sleep(Duration::from_millis(1100)).await;
    five.send_raw(r#"{"method":"LIST_SUBSCRIPTIONS","id":6}"#.into())
        .await;
    assert_eq!(five.reply(6).await["id"], 6, "still connected");
    let s = &conn_stats(&sim)[0];
    assert_eq!((s.control_received, s.max_control_per_sec), (6, 5));

    let mut six = Client::connect(&url).await;
    for id in 1..=6 {
        six.send_raw(json!({"method": "LIST_SUBSCRIPTIONS", "id": id}).to_string())
            .await;
    }
    let code = six.until_end(PATIENCE).await.expect("disconnected");
    assert_eq!(code, Some(1008));
    eventually("the over-limit connection to go", || {
        sim.ws_stats().open == 1
    })
    .await;
    // A ping counts as a message too.
    let mut pings = Client::connect(&url).await;
    for _ in 0..6 {
        pings.ws.send(Message::Ping(vec![1].into())).await.unwrap();
    }
    assert!(pings.until_end(PATIENCE).await.is_ok());
    eventually("both over-limit connections closed", || {
        sim.ws_stats().closed.len() == 2
    })
    .await;
    let stats = sim.ws_stats();
    assert_eq!(stats.rate_limit_closes, 2);
    assert_eq!(stats.max_control_per_sec_any, 6);
    assert!(stats.closed.iter().all(|c| c.max_control_per_sec == 6
        && c.end.as_deref() == Some("close frame sent (Too many requests)")));
    assert_eq!(stats.connections[0].max_control_per_sec, 5);
}

#[tokio::test]
async fn at_most_1024_streams_per_connection() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let names: Vec<String> = (0..1024).map(|i| format!("x{i}usdt@trade")).collect();
    let mut c = Client::connect(&format!("{}/ws", sim.ws_url())).await;
    assert_eq!(
        c.call("SUBSCRIBE", Some(json!(names))).await,
        json!({"result": null, "id": 1})
    );
    let r = c
        .call("SUBSCRIBE", Some(json!(["btcusdt@trade", "x1usdt@trade"])))
        .await;
    assert_eq!(r["code"], 2);
    assert!(r["msg"].as_str().unwrap().contains("1024"), "{r}");
    assert_eq!(r["id"], 2);
    let list = c.call("LIST_SUBSCRIPTIONS", None).await;
    assert_eq!(list["result"].as_array().unwrap().len(), 1024);
    assert!(!list["result"]
        .as_array()
        .unwrap()
        .contains(&json!("btcusdt@trade")));
    // Re-subscribing streams already there is not "more".
    let r = c.call("SUBSCRIBE", Some(json!(["x5usdt@trade"]))).await;
    assert_eq!(r["result"], Value::Null);

    // One SUBSCRIBE of 1025 on a fresh connection: refused whole.
    let mut d = Client::connect(&format!("{}/ws", sim.ws_url())).await;
    let mut more = names.clone();
    more.push("btcusdt@trade".into());
    let r = d.call("SUBSCRIBE", Some(json!(more))).await;
    assert_eq!(r["code"], 2);
    assert_eq!(
        d.call("LIST_SUBSCRIPTIONS", None).await["result"],
        json!([])
    );
}

#[tokio::test]
async fn drop_connections_with_and_without_close_frame() {
    let sim = Simulator::start(fast()).unwrap();
    let url = format!("{}/ws/btcusdt@ticker", sim.ws_url());
    let mut a = Client::connect(&url).await;
    let mut b = Client::connect(&url).await;
    a.next_json().await;
    b.next_json().await;
    assert_eq!(sim.ws_drop_connections(false), 2);
    for c in [&mut a, &mut b] {
        assert_eq!(c.until_end(PATIENCE).await, Ok(None), "no close frame");
    }
    eventually("no open connection", || sim.ws_stats().open == 0).await;

    // Reconnecting works; dropping with a close frame sends 1001.
    let mut c = Client::connect(&url).await;
    c.next_json().await;
    let (status, v) = http(
        sim.addr(),
        "POST",
        "/__sim/ws/drop",
        r#"{"close_frame": true}"#,
    )
    .await;
    assert_eq!((status, v), (200, json!({"dropped": 1})));
    assert_eq!(c.until_end(PATIENCE).await, Ok(Some(1001)));
    // Over HTTP without a body: abrupt.
    let mut d = Client::connect(&url).await;
    d.next_json().await;
    assert_eq!(
        http(sim.addr(), "POST", "/__sim/ws/drop", "").await.1["dropped"],
        1
    );
    assert_eq!(d.until_end(PATIENCE).await, Ok(None));
    eventually("4 closed", || sim.ws_stats().closed.len() == 4).await;
    let stats = sim.ws_stats();
    assert_eq!(stats.accepted_total, 4);
    let ends: Vec<&str> = stats
        .closed
        .iter()
        .filter_map(|c| c.end.as_deref())
        .collect();
    assert_eq!(
        ends.iter()
            .filter(|e| **e == "dropped without close frame")
            .count(),
        3,
        "{ends:?}"
    );
    assert!(stats
        .closed
        .iter()
        .all(|c| c.closed_at_ms >= Some(c.connected_at_ms)));
}

#[tokio::test]
async fn refused_connections_get_503_until_the_time_is_up() {
    let sim = Simulator::start(fast()).unwrap();
    let url = format!("{}/ws/btcusdt@ticker", sim.ws_url());
    let mut open = Client::connect(&url).await;
    sim.ws_refuse_connections_for(Duration::from_millis(1500));
    let refused_at = Instant::now();
    assert_eq!(refused_status(&url).await, 503);
    let stats = sim.ws_stats();
    assert_eq!(stats.refused_total, 1);
    assert!(stats.refusing_until_ms.is_some());
    // Open connections keep streaming.
    open.next_json().await;
    sleep(Duration::from_millis(1550).saturating_sub(refused_at.elapsed())).await;
    Client::connect(&url).await.next_json().await;

    // Over HTTP, and 0 lifts the refusal.
    let (status, v) = http(sim.addr(), "POST", "/__sim/ws/refuse", r#"{"ms": 60000}"#).await;
    assert_eq!(status, 200);
    assert!(v["refusing_until_ms"].as_u64().is_some());
    assert_eq!(refused_status(&url).await, 503);
    http(sim.addr(), "POST", "/__sim/ws/refuse", r#"{"ms": 0}"#).await;
    Client::connect(&url).await.next_json().await;
    // reset() also lifts it.
    sim.ws_refuse_connections_for(Duration::from_secs(60));
    sim.reset();
    Client::connect(&url).await.next_json().await;
}

#[tokio::test]
async fn a_stalled_stream_goes_silent_while_others_and_pings_go_on() {
    let sim = Simulator::start(SimConfig {
        ws_ping_interval_ms: 300,
        ..fast()
    })
    .unwrap();
    let mut c = Client::connect(&format!(
        "{}/stream?streams=btcusdt@ticker/ethusdt@ticker",
        sim.ws_url()
    ))
    .await;
    c.next_json().await;
    sim.ws_stall_stream("btcusdt@ticker").unwrap();
    assert!(sim.ws_stall_stream("not a stream").is_err());
    c.collect_for(Duration::from_millis(200)).await; // frames already queued
    let (mut btc, mut eth, mut pings) = (0, 0, 0);
    let end = Instant::now() + Duration::from_millis(1200);
    while let Some(got) = c.recv(end.saturating_duration_since(Instant::now())).await {
        match got {
            Got::Json(v) if v["stream"] == "btcusdt@ticker" => btc += 1,
            Got::Json(v) if v["stream"] == "ethusdt@ticker" => eth += 1,
            Got::Ping(_) => pings += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(btc, 0, "stalled");
    assert!(eth >= 3, "the other stream keeps ticking: {eth}");
    assert!(pings >= 1, "pings keep coming: {pings}");
    assert_eq!(sim.ws_stats().stalled, ["btcusdt@ticker"]);

    // Unstalled over HTTP: it resumes on the same connection.
    let (status, v) = http(
        sim.addr(),
        "POST",
        "/__sim/ws/unstall",
        r#"{"stream": "btcusdt@ticker"}"#,
    )
    .await;
    assert_eq!((status, v), (200, json!({"stalled": []})));
    let deadline = Instant::now() + PATIENCE;
    loop {
        assert!(Instant::now() < deadline, "btcusdt@ticker did not resume");
        if c.next_json().await["stream"] == "btcusdt@ticker" {
            break;
        }
    }
    let (status, _) = http(sim.addr(), "POST", "/__sim/ws/stall", r#"{"stream": "x"}"#).await;
    assert_eq!(status, 400);
    sim.ws_stall_stream("ethusdt@ticker").unwrap();
    sim.reset();
    assert!(sim.ws_stats().stalled.is_empty(), "reset clears stalls");
}

#[tokio::test]
async fn server_shutdown_event_then_close_after_the_grace() {
    let sim = Simulator::start(fast()).unwrap();
    let mut raw = Client::connect(&format!("{}/ws/btcusdt@ticker", sim.ws_url())).await;
    let mut combined =
        Client::connect(&format!("{}/stream?streams=btcusdt@ticker", sim.ws_url())).await;
    raw.next_json().await;
    combined.next_json().await;
    let grace = Duration::from_millis(500);
    assert_eq!(sim.ws_server_shutdown(Some(grace)), 2);
    let sent = Instant::now();

    let event = loop {
        let v = raw.next_json().await;
        if v["e"] == "serverShutdown" {
            break v;
        }
    };
    assert_eq!(event.as_object().unwrap().len(), 2);
    assert!(event["E"].as_u64().unwrap() > 1_600_000_000_000);
    let wrapped = loop {
        let v = combined.next_json().await;
        if v["stream"] == "!serverShutdown" {
            break v;
        }
    };
    assert_eq!(wrapped["data"]["e"], "serverShutdown");

    // New connections are accepted meanwhile, and stay.
    let mut fresh = Client::connect(&format!("{}/ws/ethusdt@ticker", sim.ws_url())).await;
    for c in [&mut raw, &mut combined] {
        assert_eq!(c.until_end(PATIENCE).await, Ok(Some(1001)));
    }
    let closed_after = sent.elapsed();
    assert!(
        closed_after >= grace - Duration::from_millis(50),
        "closed after {closed_after:?}"
    );
    assert!(closed_after < PATIENCE);
    fresh.next_json().await;
    eventually("one connection left", || sim.ws_stats().open == 1).await;

    // Over HTTP, with the configured grace.
    let (status, v) = http(sim.addr(), "POST", "/__sim/ws/shutdown", "").await;
    assert_eq!(
        (status, v),
        (200, json!({"connections": 1, "grace_ms": 1000}))
    );
    assert_eq!(fresh.until_end(PATIENCE).await, Ok(Some(1001)));
}

#[tokio::test]
async fn pings_arrive_and_only_echoing_clients_stay_connected() {
    let sim = Simulator::start(SimConfig {
        ws_ping_interval_ms: 300,
        ws_pong_timeout_ms: 900,
        ..SimConfig::default()
    })
    .unwrap();
    let url = format!("{}/ws", sim.ws_url());
    // Reads all the time, so tungstenite answers each ping with its payload.
    let mut good = Client::connect(&url).await;
    // Never reads (no automatic pongs), but sends pongs that echo nothing.
    let mut wrong = Client::connect(&url).await;
    // Never reads nor answers.
    let mut silent = Client::connect(&url).await;

    let start = Instant::now();
    let mut last_wrong = start;
    let mut pings = Vec::new();
    while start.elapsed() < Duration::from_millis(2000) {
        if let Some(Got::Ping(p)) = good.recv(Duration::from_millis(100)).await {
            pings.push(p);
        }
        if last_wrong.elapsed() >= Duration::from_millis(400) {
            last_wrong = Instant::now();
            // Fails once the server has dropped it, which is the point.
            let _ = wrong.ws.send(Message::Pong(b"nope".to_vec().into())).await;
        }
    }
    assert!(pings.len() >= 3, "pings: {}", pings.len());
    assert!(pings.iter().all(|p| !p.is_empty()));
    assert_eq!(
        good.call("LIST_SUBSCRIPTIONS", None).await["result"],
        json!([])
    );
    for c in [&mut wrong, &mut silent] {
        assert_eq!(c.until_end(PATIENCE).await, Ok(Some(1008)), "pong timeout");
    }
    eventually("both closed", || sim.ws_stats().closed.len() == 2).await;
    let stats = sim.ws_stats();
    assert_eq!((stats.open, stats.pong_timeout_closes), (1, 2));
    assert!(stats.connections[0].max_control_per_sec <= 5);
    assert!(stats.max_control_per_sec_any <= 5);
}

#[tokio::test]
async fn the_interval_control_changes_the_update_rate() {
    let sim = Simulator::start(SimConfig {
        ws_ticker_interval_ms: 500,
        ..SimConfig::default()
    })
    .unwrap();
    let mut c = Client::connect(&format!("{}/ws/btcusdt@ticker", sim.ws_url())).await;
    c.next_json().await;
    let slow = c.collect_for(Duration::from_millis(1500)).await.len();
    assert!((1..=5).contains(&slow), "500 ms interval: {slow} in 1.5 s");

    sim.set_ws_ticker_interval(50).unwrap();
    c.collect_for(Duration::from_millis(100)).await;
    let fast_n = c.collect_for(Duration::from_millis(1000)).await.len();
    assert!(fast_n >= 8, "50 ms interval: {fast_n} in 1 s");
    assert!(fast_n <= 25, "50 ms interval: {fast_n} in 1 s");
    assert!(sim.set_ws_ticker_interval(0).is_err());

    // Over HTTP: a partial body keeps the other intervals.
    let (status, v) = http(
        sim.addr(),
        "POST",
        "/__sim/ws/intervals",
        r#"{"ticker_ms": 1000}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        v,
        json!({"ticker_ms": 1000, "book_ticker_ms": 1000, "kline_ms": 2000})
    );
    c.collect_for(Duration::from_millis(100)).await;
    let n = c.collect_for(Duration::from_millis(1500)).await.len();
    assert!(n <= 3, "1000 ms interval: {n} in 1.5 s");
    assert_eq!(
        http(
            sim.addr(),
            "POST",
            "/__sim/ws/intervals",
            r#"{"ticker_ms": 5}"#
        )
        .await
        .0,
        400
    );
    assert_eq!(
        http(sim.addr(), "GET", "/__sim/ws/intervals", "").await.1,
        v
    );
    sim.set_ws_intervals(WsIntervals {
        ticker_ms: 20,
        book_ticker_ms: 20,
        kline_ms: 20,
    })
    .unwrap();
    sim.reset();
    assert_eq!(
        sim.ws_intervals().ticker_ms,
        500,
        "reset restores the configured rate"
    );
}

#[tokio::test]
async fn stats_over_http() {
    let sim = Simulator::start(fast()).unwrap();
    let mut c = Client::connect(&format!(
        "{}/stream?streams=btcusdt@ticker/btcusdt@kline_1m",
        sim.ws_url()
    ))
    .await;
    c.next_json().await;
    c.call("LIST_SUBSCRIPTIONS", None).await;
    let (status, v) = http(sim.addr(), "GET", "/__sim/ws/stats", "").await;
    assert_eq!(status, 200);
    assert_eq!(
        (v["accepted_total"].as_u64(), v["open"].as_u64()),
        (Some(1), Some(1))
    );
    let conn = &v["connections"][0];
    assert_eq!(conn["id"], 1);
    assert_eq!(conn["endpoint"], "/stream");
    assert_eq!(conn["combined"], true);
    assert_eq!(
        conn["subscriptions"],
        json!(["btcusdt@ticker", "btcusdt@kline_1m"])
    );
    assert_eq!(
        (
            conn["control_received"].as_u64(),
            conn["max_control_per_sec"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert!(conn["messages_sent"].as_u64().unwrap() >= 2);
    assert!(conn["connected_at_ms"].as_u64().unwrap() > 1_600_000_000_000);
    assert_eq!(v["refused_total"], 0);
    assert_eq!(v["refusing_until_ms"], Value::Null);
    assert_eq!(v["stalled"], json!([]));
    assert_eq!(v["intervals"]["ticker_ms"], 100);
}
