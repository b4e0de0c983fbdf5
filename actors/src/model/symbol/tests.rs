//! Symbol resolution: every spelling of spot and derivative markets, suggestions per type,
//! the pruned suggestion search against an exhaustive one.

use super::*;

fn market(symbol: &str, id: &str, market_type: &str) -> Market {
    let (base, quote) = symbol.split_once('/').unwrap();
    let settle = quote
        .split_once(':')
        .map(|(_, s)| s.split('-').next().unwrap().to_owned());
    Market {
        symbol: symbol.to_owned(),
        base: base.to_owned(),
        quote: quote.split(':').next().unwrap().to_owned(),
        market_type: market_type.to_owned(),
        active: true,
        id: id.to_owned(),
        terms: crate::model::MarketTerms {
            linear: settle.as_ref().map(|s| s != base),
            settle,
            ..Default::default()
        },
    }
}

fn venue_with_derivatives() -> MarketIndex {
    MarketIndex::new(vec![
        market("BTC/USDT", "BTC-USDT", "spot"),
        market("ETH/USDT", "ETH-USDT", "spot"),
        market("BTC/USDT:USDT", "BTC-USDT-SWAP", "swap"),
        market("BTC/USD:BTC", "BTC-USD-SWAP", "swap"),
        market("ETH/USDT:USDT", "ETH-USDT-SWAP", "swap"),
        market("BTC/USDT:USDT-261225", "BTC-USDT-261225", "future"),
    ])
}

/// SPEC.md 4.1: every spelling of a perpetual resolves, a bare pair is spot for section
/// 4's tools and the linear perpetual for the derivative ones.
#[test]
fn derivative_spellings_resolve() {
    let index = venue_with_derivatives();
    for means in [PairMeans::Spot, PairMeans::Perpetual] {
        for input in [
            "BTC/USDT:USDT",
            "btc/usdt:usdt",
            "btc-usdt:usdt",
            "BTCUSDT.P",
            "btcusdt.p",
            "BTCUSDT-PERP",
            "BTC_USDT_PERP",
            "BTC-USDT-SWAP",
        ] {
            assert_eq!(
                index.resolve_for(input, means).map(|m| m.symbol.as_str()),
                Ok("BTC/USDT:USDT"),
                "{input} {means:?}"
            );
            assert!(names_derivative(input, means), "{input}");
        }
        assert_eq!(
            index
                .resolve_for("BTC/USDT:USDT-261225", means)
                .map(|m| m.market_type.as_str()),
            Ok("future")
        );
        assert_eq!(
            index
                .resolve_for("BTC-USD-SWAP", means)
                .map(|m| m.symbol.as_str()),
            Ok("BTC/USD:BTC")
        );
    }
    for bare in ["BTCUSDT", "BTC/USDT", "btc-usdt"] {
        assert_eq!(index.resolve(bare).unwrap().symbol, "BTC/USDT", "{bare}");
        assert!(!names_derivative(bare, PairMeans::Spot));
        assert_eq!(
            index
                .resolve_for(bare, PairMeans::Perpetual)
                .unwrap()
                .symbol,
            "BTC/USDT:USDT",
            "{bare}"
        );
    }
    assert!(names_derivative("BTC-USDT-261225", PairMeans::Spot));
    assert!(index.has_derivatives());
}

/// Suggestions stay per type: a derivative spelling gets perpetuals, a spot one spot pairs.
#[test]
fn suggestions_stay_per_type() {
    let index = venue_with_derivatives();
    let suggestions = |input: &str, means| match index.resolve_for(input, means) {
        Err(SymbolLookup::NotListed { suggestions }) => suggestions,
        other => panic!("{input} must not resolve: {other:?}"),
    };
    let perps = suggestions("ETHUSDX.P", PairMeans::Spot);
    assert_eq!(perps.first().map(String::as_str), Some("ETH/USDT:USDT"));
    assert!(perps.iter().all(|s| s.contains(':')), "{perps:?}");
    let spot = suggestions("ETHUSDX", PairMeans::Spot);
    assert_eq!(spot, vec!["ETH/USDT".to_owned()]);
    let perps = suggestions("ETHUSDX", PairMeans::Perpetual);
    assert!(perps.iter().all(|s| s.contains(':')), "{perps:?}");
    // A pair with no perpetual is unlisted for the derivative tools.
    let spot_only = MarketIndex::new(vec![market("SOL/USDT", "SOLUSDT", "spot")]);
    assert!(spot_only
        .resolve_for("SOLUSDT", PairMeans::Perpetual)
        .is_err());
    assert!(!spot_only.has_derivatives());
}

fn index() -> MarketIndex {
    MarketIndex::new(vec![
        market("BTC/USDT:USDT", "BTCUSDT", "swap"),
        market("BTC/USDT", "BTCUSDT", "spot"),
        market("ETH/USDT", "ETHUSDT", "spot"),
        market("ETH/BTC", "ETHBTC", "spot"),
    ])
}

#[test]
fn every_spelling_resolves_to_the_unified_spot_symbol() {
    let index = index();
    for input in [
        "BTC/USDT",
        "BTCUSDT",
        "btc-usdt",
        "BTC_USDT",
        "btc/usdt",
        " btcusdt ",
    ] {
        assert_eq!(
            index.resolve(input).map(|m| m.symbol.as_str()),
            Ok("BTC/USDT"),
            "{input}"
        );
    }
    assert_eq!(index.resolve("BTC/USDT:USDT").unwrap().market_type, "swap");
    assert_eq!(index.resolve("eth-btc").unwrap().symbol, "ETH/BTC");
}

#[test]
fn unknown_symbols_get_close_suggestions() {
    let index = index();
    let Err(SymbolLookup::NotListed { suggestions }) = index.resolve("BTC/USDX") else {
        panic!("BTC/USDX must not resolve")
    };
    assert_eq!(suggestions.first().map(String::as_str), Some("BTC/USDT"));
    assert_eq!(
        index.resolve("FOO/BAR"),
        Err(SymbolLookup::NotListed {
            suggestions: vec![]
        })
    );
}

/// The pruned search suggests exactly what scoring every market would.
#[test]
fn pruned_suggestions_match_an_exhaustive_search() {
    let bases = [
        "BTC", "ETH", "SOL", "BNB", "XRP", "DOGE", "ADA", "TRX", "LINK", "DOT",
    ];
    let quotes = ["USDT", "BTC", "ETH", "FDUSD", "TRY", "EUR"];
    let markets: Vec<Market> = bases
        .iter()
        .flat_map(|b| quotes.iter().map(move |q| (b, q)))
        .filter(|(b, q)| b != q)
        .map(|(b, q)| market(&format!("{b}/{q}"), &format!("{b}{q}"), "spot"))
        .collect();
    let index = MarketIndex::new(markets);
    let exhaustive = |input: &str| {
        let wanted = compact(input);
        let scored: Vec<(f64, &str)> = index
            .markets()
            .iter()
            .map(|m| {
                (
                    strsim::jaro_winkler(&wanted, &compact(&m.symbol)),
                    m.symbol.as_str(),
                )
            })
            .collect();
        best(scored)
    };
    for input in [
        "BTCUSD",
        "ETHUSDX",
        "SOLUSTD",
        "DOGEUSDTT",
        "XRPEUR",
        "QQQQ",
        "LINKBT",
        "A",
        "BNBFDUS",
    ] {
        assert_eq!(index.suggest(input), exhaustive(input), "{input}");
    }
}

#[test]
fn malformed_input_is_rejected_before_lookup() {
    let index = index();
    for input in ["", "   ", "BTC USDT", "BTC$USDT", &"X".repeat(65)] {
        assert_eq!(
            index.resolve(input),
            Err(SymbolLookup::Malformed),
            "{input:?}"
        );
    }
}

#[test]
fn search_filters_by_substring_and_quote() {
    let index = index();
    let found: Vec<_> = index
        .search(Some("eth"), None)
        .map(|m| m.symbol.as_str())
        .collect();
    assert_eq!(found, vec!["ETH/BTC", "ETH/USDT"]);
    let found: Vec<_> = index
        .search(None, Some("btc"))
        .map(|m| m.symbol.as_str())
        .collect();
    assert_eq!(found, vec!["ETH/BTC"]);
    assert_eq!(index.search(Some("btcusdt"), Some("USDT")).count(), 2);
}
