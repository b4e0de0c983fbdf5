//! `crypto-market-sim` binary: a thin CLI around the library.

#![allow(
    clippy::print_stdout,
    reason = "it prints the URLs it listens on for whoever started it"
)]

use clap::Parser;
use crypto_market_sim::{start_on, Faults, FileConfig, SimConfig, SimHandle, Venue, WsIntervals};
use std::net::SocketAddr;
use std::process::ExitCode;

/// Offline exchange simulator with fault injection: Binance spot REST and websocket streams,
/// and with --exchanges the public spot REST market data and websockets of OKX, Bybit, Kraken
/// and Coinbase.
#[derive(Parser, Debug)]
#[command(
    name = "crypto-market-sim",
    version,
    about,
    after_help = "With --exchanges binance,okx,bybit,kraken,coinbase one listener per exchange is \
started on consecutive ports from --addr, in the order given (127.0.0.1:9000 -> binance 9000, \
okx 9001, bybit 9002, kraken 9003, coinbase 9004), and one line `<id> http://127.0.0.1:PORT` per \
exchange is printed. Each serves that exchange's own paths (/api/v3 Binance, /api/v5 OKX, /v5 \
Bybit, /0/public Kraken, /api/v3/brokerage Coinbase) and has its own faults, counters and /__sim \
controls. Websockets: Binance /ws and /stream, OKX /ws/v5/public and /ws/v5/business, Bybit \
/v5/public/spot, Kraken /v2, Coinbase /. Without --exchanges: Binance only."
)]
struct Cli {
    /// Exchanges to serve, comma-separated, one listener each on consecutive ports
    /// (binance, okx, bybit, kraken, coinbase) [default: binance]
    #[arg(long, value_delimiter = ',', value_parser = parse_venue)]
    exchanges: Option<Vec<Venue>>,
    /// Listen address [default: 127.0.0.1:9000]
    #[arg(long)]
    addr: Option<SocketAddr>,
    /// Random-walk seed [default: 42]
    #[arg(long)]
    seed: Option<u64>,
    /// Number of generated SIMnnnnUSDT symbols [default: 0]
    #[arg(long = "symbols")]
    symbols: Option<usize>,
    /// Serve the real 1248-symbol exchangeInfo instead of the 4-symbol one
    #[arg(long)]
    full_markets: bool,
    /// Milliseconds per random-walk step [default: 100]
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    tick_ms: Option<u64>,
    /// Latency added to every exchange API response [default: 0]
    #[arg(long)]
    latency_ms: Option<u64>,
    /// Uniform random extra latency 0..=N ms [default: 0]
    #[arg(long)]
    jitter_ms: Option<u64>,
    /// Fraction (0..=1) of exchange API requests answered 500/503 [default: 0]
    #[arg(long, value_parser = parse_rate)]
    error_rate: Option<f64>,
    /// REQUEST_WEIGHT per minute before 429/418 (other exchanges: requests per minute before
    /// their rate-limit answer) [default: 6000]
    #[arg(long)]
    weight_limit: Option<u32>,
    /// Websocket @ticker / @miniTicker update period [default: 1000]
    #[arg(long, value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
    ws_ticker_interval_ms: Option<u64>,
    /// How often websocket @bookTicker streams check for a changed book [default: 1000]
    #[arg(long, value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
    ws_book_ticker_interval_ms: Option<u64>,
    /// Websocket @kline_<interval> update period (kline_1s: at most 1000) [default: 2000]
    #[arg(long, value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
    ws_kline_interval_ms: Option<u64>,
    /// Server ping period on websocket connections [default: 20000]
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    ws_ping_interval_ms: Option<u64>,
    /// Drop a websocket connection whose ping is unanswered this long [default: 60000]
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    ws_pong_timeout_ms: Option<u64>,
    /// Close connections this long after a serverShutdown event [default: 1000]
    #[arg(long)]
    ws_shutdown_grace_ms: Option<u64>,
    /// Walk steps between two sizes of one of a book side's 20 best levels (REST and
    /// websocket books alike): 5 changes ~8 levels a step, 2 ~20 [default: 5]
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1000))]
    book_resize_steps: Option<u64>,
    /// Levels a side the Binance diff depth streams (`@depth@100ms`) cover; a client keeping a
    /// book from a snapshot this deep or less stays exact [default: 5000]
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=5000))]
    ws_depth_levels: Option<u64>,
    /// TOML file with the same keys (addr, exchanges, seed, symbols, full_markets, tick_ms, ...);
    /// flags win
    #[arg(long, value_name = "FILE")]
    config: Option<std::path::PathBuf>,
}

fn parse_venue(s: &str) -> Result<Venue, String> {
    Venue::from_id(s.trim()).ok_or_else(|| {
        let ids: Vec<&str> = Venue::ALL.iter().map(|v| v.id()).collect();
        format!("unknown exchange '{s}' (one of {})", ids.join(", "))
    })
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("'{s}' is not a fraction between 0 and 1")),
    }
}

/// Bad usage: one line on stderr, exit status 2.
fn usage_error(msg: &str) -> ExitCode {
    eprintln!(
        "crypto-market-sim: {}",
        msg.lines()
            .next()
            .unwrap_or(msg)
            .trim_start_matches("error: ")
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            // --help / --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => return usage_error(&e.to_string()),
    };
    let file = match &cli.config {
        Some(path) => match std::fs::read_to_string(path)
            .map_err(|e| format!("{}: {e}", path.display()))
            .and_then(|t| FileConfig::parse(&t))
        {
            Ok(f) => f,
            Err(e) => return usage_error(&e),
        },
        None => FileConfig::default(),
    };
    let defaults = SimConfig::default();
    let config = SimConfig {
        venue: Venue::Binance,
        seed: cli.seed.or(file.seed).unwrap_or(defaults.seed),
        extra_symbols: cli
            .symbols
            .or(file.extra_symbols)
            .unwrap_or(defaults.extra_symbols),
        full_markets: cli.full_markets || file.full_markets.unwrap_or(defaults.full_markets),
        tick_ms: cli.tick_ms.or(file.tick_ms).unwrap_or(defaults.tick_ms),
        weight_limit: cli
            .weight_limit
            .or(file.weight_limit)
            .unwrap_or(defaults.weight_limit),
        ws_ticker_interval_ms: cli
            .ws_ticker_interval_ms
            .or(file.ws_ticker_interval_ms)
            .unwrap_or(defaults.ws_ticker_interval_ms),
        ws_book_ticker_interval_ms: cli
            .ws_book_ticker_interval_ms
            .or(file.ws_book_ticker_interval_ms)
            .unwrap_or(defaults.ws_book_ticker_interval_ms),
        ws_kline_interval_ms: cli
            .ws_kline_interval_ms
            .or(file.ws_kline_interval_ms)
            .unwrap_or(defaults.ws_kline_interval_ms),
        ws_ping_interval_ms: cli
            .ws_ping_interval_ms
            .or(file.ws_ping_interval_ms)
            .unwrap_or(defaults.ws_ping_interval_ms),
        ws_pong_timeout_ms: cli
            .ws_pong_timeout_ms
            .or(file.ws_pong_timeout_ms)
            .unwrap_or(defaults.ws_pong_timeout_ms),
        ws_shutdown_grace_ms: cli
            .ws_shutdown_grace_ms
            .or(file.ws_shutdown_grace_ms)
            .unwrap_or(defaults.ws_shutdown_grace_ms),
        book_resize_steps: cli
            .book_resize_steps
            .or(file.book_resize_steps)
            .unwrap_or(defaults.book_resize_steps),
        ws_depth_levels: cli
            .ws_depth_levels
            .and_then(|n| usize::try_from(n).ok())
            .or(file.ws_depth_levels)
            .unwrap_or(defaults.ws_depth_levels),
    };
    if config.book_resize_steps == 0 || !(1..=5000).contains(&config.ws_depth_levels) {
        return usage_error("book_resize_steps must be at least 1, ws_depth_levels 1..=5000");
    }
    if config.tick_ms == 0 {
        return usage_error("tick_ms must be at least 1");
    }
    let intervals = WsIntervals {
        ticker_ms: config.ws_ticker_interval_ms,
        book_ticker_ms: config.ws_book_ticker_interval_ms,
        kline_ms: config.ws_kline_interval_ms,
    };
    if let Err(e) = intervals.validate() {
        return usage_error(&e);
    }
    if config.ws_ping_interval_ms == 0 || config.ws_pong_timeout_ms == 0 {
        return usage_error("ws_ping_interval_ms and ws_pong_timeout_ms must be at least 1");
    }
    let faults = Faults {
        latency_ms: cli.latency_ms.or(file.latency_ms).unwrap_or(0),
        jitter_ms: cli.jitter_ms.or(file.jitter_ms).unwrap_or(0),
        error_rate: cli.error_rate.or(file.error_rate).unwrap_or(0.0),
        ..Faults::default()
    };
    if let Err(e) = faults.validate() {
        return usage_error(&e);
    }
    let addr = cli
        .addr
        .or(file.addr)
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 9000)));

    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();

    let sims = match cli.exchanges.as_ref().or(file.exchanges.as_ref()) {
        None => match start_on(config, addr) {
            Ok(s) => {
                s.set_faults(faults);
                println!("crypto-market-sim listening on {}", s.rest_url());
                println!(
                    "websocket streams on {0}/ws/<stream> and {0}/stream?streams=<a>/<b>",
                    s.ws_url()
                );
                vec![s]
            }
            Err(e) => {
                eprintln!("crypto-market-sim: cannot listen on {addr}: {e}");
                return ExitCode::FAILURE;
            }
        },
        Some(venues) => match start_all(venues, &config, addr, &faults) {
            Ok(sims) => sims,
            Err(e) => {
                eprintln!("crypto-market-sim: {e}");
                return ExitCode::FAILURE;
            }
        },
    };

    let signals = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    match signals {
        Ok(rt) => rt.block_on(wait_for_signal()),
        Err(e) => {
            eprintln!("crypto-market-sim: cannot wait for signals: {e}");
            return ExitCode::FAILURE;
        }
    }
    tracing::info!("shutting down");
    for sim in sims {
        sim.shutdown();
    }
    ExitCode::SUCCESS
}

/// One listener per exchange on consecutive ports from `addr`, each printed as `<id> <url>`.
fn start_all(
    venues: &[Venue],
    config: &SimConfig,
    addr: SocketAddr,
    faults: &Faults,
) -> Result<Vec<SimHandle>, String> {
    let mut sims = Vec::new();
    for (i, venue) in venues.iter().enumerate() {
        if venues[..i].contains(venue) {
            return Err(format!("{venue} is listed twice in --exchanges"));
        }
        let port = u16::try_from(usize::from(addr.port()) + i)
            .map_err(|_| format!("no port left for {venue} after {addr}"))?;
        let at = SocketAddr::new(addr.ip(), port);
        let sim = start_on(
            SimConfig {
                venue: *venue,
                ..config.clone()
            },
            at,
        )
        .map_err(|e| format!("cannot listen on {at} for {venue}: {e}"))?;
        sim.set_faults(faults.clone());
        println!("{} {}", venue.id(), sim.rest_url());
        sims.push(sim);
    }
    Ok(sims)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
