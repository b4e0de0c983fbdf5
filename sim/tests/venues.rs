//! OKX, Bybit, Kraken and Coinbase over real HTTP: paths, statuses, content types, faults,
//! counters and runtime listings per venue, and the binary's `--exchanges`.

use crypto_market_sim::{Faults, SimConfig, SimHandle, Simulator, Venue};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

struct Resp {
    status: u16,
    head: String,
    body: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

fn get(addr: SocketAddr, path: &str) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    Resp {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

fn start(venue: Venue) -> SimHandle {
    Simulator::start(SimConfig {
        venue,
        ..SimConfig::default()
    })
    .unwrap()
}

/// (venue, ticker path for BTC, the same for an unknown symbol, its endpoint name)
const TICKERS: [(Venue, &str, &str, &str); 4] = [
    (
        Venue::Okx,
        "/api/v5/market/ticker?instId=BTC-USDT",
        "/api/v5/market/ticker?instId=NOPE-USDT",
        "market/ticker",
    ),
    (
        Venue::Bybit,
        "/v5/market/tickers?category=spot&symbol=BTCUSDT",
        "/v5/market/tickers?category=spot&symbol=NOPEUSDT",
        "market/tickers",
    ),
    (
        Venue::Kraken,
        "/0/public/Ticker?pair=XBTUSDT",
        "/0/public/Ticker?pair=NOPEUSDT",
        "Ticker",
    ),
    (
        Venue::Coinbase,
        "/api/v3/brokerage/market/products/BTC-USDT/ticker?limit=1",
        "/api/v3/brokerage/market/products/NOPE-USDT/ticker?limit=1",
        "market/products/{product_id}/ticker",
    ),
];

#[test]
fn each_venue_serves_its_own_paths_only() {
    for (venue, path, unknown, endpoint) in TICKERS {
        let sim = start(venue);
        assert_eq!(sim.venue(), venue);
        let ok = get(sim.addr(), path);
        assert_eq!(ok.status, 200, "{venue}: {}", ok.body);
        assert_eq!(
            ok.header("content-type").as_deref(),
            Some("application/json")
        );
        ok.json();
        let err = get(sim.addr(), unknown);
        let expected = if venue == Venue::Coinbase { 404 } else { 200 };
        assert_eq!(err.status, expected, "{venue}: {}", err.body);
        err.json();
        // Binance's paths are not this venue's, nor are made-up ones.
        assert_eq!(
            get(sim.addr(), "/api/v3/ticker/price?symbol=BTCUSDT").status,
            404,
            "{venue}"
        );
        assert_eq!(sim.calls(endpoint), 2, "{venue}");
        assert_eq!(sim.total_calls(), 3, "{venue}");
        let log = sim.requests();
        assert_eq!(log.len(), 3);
        assert_eq!(log[0].endpoint, endpoint);
        assert_eq!(log[0].status, Some(200));
        assert!(sim
            .last_response(endpoint, log[0].symbols.first().map(String::as_str))
            .is_some());
        // The controls are there for every venue.
        let calls = get(sim.addr(), "/__sim/calls");
        assert_eq!(calls.status, 200, "{venue}");
        assert_eq!(
            calls.json()["endpoints"][endpoint],
            2,
            "{venue}: {}",
            calls.body
        );
        // No websocket streams on the REST-only venues.
        assert_eq!(get(sim.addr(), "/ws/btcusdt@ticker").status, 404, "{venue}");
    }
}

#[test]
fn faults_apply_per_venue_in_its_format() {
    for (venue, path, _, endpoint) in TICKERS {
        let sim = start(venue);
        sim.set_faults(Faults {
            force_status: Some(429),
            retry_after_s: 7,
            endpoints: Some(vec![endpoint.to_string()]),
            ..Faults::default()
        });
        let limited = get(sim.addr(), path);
        assert_eq!(
            limited.header("retry-after").as_deref(),
            Some("7"),
            "{venue}"
        );
        let status = match venue {
            Venue::Okx | Venue::Coinbase => 429,
            _ => 200,
        };
        assert_eq!(limited.status, status, "{venue}: {}", limited.body);
        sim.set_faults(Faults {
            force_status: Some(503),
            ..Faults::default()
        });
        assert_eq!(get(sim.addr(), path).status, 503, "{venue}");
        sim.set_faults(Faults {
            latency_ms: 150,
            ..Faults::default()
        });
        let t = std::time::Instant::now();
        assert_eq!(get(sim.addr(), path).status, 200);
        assert!(t.elapsed() >= Duration::from_millis(150), "{venue}");
        sim.set_faults(Faults {
            delisted: vec!["BTCUSDT".into()],
            ..Faults::default()
        });
        let refused = get(sim.addr(), path);
        // Each venue's own "unknown instrument" error, not any venue's.
        let (status, markers): (u16, &[&str]) = match venue {
            Venue::Okx => (200, &["\"code\":\"51001\""]),
            Venue::Bybit => (200, &["\"retCode\":10001", "Not supported symbols"]),
            Venue::Kraken => (200, &["EQuery:Unknown asset pair"]),
            Venue::Coinbase => (404, &["\"error\":\"NOT_FOUND\""]),
            Venue::Binance => unreachable!("not in TICKERS"),
        };
        assert_eq!(refused.status, status, "{venue}: {}", refused.body);
        for marker in markers {
            assert!(
                refused.body.contains(marker),
                "{venue}: {marker} not in {}",
                refused.body
            );
        }
    }
}

#[test]
fn weight_limit_counts_requests_per_venue() {
    let sim = Simulator::start(SimConfig {
        venue: Venue::Okx,
        weight_limit: 2,
        ..SimConfig::default()
    })
    .unwrap();
    let codes: Vec<String> = (0..4)
        .map(|_| {
            get(sim.addr(), "/api/v5/public/time").json()["code"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(codes, ["0", "0", "50011", "50011"]);
    // Another venue's instance has its own limit.
    let other = start(Venue::Okx);
    assert_eq!(get(other.addr(), "/api/v5/public/time").status, 200);
}

#[test]
fn runtime_listings_reach_every_venue_format() {
    let sim = start(Venue::Kraken);
    sim.list_market("NEWUSDT", "NEW", "USDT", 1.5).unwrap();
    let pairs = get(sim.addr(), "/0/public/AssetPairs").json();
    assert_eq!(pairs["result"]["NEWUSDT"]["base"], "NEW");
    let price = sim.current_price("NEWUSDT").unwrap();
    assert!((price / 1.5 - 1.0).abs() < 2e-3, "{price}");
    sim.delist_market("SOLUSDT").unwrap();
    let t = get(sim.addr(), "/0/public/Ticker?pair=SOLUSDT").json();
    assert_eq!(t["error"][0], "EQuery:Unknown asset pair");
    assert_eq!(sim.current_price("SOLUSDT"), None);
    sim.reset();
    assert!(sim.current_price("SOLUSDT").is_some());
}

#[test]
fn same_seed_same_venue_prices() {
    let (a, b) = (start(Venue::Bybit), start(Venue::Bybit));
    let t = 1_725_817_008_719;
    assert_eq!(a.price_at("ETHUSDT", t), b.price_at("ETHUSDT", t));
    let binance = start(Venue::Binance);
    let (pa, pb) = (
        a.price_at("ETHUSDT", t).unwrap(),
        binance.price_at("ETHUSDT", t).unwrap(),
    );
    assert!(pa != pb && (pa / pb - 1.0).abs() < 1e-3);
    assert!(binance.price_at("BNBUSDT", t).is_some() && a.price_at("BNBUSDT", t).is_none());
}

/// `--exchanges` starts one listener per exchange on consecutive ports and prints them.
#[test]
fn binary_serves_several_exchanges() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_crypto-market-sim"))
        .args([
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--exchanges",
            "okx,kraken",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let second = lines.next().unwrap().unwrap();
    assert_eq!(first, format!("okx http://127.0.0.1:{port}"));
    assert_eq!(second, format!("kraken http://127.0.0.1:{}", port + 1));
    let okx: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let kraken: SocketAddr = format!("127.0.0.1:{}", port + 1).parse().unwrap();
    assert_eq!(
        get(okx, "/api/v5/market/ticker?instId=ETH-USDT").json()["code"],
        "0"
    );
    assert_eq!(
        get(kraken, "/0/public/Ticker?pair=XBTUSDT").json()["error"],
        serde_json::json!([])
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
