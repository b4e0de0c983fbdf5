//! `watch`: a live table of tickers, with change arrows and each row's age, redrawn every
//! `--interval` until Ctrl-C or `--count` updates. An MCP server is asked (`get_tickers`) each
//! time and answers from its cache or stream within the TTL; the worker pool is asked once,
//! then its Redis ticker channels are followed ([`follow`]). On a terminal the table is redrawn
//! in place and the cursor restored on exit; otherwise each update is appended (a time line,
//! then the table). `--book` and `--trades` follow one symbol's depth or trades through the
//! watch tools instead ([`live`]).

mod follow;
mod live;

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use comfy_table::{Cell, Color};
use serde_json::{json, Value};

use super::args::{Cli, WatchArgs};
use super::connection::Connection;
use super::render::{age, num_of, tables, Look};
use super::{args, json_line, one_line, CliError};

/// Shows the cursor again however the watch ends.
struct Screen {
    term: Option<console::Term>,
    drawn: usize,
}

impl Screen {
    fn new() -> Screen {
        let term = std::io::stdout().is_terminal().then(console::Term::stdout);
        if let Some(t) = &term {
            let _ = t.hide_cursor();
        }
        Screen { term, drawn: 0 }
    }

    /// Replaces what was drawn (terminal) or appends (otherwise). False when stdout is gone.
    fn show(&mut self, text: &str) -> bool {
        match &self.term {
            Some(t) => {
                let _ = t.clear_last_lines(self.drawn);
                self.drawn = text.lines().count();
                t.write_str(text).is_ok() && t.flush().is_ok()
            }
            None => {
                let mut out = std::io::stdout().lock();
                out.write_all(text.as_bytes()).is_ok() && out.flush().is_ok()
            }
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        if let Some(t) = &self.term {
            let _ = t.show_cursor();
        }
    }
}

pub async fn run(
    connection: &Connection,
    cli: &Cli,
    a: &WatchArgs,
    look: Look,
) -> Result<String, CliError> {
    if a.book {
        return live::run(connection, cli, a, live::Live::Book, look).await;
    }
    if a.trades {
        return live::run(connection, cli, a, live::Live::Trades, look).await;
    }
    let request = args(cli, json!({ "symbols": a.symbols }));
    let mut screen = Screen::new();
    let mut previous: HashMap<String, f64> = HashMap::new();
    let mut arrows: HashMap<String, (&str, Color)> = HashMap::new();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut updates = 0u64;
    let mut followed = None;
    loop {
        let result = tokio::select! {
            _ = &mut ctrl_c => break,
            r = latest(connection, &request, &mut followed) => r?,
        };
        updates += 1;
        if updates == 1 {
            subscribe(connection, &result).await;
        }
        let text = if cli.global.json {
            json_line(&result)
        } else {
            let list: Vec<&Value> = result["tickers"].as_array().into_iter().flatten().collect();
            for t in &list {
                let (Some(symbol), Some(last)) = (t["symbol"].as_str(), t["last"].as_f64()) else {
                    continue;
                };
                if let Some(before) = previous.insert(symbol.to_owned(), last) {
                    let arrow = match last.partial_cmp(&before) {
                        Some(std::cmp::Ordering::Greater) => {
                            (if look.unicode { "▲" } else { "^" }, Color::Green)
                        }
                        Some(std::cmp::Ordering::Less) => {
                            (if look.unicode { "▼" } else { "v" }, Color::Red)
                        }
                        _ => ("=", Color::Reset),
                    };
                    // A row keeps its last move until the price moves again.
                    if arrow.0 != "=" || !arrows.contains_key(symbol) {
                        arrows.insert(symbol.to_owned(), arrow);
                    }
                }
            }
            let mut out = String::new();
            if screen.term.is_none() {
                out.push_str(&format!(
                    "{}\n",
                    chrono::Utc::now().format("%H:%M:%S%.3f UTC")
                ));
            }
            out.push_str(&table(&list, &arrows, look));
            out.push('\n');
            for e in result["errors"].as_array().into_iter().flatten() {
                out.push_str(&one_line(&format!(
                    "{}: {}: {}\n",
                    e["symbol"].as_str().unwrap_or("?"),
                    e["error"]["code"].as_str().unwrap_or("internal"),
                    e["error"]["message"].as_str().unwrap_or_default()
                )));
                out.push('\n');
            }
            if screen.term.is_some() {
                out.push_str(&format!(
                    "updated {} · every {}s · Ctrl-C to quit\n",
                    chrono::Utc::now().format("%H:%M:%S UTC"),
                    a.interval
                ));
            }
            out
        };
        if !screen.show(&text) {
            break; // stdout closed (e.g. `| head`)
        }
        if a.count.is_some_and(|n| updates >= n) {
            break;
        }
        tokio::select! {
            _ = &mut ctrl_c => break,
            _ = tokio::time::sleep(Duration::from_secs_f64(a.interval)) => {}
        }
    }
    Ok(String::new())
}

/// The tickers to show now (a `get_tickers` result): asked of an MCP server each time; asked of
/// the pool once, then followed on their channels.
async fn latest(
    connection: &Connection,
    request: &Value,
    followed: &mut Option<follow::Followed>,
) -> Result<Value, CliError> {
    match (connection, followed.as_ref()) {
        (Connection::Pool(pool), Some(followed)) => followed.current(pool).await,
        (Connection::Pool(pool), None) => {
            let (first, started) = follow::Followed::start(pool, request.clone()).await?;
            *followed = Some(started);
            Ok(first)
        }
        _ => connection.call("get_tickers", request.clone()).await,
    }
}

/// Keeps the watched tickers streamed by the server (resource subscriptions); without them
/// (an older server, an exchange with no feed) the view still updates at the server's TTL.
async fn subscribe(connection: &Connection, result: &Value) {
    for t in result["tickers"].as_array().into_iter().flatten() {
        if let (Some(exchange), Some(symbol)) = (t["exchange"].as_str(), t["symbol"].as_str()) {
            let uri = format!("ticker://{exchange}/{}", symbol.replace('/', ""));
            let _ = connection.subscribe(&uri).await;
        }
    }
}

fn table(list: &[&Value], arrows: &HashMap<String, (&str, Color)>, look: Look) -> String {
    let mut t = tables::table(
        look,
        &[
            "symbol",
            "last",
            "",
            "bid",
            "ask",
            "change 24h",
            "source",
            "age",
            "stale",
        ],
        &[1, 3, 4, 5, 7],
    );
    for v in list {
        let symbol = v["symbol"].as_str().unwrap_or("?");
        let arrow = match arrows.get(symbol) {
            Some((a, c)) => Cell::new(a).fg(*c),
            None => Cell::new(""),
        };
        let change = match v["percentage"].as_f64() {
            Some(p) => {
                Cell::new(format!("{p:+.2}%")).fg(if p >= 0.0 { Color::Green } else { Color::Red })
            }
            None => Cell::new("-"),
        };
        let stale = v["stale"].as_bool() == Some(true);
        t.add_row(vec![
            Cell::new(symbol),
            Cell::new(num_of(&v["last"])),
            arrow,
            Cell::new(num_of(&v["bid"])),
            Cell::new(num_of(&v["ask"])),
            change,
            Cell::new(v["source"].as_str().unwrap_or("-")),
            Cell::new(v["age_ms"].as_f64().map(age).unwrap_or_else(|| "-".into())),
            if stale {
                Cell::new("STALE").fg(Color::Yellow)
            } else {
                Cell::new("no")
            },
        ]);
    }
    t.to_string()
}
