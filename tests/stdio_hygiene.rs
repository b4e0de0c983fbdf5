//! stdout is the MCP channel: nothing but JSON-RPC may appear on it, even when ccxt fails and
//! panics internally. Logs go to stderr. Bad settings exit 2 with one line.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{server_command, simulator, MCP_BINARY};
use crypto_market_sim::Faults;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

#[tokio::test]
async fn stdout_carries_only_json_rpc_even_when_the_exchange_fails() {
    let sim = simulator();
    sim.set_faults(Faults {
        force_status: Some(500),
        endpoints: Some(vec!["ticker/24hr".into(), "depth".into()]),
        ..Default::default()
    });
    let mut child = server_command(&sim, &[("RUST_LOG", "debug"), ("RUST_BACKTRACE", "1")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let requests = [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "hygiene", "version": "1"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "get_ticker", "arguments": {"symbol": "BTC/USDT"}}}),
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "get_order_book", "arguments": {"symbol": "BTC/USDT"}}}),
        json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "get_ticker", "arguments": {"symbol": "FOO/BAR"}}}),
        json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "get_trades", "arguments": {"symbol": "BTC/USDT", "limit": 3}}}),
    ];
    for request in &requests {
        stdin
            .write_all(format!("{request}\n").as_bytes())
            .await
            .unwrap();
    }
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut answered = std::collections::HashMap::new();
    while answered.len() < 5 {
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("answers in time")
            .unwrap()
            .expect("a line");
        let message: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("non-JSON on stdout ({e}): {line:?}"));
        assert_eq!(message["jsonrpc"], "2.0", "{line}");
        answered.insert(
            message["id"].as_i64().expect("only responses here"),
            message,
        );
    }
    assert_eq!(
        answered[&2]["result"]["structuredContent"]["error"]["code"],
        "exchange_unavailable"
    );
    assert_eq!(
        answered[&3]["result"]["structuredContent"]["error"]["code"],
        "exchange_unavailable"
    );
    assert_eq!(
        answered[&4]["result"]["structuredContent"]["error"]["code"],
        "invalid_symbol"
    );
    assert_eq!(
        answered[&5]["result"]["structuredContent"]["trades"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    drop(stdin); // end of session: the server exits
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
    let mut rest = String::new();
    lines.into_inner().read_to_string(&mut rest).await.unwrap();
    assert!(
        rest.trim().is_empty(),
        "nothing after the last response: {rest:?}"
    );
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    assert!(
        stderr.contains("INFO") && stderr.contains("crypto-market-mcp serving MCP on stdio"),
        "logs go to stderr"
    );
    assert!(
        !stderr.contains("stack backtrace"),
        "ccxt's error panics stay quiet:\n{stderr}"
    );
    assert!(
        !stderr.contains("panicked at"),
        "no raw panic output:\n{stderr}"
    );
}

#[tokio::test]
async fn bad_settings_exit_2_with_one_line_naming_the_setting() {
    let cases = [
        ("CACHE_TTL", "soon", "CACHE_TTL"),
        ("EXCHANGE_NAME", "simulated", "EXCHANGE_NAME"),
        ("EXCHANGE_REST_URL", "not a url", "EXCHANGE_REST_URL"),
        ("REDIS_PORT", "-1", "REDIS_PORT"),
    ];
    for (env, value, named) in cases {
        let out = tokio::process::Command::new(MCP_BINARY)
            .env(env, value)
            .stdin(Stdio::null())
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{env}={value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(
            stderr.contains(named) && stderr.contains("accepted"),
            "{stderr}"
        );
        assert!(out.stdout.is_empty());
    }
    let out = tokio::process::Command::new(MCP_BINARY)
        .arg("--config")
        .arg("/nonexistent.toml")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = tokio::process::Command::new(MCP_BINARY)
        .arg("--version")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success()
            && String::from_utf8_lossy(&out.stdout).starts_with("crypto-market-mcp ")
    );
}
