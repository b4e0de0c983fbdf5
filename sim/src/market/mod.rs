//! The simulated market: symbols, the price walk, and the data derived from it (candles, trades,
//! order book, 24h statistics). Everything here is transport-agnostic and returns numbers in
//! 1e-8 units; `rest` formats them in Binance's REST shapes, and a future websocket layer can
//! format the same values as stream events (trades are time-indexed, so a stream can emit the
//! ids between two instants; the book is a function of the walk step, whose index is its
//! `lastUpdateId`).

pub mod book;
pub mod candles;
pub mod contract;
pub mod decimal;
pub mod derivatives;
pub mod interval;
pub mod listing;
pub mod stats;
pub mod symbols;
pub mod trades;
pub mod walk;

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use crate::venue::Venue;
pub use symbols::Symbol;
use symbols::{build_symbol, extra_name, extra_raw, info_doc, template, InfoDoc, SymbolMeta};
use walk::Walk;

/// One version of the market. Immutable: markets listed or delisted at runtime produce a new
/// `Market` ([`Market::with_symbols`]) that requests pick up, so handlers can hold `&Symbol`s
/// without locks.
pub struct Market {
    seed: u64,
    venue: Venue,
    walk: Walk,
    /// Which price a derivative symbol shows here (spot symbols ignore it).
    pricing: contract::Pricing,
    symbols: Vec<Symbol>,
    index: HashMap<String, usize>,
    /// Each symbol's id on the venue ("BTC-USDT" on OKX), parallel to `symbols`.
    venue_ids: Vec<String>,
    venue_index: HashMap<String, usize>,
    doc: &'static InfoDoc,
    /// Comma-joined JSON of every symbol, built on the first unfiltered exchangeInfo request.
    all_symbols_json: OnceLock<String>,
    /// Memo of the hour-aligned samples behind 24h stats (see `stats.rs`).
    hour_grid: Mutex<HashMap<(u64, u64), stats::GridAgg>>,
    /// Trade bursts added at runtime (`trades.rs`), shared by the versions of this market so
    /// that listing a symbol does not renumber another's trades.
    bursts: trades::Bursts,
    /// Steps between two sizes of a lively book level ([`book::LIVELY`]).
    lively_period: u64,
}

impl Market {
    /// Binance's market (the reference venue), for tests.
    #[cfg(test)]
    pub fn new(
        seed: u64,
        extra_symbols: usize,
        full_markets: bool,
        tick_ms: u64,
    ) -> Result<Market, String> {
        Market::for_venue(Venue::Binance, seed, extra_symbols, full_markets, tick_ms)
    }

    /// `venue`'s market: the same symbols and walk as Binance's (minus what the venue does not
    /// list), with the venue's own price skew.
    pub fn for_venue(
        venue: Venue,
        seed: u64,
        extra_symbols: usize,
        full_markets: bool,
        tick_ms: u64,
    ) -> Result<Market, String> {
        let doc = info_doc(full_markets)?;
        let mut symbols: Vec<Symbol> = doc
            .symbols
            .iter()
            .map(|(meta, raw)| build_symbol(seed, meta, Cow::Borrowed(raw.as_str())))
            .collect();
        if extra_symbols > 0 {
            let template = template()?;
            for n in 1..=extra_symbols {
                let (name, base) = extra_name(n);
                let raw = extra_raw(template, &name, &base);
                let meta: SymbolMeta = serde_json::from_str(&raw).map_err(|e| e.to_string())?;
                symbols.push(build_symbol(seed, &meta, Cow::Owned(raw)));
            }
        }
        symbols.retain(|s| venue.lists(&s.base));
        let venue_ids = symbols
            .iter()
            .map(|s| crate::venues::market_id(venue, &s.base, &s.quote))
            .collect();
        Ok(Market::build(
            seed,
            venue,
            Walk::new(seed, tick_ms),
            doc,
            symbols,
            venue_ids,
        ))
    }

    /// A market of derivative `symbols` (each with its `contract`) on this market's walk and
    /// venue, showing `pricing`; `venue_ids` parallel to `symbols` ("BTC-USDT-SWAP").
    pub fn derived(
        &self,
        symbols: Vec<Symbol>,
        venue_ids: Vec<String>,
        pricing: contract::Pricing,
    ) -> Market {
        let mut m = Market::build(
            self.seed,
            self.venue,
            self.walk.clone(),
            self.doc,
            symbols,
            venue_ids,
        );
        m.pricing = pricing;
        m.lively_period = self.lively_period;
        m
    }

    /// Sizes of the lively book levels change every `steps` walk steps (at least 1): REST
    /// and websocket books read the same value.
    pub fn with_lively_period(mut self, steps: u64) -> Market {
        self.lively_period = steps.max(1);
        self
    }

    /// The walk (for contracts' premium and open interest paths).
    pub fn walk(&self) -> &Walk {
        &self.walk
    }

    fn build(
        seed: u64,
        venue: Venue,
        walk: Walk,
        doc: &'static InfoDoc,
        symbols: Vec<Symbol>,
        venue_ids: Vec<String>,
    ) -> Market {
        let index = symbols
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect();
        let venue_index = venue_ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i))
            .collect();
        Market {
            seed,
            venue,
            walk,
            pricing: contract::Pricing::Last,
            symbols,
            index,
            venue_ids,
            venue_index,
            doc,
            all_symbols_json: OnceLock::new(),
            hour_grid: Mutex::new(HashMap::new()),
            bursts: trades::Bursts::default(),
            lively_period: book::LIVELY_PERIOD,
        }
    }

    /// The same exchange (seed, walk, exchangeInfo document) serving `symbols` instead, in that
    /// order. Symbols carried over keep their prices: a [`Symbol`] holds its own walk key and
    /// reference price. Memos start empty, since a new symbol may reuse a removed one's name (and
    /// walk key) with another reference price.
    pub fn with_symbols(&self, symbols: Vec<Symbol>) -> Market {
        let venue_ids = symbols
            .iter()
            .map(|s| crate::venues::market_id(self.venue, &s.base, &s.quote))
            .collect();
        let mut m = Market::build(
            self.seed,
            self.venue,
            self.walk.clone(),
            self.doc,
            symbols,
            venue_ids,
        );
        m.bursts = self.bursts.clone();
        m.lively_period = self.lively_period;
        m
    }

    pub fn venue(&self) -> Venue {
        self.venue
    }

    /// The symbol whose id on this market's venue is `id` ("BTC-USDT" on OKX).
    pub fn by_venue_id(&self, id: &str) -> Option<&Symbol> {
        self.venue_index.get(id).map(|&i| &self.symbols[i])
    }

    /// `s`'s id on this market's venue.
    pub fn venue_id<'a>(&'a self, s: &'a Symbol) -> &'a str {
        self.index
            .get(&s.name)
            .and_then(|&i| self.venue_ids.get(i))
            .map_or(s.name.as_str(), String::as_str)
    }

    pub fn symbol(&self, name: &str) -> Option<&Symbol> {
        self.index.get(name).map(|&i| &self.symbols[i])
    }

    pub fn symbols(&self) -> &[Symbol] {
        &self.symbols
    }

    /// Price in ticks at a walk step (never below one tick).
    pub fn ticks_at_step(&self, s: &Symbol, step: u64) -> u64 {
        let offset = match &s.contract {
            None => self.walk.log_offset(s.key, step) + self.venue.log_skew(s.key, step),
            // A contract moves with its underlying's walk and skew, plus its premium.
            Some(c) => {
                self.walk.log_offset(c.walk_key, step)
                    + self.venue.log_skew(c.walk_key, step)
                    + c.log_offset(&self.walk, step, self.pricing)
            }
        };
        let p = s.ref_ticks * offset.exp();
        (p.round() as u64).max(1)
    }

    /// Price in 1e-8 units at wall time `t_ms`.
    pub fn price_at(&self, s: &Symbol, t_ms: u64) -> u64 {
        self.ticks_at_step(s, self.walk.step_at(t_ms)) * s.tick
    }

    /// exchangeInfo body: the fixture's top-level members in order, `serverTime` = now, and the
    /// symbols (all, or the requested ones in request order).
    pub fn exchange_info(&self, now_ms: u64, filter: Option<&[&Symbol]>) -> String {
        let symbols_json: Cow<'_, str> = match filter {
            Some(list) => Cow::Owned(join_raw(list.iter().copied())),
            None => Cow::Borrowed(
                self.all_symbols_json
                    .get_or_init(|| join_raw(self.symbols.iter()))
                    .as_str(),
            ),
        };
        let mut out = String::with_capacity(symbols_json.len() + 1024);
        out.push('{');
        for (i, (key, raw)) in self.doc.members.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('"');
            out.push_str(key);
            out.push_str("\":");
            match key.as_str() {
                "serverTime" => out.push_str(&now_ms.to_string()),
                "symbols" => {
                    out.push('[');
                    out.push_str(&symbols_json);
                    out.push(']');
                }
                _ => out.push_str(raw),
            }
        }
        out.push('}');
        out
    }
}

fn join_raw<'a>(symbols: impl Iterator<Item = &'a Symbol>) -> String {
    let mut out = String::new();
    for (i, s) in symbols.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&s.raw);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{minify, shape, EXCHANGE_INFO_SMALL};

    #[test]
    fn small_market_with_extras() {
        let m = Market::new(42, 3, false, 100).unwrap();
        let names: Vec<&str> = m.symbols().iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "BTCUSDT",
                "ETHUSDT",
                "SOLUSDT",
                "BNBUSDT",
                "SIM0001USDT",
                "SIM0002USDT",
                "SIM0003USDT"
            ]
        );
        assert!(m.symbol("SIM0003USDT").is_some());
        assert!(m.symbol("SIM0004USDT").is_none());
    }

    #[test]
    fn exchange_info_keeps_fixture_shape() {
        let m = Market::new(42, 2, false, 100).unwrap();
        let body = m.exchange_info(1_700_000_000_000, None);
        assert_eq!(shape(&body).unwrap(), shape(EXCHANGE_INFO_SMALL).unwrap());
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["serverTime"], 1_700_000_000_000u64);
        assert_eq!(v["symbols"].as_array().unwrap().len(), 6);
        assert_eq!(v["symbols"][5]["symbol"], "SIM0002USDT");
        assert_eq!(v["symbols"][5]["baseAsset"], "SIM0002");
        // Unchanged parts are the fixture's text, byte for byte.
        let fixture = minify(EXCHANGE_INFO_SMALL);
        let btc_start = fixture.find("{\"symbol\":\"BTCUSDT\"").unwrap();
        let btc_end = fixture.find(",{\"symbol\":\"ETHUSDT\"").unwrap();
        assert!(body.contains(&fixture[btc_start..btc_end]));
    }

    #[test]
    fn exchange_info_filter() {
        let m = Market::new(42, 0, false, 100).unwrap();
        let sol = m.symbol("SOLUSDT").unwrap();
        let btc = m.symbol("BTCUSDT").unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&m.exchange_info(1, Some(&[sol, btc]))).unwrap();
        let names: Vec<&str> = v["symbols"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["symbol"].as_str())
            .collect();
        assert_eq!(names, ["SOLUSDT", "BTCUSDT"]);
    }

    #[test]
    fn full_markets_load() {
        let m = Market::new(42, 1, true, 100).unwrap();
        assert_eq!(m.symbols().len(), 1249);
        let v: serde_json::Value = serde_json::from_str(&m.exchange_info(1, None)).unwrap();
        assert_eq!(v["symbols"].as_array().unwrap().len(), 1249);
    }

    #[test]
    fn prices_are_positive_and_tick_aligned() {
        let m = Market::new(42, 0, true, 100).unwrap();
        for s in m.symbols() {
            let p = m.price_at(s, 1_725_817_008_719);
            assert!(p > 0 && p.is_multiple_of(s.tick), "{} {p}", s.name);
        }
    }
}
