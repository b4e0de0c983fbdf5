use super::{
    Candle, CandlePrice, FundingPoint, FundingRate, OpenInterest, OrderBook, PairMeans, Ticker,
    Timeframe, Trade,
};

/// Depths fetched from the exchange for a requested book or trade limit. Binance charges by
/// these steps (depth 1-100 costs the same weight), so fetching the whole step and cutting it
/// down lets every limit within it share one exchange call and one cache entry.
const FETCH_STEPS: [u32; 3] = [100, 500, 1000];

/// How far the exchange's clock may be behind ours when deciding a candle had closed.
const CLOCK_MARGIN_MS: i64 = 10_000;

/// The kind of a cached value; also the `{kind}` of SPEC.md's Redis cache keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataKind {
    Ticker,
    Ohlcv,
    OrderBook,
    Trades,
    Markets,
    Funding,
    FundingHistory,
    OpenInterest,
}

impl DataKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ticker => "ticker",
            Self::Ohlcv => "ohlcv",
            Self::OrderBook => "orderbook",
            Self::Trades => "trades",
            Self::Markets => "markets",
            Self::Funding => "funding",
            Self::FundingHistory => "fundinghistory",
            Self::OpenInterest => "openinterest",
        }
    }
}

/// One symbol's market-data request, arguments already validated.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DataRequest {
    Ticker,
    Ohlcv {
        timeframe: Timeframe,
        since: Option<i64>,
        limit: u32,
        /// Trade prices, or a derivative's mark or index price.
        price: CandlePrice,
    },
    OrderBook {
        limit: u32,
    },
    Trades {
        limit: u32,
    },
    /// A perpetual's current funding rate (with mark and index price).
    FundingRate,
    /// Settled funding rates, oldest first.
    FundingHistory {
        since: Option<i64>,
        until: Option<i64>,
        limit: u32,
    },
    OpenInterest,
}

impl DataRequest {
    pub fn kind(&self) -> DataKind {
        match self {
            Self::Ticker => DataKind::Ticker,
            Self::Ohlcv { .. } => DataKind::Ohlcv,
            Self::OrderBook { .. } => DataKind::OrderBook,
            Self::Trades { .. } => DataKind::Trades,
            Self::FundingRate => DataKind::Funding,
            Self::FundingHistory { .. } => DataKind::FundingHistory,
            Self::OpenInterest => DataKind::OpenInterest,
        }
    }

    /// What a bare pair names for this request: the linear perpetual for the derivative-only
    /// values (funding, open interest), spot for the rest (SPEC.md 4.1).
    pub fn pair_means(&self) -> PairMeans {
        match self {
            Self::FundingRate | Self::FundingHistory { .. } | Self::OpenInterest => {
                PairMeans::Perpetual
            }
            _ => PairMeans::Spot,
        }
    }

    /// The request actually sent to the exchange (and cached) to answer this one.
    pub fn upstream(&self) -> Self {
        match self {
            Self::OrderBook { limit } => Self::OrderBook {
                limit: fetch_step(*limit),
            },
            Self::Trades { limit } => Self::Trades {
                limit: fetch_step(*limit),
            },
            other => other.clone(),
        }
    }

    /// Whether every value this request can return had closed when it was fetched at
    /// `fetched_at_ms`: candles from `since`, `limit` of them, the last one closed (with a
    /// margin for the exchange's clock). Closed candles never change, so such a value stays
    /// fresh for as long as the cache keeps it (deep history is fetched in such pages, see
    /// `get_ohlcv`).
    pub fn is_closed_at(&self, fetched_at_ms: i64) -> bool {
        match self {
            Self::Ohlcv {
                timeframe,
                since: Some(since),
                limit,
                ..
            } => timeframe
                .millis()
                .and_then(|tf| tf.checked_mul(i64::from(*limit)))
                .and_then(|span| since.checked_add(span))
                .is_some_and(|end| end.saturating_add(CLOCK_MARGIN_MS) <= fetched_at_ms),
            _ => false,
        }
    }

    /// The `[:{params}]` part of the cache key; empty for a ticker.
    pub fn params(&self) -> String {
        match self {
            Self::Ticker | Self::FundingRate | Self::OpenInterest => String::new(),
            Self::Ohlcv {
                timeframe,
                since,
                limit,
                price,
            } => {
                let mut params = format!("{timeframe}:{limit}");
                if let Some(since) = since {
                    params.push_str(&format!(":{since}"));
                }
                // Trade candles keep the keys they always had.
                if *price != CandlePrice::Trade {
                    params.push_str(&format!(":{}", price.as_str()));
                }
                params
            }
            Self::OrderBook { limit } | Self::Trades { limit } => limit.to_string(),
            Self::FundingHistory {
                since,
                until,
                limit,
            } => {
                let at = |t: &Option<i64>| t.map_or_else(String::new, |t| t.to_string());
                format!("{limit}:{}:{}", at(since), at(until))
            }
        }
    }
}

fn fetch_step(limit: u32) -> u32 {
    FETCH_STEPS
        .into_iter()
        .find(|step| limit <= *step)
        .unwrap_or(limit)
}

/// A value fetched for one symbol. Always held behind an `Arc`, so the variants' sizes differ
/// harmlessly.
#[allow(clippy::large_enum_variant, reason = "always held behind an Arc")]
#[derive(Debug, Clone, PartialEq)]
pub enum MarketData {
    Ticker(Ticker),
    Ohlcv(Vec<Candle>),
    OrderBook(OrderBook),
    Trades(Vec<Trade>),
    FundingRate(FundingRate),
    FundingHistory(Vec<FundingPoint>),
    OpenInterest(OpenInterest),
}

impl MarketData {
    pub fn kind(&self) -> DataKind {
        match self {
            Self::Ticker(_) => DataKind::Ticker,
            Self::Ohlcv(_) => DataKind::Ohlcv,
            Self::OrderBook(_) => DataKind::OrderBook,
            Self::Trades(_) => DataKind::Trades,
            Self::FundingRate(_) => DataKind::Funding,
            Self::FundingHistory(_) => DataKind::FundingHistory,
            Self::OpenInterest(_) => DataKind::OpenInterest,
        }
    }

    /// The exchange's own position in time of this value: a ticker's or book's timestamp, the
    /// book's sequence number, the newest candle's or trade's time. Values from different
    /// origins (REST, websocket, another node through Redis) are ordered by it.
    fn exchange_order(&self) -> Option<(i64, i64)> {
        match self {
            Self::Ticker(t) => t.timestamp.map(|ts| (ts, 0)),
            Self::Ohlcv(candles) => candles.last().map(|c| (c.timestamp, 0)),
            // A book's sequence number orders snapshots even when they carry no timestamp.
            Self::OrderBook(b) => match (b.nonce, b.timestamp) {
                (Some(nonce), _) => Some((0, nonce)),
                (None, Some(ts)) => Some((ts, 0)),
                (None, None) => None,
            },
            Self::Trades(trades) => trades.last().and_then(|t| t.timestamp).map(|ts| (ts, 0)),
            Self::FundingRate(f) => f.timestamp.map(|ts| (ts, 0)),
            Self::FundingHistory(rates) => rates.last().map(|r| (r.timestamp, 0)),
            Self::OpenInterest(oi) => oi.timestamp.map(|ts| (ts, 0)),
        }
    }

    /// Whether the exchange produced this value before `other` (both must say when; a value
    /// without an exchange time is never called older).
    pub fn is_older_than(&self, other: &Self) -> bool {
        match (self.exchange_order(), other.exchange_order()) {
            (Some(mine), Some(theirs)) => mine < theirs,
            _ => false,
        }
    }

    /// Cuts an upstream value down to what `request` asked for: the best levels of a book, the
    /// most recent trades. `None` when nothing needs cutting (the value can be shared as is).
    pub fn cut_to(&self, request: &DataRequest) -> Option<Self> {
        match (self, request) {
            (Self::OrderBook(book), DataRequest::OrderBook { limit })
                if book.bids.len().max(book.asks.len()) > *limit as usize =>
            {
                Some(Self::OrderBook(book.truncated(*limit as usize)))
            }
            (Self::Trades(trades), DataRequest::Trades { limit })
                if trades.len() > *limit as usize =>
            {
                Some(Self::Trades(
                    trades[trades.len() - *limit as usize..].to_vec(),
                ))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TradeSide;

    #[test]
    fn a_page_is_closed_once_its_last_candle_closed_before_it_was_fetched() {
        let h = 3_600_000;
        let page = |timeframe: &str, since: Option<i64>| DataRequest::Ohlcv {
            timeframe: Timeframe::parse(timeframe, &[timeframe.to_owned()]).unwrap(),
            since,
            limit: 1000,
            price: CandlePrice::Trade,
        };
        let end = 1000 * h;
        // Fetched after the last candle closed (and the clock margin): closed for good.
        assert!(page("1h", Some(0)).is_closed_at(end + CLOCK_MARGIN_MS));
        // Fetched while its last candle was still open, or within the margin: not closed,
        // however late it is asked about.
        assert!(!page("1h", Some(0)).is_closed_at(end - 1));
        assert!(!page("1h", Some(0)).is_closed_at(end + CLOCK_MARGIN_MS - 1));
        // The most recent candles, months, other kinds: never.
        assert!(!page("1h", None).is_closed_at(i64::MAX));
        assert!(!page("1M", Some(0)).is_closed_at(i64::MAX));
        assert!(!DataRequest::Ticker.is_closed_at(i64::MAX));
        assert_eq!(
            Timeframe::parse("15m", &["15m".to_owned()]).and_then(|t| t.millis()),
            Some(900_000)
        );
    }

    #[test]
    fn limits_share_one_upstream_step() {
        assert_eq!(
            DataRequest::OrderBook { limit: 20 }.upstream(),
            DataRequest::OrderBook { limit: 100 }
        );
        assert_eq!(
            DataRequest::OrderBook { limit: 100 }.upstream(),
            DataRequest::OrderBook { limit: 100 }
        );
        assert_eq!(
            DataRequest::OrderBook { limit: 101 }.upstream(),
            DataRequest::OrderBook { limit: 500 }
        );
        assert_eq!(
            DataRequest::Trades { limit: 1000 }.upstream(),
            DataRequest::Trades { limit: 1000 }
        );
        let tf = Timeframe::parse("1h", &["1h".to_owned()]).unwrap();
        let ohlcv = DataRequest::Ohlcv {
            timeframe: tf.clone(),
            since: None,
            limit: 7,
            price: CandlePrice::Trade,
        };
        assert_eq!(ohlcv.upstream(), ohlcv);
        assert_eq!(ohlcv.params(), "1h:7");
        let mark = DataRequest::Ohlcv {
            timeframe: tf,
            since: Some(5),
            limit: 7,
            price: CandlePrice::Mark,
        };
        assert_eq!(mark.params(), "1h:7:5:mark");
        let history = DataRequest::FundingHistory {
            since: Some(1),
            until: None,
            limit: 100,
        };
        assert_eq!(history.params(), "100:1:");
        assert_eq!(history.pair_means(), PairMeans::Perpetual);
        assert_eq!(DataRequest::Ticker.pair_means(), PairMeans::Spot);
    }

    #[test]
    fn values_are_ordered_by_exchange_time_when_both_have_one() {
        let ticker = |ts: Option<i64>| {
            MarketData::Ticker(crate::model::Ticker {
                timestamp: ts,
                ..Default::default()
            })
        };
        assert!(ticker(Some(1)).is_older_than(&ticker(Some(2))));
        assert!(!ticker(Some(2)).is_older_than(&ticker(Some(2))));
        assert!(!ticker(None).is_older_than(&ticker(Some(2))));
        assert!(!ticker(Some(1)).is_older_than(&ticker(None)));
        let book = |nonce: i64| {
            MarketData::OrderBook(crate::model::OrderBook {
                nonce: Some(nonce),
                ..Default::default()
            })
        };
        assert!(book(7).is_older_than(&book(8)));
    }

    #[test]
    fn trades_keep_the_most_recent() {
        let trade = |id: i64| Trade {
            id: Some(id.to_string()),
            timestamp: Some(id),
            side: Some(TradeSide::Buy),
            price: 1.0,
            amount: 1.0,
        };
        let all = MarketData::Trades((1..=5).map(trade).collect());
        let Some(MarketData::Trades(cut)) = all.cut_to(&DataRequest::Trades { limit: 2 }) else {
            panic!("expected trades")
        };
        assert_eq!(
            cut.iter().map(|t| t.timestamp.unwrap()).collect::<Vec<_>>(),
            vec![4, 5]
        );
        assert!(all.cut_to(&DataRequest::Trades { limit: 5 }).is_none());
    }
}
