//! A venue's derivative contracts, built from its spot market: one linear USDT perpetual per
//! USDT spot market of BTC, ETH, SOL, BNB (Binance only) and the generated `SIMnnnn` symbols,
//! plus (Binance) a CURRENT_QUARTER dated future of BTC and ETH. SOL's perpetual funds every
//! 4 h, the others every 8 h. How prices, funding and open interest are made: `contract.rs`.
//!
//! Three [`Market`]s share the contracts and differ only in the price they show: `last` (the
//! contract's book, trades, candles, tickers), `mark` and `index` (their klines). Runtime
//! listings of spot markets do not change the contracts.

use super::contract::{current_quarter_expiry, yymmdd, Contract, ContractKind, Pricing};
use super::decimal::ONE;
use super::symbols::mean_qty_steps;
use super::walk::{hash, name_hash};
use super::{Market, Symbol};
use crate::venue::Venue;
use std::borrow::Cow;

pub struct Derivatives {
    pub last: Market,
    pub mark: Market,
    pub index: Market,
}

/// A contract's id on `venue`, or None if the venue lists no derivatives.
pub fn contract_id(venue: Venue, base: &str, quote: &str, kind: ContractKind) -> Option<String> {
    match (venue, kind) {
        (Venue::Binance, ContractKind::Perpetual) | (Venue::Bybit, ContractKind::Perpetual) => {
            Some(format!("{base}{quote}"))
        }
        (Venue::Binance, ContractKind::Dated { expiry_ms }) => {
            Some(format!("{base}{quote}_{}", yymmdd(expiry_ms)))
        }
        (Venue::Okx, ContractKind::Perpetual) => Some(format!("{base}-{quote}-SWAP")),
        _ => None,
    }
}

/// Price tick and lot step (1e-8 units) of a contract: the venues' real values for the majors.
fn filters(venue: Venue, base: &str, spot: &Symbol) -> (u64, u64) {
    let cents = ONE / 100;
    let (tick, step) = match base {
        "BTC" => (ONE / 10, ONE / 1000),
        "ETH" => (cents, ONE / 1000),
        "SOL" => (cents, ONE / 10),
        "BNB" => (cents, cents),
        _ => (spot.tick, spot.step),
    };
    match venue {
        // OKX sizes are in contracts of `ctVal` base, traded in 0.01 contracts.
        Venue::Okx => (tick, okx_ct_val(base) / 100),
        _ => (tick, step),
    }
}

/// OKX's `ctVal` (base units per contract, 1e-8).
pub fn okx_ct_val(base: &str) -> u64 {
    match base {
        "BTC" => ONE / 100,
        "ETH" => ONE / 10,
        _ => ONE,
    }
}

fn funding_hours(base: &str) -> u64 {
    if base == "SOL" {
        4
    } else {
        8
    }
}

fn contract_symbol(venue: Venue, spot: &Symbol, kind: ContractKind, id: &str) -> Symbol {
    let (tick, step) = filters(venue, &spot.base, spot);
    let contract_size = match venue {
        Venue::Okx => okx_ct_val(&spot.base),
        _ => ONE,
    };
    let contract = Contract::new(
        kind,
        spot.key,
        venue.id(),
        id,
        &spot.base,
        funding_hours(&spot.base),
        contract_size,
    );
    let ref_ticks = spot.ref_ticks * spot.tick as f64 / tick as f64;
    Symbol {
        name: id.to_string(),
        base: spot.base.clone(),
        quote: spot.quote.clone(),
        tick,
        step,
        // Its own key: own trade tape and book sizes, while the price follows `walk_key`.
        key: hash(&[spot.key, name_hash(id)]),
        ref_ticks,
        trade_gap_ms: spot.trade_gap_ms,
        mean_qty_steps: mean_qty_steps(ref_ticks, step) * 4.0,
        raw: Cow::Borrowed(""),
        contract: Some(contract),
    }
}

impl Derivatives {
    /// `spot`'s venue's contracts at `now_ms` (which fixes the dated futures' expiry), or None
    /// for venues without derivatives here (Kraken, Coinbase).
    pub fn for_market(spot: &Market, now_ms: u64) -> Option<Derivatives> {
        let venue = spot.venue();
        contract_id(venue, "BTC", "USDT", ContractKind::Perpetual)?;
        let underlying: Vec<&Symbol> = spot
            .symbols()
            .iter()
            .filter(|s| {
                s.quote == "USDT"
                    && (matches!(s.base.as_str(), "BTC" | "ETH" | "SOL" | "BNB")
                        || s.base.starts_with("SIM"))
            })
            .collect();
        let mut symbols = Vec::new();
        let mut ids = Vec::new();
        let mut add = |s: &Symbol, kind| {
            if let Some(id) = contract_id(venue, &s.base, &s.quote, kind) {
                symbols.push(contract_symbol(venue, s, kind, &id));
                ids.push(id);
            }
        };
        for s in &underlying {
            add(s, ContractKind::Perpetual);
        }
        let expiry_ms = current_quarter_expiry(now_ms);
        for s in underlying
            .iter()
            .filter(|s| matches!(s.base.as_str(), "BTC" | "ETH"))
        {
            add(s, ContractKind::Dated { expiry_ms });
        }
        // Mark and index are quoted 100 times finer than the contract's tick, as the venues
        // print them with more decimals; so they differ from each other and from last.
        let fine: Vec<Symbol> = symbols
            .iter()
            .map(|s| {
                let f = if s.tick >= 100 { 100 } else { 1 };
                Symbol {
                    tick: s.tick / f,
                    ref_ticks: s.ref_ticks * f as f64,
                    ..s.clone()
                }
            })
            .collect();
        Some(Derivatives {
            mark: spot.derived(fine.clone(), ids.clone(), Pricing::Mark),
            index: spot.derived(fine, ids.clone(), Pricing::Index),
            last: spot.derived(symbols, ids, Pricing::Last),
        })
    }

    /// The contract named `id` on the venue ("BTC-USDT-SWAP", "BTCUSDT_261225").
    pub fn by_venue_id(&self, id: &str) -> Option<&Symbol> {
        self.last.by_venue_id(id)
    }

    pub fn symbols(&self) -> &[Symbol] {
        self.last.symbols()
    }

    pub fn last_price(&self, s: &Symbol, t: u64) -> u64 {
        self.last.price_at(s, t)
    }

    /// `s` as the mark / index markets hold it (finer tick), by name.
    fn fine<'a>(&'a self, m: &'a Market, s: &'a Symbol) -> &'a Symbol {
        m.symbol(&s.name).unwrap_or(s)
    }

    pub fn mark_price(&self, s: &Symbol, t: u64) -> u64 {
        self.mark.price_at(self.fine(&self.mark, s), t)
    }

    pub fn index_price(&self, s: &Symbol, t: u64) -> u64 {
        self.index.price_at(self.fine(&self.index, s), t)
    }

    /// The funding rate (1e-8, signed) at `t`: predicted before a settlement, settled at one.
    pub fn funding_rate(&self, s: &Symbol, t: u64) -> i64 {
        let hours = s.contract.as_ref().map_or(8, |c| c.funding_hours);
        super::contract::funding_rate(self.mark_price(s, t), self.index_price(s, t), hours)
    }

    /// Open interest in base units (1e-8) at `t`.
    pub fn open_interest(&self, s: &Symbol, t: u64) -> u64 {
        s.contract
            .as_ref()
            .map_or(0, |c| c.open_interest(self.last.walk(), t, s.step))
    }

    /// (funding time, rate, mark) of the settlements in `[from, to]`, oldest first.
    pub fn funding_history(&self, s: &Symbol, from: u64, to: u64) -> Vec<(u64, i64, u64)> {
        let Some(c) = s.contract.as_ref().filter(|c| c.is_perpetual()) else {
            return Vec::new();
        };
        c.settlements(from, to)
            .map(|t| (t, self.funding_rate(s, t), self.mark_price(s, t)))
            .collect()
    }

    /// The settlement times at most `limit` long ending at or before `end`, oldest first (the
    /// most recent `limit` when no start is given).
    pub fn history_window(
        &self,
        s: &Symbol,
        start: Option<u64>,
        end: u64,
        limit: usize,
    ) -> Vec<(u64, i64, u64)> {
        let Some(c) = s.contract.as_ref() else {
            return Vec::new();
        };
        match start {
            Some(from) => {
                let mut v = self.funding_history(s, from, end);
                v.truncate(limit);
                v
            }
            None => {
                let back = c.interval_ms() * limit as u64;
                let mut v = self.funding_history(s, end.saturating_sub(back).max(1), end);
                let extra = v.len().saturating_sub(limit);
                v.drain(..extra);
                v
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_796_601_600_000 + 3 * 3_600_000; // 2026-12-07T03:00Z

    fn derivs(v: Venue) -> Derivatives {
        let spot = Market::for_venue(v, 42, 1, false, 100).unwrap();
        Derivatives::for_market(&spot, NOW).unwrap()
    }

    #[test]
    fn contracts_per_venue() {
        let ids = |d: &Derivatives| -> Vec<String> {
            d.symbols()
                .iter()
                .map(|s| d.last.venue_id(s).to_string())
                .collect()
        };
        assert_eq!(
            ids(&derivs(Venue::Binance)),
            [
                "BTCUSDT",
                "ETHUSDT",
                "SOLUSDT",
                "BNBUSDT",
                "SIM0001USDT",
                "BTCUSDT_261225",
                "ETHUSDT_261225"
            ]
        );
        assert_eq!(
            ids(&derivs(Venue::Okx)),
            [
                "BTC-USDT-SWAP",
                "ETH-USDT-SWAP",
                "SOL-USDT-SWAP",
                "SIM0001-USDT-SWAP"
            ]
        );
        assert_eq!(
            ids(&derivs(Venue::Bybit)),
            ["BTCUSDT", "ETHUSDT", "SOLUSDT", "SIM0001USDT"]
        );
        let spot = Market::for_venue(Venue::Kraken, 42, 0, false, 100).unwrap();
        assert!(Derivatives::for_market(&spot, NOW).is_none());
    }

    #[test]
    fn last_mark_and_index_differ_and_track_spot() {
        for v in [Venue::Binance, Venue::Okx, Venue::Bybit] {
            let d = derivs(v);
            let spot = Market::for_venue(v, 42, 1, false, 100).unwrap();
            for s in d.symbols() {
                let (l, m, i) = (
                    d.last_price(s, NOW),
                    d.mark_price(s, NOW),
                    d.index_price(s, NOW),
                );
                assert!(l != m && m != i && l != i, "{v} {}: {l} {m} {i}", s.name);
                let sp = spot.price_at(
                    spot.symbols().iter().find(|x| x.base == s.base).unwrap(),
                    NOW,
                );
                let basis = l as f64 / sp as f64 - 1.0;
                assert!(basis.abs() < 0.03, "{v} {} basis {basis}", s.name);
                assert!(
                    (i as f64 / sp as f64 - 1.0).abs() < 5e-5,
                    "{v} {} index {i} ≈ spot {sp}",
                    s.name
                );
            }
        }
    }

    #[test]
    fn history_settles_on_the_grid_with_the_rate_of_the_instant() {
        let d = derivs(Venue::Binance);
        let btc = d.by_venue_id("BTCUSDT").unwrap();
        let sol = d.by_venue_id("SOLUSDT").unwrap();
        let day = 1_796_601_600_000;
        let h = d.funding_history(btc, day - 24 * 3_600_000, NOW);
        let times: Vec<u64> = h.iter().map(|r| r.0).collect();
        assert_eq!(
            times,
            (0..4)
                .map(|i| day - 24 * 3_600_000 + i * 8 * 3_600_000)
                .collect::<Vec<_>>()
        );
        for (t, rate, mark) in &h {
            assert_eq!(*rate, d.funding_rate(btc, *t));
            assert_eq!(*mark, d.mark_price(btc, *t));
        }
        assert_eq!(d.funding_history(sol, day, NOW).len(), 1);
        let w = d.history_window(btc, None, NOW, 2);
        assert_eq!(
            w.iter().map(|r| r.0).collect::<Vec<_>>(),
            [day - 8 * 3_600_000, day]
        );
        assert_eq!(
            d.history_window(btc, Some(day - 24 * 3_600_000), NOW, 2)
                .len(),
            2
        );
        let dated = d.by_venue_id("BTCUSDT_261225").unwrap();
        assert!(d.funding_history(dated, day - 86_400_000, NOW).is_empty());
    }
}
