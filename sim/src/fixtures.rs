//! Binance payload fixtures embedded at compile time.
//!
//! They live in `sim/fixtures/` (provenance: `sim/fixtures/SOURCES.md`), so a clean clone builds
//! and tests on its own. The exchangeInfo documents are served (filtered); the others are shape
//! templates that the tests compare generated payloads against.

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::fmt;

macro_rules! fixture {
    ($path:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/binance/rest/",
            $path
        ))
    };
}

pub const EXCHANGE_INFO_SMALL: &str = fixture!("exchangeInfo_small.json");
pub const EXCHANGE_INFO_FULL: &str = fixture!("exchangeInfo_full.json");
#[cfg(test)]
pub const TICKER_24HR: &str = fixture!("ticker_24hr.json");
#[cfg(test)]
pub const TICKER_BOOK: &str = fixture!("ticker_bookTicker.json");
#[cfg(test)]
pub const TICKER_PRICE: &str = fixture!("ticker_price.json");
#[cfg(test)]
pub const AVG_PRICE: &str = fixture!("avgPrice.json");
#[cfg(test)]
pub const KLINES_1H: &str = fixture!("klines_1h.json");
#[cfg(test)]
pub const DEPTH: &str = fixture!("depth.json");
#[cfg(test)]
pub const AGG_TRADES: &str = fixture!("aggTrades.json");
#[cfg(test)]
pub const TRADES: &str = fixture!("trades.json");
#[cfg(test)]
pub const HISTORICAL_TRADES: &str = fixture!("historicalTrades.json");
#[cfg(test)]
pub const TIME: &str = fixture!("time.json");
#[cfg(test)]
pub const PING: &str = fixture!("ping.json");

#[cfg(test)]
macro_rules! ws_fixture {
    ($path:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/binance/ws/",
            $path
        ))
    };
}

#[cfg(test)]
pub const WS_TICKER: &str = ws_fixture!("ticker.json");
#[cfg(test)]
pub const WS_MINI_TICKER: &str = ws_fixture!("miniTicker.json");
#[cfg(test)]
pub const WS_BOOK_TICKER: &str = ws_fixture!("bookTicker.json");
#[cfg(test)]
pub const WS_TRADE: &str = ws_fixture!("trade.json");
#[cfg(test)]
pub const WS_AGG_TRADE: &str = ws_fixture!("aggTrade.json");
#[cfg(test)]
pub const WS_KLINE_1M: &str = ws_fixture!("kline_1m.json");
#[cfg(test)]
pub const WS_COMBINED: &str = ws_fixture!("combined_envelope.json");

#[cfg(test)]
pub const ERR_INVALID_SYMBOL: &str = fixture!("errors/invalid_symbol.json");
#[cfg(test)]
pub const ERR_BAD_INTERVAL: &str = fixture!("errors/bad_interval.json");
#[cfg(test)]
pub const ERR_TOO_MUCH_WEIGHT: &str = fixture!("errors/too_much_request_weight.json");
#[cfg(test)]
pub const ERR_IP_BANNED: &str = fixture!("errors/ip_banned.json");
#[cfg(test)]
pub const ERR_MANDATORY_SYMBOL: &str = fixture!("errors/mandatory_param_symbol.json");
#[cfg(test)]
pub const ERR_ILLEGAL_CHARS_SYMBOL: &str = fixture!("errors/illegal_chars_symbol.json");

/// Strips insignificant whitespace from JSON text without re-ordering anything.
///
/// Binance serves compact JSON; the fixtures are pretty-printed. Re-serialising through
/// `serde_json::Value` would sort object keys (no `preserve_order`), so this works on the text.
pub fn minify(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

/// A JSON object's members in document order, values left as raw text.
#[derive(Debug)]
pub struct OrderedObject(pub Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for OrderedObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OrderedObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Box<RawValue>>()? {
                    members.push((k, v));
                }
                Ok(OrderedObject(members))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
pub use shape_impl::{shape, Shape};

/// Test-only: compares generated payloads with the fixtures' key order and value kinds.
#[cfg(test)]
mod shape_impl {
    use super::*;
    use serde::de::SeqAccess;

    /// The "shape" of a JSON document for fixture comparisons: object keys in order, array element
    /// shapes (first element only: Binance arrays are homogeneous), and scalar kinds.
    #[derive(Debug, PartialEq, Eq)]
    pub enum Shape {
        Object(Vec<(String, Shape)>),
        Array(Option<Box<Shape>>),
        /// Rows such as klines are heterogeneous tuples: every element's kind matters.
        Tuple(Vec<Shape>),
        String,
        Integer,
        Float,
        Bool,
        Null,
    }

    struct ShapeOf(Shape);

    impl<'de> Deserialize<'de> for ShapeOf {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = ShapeOf;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("JSON")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ShapeOf, A::Error> {
                    let mut members = Vec::new();
                    while let Some((k, v)) = map.next_entry::<String, ShapeOf>()? {
                        members.push((k, v.0));
                    }
                    Ok(ShapeOf(Shape::Object(members)))
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ShapeOf, A::Error> {
                    let mut items = Vec::new();
                    while let Some(v) = seq.next_element::<ShapeOf>()? {
                        items.push(v.0);
                    }
                    let scalar_row = !items.is_empty()
                        && items.iter().all(|s| {
                            !matches!(s, Shape::Object(_) | Shape::Array(_) | Shape::Tuple(_))
                        });
                    Ok(ShapeOf(if scalar_row {
                        Shape::Tuple(items)
                    } else {
                        Shape::Array(items.into_iter().next().map(Box::new))
                    }))
                }
                fn visit_str<E>(self, _: &str) -> Result<ShapeOf, E> {
                    Ok(ShapeOf(Shape::String))
                }
                fn visit_i64<E>(self, _: i64) -> Result<ShapeOf, E> {
                    Ok(ShapeOf(Shape::Integer))
                }
                fn visit_u64<E>(self, _: u64) -> Result<ShapeOf, E> {
                    Ok(ShapeOf(Shape::Integer))
                }
                fn visit_f64<E>(self, _: f64) -> Result<ShapeOf, E> {
                    Ok(ShapeOf(Shape::Float))
                }
                fn visit_bool<E>(self, _: bool) -> Result<ShapeOf, E> {
                    Ok(ShapeOf(Shape::Bool))
                }
                fn visit_unit<E>(self) -> Result<ShapeOf, E> {
                    Ok(ShapeOf(Shape::Null))
                }
            }
            d.deserialize_any(V)
        }
    }

    /// Parses `json` into its [`Shape`] (keys in document order).
    pub fn shape(json: &str) -> Result<Shape, serde_json::Error> {
        serde_json::from_str::<ShapeOf>(json).map(|s| s.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minify_keeps_strings_and_order() {
        let src = "{\n  \"b\": \"a b\\\" c\",\n  \"a\": [1, 2]\n}";
        assert_eq!(minify(src), "{\"b\":\"a b\\\" c\",\"a\":[1,2]}");
    }

    #[test]
    fn ordered_object_keeps_document_order() {
        let obj: OrderedObject = serde_json::from_str(EXCHANGE_INFO_SMALL).unwrap();
        let keys: Vec<&str> = obj.0.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "timezone",
                "serverTime",
                "rateLimits",
                "exchangeFilters",
                "symbols"
            ]
        );
    }

    #[test]
    fn shape_reports_key_order_and_kinds() {
        let s = shape(TICKER_PRICE).unwrap();
        assert_eq!(
            s,
            Shape::Object(vec![
                ("symbol".into(), Shape::String),
                ("price".into(), Shape::String)
            ])
        );
        assert!(
            matches!(shape(KLINES_1H).unwrap(), Shape::Array(Some(b)) if matches!(*b, Shape::Tuple(ref t) if t.len() == 12))
        );
    }

    #[test]
    fn every_fixture_parses() {
        for f in [
            EXCHANGE_INFO_SMALL,
            EXCHANGE_INFO_FULL,
            TICKER_24HR,
            TICKER_BOOK,
            TICKER_PRICE,
            AVG_PRICE,
            KLINES_1H,
            DEPTH,
            AGG_TRADES,
            TRADES,
            HISTORICAL_TRADES,
            TIME,
            PING,
            ERR_INVALID_SYMBOL,
            ERR_BAD_INTERVAL,
            ERR_TOO_MUCH_WEIGHT,
            ERR_IP_BANNED,
            ERR_MANDATORY_SYMBOL,
            ERR_ILLEGAL_CHARS_SYMBOL,
            WS_TICKER,
            WS_MINI_TICKER,
            WS_BOOK_TICKER,
            WS_TRADE,
            WS_AGG_TRADE,
            WS_KLINE_1M,
            WS_COMBINED,
        ] {
            assert!(shape(f).is_ok());
        }
    }
}
