//! Query-string parsing with Binance's validation errors (never axum's plain-text rejections).

use super::error::{ApiError, NUMBER_RANGE, SYMBOL_RANGE};
use crate::market::{Market, Symbol};

#[derive(Clone, Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Splits and percent-decodes `a=1&b=%5B%22X%22%5D`. Malformed escapes are kept literally;
    /// validation of each parameter then reports them Binance-style.
    pub fn parse(raw: Option<&str>) -> Params {
        let pairs = raw
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode(k), decode(v))
            })
            .collect();
        Params(pairs)
    }

    /// First non-empty value of `key` (an empty value counts as not sent, as on Binance).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Every non-empty value of `key`, in order (repeated parameters such as Coinbase's
    /// `product_ids`).
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Optional `symbol`: illegal characters → -1100, unknown → -1121.
    pub fn symbol<'m>(&self, market: &'m Market) -> Result<Option<&'m Symbol>, ApiError> {
        self.get("symbol")
            .map(|s| lookup(market, s, "symbol"))
            .transpose()
    }

    pub fn require_symbol<'m>(&self, market: &'m Market) -> Result<&'m Symbol, ApiError> {
        self.symbol(market)?.ok_or(ApiError::Mandatory("symbol"))
    }

    /// Optional `symbols=["A","B"]` (JSON array as ccxt sends it; unquoted items tolerated).
    pub fn symbols<'m>(&self, market: &'m Market) -> Result<Option<Vec<&'m Symbol>>, ApiError> {
        let Some(raw) = self.get("symbols") else {
            return Ok(None);
        };
        let illegal = ApiError::IllegalChars {
            param: "symbols",
            range: SYMBOL_RANGE,
        };
        let names = list_items(raw).ok_or(illegal.clone())?;
        if names.is_empty() {
            return Err(ApiError::Mandatory("symbols"));
        }
        names
            .into_iter()
            .map(|n| lookup(market, n, "symbols"))
            .collect::<Result<_, _>>()
            .map(Some)
    }

    /// Symbol filter for endpoints taking `symbol` or `symbols` (not both): `None` = all.
    pub fn symbol_filter<'m>(
        &self,
        market: &'m Market,
    ) -> Result<Option<Vec<&'m Symbol>>, ApiError> {
        match (self.symbol(market)?, self.symbols(market)?) {
            (Some(_), Some(_)) => Err(ApiError::BadCombination),
            (Some(s), None) => Ok(Some(vec![s])),
            (None, list) => Ok(list),
        }
    }

    /// The ids named by `symbol` and `symbols`, unvalidated (for the request log): what the
    /// client asked for, whether or not the exchange knows them.
    pub fn symbol_names(&self) -> Vec<String> {
        let one = self.get("symbol").map(str::to_string);
        let many = self.get("symbols").and_then(list_items).unwrap_or_default();
        one.into_iter()
            .chain(many.into_iter().map(str::to_string))
            .collect()
    }

    pub fn u64(&self, key: &'static str) -> Result<Option<u64>, ApiError> {
        self.get(key)
            .map(|v| {
                v.parse::<u64>().map_err(|_| ApiError::IllegalChars {
                    param: key,
                    range: NUMBER_RANGE,
                })
            })
            .transpose()
    }

    /// `limit` with Binance's default, clamped to 1..=max.
    pub fn limit(&self, default: usize, max: usize) -> Result<usize, ApiError> {
        Ok(self
            .u64("limit")?
            .map_or(default, |l| l.clamp(1, max as u64) as usize))
    }
}

fn lookup<'m>(market: &'m Market, name: &str, param: &'static str) -> Result<&'m Symbol, ApiError> {
    let legal = (1..=20).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b"-_.".contains(&b));
    if !legal {
        return Err(ApiError::IllegalChars {
            param,
            range: SYMBOL_RANGE,
        });
    }
    market.symbol(name).ok_or(ApiError::InvalidSymbol)
}

/// Items of a `["A","B"]` list (unquoted items tolerated), or None if it is not bracketed.
fn list_items(raw: &str) -> Option<Vec<&str>> {
    let inner = raw.trim().strip_prefix('[')?.strip_suffix(']')?;
    Some(
        inner
            .split(',')
            .map(|n| n.trim().trim_matches('"'))
            .filter(|n| !n.is_empty())
            .collect(),
    )
}

/// Percent-decodes a query string or one of its parts (`+` is a space, as in forms).
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn market() -> Market {
        Market::new(42, 0, false, 100).unwrap()
    }

    #[test]
    fn decodes_ccxt_symbols_arrays() {
        let m = market();
        let p = Params::parse(Some("symbols=%5B%22BTCUSDT%22%2C%22ETHUSDT%22%5D"));
        let names: Vec<&str> = p
            .symbols(&m)
            .unwrap()
            .unwrap()
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(names, ["BTCUSDT", "ETHUSDT"]);
        let p = Params::parse(Some("symbols=[BTCUSDT,%22SOLUSDT%22]"));
        assert_eq!(p.symbols(&m).unwrap().unwrap().len(), 2);
    }

    #[test]
    fn symbol_errors() {
        let m = market();
        assert_eq!(
            Params::parse(Some("symbol=NOPEUSDT"))
                .symbol(&m)
                .unwrap_err(),
            ApiError::InvalidSymbol
        );
        assert!(matches!(
            Params::parse(Some("symbol=btcusdt"))
                .symbol(&m)
                .unwrap_err(),
            ApiError::IllegalChars {
                param: "symbol",
                ..
            }
        ));
        assert_eq!(
            Params::parse(Some("symbol="))
                .require_symbol(&m)
                .unwrap_err(),
            ApiError::Mandatory("symbol")
        );
        assert_eq!(
            Params::parse(None).require_symbol(&m).unwrap_err(),
            ApiError::Mandatory("symbol")
        );
        assert_eq!(
            Params::parse(Some("symbols=[\"BTCUSDT\",\"XUSDT\"]"))
                .symbols(&m)
                .unwrap_err(),
            ApiError::InvalidSymbol
        );
        assert!(Params::parse(Some("symbols=BTCUSDT")).symbols(&m).is_err());
        assert_eq!(
            Params::parse(Some("symbol=BTCUSDT&symbols=[\"BTCUSDT\"]"))
                .symbol_filter(&m)
                .unwrap_err(),
            ApiError::BadCombination
        );
    }

    #[test]
    fn symbol_names_are_listed_unvalidated() {
        let p = Params::parse(Some("symbols=%5B%22BTCUSDT%22%2C%22nope%22%5D"));
        assert_eq!(p.symbol_names(), ["BTCUSDT", "nope"]);
        assert_eq!(
            Params::parse(Some("symbol=ETHUSDT&interval=1m")).symbol_names(),
            ["ETHUSDT"]
        );
        assert!(Params::parse(Some("symbols=BTCUSDT"))
            .symbol_names()
            .is_empty());
        assert!(Params::parse(None).symbol_names().is_empty());
        assert_eq!(
            decode("symbols=%5B%22BTCUSDT%22%2C%22ETHUSDT%22%5D"),
            r#"symbols=["BTCUSDT","ETHUSDT"]"#
        );
    }

    #[test]
    fn numbers_and_limits() {
        let p = Params::parse(Some("limit=5000&startTime=12&bad=x%zz"));
        assert_eq!(p.limit(500, 1000), Ok(1000));
        assert_eq!(p.u64("startTime"), Ok(Some(12)));
        assert_eq!(p.get("bad"), Some("x%zz"));
        assert_eq!(Params::parse(Some("limit=0")).limit(500, 1000), Ok(1));
        assert_eq!(Params::parse(None).limit(500, 1000), Ok(500));
        assert!(matches!(
            Params::parse(Some("limit=-1")).limit(500, 1000),
            Err(ApiError::IllegalChars { param: "limit", .. })
        ));
    }
}
