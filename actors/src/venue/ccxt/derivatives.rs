//! The derivative calls of the ccxt adapter (SPEC.md 4.1): funding rate, funding history, open
//! interest, mark and index candles, and a perpetual ticker's mark and index price. All run on
//! the derivatives side (its instances and budget), under the venue's circuit and deadline.

use ccxt::TypedExchangeExt;

use super::{convert, failure, CcxtExchange};
use crate::model::{
    Candle, CandlePrice, FundingPoint, FundingRate, OpenInterest, Ticker, Timeframe,
};
use crate::venue::VenueError;

/// Most funding-history calls one request makes (pages of the venue's cap).
const MAX_HISTORY_PAGES: usize = 10;

/// Most rates one funding-history call returns on `venue`.
fn history_page(venue: &str) -> u32 {
    match venue {
        "okx" => 100,
        "bybit" => 200,
        _ => 1000,
    }
}
/// Hours between settlements where a Binance contract is not listed in `fundingInfo`.
const BINANCE_DEFAULT_INTERVAL_HOURS: f64 = 8.0;

impl CcxtExchange {
    /// The settlement interval the venue lists apart from the rate, if any.
    pub(super) fn listed_interval(&self, symbol: &str) -> Option<f64> {
        let listed = self
            .funding_intervals
            .read()
            .ok()
            .and_then(|map| map.get(symbol).copied());
        listed.or_else(|| (self.id == "binance").then_some(BINANCE_DEFAULT_INTERVAL_HOURS))
    }

    /// Binance lists contracts whose funding interval is not 8 h in `fundingInfo`; read once
    /// with the derivative markets. A failure keeps the default (logged).
    pub(super) async fn load_funding_intervals(&self) {
        if self.id != "binance" {
            return;
        }
        let side = &self.derivatives;
        let listed = self
            .call(side, "fundinginfo", side.weights.markets, async {
                let mut ex = side.instance().await?;
                let reply = ex.fetch_funding_intervals(None, ()).await;
                reply.map_err(|e| failure(&ex, e))
            })
            .await;
        match listed {
            Ok(rates) => {
                let intervals = rates
                    .into_iter()
                    .filter_map(|(symbol, rate)| {
                        let hours = rate.interval?.trim_end_matches('h').parse::<f64>().ok()?;
                        (hours.is_finite() && hours > 0.0).then_some((symbol, hours))
                    })
                    .collect();
                if let Ok(mut map) = self.funding_intervals.write() {
                    *map = intervals;
                }
            }
            Err(e) => {
                tracing::warn!(exchange = %self.id, "funding intervals not loaded, 8 h assumed: {e}")
            }
        }
    }

    async fn funding_call(&self, symbol: &str) -> Result<FundingRate, VenueError> {
        let side = &self.derivatives;
        let rate = self
            .call(side, "funding", side.weights.funding, async {
                let mut ex = side.instance().await?;
                let reply = ex.fetch_funding_rate(symbol, ()).await;
                reply.map_err(|e| failure(&ex, e))
            })
            .await?;
        Ok(convert::funding_rate(rate, self.listed_interval(symbol)))
    }

    /// Venues whose ticker endpoint has no mark or index price (their funding one has).
    fn ticker_without_mark(&self) -> bool {
        matches!(self.id.as_str(), "binance" | "okx")
    }

    /// A perpetual's current funding, with its mark price: OKX's funding endpoint has no
    /// prices, so its mark-price endpoint is asked at the same time (one round trip, not two).
    pub(super) async fn funding_rate(&self, symbol: &str) -> Result<FundingRate, VenueError> {
        if self.id != "okx" {
            return self.funding_call(symbol).await;
        }
        let (rate, mark) = futures::join!(self.funding_call(symbol), self.mark_price(symbol));
        let mut rate = rate?;
        if let Ok(mark) = mark {
            rate.mark_price = rate.mark_price.or(mark.mark_price);
            rate.index_price = rate.index_price.or(mark.index_price);
        }
        Ok(rate)
    }

    /// A perpetual's ticker with mark and index price: the ticker alone where it has them
    /// (Bybit), else the ticker and the funding call at the same time.
    pub(super) async fn derivative_ticker(&self, symbol: &str) -> Result<Ticker, VenueError> {
        if !self.ticker_without_mark() {
            let ticker = self.ticker_call(symbol).await?;
            return Ok(self.with_mark_and_index(ticker).await);
        }
        let (ticker, rate) = futures::join!(self.ticker_call(symbol), self.funding_rate(symbol));
        let mut ticker = ticker?;
        match rate {
            Ok(rate) => {
                ticker.mark_price = ticker.mark_price.or(rate.mark_price);
                ticker.index_price = ticker.index_price.or(rate.index_price);
            }
            Err(e) => {
                tracing::debug!(exchange = %self.id, symbol, "no mark price for the ticker: {e}")
            }
        }
        Ok(ticker)
    }

    /// The venue's mark price of `symbol` (a ticker with `mark_price`).
    async fn mark_price(&self, symbol: &str) -> Result<Ticker, VenueError> {
        let side = &self.derivatives;
        let ticker = self
            .call(side, "markprice", side.weights.funding, async {
                let mut ex = side.instance().await?;
                let reply = ex.fetch_mark_price(symbol, ()).await;
                reply.map_err(|e| failure(&ex, e))
            })
            .await?;
        Ok(convert::ticker(ticker))
    }

    /// `ticker` with mark and index from the funding call when the ticker lacked them.
    async fn with_mark_and_index(&self, mut ticker: Ticker) -> Ticker {
        if ticker.mark_price.is_some() && ticker.index_price.is_some() {
            return ticker;
        }
        match self.funding_rate(&ticker.symbol).await {
            Ok(rate) => {
                ticker.mark_price = ticker.mark_price.or(rate.mark_price);
                ticker.index_price = ticker.index_price.or(rate.index_price);
            }
            Err(e) => {
                tracing::debug!(exchange = %self.id, symbol = %ticker.symbol, "no mark price for the ticker: {e}")
            }
        }
        ticker
    }

    /// Settled rates, oldest first: from `since` the oldest `limit`, without it the most recent
    /// `limit` (up to `until`). The venues cap a call (Binance 1000, Bybit 200, OKX 100), so a
    /// longer range is asked page after page, forwards from `since` or backwards from `until`.
    pub(super) async fn funding_history(
        &self,
        symbol: &str,
        since: Option<i64>,
        until: Option<i64>,
        limit: u32,
    ) -> Result<Vec<FundingPoint>, VenueError> {
        let page = history_page(&self.id);
        let wanted = limit as usize;
        let (mut from, mut to) = (since, until);
        let mut points: Vec<FundingPoint> = Vec::new();
        for _ in 0..MAX_HISTORY_PAGES {
            let ask = (wanted - points.len()).min(page as usize) as u32;
            let mut got = self.history_page(symbol, from, to, ask).await?;
            if let Some(until) = until {
                got.retain(|p| p.timestamp <= until);
            }
            if let Some(since) = since {
                got.retain(|p| p.timestamp >= since);
            }
            let full = got.len() >= ask as usize;
            let (first, last) = (
                got.first().map(|p| p.timestamp),
                got.last().map(|p| p.timestamp),
            );
            points.extend(got);
            points.sort_by_key(|p| p.timestamp);
            points.dedup_by_key(|p| p.timestamp);
            if !full || points.len() >= wanted {
                break;
            }
            if since.is_some() {
                from = last.map(|t| t + 1);
            } else {
                to = first.map(|t| t - 1);
            }
        }
        if points.len() > wanted {
            // From `since` the oldest; without it the most recent.
            if since.is_some() {
                points.truncate(wanted);
            } else {
                points.drain(..points.len() - wanted);
            }
        }
        Ok(points)
    }

    /// One call of the venue's funding history.
    async fn history_page(
        &self,
        symbol: &str,
        since: Option<i64>,
        until: Option<i64>,
        ask: u32,
    ) -> Result<Vec<FundingPoint>, VenueError> {
        let side = &self.derivatives;
        // ccxt maps `until` to Binance's and Bybit's `endTime`; for OKX it passes nothing, and
        // OKX's own `after` means "settled before".
        let params = match until {
            Some(until) if self.id == "okx" => ccxt::Params::from(ccxt::Value::from(
                serde_json::json!({ "after": until.saturating_add(1) }),
            )),
            Some(until) => {
                ccxt::Params::from(ccxt::Value::from(serde_json::json!({ "until": until })))
            }
            None => ccxt::Params::default(),
        };
        let rows = self
            .call(
                side,
                "fundinghistory",
                side.weights.funding_history,
                async {
                    let mut ex = side.instance().await?;
                    let reply = ex
                        .fetch_funding_rate_history(
                            Some(symbol),
                            since,
                            Some(i64::from(ask)),
                            params,
                        )
                        .await;
                    reply.map_err(|e| failure(&ex, e))
                },
            )
            .await?;
        Ok(convert::funding_history(rows))
    }

    /// Open interest in contracts, base and quote. OKX states the quote value; Binance and
    /// Bybit do not, so their mark price is asked at the same time (one round trip) and the
    /// value is the base amount at the mark.
    pub(super) async fn open_interest(&self, symbol: &str) -> Result<OpenInterest, VenueError> {
        if self.id == "okx" {
            return self.open_interest_call(symbol).await;
        }
        let (interest, rate) =
            futures::join!(self.open_interest_call(symbol), self.funding_call(symbol));
        let mut interest = interest?;
        if interest.open_interest_value.is_none() {
            let mark = rate.ok().and_then(|r| r.mark_price);
            interest.open_interest_value = interest
                .open_interest_base
                .zip(mark)
                .map(|(base, mark)| base * mark);
        }
        Ok(interest)
    }

    async fn open_interest_call(&self, symbol: &str) -> Result<OpenInterest, VenueError> {
        let side = &self.derivatives;
        let (interest, contract_size) = self
            .call(side, "openinterest", side.weights.open_interest, async {
                let mut ex = side.instance().await?;
                let size = ex
                    .market(symbol)
                    .ok()
                    .and_then(|m| ccxt::safe_number(&m.raw, "contractSize", None));
                let reply = ex.fetch_open_interest(symbol, ()).await;
                reply.map(|o| (o, size)).map_err(|e| failure(&ex, e))
            })
            .await?;
        let mut interest = convert::open_interest(interest, contract_size);
        if interest.symbol.is_empty() {
            interest.symbol = symbol.to_owned();
        }
        Ok(interest)
    }

    pub(super) async fn price_candles(
        &self,
        symbol: &str,
        timeframe: &Timeframe,
        since: Option<i64>,
        limit: u32,
        price: CandlePrice,
    ) -> Result<Vec<Candle>, VenueError> {
        if !symbol.contains(':') {
            return Err(VenueError::Unsupported(format!(
                "{} price candles of {symbol}: mark and index prices are a derivative's",
                price.as_str()
            )));
        }
        let params = [("price", price.as_str())].into();
        self.candles(&self.derivatives, symbol, timeframe, since, limit, params)
            .await
    }
}
