//! One symbol's data: the hit path (resolve against the shared markets, read the symbol's
//! state: no mailbox hop) and the hops of a miss (to the symbol's running actor, else through
//! the router, which starts it). Also a symbol's watch and an exchange's markets.

use std::sync::Arc;

use actix::dev::SendError;
use tokio::sync::oneshot;

use super::{dropped, Engine, ExchangeInfo};
use crate::directory::{Answer, Fetch, Lookup, MarketsAnswer, Reply};
use crate::error::EngineError;
use crate::model::DataRequest;
use crate::router::{Delivery, GetMarkets, Route};
use crate::ticker_watch::TickerWatch;

impl Engine {
    /// Serves one symbol's data: its state when fresh, else one shared exchange call.
    pub async fn fetch(
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
