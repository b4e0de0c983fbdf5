//! General endpoints: time and exchangeInfo (ping is a constant `{}`).

use super::{to_json, ApiError, Params};
use crate::market::Market;
use serde::Serialize;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServerTime {
    server_time: u64,
}

pub fn time(now: u64) -> Result<String, ApiError> {
    to_json(&ServerTime { server_time: now })
}

/// `symbol=X` or `symbols=[...]` filters the list (unknown → -1121); none = every symbol.
pub fn exchange_info(m: &Market, p: &Params, now: u64) -> Result<String, ApiError> {
    let filter = p.symbol_filter(m)?;
    Ok(m.exchange_info(now, filter.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{shape, EXCHANGE_INFO_SMALL, TIME};

    #[test]
    fn time_shape() {
        assert_eq!(shape(&time(5).unwrap()).unwrap(), shape(TIME).unwrap());
    }

    #[test]
    fn exchange_info_filters() {
        let m = Market::new(42, 0, false, 100).unwrap();
        let body = exchange_info(&m, &Params::parse(Some("symbol=ETHUSDT")), 9).unwrap();
        assert_eq!(shape(&body).unwrap(), shape(EXCHANGE_INFO_SMALL).unwrap());
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["symbols"].as_array().unwrap().len(), 1);
        assert_eq!(v["symbols"][0]["symbol"], "ETHUSDT");
        assert_eq!(
            exchange_info(&m, &Params::parse(Some("symbol=XYZUSDT")), 9).unwrap_err(),
            ApiError::InvalidSymbol
        );
    }
}
