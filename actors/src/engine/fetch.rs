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
use crate::model::{CandlePrice, DataRequest, MarketData, Served, Source};
use crate::router::{Delivery, GetMarkets, Route};
use crate::ticker_watch::TickerWatch;

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
        let live_candle = matches!(
            &request,
            DataRequest::Ohlcv { timeframe, since: None, price: CandlePrice::Trade, .. }
                if timeframe.as_str() == LIVE_TIMEFRAME
        );
        let mut answer = self.fetch_held(exchange, symbol, request).await?;
        if live_candle {
            with_live_candle(self, &mut answer);
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

    /// The watched symbol's entry, if `answer`'s symbol is one.
    fn watched_entry(&self, answer: &Answer) -> Option<Arc<SymbolEntry>> {
        let entry = self
            .inner
            .directory
            .venue(&answer.exchange)?
            .symbol(&answer.symbol)?;
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

/// The interval whose candle in progress streams (`@kline_1m`).
const LIVE_TIMEFRAME: &str = "1m";

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

/// Ends a watched symbol's candles with the one in progress from its kline stream.
fn with_live_candle(engine: &Engine, answer: &mut Answer) {
    let Some(entry) = engine.watched_entry(answer) else {
        return;
    };
    let Some(live) = entry.live.candle() else {
        return;
    };
    let MarketData::Ohlcv(candles) = &*answer.data.value else {
        return;
    };
    let mut candles = candles.clone();
    let asked = candles.len();
    live.merge_into(&mut candles);
    // A new candle in progress pushes the oldest out: as many as asked for.
    if asked > 0 && candles.len() > asked {
        candles.remove(0);
    }
    answer.data.value = Arc::new(MarketData::Ohlcv(candles));
}
