//! `chat`: questions in plain words, answered by calling the tools. With `LLM_API_URL`,
//! `LLM_API_KEY` (and `LLM_MODEL`), an OpenAI-compatible chat-completions endpoint with tool
//! calling decides which tools to call; otherwise a built-in parser understands the common
//! questions and says plainly what it cannot answer. Line editing and history on a terminal
//! (rustyline); questions from a pipe otherwise, one a line. The API key is never printed.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt;

use super::args::Cli;
use super::backend::Backend;
use super::render::{dim, num_of, tables, Look};
use super::{args, one_line, show_book, show_markets, show_ohlcv, show_trades, CliError};

const EXAMPLES: &str = "price of btc; eth/usdt 4h candles; order book sol limit 5; \
                        trades btc; what markets have pepe";

pub async fn run(backend: &Backend, cli: &Cli, look: Look) -> Result<String, CliError> {
    let mut llm = Llm::from_env()?;
    if let Some(llm) = &mut llm {
        llm.load_tools(backend).await?;
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
            Some(llm) => llm.ask(backend, question, look).await,
            None => Ok(builtin(backend, cli, question, look).await),
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
fn arrow(look: Look, out: bool) -> &'static str {
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

// ---- the built-in parser ----

/// What a question asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Intent {
    Ticker(String),
    Ohlcv {
        symbol: String,
        timeframe: String,
        limit: u32,
    },
    Book {
        symbol: String,
        limit: u32,
    },
    Trades {
        symbol: String,
        limit: u32,
    },
    Markets(Option<String>),
    Compare(String),
    Help,
    Unknown,
}

const STOPWORDS: &[&str] = &[
    "price",
    "prices",
    "of",
    "the",
    "what",
    "whats",
    "what's",
    "is",
    "are",
    "a",
    "an",
    "for",
    "me",
    "show",
    "give",
    "order",
    "book",
    "orderbook",
    "depth",
    "limit",
    "last",
    "top",
    "candles",
    "candle",
    "ohlcv",
    "chart",
    "kline",
    "klines",
    "trades",
    "trade",
    "recent",
    "markets",
    "market",
    "have",
    "has",
    "with",
    "listed",
    "list",
    "pairs",
    "pair",
    "on",
    "in",
    "and",
    "now",
    "current",
    "currently",
    "today",
    "how",
    "much",
    "does",
    "do",
    "cost",
    "worth",
    "ticker",
    "quote",
    "please",
    "tell",
    "about",
    "compare",
    "get",
    "hourly",
    "daily",
    "at",
    "to",
    "from",
    "which",
    "there",
    "any",
    "coins",
    "coin",
    "trading",
    "traded",
    "latest",
    "check",
    "bids",
    "asks",
    "usd",
    "i",
    "can",
    "you",
    "buy",
    "sell",
    "see",
    "across",
    "exchanges",
    "help",
    "it",
    "its",
];

/// `btc` → `BTC/USDT`; `eth/usdt`, `ETH-USDT`, `ethusdt` as given (the server resolves them).
fn symbol_of(tokens: &[&str]) -> Option<String> {
    let pair = tokens.iter().find(|t| {
        t.chars().any(|c| matches!(c, '/' | '-' | '_'))
            && t.split(['/', '-', '_'])
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()))
    });
    if let Some(pair) = pair {
        return Some(pair.to_uppercase());
    }
    let coin = tokens.iter().find(|t| {
        (2..=12).contains(&t.len())
            && t.chars().all(|c| c.is_ascii_alphanumeric())
            && t.chars().any(|c| c.is_ascii_alphabetic())
            && !STOPWORDS.contains(t)
            && timeframe_of(t).is_none()
    })?;
    let up = coin.to_uppercase();
    let quoted = ["USDT", "USDC", "FDUSD", "BUSD"]
        .iter()
        .any(|q| up.len() > q.len() + 1 && up.ends_with(q));
    Some(if quoted { up } else { format!("{up}/USDT") })
}

fn timeframe_of(token: &str) -> Option<String> {
    match token {
        "hourly" => return Some("1h".into()),
        "daily" => return Some("1d".into()),
        "weekly" => return Some("1w".into()),
        _ => {}
    }
    let unit = token.chars().last()?;
    let digits = &token[..token.len() - unit.len_utf8()];
    (matches!(unit, 'm' | 'h' | 'd' | 'w')
        && !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit()))
    .then(|| token.to_owned())
}

/// Understands the common questions.
pub fn parse(question: &str) -> Intent {
    let lower = question.to_lowercase();
    let cleaned: String = lower
        .chars()
        .map(|c| {
            if matches!(c, '?' | '!' | ',' | ';' | ':') {
                ' '
            } else {
                c
            }
        })
        .collect();
    let tokens: Vec<&str> = cleaned.split_whitespace().collect();
    let has = |words: &[&str]| tokens.iter().any(|t| words.contains(t));
    let limit = tokens
        .iter()
        .find_map(|t| t.parse::<u32>().ok())
        .filter(|n| (1..=1000).contains(n));
    let timeframe = tokens.iter().find_map(|t| timeframe_of(t));
    let symbol = symbol_of(&tokens);
    if has(&["help"]) {
        return Intent::Help;
    }
    if has(&["compare"]) || cleaned.contains("across exchanges") {
        return symbol.map_or(Intent::Unknown, Intent::Compare);
    }
    if has(&["market", "markets", "listed", "list", "pairs"]) && !has(&["order", "book"]) {
        return Intent::Markets(
            symbol.map(|s| s.split('/').next().unwrap_or_default().to_lowercase()),
        );
    }
    let Some(symbol) = symbol else {
        return Intent::Unknown;
    };
    if has(&["candles", "candle", "ohlcv", "chart", "kline", "klines"]) || timeframe.is_some() {
        return Intent::Ohlcv {
            symbol,
            timeframe: timeframe.unwrap_or_else(|| "1h".into()),
            limit: limit.unwrap_or(24),
        };
    }
    if has(&["book", "orderbook", "depth", "bids", "asks"]) {
        return Intent::Book {
            symbol,
            limit: limit.unwrap_or(10),
        };
    }
    if has(&["trades", "trade"]) {
        return Intent::Trades {
            symbol,
            limit: limit.unwrap_or(10),
        };
    }
    // A price question, a bare pair or coin ("eth/usdt", "btc"): not any sentence with a word
    // that might be a coin.
    let explicit = tokens.iter().any(|t| t.contains(['/', '-', '_']));
    if has(&[
        "price", "prices", "ticker", "quote", "cost", "worth", "much", "trading", "at",
    ]) || explicit
        || tokens.len() <= 2
    {
        return Intent::Ticker(symbol);
    }
    Intent::Unknown
}

async fn builtin(backend: &Backend, cli: &Cli, question: &str, look: Look) -> String {
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
            let has_compare = backend
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
        Intent::Help => return format!("I answer questions like: {EXAMPLES}."),
        Intent::Unknown => {
            return format!("I can't answer that without a model (set LLM_API_URL, LLM_API_KEY, LLM_MODEL). I understand: {EXAMPLES}.")
        }
    };
    let call_args = args(cli, extra);
    let mut out = look.paint(dim(), &format!("{} {tool} {call_args}", arrow(look, true)));
    out.push('\n');
    match backend.call(tool, call_args).await {
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

// ---- an OpenAI-compatible model with tool calling ----

struct Llm {
    endpoint: String,
    key: String,
    model: String,
    http: reqwest::Client,
    tools: Vec<Value>,
    messages: Vec<Value>,
}

impl Llm {
    fn from_env() -> Result<Option<Llm>, CliError> {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let Some(url) = get("LLM_API_URL") else {
            return Ok(None);
        };
        let key = get("LLM_API_KEY")
            .ok_or_else(|| CliError::Usage("LLM_API_URL is set but LLM_API_KEY is not".into()))?;
        let model = get("LLM_MODEL").unwrap_or_else(|| "gpt-4o-mini".into());
        let base = url.trim_end_matches('/');
        let endpoint = if base.ends_with("/chat/completions") {
            base.to_owned()
        } else {
            format!("{base}/chat/completions")
        };
        reqwest::Url::parse(&endpoint)
            .map_err(|e| CliError::Usage(format!("LLM_API_URL is not a URL: {e}")))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| CliError::Unavailable(format!("cannot build an HTTP client: {e}")))?;
        let system = "You answer questions about cryptocurrency markets. Use the tools for any \
                      market data; never invent numbers. Mention how fresh the data is (source, \
                      age_ms, stale) when it matters. Be brief.";
        Ok(Some(Llm {
            endpoint,
            key,
            model,
            http,
            tools: Vec::new(),
            messages: vec![json!({ "role": "system", "content": system })],
        }))
    }

    /// The MCP tools' schemas as chat-completions tools.
    async fn load_tools(&mut self, backend: &Backend) -> Result<(), CliError> {
        self.tools = backend
            .tools()
            .await?
            .into_iter()
            .map(|(name, description, schema)| {
                json!({ "type": "function", "function": {
                    "name": name, "description": description, "parameters": schema } })
            })
            .collect();
        Ok(())
    }

    async fn complete(&self) -> Result<Value, CliError> {
        let body = json!({ "model": self.model, "messages": self.messages, "tools": self.tools });
        let response = self
            .http
            .post(&self.endpoint)
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .map_err(|e| {
                CliError::Unavailable(format!(
                    "the model at {} did not answer: {}",
                    self.endpoint,
                    e.without_url()
                ))
            })?;
        let status = response.status();
        if !status.is_success() {
            return Err(CliError::Unavailable(format!(
                "the model at {} answered HTTP {status}",
                self.endpoint
            )));
        }
        let v: Value = response.json().await.map_err(|e| {
            CliError::Unavailable(format!(
                "the model's answer is not JSON: {}",
                e.without_url()
            ))
        })?;
        v["choices"][0]["message"]
            .as_object()
            .map(|m| Value::Object(m.clone()))
            .ok_or_else(|| CliError::Unavailable("the model's answer has no message".into()))
    }

    /// Asks the model; runs the tool calls it wants (showing each and its freshness) until it
    /// answers in words.
    async fn ask(
        &mut self,
        backend: &Backend,
        question: &str,
        look: Look,
    ) -> Result<String, CliError> {
        self.messages
            .push(json!({ "role": "user", "content": question }));
        let mut out = String::new();
        for _ in 0..8 {
            let message = self.complete().await?;
            let calls = message["tool_calls"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            self.messages.push(message.clone());
            if calls.is_empty() {
                out.push_str(message["content"].as_str().unwrap_or_default().trim());
                out.push('\n');
                return Ok(out);
            }
            for call in calls {
                let id = call["id"].as_str().unwrap_or_default().to_owned();
                let name = call["function"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let arguments: Value = match &call["function"]["arguments"] {
                    Value::String(s) if s.trim().is_empty() => json!({}),
                    Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| json!({})),
                    Value::Object(o) => Value::Object(o.clone()),
                    _ => json!({}),
                };
                out.push_str(
                    &look.paint(dim(), &format!("{} {name} {arguments}", arrow(look, true))),
                );
                out.push('\n');
                let content = match backend.call(&name, arguments).await {
                    Ok(v) => {
                        let fresh = tables::freshness_line(&v, look).unwrap_or_else(|| "ok".into());
                        out.push_str(
                            &look.paint(dim(), &format!("  {} {fresh}", arrow(look, false))),
                        );
                        out.push('\n');
                        v.to_string()
                    }
                    Err(CliError::Tool { code, message }) => {
                        out.push_str(
                            &look.paint(dim(), &format!("  {} error {code}", arrow(look, false))),
                        );
                        out.push('\n');
                        json!({ "error": { "code": code, "message": message } }).to_string()
                    }
                    Err(e) => return Err(e),
                };
                self.messages
                    .push(json!({ "role": "tool", "tool_call_id": id, "content": content }));
            }
        }
        out.push_str("(the model kept calling tools; stopping here)\n");
        Ok(out)
    }
}
