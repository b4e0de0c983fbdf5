//! `watch SYMBOL --book` (a live depth ladder) and `watch SYMBOL --trades` (a live tape), read
//! through the watch tools (SPEC.md 5.1): `watch_subscribe`, then `watch_read` long-polls with
//! the cursor of the previous read. Those are plain tool calls, so this works over every
//! connection the tools do (a child over stdio, `--mcp-url`, `--redis`). On a terminal the
//! ladder is redrawn in place; otherwise each book is one frame (a title line with its nonce,
//! then the ladder). The tape appends each new trade as a line. `--json` prints each item's
//! JSON on its own line. Ctrl-C (or `--count` items) ends it, and the watch is unsubscribed.

use std::time::Duration;

use serde_json::{json, Value};

use super::Screen;
use crate::cli::args::{Cli, WatchArgs};
use crate::cli::connection::Connection;
use crate::cli::render::{dim, green, ladder, num_of, red, time, Look};
use crate::cli::{args, json_line, CliError};

/// What a live watch shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Live {
    Book,
    Trades,
}

impl Live {
    fn channel(self) -> &'static str {
        match self {
            Live::Book => "order_book",
            Live::Trades => "trades",
        }
    }
}

/// How long one `watch_read` waits for an item: short enough for a pool's `REQUEST_TIMEOUT`
/// (its smallest setting is 1 s, its default 10 s) to rarely matter, long enough to be idle.
const WAIT_MS: u64 = 5_000;
/// Items asked per read (the tool's bound).
const MAX_ITEMS: u64 = 500;
/// The watch lasts as long as the tool allows; it is renewed this long before it expires.
const WATCH_SECONDS: u64 = 3_600;
const RENEW_BEFORE_MS: i64 = 30_000;
/// How long ending the watch may take after Ctrl-C (the watch expires anyway).
const UNSUBSCRIBE_WITHIN: Duration = Duration::from_secs(2);

/// A subscribed watch: its id, the cursor of the last read and when it expires.
struct Watch {
    id: String,
    cursor: Option<u64>,
    expires_at_ms: i64,
    exchange: String,
    symbol: String,
}

impl Watch {
    async fn subscribe(
        connection: &Connection,
        cli: &Cli,
        live: Live,
        symbol: &str,
    ) -> Result<Watch, CliError> {
        let request = args(
            cli,
            json!({ "channel": live.channel(), "symbol": symbol, "duration_s": WATCH_SECONDS }),
        );
        let w = connection.call("watch_subscribe", request).await?;
        let id = w["watch_id"]
            .as_str()
            .ok_or_else(|| CliError::Unavailable("watch_subscribe gave no watch_id".to_owned()))?;
        Ok(Watch {
            id: id.to_owned(),
            cursor: None,
            expires_at_ms: w["expires_at_ms"].as_i64().unwrap_or(i64::MAX),
            exchange: w["exchange"].as_str().unwrap_or_default().to_owned(),
            symbol: w["symbol"].as_str().unwrap_or(symbol).to_owned(),
        })
    }

    /// The next items (waiting up to [`WAIT_MS`] for one) and how many were lost before them.
    async fn read(&mut self, connection: &Connection) -> Result<(Vec<Value>, u64), CliError> {
        let mut request =
            json!({ "watch_id": self.id, "wait_ms": WAIT_MS, "max_items": MAX_ITEMS });
        if let Some(cursor) = self.cursor {
            request["cursor"] = json!(cursor);
        }
        let r = connection.call("watch_read", request).await?;
        if let Some(cursor) = r["cursor"].as_u64() {
            self.cursor = Some(cursor);
        }
        let items = r["items"].as_array().cloned().unwrap_or_default();
        Ok((items, r["dropped"].as_u64().unwrap_or(0)))
    }

    async fn unsubscribe(&self, connection: &Connection) {
        let request = json!({ "watch_id": self.id });
        // Best effort: a watch not ended here ends with the session or at its expiry.
        let _ = tokio::time::timeout(
            UNSUBSCRIBE_WITHIN,
            connection.call("watch_unsubscribe", request),
        )
        .await;
    }
}

pub async fn run(
    connection: &Connection,
    cli: &Cli,
    a: &WatchArgs,
    live: Live,
    look: Look,
) -> Result<String, CliError> {
    let [symbol] = a.symbols.as_slice() else {
        return Err(CliError::Usage(
            "watch --book and --trades take one symbol".to_owned(),
        ));
    };
    let mut watch = Watch::subscribe(connection, cli, live, symbol).await?;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut screen = Screen::new();
    let mut shown = 0u64;
    let mut tape_header = false;
    let outcome = loop {
        if crypto_market_actors::model::now_ms() + RENEW_BEFORE_MS > watch.expires_at_ms {
            // A new watch before this one expires (a tape may miss what falls in between).
            let renewed = Watch::subscribe(connection, cli, live, symbol).await;
            match renewed {
                Ok(renewed) => {
                    watch.unsubscribe(connection).await;
                    watch = renewed;
                }
                Err(e) => break Err(e),
            }
        }
        let read = tokio::select! {
            _ = &mut ctrl_c => break Ok(()),
            r = watch.read(connection) => r,
        };
        let (items, dropped) = match read {
            Ok(read) => read,
            Err(e) => break Err(e),
        };
        if dropped > 0 && !cli.global.json {
            // Lost to the server's buffer (a reader slower than the market): said, not hidden.
            eprintln!("({dropped} updates were missed)");
        }
        let left = a.count.map_or(u64::MAX, |n| n.saturating_sub(shown));
        let items: Vec<&Value> = items
            .iter()
            .take(usize::try_from(left).unwrap_or(usize::MAX))
            .collect();
        shown += items.len() as u64;
        // On a terminal only the newest book of a read is drawn (it replaces the others).
        let newest_only = live == Live::Book && screen.term.is_some() && !cli.global.json;
        let drawn = if newest_only {
            &items[items.len().saturating_sub(1)..]
        } else {
            &items[..]
        };
        let mut out = String::new();
        for item in drawn {
            if cli.global.json {
                out.push_str(&json_line(item));
                continue;
            }
            match live {
                Live::Book => {
                    out.push_str(&book_frame(&watch, item, screen.term.is_some(), look));
                }
                Live::Trades => {
                    if !tape_header {
                        out.push_str(&format!(
                            "{} {} trades\n{}\n",
                            watch.symbol,
                            watch.exchange,
                            look.paint(dim(), &tape_line_header())
                        ));
                        tape_header = true;
                    }
                    out.push_str(&tape_line(item, look));
                }
            }
        }
        let visible = match (live, &screen.term) {
            // The tape grows: appended even on a terminal.
            (Live::Trades, Some(_)) => {
                use std::io::Write;
                let mut stdout = std::io::stdout().lock();
                stdout.write_all(out.as_bytes()).is_ok() && stdout.flush().is_ok()
            }
            _ if out.is_empty() => true,
            _ => screen.show(&out),
        };
        if !visible || a.count.is_some_and(|n| shown >= n) {
            break Ok(());
        }
    };
    watch.unsubscribe(connection).await;
    outcome.map(|()| String::new())
}

/// One book: a title with its nonce and time, then the ladder (top 20 levels a side).
fn book_frame(watch: &Watch, book: &Value, terminal: bool, look: Look) -> String {
    let at = book["timestamp"]
        .as_i64()
        .map(|ms| time(ms, true))
        .unwrap_or_else(|| "-".to_owned());
    let mut out = format!(
        "{} {} order book · nonce {} · {at} UTC\n",
        watch.symbol,
        watch.exchange,
        num_or_dash(&book["nonce"])
    );
    if !look.unicode {
        out = out.replace('·', "-");
    }
    let bar = crate::cli::terminal_width()
        .saturating_sub(50)
        .clamp(10, 40);
    for line in ladder::ladder(
        &ladder::levels(&book["bids"]),
        &ladder::levels(&book["asks"]),
        bar,
        look,
    ) {
        out.push_str(&line);
        out.push('\n');
    }
    if terminal {
        out.push_str(&look.paint(dim(), "live · Ctrl-C to quit\n"));
    } else {
        out.push('\n');
    }
    out
}

fn num_or_dash(v: &Value) -> String {
    v.as_i64()
        .map(|n| n.to_string())
        .unwrap_or_else(|| "-".to_owned())
}

fn tape_line_header() -> String {
    format!(
        "{:<12}  {:<4}  {:>14}  {:>14}  id",
        "time (UTC)", "side", "price", "amount"
    )
}

/// One trade of the tape: time, side, price, amount, the venue's trade id.
fn tape_line(trade: &Value, look: Look) -> String {
    let at = trade["timestamp"]
        .as_i64()
        .map(|ms| time(ms, true))
        .unwrap_or_else(|| "-".to_owned());
    let side = trade["side"].as_str().unwrap_or("-");
    let padded = format!("{side:<4}");
    let side = match side {
        "buy" => look.paint(green(), &padded),
        "sell" => look.paint(red(), &padded),
        _ => padded,
    };
    format!(
        "{at:<12}  {side}  {:>14}  {:>14}  {}\n",
        num_of(&trade["price"]),
        num_of(&trade["amount"]),
        trade["id"].as_str().unwrap_or("-")
    )
}
