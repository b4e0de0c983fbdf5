//! A live view of one symbol's ticker for a front end (`stream_ticker`, resource
//! subscriptions, warm symbols): every ticker the symbol stores, newest first-class, from
//! whichever source delivered it (the venue's feed, REST polling, another node).

use std::sync::Arc;

use actix::Addr;
use tokio::sync::watch;

use crate::directory::{Answer, Directory, Lookup, SymbolEntry};
use crate::model::{DataRequest, MarketData, Served, Stamped};
use crate::router::{LiveWanted, Router, Unwatch};

/// A symbol's live value other than its ticker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LiveChannel {
    Book,
    Trades,
}

/// Holding it keeps the symbol watched; dropping it releases the watch (the last release
/// stops the symbol's feed stream and polling).
pub struct TickerWatch {
    entry: Arc<SymbolEntry>,
    updates: watch::Receiver<Option<Stamped>>,
    directory: Arc<Directory>,
    router: Addr<Router>,
    /// The first [`Self::next`] answers the ticker held at subscription, if any.
    started: bool,
    /// This watch keeps the book, trade and candle streams running.
    reads_live: bool,
}

impl TickerWatch {
    pub(crate) fn new(
        entry: Arc<SymbolEntry>,
        directory: Arc<Directory>,
        router: Addr<Router>,
    ) -> Self {
        Self {
            updates: entry.ticker_updates(),
            entry,
            directory,
            router,
            started: false,
            reads_live: false,
        }
    }

    pub fn exchange(&self) -> &Arc<str> {
        &self.entry.exchange
    }

    /// Unified symbol, e.g. `BTC/USDT`.
    pub fn symbol(&self) -> &Arc<str> {
        &self.entry.symbol
    }

    /// A signal bumped on every change of the symbol's local book ([`LiveChannel::Book`]) or
    /// trade tape ([`LiveChannel::Trades`]); from the first call, this watch keeps their
    /// streams running (until dropped).
    pub fn live_updates(&mut self, channel: LiveChannel) -> watch::Receiver<u64> {
        if !self.reads_live {
            self.reads_live = true;
            self.router.do_send(LiveWanted {
                exchange: self.entry.exchange.clone(),
                symbol: self.entry.symbol.clone(),
                wanted: true,
            });
        }
        match channel {
            LiveChannel::Book => self.entry.live.book_updates(),
            LiveChannel::Trades => self.entry.live.trade_updates(),
        }
    }

    /// The best `limit` levels of the symbol's local book, when it is in sequence.
    pub fn live_book(&self, limit: usize) -> Option<crate::model::OrderBook> {
        self.entry.live.book(limit)
    }

    /// When the local book last changed (watches time their wake-up from it).
    pub fn live_book_changed_at(&self) -> Option<std::time::Instant> {
        self.entry.live.book_changed_at()
    }

    /// The last `limit` trades of the symbol's tape (oldest first), once it is whole.
    pub fn live_trades(&self, limit: usize) -> Option<Vec<crate::model::Trade>> {
        self.entry.live.trades(limit)
    }

    /// The trades of the symbol's tape after position `after`, oldest first, and the newest
    /// position, once the tape is whole: how a follower finds what is new whatever the venue's
    /// trade ids look like.
    pub fn live_trades_since(&self, after: u64) -> Option<(Vec<crate::model::Trade>, u64)> {
        self.entry.live.trades_since(after)
    }

    /// The tape's newest position, once it is whole.
    pub fn live_trades_position(&self) -> Option<u64> {
        self.entry.live.trades_position()
    }

    /// The ticker held now, fresh or stale, as a cache read would serve it.
    pub fn latest(&self) -> Option<Answer> {
        let now = self.directory.now_ms();
        match self
            .entry
            .state
            .lookup(&DataRequest::Ticker, &self.directory.policy, now, false)
        {
            Lookup::Fresh(held) => Some(self.answer(held.served(false, now))),
            Lookup::Stale(held) => Some(self.answer(held.served(true, now))),
            Lookup::Miss => None,
        }
    }

    /// The next ticker the symbol stores (the first call: the one held now, if any). A
    /// watcher slower than the updates skips to the newest; they never go back in time.
    pub async fn next(&mut self) -> Answer {
        if !self.started {
            self.started = true;
            // Updates before this point are in the state already.
            self.updates.borrow_and_update();
            if let Some(held) = self.latest() {
                return held;
            }
        }
        loop {
            // The sender lives in the entry this watch holds: it cannot close.
            if self.updates.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
            let update = self.updates.borrow_and_update().clone();
            if let Some(stamped) = update {
                let now = self.directory.now_ms();
                return self.answer(stamped.served_fresh(now));
            }
        }
    }

    fn answer(&self, served: Served<MarketData>) -> Answer {
        Answer::new(
            self.entry.exchange.clone(),
            self.entry.symbol.clone(),
            served,
            &DataRequest::Ticker,
        )
    }
}

impl Drop for TickerWatch {
    fn drop(&mut self) {
        // do_send: a release must not be lost to a full mailbox (it would pin the symbol).
        if self.reads_live {
            self.router.do_send(LiveWanted {
                exchange: self.entry.exchange.clone(),
                symbol: self.entry.symbol.clone(),
                wanted: false,
            });
        }
        self.router.do_send(Unwatch {
            exchange: self.entry.exchange.clone(),
            symbol: self.entry.symbol.clone(),
        });
    }
}
