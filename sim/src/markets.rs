//! Markets listed and delisted at runtime (POST /__sim/markets, [`crate::SimHandle::change_markets`]).
//!
//! Unlike the `delisted` fault, which keeps a market in exchangeInfo (a delisting the client has
//! not reloaded yet), a change here is the exchange's new truth: a delisted market leaves
//! exchangeInfo and every endpoint naming it answers -1121; a listed one is served everywhere.

use crate::market::decimal::ONE;
use crate::market::listing::{MAX_LISTING_UNITS, MIN_LISTING_UNITS};
use crate::market::{Market, Symbol};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::{Arc, PoisonError, RwLock};

/// One change: `delist` is applied first, then `list`, all or nothing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MarketChange {
    pub list: Vec<NewMarket>,
    /// Binance ids ("SOLUSDT") of markets served now.
    pub delist: Vec<String>,
}

/// A market to list: `symbol` must be `base` + `quote`, uppercase letters and digits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMarket {
    pub symbol: String,
    pub base: String,
    pub quote: String,
    /// Price at listing time, from which the walk moves (rounded to 5 significant digits, the
    /// market's tickSize). Default 1.0.
    #[serde(default = "one")]
    pub price: f64,
}

fn one() -> f64 {
    1.0
}

impl NewMarket {
    pub fn new(symbol: &str, base: &str, quote: &str, price: f64) -> NewMarket {
        NewMarket {
            symbol: symbol.to_string(),
            base: base.to_string(),
            quote: quote.to_string(),
            price,
        }
    }

    /// The checks that do not depend on what is listed now; the price in 1e-8 units.
    fn validate(&self) -> Result<u64, String> {
        check_id("symbol", &self.symbol)?;
        check_id("base", &self.base)?;
        check_id("quote", &self.quote)?;
        if format!("{}{}", self.base, self.quote) != self.symbol {
            return Err(format!(
                "base + quote must equal symbol: {} + {} is not {}",
                self.base, self.quote, self.symbol
            ));
        }
        if !self.price.is_finite() || self.price <= 0.0 {
            return Err(format!(
                "price of {} must be a finite number > 0, got {}",
                self.symbol, self.price
            ));
        }
        let units = (self.price * ONE as f64).round();
        if !(MIN_LISTING_UNITS as f64..=MAX_LISTING_UNITS as f64).contains(&units) {
            return Err(format!(
                "price of {} must be between {} and {}, got {}",
                self.symbol,
                MIN_LISTING_UNITS as f64 / ONE as f64,
                MAX_LISTING_UNITS / ONE,
                self.price
            ));
        }
        Ok(units as u64)
    }
}

/// Binance ids, bases and quotes: 1..=20 uppercase ASCII letters or digits.
fn check_id(what: &str, id: &str) -> Result<(), String> {
    let ok = (1..=20).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} {id:?} must be 1 to 20 uppercase letters or digits"
        ))
    }
}

/// How the served markets differ from the configured ones.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeMarkets {
    /// Served now and listed at runtime, in listing order.
    pub listed: Vec<String>,
    /// Delisted at runtime and not served now (configured or runtime-listed), in delisting order.
    pub delisted: Vec<String>,
}

struct Current {
    market: Arc<Market>,
    changes: RuntimeMarkets,
}

/// The configured market and the one served now. Requests take an `Arc` of the current version
/// (a read lock and a refcount bump), so a change never blocks behind a slow request.
pub struct Markets {
    base: Arc<Market>,
    current: RwLock<Current>,
}

impl Markets {
    pub fn new(market: Market) -> Markets {
        let base = Arc::new(market);
        Markets {
            current: RwLock::new(Current {
                market: base.clone(),
                changes: RuntimeMarkets::default(),
            }),
            base,
        }
    }

    pub fn get(&self) -> Arc<Market> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .market
            .clone()
    }

    pub fn changes(&self) -> RuntimeMarkets {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .changes
            .clone()
    }

    /// Applies `c` at wall time `now_ms` (listed prices start then), or changes nothing and says
    /// why.
    pub fn change(&self, c: &MarketChange, now_ms: u64) -> Result<RuntimeMarkets, String> {
        let prices = c
            .list
            .iter()
            .map(NewMarket::validate)
            .collect::<Result<Vec<u64>, String>>()?;
        for id in &c.delist {
            check_id("delist", id)?;
        }
        let mut cur = self.current.write().unwrap_or_else(PoisonError::into_inner);
        let mut symbols: Vec<Symbol> = cur.market.symbols().to_vec();
        let mut names: HashSet<String> = symbols.iter().map(|s| s.name.clone()).collect();
        let mut changes = cur.changes.clone();
        for id in &c.delist {
            if !names.remove(id) {
                return Err(format!("cannot delist {id}: it is not listed"));
            }
            symbols.retain(|s| s.name != *id);
            changes.listed.retain(|l| l != id);
            changes.delisted.push(id.clone());
        }
        for (n, &price) in c.list.iter().zip(&prices) {
            if !names.insert(n.symbol.clone()) {
                return Err(format!("cannot list {}: it is already listed", n.symbol));
            }
            symbols.push(
                cur.market
                    .listing(&n.symbol, &n.base, &n.quote, price, now_ms)?,
            );
            changes.delisted.retain(|d| *d != n.symbol);
            changes.listed.push(n.symbol.clone());
        }
        cur.market = Arc::new(cur.market.with_symbols(symbols));
        cur.changes = changes.clone();
        Ok(changes)
    }

    /// Back to the configured markets.
    pub fn reset(&self) {
        let mut cur = self.current.write().unwrap_or_else(PoisonError::into_inner);
        cur.market = self.base.clone();
        cur.changes = RuntimeMarkets::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_725_817_008_719;

    fn markets() -> Markets {
        Markets::new(Market::new(42, 0, false, 100).unwrap())
    }

    fn names(m: &Markets) -> Vec<String> {
        m.get().symbols().iter().map(|s| s.name.clone()).collect()
    }

    fn list(n: NewMarket) -> MarketChange {
        MarketChange {
            list: vec![n],
            ..MarketChange::default()
        }
    }

    fn delist(id: &str) -> MarketChange {
        MarketChange {
            delist: vec![id.into()],
            ..MarketChange::default()
        }
    }

    #[test]
    fn list_delist_and_reset() {
        let m = markets();
        let before = m.get();
        let r = m
            .change(
                &MarketChange {
                    list: vec![NewMarket::new("NEWUSDT", "NEW", "USDT", 1.5)],
                    delist: vec!["SOLUSDT".into()],
                },
                NOW,
            )
            .unwrap();
        assert_eq!(r.listed, ["NEWUSDT"]);
        assert_eq!(r.delisted, ["SOLUSDT"]);
        assert_eq!(names(&m), ["BTCUSDT", "ETHUSDT", "BNBUSDT", "NEWUSDT"]);
        let cur = m.get();
        let new = cur.symbol("NEWUSDT").unwrap();
        assert_eq!(cur.price_at(new, NOW), 150_000_000);
        // Kept symbols keep their prices; a request holding the old version is unaffected.
        let (b0, b1) = (
            before.symbol("BTCUSDT").unwrap(),
            cur.symbol("BTCUSDT").unwrap(),
        );
        assert_eq!(before.price_at(b0, NOW), cur.price_at(b1, NOW));
        assert!(before.symbol("SOLUSDT").is_some());

        // Delisting a runtime listing moves it to `delisted`; relisting a delisted one moves back.
        let r = m.change(&delist("NEWUSDT"), NOW).unwrap();
        assert_eq!(
            (r.listed.len(), r.delisted.clone()),
            (0, vec!["SOLUSDT".to_string(), "NEWUSDT".into()])
        );
        let r = m
            .change(&list(NewMarket::new("SOLUSDT", "SOL", "USDT", 2.0)), NOW)
            .unwrap();
        assert_eq!(
            (r.listed, r.delisted),
            (vec!["SOLUSDT".to_string()], vec!["NEWUSDT".to_string()])
        );
        assert_eq!(
            m.get().price_at(m.get().symbol("SOLUSDT").unwrap(), NOW),
            200_000_000
        );

        m.reset();
        assert_eq!(names(&m), ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT"]);
        assert_eq!(m.changes(), RuntimeMarkets::default());
    }

    #[test]
    fn rejected_changes_change_nothing() {
        let m = markets();
        let err = |c: MarketChange| m.change(&c, NOW).unwrap_err();
        assert!(err(list(NewMarket::new("BTCUSDT", "BTC", "USDT", 1.0))).contains("already listed"));
        assert!(err(list(NewMarket::new("NEWUSDT", "NEW", "USDC", 1.0))).contains("base + quote"));
        assert!(err(list(NewMarket::new("newusdt", "new", "usdt", 1.0))).contains("uppercase"));
        assert!(err(list(NewMarket::new("", "", "", 1.0))).contains("1 to 20"));
        let long = "A".repeat(17) + "USDT";
        assert!(err(list(NewMarket::new(&long, &long[..17], "USDT", 1.0))).contains("1 to 20"));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(err(list(NewMarket::new("NEWUSDT", "NEW", "USDT", bad))).contains("> 0"));
        }
        assert!(err(list(NewMarket::new("NEWUSDT", "NEW", "USDT", 1e-9))).contains("between"));
        assert!(err(delist("NOPEUSDT")).contains("not listed"));
        // All or nothing: a valid delist and a bad listing in one change.
        let bad = MarketChange {
            list: vec![
                NewMarket::new("AUSDT", "A", "USDT", 1.0),
                NewMarket::new("AUSDT", "A", "USDT", 1.0),
            ],
            delist: vec!["SOLUSDT".into()],
        };
        assert!(err(bad).contains("cannot list AUSDT"));
        assert_eq!(names(&m), ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT"]);
        assert_eq!(m.changes(), RuntimeMarkets::default());
    }

    #[test]
    fn bodies_parse_with_defaults_and_reject_unknown_fields() {
        let c: MarketChange = serde_json::from_str(
            r#"{"list": [{"symbol": "NEWUSDT", "base": "NEW", "quote": "USDT"}]}"#,
        )
        .unwrap();
        assert_eq!(c.list[0].price, 1.0);
        assert!(c.delist.is_empty());
        assert!(serde_json::from_str::<MarketChange>(r#"{"delisted": ["SOLUSDT"]}"#).is_err());
        assert!(serde_json::from_str::<MarketChange>(r#"{"list": [{"symbol": "X"}]}"#).is_err());
    }
}
