//! Issue 13 (per-client keys and limits, the worker pool): with `API_KEYS_FILE`, a request
//! needs a known `api_key` whose client may call the tool and is within its rate; the rate
//! holds across all workers (kept in Redis); `status` and `/metrics` count per client id,
//! never the key.

mod common;

use std::time::Duration;

use common::redis::RedisServer;
use common::worker::{collect_replies, connect, psubscribe, start_worker, wait_for_workers, xadd};
use serde_json::{json, Value};

/// Every client's reply channel: a known key is answered only on its client's own channel
/// (SPEC.md section 9).
const REPLIES: &str = "crypto_mcp:responses:*";

fn keys_file(dir: &std::path::Path) -> std::path::PathBuf {
    let sha = |key: &str| crypto_market_mcp::auth::sha256_hex(key);
    let text = format!(
        "[[client]]\nid = \"alpha\"\nkey_sha256 = \"{}\"\nrate_per_s = 0.01\nburst = 3\n\n\
         [[client]]\nid = \"gamma\"\nkey_sha256 = \"{}\"\nrate_per_s = 5.0\nburst = 5\n\n\
         [[client]]\nid = \"beta\"\nkey_sha256 = \"{}\"\nrate_per_s = 100.0\nburst = 100\n\
         tools = [\"get_ticker\", \"status\"]\n",
        sha("alpha-secret"),
        sha("gamma-secret"),
        sha("beta-secret")
    );
    let path = dir.join("keys.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `crypto_mcp:responses:{client id}` for a known key (`alpha-secret` is client alpha's).
fn reply_channel(key: Option<&str>) -> String {
    let client = key
        .and_then(|k| k.strip_suffix("-secret"))
        .unwrap_or("anonymous");
    format!("crypto_mcp:responses:{client}")
}

fn request(id: &str, tool: &str, key: Option<&str>) -> Value {
    let mut request = json!({"request_id": id, "tool": tool, "args": {"symbol": "BTC/USDT"},
                             "reply_to": reply_channel(key)});
    if tool == "status" {
        request["args"] = json!({});
    }
    if let Some(key) = key {
        request["api_key"] = json!(key);
    }
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_clients_are_admitted_limited_across_workers_and_counted_by_id() {
    let sim = common::simulator();
    let redis = RedisServer::start();
    let dir = tempdir();
    let file = keys_file(&dir);
    let file = file.to_str().unwrap();
    let first = start_worker(&sim, &redis, &[("API_KEYS_FILE", file)]);
    let mut conn = connect(&redis).await;
    wait_for_workers(&mut conn, 1).await;
    let mut replies = psubscribe(&redis, REPLIES).await;

    let cases = [
        ("no-key", "get_ticker", None, "unauthorized"),
        ("bad-key", "get_ticker", Some("guess"), "unauthorized"),
        (
            "beta-ohlcv",
            "get_ohlcv",
            Some("beta-secret"),
            "unauthorized",
        ),
        ("beta-ticker", "get_ticker", Some("beta-secret"), "ok"),
    ];
    for (id, tool, key, _) in cases {
        xadd(&mut conn, request(id, tool, key).to_string().as_bytes()).await;
    }
    let got = collect_replies(
        &mut replies,
        cases.len(),
        Duration::from_secs(60),
        Duration::ZERO,
    )
    .await;
    for (id, _, _, expected) in cases {
        let reply = &got[id][0];
        match expected {
            "ok" => assert_eq!(reply["ok"], true, "{id}: {reply}"),
            code => assert_eq!(reply["error"]["code"], code, "{id}: {reply}"),
        }
    }

    // alpha: a burst of 3, then one per 100 s. The first wave is served by the first worker
    // alone; the second by a worker that has not seen alpha before: the limit is in Redis, so
    // it is spent already.
    let first_wave: Vec<String> = (0..5).map(|i| format!("alpha-{i}")).collect();
    let got = alpha_asks(&mut conn, &mut replies, &first_wave).await;
    let passed = first_wave
        .iter()
        .filter(|id| got[*id][0]["ok"] == true)
        .count();
    assert_eq!(passed, 3, "{got:?}");
    for id in &first_wave {
        let reply = &got[id][0];
        if reply["ok"] == false {
            assert_eq!(reply["error"]["code"], "rate_limited", "{reply}");
            let wait = reply["error"]["retry_after_ms"]
                .as_u64()
                .expect("retry_after_ms");
            assert!(wait > 0 && wait <= 100_000, "{reply}");
        }
    }
    drop(first);
    let second = start_worker(&sim, &redis, &[("API_KEYS_FILE", file)]);
    wait_until_live(&mut conn, &second).await;
    let second_wave: Vec<String> = (0..3).map(|i| format!("alpha-late-{i}")).collect();
    let got = alpha_asks(&mut conn, &mut replies, &second_wave).await;
    for id in &second_wave {
        let reply = &got[id][0];
        assert_eq!(reply["error"]["code"], "rate_limited", "{id}: {reply}");
    }
    // beta is not held up by alpha's limit.
    xadd(
        &mut conn,
        request("beta-again", "get_ticker", Some("beta-secret"))
            .to_string()
            .as_bytes(),
    )
    .await;
    let got = collect_replies(&mut replies, 1, Duration::from_secs(60), Duration::ZERO).await;
    assert_eq!(got["beta-again"][0]["ok"], true);

    // status: per client id, never the key.
    xadd(
        &mut conn,
        request("status", "status", Some("beta-secret"))
            .to_string()
            .as_bytes(),
    )
    .await;
    let got = collect_replies(&mut replies, 1, Duration::from_secs(60), Duration::ZERO).await;
    let status = &got["status"][0];
    assert_eq!(status["ok"], true, "{status}");
    assert!(status["result"]["clients"].is_object(), "{status}");
    let text = status.to_string();
    assert!(!text.contains("alpha-secret") && !text.contains("beta-secret"));
    // gamma (5 a second, burst 5) sends 50 at once beside beta's 50: gamma's excess is
    // rate_limited, beta is served in full.
    let mut ids = Vec::new();
    let sent = std::time::Instant::now();
    for i in 0..50 {
        for (client, key) in [("gamma", "gamma-secret"), ("beta", "beta-secret")] {
            let id = format!("{client}-many-{i}");
            xadd(
                &mut conn,
                request(&id, "get_ticker", Some(key)).to_string().as_bytes(),
            )
            .await;
            ids.push(id);
        }
    }
    // Replies as they arrive, noting when gamma's last one came: every decision on gamma fell
    // between the first request and then, so its bucket could refill for no longer.
    let mut got: std::collections::HashMap<String, Vec<Value>> = Default::default();
    let mut gamma_decided = sent;
    while got.len() < ids.len() {
        let reply = tokio::time::timeout(Duration::from_secs(60), replies.recv())
            .await
            .expect("every reply within 60 s")
            .expect("the subscription");
        let id = reply["request_id"].as_str().expect("request_id").to_owned();
        if id.starts_with("gamma") {
            gamma_decided = std::time::Instant::now();
        }
        got.entry(id).or_default().push(reply);
    }
    let span = (gamma_decided - sent).as_secs_f64();
    let count = |client: &str, ok: bool| {
        ids.iter()
            .filter(|id| id.starts_with(client) && (got[*id][0]["ok"] == true) == ok)
            .count()
    };
    assert_eq!(count("beta", true), 50, "beta served in full");
    // Its burst of 5, plus at most 5 a second over the span (one more for the token that was
    // nearly whole): bounded by the time it took, not by how fast this machine is.
    let gamma_ok = count("gamma", true);
    let at_most = 5 + (5.0 * span).ceil() as usize + 1;
    assert!(
        (5..=at_most.min(49)).contains(&gamma_ok),
        "gamma: its burst and its rate, {gamma_ok} served in {span:.2} s (at most {at_most})"
    );
    for id in ids
        .iter()
        .filter(|id| id.starts_with("gamma") && got[*id][0]["ok"] == false)
    {
        assert_eq!(
            got[id][0]["error"]["code"], "rate_limited",
            "{}",
            got[id][0]
        );
    }
    let log = second.log.lock().unwrap().clone();
    for key in ["alpha-secret", "beta-secret", "gamma-secret"] {
        assert!(!log.contains(key), "a key in the logs");
    }
}

#[tokio::test]
async fn a_bad_keys_file_exits_2_naming_the_setting() {
    let dir = tempdir();
    let path = dir.join("keys.toml");
    std::fs::write(
        &path,
        "[[client]]\nid = \"x\"\nkey_sha256 = \"short\"\nrate_per_s = 1.0\nburst = 1\n",
    )
    .unwrap();
    let output = tokio::process::Command::new(common::worker::WORKER_BINARY)
        .env("API_KEYS_FILE", &path)
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("API_KEYS_FILE"), "{stderr}");
    assert!(stderr.contains("64 hex digits"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// Client alpha asks for a ticker once per id, all at once; the replies by id (with a moment
/// for any duplicate to show).
async fn alpha_asks(
    conn: &mut redis::aio::MultiplexedConnection,
    replies: &mut tokio::sync::mpsc::UnboundedReceiver<Value>,
    ids: &[String],
) -> std::collections::HashMap<String, Vec<Value>> {
    for id in ids {
        let request = request(id, "get_ticker", Some("alpha-secret"));
        xadd(conn, request.to_string().as_bytes()).await;
    }
    collect_replies(
        replies,
        ids.len(),
        Duration::from_secs(60),
        Duration::from_millis(500),
    )
    .await
}

/// Until `worker` has announced itself in the heartbeat hash (it serves from then on).
async fn wait_until_live(
    conn: &mut redis::aio::MultiplexedConnection,
    worker: &common::worker::Worker,
) {
    let pid = worker.child.id().expect("running").to_string();
    for _ in 0..400 {
        let all: std::collections::HashMap<String, String> =
            redis::AsyncCommands::hgetall(conn, common::worker::WORKERS)
                .await
                .unwrap_or_default();
        if all
            .values()
            .any(|info| info.contains(&format!("\"pid\":{pid}")))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the second worker never announced itself");
}

/// A directory of each test's own (tests of this file run at once, in one process).
fn tempdir() -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!(
        "cmm-keys-{}-{}-{n}",
        std::process::id(),
        crypto_market_actors::model::now_ms()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Over `--http`: a client's key is a bearer token (within its tools and rate); the
/// all-access `MCP_AUTH_TOKEN` keeps working; anything else cannot even initialize.
#[tokio::test]
async fn http_accepts_client_keys_as_bearer_tokens_within_their_limits() {
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::ServiceExt;

    let sim = common::simulator();
    let dir = tempdir();
    let file = keys_file(&dir);
    let (_child, addr) = common::start_http_server(
        &sim,
        &[
            ("API_KEYS_FILE", file.to_str().unwrap()),
            ("MCP_AUTH_TOKEN", "admin-token"),
        ],
    )
    .await;
    let url = format!("http://{addr}/mcp");
    let connect = |key: &str| {
        StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(url.as_str()).auth_header(key.to_owned()),
        )
    };
    assert!(().serve(connect("guess")).await.is_err(), "an unknown key");

    let beta = ().serve(connect("beta-secret")).await.expect("beta's key");
    let ticker = common::call(&beta, "get_ticker", json!({"symbol": "BTC/USDT"})).await;
    common::ok(&ticker);
    let ohlcv = common::call(&beta, "get_ohlcv", json!({"symbol": "BTC/USDT"})).await;
    assert_eq!(common::error_code(&ohlcv), "unauthorized");

    // alpha: a burst of 3, then rate_limited with a retry_after_ms.
    let alpha = ().serve(connect("alpha-secret")).await.expect("alpha's key");
    let mut codes = Vec::new();
    for _ in 0..5 {
        let r = common::call(&alpha, "get_ticker", json!({"symbol": "ETH/USDT"})).await;
        if r.is_error == Some(true) {
            let error = &r.structured_content.as_ref().unwrap()["error"];
            assert!(
                error["retry_after_ms"].as_u64().is_some_and(|ms| ms > 0),
                "{error}"
            );
            codes.push(common::error_code(&r));
        } else {
            codes.push("ok".to_owned());
        }
    }
    assert_eq!(codes, ["ok", "ok", "ok", "rate_limited", "rate_limited"]);

    let admin = ().serve(connect("admin-token")).await.expect("the all-access token");
    for _ in 0..5 {
        let r = common::call(&admin, "get_ticker", json!({"symbol": "ETH/USDT"})).await;
        common::ok(&r);
    }
}
