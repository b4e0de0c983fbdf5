//! Binance USDⓈ-M's `<symbol>@markPrice` (every 3 s) and `<symbol>@markPrice@1s` streams:
//! `markPriceUpdate` events from the venue's contracts, the same values `/fapi/v1/premiumIndex`
//! serves at the event's own time `E`.

use super::streams::{Now, TimeUnit};
use crate::market::contract::fmt_rate8;
use crate::market::decimal::fmt_units;
use crate::market::derivatives::Derivatives;
use crate::market::Symbol;
use serde::Serialize;

#[derive(Serialize)]
struct MarkPriceEvent<'a> {
    e: &'static str,
    #[serde(rename = "E")]
    event_time: u64,
    s: &'a str,
    /// Mark price.
    p: String,
    /// Index price.
    i: String,
    /// Estimated settle price.
    #[serde(rename = "P")]
    settle: String,
    /// Funding rate (the predicted one; empty for dated futures).
    r: String,
    /// Next funding time (0 for dated futures).
    #[serde(rename = "T")]
    next_funding: u64,
}

/// `!markPrice@arr`: every contract's event, one JSON array.
pub fn all(d: &Derivatives, now: Now, unit: TimeUnit) -> String {
    let events: Vec<String> = d.symbols().iter().map(|s| event(d, s, now, unit)).collect();
    format!("[{}]", events.join(","))
}

/// One `markPriceUpdate` for contract `s` at `now`.
pub fn event(d: &Derivatives, s: &Symbol, now: Now, unit: TimeUnit) -> String {
    let index = fmt_units(d.index_price(s, now.ms));
    let (rate, next) = match s.contract.as_ref().filter(|c| c.is_perpetual()) {
        Some(c) => (
            fmt_rate8(d.funding_rate(s, now.ms)),
            unit.scale_ms(c.next_funding(now.ms)),
        ),
        None => (String::new(), 0),
    };
    let e = MarkPriceEvent {
        e: "markPriceUpdate",
        event_time: now.event_time(unit),
        s: &s.name,
        p: fmt_units(d.mark_price(s, now.ms)),
        i: index.clone(),
        settle: index,
        r: rate,
        next_funding: next,
    };
    serde_json::to_string(&e).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::Market;
    use crate::rest::Params;
    use crate::venue::Venue;
    use serde_json::Value;

    #[test]
    fn event_matches_premium_index_at_its_time() {
        let now = Now::from_us(1_796_612_400_123_000);
        let spot = Market::for_venue(Venue::Binance, 42, 0, false, 100).unwrap();
        let d = Derivatives::for_market(&spot, now.ms).unwrap();
        let s = d.last.symbol("BTCUSDT").unwrap();
        let ev: Value = serde_json::from_str(&event(&d, s, now, TimeUnit::Milli)).unwrap();
        let body = crate::venues::binance_futures::handle_at(
            "fapi/v1/premiumIndex",
            &d,
            &Params::parse(Some("symbol=BTCUSDT")),
            now.ms,
        )
        .unwrap();
        let rest: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(ev["e"], "markPriceUpdate");
        assert_eq!(ev["E"], now.ms);
        assert_eq!(ev["s"], "BTCUSDT");
        assert_eq!(ev["p"], rest["markPrice"]);
        assert_eq!(ev["i"], rest["indexPrice"]);
        assert_eq!(ev["P"], rest["estimatedSettlePrice"]);
        assert_eq!(ev["r"], rest["lastFundingRate"]);
        assert_eq!(ev["T"], rest["nextFundingTime"]);
        let micro: Value = serde_json::from_str(&event(&d, s, now, TimeUnit::Micro)).unwrap();
        assert_eq!(micro["E"], now.us);
        let arr: Value = serde_json::from_str(&all(&d, now, TimeUnit::Milli)).unwrap();
        assert_eq!(arr.as_array().map(Vec::len), Some(d.symbols().len()));
        assert_eq!(arr[0], ev);
    }
}
