//! Exchange replies through ccxt's parsers and ours, without a network: the fuzz target
//! `ccxt_reply` (and its regression tests) hand a body to ccxt as the HTTP reply of a
//! ticker, tickers, order book, trades or candles call, on one of the five venues this build
//! serves, and check what the adapter would make of it. Not a supported API.
//!
//! ccxt's typed call goes through `call_dynamic` and `call_typed` exactly as `ccxt::Binance`
//! and the others do; only the core is ours to hold, so its `mock_response` (ccxt's own hook
//! for replaying fixtures) can be set. What ccxt does with a live reply before parsing it
//! (`handle_errors`, on the status and body) is run on the same body too.

use std::collections::HashMap;
use std::future::Future;

use ccxt::exchange::DerivedExchange;
use ccxt::exchange_generated::ExchangeBase;
use ccxt::{TypedExchange, TypedExchangeExt, Value};

use super::convert;
use crate::model::{Candle, OrderBook, Ticker, Trade};
use crate::venue::VenueError;

/// The venues, in the order the selector byte picks them.
pub const VENUES: &[&str] = super::SUPPORTED_EXCHANGES;

/// What a reply is parsed as, picked by the second selector byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplyKind {
    Ticker,
    Tickers,
    OrderBook,
    Trades,
    Candles,
}

impl ReplyKind {
    pub const ALL: [ReplyKind; 5] = [
        Self::Ticker,
        Self::Tickers,
        Self::OrderBook,
        Self::Trades,
        Self::Candles,
    ];

    /// Its name in the harness's file names (`good/<venue>-<name>.json`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Ticker => "ticker",
            Self::Tickers => "tickers",
            Self::OrderBook => "order_book",
            Self::Trades => "trades",
            Self::Candles => "candles",
        }
    }
}

/// A reply as the adapter returns it to the engine.
#[allow(
    clippy::large_enum_variant,
    reason = "one per fuzz input, checked and dropped"
)]
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    Ticker(Ticker),
    Tickers(HashMap<String, Result<Ticker, VenueError>>),
    OrderBook(OrderBook),
    Trades(Vec<Trade>),
    Candles(Vec<Candle>),
}

/// A ccxt core of ours wearing ccxt's typed surface (what `ccxt::Binance` and the others do,
/// with the core reachable so that a reply can be planted).
struct Mocked<C> {
    core: C,
}

#[async_trait::async_trait]
impl<C: ExchangeBase + Sync + 'static> TypedExchange for Mocked<C> {
    async fn call_raw(&mut self, method: &str, args: Vec<Value>) -> ccxt::Result<Value> {
        ccxt::runtime::call_typed(self.core.call_dynamic(method, args)).await
    }

    fn market(&self, symbol: &str) -> ccxt::Result<ccxt::types::Market> {
        let symbol = Value::from(symbol);
        ccxt::runtime::catch_typed(|| {
            ccxt::types::Market::from_value(ExchangeBase::market(&self.core, symbol))
        })
    }

    fn markets(&self) -> Vec<ccxt::types::Market> {
        match &self.core.markets {
            Value::Dict(d) => d
                .values()
                .cloned()
                .map(ccxt::types::Market::from_value)
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// The object-safe part the harness needs from each venue's core.
trait Venue: TypedExchange + Sync {
    fn plant(&mut self, reply: Value);
    fn plant_markets(&mut self, replies: Value);
    fn handle_errors(&self, status: i64, body: &str, json: Value) -> Value;
}

impl<C: ExchangeBase + Sync + 'static> Venue for Mocked<C> {
    fn plant(&mut self, reply: Value) {
        self.core.mock_response = reply;
        self.core.mock_response_by_url = Value::Null;
    }

    fn plant_markets(&mut self, replies: Value) {
        self.core.mock_response_by_url = replies;
    }

    fn handle_errors(&self, status: i64, body: &str, json: Value) -> Value {
        DerivedExchange::handle_errors(
            &self.core,
            Value::Int(status),
            Value::from("OK"),
            Value::from("https://example.invalid/api"),
            Value::from("GET"),
            Value::Null,
            Value::from(body),
            json,
            Value::Null,
            Value::Null,
        )
    }
}

fn core(id: &str) -> Option<Box<dyn Venue>> {
    use ccxt::exchanges::{binance, bybit, coinbase, kraken, okx};
    let config = Some(Value::from(serde_json::json!({
        "enableRateLimit": false,
        "options": { "fetchMarkets": { "types": ["spot"] } },
    })));
    Some(match id {
        "binance" => Box::new(Mocked {
            core: binance::BinanceCore::new(config),
        }),
        "okx" => Box::new(Mocked {
            core: okx::OkxCore::new(config),
        }),
        "bybit" => Box::new(Mocked {
            core: bybit::BybitCore::new(config),
        }),
        "kraken" => Box::new(Mocked {
            core: kraken::KrakenCore::new(config),
        }),
        "coinbase" => Box::new(Mocked {
            core: coinbase::CoinbaseCore::new(config),
        }),
        _ => return None,
    })
}

/// Runs a ccxt future to its end on this thread. Mocked replies never wait on I/O or timers
/// (`request_typed` skips ccxt's throttle when a reply is planted), so no runtime is needed.
fn run<F: Future>(future: F) -> F::Output {
    futures::executor::block_on(future)
}

/// ccxt's view of a body: JSON when it parses (ccxt's `Value`), else the text, as its HTTP
/// layer does; never `Null`, which would mean "no planted reply" and go to the network.
fn as_reply(body: &[u8]) -> (String, Value) {
    let text = String::from_utf8_lossy(body).into_owned();
    let value = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Null) | Err(_) => Value::from(text.as_str()),
        Ok(json) => Value::from_json(&json),
    };
    (text, value)
}

/// One venue's core with markets loaded from planted replies, the symbols it is asked about,
/// and what it made of a good reply of each kind when it was fresh.
struct Loaded {
    venue: Box<dyn Venue>,
    symbol: String,
    other: String,
    good: Vec<(ReplyKind, Vec<u8>, Parsed)>,
}

/// The five venues, each with its markets loaded, ready to be handed replies.
pub struct ReplyParsers {
    venues: Vec<(&'static str, Loaded)>,
}

impl ReplyParsers {
    /// `markets(id)`: the replies (a JSON object, URL fragment → body) that load `id`'s
    /// markets; each venue must then list BTC/USDT (or BTC/USD) and ETH/USDT (or ETH/USD).
    /// `good(id, kind)`: a well-formed reply of that kind, which must parse.
    pub fn new(
        markets: impl Fn(&str) -> serde_json::Value,
        good: impl Fn(&str, ReplyKind) -> Vec<u8>,
    ) -> Result<Self, String> {
        let mut venues = Vec::new();
        for &id in VENUES {
            let mut venue = core(id).ok_or_else(|| format!("{id}: not built"))?;
            venue.plant_markets(Value::from_json(&markets(id)));
            run(venue.call_raw("load_markets", vec![Value::Bool(true)]))
                .map_err(|e| format!("{id}: markets: {e:?}"))?;
            let listed: Vec<String> = venue.markets().into_iter().map(|m| m.symbol).collect();
            let pick = |wanted: &[&str]| {
                wanted
                    .iter()
                    .find(|s| listed.iter().any(|l| l == *s))
                    .map(|s| (*s).to_owned())
                    .ok_or_else(|| format!("{id}: none of {wanted:?} in {listed:?}"))
            };
            let symbol = pick(&["BTC/USDT", "BTC/USD"])?;
            let other = pick(&["ETH/USDT", "ETH/USD"])?;
            venue.plant(Value::Null);
            let mut loaded = Loaded {
                venue,
                symbol,
                other,
                good: Vec::new(),
            };
            for kind in ReplyKind::ALL {
                let body = good(id, kind);
                let parsed = loaded
                    .parse(kind, &body)
                    .map_err(|e| format!("{id} {kind:?}: the good reply fails: {e:?}"))?;
                loaded.good.push((kind, body, parsed));
            }
            venues.push((id, loaded));
        }
        Ok(Self { venues })
    }

    /// [`Self::new`] with the replies kept in `dir`: `markets/<venue>.json` (URL fragment →
    /// body) and `good/<venue>-<kind>.json`.
    pub fn from_dir(dir: &std::path::Path) -> Result<Self, String> {
        let read = |path: std::path::PathBuf| {
            std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))
        };
        let mut markets = HashMap::new();
        let mut good = HashMap::new();
        for &id in VENUES {
            let text = read(dir.join("markets").join(format!("{id}.json")))?;
            let json: serde_json::Value =
                serde_json::from_slice(&text).map_err(|e| format!("{id} markets: {e}"))?;
            markets.insert(id, json);
            for kind in ReplyKind::ALL {
                let file = dir.join("good").join(format!("{id}-{}.json", kind.name()));
                good.insert((id, kind), read(file)?);
            }
        }
        Self::new(
            |id| markets.get(id).cloned().unwrap_or_default(),
            |id, kind| {
                VENUES
                    .iter()
                    .find(|v| **v == id)
                    .and_then(|v| good.get(&(*v, kind)).cloned())
                    .unwrap_or_default()
            },
        )
    }

    /// `body` as `venue`'s reply to a `kind` call, through ccxt and `convert` as the adapter
    /// does (`CcxtExchange::fetch_*`), then checked: what the adapter hands the engine holds
    /// its promises (finite numbers, best-first books, the market asked about), and the
    /// instance, which the adapter's pool reuses, still parses a good reply as it did when
    /// fresh. ccxt's error signals come back as errors; a panic that gets past ccxt's own
    /// `catch_unwind` is a finding, as it would be in production.
    pub fn reply(
        &mut self,
        venue: &str,
        kind: ReplyKind,
        body: &[u8],
    ) -> Result<Parsed, VenueError> {
        let (_, loaded) = self
            .venues
            .iter_mut()
            .find(|(id, _)| *id == venue)
            .ok_or_else(|| VenueError::Unsupported(venue.to_owned()))?;
        let parsed = loaded.parse(kind, body);
        if let Ok(parsed) = &parsed {
            loaded.check(parsed);
        }
        let (_, good, expected) = loaded
            .good
            .iter()
            .find(|(k, _, _)| *k == kind)
            .cloned()
            .expect("a good reply of every kind");
        let again = loaded.parse(kind, &good);
        assert_eq!(
            again.as_ref(),
            Ok(&expected),
            "{venue} {kind:?}: a good reply parses differently after this one"
        );
        parsed
    }
}

impl Loaded {
    fn parse(&mut self, kind: ReplyKind, body: &[u8]) -> Result<Parsed, VenueError> {
        let (text, reply) = as_reply(body);
        // A live reply meets the venue's error checks first (a 200 can carry an error body);
        // ccxt signals what they find by panicking, which `call_typed` turns into an error.
        let venue = &self.venue;
        let checked = run(ccxt::runtime::call_typed(async {
            venue.handle_errors(200, &text, reply.clone())
        }));
        if let Err(e) = checked {
            return Err(convert::error(e, None));
        }
        self.venue.plant(reply);
        let ex = &mut self.venue;
        let symbol = self.symbol.as_str();
        let parsed = match kind {
            ReplyKind::Ticker => {
                run(ex.fetch_ticker(symbol, ())).map(|t| Parsed::Ticker(convert::ticker(t)))
            }
            ReplyKind::Tickers => {
                let symbols = vec![self.symbol.clone(), self.other.clone()];
                run(ex.fetch_tickers(Some(symbols.clone()), ())).map(|tickers| {
                    // As `fetch_ticker_chunk` answers each symbol of a batch.
                    Parsed::Tickers(
                        symbols
                            .into_iter()
                            .map(|s| {
                                let answer = tickers
                                    .get(&s)
                                    .cloned()
                                    .map(convert::ticker)
                                    .ok_or_else(|| VenueError::Malformed(s.clone()));
                                (s, answer)
                            })
                            .collect(),
                    )
                })
            }
            ReplyKind::OrderBook => run(ex.fetch_order_book(symbol, Some(100), ()))
                .map(|b| Parsed::OrderBook(convert::order_book(b))),
            ReplyKind::Trades => run(ex.fetch_trades(symbol, None, Some(100), ()))
                .map(|t| Parsed::Trades(convert::trades(t))),
            ReplyKind::Candles => run(ex.fetch_ohlcv(symbol, Some("1h"), None, Some(100), ()))
                .map(|rows| Parsed::Candles(convert::candles(rows))),
        };
        self.venue.plant(Value::Null);
        parsed.map_err(|e| convert::error(e, None))
    }

    /// What the engine relies on in a parsed reply.
    fn check(&self, parsed: &Parsed) {
        let ticker_ok = |t: &Ticker, symbol: &str| {
            assert_numbers_finite(t);
            assert_eq!(t.symbol, symbol, "a ticker of another market: {t:?}");
        };
        match parsed {
            Parsed::Ticker(t) => ticker_ok(t, &self.symbol),
            Parsed::Tickers(answers) => {
                for (symbol, answer) in answers {
                    if let Ok(t) = answer {
                        ticker_ok(t, symbol);
                    }
                }
            }
            Parsed::OrderBook(book) => {
                let finite = |side: &[[f64; 2]]| side.iter().flatten().all(|v| v.is_finite());
                assert!(finite(&book.bids) && finite(&book.asks), "{book:?}");
                assert!(book.bids.windows(2).all(|w| w[0][0] >= w[1][0]), "{book:?}");
                assert!(book.asks.windows(2).all(|w| w[0][0] <= w[1][0]), "{book:?}");
            }
            Parsed::Trades(trades) => {
                assert!(trades
                    .iter()
                    .all(|t| t.price.is_finite() && t.amount.is_finite()));
            }
            Parsed::Candles(candles) => {
                assert!(candles.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
                assert!(candles.iter().all(|c| c.timestamp > 0
                    && [c.open, c.high, c.low, c.close, c.volume]
                        .iter()
                        .all(|v| v.is_finite())));
            }
        }
    }
}

/// Every number a ticker carries is finite (an unknown one is `None`, never NaN or ∞).
pub(crate) fn assert_numbers_finite(t: &Ticker) {
    let numbers = [
        t.high,
        t.low,
        t.bid,
        t.bid_volume,
        t.ask,
        t.ask_volume,
        t.vwap,
        t.open,
        t.close,
        t.last,
        t.previous_close,
        t.change,
        t.percentage,
        t.average,
        t.base_volume,
        t.quote_volume,
    ];
    assert!(
        numbers.iter().flatten().all(|v| v.is_finite()),
        "a number that is not: {t:?}"
    );
}
