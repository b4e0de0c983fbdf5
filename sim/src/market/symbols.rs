//! The symbol universe: exchangeInfo fixture symbols plus generated `SIMnnnnUSDT` symbols.

use super::decimal::{parse_units, ONE};
use super::walk::{hash, name_hash, unit};
use crate::fixtures::{minify, OrderedObject, EXCHANGE_INFO_FULL, EXCHANGE_INFO_SMALL};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::sync::OnceLock;

/// One tradable symbol with everything the generators need.
#[derive(Clone, Debug)]
pub struct Symbol {
    pub name: String,
    /// Base and quote asset (Binance spelling, e.g. "BTC", "USDT"); other venues derive their
    /// own ids from these.
    pub base: String,
    pub quote: String,
    /// PRICE_FILTER tickSize in 1e-8 units.
    pub tick: u64,
    /// LOT_SIZE stepSize in 1e-8 units.
    pub step: u64,
    /// Per-(seed, symbol) key for the walk and every other hash.
    pub key: u64,
    /// Reference price in ticks, around which the walk moves.
    pub ref_ticks: f64,
    /// Average time between two trades.
    pub trade_gap_ms: u64,
    /// Mean trade size in LOT_SIZE steps.
    pub mean_qty_steps: f64,
    /// The symbol's exchangeInfo object as compact JSON, in the fixture's key order.
    pub raw: Cow<'static, str>,
    /// Set on derivative markets' symbols (see `contract.rs`); None on spot.
    pub contract: Option<super::contract::Contract>,
}

/// A parsed exchangeInfo fixture: top-level members (raw, in order) and its symbols.
#[derive(Debug)]
pub struct InfoDoc {
    /// Top-level members in document order; the `symbols` member's value is left empty because
    /// it is re-rendered per request (filtered, with extras appended).
    pub members: Vec<(String, String)>,
    pub symbols: Vec<(SymbolMeta, String)>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SymbolMeta {
    pub symbol: String,
    pub base_asset: String,
    pub quote_asset: String,
    #[serde(default)]
    filters: Vec<FilterMeta>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FilterMeta {
    filter_type: String,
    tick_size: Option<String>,
    step_size: Option<String>,
}

impl SymbolMeta {
    fn filter_units(&self, filter: &str, pick: fn(&FilterMeta) -> Option<&String>) -> Option<u64> {
        let f = self.filters.iter().find(|f| f.filter_type == filter)?;
        pick(f).and_then(|s| parse_units(s)).filter(|&u| u > 0)
    }
}

fn parse_doc(text: &str) -> Result<InfoDoc, String> {
    let compact = minify(text);
    let top: OrderedObject = serde_json::from_str(&compact).map_err(|e| e.to_string())?;
    let mut members = Vec::new();
    let mut symbols = Vec::new();
    for (key, raw) in top.0 {
        if key == "symbols" {
            let list: Vec<Box<RawValue>> =
                serde_json::from_str(raw.get()).map_err(|e| e.to_string())?;
            for s in list {
                let meta: SymbolMeta = serde_json::from_str(s.get()).map_err(|e| e.to_string())?;
                symbols.push((meta, s.get().to_string()));
            }
            members.push((key, String::new()));
        } else {
            members.push((key, raw.get().to_string()));
        }
    }
    Ok(InfoDoc { members, symbols })
}

/// Parsed once per process: tests and benchmarks start many simulators.
pub fn info_doc(full: bool) -> Result<&'static InfoDoc, String> {
    static SMALL: OnceLock<Result<InfoDoc, String>> = OnceLock::new();
    static FULL: OnceLock<Result<InfoDoc, String>> = OnceLock::new();
    let cell = if full { &FULL } else { &SMALL };
    cell.get_or_init(|| {
        parse_doc(if full {
            EXCHANGE_INFO_FULL
        } else {
            EXCHANGE_INFO_SMALL
        })
    })
    .as_ref()
    .map_err(|e| format!("bad exchangeInfo fixture: {e}"))
}

/// BTCUSDT's entry in exchangeInfo_small.json: the template for generated and listed markets.
pub fn template() -> Result<&'static str, String> {
    info_doc(false)?
        .symbols
        .iter()
        .find(|(m, _)| m.symbol == "BTCUSDT")
        .map(|(_, raw)| raw.as_str())
        .ok_or_else(|| "exchangeInfo_small.json has no BTCUSDT".to_string())
}

/// Name of the n-th generated symbol (1-based): SIM0001USDT.
pub fn extra_name(n: usize) -> (String, String) {
    let base = format!("SIM{n:04}");
    (format!("{base}USDT"), base)
}

/// Generated symbols copy BTCUSDT's exchangeInfo entry with the names swapped. Quoted-string
/// replacement is exact: "BTCUSDT" and "BTC" only occur as the symbol and baseAsset values.
pub fn extra_raw(template: &str, symbol: &str, base: &str) -> String {
    template
        .replace("\"BTCUSDT\"", &format!("\"{symbol}\""))
        .replace("\"BTC\"", &format!("\"{base}\""))
}

/// Well-known reference prices so the four fixture markets look familiar.
fn anchor(base: &str, quote: &str) -> Option<f64> {
    let usd = matches!(quote, "USDT" | "USDC" | "FDUSD" | "TUSD" | "BUSD" | "USD");
    match (base, usd) {
        ("BTC", true) => Some(65_000.0),
        ("ETH", true) => Some(3_200.0),
        ("BNB", true) => Some(580.0),
        ("SOL", true) => Some(150.0),
        _ => None,
    }
}

pub fn build_symbol(seed: u64, meta: &SymbolMeta, raw: Cow<'static, str>) -> Symbol {
    let key = hash(&[seed, name_hash(&meta.symbol)]);
    let tick = meta
        .filter_units("PRICE_FILTER", |f| f.tick_size.as_ref())
        .unwrap_or(ONE / 100);
    let step = meta
        .filter_units("LOT_SIZE", |f| f.step_size.as_ref())
        .unwrap_or(ONE / 100_000);
    let tick_f = tick as f64 / ONE as f64;
    // Unknown markets get 4–5 significant digits in ticks, which keeps a 5000-level book positive.
    let ref_ticks = anchor(&meta.base_asset, &meta.quote_asset)
        .map(|p| p / tick_f)
        .unwrap_or_else(|| 20_000.0 * 10f64.powf(unit(hash(&[key, 1]))))
        .max(20_000.0);
    let trade_gap_ms = 20 + (hash(&[key, 2]) % 380);
    Symbol {
        name: meta.symbol.clone(),
        base: meta.base_asset.clone(),
        quote: meta.quote_asset.clone(),
        tick,
        step,
        key,
        ref_ticks,
        trade_gap_ms,
        mean_qty_steps: mean_qty_steps(ref_ticks, step),
        raw,
        contract: None,
    }
}

/// Mean trade size in steps for a reference price: a typical trade is worth ~50k ticks
/// (≈ 500 USDT on a 0.01-tick USDT market), so quantities stay small on every market.
pub fn mean_qty_steps(ref_ticks: f64, step: u64) -> f64 {
    let mean_qty = 50_000.0 / ref_ticks;
    (mean_qty * ONE as f64 / step as f64).max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_doc_has_four_symbols() {
        let doc = info_doc(false).unwrap();
        let names: Vec<&str> = doc.symbols.iter().map(|(m, _)| m.symbol.as_str()).collect();
        assert_eq!(names, ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT"]);
    }

    #[test]
    fn full_doc_has_1248_symbols_with_ticks() {
        let doc = info_doc(true).unwrap();
        assert_eq!(doc.symbols.len(), 1248);
        for (meta, raw) in &doc.symbols {
            let s = build_symbol(42, meta, Cow::Borrowed(""));
            assert!(s.tick > 0 && s.step > 0, "{}", meta.symbol);
            assert!(raw.starts_with('{'));
        }
    }

    #[test]
    fn btcusdt_filters_and_extras() {
        let doc = info_doc(false).unwrap();
        let (meta, raw) = &doc.symbols[0];
        let s = build_symbol(42, meta, Cow::Borrowed(""));
        assert_eq!((s.tick, s.step), (1_000_000, 1_000));
        let (name, base) = extra_name(7);
        assert_eq!((name.as_str(), base.as_str()), ("SIM0007USDT", "SIM0007"));
        let extra = extra_raw(raw, &name, &base);
        let meta2: SymbolMeta = serde_json::from_str(&extra).unwrap();
        assert_eq!(meta2.symbol, "SIM0007USDT");
        assert_eq!(meta2.base_asset, "SIM0007");
        assert_eq!(meta2.quote_asset, "USDT");
        assert_eq!(extra.len(), raw.len() + 8);
    }
}
