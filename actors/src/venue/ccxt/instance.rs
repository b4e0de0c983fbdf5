//! Making ccxt instances. One instance serialises its calls (`&mut self`), so the adapter keeps
//! a pool of them; an [`InstanceFactory`] holds everything needed to make a ready one (URLs,
//! timeout, and the loaded markets, so no instance calls `exchangeInfo` again).
//!
//! The loaded markets are held once per venue: a new instance gets the market tables of the
//! instance that loaded them (`markets`, `markets_by_id`, currencies, ...) through ccxt's
//! `set_markets_from_exchange`, which shares them (`Arc`) instead of rebuilding them. Handing
//! them over as the `markets` config key instead makes ccxt's constructor run `set_markets`,
//! which rebuilds every unified market and the currency tables: ~10 MB per instance on a full
//! market list (issue 25, docs/notes/footprint.md).

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use ccxt::{TypedExchange, Value};

/// A ccxt exchange instance plus what its typed surface does not expose behind `dyn`: the
/// headers of the last response (ccxt keeps them, and `Retry-After` is among them).
pub trait VenueInstance: TypedExchange {
    fn last_response_header(&self, name: &str) -> Option<String>;
    /// The loaded market tables, as ccxt's `set_markets_from_exchange` reads them from its
    /// source exchange; every value is shared with this instance, not copied.
    fn market_tables(&self) -> Value;
    /// A second instance of the same exchange, state and all: ccxt's `Exchange` is `Clone` and
    /// its values share their data (`Arc`, copied on write), so the copy shares `describe()`'s
    /// tables (API, options, fees) and the markets instead of building its own.
    fn duplicate(&self) -> Instance;
}

/// Each typed ccxt exchange derefs to its core, which keeps the last response's headers.
macro_rules! venue_instance {
    ($($venue:ident => $module:ident::$core:ident),+) => {$(
        impl VenueInstance for ccxt::$venue {
            fn last_response_header(&self, name: &str) -> Option<String> {
                header(&self.last_response_headers, name)
            }
            fn market_tables(&self) -> Value {
                market_tables(self)
            }
            fn duplicate(&self) -> Instance {
                Box::new(ccxt::$venue::from_core(ccxt::exchanges::$module::$core {
                    // `Clone::clone`: ccxt's `Exchange` has a `clone(value)` method of its own.
                    exchange: Clone::clone(&self.exchange),
                }))
            }
        }
    )+};
}
venue_instance!(
    Binance => binance::BinanceCore,
    Okx => okx::OkxCore,
    Bybit => bybit::BybitCore,
    Kraken => kraken::KrakenCore,
    Coinbase => coinbase::CoinbaseCore
);

pub type Instance = Box<dyn VenueInstance>;

/// What `set_markets_from_exchange` copies from its source: the market and currency tables,
/// and `options` for the venues that keep market helpers there (Kraken's `marketsByAltname`).
pub fn market_tables(ex: &ccxt::Exchange) -> Value {
    let mut tables = ccxt::value::HashMap::new();
    for (key, value) in [
        ("id", &ex.id),
        ("markets", &ex.markets),
        ("markets_by_id", &ex.markets_by_id),
        ("symbols", &ex.symbols),
        ("ids", &ex.ids),
        ("currencies", &ex.currencies),
        ("currencies_by_id", &ex.currencies_by_id),
        ("baseCurrencies", &ex.baseCurrencies),
        ("quoteCurrencies", &ex.quoteCurrencies),
        ("codes", &ex.codes),
        ("options", &ex.options),
    ] {
        tables.insert(key.to_owned(), value.clone());
    }
    Value::map(tables)
}

/// `tables` with the raw `info` (the exchange's own record) removed from every market, so that
/// only the unified markets stay alive once the loading instance is gone (Binance: 8 MB of
/// 25 MB). None of the calls we make reads it: ccxt reads `market['info']` only for orders and
/// derivatives (order types, contract pairs, index candles, funding). `markets_by_id` is
/// rebuilt to point at the same stripped markets, so each market is still held once.
pub fn without_info(tables: &Value) -> Value {
    let Some(map) = tables.as_map() else {
        return tables.clone();
    };
    let Some(Value::Dict(markets)) = map.get("markets") else {
        return tables.clone();
    };
    let stripped: ccxt::value::HashMap<String, Value> = markets
        .iter()
        .map(|(symbol, market)| (symbol.clone(), drop_info(market)))
        .collect();
    let same_market = |market: &Value| {
        market
            .as_map()
            .and_then(|m| m.get("symbol"))
            .and_then(|symbol| symbol.as_str())
            .and_then(|symbol| stripped.get(symbol))
            .cloned()
            .unwrap_or_else(|| drop_info(market))
    };
    let by_id = match map.get("markets_by_id") {
        Some(Value::Dict(by_id)) => Value::map(
            by_id
                .iter()
                .map(|(id, listed)| {
                    let listed = match listed {
                        Value::Arr(listed) => {
                            Value::Array(listed.iter().map(same_market).collect())
                        }
                        other => other.clone(),
                    };
                    (id.clone(), listed)
                })
                .collect(),
        ),
        other => other.cloned().unwrap_or(Value::Null),
    };
    let mut out = map.clone();
    out.insert("markets".to_owned(), Value::map(stripped));
    out.insert("markets_by_id".to_owned(), by_id);
    Value::map(out)
}

fn drop_info(market: &Value) -> Value {
    let mut market = market.clone();
    if let Value::Dict(fields) = &mut market {
        if fields.contains_key("info") {
            std::sync::Arc::make_mut(fields).shift_remove("info");
        }
    }
    market
}

/// ccxt stores response headers lower-cased (reqwest's names).
fn header(headers: &Value, name: &str) -> Option<String> {
    match headers.to_json() {
        serde_json::Value::Object(map) => map
            .get(&name.to_ascii_lowercase())
            .and_then(|v| v.as_str())
            .map(str::to_owned),
        _ => None,
    }
}

/// `Retry-After` in its delta-seconds form (what Binance and most exchanges send). The
/// HTTP-date form is rare for APIs and is ignored (the caller falls back to its default).
pub fn retry_after(instance: &dyn VenueInstance) -> Option<Duration> {
    parse_retry_after(&instance.last_response_header("retry-after")?)
}

fn parse_retry_after(value: &str) -> Option<Duration> {
    let seconds: f64 = value.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

/// What a fresh instance tells us about its exchange.
pub struct Describe {
    pub timeframes: Vec<String>,
    pub urls: serde_json::Value,
}

/// Makes a ccxt instance for `id`; `None` when this build does not include that exchange.
pub fn build(id: &str, config: Option<Value>) -> Option<(Instance, Describe)> {
    // The typed exchanges share no trait exposing these fields; each derefs to ccxt's
    // `Exchange`, which holds them.
    macro_rules! described {
        ($ex:expr) => {{
            let ex = $ex;
            let describe = Describe {
                timeframes: timeframe_names(&ex.timeframes),
                urls: ex.urls.to_json(),
            };
            (Box::new(ex) as Instance, describe)
        }};
    }
    Some(match id {
        "binance" => described!(ccxt::Binance::new(config)),
        "okx" => described!(ccxt::Okx::new(config)),
        "bybit" => described!(ccxt::Bybit::new(config)),
        "kraken" => described!(ccxt::Kraken::new(config)),
        "coinbase" => described!(ccxt::Coinbase::new(config)),
        _ => return None,
    })
}

fn timeframe_names(timeframes: &Value) -> Vec<String> {
    match timeframes.to_json() {
        serde_json::Value::Object(map) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Everything needed to make a ready instance, cheap to clone (ccxt values share their data),
/// so instances can be made on a blocking thread.
///
/// The first instance a factory makes is kept as a template and every later one is its
/// [`VenueInstance::duplicate`]: building one runs ccxt's `describe()` and indexes its API
/// (~1 MB and milliseconds for Binance), a duplicate shares those tables (issue 25).
#[derive(Clone)]
pub struct InstanceFactory {
    pub id: String,
    /// URLs, timeout, spot-only markets.
    pub config: Value,
    /// Once loaded: the market tables of the instance that loaded them ([`market_tables`]).
    pub markets: Option<Value>,
    /// Built on the first `make` (on a blocking thread); `None` inside if it could not be.
    template: Arc<OnceLock<Option<Mutex<Instance>>>>,
}

impl InstanceFactory {
    pub fn new(id: String, config: Value) -> Self {
        Self {
            id,
            config,
            markets: None,
            template: Arc::default(),
        }
    }

    /// `None` only if the id stopped being buildable, which cannot happen: the adapter was made
    /// for an id that built, or if ccxt refuses the market tables (logged).
    pub fn make(&self) -> Option<Instance> {
        let template = self
            .template
            .get_or_init(|| self.build().map(Mutex::new))
            .as_ref()?;
        // A poisoned lock only means a duplicate panicked; the template itself is unchanged.
        let template = template.lock().unwrap_or_else(|p| p.into_inner());
        Some(template.duplicate())
    }

    /// A new instance from the config, sharing the loaded markets' tables.
    fn build(&self) -> Option<Instance> {
        let (mut instance, _) = build(&self.id, Some(self.config.clone()))?;
        if let Some(tables) = &self.markets {
            // Synchronous inside (no I/O): only ccxt's dynamic-call wrapper is async.
            let shared = futures::executor::block_on(
                instance.call_raw("set_markets_from_exchange", vec![tables.clone()]),
            );
            if let Err(e) = shared {
                tracing::warn!(exchange = %self.id, "sharing the loaded markets with a new instance failed: {e}");
                return None;
            }
        }
        Some(instance)
    }

    pub fn with_markets(&self, tables: Value) -> Self {
        Self {
            id: self.id.clone(),
            config: self.config.clone(),
            markets: Some(tables),
            template: Arc::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_retry_after_seconds_from_response_headers() {
        let headers =
            Value::from(serde_json::json!({"retry-after": "30", "x-mbx-used-weight-1m": "6001"}));
        let value = header(&headers, "Retry-After");
        assert_eq!(value.as_deref(), Some("30"));
        assert_eq!(parse_retry_after("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after(" 0.5 "), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(retry_after(&ccxt::Binance::new(None)), None);
    }

    /// Issue 25: every instance the factory makes shares the loaded market tables (the same
    /// `Arc`s), where handing the markets over as config made each instance rebuild its own
    /// copy (~10 MB per instance on a full market list); and the tables can drop the raw `info`
    /// while still holding each market once.
    #[test]
    fn made_instances_share_the_loaded_market_tables() {
        let market = |id: &str, base: &str| {
            serde_json::json!({
                "id": id, "symbol": format!("{base}/USDT"), "base": base, "quote": "USDT",
                "baseId": base, "quoteId": "USDT", "type": "spot", "spot": true, "active": true,
                "info": {"symbol": id},
            })
        };
        let markets = Value::from(serde_json::json!([
            market("BTCUSDT", "BTC"),
            market("ETHUSDT", "ETH")
        ]));
        let config = Value::from(serde_json::json!({"enableRateLimit": false}));
        let mut with_markets = config.clone();
        if let Value::Dict(map) = &mut with_markets {
            std::sync::Arc::make_mut(map).insert("markets".to_owned(), markets);
        }
        let (loaded, _) = build("binance", Some(with_markets)).unwrap();
        let tables = loaded.market_tables();
        let factory = InstanceFactory::new("binance".to_owned(), config).with_markets(tables);
        let made = factory.make().unwrap();
        let (source, copy) = (loaded.market_tables(), made.market_tables());
        let shared = |key: &str| match (
            source.as_map().and_then(|m| m.get(key)),
            copy.as_map().and_then(|m| m.get(key)),
        ) {
            (Some(Value::Dict(a)), Some(Value::Dict(b))) => std::sync::Arc::ptr_eq(a, b),
            (Some(Value::Arr(a)), Some(Value::Arr(b))) => std::sync::Arc::ptr_eq(a, b),
            _ => false,
        };
        for key in ["markets", "markets_by_id", "symbols", "currencies"] {
            assert!(shared(key), "{key} is shared, not copied");
        }
        let btc = made.market("BTC/USDT").unwrap();
        assert_eq!(btc.id, "BTCUSDT");
        assert!(made.market("SOL/USDT").is_err());

        // Without `info`: gone from every market, and markets_by_id points at the very same
        // stripped markets (each held once); an instance made from them still resolves.
        let stripped = without_info(&loaded.market_tables());
        let table = |key: &str| stripped.as_map().and_then(|m| m.get(key)).cloned();
        let Some(Value::Dict(markets)) = table("markets") else {
            panic!("markets kept")
        };
        let Some(Value::Dict(by_id)) = table("markets_by_id") else {
            panic!("markets_by_id kept")
        };
        assert_eq!(markets.len(), 2);
        for market in markets.values() {
            assert!(market.as_map().is_some_and(|m| !m.contains_key("info")));
        }
        match (markets.get("ETH/USDT"), by_id.get("ETHUSDT")) {
            (Some(Value::Dict(a)), Some(Value::Arr(listed))) => match listed.first() {
                Some(Value::Dict(b)) => assert!(std::sync::Arc::ptr_eq(a, b)),
                other => panic!("ETHUSDT lists {other:?}"),
            },
            other => panic!("ETH/USDT: {other:?}"),
        }
        let lean = InstanceFactory::new("binance".to_owned(), Value::from(serde_json::json!({})))
            .with_markets(stripped)
            .make()
            .unwrap();
        assert_eq!(lean.market("ETH/USDT").unwrap().id, "ETHUSDT");
    }
}
