//! Offline demo: starts the exchange simulator (one listener per exchange: Binance, OKX,
//! Bybit, Kraken, Coinbase, each in its own format), launches the real `crypto-market-mcp`
//! binary as an MCP client would (a child process speaking MCP over stdio), calls every tool,
//! compares the five venues, fails Binance over to OKX, and prints what came back.
//!
//!     cargo run --release --example demo

#![allow(
    clippy::print_stdout,
    reason = "an example shows its results on stdout"
)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Instant;

use crypto_market_sim::{rest_urls, Faults, SimConfig, Simulator};
use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{json, Value};

type Client = RunningService<RoleClient, ()>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server_binary = build_server_binary()?;
    let sims = Simulator::start_venues(SimConfig::default())?;
    let sim = &sims[0];
    println!(
        "exchange simulator: Binance REST + websocket at {}",
        sim.rest_url()
    );
    let others = rest_urls(&sims[1..]);
    for other in others.split(',') {
        println!("exchange simulator: {other}");
    }

    let mut command = tokio::process::Command::new(&server_binary);
    command
        .env("EXCHANGE_REST_URL", sim.rest_url())
        .env("EXCHANGE_WS_URL", sim.ws_url())
        .env("EXCHANGES", "binance,okx,bybit,kraken,coinbase")
        .env("EXCHANGE_REST_URLS", &others)
        .env("RUST_LOG", "warn")
        .env("CACHE_TTL", "10");
    let (transport, _) = TokioChildProcess::builder(command)
        .stderr(Stdio::inherit())
        .spawn()?;
    let client: Client = ().serve(transport).await?;
    let server = client.peer_info().and_then(|i| {
        i.server_info
            .as_ref()
            .map(|s| format!("{} {}", s.name, s.version))
    });
    println!(
        "connected to {} over stdio\n",
        server.unwrap_or_else(|| "the server".to_owned())
    );

    let tools = client.list_all_tools().await?;
    println!(
        "tools: {}\n",
        tools
            .iter()
            .map(|t| t.name.as_ref())
            .collect::<Vec<_>>()
            .join(", ")
    );

    show(&client, "get_ticker", json!({"symbol": "BTC/USDT"})).await?;
    show(&client, "get_ticker", json!({"symbol": "btc-usdt"})).await?; // same market, from the cache
    show(
        &client,
        "get_tickers",
        json!({"symbols": ["ETHUSDT", "sol/usdt", "DOGE/USDT"]}),
    )
    .await?;
    show(
        &client,
        "get_ohlcv",
        json!({"symbol": "ETH/USDT", "timeframe": "1h", "limit": 3}),
    )
    .await?;
    show(
        &client,
        "get_order_book",
        json!({"symbol": "BTC/USDT", "limit": 3}),
    )
    .await?;
    show(
        &client,
        "get_trades",
        json!({"symbol": "SOL/USDT", "limit": 3}),
    )
    .await?;
    show(
        &client,
        "list_markets",
        json!({"quote": "USDT", "limit": 10}),
    )
    .await?;
    // Live: three ticks from the simulator's websocket, then the summary.
    show(
        &client,
        "stream_ticker",
        json!({"symbol": "ETH/USDT", "max_updates": 3}),
    )
    .await?;
    show(&client, "get_ticker", json!({"symbol": "ETH/USDT"})).await?; // served from the stream
    show(&client, "get_ticker", json!({"symbol": "BTC/USDX"})).await?; // invalid_symbol, with a suggestion
    show(
        &client,
        "get_ohlcv",
        json!({"symbol": "BTC/USDT", "timeframe": "7m"}),
    )
    .await?; // invalid_argument

    // The same market on five venues, asked at once; then each venue's own format.
    show(&client, "compare_prices", json!({"symbol": "BTC/USDT"})).await?;
    show(
        &client,
        "get_ticker",
        json!({"symbol": "XBTUSDT", "exchange": "kraken"}),
    )
    .await?; // Kraken's XBT is BTC
             // Binance down: a request naming no exchange is served by OKX, and says so.
    sim.set_faults(Faults {
        force_status: Some(503),
        ..Faults::default()
    });
    show(
        &client,
        "get_order_book",
        json!({"symbol": "ETH/USDT", "limit": 3}),
    )
    .await?;
    show(&client, "exchange_status", json!({"exchange": "binance"})).await?;
    sim.set_faults(Faults::default());

    for s in &sims {
        println!(
            "exchange calls the {} simulator received: {}",
            s.venue(),
            s.total_calls()
        );
    }
    client.cancel().await?;
    Ok(())
}

async fn show(client: &Client, tool: &str, args: Value) -> Result<(), Box<dyn std::error::Error>> {
    let mut params = CallToolRequestParams::new(tool.to_owned());
    if let Value::Object(map) = &args {
        params = params.with_arguments(map.clone());
    }
    let started = Instant::now();
    let result = client.call_tool(params).await?;
    let elapsed = started.elapsed();
    let outcome = if result.is_error == Some(true) {
        "error"
    } else {
        "ok"
    };
    println!(
        "→ {tool} {args}  [{outcome}, {:.2} ms]",
        elapsed.as_secs_f64() * 1000.0
    );
    let body = serde_json::to_string(&result.structured_content.unwrap_or(Value::Null))?;
    // Long results (candles, books) are cut for the terminal; the client got them whole.
    let shown: String = body.chars().take(700).collect();
    let cut = if shown.len() < body.len() { " …" } else { "" };
    println!("  {shown}{cut}\n");
    Ok(())
}

/// The server binary of this build profile, built first when `cargo run` started us (cargo
/// builds an example's package library, not its binaries).
fn build_server_binary() -> Result<PathBuf, Box<dyn std::error::Error>> {
    let exe = std::env::current_exe()?;
    // target/<profile>/examples/demo → target/<profile>
    let profile_dir = exe
        .parent()
        .and_then(|p| p.parent())
        .ok_or("cannot locate the target directory")?;
    if let Ok(cargo) = std::env::var("CARGO") {
        eprintln!("demo: making sure crypto-market-mcp, the server it launches, is built");
        let mut build = std::process::Command::new(cargo);
        // Naming this example beside the binary gives the build the example's feature set
        // (dev-dependencies turn on tokio's `test-util`): the binary then reuses every
        // dependency `cargo run --example demo` just compiled instead of compiling ccxt-base a
        // second time for the binary's own feature set.
        build.args(["build", "--bin", "crypto-market-mcp", "--example", "demo"]);
        if profile_dir.ends_with("release") {
            build.arg("--release");
        }
        // `cargo run` hands its child the variables it sets for the package (CARGO_MANIFEST_DIR,
        // CARGO_PKG_*, …). Build scripts that watch one of them (ring's watches
        // CARGO_MANIFEST_DIR) would see it changed and rebuild ring and everything above it.
        for (name, _) in std::env::vars_os() {
            if name.to_str().is_some_and(set_by_cargo_run) {
                build.env_remove(name);
            }
        }
        if !build.status()?.success() {
            return Err("building crypto-market-mcp failed".into());
        }
    }
    let binary = profile_dir.join("crypto-market-mcp");
    if !binary.is_file() {
        return Err(format!(
            "{} not found: run `cargo build --bin crypto-market-mcp` first",
            binary.display()
        )
        .into());
    }
    Ok(binary)
}

/// The variables `cargo run` sets for the program it runs (not the user's own CARGO_HOME,
/// CARGO_TARGET_DIR, CARGO_PROFILE_* or CARGO_BUILD_* settings, which the inner build needs).
fn set_by_cargo_run(name: &str) -> bool {
    name.starts_with("CARGO_PKG_")
        || matches!(
            name,
            "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_RUSTC_CURRENT_DIR"
        )
}
