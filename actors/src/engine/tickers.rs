//! Many tickers at once (`get_tickers`): the hits served from their symbols' state, the
//! misses through [`crate::miss::MissPath::fetch_tickers`], one exchange round for all of them
//! (the adapter batches them), each result kept by its symbol's actor.

use std::collections::HashSet;
use std::sync::Arc;

use super::{dropped, Engine, ExchangeInfo};
use crate::directory::{Answer, Lookup, Reply, Store, VenueDirectory};
use crate::model::{DataRequest, Stamped};
use crate::router::{Delivery, Route};

impl Engine {
    /// Tickers of many symbols at once. Symbols that name the same market are answered once
    /// (the first spelling is kept); fresh ones come from their state, and the rest are
    /// fetched together, so the exchange adapter can batch them (Binance: up to 20 symbols a
    /// call). Each input gets its own answer or error.
    pub async fn fetch_tickers(
        &self,
        exchange: &ExchangeInfo,
        symbols: &[String],
    ) -> Vec<(String, Reply)> {
        let venue = match self.venue(exchange) {
            Ok(venue) => venue.clone(),
            Err(e) => {
                return symbols
                    .iter()
                    .map(|s| (s.clone(), Err(e.clone())))
                    .collect()
            }
        };
        // Perpetuals among the symbols (`BTC/USDT:USDT`) need the derivative markets too.
        let derivatives = symbols
            .iter()
            .any(|s| venue.needs_derivatives(s, crate::model::PairMeans::Spot));
        if venue.markets().is_none() || derivatives {
            if let Err(e) = self.markets(exchange, derivatives).await {
                return symbols
                    .iter()
                    .map(|s| (s.clone(), Err(e.clone())))
                    .collect();
            }
        }
        let now = self.inner.directory.now_ms();
        let policy = self.inner.directory.policy;
        let mut seen = HashSet::new();
        let mut answers: Vec<(String, Option<Reply>)> = Vec::with_capacity(symbols.len());
        // The misses: their unified symbols, and their slots in `answers`.
        let mut missing: Vec<Arc<str>> = Vec::new();
        let mut missing_slots: Vec<usize> = Vec::new();
        for input in symbols {
            let resolved = match venue.resolve(input, now) {
                Ok(Some(resolved)) => resolved,
                Ok(None) => {
                    answers.push((input.clone(), Some(Err(dropped()))));
                    continue;
                }
                Err(e) => {
                    answers.push((input.clone(), Some(Err(e))));
                    continue;
                }
            };
            if !seen.insert(resolved.symbol.clone()) {
                continue;
            }
            let hit = resolved.entry.as_ref().and_then(|entry| {
                entry.state.touch(now);
                match entry.state.lookup(&DataRequest::Ticker, &policy, now, true) {
                    Lookup::Fresh(held) => Some(held.served(false, now)),
                    _ => None,
                }
            });
            match hit {
                Some(served) => answers.push((
                    input.clone(),
                    Some(Ok(Answer::new(
                        venue.id.clone(),
                        resolved.symbol.clone(),
                        served,
                        &DataRequest::Ticker,
                    ))),
                )),
                None => {
                    if resolved.entry.is_none() {
                        self.inner.directory.counters.miss();
                    }
                    missing.push(resolved.symbol.clone());
                    missing_slots.push(answers.len());
                    answers.push((input.clone(), None));
                }
            }
        }
        if !missing.is_empty() {
            let fetched = self.fetch_missing_tickers(&venue, &missing).await;
            for (slot, reply) in missing_slots.into_iter().zip(fetched) {
                answers[slot].1 = Some(reply);
            }
        }
        answers
            .into_iter()
            .map(|(input, reply)| (input, reply.unwrap_or_else(|| Err(dropped()))))
            .collect()
    }

    /// One exchange round for the `missing` tickers, as a symbol actor's miss goes (Redis
    /// first, share what was fetched, stale fallback on failure); each value is handed to its
    /// symbol's actor, the only writer of its state.
    async fn fetch_missing_tickers(
        &self,
        venue: &Arc<VenueDirectory>,
        missing: &[Arc<str>],
    ) -> Vec<Reply> {
        let miss = &self.inner.miss;
        let fetched = miss.fetch_tickers(venue, missing).await;
        let now = self.inner.directory.now_ms();
        let upstream = DataRequest::Ticker;
        missing
            .iter()
            .zip(fetched)
            .map(|(symbol, outcome)| {
                let served = match outcome {
                    Ok(stamped) => {
                        let served = stamped.served_fresh(now);
                        self.hand_over(venue, symbol, stamped);
                        Ok(served)
                    }
                    Err(error) => {
                        let entry = venue.symbol(symbol);
                        miss.fallback(&venue.id, symbol, &upstream, entry.as_deref(), error)
                    }
                };
                served
                    .map(|served| Answer::new(venue.id.clone(), symbol.clone(), served, &upstream))
            })
            .collect()
    }

    /// Gives a ticker fetched here to its symbol's actor, the only writer of its state.
    fn hand_over(&self, venue: &VenueDirectory, symbol: &Arc<str>, stamped: Stamped) {
        let upstream = DataRequest::Ticker;
        // A store that finds a mailbox full is dropped: the caller has its answer already.
        if let Some(actor) = venue.symbol(symbol).and_then(|entry| entry.actor()) {
            let _ = actor.try_store(Store {
                upstream,
                stamped,
                from_own_feed: false,
            });
            return;
        }
        // No running actor: the router starts one.
        let _ = self.inner.router.try_send(Route {
            exchange: venue.id.clone(),
            symbol: symbol.to_string(),
            delivery: Delivery::Store {
                upstream,
                stamped,
                from_own_feed: false,
            },
        });
    }
}
