//! `chat`: questions in plain words, answered by calling the tools. With `LLM_API_URL`,
//! `LLM_API_KEY` (and `LLM_MODEL`), an OpenAI-compatible chat-completions endpoint with tool
//! calling decides which tools to call; otherwise a built-in parser understands the common
//! questions and says plainly what it cannot answer. Line editing and history on a terminal
//! (rustyline); questions from a pipe otherwise, one a line. The API key is never printed.

mod intent;
mod llm;

use std::io::{IsTerminal, Write};

use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt;

pub use intent::{parse, Intent};
use llm::Llm;

use super::args::Cli;
use super::connection::Connection;
use super::render::{dim, num_of, tables, Look};
use super::{args, one_line, show_book, show_markets, show_ohlcv, show_trades, CliError};

const EXAMPLES: &str = "price of btc; eth/usdt 4h candles; order book sol limit 5; \
                        trades btc; what markets have pepe; funding of btc; open interest eth; \
                        cost to buy 5 btc; top gainers; 2 eth in btc; rsi of btc";

pub async fn run(connection: &Connection, cli: &Cli, look: Look) -> Result<String, CliError> {
    let mut llm = Llm::from_env()?;
    if let Some(llm) = &mut llm {
        llm.load_tools(connection).await?;
    }
    let mut input = Input::new();
    let mut failed = false;
    if input.is_terminal() {
        let mode = match &llm {
            Some(l) => format!("model {}", l.model),
            None => "built-in parser; set LLM_API_URL, LLM_API_KEY, LLM_MODEL for a model".into(),
        };
        say(&look.paint(
            dim(),
            &format!("crypto-market chat ({mode}). Try: {EXAMPLES}. Ctrl-D to quit.\n"),
        ));
    }
    while let Some(question) = input.next().await {
        let question = question.trim();
        if question.is_empty() {
            continue;
        }
        if matches!(question, "exit" | "quit" | "bye") {
            break;
        }
        let answer = match &mut llm {
            Some(llm) => llm.ask(connection, question, look).await,
            None => Ok(builtin(connection, cli, question, look).await),
        };
        match answer {
            Ok(text) => say(&text),
            Err(e) => {
                failed = true;
                eprintln!("error: {}", one_line(&e.to_string()));
            }
        }
    }
    if failed {
        return Err(CliError::Unavailable(
            "some questions went unanswered".into(),
        ));
    }
    Ok(String::new())
}

/// `→`/`←` on a terminal, `->`/`<-` otherwise.
pub(super) fn arrow(look: Look, out: bool) -> &'static str {
    match (look.unicode, out) {
        (true, true) => "→",
        (true, false) => "←",
        (false, true) => "->",
        (false, false) => "<-",
    }
}

fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    if !text.ends_with('\n') {
        let _ = out.write_all(b"\n");
    }
    let _ = out.flush();
}

/// Questions from a terminal (rustyline: editing, history) or from a pipe.
enum Input {
    Terminal(Option<Box<rustyline::DefaultEditor>>),
    Pipe(tokio::io::Lines<tokio::io::BufReader<tokio::io::Stdin>>),
}

impl Input {
    fn new() -> Input {
        if std::io::stdin().is_terminal() {
            if let Ok(editor) = rustyline::DefaultEditor::new() {
                return Input::Terminal(Some(Box::new(editor)));
            }
        }
        Input::Pipe(tokio::io::BufReader::new(tokio::io::stdin()).lines())
    }

    fn is_terminal(&self) -> bool {
        matches!(self, Input::Terminal(_))
    }

    async fn next(&mut self) -> Option<String> {
        match self {
            Input::Pipe(lines) => lines.next_line().await.ok().flatten(),
            Input::Terminal(slot) => {
                let mut editor = slot.take()?;
                let (editor, line) = tokio::task::spawn_blocking(move || {
                    let line = editor.readline("you> ");
                    (editor, line)
                })
                .await
                .ok()?;
                *slot = Some(editor);
                match line {
                    Ok(line) => {
                        if let Some(editor) = slot.as_mut() {
                            let _ = editor.add_history_entry(line.as_str());
                        }
                        Some(line)
                    }
                    // Ctrl-C clears the line, Ctrl-D ends.
                    Err(rustyline::error::ReadlineError::Interrupted) => Some(String::new()),
                    Err(_) => None,
                }
            }
        }
    }
}

async fn builtin(connection: &Connection, cli: &Cli, question: &str, look: Look) -> String {
    let (tool, extra) = match parse(question) {
        Intent::Ticker(symbol) => ("get_ticker", json!({ "symbol": symbol })),
        Intent::Ohlcv { symbol, timeframe, limit } => {
            ("get_ohlcv", json!({ "symbol": symbol, "timeframe": timeframe, "limit": limit }))
        }
        Intent::Book { symbol, limit } => ("get_order_book", json!({ "symbol": symbol, "limit": limit })),
        Intent::Trades { symbol, limit } => ("get_trades", json!({ "symbol": symbol, "limit": limit })),
        Intent::Markets(query) => {
            let mut a = json!({ "limit": 50 });
            if let Some(q) = query {
                a["query"] = json!(q);
            }
            ("list_markets", a)
        }
        Intent::Compare(symbol) => {
            let has_compare = connection
                .server_info()
                .await
                .map(|(_, _, tools)| tools.iter().any(|t| t == "compare_prices"))
                .unwrap_or(false);
            if !has_compare {
                return format!(
                    "I can't compare {symbol} across exchanges: this server has no compare_prices tool yet."
                );
            }
            ("compare_prices", json!({ "symbol": symbol }))
        }
        Intent::Funding(symbol) => ("compare_funding", json!({ "symbol": symbol })),
        Intent::OpenInterest(symbol) => ("get_open_interest", json!({ "symbol": symbol })),
        Intent::Fill {
            symbol,
            side,
            amount,
        } => (
            "estimate_fill",
            json!({ "symbol": symbol, "side": side, "amount": amount }),
        ),
        Intent::Movers(by) => ("top_movers", json!({ "by": by })),
        Intent::Convert { amount, from, to } => (
            "convert",
            json!({ "amount": amount, "from": from, "to": to }),
        ),
        Intent::Indicators { symbol, indicators, timeframe } => (
            "get_indicators",
            json!({ "symbol": symbol, "indicators": indicators, "timeframe": timeframe, "limit": 48 }),
        ),
        Intent::Help => return format!("I answer questions like: {EXAMPLES}."),
        Intent::Unknown => {
            return format!("I can't answer that without a model (set LLM_API_URL, LLM_API_KEY, LLM_MODEL). I understand: {EXAMPLES}.")
        }
    };
    let call_args = args(cli, extra);
    let mut out = look.paint(dim(), &format!("{} {tool} {call_args}", arrow(look, true)));
    out.push('\n');
    match connection.call(tool, call_args).await {
        Err(e) => out.push_str(&format!("Sorry: {}\n", one_line(&e.to_string()))),
        Ok(v) => out.push_str(&match tool {
            "get_ticker" => ticker_sentence(&v, look),
            "get_ohlcv" => show_ohlcv(&v, look),
            "get_order_book" => show_book(&v, look),
            "get_trades" => show_trades(&v, look),
            "list_markets" if v["total"].as_u64() == Some(0) => format!(
                "No market on {} matches that.\n",
                v["exchange"].as_str().unwrap_or("the exchange")
            ),
            "list_markets" => show_markets(&v, look),
            "compare_funding" => crate::cli::render::derivatives::funding_comparison(&v, look),
            "get_open_interest" => crate::cli::render::derivatives::open_interest(&v, look),
            "estimate_fill" => crate::cli::render::analytics::fill(&v, look),
            "top_movers" => crate::cli::render::analytics::movers(&v, look),
            "convert" => crate::cli::render::analytics::convert(&v, look),
            "get_indicators" => crate::cli::show_indicators(&v, None, look),
            _ => format!("{}\n", serde_json::to_string_pretty(&v).unwrap_or_default()),
        }),
    }
    out
}

/// `BTC/USDT on binance: 64,123.45 (bid …, ask …, 24h +0.33%); source: exchange, age: 3 ms`.
fn ticker_sentence(v: &Value, look: Look) -> String {
    let change = v["percentage"]
        .as_f64()
        .map(|p| format!(", 24h {p:+.2}%"))
        .unwrap_or_default();
    let fresh = tables::freshness_line(v, look).unwrap_or_default();
    format!(
        "{} on {}: {} (bid {}, ask {}{change}); {fresh}\n",
        v["symbol"].as_str().unwrap_or("?"),
        v["exchange"].as_str().unwrap_or("?"),
        num_of(&v["last"]),
        num_of(&v["bid"]),
        num_of(&v["ask"]),
    )
}
