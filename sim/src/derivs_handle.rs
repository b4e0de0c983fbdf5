//! [`SimHandle`]'s view of the venue's derivative contracts: what their endpoints serve at a
//! given instant, so tests can compute expected values, and the derivative request counters.

use crate::market::decimal::to_f64;
use crate::server::SimHandle;
use crate::state::{now_ms, SimState};

/// What a contract's endpoints show at one instant, as numbers (also what
/// `GET /__sim/contracts?at=<ms>` lists, one per contract).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ContractQuote {
    /// The venue's id ("BTCUSDT", "BTC-USDT-SWAP", "BTCUSDT_261225").
    pub id: String,
    pub perpetual: bool,
    /// Delivery time of a dated future (None for perpetuals).
    pub expiry_ms: Option<u64>,
    pub last: f64,
    pub mark: f64,
    pub index: f64,
    /// The predicted rate now (the settled one when `t_ms` is a settlement instant).
    pub funding_rate: f64,
    pub next_funding_ms: u64,
    pub interval_hours: u64,
    /// Open interest in base units; in contracts it is this / `contract_size`.
    pub open_interest_base: f64,
    /// Base units per contract (OKX `ctVal`; 1 on Binance and Bybit).
    pub contract_size: f64,
}

/// Whether an endpoint name (as counted) is a derivatives request: Binance `fapi/...`, OKX
/// `swap:...`, Bybit `linear:...`.
pub fn is_derivative_name(name: &str) -> bool {
    name.starts_with("fapi/") || name.starts_with("swap:") || name.starts_with("linear:")
}

/// Contract `id` of the venue at `t_ms`.
pub(crate) fn quote(st: &SimState, id: &str, t_ms: u64) -> Option<ContractQuote> {
    let d = st.derivs.as_ref()?;
    let s = d.by_venue_id(id)?;
    let c = s.contract.as_ref()?;
    let expiry_ms = match c.kind {
        crate::market::contract::ContractKind::Dated { expiry_ms } => Some(expiry_ms),
        crate::market::contract::ContractKind::Perpetual => None,
    };
    Some(ContractQuote {
        id: id.to_string(),
        perpetual: c.is_perpetual(),
        expiry_ms,
        last: to_f64(d.last_price(s, t_ms)),
        mark: to_f64(d.mark_price(s, t_ms)),
        index: to_f64(d.index_price(s, t_ms)),
        funding_rate: d.funding_rate(s, t_ms) as f64 / 1e8,
        next_funding_ms: c.next_funding(t_ms),
        interval_hours: c.funding_hours,
        open_interest_base: to_f64(d.open_interest(s, t_ms)),
        contract_size: to_f64(c.contract_size),
    })
}

/// Every contract of the venue at `t_ms`, perpetuals first.
pub(crate) fn quotes(st: &SimState, t_ms: u64) -> Vec<ContractQuote> {
    let Some(d) = st.derivs.as_ref() else {
        return Vec::new();
    };
    d.symbols()
        .iter()
        .filter_map(|s| quote(st, d.last.venue_id(s), t_ms))
        .collect()
}

impl SimHandle {
    /// The venue's contract ids, perpetuals first (empty on Kraken and Coinbase).
    pub fn contract_ids(&self) -> Vec<String> {
        let Some(d) = self.state().derivs.as_ref() else {
            return Vec::new();
        };
        d.symbols()
            .iter()
            .map(|s| d.last.venue_id(s).to_string())
            .collect()
    }

    /// What contract `id` (the venue's id) shows at `t_ms`, or None if the venue lists no such
    /// contract.
    pub fn contract_at(&self, id: &str, t_ms: u64) -> Option<ContractQuote> {
        quote(self.state(), id, t_ms)
    }

    /// [`SimHandle::contract_at`] now.
    pub fn contract(&self, id: &str) -> Option<ContractQuote> {
        self.contract_at(id, now_ms())
    }

    /// Settled funding of perpetual `id` in `[from_ms, to_ms]` (`to_ms` capped at now: no
    /// settlement is in the future): (funding time, rate), oldest first, as the history
    /// endpoints serve them.
    pub fn funding_history(&self, id: &str, from_ms: u64, to_ms: u64) -> Vec<(u64, f64)> {
        let Some(d) = self.state().derivs.as_ref() else {
            return Vec::new();
        };
        let Some(s) = d.by_venue_id(id) else {
            return Vec::new();
        };
        d.funding_history(s, from_ms, to_ms.min(now_ms()))
            .into_iter()
            .map(|(t, r, _)| (t, r as f64 / 1e8))
            .collect()
    }

    /// Derivative requests received (every endpoint name [`is_derivative_name`] accepts),
    /// failed ones included; 0 until a client first asks for derivatives.
    pub fn derivative_calls(&self) -> u64 {
        self.state()
            .calls
            .snapshot()
            .into_iter()
            .filter(|(name, _)| is_derivative_name(name))
            .map(|(_, n)| n)
            .sum()
    }

    /// Binance only: the body of `GET /<endpoint>?<query>` (`endpoint` like
    /// `"fapi/v1/premiumIndex"`) computed at wall time `at_ms` (no counting, weight or faults),
    /// or the Binance error body. Lets tests compare a `@markPrice` event with REST at its `E`.
    pub fn futures_body_at(
        &self,
        endpoint: &str,
        query: &str,
        at_ms: u64,
    ) -> Result<String, String> {
        let d = self
            .state()
            .derivs
            .as_ref()
            .filter(|_| self.venue() == crate::Venue::Binance)
            .ok_or_else(|| "no USDⓈ-M futures on this venue".to_string())?;
        crate::venues::binance_futures::handle_at(
            endpoint,
            d,
            &crate::rest::Params::parse(Some(query)),
            at_ms,
        )
    }

    /// Binance USDⓈ-M REQUEST_WEIGHT used in the current minute (its own budget, apart from
    /// spot's [`SimHandle::used_weight`]).
    pub fn futures_used_weight(&self) -> u64 {
        self.state().futures_weight.used(now_ms())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivative_names() {
        for n in [
            "fapi/v1/premiumIndex",
            "swap:market/ticker",
            "linear:market/tickers",
        ] {
            assert!(is_derivative_name(n), "{n}");
        }
        for n in ["klines", "market/ticker", "public/instruments", "Ticker"] {
            assert!(!is_derivative_name(n), "{n}");
        }
    }
}
