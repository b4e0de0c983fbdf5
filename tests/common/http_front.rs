//! Raw HTTP against `crypto-market-mcp --http`, for what an MCP client library hides: status
//! codes, `Origin` and `Authorization` headers, sessions opened and left, SSE streams held.

use serde_json::{json, Value};

pub const PROTOCOL: &str = "2025-06-18";

/// The JSON-RPC `initialize` request body.
pub fn initialize_body() -> Value {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": PROTOCOL, "capabilities": {},
                   "clientInfo": {"name": "exposure-test", "version": "1"}}
    })
}

/// POSTs `initialize` to `http://{addr}/mcp` with the extra `headers`: the raw response (its
/// `Mcp-Session-Id` names the session opened, when it is 200).
pub async fn initialize(addr: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    post(addr, None, headers, &initialize_body()).await
}

/// POSTs `body` to `/mcp`, in session `session` when given.
pub async fn post(
    addr: &str,
    session: Option<&str>,
    headers: &[(&str, &str)],
    body: &Value,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("http://{addr}/mcp"))
        .header("Accept", "application/json, text/event-stream")
        .header("Content-Type", "application/json")
        .header("MCP-Protocol-Version", PROTOCOL)
        .body(body.to_string());
    if let Some(session) = session {
        request = request.header("Mcp-Session-Id", session);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("the server answers")
}

/// Opens a session (initialize, then `notifications/initialized`): its id.
pub async fn open_session(addr: &str, headers: &[(&str, &str)]) -> String {
    let response = initialize(addr, headers).await;
    assert_eq!(response.status(), 200, "initialize: {response:?}");
    let session = session_id(&response).expect("Mcp-Session-Id");
    // The body (one SSE event) is read to its end, so the request is done.
    response.text().await.expect("initialize result");
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let response = post(addr, Some(&session), headers, &initialized).await;
    assert!(response.status().is_success(), "initialized: {response:?}");
    session
}

pub fn session_id(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// `GET /mcp` of `session`: the session's SSE stream, open until the server ends it.
pub async fn open_stream(addr: &str, session: &str) -> reqwest::Response {
    let response = reqwest::Client::new()
        .get(format!("http://{addr}/mcp"))
        .header("Accept", "text/event-stream")
        .header("MCP-Protocol-Version", PROTOCOL)
        .header("Mcp-Session-Id", session)
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status(), 200, "GET /mcp: {response:?}");
    response
}

/// One client of a keys file: `(id, key, rate_per_s, burst, tools)`.
pub type KeysFileClient<'a> = (&'a str, &'a str, f64, u32, Option<&'a [&'a str]>);

/// A keys file in `dir`: one line group per client.
pub fn keys_file(dir: &std::path::Path, clients: &[KeysFileClient<'_>]) -> std::path::PathBuf {
    let mut text = String::new();
    for (id, key, rate, burst, tools) in clients {
        text.push_str(&format!(
            "[[client]]\nid = \"{id}\"\nkey_sha256 = \"{}\"\nrate_per_s = {rate:?}\nburst = {burst}\n",
            crypto_market_mcp::auth::sha256_hex(key)
        ));
        if let Some(tools) = tools {
            let list: Vec<String> = tools.iter().map(|t| format!("\"{t}\"")).collect();
            text.push_str(&format!("tools = [{}]\n", list.join(", ")));
        }
        text.push('\n');
    }
    let path = dir.join("keys.toml");
    std::fs::write(&path, text).expect("keys file written");
    path
}

/// A fresh directory (tests of one file run at once, in one process).
pub fn tempdir(name: &str) -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!(
        "cmm-{name}-{}-{n}-{}",
        std::process::id(),
        crypto_market_actors::model::now_ms()
    ));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

/// Sends `signal` to `child`.
pub fn signal(child: &tokio::process::Child, signal: i32) {
    super::send_signal(child.id().expect("running"), signal);
}
