//! Symbol normalisation: `BTC/USDT`, `BTCUSDT`, `btc-usdt`, `BTC_USDT` and `btc/usdt` all name
//! the unified market `BTC/USDT`, resolved against the exchange's own market list; and the
//! derivative spellings of SPEC.md section 4.1: `BTC/USDT:USDT`, `BTCUSDT.P`, `BTCUSDT-PERP`,
//! the exchange's own ids (`BTC-USDT-SWAP`), dated `BTC/USDT:USDT-261225`, and a bare pair
//! meaning the linear perpetual for the derivative tools ([`PairMeans`]).

use std::collections::HashMap;

use super::Market;

/// Longest symbol accepted; anything longer is not a market name.
const MAX_SYMBOL_LEN: usize = 64;
const MAX_SUGGESTIONS: usize = 3;
/// Jaro-Winkler similarity above which a market is offered as "did you mean".
const SUGGESTION_THRESHOLD: f64 = 0.85;
/// Jaro similarity a candidate needs for its Jaro-Winkler score to reach the threshold: the
/// Winkler prefix bonus adds at most 0.4 × (1 − jaro), so JW ≥ 0.85 needs jaro ≥ 0.75.
const JARO_NEEDED: f64 = 0.75;
/// Most candidates scored in full for one input: the work per unknown symbol is bounded
/// whatever the market count.
const MAX_SCORED: usize = 64;

/// An exchange's markets, indexed for resolving user input.
#[derive(Debug, Default)]
pub struct MarketIndex {
    markets: Vec<Market>,
    by_symbol: HashMap<String, usize>,
    /// Letters and digits only, upper case (`BTCUSDT`), from both the unified symbol and the
    /// exchange id. Spot markets win a clash, as a bare `BTCUSDT` means spot to most users.
    by_compact: HashMap<String, usize>,
    /// The same for derivatives only (`BTCUSDTSWAP` is OKX's `BTC-USDT-SWAP`).
    derivative_by_compact: HashMap<String, usize>,
    /// `BTCUSDT` → the linear perpetual `BTC/USDT:USDT`, for the derivative tools.
    perpetual_by_pair: HashMap<String, usize>,
    /// Per market (same order as `markets`): its compact symbol and that symbol's letter
    /// counts, computed once so that suggesting allocates nothing per market.
    compact_symbols: Vec<Compact>,
}

#[derive(Debug)]
struct Compact {
    text: String,
    counts: [u8; 36],
}

impl Compact {
    fn new(text: String) -> Self {
        let mut counts = [0u8; 36];
        for b in text.bytes() {
            if let Some(i) = slot(b) {
                counts[i] = counts[i].saturating_add(1);
            }
        }
        Self { text, counts }
    }

    /// An upper bound of the Jaro similarity of the two strings: Jaro's matching characters
    /// are at most the characters they have in common, and transpositions only lower it.
    fn jaro_bound(&self, other: &Self) -> f64 {
        let (a, b) = (self.text.len(), other.text.len());
        if a == 0 || b == 0 {
            return 0.0;
        }
        let common: usize = self
            .counts
            .iter()
            .zip(&other.counts)
            .map(|(x, y)| usize::from(*x.min(y)))
            .sum();
        let m = common as f64;
        (m / a as f64 + m / b as f64 + 1.0) / 3.0
    }
}

/// The best-scoring symbols above the threshold, best first (ties by name).
fn best(mut scored: Vec<(f64, &str)>) -> Vec<String> {
    scored.retain(|(score, _)| *score >= SUGGESTION_THRESHOLD);
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored
        .into_iter()
        .take(MAX_SUGGESTIONS)
        .map(|(_, s)| s.to_owned())
        .collect()
}

fn slot(b: u8) -> Option<usize> {
    match b {
        b'0'..=b'9' => Some(usize::from(b - b'0')),
        b'A'..=b'Z' => Some(10 + usize::from(b - b'A')),
        _ => None,
    }
}

/// Why a symbol did not resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SymbolLookup {
    /// Not a plausible symbol at all (empty, too long, odd characters).
    Malformed,
    /// Well-formed but not listed; close matches, best first.
    NotListed { suggestions: Vec<String> },
}

/// What a bare pair (`BTCUSDT`, `BTC/USDT`) names (SPEC.md section 4.1): the spot market for
/// the tools of section 4, the linear perpetual settled in the quote for the derivative tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PairMeans {
    #[default]
    Spot,
    Perpetual,
}

/// A well-formed input no market matched: what to suggest for, and among which markets
/// (suggestions stay per type: derivatives for a derivative spelling or tool, else spot).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Unlisted {
    pub key: String,
    pub derivative: bool,
}

/// Whether resolving `input` for a tool whose bare pair `means` this needs the venue's
/// derivative markets: the tool wants a perpetual, or the input spells a derivative whatever
/// the tool (a settle part `:USDT`, `.P`, `-PERP`, OKX's `-SWAP`, a dated `-261225`).
pub fn names_derivative(input: &str, means: PairMeans) -> bool {
    if means == PairMeans::Perpetual {
        return true;
    }
    let upper = input.trim().to_ascii_uppercase();
    upper.contains(':')
        || perpetual_pair(&upper).is_some()
        || upper.ends_with("-SWAP")
        || upper
            .rsplit_once('-')
            .is_some_and(|(_, tail)| tail.len() == 6 && tail.bytes().all(|b| b.is_ascii_digit()))
}

/// The pair of a perpetual spelled `BTCUSDT.P`, `BTCUSDT-PERP`, `BTC_USDT_PERP` or
/// `BTCUSDTPERP` (upper case input).
fn perpetual_pair(upper: &str) -> Option<&str> {
    [".P", "-PERP", "_PERP", "/PERP", "PERP"]
        .iter()
        .find_map(|suffix| upper.strip_suffix(suffix))
        .filter(|pair| compact(pair).len() >= 2)
}

impl MarketIndex {
    pub fn new(mut markets: Vec<Market>) -> Self {
        markets.sort_by(|a, b| a.symbol.cmp(&b.symbol));
        let mut by_symbol = HashMap::with_capacity(markets.len());
        let mut by_compact = HashMap::with_capacity(markets.len() * 2);
        let mut derivative_by_compact = HashMap::new();
        let mut perpetual_by_pair = HashMap::new();
        // Spot first, so that the first compact form inserted (and kept) is the spot market;
        // among derivatives, linear perpetuals first (then `BTCUSDT` on a derivatives list is
        // the perpetual, not a dated future sharing the id).
        let mut order: Vec<usize> = (0..markets.len()).collect();
        order.sort_by_key(|&i| {
            let m = &markets[i];
            (m.market_type != "spot", !m.is_linear_perpetual())
        });
        for i in order {
            let market = &markets[i];
            by_symbol.insert(market.symbol.to_ascii_uppercase(), i);
            by_compact.entry(compact(&market.symbol)).or_insert(i);
            by_compact.entry(compact(&market.id)).or_insert(i);
            if market.is_derivative() {
                derivative_by_compact
                    .entry(compact(&market.symbol))
                    .or_insert(i);
                derivative_by_compact
                    .entry(compact(&market.id))
                    .or_insert(i);
            }
            if market.is_linear_perpetual() {
                let pair = compact(&format!("{}{}", market.base, market.quote));
                perpetual_by_pair.entry(pair).or_insert(i);
            }
        }
        let compact_symbols = markets
            .iter()
            .map(|m| Compact::new(compact(&m.symbol)))
            .collect();
        Self {
            markets,
            by_symbol,
            by_compact,
            derivative_by_compact,
            perpetual_by_pair,
            compact_symbols,
        }
    }

    /// All markets, sorted by unified symbol.
    pub fn markets(&self) -> &[Market] {
        &self.markets
    }

    pub fn len(&self) -> usize {
        self.markets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.markets.is_empty()
    }

    /// Whether any derivative is listed.
    pub fn has_derivatives(&self) -> bool {
        !self.derivative_by_compact.is_empty()
    }

    /// Resolves `input` for a tool of section 4 (a bare pair is spot).
    pub fn resolve(&self, input: &str) -> Result<&Market, SymbolLookup> {
        self.resolve_for(input, PairMeans::Spot)
    }

    pub fn resolve_for(&self, input: &str, means: PairMeans) -> Result<&Market, SymbolLookup> {
        self.find_for(input, means)
            .map_err(|unlisted| match unlisted {
                None => SymbolLookup::Malformed,
                Some(unlisted) => SymbolLookup::NotListed {
                    suggestions: self.suggest_for(&unlisted),
                },
            })
    }

    /// [`Self::find_for`] for a tool of section 4 (a bare pair is spot).
    pub fn find(&self, input: &str) -> Result<&Market, Option<Unlisted>> {
        self.find_for(input, PairMeans::Spot)
    }

    /// Like [`Self::resolve_for`], without computing suggestions for an unlisted symbol (the
    /// caller may have them cached): `Err(None)` for malformed input, `Err(Some(unlisted))`
    /// for a well-formed unlisted one.
    pub fn find_for(&self, input: &str, means: PairMeans) -> Result<&Market, Option<Unlisted>> {
        let input = input.trim();
        if input.is_empty()
            || input.len() > MAX_SYMBOL_LEN
            || !input
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | ':' | '.'))
        {
            return Err(None);
        }
        let upper = input.to_ascii_uppercase();
        let unlisted = |derivative: bool| {
            Some(Unlisted {
                key: compact(&upper),
                derivative,
            })
        };
        if let Some(&i) = self.by_symbol.get(&upper) {
            // For the derivative tools a spot pair spelled exactly still means its perpetual.
            if means == PairMeans::Spot || self.markets[i].is_derivative() {
                return Ok(&self.markets[i]);
            }
        }
        if let Some(pair) = perpetual_pair(&upper) {
            return match self.perpetual_by_pair.get(&compact(pair)) {
                Some(&i) => Ok(&self.markets[i]),
                None => Err(unlisted(true)),
            };
        }
        if let Some((pair, settle)) = upper.split_once(':') {
            // `btc-usdt:usdt`: the pair part in any spelling, the settle part as written.
            let unified = separated(pair).map(|pair| format!("{pair}:{settle}"));
            let found = unified
                .and_then(|u| self.by_symbol.get(&u))
                .or_else(|| self.derivative_by_compact.get(&compact(&upper)));
            return match found {
                Some(&i) => Ok(&self.markets[i]),
                None => Err(unlisted(true)),
            };
        }
        let derivative = names_derivative(&upper, means);
        let found = if derivative {
            let as_pair = (means == PairMeans::Perpetual)
                .then(|| self.perpetual_by_pair.get(&compact(&upper)))
                .flatten();
            as_pair.or_else(|| self.derivative_by_compact.get(&compact(&upper)))
        } else {
            separated(&upper)
                .and_then(|s| self.by_symbol.get(&s))
                .or_else(|| self.by_compact.get(&compact(&upper)))
        };
        match found {
            Some(&i) => Ok(&self.markets[i]),
            None => Err(unlisted(derivative)),
        }
    }

    /// Listed markets closest to `input`, best first, among every market.
    pub fn suggest(&self, input: &str) -> Vec<String> {
        self.suggest_among(input, |_| true)
    }

    /// Suggestions for an unlisted input, among the markets of its type (derivatives or not).
    pub fn suggest_for(&self, unlisted: &Unlisted) -> Vec<String> {
        self.suggest_among(&unlisted.key, |m| m.is_derivative() == unlisted.derivative)
    }

    /// Listed markets closest to `input` that `keep` accepts, best first. Cheap per market (a
    /// bound from letter counts) and bounded per input (at most `MAX_SCORED` full scores),
    /// because unknown symbols are input anyone can send in bulk.
    fn suggest_among(&self, input: &str, keep: impl Fn(&Market) -> bool) -> Vec<String> {
        let wanted = Compact::new(compact(input));
        if wanted.text.is_empty() {
            return Vec::new();
        }
        let mut candidates: Vec<(f64, usize)> = self
            .compact_symbols
            .iter()
            .enumerate()
            .filter(|(i, _)| keep(&self.markets[*i]))
            .map(|(i, c)| (wanted.jaro_bound(c), i))
            .filter(|(bound, _)| *bound >= JARO_NEEDED)
            .collect();
        if candidates.len() > MAX_SCORED {
            candidates.select_nth_unstable_by(MAX_SCORED, |a, b| b.0.total_cmp(&a.0));
            candidates.truncate(MAX_SCORED);
        }
        let scored: Vec<(f64, &str)> = candidates
            .into_iter()
            .map(|(_, i)| {
                (
                    strsim::jaro_winkler(&wanted.text, &self.compact_symbols[i].text),
                    self.markets[i].symbol.as_str(),
                )
            })
            .collect();
        best(scored)
    }

    /// Markets whose symbol contains `query` (case-insensitive) and whose quote is `quote`.
    pub fn search<'a>(
        &'a self,
        query: Option<&str>,
        quote: Option<&str>,
    ) -> impl Iterator<Item = &'a Market> + 'a {
        let query = query
            .map(|q| q.trim().to_ascii_uppercase())
            .filter(|q| !q.is_empty());
        let quote = quote
            .map(|q| q.trim().to_ascii_uppercase())
            .filter(|q| !q.is_empty());
        self.markets.iter().filter(move |m| {
            let matches_query = query.as_deref().is_none_or(|q| {
                m.symbol.contains(q)
                    || m.id.to_ascii_uppercase().contains(q)
                    || compact(&m.symbol).contains(&compact(q))
            });
            matches_query
                && quote
                    .as_deref()
                    .is_none_or(|q| m.quote.eq_ignore_ascii_case(q))
        })
    }
}

/// `BTC-USDT`, `BTC_USDT` → `BTC/USDT` (upper case input); `None` without a separator.
fn separated(upper: &str) -> Option<String> {
    upper
        .split_once(['/', '-', '_'])
        .map(|(base, quote)| format!("{base}/{quote}"))
}

fn compact(symbol: &str) -> String {
    symbol
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

#[cfg(test)]
mod tests;
