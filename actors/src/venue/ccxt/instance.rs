//! Making ccxt instances. One instance serialises its calls (`&mut self`), so the adapter keeps
//! a pool of them; an [`InstanceFactory`] holds everything needed to make a ready one (URLs,
//! timeout, and the loaded markets, so no instance calls `exchangeInfo` again).

use std::sync::Arc;
use std::time::Duration;

use ccxt::{TypedExchange, Value};

/// A ccxt exchange instance plus what its typed surface does not expose behind `dyn`: the
/// headers of the last response (ccxt keeps them, and `Retry-After` is among them).
pub trait VenueInstance: TypedExchange {
    fn last_response_header(&self, name: &str) -> Option<String>;
}

/// Each typed ccxt exchange derefs to its core, which keeps the last response's headers.
macro_rules! venue_instance {
    ($($venue:ty),+) => {$(
        impl VenueInstance for $venue {
            fn last_response_header(&self, name: &str) -> Option<String> {
                header(&self.last_response_headers, name)
            }
        }
    )+};
}
venue_instance!(
    ccxt::Binance,
    ccxt::Okx,
    ccxt::Bybit,
    ccxt::Kraken,
    ccxt::Coinbase
);

pub type Instance = Box<dyn VenueInstance>;

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
#[derive(Clone)]
pub struct InstanceFactory {
    pub id: String,
    /// URLs, timeout, spot-only markets, and (once loaded) the markets.
    pub config: Value,
}

impl InstanceFactory {
    /// `None` only if the id stopped being buildable, which cannot happen: the adapter was made
    /// for an id that built.
    pub fn make(&self) -> Option<Instance> {
        build(&self.id, Some(self.config.clone())).map(|(instance, _)| instance)
    }

    pub fn with_markets(&self, markets: Value) -> Self {
        let mut config = self.config.clone();
        if let Value::Dict(map) = &mut config {
            Arc::make_mut(map).insert("markets".to_owned(), markets);
        }
        Self {
            id: self.id.clone(),
            config,
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
}
