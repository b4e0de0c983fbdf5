//! One symbol's data: the hit path (resolve against the shared markets, read the symbol's
//! state: no mailbox hop) and the hops of a miss (to the symbol's running actor, else through
//! the router, which starts it). Also a symbol's watch and an exchange's markets.

use std::sync::Arc;

use actix::dev::SendError;
use tokio::sync::oneshot;

use super::{dropped, Engine, ExchangeInfo};
use crate::directory::SymbolEntry;
use crate::directory::{Answer, Fetch, Lookup, MarketsAnswer, Reply};
use crate::error::EngineError;
use crate::model::{
    Candle, CandlePrice, DataRequest, MarketData, PairMeans, Served, Source, Timeframe,
};
use crate::router::{Delivery, GetMarkets, Route};
use crate::ticker_watch::TickerWatch;
use crate::venue::candles_per_call;

impl Engine {
    /// Serves one symbol's data: from its streams while it is watched (its local book when in
    /// sequence and deep enough, its trade tape; candles end with the one in progress), else
    /// its state when fresh, else one shared exchange call.
    pub async fn fetch(
        &self,
        exchange: &ExchangeInfo,
        symbol: &str,
        request: DataRequest,
    ) -> Reply {
        let live_candles = matches!(
            &request,
            DataRequest::Ohlcv {
                since: None,
                price: CandlePrice::Trade,
                ..
            }
        );
        if live_candles {
            if let Some(entry) = self.watched(exchange, symbol) {
                return self
                    .fetch_ohlcv_live(exchange, symbol, &entry, request)
                    .await;
            }
        }
        self.fetch_held(exchange, symbol, request).await
    }

    /// The recent candles of a watched symbol, from its streamed candles (see
    /// [`crate::model::LiveCandles`]): once seeded by REST (the timeframe's candles, then the
    /// base interval's since the newest one's open), every read is answered with no REST call.
    /// A timeframe the stream cannot build (not a multiple of the streamed interval, a month,
    /// more base candles than one call returns) is answered by REST, as unwatched.
    async fn fetch_ohlcv_live(
        &self,
        exchange: &ExchangeInfo,
        symbol: &str,
        entry: &SymbolEntry,
        request: DataRequest,
    ) -> Reply {
        let DataRequest::Ohlcv {
            timeframe, limit, ..
        } = &request
        else {
            return self.fetch_held(exchange, symbol, request).await;
        };
        let (tf, limit) = (timeframe.millis(), *limit as usize);
        let stream_answer = |candles: Vec<Candle>| {
            let now = self.inner.directory.now_ms();
            let served = Served {
                value: Arc::new(MarketData::Ohlcv(candles)),
                source: Source::Stream,
                fetched_at_ms: now,
                stale: false,
                age_ms: 0,
            };
            Answer::new(
                entry.exchange.clone(),
                entry.symbol.clone(),
                served,
                &request,
            )
        };
        if let Some(candles) = tf.and_then(|tf| entry.live.ohlcv(tf, limit)) {
            return Ok(stream_answer(candles));
        }
        let base = entry.live.candle_base_ms();
        let (Some(tf), Some(base)) = (tf, base) else {
            return self.fetch_held(exchange, symbol, request.clone()).await;
        };
        let base_timeframe = Timeframe::minutes(base);
        let answer = self.fetch_held(exchange, symbol, request.clone()).await?;
        let (Some(base_timeframe), true) = (base_timeframe, tf % base == 0) else {
            return Ok(answer);
        };
        let MarketData::Ohlcv(candles) = &*answer.data.value else {
            return Ok(answer);
        };
        let Some(open) = candles.last().map(|c| c.timestamp) else {
            return Ok(answer);
        };
        // The base candles from the newest period's open to now (one more for the clocks).
        let now = self.inner.directory.now_ms();
        let count = (now - open).max(0) / base + 2;
        let cap = i64::from(candles_per_call(&exchange.id));
        if count > cap {
            return Ok(answer);
        }
        // From a ms before the open: a venue whose `since` is exclusive (Kraken, in seconds)
        // still returns the candle opening at it.
        let base_request = DataRequest::Ohlcv {
            timeframe: base_timeframe,
            since: Some(open - 1),
            limit: count as u32,
            price: CandlePrice::Trade,
        };
        let Ok(base_answer) = self.fetch_held(exchange, symbol, base_request).await else {
            return Ok(answer);
        };
        let MarketData::Ohlcv(base_candles) = &*base_answer.data.value else {
            return Ok(answer);
        };
        let base_candles: Vec<Candle> = base_candles
            .iter()
            .filter(|c| c.timestamp >= open)
            .copied()
            .collect();
        if base_candles.first().map(|c| c.timestamp) != Some(open) {
            return Ok(answer);
        }
        if entry.live.seed_ohlcv(tf, candles, &base_candles, limit) {
            if let Some(candles) = entry.live.ohlcv(tf, limit) {
                return Ok(stream_answer(candles));
            }
        }
        Ok(answer)
    }

    async fn fetch_held(
        &self,
        exchange: &ExchangeInfo,
        symbol: &str,
        request: DataRequest,
    ) -> Reply {
        let venue = self.venue(exchange)?;
        let now = self.inner.directory.now_ms();
        let Some(resolved) = venue.resolve_for(symbol, request.pair_means(), now)? else {
            // Markets not loaded yet (or the derivatives it names): the router loads them,
            // then resolves.
            self.inner.directory.counters.miss();
            return self.route(&exchange.id, symbol.to_owned(), request).await;
        };
        let Some(entry) = resolved.entry else {
            self.inner.directory.counters.miss();
            return self
                .route(&exchange.id, resolved.symbol.to_string(), request)
                .await;
        };
        entry.state.touch(now);
        if entry.live.wanted() {
            if let Some(served) = live_value(&entry, &request, now) {
                return Ok(Answer::new(
                    entry.exchange.clone(),
                    entry.symbol.clone(),
                    served,
                    &request,
                ));
            }
        }
        let upstream = request.upstream();
        let policy = &self.inner.directory.policy;
        if let Lookup::Fresh(held) = entry.state.lookup(&upstream, policy, now, true) {
            return Ok(Answer::new(
                entry.exchange.clone(),
                entry.symbol.clone(),
                held.served(false, now),
                &request,
            ));
        }
        let Some(actor) = entry.actor() else {
            return self
                .route(&exchange.id, resolved.symbol.to_string(), request)
                .await;
        };
        let (reply, answer) = oneshot::channel();
        match actor.try_fetch(Fetch { request, reply }) {
            Ok(()) => answer.await.unwrap_or_else(|_| Err(dropped())),
            Err(SendError::Full(_)) => Err(EngineError::busy("symbol")),
            // Stopped (idle) since we looked: the router starts it again.
            Err(SendError::Closed(Fetch { request, .. })) => {
                self.route(&exchange.id, resolved.symbol.to_string(), request)
                    .await
            }
        }
    }

    /// `symbol`'s entry when it is watched (its streams run).
    fn watched(&self, exchange: &ExchangeInfo, symbol: &str) -> Option<Arc<SymbolEntry>> {
        let venue = self.venue(exchange).ok()?;
        let now = self.inner.directory.now_ms();
        let resolved = venue.resolve_for(symbol, PairMeans::Spot, now).ok()??;
        let entry = resolved.entry?;
        entry.live.wanted().then_some(entry)
    }

    async fn route(&self, exchange: &Arc<str>, symbol: String, request: DataRequest) -> Reply {
        let (reply, answer) = oneshot::channel();
        let route = Route {
            exchange: exchange.clone(),
            symbol,
            delivery: Delivery::Fetch { request, reply },
        };
        match self.inner.router.try_send(route) {
            Ok(()) => answer.await.unwrap_or_else(|_| Err(dropped())),
            Err(SendError::Full(_)) => Err(EngineError::busy("router")),
            Err(SendError::Closed(_)) => Err(dropped()),
        }
    }

    /// Watches `symbol`'s ticker: from now until the returned watch is dropped, the symbol is
    /// kept fresh (the venue's live feed where it has one, else REST polling at the TTL) and
    /// every ticker it stores is handed to the watch. Pushed values are served to every
    /// request with `source: stream`.
    pub async fn watch_ticker(
        &self,
        exchange: &ExchangeInfo,
        symbol: &str,
    ) -> Result<TickerWatch, EngineError> {
        let (reply, answer) = oneshot::channel();
        let route = Route {
            exchange: exchange.id.clone(),
            symbol: symbol.to_owned(),
            delivery: Delivery::Watch { reply },
        };
        // send, not try_send: a watch is rare and worth queueing for.
        if self.inner.router.send(route).await.is_err() {
            return Err(dropped());
        }
        let entry = answer.await.unwrap_or_else(|_| Err(dropped()))?;
        Ok(TickerWatch::new(
            entry,
            self.inner.directory.clone(),
            self.inner.router.clone(),
        ))
    }

    /// The exchange's markets, loaded once; `derivatives`: with its derivative markets
    /// (loaded on this first use if the venue has them).
    pub async fn markets(
        &self,
        exchange: &ExchangeInfo,
        derivatives: bool,
    ) -> Result<MarketsAnswer, EngineError> {
        let venue = self.venue(exchange)?;
        if let Some(markets) = venue.markets() {
            if !derivatives || markets.with_derivatives || !venue.venue.has_derivatives() {
                return Ok(markets);
            }
        }
        let (reply, answer) = oneshot::channel();
        let get = GetMarkets {
            exchange: exchange.id.clone(),
            derivatives,
            reply,
        };
        match self.inner.router.try_send(get) {
            Ok(()) => answer.await.unwrap_or_else(|_| Err(dropped())),
            Err(SendError::Full(_)) => Err(EngineError::busy("router")),
            Err(SendError::Closed(_)) => Err(dropped()),
        }
    }
}

/// `request` answered from the symbol's streams, when they hold it whole.
fn live_value(entry: &SymbolEntry, request: &DataRequest, now: i64) -> Option<Served<MarketData>> {
    let (value, at) = match request {
        DataRequest::OrderBook { limit } => {
            let book = entry.live.book(*limit as usize)?;
            let at = book.timestamp.unwrap_or(now);
            (MarketData::OrderBook(book), at)
        }
        DataRequest::Trades { limit } => {
            let trades = entry.live.trades(*limit as usize)?;
            let at = trades.last().and_then(|t| t.timestamp).unwrap_or(now);
            (MarketData::Trades(trades), at)
        }
        _ => return None,
    };
    // The exchange's time, never later than ours.
    let at = at.min(now);
    Some(Served {
        value: Arc::new(value),
        source: Source::Stream,
        fetched_at_ms: at,
        stale: false,
        age_ms: now - at,
    })
}
