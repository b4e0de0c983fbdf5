//! The real `crypto-market-mcp` over stdio with the five venues' simulators enabled (Binance the
//! default), for the benchmarks that compare venues (`venues`, `derivatives`).

use std::process::Stdio;

use crypto_market_sim::{rest_urls, SimHandle};
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;
use tokio::process::Command;

const MCP_BINARY: &str = env!("CARGO_BIN_EXE_crypto-market-mcp");

pub struct Server {
    pub client: RunningService<RoleClient, ()>,
}

impl Server {
    /// `sims` in `Venue::ALL` order (the first is the default exchange), values fresh for
    /// `ttl` seconds.
    pub async fn start(sims: &[SimHandle], ttl: &str) -> Self {
        let mut cmd = Command::new(MCP_BINARY);
        cmd.env("EXCHANGE_REST_URL", sims[0].rest_url())
            .env("EXCHANGE_WS_URL", sims[0].ws_url())
            .env("EXCHANGES", "binance,okx,bybit,kraken,coinbase")
            .env("EXCHANGE_REST_URLS", rest_urls(&sims[1..]))
            // The simulators' limits are not the subject; the budgets would queue cold calls.
            .env("ENABLE_RATE_LIMIT", "false")
            .env("CACHE_TTL", ttl)
            .env("RUST_LOG", "warn")
            .kill_on_drop(true);
        let (transport, _) = TokioChildProcess::builder(cmd)
            .stderr(Stdio::null())
            .spawn()
            .expect("server starts");
        let client = ().serve(transport).await.expect("MCP handshake");
        Self { client }
    }

    /// The call's structured result; a failed call ends the benchmark (never timed).
    pub async fn call(&self, tool: &str, args: Value) -> Value {
        let result: CallToolResult = self
            .client
            .call_tool(
                CallToolRequestParams::new(tool.to_owned())
                    .with_arguments(args.as_object().cloned().unwrap_or_default()),
            )
            .await
            .expect("call answered");
        let content = result.structured_content.unwrap_or(Value::Null);
        assert_ne!(result.is_error, Some(true), "{tool}: {content}");
        content
    }
}
