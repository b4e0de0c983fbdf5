//! `crypto-market`: the command line for people (SPEC.md section 8). It calls the tools of a
//! `crypto-market-mcp` (embedded as a child over stdio, or remote over streamable HTTP) or of
//! the worker pool over Redis, and renders their results as tables, a candlestick chart and a
//! depth ladder, or prints exactly the tool's JSON with `--json`.

#![allow(
    clippy::print_stdout,
    reason = "the command line's output for people is its stdout"
)]

pub mod args;
pub mod chat;
pub mod connection;
pub mod render;
mod status;
pub mod watch;

use std::future::Future;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{json, Map, Value};

use args::{Cli, Command};
use connection::Connection;
use render::{chart, ladder, tables, venues, Look};

/// What can go wrong, and the exit status it gives.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The tool answered with an error (`isError: true`): exit 1.
    #[error("{code}: {message}")]
    Tool { code: String, message: String },
    /// The server cannot be started or reached, or the session broke: exit 1.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A bad command line or setting: exit 2.
    #[error("{0}")]
    Usage(String),
    /// Ctrl-C during a one-shot command: exit 130.
    #[error("interrupted")]
    Interrupted,
}

impl CliError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Usage(_) => ExitCode::from(2),
            CliError::Interrupted => ExitCode::from(130),
            _ => ExitCode::from(1),
        }
    }
}

/// Runs one command; prints the result on stdout and an error as one line on stderr.
pub async fn run(cli: Cli) -> ExitCode {
    let look = Look::detect();
    let outcome = match Connection::open(&cli.global).await {
        Ok(connection) => {
            // `watch` and `chat` end on Ctrl-C themselves (exit 0); a one-shot call is
            // abandoned, the server closed, and the exit status is 130.
            let outcome = if matches!(cli.command, Command::Watch(_) | Command::Chat) {
                execute(&connection, &cli, look).await
            } else {
                tokio::select! {
                    outcome = execute(&connection, &cli, look) => outcome,
                    _ = interrupted() => Err(CliError::Interrupted),
                }
            };
            connection.close().await;
            outcome
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(out) => {
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (e.g. `| head`) is not an error worth a message.
            let _ = stdout.write_all(out.as_bytes());
            let _ = stdout.flush();
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}", one_line(&e.to_string()));
            e.exit_code()
        }
    }
}

pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Ctrl-C (never resolves if the handler cannot be installed).
async fn interrupted() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The tool's arguments: `extra` plus `exchange` when given.
pub(crate) fn args(cli: &Cli, extra: Value) -> Value {
    let mut map = match extra {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    if let Some(exchange) = &cli.global.exchange {
        map.insert("exchange".into(), json!(exchange));
    }
    Value::Object(map)
}

/// `value` as one line of JSON, newline-terminated.
pub(crate) fn json_line(value: &Value) -> String {
    format!("{value}\n")
}

async fn execute(connection: &Connection, cli: &Cli, look: Look) -> Result<String, CliError> {
    let as_json = cli.global.json;
    match &cli.command {
        Command::Ticker(a) => {
            if let [symbol] = a.symbols.as_slice() {
                let v = spin(connection.call("get_ticker", args(cli, json!({ "symbol": symbol }))))
                    .await?;
                if as_json {
                    return Ok(json_line(&v));
                }
                return Ok(format!("{}\n", tables::tickers(&[&v], look)));
            }
            let v =
                spin(connection.call("get_tickers", args(cli, json!({ "symbols": a.symbols }))))
                    .await?;
            if as_json {
                return Ok(json_line(&v));
            }
            let list: Vec<&Value> = v["tickers"].as_array().into_iter().flatten().collect();
            let mut out = String::new();
            if !list.is_empty() {
                out = format!("{}\n", tables::tickers(&list, look));
            }
            match tickers_error(&v) {
                None => Ok(out),
                Some(e) => {
                    // The tickers that came are shown; the failures go to stderr on one line.
                    print!("{out}");
                    Err(e)
                }
            }
        }
        Command::Ohlcv(a) => {
            let mut extra =
                json!({ "symbol": a.symbol, "timeframe": a.timeframe, "limit": a.limit });
            if let Some(since) = &a.since {
                extra["since"] = match since.parse::<i64>() {
                    Ok(ms) => json!(ms),
                    Err(_) => json!(since),
                };
            }
            let v = spin(connection.call("get_ohlcv", args(cli, extra))).await?;
            if as_json {
                return Ok(json_line(&v));
            }
            Ok(show_ohlcv(&v, look))
        }
        Command::Book(a) => {
            let v = spin(connection.call(
                "get_order_book",
                args(cli, json!({ "symbol": a.symbol, "limit": a.limit })),
            ))
            .await?;
            if as_json {
                return Ok(json_line(&v));
            }
            Ok(show_book(&v, look))
        }
        Command::Trades(a) => {
            let v = spin(connection.call(
                "get_trades",
                args(cli, json!({ "symbol": a.symbol, "limit": a.limit })),
            ))
            .await?;
            if as_json {
                return Ok(json_line(&v));
            }
            Ok(show_trades(&v, look))
        }
        Command::Markets(a) => {
            let mut extra = json!({ "limit": a.limit });
            if let Some(q) = &a.query {
                extra["query"] = json!(q);
            }
            if let Some(q) = &a.quote {
                extra["quote"] = json!(q);
            }
            let v = spin(connection.call("list_markets", args(cli, extra))).await?;
            if as_json {
                return Ok(json_line(&v));
            }
            Ok(show_markets(&v, look))
        }
        Command::Watch(a) => watch::run(connection, cli, a, look).await,
        Command::Compare(a) => {
            let mut extra = json!({ "symbol": a.symbol });
            if !a.exchanges.is_empty() {
                extra["exchanges"] = json!(a.exchanges);
            }
            // Compare spans exchanges: the global --exchange does not narrow it.
            let v = spin(connection.call("compare_prices", extra)).await?;
            if as_json {
                return Ok(json_line(&v));
            }
            Ok(venues::comparison(&v, look))
        }
        Command::Funding(a) => {
            let (v, show): (Value, fn(&Value, Look) -> String) = if a.history {
                let call = json!({ "symbol": a.symbol, "limit": a.limit });
                let v = spin(connection.call("get_funding_history", args(cli, call))).await?;
                (v, render::derivatives::funding_history)
            } else if cli.global.exchange.is_some() && a.exchanges.is_empty() {
                let call = json!({ "symbol": a.symbol });
                let v = spin(connection.call("get_funding_rate", args(cli, call))).await?;
                (v, render::derivatives::funding_rate)
            } else {
                let mut call = json!({ "symbol": a.symbol });
                if !a.exchanges.is_empty() {
                    call["exchanges"] = json!(a.exchanges);
                }
                let v = spin(connection.call("compare_funding", call)).await?;
                (v, render::derivatives::funding_comparison)
            };
            if as_json {
                return Ok(json_line(&v));
            }
            Ok(show(&v, look))
        }
        Command::Oi(a) => {
            let call = json!({ "symbol": a.symbol });
            let v = spin(connection.call("get_open_interest", args(cli, call))).await?;
            if as_json {
                return Ok(json_line(&v));
            }
            Ok(render::derivatives::open_interest(&v, look))
        }
        Command::Fill(a) => {
            let size = if a.notional { "notional" } else { "amount" };
            let mut call = json!({ "symbol": a.symbol, "side": a.side, size: a.amount });
            if !a.exchanges.is_empty() {
                call["exchanges"] = json!(a.exchanges);
            }
            // --exchanges spans venues: the global --exchange does not narrow it.
            let call = if a.exchanges.is_empty() {
                args(cli, call)
            } else {
                call
            };
            let v = spin(connection.call("estimate_fill", call)).await?;
            if as_json {
                return Ok(json_line(&v));
            }
            Ok(render::analytics::fill(&v, look))
        }
        Command::Movers(a) => {
            let mut call = json!({ "by": a.by, "quote": a.quote, "limit": a.limit });
            if let Some(min) = a.min_quote_volume {
                call["min_quote_volume"] = json!(min);
            }
            let v = spin(connection.call("top_movers", args(cli, call))).await?;
            if as_json {
                return Ok(json_line(&v));
            }
            Ok(render::analytics::movers(&v, look))
        }
        Command::Convert(a) => {
            let call = json!({ "amount": a.amount, "from": a.from, "to": a.to });
            let v = spin(connection.call("convert", args(cli, call))).await?;
            if as_json {
                return Ok(json_line(&v));
            }
            Ok(render::analytics::convert(&v, look))
        }
        Command::Indicators(a) => {
            let call = json!({
                "symbol": a.symbol, "indicators": a.indicators,
                "timeframe": a.timeframe, "limit": a.limit,
            });
            let v = spin(connection.call("get_indicators", args(cli, call))).await?;
            if as_json {
                return Ok(json_line(&v));
            }
            // The same candles for the price chart: held by the server since the call above.
            let candles = json!({ "symbol": a.symbol, "timeframe": a.timeframe, "limit": a.limit });
            let candles = spin(connection.call("get_ohlcv", args(cli, candles))).await?;
            Ok(show_indicators(&v, Some(&candles), look))
        }
        Command::Status => status::run(connection, cli, look).await,
        Command::Chat => chat::run(connection, cli, look).await,
    }
}

/// A `get_ohlcv` result: title, chart, table, freshness.
pub fn show_ohlcv(v: &Value, look: Look) -> String {
    let candles: Vec<chart::Candle> = v["candles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(chart::Candle::from_row)
        .collect();
    let mut out = format!(
        "{} {} {}\n",
        v["symbol"].as_str().unwrap_or_default(),
        v["timeframe"].as_str().unwrap_or_default(),
        v["exchange"].as_str().unwrap_or_default()
    );
    if candles.is_empty() {
        out.push_str("no candles\n");
        return out;
    }
    for line in chart::candles(&candles, 16, terminal_width(), look) {
        out.push_str(&line);
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&tables::candles(&candles, look));
    out.push('\n');
    push_freshness(&mut out, v, look);
    out
}

/// A `get_indicators` result: the price chart (of `candles`, a `get_ohlcv` result, else a
/// line of the closes), the indicator panes below it, freshness.
pub fn show_indicators(v: &Value, candles: Option<&Value>, look: Look) -> String {
    let mut out = format!(
        "{} {} {} indicators\n",
        v["symbol"].as_str().unwrap_or_default(),
        v["timeframe"].as_str().unwrap_or_default(),
        v["exchange"].as_str().unwrap_or_default()
    );
    let width = terminal_width();
    let candles: Vec<chart::Candle> = candles
        .and_then(|c| c["candles"].as_array())
        .into_iter()
        .flatten()
        .filter_map(chart::Candle::from_row)
        .collect();
    let price = if candles.is_empty() {
        // No candles: the closes as a pane of their own.
        let closes = json!({
            "columns": ["timestamp", "close", "close"],
            "rows": v["rows"],
        });
        render::indicators::indicator_panes(&closes, width, look)
    } else {
        chart::candles(&candles, 12, width, look)
    };
    for line in price
        .iter()
        .chain(&render::indicators::indicator_panes(v, width, look))
    {
        out.push_str(line);
        out.push('\n');
    }
    push_freshness(&mut out, v, look);
    out
}

fn push_freshness(out: &mut String, v: &Value, look: Look) {
    if let Some(line) = tables::freshness_line(v, look) {
        out.push_str(&line);
        out.push('\n');
    }
}

/// A `get_order_book` result: the depth ladder.
pub fn show_book(v: &Value, look: Look) -> String {
    let mut out = format!(
        "{} {} order book\n",
        v["symbol"].as_str().unwrap_or_default(),
        v["exchange"].as_str().unwrap_or_default()
    );
    let bar = terminal_width().saturating_sub(50).clamp(10, 40);
    for line in ladder::ladder(
        &ladder::levels(&v["bids"]),
        &ladder::levels(&v["asks"]),
        bar,
        look,
    ) {
        out.push_str(&line);
        out.push('\n');
    }
    push_freshness(&mut out, v, look);
    out
}

/// A `get_trades` result.
pub fn show_trades(v: &Value, look: Look) -> String {
    let mut out = format!(
        "{} {} recent trades\n{}\n",
        v["symbol"].as_str().unwrap_or_default(),
        v["exchange"].as_str().unwrap_or_default(),
        tables::trades(v, look)
    );
    push_freshness(&mut out, v, look);
    out
}

/// A `list_markets` result.
pub fn show_markets(v: &Value, look: Look) -> String {
    let shown = v["markets"].as_array().map_or(0, Vec::len);
    let mut out = format!("{}\n", tables::markets(v, look));
    out.push_str(&format!(
        "{shown} of {} markets on {}\n",
        v["total"]
            .as_u64()
            .map_or("?".to_owned(), |t| t.to_string()),
        v["exchange"].as_str().unwrap_or_default()
    ));
    out
}

/// The failed symbols of a `get_tickers` result as one error (the first one's code), if any.
fn tickers_error(v: &Value) -> Option<CliError> {
    let errors: Vec<&Value> = v["errors"].as_array().into_iter().flatten().collect();
    let first = errors.first()?;
    let message = errors
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let code = e["error"]["code"].as_str().unwrap_or("internal");
            let message = e["error"]["message"].as_str().unwrap_or_default();
            if i == 0 {
                message.to_owned()
            } else {
                format!("{code}: {message}")
            }
        })
        .collect::<Vec<_>>()
        .join("; ");
    Some(CliError::Tool {
        code: first["error"]["code"]
            .as_str()
            .unwrap_or("internal")
            .to_owned(),
        message,
    })
}

/// The chart's width: `COLUMNS`, else the terminal's, else 100.
fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .or_else(|| {
            console::Term::stdout()
                .size_checked()
                .map(|(_, cols)| usize::from(cols))
        })
        .filter(|&c: &usize| c >= 40)
        .unwrap_or(100)
}

/// Awaits `call`, showing a spinner on stderr once it takes longer than 200 ms (only when
/// stderr is a terminal).
pub(crate) async fn spin<T>(call: impl Future<Output = T>) -> T {
    // NO_COLOR asks for plain output: the spinner's cursor escapes are not plain either.
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    if !std::io::stderr().is_terminal() || no_color {
        return call.await;
    }
    tokio::pin!(call);
    if let Ok(done) = tokio::time::timeout(Duration::from_millis(200), &mut call).await {
        return done;
    }
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    spinner.set_message("asking the market…");
    spinner.enable_steady_tick(Duration::from_millis(80));
    let done = call.await;
    spinner.finish_and_clear();
    done
}
