//! Each exchange's market list: loaded on first use (requests for it wait meanwhile), reloaded
//! in the background when old (the loaded list keeps serving, also when a reload fails), and
//! reloaded early when the exchange rejects a symbol the list has.

use std::sync::Arc;

use actix::{ActorFutureExt, AsyncContext, Context, Handler, WrapFuture};

use super::messages::{Delivery, GetMarkets, Route};
use super::Router;
use crate::directory::{MarketsAnswer, REJECTED_FOR};
use crate::error::EngineError;
use crate::miss::SymbolRejected;
use crate::model::{Market, MarketIndex};

/// Least time between two early markets reloads of one exchange (each rejected symbol asks
/// for one; a burst of them must not become a burst of `exchangeInfo` calls).
const EARLY_RELOAD_GAP_MS: i64 = 60_000;
/// How soon a failed markets reload is tried again (the loaded list keeps serving meanwhile).
const FAILED_RELOAD_RETRY_MS: i64 = 60_000;

/// Requests waiting for an exchange's markets to load.
pub(super) enum Pending {
    Route(Route),
    Markets(GetMarkets),
}

impl Pending {
    fn fail(self, error: EngineError) {
        // A caller that gave up has dropped its receiver: nothing to tell it.
        match self {
            Self::Route(route) => route.delivery.fail(error),
            Self::Markets(get) => {
                let _ = get.reply.send(Err(error));
            }
        }
    }
}

impl Delivery {
    pub(super) fn fail(self, error: EngineError) {
        match self {
            Self::Fetch { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            Self::Watch { reply } => {
                let _ = reply.send(Err(error));
            }
            Self::Store { .. } => {}
        }
    }
}

pub(super) enum Markets {
    Unloaded,
    Loading(Vec<Pending>),
    /// The list itself is in the directory, for every thread to read. `reload_at_ms`: when
    /// to reload it (an hour after loading; sooner again after a failed reload).
    Loaded {
        reload_at_ms: i64,
    },
}

impl Router {
    /// Loads `exchange`'s markets in the background (requests queue meanwhile if none are
    /// loaded yet).
    pub(super) fn load_markets(&mut self, exchange: Arc<str>, ctx: &mut Context<Self>) {
        let Some(slot) = self.slots.get(&exchange) else {
            return;
        };
        let venue = slot.directory.venue.clone();
        let load = self.io.spawn(async move { venue.load_markets().await });
        ctx.spawn(load.into_actor(self).map(move |joined, router, _| {
            let loaded = match joined {
                Ok(Ok(markets)) => Ok(markets),
                Ok(Err(e)) => Err(EngineError::from_venue(&exchange, None, e)),
                Err(e) => Err(EngineError::Internal(format!(
                    "loading {exchange} markets failed inside the engine ({e})"
                ))),
            };
            router.markets_loaded(&exchange, loaded);
        }));
    }

    fn markets_loaded(&mut self, exchange: &Arc<str>, loaded: Result<Vec<Market>, EngineError>) {
        let Some(slot) = self.slots.get_mut(exchange) else {
            return;
        };
        slot.refreshing = false;
        let pending = match &mut slot.markets {
            Markets::Loading(pending) => std::mem::take(pending),
            _ => Vec::new(),
        };
        match loaded {
            Ok(markets) => {
                tracing::info!(%exchange, markets = markets.len(), "markets loaded");
                let now = self.directory.now_ms();
                slot.directory.set_markets(MarketsAnswer {
                    exchange: exchange.clone(),
                    index: Arc::new(MarketIndex::new(markets)),
                    fetched_at_ms: now,
                });
                let refresh_ms =
                    i64::try_from(self.markets_refresh.as_millis()).unwrap_or(i64::MAX);
                slot.markets = Markets::Loaded {
                    reload_at_ms: now.saturating_add(refresh_ms),
                };
                for request in pending {
                    self.run(request);
                }
            }
            Err(error) if matches!(slot.markets, Markets::Loaded { .. }) => {
                tracing::warn!(%exchange, %error, "refreshing markets failed; keeping the loaded ones");
                slot.markets = Markets::Loaded {
                    reload_at_ms: self.directory.now_ms() + FAILED_RELOAD_RETRY_MS,
                };
            }
            Err(error) => {
                // Not remembered: the next request tries again.
                tracing::warn!(%exchange, %error, "loading markets failed");
                slot.markets = Markets::Unloaded;
                for request in pending {
                    request.fail(error.clone());
                }
            }
        }
    }

    /// Runs `request` once its exchange's markets are loaded: now, or after the load it
    /// starts or joins.
    pub(super) fn with_markets(
        &mut self,
        exchange: &Arc<str>,
        request: Pending,
        ctx: &mut Context<Self>,
    ) {
        let Some(slot) = self.slots.get_mut(exchange) else {
            request.fail(Self::unknown_exchange(exchange));
            return;
        };
        match &mut slot.markets {
            Markets::Loaded { .. } => self.run(request),
            Markets::Loading(pending) => pending.push(request),
            Markets::Unloaded => {
                slot.markets = Markets::Loading(vec![request]);
                self.load_markets(exchange.clone(), ctx);
            }
        }
    }

    fn run(&mut self, request: Pending) {
        match request {
            Pending::Route(route) => self.dispatch(route),
            Pending::Markets(get) => {
                let answer = self
                    .slots
                    .get(&get.exchange)
                    .and_then(|slot| slot.directory.markets())
                    .ok_or_else(|| Self::unknown_exchange(&get.exchange));
                let _ = get.reply.send(answer);
            }
        }
    }

    /// Starts the background reload of every market list due for one.
    pub(super) fn reload_old_markets(&mut self, now: i64, ctx: &mut Context<Self>) {
        let due: Vec<Arc<str>> = self
            .slots
            .iter_mut()
            .filter(|(_, slot)| {
                !slot.refreshing
                    && matches!(slot.markets, Markets::Loaded { reload_at_ms } if now >= reload_at_ms)
            })
            .map(|(id, slot)| {
                slot.refreshing = true;
                id.clone()
            })
            .collect();
        for exchange in due {
            self.load_markets(exchange, ctx);
        }
    }
}

impl Handler<GetMarkets> for Router {
    type Result = ();

    fn handle(&mut self, get: GetMarkets, ctx: &mut Context<Self>) {
        let exchange = get.exchange.clone();
        self.with_markets(&exchange, Pending::Markets(get), ctx);
    }
}

impl Handler<SymbolRejected> for Router {
    type Result = ();

    fn handle(&mut self, msg: SymbolRejected, ctx: &mut Context<Self>) {
        let Some(slot) = self.slots.get_mut(&msg.exchange) else {
            return;
        };
        let now = self.directory.now_ms();
        let until = now + i64::try_from(REJECTED_FOR.as_millis()).unwrap_or(i64::MAX / 2);
        slot.directory.reject(msg.symbol.clone(), until);
        let may_reload = !slot.refreshing
            && matches!(slot.markets, Markets::Loaded { .. })
            && now - slot.last_early_reload_ms >= EARLY_RELOAD_GAP_MS;
        tracing::info!(exchange = %msg.exchange, symbol = %msg.symbol, reload = may_reload, "the exchange rejected a listed symbol");
        if may_reload {
            slot.refreshing = true;
            slot.last_early_reload_ms = now;
            self.load_markets(msg.exchange, ctx);
        }
    }
}
