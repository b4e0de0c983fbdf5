//! End-to-end tests over real HTTP (a minimal std-only client, so no extra dependencies).

use crypto_market_sim::{
    Faults, MarketChange, NewMarket, RequestRecord, RuntimeMarkets, SimConfig, Simulator,
};
use serde_json::Value;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

struct Resp {
    status: u16,
    headers: HashMap<String, String>,
    body: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect::<HashMap<_, _>>();
    assert!(
        !headers.contains_key("transfer-encoding"),
        "test client expects content-length"
    );
    Resp {
        status,
        headers,
        body: body.to_string(),
    }
}

fn get(addr: SocketAddr, path: &str) -> Resp {
    request(addr, "GET", path, "")
}

fn post(addr: SocketAddr, path: &str, body: &str) -> Resp {
    request(addr, "POST", path, body)
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Weight windows are calendar minutes; tests that assert exact used weight avoid the boundary.
fn avoid_minute_boundary() {
    let ms_into_minute = unix_ms() % 60_000;
    if ms_into_minute > 58_000 {
        std::thread::sleep(Duration::from_millis(60_500 - ms_into_minute));
    }
}

/// The time in "... IP banned until 1710328245391. ..." (Binance's -1003 ban message).
fn banned_until(msg: &str) -> u64 {
    let rest = msg
        .split("IP banned until ")
        .nth(1)
        .unwrap_or_else(|| panic!("no ban time in {msg}"));
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap()
}

#[test]
fn serves_binance_shapes_with_weight_headers() {
    let sim = Simulator::start(SimConfig {
        extra_symbols: 3,
        ..SimConfig::default()
    })
    .unwrap();
    let a = sim.addr();
    assert_eq!(sim.rest_url(), format!("http://{a}"));
    avoid_minute_boundary();

    let r = get(a, "/api/v3/ping");
    assert_eq!((r.status, r.body.as_str()), (200, "{}"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("x-mbx-used-weight-1m"), Some("1"));
    assert_eq!(r.header("x-mbx-used-weight"), Some("1"));

    let t = get(a, "/api/v3/time").json();
    assert!(t["serverTime"].as_u64().unwrap() > 1_700_000_000_000);

    let info = get(a, "/api/v3/exchangeInfo").json();
    assert_eq!(info["symbols"].as_array().unwrap().len(), 7);
    let one = get(a, "/api/v3/exchangeInfo?symbol=SIM0002USDT").json();
    assert_eq!(one["symbols"][0]["baseAsset"], "SIM0002");

    let k = get(a, "/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=3");
    assert_eq!(k.status, 200);
    let rows = k.json();
    assert_eq!(rows.as_array().unwrap().len(), 3);
    assert_eq!(rows[0].as_array().unwrap().len(), 12);
    // exchangeInfo 20 + ping 1 + time 1 + exchangeInfo 20 + klines 2
    assert_eq!(k.header("x-mbx-used-weight-1m"), Some("44"));

    let tick = get(
        a,
        "/api/v3/ticker/24hr?symbols=%5B%22BTCUSDT%22%2C%22ETHUSDT%22%5D",
    )
    .json();
    assert_eq!(tick.as_array().unwrap().len(), 2);
    let d = get(a, "/api/v3/depth?symbol=ETHUSDT&limit=5").json();
    assert_eq!(d["bids"].as_array().unwrap().len(), 5);
    assert_eq!(
        get(a, "/api/v3/aggTrades?symbol=SOLUSDT&limit=4")
            .json()
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert_eq!(
        get(a, "/api/v3/trades?symbol=SOLUSDT&limit=4")
            .json()
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert_eq!(
        get(a, "/api/v3/historicalTrades?symbol=SOLUSDT&limit=2")
            .json()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(get(a, "/api/v3/avgPrice?symbol=SOLUSDT").json()["mins"], 5);
    assert!(get(a, "/api/v3/ticker/bookTicker?symbol=BNBUSDT").json()["bidPrice"].is_string());

    let p = get(a, "/api/v3/ticker/price?symbol=BTCUSDT").json();
    let served: f64 = p["price"].as_str().unwrap().parse().unwrap();
    let now = sim.current_price("BTCUSDT").unwrap();
    assert!((served - now).abs() / now < 0.01);
    assert_eq!(sim.current_price("NOPE"), None);
}

#[test]
fn binance_errors() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let a = sim.addr();
    let r = get(a, "/api/v3/ticker/24hr?symbol=FOOBAR");
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        serde_json::json!({"code": -1121, "msg": "Invalid symbol."})
    );
    assert!(r.header("x-mbx-used-weight-1m").is_some());
    let r = get(a, "/api/v3/depth");
    assert_eq!((r.status, r.json()["code"].as_i64()), (400, Some(-1102)));
    let r = get(a, "/api/v3/klines?symbol=BTCUSDT&interval=9x");
    assert_eq!(
        r.json(),
        serde_json::json!({"code": -1120, "msg": "Invalid interval."})
    );
    let r = get(a, "/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=abc");
    assert_eq!((r.status, r.json()["code"].as_i64()), (400, Some(-1100)));
    assert_eq!(get(a, "/api/v3/noSuchThing").status, 404);
    assert_eq!(get(a, "/elsewhere").status, 404);
}

#[test]
fn counts_calls_and_records_last_responses() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let a = sim.addr();
    for _ in 0..3 {
        get(a, "/api/v3/klines?symbol=BTCUSDT&interval=1h&limit=2");
    }
    get(a, "/api/v3/klines?symbol=NOPE&interval=1h"); // failed calls count too
    let body = get(a, "/api/v3/depth?symbol=ETHUSDT&limit=3").body;
    get(a, "/api/v3/ping");
    assert_eq!(sim.calls("klines"), 4);
    assert_eq!(sim.calls("depth"), 1);
    assert_eq!(sim.total_calls(), 6);

    assert_eq!(
        sim.last_response_raw("depth", Some("ETHUSDT")).as_deref(),
        Some(body.as_str())
    );
    assert_eq!(
        sim.last_response("depth", Some("ETHUSDT")),
        serde_json::from_str(&body).ok()
    );
    assert_eq!(sim.last_response("ping", None), Some(serde_json::json!({})));
    assert!(sim.last_response("klines", Some("NOPE")).is_none());
    assert!(sim.last_response("depth", None).is_none());

    // Control routes are not counted.
    let c = get(a, "/__sim/calls").json();
    assert_eq!(c["total"], 6);
    assert_eq!(c["endpoints"]["klines"], 4);
    let last = get(a, "/__sim/last?endpoint=depth&symbol=ETHUSDT");
    assert_eq!((last.status, last.body.as_str()), (200, body.as_str()));
    assert_eq!(
        get(a, "/__sim/last?endpoint=trades&symbol=ETHUSDT").status,
        404
    );
    assert_eq!(request(a, "POST", "/__sim/calls/reset", "").status, 204);
    assert_eq!(sim.total_calls(), 0);
    get(a, "/api/v3/time");
    sim.reset_calls();
    assert_eq!(sim.calls("time"), 0);
}

#[test]
fn fault_injection() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let a = sim.addr();

    sim.set_faults(Faults {
        force_status: Some(429),
        retry_after_s: 7,
        ..Faults::default()
    });
    let r = get(a, "/api/v3/ping");
    assert_eq!((r.status, r.header("retry-after")), (429, Some("7")));
    assert_eq!(r.json()["code"], -1003);
    assert!(r.header("x-mbx-used-weight-1m").is_some());

    sim.set_faults(Faults {
        force_status: Some(418),
        ..Faults::default()
    });
    let r = get(a, "/api/v3/ping");
    assert_eq!((r.status, r.header("retry-after")), (418, Some("1")));
    assert!(r.json()["msg"]
        .as_str()
        .unwrap()
        .contains("IP banned until"));

    sim.set_faults(Faults {
        force_status: Some(503),
        endpoints: Some(vec!["klines".into()]),
        ..Faults::default()
    });
    let r = get(a, "/api/v3/klines?symbol=BTCUSDT&interval=1m");
    assert_eq!(r.status, 503);
    assert_eq!(
        r.json(),
        serde_json::json!({"code": -1000, "msg": "An unknown error occurred while processing the request."})
    );
    assert!(r.header("retry-after").is_none());
    assert_eq!(
        get(a, "/api/v3/ping").status,
        200,
        "filter spares other endpoints"
    );

    sim.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    for _ in 0..5 {
        assert!(matches!(get(a, "/api/v3/time").status, 500 | 503));
    }
    assert!(
        get(a, "/__sim/calls").status == 200,
        "control routes are never faulted"
    );

    sim.set_faults(Faults {
        latency_ms: 150,
        ..Faults::default()
    });
    let t0 = Instant::now();
    assert_eq!(get(a, "/api/v3/ping").status, 200);
    assert!(t0.elapsed() >= Duration::from_millis(150));

    // Runtime control over HTTP.
    let r = request(a, "POST", "/__sim/faults", r#"{"force_status": 502}"#);
    assert_eq!(r.status, 200);
    assert_eq!(sim.faults().force_status, Some(502));
    assert_eq!(get(a, "/api/v3/ping").status, 502);
    assert_eq!(get(a, "/__sim/faults").json()["force_status"], 502);
    assert_eq!(
        request(a, "POST", "/__sim/faults", r#"{"error_rate": 3}"#).status,
        400
    );
    assert_eq!(request(a, "POST", "/__sim/faults", "nope").status, 400);
    assert_eq!(request(a, "POST", "/__sim/reset", "").status, 204);
    assert_eq!(sim.faults(), Faults::default());
    assert_eq!(get(a, "/api/v3/ping").status, 200);
}

#[test]
fn weight_limit_gives_429_then_418() {
    let sim = Simulator::start(SimConfig {
        weight_limit: 4,
        ..SimConfig::default()
    })
    .unwrap();
    let a = sim.addr();
    avoid_minute_boundary();
    for i in 1..=4 {
        let r = get(a, "/api/v3/ping");
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("x-mbx-used-weight-1m"),
            Some(i.to_string().as_str())
        );
    }
    let r = get(a, "/api/v3/ping");
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
    assert!(r.json()["msg"]
        .as_str()
        .unwrap()
        .contains("current limit is 4 request weight"));
    let r = get(a, "/api/v3/ping");
    assert_eq!(r.status, 418);
    assert!(r.header("retry-after").is_some());
    assert_eq!(sim.calls("ping"), 6);
    request(a, "POST", "/__sim/reset", "");
    assert_eq!(get(a, "/api/v3/ping").status, 200);
}

#[tokio::test(flavor = "current_thread")]
async fn works_inside_a_current_thread_runtime_and_drops_cleanly() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let addr = sim.addr();
    let r = tokio::task::spawn_blocking(move || get(addr, "/api/v3/ping"))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    drop(sim); // must not panic inside a runtime
}

#[test]
fn drop_does_not_hang_on_keep_alive_connections() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let mut s = TcpStream::connect(sim.addr()).unwrap();
    write!(s, "GET /api/v3/ping HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = [0u8; 512];
    assert!(s.read(&mut buf).unwrap() > 0);
    let t0 = Instant::now();
    drop(sim);
    assert!(t0.elapsed() < Duration::from_secs(2));
    // The port is released.
    assert!(
        TcpStream::connect_timeout(&s.peer_addr().unwrap(), Duration::from_millis(200)).is_err()
    );
}

#[test]
fn same_seed_same_prices_across_instances() {
    let a = Simulator::start(SimConfig {
        seed: 9,
        ..SimConfig::default()
    })
    .unwrap();
    let b = Simulator::start(SimConfig {
        seed: 9,
        ..SimConfig::default()
    })
    .unwrap();
    // A window of closed candles: identical in every instance with the same seed.
    let q = "/api/v3/klines?symbol=ETHUSDT&interval=1h&limit=5&endTime=1725817008719";
    let ka = get(a.addr(), q).json();
    assert_eq!(ka.as_array().unwrap().len(), 5);
    assert_eq!(ka, get(b.addr(), q).json());
    let c = Simulator::start(SimConfig {
        seed: 10,
        ..SimConfig::default()
    })
    .unwrap();
    assert_ne!(ka, get(c.addr(), q).json());
}

#[test]
fn request_log_records_every_api_request_in_order() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let a = sim.addr();
    get(
        a,
        "/api/v3/ticker/24hr?symbols=%5B%22BTCUSDT%22%2C%22ETHUSDT%22%5D",
    );
    get(a, "/api/v3/depth?symbol=ETHUSDT&limit=5");
    get(a, "/api/v3/ping");
    get(a, "/api/v3/klines?symbol=NOPE&interval=1m"); // 400
    get(a, "/api/v3/noSuchThing"); // 404
    get(a, "/__sim/calls"); // control routes are not logged

    let v = get(a, "/__sim/requests").json();
    let log: Vec<RequestRecord> = serde_json::from_value(v["requests"].clone()).unwrap();
    assert_eq!(log, sim.requests(), "HTTP and library views agree");
    // (seq, endpoint, query, symbols, status)
    type Row<'a> = (u64, &'a str, &'a str, Vec<&'a str>, Option<u16>);
    let summary: Vec<Row<'_>> = log
        .iter()
        .map(|r| {
            (
                r.seq,
                r.endpoint.as_str(),
                r.query.as_str(),
                r.symbols.iter().map(String::as_str).collect(),
                r.status,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                0,
                "ticker/24hr",
                r#"symbols=["BTCUSDT","ETHUSDT"]"#,
                vec!["BTCUSDT", "ETHUSDT"],
                Some(200)
            ),
            (
                1,
                "depth",
                "symbol=ETHUSDT&limit=5",
                vec!["ETHUSDT"],
                Some(200)
            ),
            (2, "ping", "", vec![], Some(200)),
            (
                3,
                "klines",
                "symbol=NOPE&interval=1m",
                vec!["NOPE"],
                Some(400)
            ),
            (4, "noSuchThing", "", vec![], Some(404)),
        ]
    );
    // One client, one request at a time: each is answered before the next arrives.
    for r in &log {
        assert!(r.answered_us.unwrap() >= r.received_us);
    }
    for w in log.windows(2) {
        assert!(w[0].answered_us.unwrap() <= w[1].received_us);
    }

    let only = get(a, "/__sim/requests?endpoint=ticker/24hr").json();
    assert_eq!(only["requests"].as_array().unwrap().len(), 1);
    assert_eq!(only["requests"][0]["seq"], 0);
    let encoded = get(a, "/__sim/requests?endpoint=ticker%2F24hr").json();
    assert_eq!(encoded, only);
    let none = get(a, "/__sim/requests?endpoint=trades").json();
    assert_eq!(none, serde_json::json!({"requests": []}));

    // Resets: the log's own, the library's and the global one; seq starts again at 0.
    assert_eq!(post(a, "/__sim/requests/reset", "").status, 204);
    assert!(sim.requests().is_empty());
    assert_eq!(sim.calls("depth"), 1, "the call counters are separate");
    get(a, "/api/v3/time");
    let after = sim.requests();
    assert_eq!((after.len(), after[0].seq), (1, 0));
    assert_eq!(after[0].endpoint, "time");
    sim.reset_requests();
    assert!(sim.requests().is_empty());
    get(a, "/api/v3/time");
    assert_eq!(post(a, "/__sim/reset", "").status, 204);
    assert_eq!(
        get(a, "/__sim/requests").json(),
        serde_json::json!({"requests": []})
    );
}

#[test]
fn request_log_times_answers_and_shows_requests_in_flight() {
    let t0 = Instant::now();
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let a = sim.addr();
    sim.set_faults(Faults {
        latency_ms: 500,
        endpoints: Some(vec!["klines".into()]),
        ..Faults::default()
    });
    let slow =
        std::thread::spawn(move || get(a, "/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=1"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while sim.requests().is_empty() {
        assert!(Instant::now() < deadline, "klines request never arrived");
        std::thread::sleep(Duration::from_millis(5));
    }
    let open = get(a, "/__sim/requests").json();
    assert_eq!(open["requests"][0]["endpoint"], "klines");
    assert!(open["requests"][0]["answered_us"].is_null());
    assert!(open["requests"][0]["status"].is_null());
    assert_eq!(get(a, "/api/v3/ping").status, 200);
    assert_eq!(slow.join().unwrap().status, 200);

    let log = sim.requests();
    let (k, p) = (&log[0], &log[1]);
    assert_eq!(
        (k.endpoint.as_str(), p.endpoint.as_str()),
        ("klines", "ping")
    );
    assert_eq!((k.status, p.status), (Some(200), Some(200)));
    // Microseconds since start: within the test's own elapsed time.
    assert!(k.received_us <= t0.elapsed().as_micros() as u64);
    assert!(k.answered_us.unwrap() - k.received_us >= 500_000);
    // The ping arrived and was answered while klines was in flight.
    assert!(p.received_us > k.received_us);
    assert!(p.answered_us.unwrap() < k.answered_us.unwrap());
}

#[test]
fn markets_listed_and_delisted_at_runtime() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let a = sim.addr();
    let r = post(
        a,
        "/__sim/markets",
        r#"{"list": [{"symbol": "NEWUSDT", "base": "NEW", "quote": "USDT", "price": 1.5}],
            "delist": ["SOLUSDT"]}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let expected = serde_json::json!({"listed": ["NEWUSDT"], "delisted": ["SOLUSDT"]});
    assert_eq!(r.json(), expected);
    assert_eq!(get(a, "/__sim/markets").json(), expected);
    assert_eq!(
        sim.runtime_markets(),
        RuntimeMarkets {
            listed: vec!["NEWUSDT".into()],
            delisted: vec!["SOLUSDT".into()]
        }
    );

    // exchangeInfo: SOLUSDT gone, NEWUSDT appended with the other entries' shape.
    let info = get(a, "/api/v3/exchangeInfo").json();
    let syms = info["symbols"].as_array().unwrap();
    let names: Vec<&str> = syms.iter().filter_map(|s| s["symbol"].as_str()).collect();
    assert_eq!(names, ["BTCUSDT", "ETHUSDT", "BNBUSDT", "NEWUSDT"]);
    let (btc, new) = (&syms[0], &syms[3]);
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(new), keys(btc));
    assert_eq!(new["status"], "TRADING");
    assert_eq!(
        (&new["baseAsset"], &new["quoteAsset"]),
        (&"NEW".into(), &"USDT".into())
    );
    assert_eq!(new["permissionSets"], btc["permissionSets"]);
    let filter_types = |v: &Value| {
        v["filters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["filterType"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(filter_types(new), filter_types(btc));
    assert_eq!(new["filters"][0]["tickSize"], "0.00010000");
    let one = get(a, "/api/v3/exchangeInfo?symbol=NEWUSDT").json();
    assert_eq!(&one["symbols"][0], new);

    // Every market-data endpoint serves the new market, priced around 1.5.
    for path in [
        "ticker/24hr?symbol=NEWUSDT",
        "ticker/bookTicker?symbol=NEWUSDT",
        "ticker/price?symbol=NEWUSDT",
        "klines?symbol=NEWUSDT&interval=1m&limit=60",
        "depth?symbol=NEWUSDT&limit=5",
        "trades?symbol=NEWUSDT&limit=5",
        "historicalTrades?symbol=NEWUSDT&limit=5",
        "aggTrades?symbol=NEWUSDT&limit=5",
        "avgPrice?symbol=NEWUSDT",
        "ticker/price?symbols=%5B%22NEWUSDT%22%2C%22BTCUSDT%22%5D",
    ] {
        let r = get(a, &format!("/api/v3/{path}"));
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    }
    let price = |v: &Value| v.as_str().unwrap().parse::<f64>().unwrap();
    let p = price(&get(a, "/api/v3/ticker/price?symbol=NEWUSDT").json()["price"]);
    assert!((p - 1.5).abs() < 0.015, "{p}");
    let t = get(a, "/api/v3/ticker/24hr?symbol=NEWUSDT").json();
    assert!((price(&t["lastPrice"]) - 1.5).abs() < 0.015);
    let d = get(a, "/api/v3/depth?symbol=NEWUSDT&limit=5").json();
    assert!(price(&d["bids"][0][0]) < price(&d["asks"][0][0]));
    // The price moves: the last hour of 1m candles is not flat.
    let k = get(a, "/api/v3/klines?symbol=NEWUSDT&interval=1m&limit=60").json();
    let closes: Vec<f64> = k.as_array().unwrap().iter().map(|c| price(&c[4])).collect();
    assert!(closes.windows(2).any(|w| w[0] != w[1]), "{closes:?}");
    assert!(sim.current_price("NEWUSDT").is_some());
    assert_eq!(sim.current_price("SOLUSDT"), None);
    let all = get(a, "/api/v3/ticker/price").json();
    let all: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["symbol"].as_str())
        .collect();
    assert_eq!(all, ["BTCUSDT", "ETHUSDT", "BNBUSDT", "NEWUSDT"]);

    // Every endpoint naming the delisted market answers -1121, lists naming it too.
    let invalid = serde_json::json!({"code": -1121, "msg": "Invalid symbol."});
    for path in [
        "exchangeInfo?symbol=SOLUSDT",
        "ticker/24hr?symbol=SOLUSDT",
        "ticker/bookTicker?symbol=SOLUSDT",
        "ticker/price?symbol=SOLUSDT",
        "klines?symbol=SOLUSDT&interval=1m",
        "depth?symbol=SOLUSDT",
        "trades?symbol=SOLUSDT",
        "historicalTrades?symbol=SOLUSDT",
        "aggTrades?symbol=SOLUSDT",
        "avgPrice?symbol=SOLUSDT",
        "ticker/24hr?symbols=%5B%22BTCUSDT%22%2C%22SOLUSDT%22%5D",
    ] {
        let r = get(a, &format!("/api/v3/{path}"));
        assert_eq!((r.status, r.json()), (400, invalid.clone()), "{path}");
    }

    // Validation: 400 with the reason, nothing changed.
    for (body, reason) in [
        (
            r#"{"list": [{"symbol": "BTCUSDT", "base": "BTC", "quote": "USDT"}]}"#,
            "cannot list BTCUSDT: it is already listed",
        ),
        (
            r#"{"list": [{"symbol": "NEWUSDT", "base": "NEW", "quote": "USDT"}]}"#,
            "already listed",
        ),
        (
            r#"{"list": [{"symbol": "new2usdt", "base": "new2", "quote": "usdt"}]}"#,
            "uppercase letters or digits",
        ),
        (
            r#"{"list": [{"symbol": "ABCDEFGHIJKLMNOPQUSDT", "base": "ABCDEFGHIJKLMNOPQ", "quote": "USDT"}]}"#,
            "1 to 20",
        ),
        (
            r#"{"list": [{"symbol": "XYZUSDT", "base": "XY", "quote": "USDT"}]}"#,
            "base + quote must equal symbol",
        ),
        (
            r#"{"list": [{"symbol": "XYZUSDT", "base": "XYZ", "quote": "USDT", "price": 0}]}"#,
            "finite number > 0",
        ),
        (
            r#"{"list": [{"symbol": "XYZUSDT", "base": "XYZ", "quote": "USDT", "price": -2}]}"#,
            "finite number > 0",
        ),
        (
            r#"{"delist": ["SOLUSDT"]}"#,
            "cannot delist SOLUSDT: it is not listed",
        ),
        (r#"{"delisted": ["BTCUSDT"]}"#, "unknown field `delisted`"),
        ("nope", "expected"),
    ] {
        let r = post(a, "/__sim/markets", body);
        assert_eq!(r.status, 400, "{body}");
        let msg = r.json()["error"].as_str().unwrap().to_string();
        assert!(msg.contains(reason), "{body}: {msg}");
    }
    assert_eq!(get(a, "/__sim/markets").json(), expected);
    // An empty change is a no-op that reports the state.
    assert_eq!(post(a, "/__sim/markets", "{}").json(), expected);

    // Reset restores the configured markets.
    assert_eq!(post(a, "/__sim/reset", "").status, 204);
    assert_eq!(
        get(a, "/__sim/markets").json(),
        serde_json::json!({"listed": [], "delisted": []})
    );
    let info = get(a, "/api/v3/exchangeInfo").json();
    let names: Vec<&str> = info["symbols"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["symbol"].as_str())
        .collect();
    assert_eq!(names, ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT"]);
    assert_eq!(get(a, "/api/v3/ticker/price?symbol=SOLUSDT").status, 200);
    assert_eq!(get(a, "/api/v3/ticker/price?symbol=NEWUSDT").status, 400);
}

#[test]
fn markets_change_from_the_library() {
    let sim = Simulator::start(SimConfig {
        extra_symbols: 2,
        ..SimConfig::default()
    })
    .unwrap();
    let a = sim.addr();
    sim.list_market("PEPEUSDT", "PEPE", "USDT", 0.00001234)
        .unwrap();
    sim.delist_market("SIM0001USDT").unwrap();
    let p = get(a, "/api/v3/ticker/price?symbol=PEPEUSDT").json();
    let p: f64 = p["price"].as_str().unwrap().parse().unwrap();
    assert!((p - 0.00001234).abs() < 0.0000002, "{p}");
    assert_eq!(
        get(a, "/api/v3/depth?symbol=SIM0001USDT").json()["code"],
        -1121
    );
    assert!(sim
        .list_market("PEPEUSDT", "PEPE", "USDT", 1.0)
        .unwrap_err()
        .contains("already listed"));
    assert!(sim.delist_market("SIM0001USDT").is_err());
    let r = sim
        .change_markets(MarketChange {
            list: vec![NewMarket::new("SIM0001USDT", "SIM0001", "USDT", 3.0)],
            delist: vec!["PEPEUSDT".into()],
        })
        .unwrap();
    assert_eq!(
        r,
        RuntimeMarkets {
            listed: vec!["SIM0001USDT".into()],
            delisted: vec!["PEPEUSDT".into()]
        }
    );
    assert_eq!(sim.runtime_markets(), r);
    let price = sim.current_price("SIM0001USDT").unwrap();
    assert!((price - 3.0).abs() < 0.03, "{price}");
    sim.reset();
    assert_eq!(sim.runtime_markets(), RuntimeMarkets::default());
    assert_eq!(
        get(a, "/api/v3/exchangeInfo").json()["symbols"]
            .as_array()
            .unwrap()
            .len(),
        6
    );
}

#[test]
fn forced_rate_limit_answers_carry_retry_after_and_ban_time() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let a = sim.addr();
    sim.set_faults(Faults {
        force_status: Some(429),
        retry_after_s: 30,
        ..Faults::default()
    });
    let r = get(a, "/api/v3/ticker/price?symbol=BTCUSDT");
    assert_eq!((r.status, r.header("retry-after")), (429, Some("30")));
    assert_eq!(
        r.json(),
        serde_json::json!({"code": -1003, "msg": "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API."})
    );

    sim.set_faults(Faults {
        force_status: Some(418),
        retry_after_s: 120,
        ..Faults::default()
    });
    let before = unix_ms();
    let r = get(a, "/api/v3/depth?symbol=BTCUSDT");
    let after = unix_ms();
    assert_eq!((r.status, r.header("retry-after")), (418, Some("120")));
    let body = r.json();
    assert_eq!(body["code"], -1003);
    let msg = body["msg"].as_str().unwrap();
    assert!(msg.starts_with("Way too much request weight used; IP banned until "));
    let until = banned_until(msg);
    assert!(
        (before + 120_000..=after + 120_000).contains(&until),
        "{until} not now + 120 s ({before}..{after})"
    );
    let statuses: Vec<Option<u16>> = sim.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [Some(429), Some(418)]);
}

#[test]
fn weight_limit_answers_carry_retry_after_to_the_window_end() {
    let sim = Simulator::start(SimConfig {
        weight_limit: 2,
        ..SimConfig::default()
    })
    .unwrap();
    let a = sim.addr();
    avoid_minute_boundary();
    let before = unix_ms();
    let window_end = (before / 60_000 + 1) * 60_000;
    assert_eq!(
        get(a, "/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=1").status,
        200
    );
    let too_much = get(a, "/api/v3/ping");
    let banned = get(a, "/api/v3/ping");
    let after = unix_ms();
    assert!(after < window_end, "test crossed a minute boundary");
    // Seconds to the end of the calendar minute, rounded up, as seen at some instant in between.
    let secs = |r: &Resp| r.header("retry-after").unwrap().parse::<u64>().unwrap();
    let range = (window_end - after).div_ceil(1000)..=(window_end - before).div_ceil(1000);
    assert_eq!(too_much.status, 429);
    assert!(
        range.contains(&secs(&too_much)),
        "{} {range:?}",
        secs(&too_much)
    );
    assert_eq!(too_much.json()["code"], -1003);
    assert_eq!(banned.status, 418);
    assert!(
        range.contains(&secs(&banned)),
        "{} {range:?}",
        secs(&banned)
    );
    assert_eq!(
        banned_until(banned.json()["msg"].as_str().unwrap()),
        window_end
    );
}
