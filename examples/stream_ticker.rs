//! Prints live ticks for a few symbols: the engine watches them (Binance's websocket where it
//! is reachable, REST polling at the TTL meanwhile) and each update is printed with its source
//! and age. Against the simulator, offline:
//!
//! ```sh
//! cargo run -p crypto-market-sim -- --addr 127.0.0.1:9000 &
//! EXCHANGE_REST_URL=http://127.0.0.1:9000 EXCHANGE_WS_URL=ws://127.0.0.1:9000 \
//!     cargo run --example stream_ticker -- BTC/USDT ETH/USDT SOL/USDT
//! ```
//! Settings as for `crypto-market-mcp` (environment, `CACHE_TTL`, ...). Ctrl-C stops it.

#![allow(
    clippy::print_stdout,
    reason = "an example shows its results on stdout"
)]

use std::process::ExitCode;

use crypto_market_actors::model::MarketData;
use crypto_market_mcp::config::{self, CommonArgs};

fn main() -> ExitCode {
    let symbols: Vec<String> = std::env::args().skip(1).collect();
    let symbols = if symbols.is_empty() {
        vec!["BTC/USDT".to_owned(), "ETH/USDT".to_owned()]
    } else {
        symbols
    };
    let settings = match config::load(&CommonArgs::default(), |name| std::env::var(name).ok()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("stream_ticker: {e}");
            return ExitCode::from(2);
        }
    };
    let system = actix::System::new();
    system.block_on(async move {
        let engine = match crypto_market_mcp::configure_server(&settings) {
            Ok(engine) => engine,
            Err(e) => {
                eprintln!("stream_ticker: {e}");
                return ExitCode::FAILURE;
            }
        };
        let Ok(exchange) = engine.exchange(None).cloned() else {
            return ExitCode::FAILURE;
        };
        let mut printers = Vec::new();
        for symbol in symbols {
            let mut watch = match engine.watch_ticker(&exchange, &symbol).await {
                Ok(watch) => watch,
                Err(e) => {
                    eprintln!("stream_ticker: {symbol}: {e}");
                    return ExitCode::FAILURE;
                }
            };
            printers.push(actix_rt::spawn(async move {
                loop {
                    let update = watch.next().await;
                    if let MarketData::Ticker(t) = update.data.value.as_ref() {
                        println!(
                            "{:<10} last {:>14} bid {:>14} ask {:>14}  {:?} age {} ms",
                            t.symbol,
                            fmt(t.last),
                            fmt(t.bid),
                            fmt(t.ask),
                            update.data.source,
                            update.data.age_ms
                        );
                    }
                }
            }));
        }
        let _ = tokio::signal::ctrl_c().await;
        for printer in printers {
            printer.abort();
        }
        ExitCode::SUCCESS
    })
}

fn fmt(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"))
}
