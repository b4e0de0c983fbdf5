//! Derivatives over real sockets: Binance USDⓈ-M REST (its own weight budget and counters),
//! OKX's and Bybit's swap counters, and the `@markPrice` websocket streams agreeing with the
//! contract model at each event's own time.

use crypto_market_sim::{Faults, SimConfig, SimHandle, Simulator, Venue};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::Message;

const PATIENCE: Duration = Duration::from_secs(10);

/// Status, `X-MBX-USED-WEIGHT-1M` and JSON body of `GET path`.
fn get(addr: SocketAddr, path: &str) -> (u16, Option<u64>, Value) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(PATIENCE)).expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
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
    let weight = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("x-mbx-used-weight-1m")
            .then(|| v.trim().parse().ok())
            .flatten()
    });
    (
        status,
        weight,
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

fn start(venue: Venue) -> SimHandle {
    Simulator::start(SimConfig {
        venue,
        ..SimConfig::default()
    })
    .expect("simulator")
}

#[test]
fn binance_futures_have_their_own_budget_counters_and_faults() {
    let sim = start(Venue::Binance);
    let addr = sim.addr();
    let (status, weight, _) = get(addr, "/api/v3/ticker/24hr?symbol=BTCUSDT");
    assert_eq!((status, weight), (200, Some(2)));
    assert_eq!(
        sim.derivative_calls(),
        0,
        "spot requests are not derivative ones"
    );
    let (status, weight, body) = get(addr, "/fapi/v1/premiumIndex?symbol=BTCUSDT");
    assert_eq!(
        (status, weight),
        (200, Some(1)),
        "a budget of its own: {body}"
    );
    assert!(body["markPrice"].is_string() && body["nextFundingTime"].is_u64());
    let (_, weight, all) = get(addr, "/fapi/v1/premiumIndex");
    assert_eq!(weight, Some(11));
    assert!(all.as_array().is_some_and(|a| a.len() >= 4));
    let (status, _, err) = get(addr, "/fapi/v1/premiumIndex?symbol=XRPUSDT");
    assert_eq!((status, &err["code"]), (400, &json!(-1121)));
    let (status, _, _) = get(addr, "/fapi/v1/nope");
    assert_eq!(status, 404);
    let (status, _, info) = get(addr, "/fapi/v1/fundingInfo");
    assert_eq!((status, &info[0]["fundingIntervalHours"]), (200, &json!(4)));
    assert_eq!(sim.used_weight(), 2);
    assert_eq!(sim.futures_used_weight(), 1 + 10 + 1 + 1 + 1);
    assert_eq!(sim.calls("fapi/v1/premiumIndex"), 3);
    assert_eq!(sim.calls("ticker/24hr"), 1);
    assert_eq!(sim.derivative_calls(), 5);
    assert!(sim
        .last_response("fapi/v1/premiumIndex", Some("BTCUSDT"))
        .is_some());
    // Faults name futures endpoints by their path.
    sim.set_faults(Faults {
        endpoints: Some(vec!["fapi/v1/openInterest".into()]),
        force_status: Some(429),
        retry_after_s: 7,
        ..Faults::default()
    });
    let (status, _, err) = get(addr, "/fapi/v1/openInterest?symbol=BTCUSDT");
    assert_eq!((status, &err["code"]), (429, &json!(-1003)));
    let (status, _, _) = get(addr, "/fapi/v1/time");
    assert_eq!(status, 200);
    sim.reset();
    assert_eq!((sim.futures_used_weight(), sim.derivative_calls()), (0, 0));
}

#[test]
fn okx_and_bybit_count_derivatives_apart_from_spot() {
    let okx = start(Venue::Okx);
    let (status, _, body) = get(okx.addr(), "/api/v5/market/ticker?instId=BTC-USDT");
    assert_eq!(
        (status, &body["data"][0]["instType"]),
        (200, &json!("SPOT"))
    );
    assert_eq!(okx.derivative_calls(), 0);
    let (_, _, body) = get(okx.addr(), "/api/v5/market/ticker?instId=BTC-USDT-SWAP");
    assert_eq!(body["data"][0]["instType"], "SWAP");
    let (_, _, body) = get(
        okx.addr(),
        "/api/v5/public/funding-rate?instId=SOL-USDT-SWAP",
    );
    let f = &body["data"][0];
    let interval: u64 = f["nextFundingTime"]
        .as_str()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
        - f["fundingTime"]
            .as_str()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
    assert_eq!(interval, 4 * 3_600_000);
    assert_eq!(
        (okx.calls("market/ticker"), okx.calls("swap:market/ticker")),
        (1, 1)
    );
    assert_eq!(okx.derivative_calls(), 2);
    // Delisting the underlying delists its swap too (OKX's 51001).
    okx.set_faults(Faults {
        delisted: vec!["BTCUSDT".into()],
        ..Faults::default()
    });
    let (_, _, body) = get(okx.addr(), "/api/v5/market/ticker?instId=BTC-USDT-SWAP");
    assert_eq!(body["code"], "51001");
    let (_, _, body) = get(okx.addr(), "/api/v5/market/ticker?instId=ETH-USDT-SWAP");
    assert_eq!(body["code"], "0");

    let bybit = start(Venue::Bybit);
    let (_, _, body) = get(
        bybit.addr(),
        "/v5/market/tickers?category=linear&symbol=BTCUSDT",
    );
    let t = &body["result"]["list"][0];
    assert!(t["fundingRate"].is_string() && t["markPrice"] != t["indexPrice"]);
    let (_, _, body) = get(
        bybit.addr(),
        "/v5/market/tickers?category=spot&symbol=BTCUSDT",
    );
    assert!(body["result"]["list"][0].get("fundingRate").is_none());
    assert_eq!(
        (
            bybit.calls("market/tickers"),
            bybit.calls("linear:market/tickers")
        ),
        (1, 1)
    );
    assert_eq!(bybit.derivative_calls(), 1);
    assert!(start(Venue::Kraken).contract_ids().is_empty());
    // The controls list every contract at an instant, as the model says.
    let at = 1_796_612_400_000u64;
    let (status, _, list) = get(bybit.addr(), &format!("/__sim/contracts?at={at}"));
    assert_eq!((status, &list["at"]), (200, &json!(at)));
    let sol = list["contracts"]
        .as_array()
        .and_then(|l| l.iter().find(|c| c["id"] == "SOLUSDT"))
        .expect("SOLUSDT listed");
    let model = bybit.contract_at("SOLUSDT", at).expect("modelled");
    assert_eq!(sol["interval_hours"], 4);
    assert_eq!(sol["funding_rate"].as_f64(), Some(model.funding_rate));
    assert_eq!(sol["next_funding_ms"].as_u64(), Some(model.next_funding_ms));
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next JSON text frame (pings skipped).
async fn next_json(ws: &mut Ws) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                return serde_json::from_str(t.as_str()).expect("JSON");
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("no message: {other:?}"),
        }
    }
}

/// A mark price event agrees with the model at its own time `E`.
fn check_event(sim: &SimHandle, ev: &Value) {
    assert_eq!(ev["e"], "markPriceUpdate");
    let id = ev["s"].as_str().expect("symbol");
    let at = ev["E"].as_u64().expect("E");
    let c = sim.contract_at(id, at).expect("a contract");
    let num = |k: &str| ev[k].as_str().and_then(|v| v.parse::<f64>().ok());
    assert_eq!(num("p"), Some(c.mark), "{ev}");
    assert_eq!(num("i"), Some(c.index), "{ev}");
    if c.perpetual {
        assert_eq!(num("r"), Some(c.funding_rate), "{ev}");
        assert_eq!(ev["T"].as_u64(), Some(c.next_funding_ms), "{ev}");
    } else {
        // A dated future has no funding.
        assert_eq!((&ev["r"], &ev["T"]), (&json!(""), &json!(0)), "{ev}");
    }
    assert!(num("P").is_some());
    if id.ends_with("USDT") {
        let rest = sim
            .futures_body_at("fapi/v1/premiumIndex", &format!("symbol={id}"), at)
            .expect("premiumIndex");
        let rest: Value = serde_json::from_str(&rest).expect("JSON");
        assert_eq!(
            (&ev["p"], &ev["r"]),
            (&rest["markPrice"], &rest["lastFundingRate"])
        );
    }
}

#[tokio::test]
async fn mark_price_streams_every_second_raw_combined_and_subscribed() {
    let sim = start(Venue::Binance);
    let url = format!("{}/ws/btcusdt@markPrice@1s", sim.ws_url());
    let (mut ws, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("connect");
    let a = next_json(&mut ws).await;
    let b = next_json(&mut ws).await;
    check_event(&sim, &a);
    check_event(&sim, &b);
    let gap = b["E"].as_u64().unwrap_or(0) - a["E"].as_u64().unwrap_or(0);
    assert!((500..=2500).contains(&gap), "one a second: {gap} ms");

    let url = format!(
        "{}/stream?streams=ethusdt@markPrice@1s/solusdt@markPrice",
        sim.ws_url()
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("connect");
    let mut seen = std::collections::HashSet::new();
    while seen.len() < 2 {
        let env = next_json(&mut ws).await;
        let stream = env["stream"]
            .as_str()
            .expect("combined envelope")
            .to_string();
        check_event(&sim, &env["data"]);
        if stream == "solusdt@markPrice" {
            // The 3-second stream, on its own 4 h funding grid.
            assert_eq!(env["data"]["E"].as_u64().map(|e| e / 1000 % 3), Some(0));
        }
        seen.insert(stream);
    }

    let (mut ws, _) = tokio_tungstenite::connect_async(format!("{}/ws", sim.ws_url()))
        .await
        .expect("connect");
    let sub = json!({"method": "SUBSCRIBE", "params": ["bnbusdt@markPrice@1s"], "id": 7});
    ws.send(Message::text(sub.to_string())).await.expect("send");
    let reply = next_json(&mut ws).await;
    assert_eq!(reply, json!({"result": null, "id": 7}));
    let ev = next_json(&mut ws).await;
    assert_eq!(ev["s"], "BNBUSDT");
    check_event(&sim, &ev);

    let url = format!("{}/stream?streams=!markPrice@arr@1s", sim.ws_url());
    let (mut ws, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("connect");
    let env = next_json(&mut ws).await;
    assert_eq!(env["stream"], "!markPrice@arr@1s");
    let all = env["data"].as_array().expect("an array of every contract");
    assert_eq!(all.len(), sim.contract_ids().len());
    for ev in all {
        check_event(&sim, ev);
    }
}
