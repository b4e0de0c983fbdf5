//! A live symbol as every thread sees it: its state, its actor (absent while idle), who is
//! watching it, and the channel its ticker updates go out on.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::live::Live;
use super::mailbox::SymbolMailbox;
use super::state::SymbolState;
use crate::model::Stamped;

pub struct SymbolEntry {
    pub exchange: Arc<str>,
    pub symbol: Arc<str>,
    /// The exchange's own id of the market (Binance `BTCUSDT`), as its feed names it.
    pub market_id: Arc<str>,
    pub state: SymbolState,
    actor: Mutex<Option<Arc<dyn SymbolMailbox>>>,
    /// Live watchers (stream_ticker calls, resource subscriptions, warm symbols). While there
    /// is one, the symbol's feed runs, its actor keeps it fresh, and it is never evicted.
    watchers: AtomicUsize,
    /// Every ticker the symbol stores, latest wins: a slow watcher skips to the newest value
    /// instead of queueing old ones (a watch channel never grows).
    ticks: watch::Sender<Option<Stamped>>,
    /// Book, trades and candle from the streams while watched.
    pub live: Live,
}

impl SymbolEntry {
    pub fn new(
        exchange: Arc<str>,
        symbol: Arc<str>,
        market_id: Arc<str>,
        state: SymbolState,
    ) -> Self {
        let live = Live::new(exchange.clone());
        Self {
            exchange,
            symbol,
            market_id,
            state,
            actor: Mutex::new(None),
            watchers: AtomicUsize::new(0),
            ticks: watch::channel(None).0,
            live,
        }
    }

    /// The symbol's actor, if it is running.
    pub fn actor(&self) -> Option<Arc<dyn SymbolMailbox>> {
        self.actor
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .filter(|actor| actor.connected())
            .cloned()
    }

    /// Replaces the running actor; dropping the last handle of the old one stops it once its
    /// mailbox and calls are done.
    pub fn set_actor(
        &self,
        actor: Option<Arc<dyn SymbolMailbox>>,
    ) -> Option<Arc<dyn SymbolMailbox>> {
        std::mem::replace(
            &mut *self.actor.lock().unwrap_or_else(|p| p.into_inner()),
            actor,
        )
    }

    /// One more watcher; `true` for the first. Only the router calls it (one writer), so the
    /// count and the edges it reports cannot race.
    pub fn add_watcher(&self) -> bool {
        self.watchers.fetch_add(1, Ordering::AcqRel) == 0
    }

    /// One watcher less; `true` when it was the last.
    pub fn remove_watcher(&self) -> bool {
        let previous = self
            .watchers
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        previous == Ok(1)
    }

    pub fn watched(&self) -> bool {
        self.watchers.load(Ordering::Acquire) > 0
    }

    /// Hands a newly stored ticker to the watchers (nothing to do without any).
    pub fn publish_ticker(&self, stamped: &Stamped) {
        if self.ticks.receiver_count() > 0 {
            self.ticks.send_replace(Some(stamped.clone()));
        }
    }

    /// The ticker updates from now on; the receiver has the latest one as unseen, if any.
    pub fn ticker_updates(&self) -> watch::Receiver<Option<Stamped>> {
        let mut updates = self.ticks.subscribe();
        updates.mark_changed();
        updates
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::CacheCounters;

    #[test]
    fn the_watcher_count_reports_its_first_and_last() {
        let entry = SymbolEntry::new(
            Arc::from("binance"),
            Arc::from("BTC/USDT"),
            Arc::from("BTCUSDT"),
            SymbolState::new(Arc::new(CacheCounters::default()), 0),
        );
        assert!(!entry.watched());
        assert!(entry.add_watcher());
        assert!(!entry.add_watcher());
        assert!(!entry.remove_watcher());
        assert!(entry.watched());
        assert!(entry.remove_watcher());
        assert!(!entry.watched());
        assert!(!entry.remove_watcher(), "never below zero");
    }
}
