//! Issue 20 (SPEC.md section 9), the Redis half: the worker pool is safe to expose. No client
//! key stays in Redis, replies go only where they may, one huge entry cannot blow a worker's
//! memory, stopped workers leave the group, and after a Redis restart the processes share
//! the cache again from the first request. The real binaries, a private redis-server and the
//! simulator, spoken to as clients do.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::redis::RedisServer;
use common::worker::{
    collect_replies, connect, start_worker, subscribe, wait_for_workers, wait_until, xadd, Worker,
    REQUESTS, WORKERS,
};
use common::{ok, start_server};
use crypto_market_sim::{SimConfig, Simulator};
use redis::AsyncCommands;
use serde_json::{json, Value};

const GENEROUS: Duration = Duration::from_secs(60);
const LINGER: Duration = Duration::from_secs(1);
const RESPONSES: &str = "crypto_mcp:responses";
const DEAD: &str = "crypto_mcp:requests:dead";

/// Clients `alpha` and `beta`, keys `alpha-secret` and `beta-secret`.
fn keys_file(name: &str) -> String {
    let sha = crypto_market_mcp::auth::sha256_hex;
    let text = format!(
        "[[client]]\nid = \"alpha\"\nkey_sha256 = \"{}\"\nrate_per_s = 100.0\nburst = 100\n\n\
         [[client]]\nid = \"beta\"\nkey_sha256 = \"{}\"\nrate_per_s = 100.0\nburst = 100\n",
        sha("alpha-secret"),
        sha("beta-secret"),
    );
    let path = std::env::temp_dir().join(format!(
        "cmm-exposure-{}-{name}-{}.toml",
        std::process::id(),
        crypto_market_actors::model::now_ms()
    ));
    std::fs::write(&path, text).expect("a keys file");
    path.to_string_lossy().into_owned()
}

fn ticker(id: &str, reply_to: &str, key: Option<&str>) -> Value {
    let mut request = json!({"request_id": id, "tool": "get_ticker",
                             "args": {"symbol": "BTC/USDT"}, "reply_to": reply_to});
    if let Some(key) = key {
        request["api_key"] = json!(key);
    }
    request
}

/// Every field and value of every entry of `stream`, as text.
async fn stream_text(conn: &mut redis::aio::MultiplexedConnection, stream: &str) -> String {
    let entries: redis::streams::StreamRangeReply = conn.xrange_all(stream).await.expect("XRANGE");
    let mut text = String::new();
    for entry in entries.ids {
        for (field, value) in entry.map {
            let value: Vec<u8> = redis::from_redis_value(value).unwrap_or_default();
            text.push_str(&format!("{field}={}\n", String::from_utf8_lossy(&value)));
        }
    }
    text
}

/// A request "ghost" took and abandoned, already delivered `deliveries` times: the next
/// worker's reclaimer finds it idle.
async fn abandoned(conn: &mut redis::aio::MultiplexedConnection, payload: &str, deliveries: u32) {
    let _: redis::RedisResult<()> = conn.xgroup_create_mkstream(REQUESTS, "workers", "0").await;
    let id: String = conn
        .xadd(REQUESTS, "*", &[("request", payload)])
        .await
        .unwrap();
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg(&[
            "GROUP", "workers", "ghost", "COUNT", "1", "STREAMS", REQUESTS, ">",
        ])
        .query_async(conn)
        .await
        .unwrap();
    let _: redis::Value = redis::cmd("XCLAIM")
        .arg(REQUESTS)
        .arg(&["workers", "ghost", "0"])
        .arg(&id)
        .arg(&["IDLE", "60000", "RETRYCOUNT"])
        .arg(deliveries)
        .query_async(conn)
        .await
        .unwrap();
}

/// Defect 5: answered entries leave the stream; dead letters keep no key; at most 10,000.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_api_key_is_left_in_the_request_or_dead_letter_streams() {
    let sim = common::simulator();
    let redis = RedisServer::start();
    let mut conn = connect(&redis).await;
    let own = format!("{RESPONSES}:alpha");
    let mut replies = subscribe(&redis, &own).await;
    // The dead-letter stream is full already: what is added pushes the oldest out.
    let mut fill = redis::pipe();
    for i in 0..10_000 {
        fill.xadd(DEAD, "*", &[("request", format!("old-{i}"))])
            .ignore();
    }
    let _: () = fill.query_async(&mut conn).await.unwrap();
    // One abandoned too often (dead-lettered whole), one over 64 KiB (dead-lettered, its
    // first KiB): both carry the key near their start.
    let poison = ticker("poison", &own, Some("alpha-secret")).to_string();
    abandoned(&mut conn, &poison, 4).await;
    let huge = format!(
        r#"{{"request_id":"huge","api_key":"alpha-secret","reply_to":"{own}","tool":"get_ticker","args":{{"symbol":"{}"}}}}"#,
        "x".repeat(100 * 1024)
    );

    let keys = keys_file("no-key-left");
    let _worker = start_worker(&sim, &redis, &[("API_KEYS_FILE", keys.as_str())]);
    wait_for_workers(&mut conn, 1).await;
    xadd(&mut conn, huge.as_bytes()).await;
    let mut ids = vec!["poison".to_owned(), "huge".to_owned()];
    for i in 0..10 {
        let key = if i == 9 { "not-a-key" } else { "alpha-secret" };
        let id = format!("keyed-{i}");
        xadd(
            &mut conn,
            ticker(&id, &own, Some(key)).to_string().as_bytes(),
        )
        .await;
        ids.push(id);
    }
    let got = collect_replies(&mut replies, ids.len(), GENEROUS, LINGER).await;
    let code = |id: &str| {
        got[id][0]["error"]["code"]
            .as_str()
            .unwrap_or("ok")
            .to_owned()
    };
    assert_eq!(got.len(), ids.len(), "{got:?}");
    assert_eq!(code("poison"), "internal");
    assert_eq!(code("huge"), "invalid_argument");
    assert_eq!(code("keyed-0"), "ok");
    assert_eq!(code("keyed-9"), "unauthorized");

    // Answered means gone from the request stream.
    wait_until(GENEROUS, "answered entries deleted", || {
        let mut conn = conn.clone();
        async move { conn.xlen::<_, usize>(REQUESTS).await.unwrap_or(1) == 0 }
    })
    .await;
    let requests = stream_text(&mut conn, REQUESTS).await;
    assert!(!requests.contains("api_key"), "{requests}");
    let dead = stream_text(&mut conn, DEAD).await;
    assert!(
        !dead.contains("api_key") && !dead.contains("alpha-secret"),
        "a key in the dead letters"
    );
    assert!(
        dead.contains("\"request_id\":\"poison\""),
        "the poison was set aside"
    );
    assert!(
        dead.contains("request={\"request_id\":\"huge\""),
        "the huge entry's head was set aside"
    );
    let length: usize = conn.xlen(DEAD).await.unwrap();
    assert_eq!(
        length, 10_000,
        "the dead-letter stream keeps at most 10,000"
    );
}

/// Defect 6: a reply goes under RESPONSE_CHANNEL only, and a known key's only under its own
/// client's channel; anything else is dropped (never published) and counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_never_go_to_a_ticker_channel_or_another_clients_channel() {
    let sim = common::simulator();
    let redis = RedisServer::start();
    let keys = keys_file("confined");
    let worker = start_worker(&sim, &redis, &[("API_KEYS_FILE", keys.as_str())]);
    let mut conn = connect(&redis).await;
    wait_for_workers(&mut conn, 1).await;
    let ticker_channel = "crypto_mcp:ticker:binance:BTC/USDT";
    let beta = format!("{RESPONSES}:beta");
    let own = format!("{RESPONSES}:alpha:session-1");
    let mut on_ticker = subscribe(&redis, ticker_channel).await;
    let mut on_beta = subscribe(&redis, &beta).await;
    let mut on_own = subscribe(&redis, &own).await;

    let hostile = [
        ticker("to-ticker", ticker_channel, None),
        ticker("to-ticker-keyed", ticker_channel, Some("alpha-secret")),
        ticker("to-ticker-bad-key", ticker_channel, Some("guess")),
        ticker("to-beta", &beta, Some("alpha-secret")),
        ticker("to-responses", RESPONSES, Some("alpha-secret")),
        json!({"request_id": "malformed-to-ticker", "tool": 7, "reply_to": ticker_channel}),
    ];
    for request in &hostile {
        xadd(&mut conn, request.to_string().as_bytes()).await;
    }
    // Seed-style too.
    let _: usize = conn
        .publish(
            REQUESTS,
            ticker("ps-to-beta", &beta, Some("alpha-secret")).to_string(),
        )
        .await
        .unwrap();
    // Then a request that may be answered: it is, on its client's own channel.
    xadd(
        &mut conn,
        ticker("own", &own, Some("alpha-secret"))
            .to_string()
            .as_bytes(),
    )
    .await;
    let answered = collect_replies(&mut on_own, 1, GENEROUS, LINGER).await;
    assert_eq!(answered["own"][0]["ok"], true, "{answered:?}");

    let mut leaked = Vec::new();
    for channel in [&mut on_ticker, &mut on_beta] {
        while let Ok(message) = channel.try_recv() {
            if message.get("request_id").is_some() {
                leaked.push(message);
            }
        }
    }
    assert!(
        leaked.is_empty(),
        "replies published where they may not go: {leaked:?}"
    );
    let expected = hostile.len() + 1;
    wait_until(GENEROUS, "every dropped request counted in the log", || {
        let dropped = worker
            .log
            .lock()
            .unwrap()
            .matches("request dropped")
            .count();
        async move { dropped == expected }
    })
    .await;
    assert_eq!(answered.len(), 1);
}

/// Peak and current resident memory of a process, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in /proc/{pid}/status"))
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Defect 7: a 20 MB entry is set aside (its first KiB) without the worker ever holding it,
/// and requests keep being answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_20_mb_entry_is_dead_lettered_without_the_worker_holding_it() {
    let sim = common::simulator();
    let redis = RedisServer::start();
    let mut worker = start_worker(&sim, &redis, &[]);
    let pid = worker.child.id().expect("running");
    let mut conn = connect(&redis).await;
    wait_for_workers(&mut conn, 1).await;
    let channel = format!("{RESPONSES}:big");
    let mut replies = subscribe(&redis, &channel).await;
    // Warm: what serving costs anyway (markets, the symbol) is paid before measuring.
    let five = |name: &str| -> Vec<String> {
        (0..5)
            .map(|i| ticker(&format!("{name}-{i}"), &channel, None).to_string())
            .collect()
    };
    for round in ["warm", "warmer"] {
        for request in five(round) {
            xadd(&mut conn, request.as_bytes()).await;
        }
        let warm = collect_replies(&mut replies, 5, GENEROUS, Duration::ZERO).await;
        assert!(warm.values().all(|r| r[0]["ok"] == true), "{warm:?}");
    }
    // What the worker warms in the background after its first calls (instances of the
    // exchange client) settles before the baseline is taken.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (peak_before, _) = memory_kib(pid);

    let huge = format!(
        r#"{{"request_id":"huge","reply_to":"{channel}","tool":"get_ticker","args":{{"symbol":"{}"}}}}"#,
        "x".repeat(20 * 1024 * 1024)
    );
    // 20 MB takes a while to send: a connection without the default response timeout.
    let mut patient = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection_with_config(
            &redis::AsyncConnectionConfig::new().set_response_timeout(None),
        )
        .await
        .unwrap();
    xadd(&mut patient, huge.as_bytes()).await;
    drop(huge);
    for request in five("after") {
        xadd(&mut conn, request.as_bytes()).await;
    }
    let got = collect_replies(&mut replies, 6, GENEROUS, LINGER).await;
    assert_eq!(
        got["huge"][0]["error"]["code"], "invalid_argument",
        "{got:?}"
    );
    for i in 0..5 {
        assert_eq!(got[&format!("after-{i}")][0]["ok"], true, "{got:?}");
    }
    let (peak_after, rss) = memory_kib(pid);
    let growth_kib = peak_after.saturating_sub(peak_before);
    eprintln!("worker VmHWM {peak_before} → {peak_after} KiB (VmRSS {rss} KiB)");
    assert!(
        growth_kib < 10 * 1024,
        "the worker's peak memory grew {growth_kib} KiB for one 20 MB entry"
    );
    assert!(worker.still_running());

    let dead: redis::streams::StreamRangeReply = conn.xrange_all(DEAD).await.unwrap();
    assert_eq!(dead.ids.len(), 1);
    let head: Vec<u8> = dead.ids[0].get("request").expect("the head");
    assert_eq!(head.len(), 1024);
    assert!(head.starts_with(br#"{"request_id":"huge""#));
    let size: String = dead.ids[0].get("size").expect("the size");
    assert!(size.parse::<usize>().unwrap() > 20 * 1024 * 1024);
    wait_until(GENEROUS, "the huge entry gone from the stream", || {
        let mut conn = conn.clone();
        async move { conn.xlen::<_, usize>(REQUESTS).await.unwrap_or(1) == 0 }
    })
    .await;
}

async fn consumers(conn: &mut redis::aio::MultiplexedConnection) -> Vec<String> {
    let reply: redis::streams::StreamInfoConsumersReply =
        conn.xinfo_consumers(REQUESTS, "workers").await.unwrap();
    let mut names: Vec<String> = reply.consumers.into_iter().map(|c| c.name).collect();
    names.sort();
    names
}

/// Defect 10: a worker that stops cleanly leaves the group; the consumer of one that died is
/// removed once it has nothing pending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_and_dead_workers_leave_the_consumer_group() {
    let sim = common::simulator();
    let redis = RedisServer::start();
    let mut conn = connect(&redis).await;
    let _: () = conn
        .xgroup_create_mkstream(REQUESTS, "workers", "0")
        .await
        .unwrap();
    // A worker that died long ago, with nothing pending.
    let _: i64 = redis::cmd("XGROUP")
        .arg(&["CREATECONSUMER", REQUESTS, "workers", "ghost"])
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut first = start_worker(&sim, &redis, &[]);
    wait_for_workers(&mut conn, 1).await;
    let first_id: Vec<String> = conn.hkeys(WORKERS).await.unwrap();
    let _second: Worker = start_worker(&sim, &redis, &[]);
    wait_for_workers(&mut conn, 2).await;
    let ids: Vec<String> = conn.hkeys(WORKERS).await.unwrap();
    let second_id: Vec<String> = ids.into_iter().filter(|i| !first_id.contains(i)).collect();
    // A consumer exists once its worker has read an entry: waves of requests (a worker
    // reads up to 16 at a time) until both have.
    let channel = format!("{RESPONSES}:consumers");
    let mut replies = subscribe(&redis, &channel).await;
    let both = [first_id[0].clone(), second_id[0].clone()];
    for wave in 0..20 {
        let now = consumers(&mut conn).await;
        if both.iter().all(|id| now.contains(id)) {
            break;
        }
        for i in 0..40 {
            let status = json!({"request_id": format!("s-{wave}-{i}"), "tool": "status",
                                "reply_to": channel});
            xadd(&mut conn, status.to_string().as_bytes()).await;
        }
        collect_replies(&mut replies, 40, GENEROUS, Duration::ZERO).await;
    }
    let now = consumers(&mut conn).await;
    assert!(both.iter().all(|id| now.contains(id)), "{now:?}");

    first.signal(libc::SIGTERM);
    assert!(first.exit_status(GENEROUS).await.success());
    let left = consumers(&mut conn).await;
    assert!(
        !left.contains(&first_id[0]),
        "a stopped worker's consumer stays: {left:?}"
    );
    // The ghost goes once idle past 10 s (a live worker's housekeeping runs every 2 s).
    wait_until(GENEROUS, "only the live worker's consumer left", || {
        let mut conn = conn.clone();
        let expected = second_id.clone();
        async move { consumers(&mut conn).await == expected }
    })
    .await;
}

/// Defect 11: after a Redis restart, the first cache command of each process meets a dead
/// connection. Retried once, sharing resumes at once: one exchange call for a cold symbol
/// asked 13 times across 3 workers and an MCP server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_redis_restart_one_cold_symbol_costs_one_exchange_call() {
    let sim = Simulator::start(SimConfig {
        extra_symbols: 5,
        ..Default::default()
    })
    .unwrap();
    let mut redis = RedisServer::start();
    let url = redis.url();
    let shared = [("USE_REDIS_CACHE", "true"), ("CACHE_TTL", "30")];
    let mut env = shared.to_vec();
    env.push(("REDIS_URL", url.as_str()));
    let workers: Vec<Worker> = (0..3)
        .map(|_| start_worker(&sim, &redis, &shared))
        .collect();
    let server = start_server(&sim, &env).await;
    let mut conn = connect(&redis).await;
    wait_for_workers(&mut conn, 3).await;
    // Every process has used its cache connection before Redis goes: waves of requests
    // (a worker reads up to 16 at a time) until each worker has served some.
    let channel = format!("{RESPONSES}:restart");
    let mut replies = subscribe(&redis, &channel).await;
    ok(&server
        .call("get_ticker", json!({"symbol": "BTC/USDT"}))
        .await);
    let all_connected = || {
        workers
            .iter()
            .all(|w| w.log.lock().unwrap().contains("Redis cache connected"))
    };
    for wave in 0..20 {
        if all_connected() {
            break;
        }
        for i in 0..48 {
            let warm = ticker(&format!("warm-{wave}-{i}"), &channel, None);
            xadd(&mut conn, warm.to_string().as_bytes()).await;
        }
        let warmed = collect_replies(&mut replies, 48, GENEROUS, Duration::ZERO).await;
        assert_eq!(warmed.len(), 48);
    }
    assert!(all_connected(), "every worker used its cache connection");

    redis.restart();
    let mut conn = connect(&redis).await;
    wait_for_workers(&mut conn, 3).await;
    let mut replies = subscribe(&redis, &channel).await;
    // The pool serves the stream again (status touches no cache).
    let status = json!({"request_id": "status", "tool": "status", "reply_to": channel});
    xadd(&mut conn, status.to_string().as_bytes()).await;
    let got = collect_replies(&mut replies, 1, GENEROUS, Duration::ZERO).await;
    assert_eq!(got["status"][0]["ok"], true, "{got:?}");

    let cold = "SIM0003/USDT";
    let before = cold_calls(&sim, "SIM0003USDT");
    let ids: Vec<String> = (0..12).map(|i| format!("cold-{i}")).collect();
    for id in &ids {
        let request = json!({"request_id": id, "tool": "get_ticker",
                             "args": {"symbol": cold}, "reply_to": channel});
        xadd(&mut conn, request.to_string().as_bytes()).await;
    }
    let from_mcp = server.call("get_ticker", json!({"symbol": cold})).await;
    ok(&from_mcp);
    let got: HashMap<String, Vec<Value>> =
        collect_replies(&mut replies, ids.len(), GENEROUS, LINGER).await;
    for id in &ids {
        assert_eq!(got[id][0]["ok"], true, "{id}: {got:?}");
    }
    let calls = cold_calls(&sim, "SIM0003USDT") - before;
    assert_eq!(
        calls, 1,
        "exchange calls for one cold symbol after the restart"
    );
}

/// Ticker requests the exchange received that asked for `symbol`.
fn cold_calls(sim: &crypto_market_sim::SimHandle, symbol: &str) -> usize {
    sim.requests()
        .into_iter()
        .filter(|r| r.endpoint == "ticker/24hr" && r.symbols.iter().any(|s| s == symbol))
        .count()
}
