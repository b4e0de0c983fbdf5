//! Stream names (`btcusdt@ticker`, `ethusdt@kline_1m`, ...) and the connection's time unit.

use crate::market::interval::{Interval, NAMES};

/// At most this many streams per connection (Binance's limit).
pub const MAX_STREAMS: usize = 1024;

/// What a stream publishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Ticker,
    MiniTicker,
    BookTicker,
    Trade,
    AggTrade,
    /// The interval and its name as written in the stream name ("1m", "1M").
    Kline(Interval, &'static str),
    /// USDⓈ-M `markPriceUpdate`: `@markPrice@1s` (true) or `@markPrice` (every 3 s).
    MarkPrice(bool),
    /// `!markPrice@arr@1s` (true) / `!markPrice@arr`: every contract's, as one array.
    MarkPriceAll(bool),
    /// Diff depth: `@depth@100ms` (true) or `@depth` (every second).
    Depth(bool),
}

/// Streams updated together, on one timer (see `publish.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Group {
    Ticker,
    BookTicker,
    Kline,
    /// `kline_1s` streams: Binance updates them every second, so they get a timer of their own.
    Kline1s,
    Trade,
    /// USDⓈ-M mark price streams, every second (`@markPrice` ones send every third).
    MarkPrice,
    /// `@depth@100ms`.
    Depth,
    /// `@depth`, every second.
    Depth1s,
}

impl Group {
    pub const ALL: [Group; 8] = [
        Group::Ticker,
        Group::BookTicker,
        Group::Kline,
        Group::Kline1s,
        Group::Trade,
        Group::MarkPrice,
        Group::Depth,
        Group::Depth1s,
    ];

    pub fn index(self) -> usize {
        self as usize
    }
}

/// A validated stream name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamSpec {
    /// The name as subscribed (lowercase symbol), which is also the combined envelope's `stream`.
    pub name: String,
    /// The Binance id ("BTCUSDT").
    pub symbol: String,
    pub kind: Kind,
}

impl StreamSpec {
    pub fn group(&self) -> Group {
        match self.kind {
            Kind::Ticker | Kind::MiniTicker => Group::Ticker,
            Kind::BookTicker => Group::BookTicker,
            Kind::Trade | Kind::AggTrade => Group::Trade,
            Kind::Kline(_, "1s") => Group::Kline1s,
            Kind::Kline(..) => Group::Kline,
            Kind::MarkPrice(_) | Kind::MarkPriceAll(_) => Group::MarkPrice,
            Kind::Depth(true) => Group::Depth,
            Kind::Depth(false) => Group::Depth1s,
        }
    }
}

/// Parses a stream name. The symbol need not exist: as on Binance, a stream for an unknown
/// symbol is accepted and simply never sends anything (it starts if the market is listed later).
/// The error is the text after "Invalid request: ".
pub fn parse(name: &str) -> Result<StreamSpec, String> {
    let all = match name {
        "!markPrice@arr@1s" => Some(Kind::MarkPriceAll(true)),
        "!markPrice@arr" => Some(Kind::MarkPriceAll(false)),
        _ => None,
    };
    if let Some(kind) = all {
        return Ok(StreamSpec {
            name: name.to_string(),
            symbol: String::new(),
            kind,
        });
    }
    let (symbol, kind) = name
        .split_once('@')
        .ok_or_else(|| format!("invalid stream name {name:?}: expected <symbol>@<type>"))?;
    let symbol_ok = (1..=20).contains(&symbol.len())
        && symbol
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !symbol_ok {
        return Err(format!(
            "invalid stream name {name:?}: the symbol must be 1 to 20 lowercase letters or digits"
        ));
    }
    let kind = match kind {
        "ticker" => Kind::Ticker,
        "miniTicker" => Kind::MiniTicker,
        "bookTicker" => Kind::BookTicker,
        "trade" => Kind::Trade,
        "aggTrade" => Kind::AggTrade,
        "markPrice" => Kind::MarkPrice(false),
        "markPrice@1s" => Kind::MarkPrice(true),
        "depth@100ms" => Kind::Depth(true),
        "depth" => Kind::Depth(false),
        k => match k.strip_prefix("kline_") {
            Some(iv) => {
                let label = NAMES
                    .into_iter()
                    .find(|n| *n == iv)
                    .ok_or_else(|| format!("invalid stream name {name:?}: unknown interval"))?;
                let interval = Interval::parse(label)
                    .ok_or_else(|| format!("invalid stream name {name:?}: unknown interval"))?;
                Kind::Kline(interval, label)
            }
            None => {
                return Err(format!(
                    "stream {name:?} is not served by the simulator (it serves <symbol>@ticker, \
                     @miniTicker, @bookTicker, @trade, @aggTrade, @kline_<interval>, \
                     @markPrice, @markPrice@1s, @depth, @depth@100ms, !markPrice@arr and !markPrice@arr@1s)"
                ))
            }
        },
    };
    Ok(StreamSpec {
        name: name.to_string(),
        symbol: symbol.to_ascii_uppercase(),
        kind,
    })
}

/// Time fields in milliseconds (default) or microseconds (`timeUnit=MICROSECOND` on the URL).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TimeUnit {
    #[default]
    Milli,
    Micro,
}

impl TimeUnit {
    /// The `timeUnit` URL parameter; Binance accepts either case.
    pub fn parse(v: Option<&str>) -> Result<TimeUnit, String> {
        match v {
            None => Ok(TimeUnit::Milli),
            Some(u) if u.eq_ignore_ascii_case("millisecond") => Ok(TimeUnit::Milli),
            Some(u) if u.eq_ignore_ascii_case("microsecond") => Ok(TimeUnit::Micro),
            Some(u) => Err(format!(
                "invalid timeUnit {u:?}: expected MILLISECOND or MICROSECOND"
            )),
        }
    }

    /// A millisecond timestamp in this unit.
    pub fn scale_ms(self, ms: u64) -> u64 {
        match self {
            TimeUnit::Milli => ms,
            TimeUnit::Micro => ms.saturating_mul(1000),
        }
    }

    /// The last instant of millisecond `ms` (a kline's close time 1672515839999 is
    /// 1672515839999999 in microseconds).
    pub fn end_of_ms(self, ms: u64) -> u64 {
        match self {
            TimeUnit::Milli => ms,
            TimeUnit::Micro => ms.saturating_mul(1000).saturating_add(999),
        }
    }
}

/// The instant an update is computed for: milliseconds for the walk, microseconds for `E`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    pub ms: u64,
    pub us: u64,
}

impl Now {
    pub fn from_us(us: u64) -> Now {
        Now { ms: us / 1000, us }
    }

    /// Event time `E` in `unit`.
    pub fn event_time(self, unit: TimeUnit) -> u64 {
        match unit {
            TimeUnit::Milli => self.ms,
            TimeUnit::Micro => self.us,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_served_kind() {
        let s = parse("btcusdt@ticker").unwrap();
        assert_eq!((s.symbol.as_str(), s.kind), ("BTCUSDT", Kind::Ticker));
        assert_eq!(parse("ethusdt@miniTicker").unwrap().kind, Kind::MiniTicker);
        assert_eq!(
            parse("ethusdt@bookTicker").unwrap().group(),
            Group::BookTicker
        );
        assert_eq!(parse("sim0001usdt@trade").unwrap().symbol, "SIM0001USDT");
        assert_eq!(parse("ethusdt@aggTrade").unwrap().group(), Group::Trade);
        let k = parse("btcusdt@kline_1M").unwrap();
        assert_eq!(k.kind, Kind::Kline(Interval::Month, "1M"));
        assert_eq!(k.group(), Group::Kline);
        assert_eq!(parse("btcusdt@kline_1s").unwrap().group(), Group::Kline1s);
        assert_eq!(
            parse("btcusdt@markPrice@1s").unwrap().kind,
            Kind::MarkPrice(true)
        );
        assert_eq!(
            parse("solusdt@markPrice").unwrap().group(),
            Group::MarkPrice
        );
        assert_eq!(parse("btcusdt@depth@100ms").unwrap().group(), Group::Depth);
        assert_eq!(parse("btcusdt@depth").unwrap().kind, Kind::Depth(false));
        // Unknown symbols are valid names.
        assert!(parse("nosuchusdt@ticker").is_ok());
    }

    #[test]
    fn rejects_malformed_names() {
        for bad in [
            "btcusdt",
            "@ticker",
            "BTCUSDT@ticker",
            "btc-usdt@ticker",
            "btcusdt@tickers",
            "btcusdt@kline_2m",
            "btcusdt@kline_",
            "btcusdt@depth5",
            "btcusdt@depth@1000ms",
            "",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn time_units() {
        assert_eq!(TimeUnit::parse(None), Ok(TimeUnit::Milli));
        assert_eq!(TimeUnit::parse(Some("MICROSECOND")), Ok(TimeUnit::Micro));
        assert_eq!(TimeUnit::parse(Some("microsecond")), Ok(TimeUnit::Micro));
        assert_eq!(TimeUnit::parse(Some("MILLISECOND")), Ok(TimeUnit::Milli));
        assert!(TimeUnit::parse(Some("ns")).is_err());
        assert_eq!(TimeUnit::Micro.scale_ms(5), 5000);
        assert_eq!(TimeUnit::Micro.end_of_ms(5), 5999);
        let now = Now::from_us(1_700_000_000_123_456);
        assert_eq!(now.ms, 1_700_000_000_123);
        assert_eq!(now.event_time(TimeUnit::Micro), 1_700_000_000_123_456);
    }
}
