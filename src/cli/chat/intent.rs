//! The chat's built-in parser: what a question in plain words asks for ("price of btc",
//! "eth 4h candles", "order book sol limit 5"), without a model. It only understands; the
//! answering is the chat's (`chat::builtin`).

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
    /// A perpetual's funding across venues (`compare_funding`).
    Funding(String),
    OpenInterest(String),
    /// The cost of a market order (`estimate_fill`): "cost to buy 5 btc".
    Fill {
        symbol: String,
        side: &'static str,
        amount: f64,
    },
    /// `top_movers` by gainers, losers or volume: "top gainers".
    Movers(&'static str),
    /// An amount in another asset (`convert`): "2 eth in btc".
    Convert {
        amount: f64,
        from: String,
        to: String,
    },
    /// Indicators (`get_indicators`), e.g. "rsi of btc", "macd eth 4h".
    Indicators {
        symbol: String,
        indicators: Vec<String>,
        timeframe: String,
    },
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
    "funding",
    "rate",
    "rates",
    "open",
    "interest",
    "oi",
    "perp",
    "perps",
    "perpetual",
    "perpetuals",
    "buying",
    "selling",
    "would",
    "fill",
    "filling",
    "gainers",
    "losers",
    "movers",
    "biggest",
    "volume",
    "convert",
    "into",
    "indicator",
    "indicators",
    "rsi",
    "macd",
    "sma",
    "ema",
    "atr",
    "vwap",
    "stoch",
    "stochastic",
    "bollinger",
    "bands",
    "bbands",
    "moving",
    "average",
    "overbought",
    "oversold",
];

/// The indicator a word names, as `get_indicators` spells it.
fn indicator_of(token: &str) -> Option<&'static str> {
    Some(match token {
        "rsi" | "overbought" | "oversold" => "rsi",
        "macd" => "macd",
        "sma" | "moving" => "sma",
        "ema" => "ema",
        "atr" => "atr",
        "vwap" => "vwap",
        "stoch" | "stochastic" => "stoch",
        "bollinger" | "bbands" => "bbands",
        _ => return None,
    })
}

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

/// "2 eth in btc", "convert 0.5 btc to usdt": an amount, an asset, in/to/into, an asset.
fn convert_of(tokens: &[&str]) -> Option<Intent> {
    let asset = |t: &str| {
        (2..=12).contains(&t.len())
            && t.chars().all(|c| c.is_ascii_alphanumeric())
            && t.chars().any(|c| c.is_ascii_alphabetic())
            && (!STOPWORDS.contains(&t) || t == "usd")
    };
    tokens.windows(4).find_map(|w| {
        let amount = w[0]
            .parse::<f64>()
            .ok()
            .filter(|a| a.is_finite() && *a > 0.0)?;
        (asset(w[1]) && matches!(w[2], "in" | "to" | "into") && asset(w[3])).then(|| {
            Intent::Convert {
                amount,
                from: w[1].to_uppercase(),
                to: w[3].to_uppercase(),
            }
        })
    })
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
    if let Some(convert) = convert_of(&tokens) {
        return convert;
    }
    if has(&["gainers", "losers", "movers"])
        || (has(&["top", "biggest"]) && has(&["volume", "movers"]))
    {
        let by = if has(&["losers"]) {
            "losers"
        } else if has(&["volume"]) {
            "volume"
        } else {
            "gainers"
        };
        return Intent::Movers(by);
    }
    let side = if has(&["buy", "buying"]) {
        Some("buy")
    } else if has(&["sell", "selling"]) {
        Some("sell")
    } else {
        None
    };
    let amount = tokens
        .iter()
        .find_map(|t| t.parse::<f64>().ok())
        .filter(|a| a.is_finite() && *a > 0.0);
    if let (Some(side), Some(amount), Some(symbol)) = (side, amount, &symbol) {
        return Intent::Fill {
            symbol: symbol.clone(),
            side,
            amount,
        };
    }
    if has(&["funding"]) {
        return symbol.map_or(Intent::Unknown, Intent::Funding);
    }
    let mut indicators: Vec<String> = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let Some(name) = indicator_of(token) else {
            continue;
        };
        // "rsi 7" (or "rsi:7", its colon cleaned away): that period.
        let period = tokens.get(i + 1).filter(|t| t.parse::<u32>().is_ok());
        let spec = match period {
            Some(n) if name != "vwap" && name != "macd" => format!("{name}:{n}"),
            _ => name.to_owned(),
        };
        if !indicators.iter().any(|s| s.split(':').next() == Some(name)) {
            indicators.push(spec);
        }
    }
    if !indicators.is_empty() {
        return symbol.map_or(Intent::Unknown, |symbol| Intent::Indicators {
            symbol,
            indicators,
            timeframe: timeframe.clone().unwrap_or_else(|| "1h".into()),
        });
    }
    if has(&["oi"]) || cleaned.contains("open interest") {
        return symbol.map_or(Intent::Unknown, Intent::OpenInterest);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn funding_and_open_interest_questions() {
        assert_eq!(parse("funding of btc?"), Intent::Funding("BTC/USDT".into()));
        assert_eq!(
            parse("what is the ETHUSDT funding rate"),
            Intent::Funding("ETHUSDT".into())
        );
        assert_eq!(
            parse("open interest sol"),
            Intent::OpenInterest("SOL/USDT".into())
        );
        assert_eq!(parse("oi btc"), Intent::OpenInterest("BTC/USDT".into()));
        assert_eq!(parse("price of btc"), Intent::Ticker("BTC/USDT".into()));
    }

    #[test]
    fn fill_movers_and_convert_questions() {
        let fill = |symbol: &str, side, amount| Intent::Fill {
            symbol: symbol.into(),
            side,
            amount,
        };
        assert_eq!(parse("cost to buy 5 btc"), fill("BTC/USDT", "buy", 5.0));
        assert_eq!(
            parse("what would selling 0.5 eth cost?"),
            fill("ETH/USDT", "sell", 0.5)
        );
        assert_eq!(parse("top gainers"), Intent::Movers("gainers"));
        assert_eq!(parse("biggest losers today"), Intent::Movers("losers"));
        assert_eq!(parse("top volume"), Intent::Movers("volume"));
        let convert = |amount, from: &str, to: &str| Intent::Convert {
            amount,
            from: from.into(),
            to: to.into(),
        };
        assert_eq!(parse("2 eth in btc"), convert(2.0, "ETH", "BTC"));
        assert_eq!(
            parse("convert 1.5 btc to usdt"),
            convert(1.5, "BTC", "USDT")
        );
        // Not a size: still a price, a book.
        assert_eq!(parse("buy btc"), Intent::Ticker("BTC/USDT".into()));
        assert_eq!(
            parse("order book sol limit 5"),
            Intent::Book {
                symbol: "SOL/USDT".into(),
                limit: 5
            }
        );
    }

    #[test]
    fn indicator_questions() {
        let asked = |symbol: &str, indicators: &[&str], timeframe: &str| Intent::Indicators {
            symbol: symbol.into(),
            indicators: indicators.iter().map(|s| (*s).to_owned()).collect(),
            timeframe: timeframe.into(),
        };
        assert_eq!(parse("rsi of btc"), asked("BTC/USDT", &["rsi"], "1h"));
        assert_eq!(
            parse("is ETH overbought on the 4h?"),
            asked("ETH/USDT", &["rsi"], "4h")
        );
        assert_eq!(
            parse("macd and rsi:7 for sol/usdt daily"),
            asked("SOL/USDT", &["macd", "rsi:7"], "1d")
        );
        assert_eq!(parse("rsi"), Intent::Unknown);
    }
}
