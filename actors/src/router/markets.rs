//! Each exchange's market list: loaded on first use (requests for it wait meanwhile), reloaded
//! in the background when old (the loaded list keeps serving, also when a reload fails), and
//! reloaded early when the exchange rejects a symbol the list has.
//!
//! Two groups load apart (SPEC.md 4.1): spot, on the first request of any kind, and the
//! derivatives, on the first request that needs one (a derivative tool, a derivative spelling,
//! `list_markets` of a derivative type), so a spot-only user never makes a futures call. The
//! directory's index holds both once both are loaded.

use std::sync::Arc;

use actix::{ActorFutureExt, AsyncContext, Context, Handler, WrapFuture};

use super::messages::{Delivery, GetMarkets, Route};
use super::Router;
use crate::directory::{MarketsAnswer, REJECTED_FOR};
use crate::error::EngineError;
use crate::miss::SymbolRejected;
use crate::model::{Market, MarketIndex, PairMeans};

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
    /// Whether this request waits for the venue's derivative markets.
    fn needs_derivatives(&self, venue: &crate::directory::VenueDirectory) -> bool {
        match self {
            Self::Route(route) => venue.needs_derivatives(&route.symbol, route.delivery.means()),
            Self::Markets(get) => {
                get.derivatives
                    && venue.venue.has_derivatives()
                    && !venue.markets().is_some_and(|m| m.with_derivatives)
            }
        }
    }

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
    /// What a bare pair means for this delivery (its request's kind decides).
    pub(super) fn means(&self) -> PairMeans {
        match self {
            Self::Fetch { request, .. } => request.pair_means(),
            Self::Store { upstream, .. } => upstream.pair_means(),
            Self::Watch { .. } => PairMeans::Spot,
        }
    }

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
    /// Loads `exchange`'s spot markets (or its derivative ones) in the background; requests
    /// needing them queue meanwhile if none are loaded yet.
    pub(super) fn load_markets(
        &mut self,
        exchange: Arc<str>,
        derivatives: bool,
        ctx: &mut Context<Self>,
    ) {
        let Some(slot) = self.slots.get(&exchange) else {
            return;
        };
        let venue = slot.directory.venue.clone();
        let load = self.io.spawn(async move {
            if derivatives {
                venue.load_derivative_markets().await
            } else {
                venue.load_markets().await
            }
        });
        ctx.spawn(load.into_actor(self).map(move |joined, router, ctx| {
            let loaded = match joined {
                Ok(Ok(markets)) => Ok(markets),
                Ok(Err(e)) => Err(EngineError::from_venue(&exchange, None, e)),
                Err(e) => Err(EngineError::Internal(format!(
                    "loading {exchange} markets failed inside the engine ({e})"
                ))),
            };
            router.markets_loaded(&exchange, derivatives, loaded, ctx);
        }));
    }

    fn markets_loaded(
        &mut self,
        exchange: &Arc<str>,
        derivatives: bool,
        loaded: Result<Vec<Market>, EngineError>,
        ctx: &mut Context<Self>,
    ) {
        let refresh_ms = i64::try_from(self.markets_refresh.as_millis()).unwrap_or(i64::MAX);
        let now = self.directory.now_ms();
        let Some(slot) = self.slots.get_mut(exchange) else {
            return;
        };
        let group = if derivatives {
            slot.refreshing_derivatives = false;
            &mut slot.derivatives
        } else {
            slot.refreshing = false;
            &mut slot.markets
        };
        let pending = match group {
            Markets::Loading(pending) => std::mem::take(pending),
            _ => Vec::new(),
        };
        match loaded {
            Ok(markets) => {
                tracing::info!(%exchange, markets = markets.len(), derivatives, "markets loaded");
                *group = Markets::Loaded {
                    reload_at_ms: now.saturating_add(refresh_ms),
                };
                // The other group's markets stay as they are in the index.
                let current = slot.directory.markets();
                let with_derivatives =
                    derivatives || current.as_ref().is_some_and(|m| m.with_derivatives);
                let kept = current.iter().flat_map(|m| {
                    m.index
                        .markets()
                        .iter()
                        .filter(|market| market.is_derivative() != derivatives)
                        .cloned()
                        .collect::<Vec<_>>()
                });
                let all: Vec<Market> = markets.into_iter().chain(kept).collect();
                slot.directory.set_markets(MarketsAnswer {
                    exchange: exchange.clone(),
                    index: Arc::new(MarketIndex::new(all)),
                    fetched_at_ms: now,
                    with_derivatives,
                });
                for request in pending {
                    // Spot loaded: a request may still need the derivatives.
                    self.with_markets(exchange, request, ctx);
                }
            }
            Err(error) if matches!(group, Markets::Loaded { .. }) => {
                tracing::warn!(%exchange, %error, derivatives, "refreshing markets failed; keeping the loaded ones");
                *group = Markets::Loaded {
                    reload_at_ms: now + FAILED_RELOAD_RETRY_MS,
                };
            }
            Err(error) => {
                // Not remembered: the next request tries again.
                tracing::warn!(%exchange, %error, derivatives, "loading markets failed");
                *group = Markets::Unloaded;
                for request in pending {
                    request.fail(error.clone());
                }
            }
        }
    }

    /// Runs `request` once the markets it needs are loaded: now, or after the loads it starts
    /// or joins (spot first, then the derivatives if it names one).
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
        let derivatives = match &slot.markets {
            Markets::Loaded { .. } => request.needs_derivatives(&slot.directory),
            _ => false,
        };
        let group = if derivatives {
            &mut slot.derivatives
        } else {
            &mut slot.markets
        };
        match group {
            Markets::Loaded { .. } => self.run(request),
            Markets::Loading(pending) => pending.push(request),
            Markets::Unloaded => {
                *group = Markets::Loading(vec![request]);
                self.load_markets(exchange.clone(), derivatives, ctx);
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
        let due_at = |group: &Markets| matches!(group, Markets::Loaded { reload_at_ms } if now >= *reload_at_ms);
        let mut due: Vec<(Arc<str>, bool)> = Vec::new();
        for (id, slot) in &mut self.slots {
            if !slot.refreshing && due_at(&slot.markets) {
                slot.refreshing = true;
                due.push((id.clone(), false));
            }
            if !slot.refreshing_derivatives && due_at(&slot.derivatives) {
                slot.refreshing_derivatives = true;
                due.push((id.clone(), true));
            }
        }
        for (exchange, derivatives) in due {
            self.load_markets(exchange, derivatives, ctx);
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
        // The group the rejected symbol belongs to is the one reloaded.
        let derivatives = msg.symbol.contains(':');
        let (group, refreshing) = if derivatives {
            (&slot.derivatives, slot.refreshing_derivatives)
        } else {
            (&slot.markets, slot.refreshing)
        };
        let may_reload = !refreshing
            && matches!(group, Markets::Loaded { .. })
            && now - slot.last_early_reload_ms >= EARLY_RELOAD_GAP_MS;
        tracing::info!(exchange = %msg.exchange, symbol = %msg.symbol, reload = may_reload, "the exchange rejected a listed symbol");
        if may_reload {
            if derivatives {
                slot.refreshing_derivatives = true;
            } else {
                slot.refreshing = true;
            }
            slot.last_early_reload_ms = now;
            self.load_markets(msg.exchange, derivatives, ctx);
        }
    }
}
