//! `crypto-market-worker` end to end: the real binaries as child processes, a private
//! redis-server, the simulator as the exchange, and a client speaking SPEC.md section 6.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::redis::RedisServer;
use common::worker::{
    collect_replies, connect, pending, start_worker, subscribe, wait_for_workers, wait_until, xadd,
    Worker, REQUESTS, WORKERS,
};
use crypto_market_sim::Faults;
use redis::AsyncCommands;
use serde_json::{json, Value};

const SYMBOLS: &[&str] = &["BTC/USDT", "ETH/USDT", "SOL/USDT"];
const GENEROUS: Duration = Duration::from_secs(60);
/// After the last expected reply, how long to keep listening for duplicates.
const LINGER: Duration = Duration::from_secs(2);
/// Longer than a reclaim cycle: an entry idle 5 s, then the reclaimer's 2 s sweep (SPEC.md
/// section 6), with room for a loaded machine.
const RECLAIM_CYCLE: Duration = Duration::from_secs(10);

/// Request `i` of a mixed load: tickers of a few symbols, and market listings.
fn mixed_request(i: usize, prefix: &str, reply_to: &str) -> Value {
    let (tool, args) = if i % 5 == 4 {
        ("list_markets", json!({"quote": "USDT", "limit": 5}))
    } else {
        ("get_ticker", json!({"symbol": SYMBOLS[i % SYMBOLS.len()]}))
    };
    json!({"request_id": format!("{prefix}-{i}"), "tool": tool, "args": args, "reply_to": reply_to})
}

/// Every id answered exactly once, successfully; returns the workers that answered.
fn assert_once_each(replies: &HashMap<String, Vec<Value>>, ids: &[String]) -> HashSet<String> {
    let missing: Vec<&String> = ids.iter().filter(|id| !replies.contains_key(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} unanswered: {missing:?}",
        missing.len()
    );
    let twice: Vec<(&String, usize)> = replies
        .iter()
        .filter(|(_, r)| r.len() > 1)
        .map(|(id, r)| (id, r.len()))
        .collect();
    assert!(twice.is_empty(), "answered more than once: {twice:?}");
    assert_eq!(replies.len(), ids.len(), "replies to ids never sent");
    let mut workers = HashSet::new();
    for reply in replies.values().flatten() {
        assert_eq!(reply["ok"], true, "{reply}");
        assert!(reply["elapsed_ms"].is_u64(), "{reply}");
        workers.insert(reply["worker"].as_str().expect("worker").to_owned());
    }
    workers
}

fn dump_logs(workers: &[Worker]) -> String {
    workers
        .iter()
        .map(|w| w.log.lock().unwrap().clone())
        .collect::<Vec<_>>()
        .join("\n----\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_answer_300_stream_requests_exactly_once_between_them() {
    let sim = common::simulator();
    let redis = RedisServer::start();
    let workers: Vec<Worker> = (0..3).map(|_| start_worker(&sim, &redis, &[])).collect();
    let mut conn = connect(&redis).await;
    wait_for_workers(&mut conn, 3).await;
    let mut replies = subscribe(&redis, "crypto_mcp:responses:a").await;

    let ids: Vec<String> = (0..300).map(|i| format!("a-{i}")).collect();
    for i in 0..300 {
        xadd(
            &mut conn,
            mixed_request(i, "a", "crypto_mcp:responses:a")
                .to_string()
                .as_bytes(),
        )
        .await;
    }
    let got = collect_replies(&mut replies, ids.len(), GENEROUS, LINGER).await;
    let answered_by = assert_once_each(&got, &ids);
    assert_eq!(
        answered_by.len(),
        3,
        "work spread over {answered_by:?}\n{}",
        dump_logs(&workers)
    );
    let sample = &got["a-0"][0]["result"];
    assert_eq!(sample["symbol"], "BTC/USDT", "{sample}");
    let listing = &got["a-4"][0]["result"];
    assert!(
        listing["markets"].as_array().is_some_and(|m| !m.is_empty()),
        "{listing}"
    );
    wait_until(GENEROUS, "every request acknowledged", || {
        let mut conn = conn.clone();
        async move { pending(&mut conn).await == 0 }
    })
    .await;

    // `status` (Redis protocol only) sees the three live workers and an empty queue.
    let mut status_replies = subscribe(&redis, "crypto_mcp:responses:status").await;
    let request = json!({"request_id": "a-status", "tool": "status", "reply_to": "crypto_mcp:responses:status"});
    xadd(&mut conn, request.to_string().as_bytes()).await;
    let got = collect_replies(&mut status_replies, 1, GENEROUS, Duration::ZERO).await;
    let status = &got["a-status"][0];
    assert_eq!(status["ok"], true, "{status}");
    let result = &status["result"];
    assert_eq!(
        result["workers"].as_array().map(Vec::len),
        Some(3),
        "{result}"
    );
    assert_eq!(result["queue_depth"], 0, "{result}");
    for field in [
        "id",
        "host",
        "pid",
        "started_ms",
        "last_seen_ms",
        "processed",
        "errors",
        "in_flight",
    ] {
        assert!(
            !result["workers"][0][field].is_null(),
            "{field} in {result}"
        );
    }
    assert!(result["cache"]["hit_rate"].is_f64(), "{result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_style_pubsub_requests_get_exactly_one_reply_each() {
    let sim = common::simulator();
    let redis = RedisServer::start();
    let _workers: Vec<Worker> = (0..3).map(|_| start_worker(&sim, &redis, &[])).collect();
    let mut conn = connect(&redis).await;
    wait_for_workers(&mut conn, 3).await;
    let mut replies = subscribe(&redis, "crypto_mcp:responses:b").await;

    let ids: Vec<String> = (0..300).map(|i| format!("b-{i}")).collect();
    for i in 0..300 {
        let heard: usize = conn
            .publish(
                REQUESTS,
                mixed_request(i, "b", "crypto_mcp:responses:b").to_string(),
            )
            .await
            .expect("PUBLISH");
        assert_eq!(heard, 3, "every worker is subscribed");
    }
    let got = collect_replies(&mut replies, ids.len(), GENEROUS, LINGER).await;
    assert_once_each(&got, &ids);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_are_answered_when_identifiable_and_never_stop_a_worker() {
    let sim = common::simulator();
    let redis = RedisServer::start();
    let mut workers: Vec<Worker> = (0..2).map(|_| start_worker(&sim, &redis, &[])).collect();
    let mut conn = connect(&redis).await;
    wait_for_workers(&mut conn, 2).await;
    let channel = "crypto_mcp:responses:c";
    let mut replies = subscribe(&redis, channel).await;

    let huge = json!({"request_id": "c-huge", "tool": "get_ticker", "reply_to": channel,
        "args": {"symbol": "x".repeat(1024 * 1024)}});
    let bad: Vec<Vec<u8>> = vec![
        b"not json at all".to_vec(),
        b"[1, 2, 3]".to_vec(),
        json!({"tool": "get_ticker", "args": {"symbol": "BTC/USDT"}}).to_string().into_bytes(),
        json!({"request_id": 5, "tool": "get_ticker"}).to_string().into_bytes(),
        json!({"request_id": "", "tool": "get_ticker"}).to_string().into_bytes(),
        json!({"request_id": "c-args-type", "tool": "get_ticker", "args": "BTC/USDT", "reply_to": channel}).to_string().into_bytes(),
        json!({"request_id": "c-tool-type", "tool": 7, "reply_to": channel}).to_string().into_bytes(),
        json!({"request_id": "c-unknown-arg", "tool": "get_ticker", "args": {"symbol": "BTC/USDT", "bogus": 1}, "reply_to": channel}).to_string().into_bytes(),
        json!({"request_id": "c-unknown-tool", "tool": "no_such_tool", "reply_to": channel}).to_string().into_bytes(),
        json!({"request_id": "c-late", "tool": "get_ticker", "args": {"symbol": "BTC/USDT"}, "deadline_ms": 1, "reply_to": channel}).to_string().into_bytes(),
        huge.to_string().into_bytes(),
    ];
    for payload in &bad {
        xadd(&mut conn, payload).await;
    }
    // A stream entry without a `request` field at all.
    let _: String = conn.xadd(REQUESTS, "*", &[("other", "x")]).await.unwrap();
    // The same mistakes seed-style: heard by both workers, answered by one.
    for payload in &bad[..5] {
        let _: usize = conn.publish(REQUESTS, payload.as_slice()).await.unwrap();
    }
    let unknown_ps =
        json!({"request_id": "c-ps-unknown-tool", "tool": "nope", "reply_to": channel});
    let _: usize = conn
        .publish(REQUESTS, unknown_ps.to_string())
        .await
        .unwrap();
    let good = json!({"request_id": "c-good", "tool": "get_ticker", "args": {"symbol": "ETH/USDT"}, "reply_to": channel});
    xadd(&mut conn, good.to_string().as_bytes()).await;

    let expected = [
        ("c-args-type", "invalid_argument"),
        ("c-tool-type", "invalid_argument"),
        ("c-unknown-arg", "invalid_argument"),
        ("c-unknown-tool", "unknown_tool"),
        ("c-late", "timeout"),
        ("c-huge", "invalid_argument"),
        ("c-ps-unknown-tool", "unknown_tool"),
    ];
    let got = collect_replies(&mut replies, expected.len() + 1, GENEROUS, LINGER).await;
    for (id, code) in expected {
        let replies = got
            .get(id)
            .unwrap_or_else(|| panic!("no reply to {id}: {got:?}"));
        assert_eq!(replies.len(), 1, "{id}: {replies:?}");
        assert_eq!(replies[0]["ok"], false, "{id}: {replies:?}");
        assert_eq!(replies[0]["error"]["code"], code, "{id}: {replies:?}");
        assert!(
            replies[0]["error"]["message"].is_string(),
            "{id}: {replies:?}"
        );
    }
    assert_eq!(got["c-good"].len(), 1);
    assert_eq!(got["c-good"][0]["ok"], true, "{:?}", got["c-good"]);
    assert_eq!(got.len(), expected.len() + 1, "unexpected replies: {got:?}");
    // Malformed entries are acknowledged too, not left to be reclaimed forever.
    wait_until(GENEROUS, "every entry acknowledged", || {
        let mut conn = conn.clone();
        async move { pending(&mut conn).await == 0 }
    })
    .await;
    for worker in &mut workers {
        assert!(worker.still_running(), "{}", worker.log.lock().unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_and_acknowledges_in_flight_requests_then_exits_0() {
    let sim = common::simulator();
    let redis = RedisServer::start();
    let mut worker = start_worker(&sim, &redis, &[]);
    let mut conn = connect(&redis).await;
    wait_for_workers(&mut conn, 1).await;
    let channel = "crypto_mcp:responses:d";
    let mut replies = subscribe(&redis, channel).await;
    sim.set_faults(Faults {
        // Long enough that the requests are surely still running when the signal comes.
        latency_ms: 3000,
        endpoints: Some(vec!["ticker/24hr".into()]),
        ..Default::default()
    });
    let ids: Vec<String> = (0..6).map(|i| format!("d-{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        let request = json!({"request_id": id, "tool": "get_ticker",
            "args": {"symbol": SYMBOLS[i % SYMBOLS.len()]}, "reply_to": channel});
        xadd(&mut conn, request.to_string().as_bytes()).await;
    }
    // All read by the worker (pending), none answered yet: the exchange takes 3 seconds.
    wait_until(GENEROUS, "the worker to read every request", || {
        let mut conn = conn.clone();
        async move { pending(&mut conn).await == 6 }
    })
    .await;
    worker.signal(libc::SIGTERM);
    let status = worker.exit_status(GENEROUS).await;
    assert_eq!(status.code(), Some(0), "{}", worker.log.lock().unwrap());
    let got = collect_replies(&mut replies, ids.len(), GENEROUS, Duration::ZERO).await;
    assert_once_each(&got, &ids);
    assert_eq!(pending(&mut conn).await, 0, "acknowledged before exit");
    let left: usize = conn.hlen(WORKERS).await.unwrap();
    assert_eq!(left, 0, "the worker left the worker list");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_held_by_a_killed_worker_are_answered_once_by_another() {
    let sim = common::simulator();
    let redis = RedisServer::start();
    let mut doomed = start_worker(&sim, &redis, &[]);
    let mut conn = connect(&redis).await;
    wait_for_workers(&mut conn, 1).await;
    let channel = "crypto_mcp:responses:e";
    let mut replies = subscribe(&redis, channel).await;
    sim.set_faults(Faults {
        latency_ms: 3000,
        endpoints: Some(vec!["ticker/24hr".into()]),
        ..Default::default()
    });
    let ids: Vec<String> = (0..6).map(|i| format!("e-{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        let request = json!({"request_id": id, "tool": "get_ticker",
            "args": {"symbol": SYMBOLS[i % SYMBOLS.len()]}, "reply_to": channel});
        xadd(&mut conn, request.to_string().as_bytes()).await;
    }
    wait_until(GENEROUS, "the first worker to hold every request", || {
        let mut conn = conn.clone();
        async move { pending(&mut conn).await == 6 }
    })
    .await;
    doomed.signal(libc::SIGKILL);
    doomed.exit_status(GENEROUS).await;

    let rescuer = start_worker(&sim, &redis, &[]);
    let got = collect_replies(&mut replies, ids.len(), GENEROUS, LINGER).await;
    let answered_by = assert_once_each(&got, &ids);
    assert_eq!(
        answered_by.len(),
        1,
        "{answered_by:?}\n{}",
        rescuer.log.lock().unwrap()
    );
    wait_until(GENEROUS, "every request acknowledged", || {
        let mut conn = conn.clone();
        async move { pending(&mut conn).await == 0 }
    })
    .await;
    // A second reclaim would answer again only after the entry idled 5 s and the reclaimer's
    // next 2 s sweep: listen past a whole cycle, and any reply at all is one too many.
    let late = collect_replies(&mut replies, usize::MAX, RECLAIM_CYCLE, Duration::ZERO).await;
    assert!(late.is_empty(), "replies after the last one: {late:?}");

    // The killed worker never left the worker list; `status` stops counting it once it has
    // been silent for 10 s.
    let channel = "crypto_mcp:responses:e-status";
    let mut status_replies = subscribe(&redis, channel).await;
    let rescuer_id = answered_by.into_iter().next().unwrap();
    let deadline = std::time::Instant::now() + GENEROUS;
    for asked in 0.. {
        let id = format!("e-status-{asked}");
        let request = json!({"request_id": id, "tool": "status", "reply_to": channel});
        xadd(&mut conn, request.to_string().as_bytes()).await;
        let got = collect_replies(&mut status_replies, 1, GENEROUS, Duration::ZERO).await;
        let workers = got[&id][0]["result"]["workers"].clone();
        if workers.as_array().map(Vec::len) == Some(1) {
            assert_eq!(workers[0]["id"], rescuer_id.as_str());
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "status still lists {workers}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_reclaimed_more_than_3_times_is_dead_lettered_and_answered_internal() {
    let sim = common::simulator();
    let redis = RedisServer::start();
    let mut conn = connect(&redis).await;
    let channel = "crypto_mcp:responses:dead";
    let mut replies = subscribe(&redis, channel).await;
    // Before any worker runs: a consumer "ghost" took two requests and vanished; one of them
    // was already delivered 4 times (first delivery and three reclaims), the other once.
    let _: () = conn
        .xgroup_create_mkstream(REQUESTS, "workers", "0")
        .await
        .unwrap();
    let poison = json!({"request_id": "dead-1", "tool": "get_ticker", "args": {"symbol": "BTC/USDT"}, "reply_to": channel}).to_string();
    let orphan = json!({"request_id": "orphan-1", "tool": "get_ticker", "args": {"symbol": "ETH/USDT"}, "reply_to": channel}).to_string();
    let poison_id: String = conn
        .xadd(REQUESTS, "*", &[("request", &poison)])
        .await
        .unwrap();
    let orphan_id: String = conn
        .xadd(REQUESTS, "*", &[("request", &orphan)])
        .await
        .unwrap();
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg(&[
            "GROUP", "workers", "ghost", "COUNT", "10", "STREAMS", REQUESTS, ">",
        ])
        .query_async(&mut conn)
        .await
        .unwrap();
    for (id, deliveries) in [(&poison_id, 4), (&orphan_id, 1)] {
        let _: redis::Value = redis::cmd("XCLAIM")
            .arg(REQUESTS)
            .arg(&["workers", "ghost", "0"])
            .arg(id)
            .arg(&["IDLE", "60000", "RETRYCOUNT"])
            .arg(deliveries)
            .query_async(&mut conn)
            .await
            .unwrap();
    }

    let _worker = start_worker(&sim, &redis, &[]);
    let got = collect_replies(&mut replies, 2, GENEROUS, LINGER).await;
    assert_eq!(got["dead-1"].len(), 1, "{got:?}");
    assert_eq!(got["dead-1"][0]["ok"], false, "{got:?}");
    assert_eq!(got["dead-1"][0]["error"]["code"], "internal", "{got:?}");
    assert_eq!(got["orphan-1"].len(), 1, "{got:?}");
    assert_eq!(got["orphan-1"][0]["ok"], true, "{got:?}");
    let dead: redis::streams::StreamRangeReply =
        conn.xrange_all(format!("{REQUESTS}:dead")).await.unwrap();
    assert_eq!(dead.ids.len(), 1);
    let moved: String = dead.ids[0].get("request").unwrap();
    assert_eq!(moved, poison);
    wait_until(GENEROUS, "both requests acknowledged", || {
        let mut conn = conn.clone();
        async move { pending(&mut conn).await == 0 }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_serves_again_after_redis_restarts_empty() {
    let sim = common::simulator();
    let mut redis = RedisServer::start();
    let mut worker = start_worker(&sim, &redis, &[]);
    let mut conn = connect(&redis).await;
    wait_for_workers(&mut conn, 1).await;
    drop(conn);
    // Without persistence the stream, its group and the worker list are gone.
    redis.restart();
    let mut conn = connect(&redis).await;
    wait_for_workers(&mut conn, 1).await;
    let channel = "crypto_mcp:responses:restart";
    let mut replies = subscribe(&redis, channel).await;
    let request = json!({"request_id": "r-stream", "tool": "get_ticker", "args": {"symbol": "BTC/USDT"}, "reply_to": channel});
    xadd(&mut conn, request.to_string().as_bytes()).await;
    wait_until(GENEROUS, "the worker to subscribe again", || {
        let mut conn = conn.clone();
        async move {
            let counts: Vec<(String, usize)> = redis::cmd("PUBSUB")
                .arg(&["NUMSUB", REQUESTS])
                .query_async(&mut conn)
                .await
                .unwrap_or_default();
            counts.first().is_some_and(|(_, n)| *n == 1)
        }
    })
    .await;
    let request = json!({"request_id": "r-pubsub", "tool": "get_ticker", "args": {"symbol": "BTC/USDT"}, "reply_to": channel});
    let _: usize = conn.publish(REQUESTS, request.to_string()).await.unwrap();
    let got = collect_replies(&mut replies, 2, GENEROUS, Duration::ZERO).await;
    assert_once_each(&got, &["r-stream".into(), "r-pubsub".into()]);
    assert!(worker.still_running());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_malformed_requests_and_show_the_pool() {
    let sim = common::simulator();
    let redis = RedisServer::start();
    let worker = start_worker(&sim, &redis, &[("METRICS_ADDR", "127.0.0.1:0")]);
    let addr = common::logged_addr(&worker.log, "serving /metrics").await;
    let mut conn = connect(&redis).await;
    wait_for_workers(&mut conn, 1).await;
    xadd(&mut conn, b"{not json").await;
    wait_until(GENEROUS, "the pool metrics", || {
        let addr = addr.clone();
        async move {
            let Ok((200, body)) = common::http_get(&addr, "/metrics").await else {
                return false;
            };
            body.contains("cmm_worker_malformed_total{kind=\"not_json\"} 1")
                && body.contains("cmm_workers_live 1")
                && body.contains("cmm_queue_depth 0")
        }
    })
    .await;
}

#[tokio::test]
async fn a_bad_setting_exits_2_naming_it() {
    let output = tokio::process::Command::new(common::worker::WORKER_BINARY)
        .env("REDIS_PORT", "not-a-port")
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("REDIS_PORT"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_miss_does_not_hold_up_requests_read_after_it() {
    let sim = common::simulator();
    let redis = RedisServer::start();
    let _worker = start_worker(&sim, &redis, &[]);
    let mut conn = connect(&redis).await;
    wait_for_workers(&mut conn, 1).await;
    let channel = "crypto_mcp:responses:slow";
    let mut replies = subscribe(&redis, channel).await;
    sim.set_faults(Faults {
        latency_ms: 3000,
        endpoints: Some(vec!["ticker/24hr".into()]),
        ..Default::default()
    });
    let slow = json!({"request_id": "slow", "tool": "get_ticker", "args": {"symbol": "BTC/USDT"}, "reply_to": channel});
    xadd(&mut conn, slow.to_string().as_bytes()).await;
    for i in 0..5 {
        let fast =
            json!({"request_id": format!("fast-{i}"), "tool": "list_markets", "reply_to": channel});
        xadd(&mut conn, fast.to_string().as_bytes()).await;
    }
    // Replies on one channel arrive in the order they were published.
    let mut order = Vec::new();
    while order.len() < 6 {
        let reply = tokio::time::timeout(GENEROUS, replies.recv())
            .await
            .expect("a reply")
            .expect("subscribed");
        assert_eq!(reply["ok"], true, "{reply}");
        order.push(reply["request_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(order.last().map(String::as_str), Some("slow"), "{order:?}");
}

/// Redis `stream_ticker` (SPEC.md section 5): the reply names the ticker's channel and when
/// the feed stops; until then the worker keeps the symbol watched (fresh, hence published on
/// that channel), a second call extends the lease, and after it nothing polls the symbol.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_ticker_keeps_the_ticker_published_on_its_channel_until_it_expires() {
    stream_ticker_lease("true").await;
}

/// The same without the shared cache: the engine then has no Redis of its own, and the
/// worker publishes the ticks itself (the channel is promised whatever `USE_REDIS_CACHE`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_ticker_publishes_on_its_channel_without_the_shared_cache_too() {
    stream_ticker_lease("false").await;
}

async fn stream_ticker_lease(use_redis_cache: &str) {
    const CHANNEL: &str = "crypto_mcp:ticker:binance:BTC/USDT";
    let sim = common::simulator();
    let redis = RedisServer::start();
    let worker = start_worker(
        &sim,
        &redis,
        &[("CACHE_TTL", "1"), ("USE_REDIS_CACHE", use_redis_cache)],
    );
    let mut conn = connect(&redis).await;
    wait_for_workers(&mut conn, 1).await;
    let mut replies = subscribe(&redis, "crypto_mcp:responses:stream").await;
    let mut published = subscribe(&redis, CHANNEL).await;
    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    };
    let ask = |id: &str, args: Value| {
        let request = json!({"request_id": id, "tool": "stream_ticker", "args": args,
                             "reply_to": "crypto_mcp:responses:stream"});
        let mut conn = conn.clone();
        async move { xadd(&mut conn, request.to_string().as_bytes()).await }
    };

    let before = now_ms();
    ask("s1", json!({"symbol": "btcusdt", "duration_s": 3})).await;
    let reply = collect_replies(&mut replies, 1, GENEROUS, Duration::ZERO).await["s1"][0].clone();
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["result"]["channel"], CHANNEL);
    let first_expiry = reply["result"]["expires_at_ms"]
        .as_i64()
        .expect("expires_at_ms");
    assert!(
        (before + 3_000..=now_ms() + 3_000).contains(&first_expiry),
        "{first_expiry} is 3 s after the call"
    );
    // Watched: polled at the TTL, each ticker published with the cache write.
    for _ in 0..2 {
        let tick = tokio::time::timeout(Duration::from_secs(10), published.recv())
            .await
            .expect("a ticker on the channel")
            .unwrap();
        assert_eq!(
            (tick["symbol"].as_str(), tick["exchange"].as_str()),
            (Some("BTC/USDT"), Some("binance"))
        );
    }

    ask("s2", json!({"symbol": "BTC/USDT", "duration_s": 4})).await;
    let reply = collect_replies(&mut replies, 1, GENEROUS, Duration::ZERO).await["s2"][0].clone();
    let extended = reply["result"]["expires_at_ms"].as_i64().unwrap();
    assert!(extended > first_expiry, "{extended} extends {first_expiry}");

    ask("s3", json!({"symbol": "BTC/USDT", "duration_s": 0})).await;
    let reply = collect_replies(&mut replies, 1, GENEROUS, Duration::ZERO).await["s3"][0].clone();
    assert_eq!(reply["ok"], false);
    assert_eq!(reply["error"]["code"], "invalid_argument");

    // Past the expiry (and the symbol's next freshness check), nothing polls it any more.
    let wait = u64::try_from(extended - now_ms()).unwrap_or(0) + 2_500;
    tokio::time::sleep(Duration::from_millis(wait)).await;
    let after = sim.calls("ticker/24hr");
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(
        sim.calls("ticker/24hr"),
        after,
        "the lease expired: the watch is released; log:\n{}",
        worker.log.lock().unwrap()
    );
}
