//! The public websockets of OKX, Bybit, Kraken and Coinbase, each in the venue's own format, on
//! the venue's listener (Binance's streams are `crate::ws`):
//!
//! | venue | path | channels |
//! |---|---|---|
//! | OKX | `/ws/v5/public` | `tickers`, `books` (400 levels, `seqId`/`prevSeqId`, `checksum`), `books5`, `bbo-tbt`, `trades` |
//! | OKX | `/ws/v5/business` | `candle<bar>` (`candle1m`, `candle1H`, ..) |
//! | Kraken | `/v2` | `ticker`, `book` (depth 10..1000, `checksum`), `trade`, `ohlc`; `status`, `heartbeat` |
//! | Coinbase | `/` | `level2` (`l2_data`, 250 levels, `sequence_num` per connection), `ticker`, `market_trades`, `candles`, `heartbeats` |
//! | Bybit | `/v5/public/spot` | `tickers.S`, `orderbook.{1,50,200,1000}.S` (`u` = `seq`), `publicTrade.S`, `kline.<iv>.S` |
//!
//! The data is the venue's REST data at the same instant (same walk, same book, same tape).
//! * `topics`: topics, subscribers and the publisher (each update computed once per topic);
//! * `book`: book updates between walk steps and the checksums; `conn`: one connection;
//! * one module per venue (`okx`): its subscribe/unsubscribe/ping protocol and message formats;
//! * `control`: the faults and counters (`/__sim/ws/venue/*` and [`crate::SimHandle`]'s
//!   `ws_venue_*` methods).
//!
//! Connections are registered with the Binance hub (`SimState::ws`), so `/__sim/ws/drop`,
//! `/__sim/ws/refuse`, `/__sim/ws/shutdown` and `/__sim/ws/stats` cover them too.

pub mod book;
mod bybit;
mod coinbase;
mod conn;
pub mod control;
mod kraken;
mod okx;
pub mod topics;

use crate::market::candles::Candle;
use crate::market::trades::Trade;
use crate::market::{Market, Symbol};
use crate::state::SimState;
use crate::venue::Venue;
use axum::routing::get;
use axum::Router;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use topics::{BookEvent, Kind, Msg, Topic, TopicKey};

/// A venue's message formats (one implementation per venue).
pub trait Format: Sync {
    /// Whether a book topic sends updates (so a lost one or a bad checksum means something);
    /// false for channels that push the whole book every time (OKX `books5`, Bybit depth 1).
    fn incremental(&self, _key: &TopicKey) -> bool {
        true
    }
    fn book(&self, m: &Market, s: &Symbol, key: &TopicKey, ev: &BookEvent<'_>) -> Arc<Msg>;
    fn ticker(&self, m: &Market, s: &Symbol, key: &TopicKey, now: u64) -> Option<Arc<Msg>>;
    fn trades(
        &self,
        m: &Market,
        s: &Symbol,
        key: &TopicKey,
        trades: &[Trade],
        now: u64,
    ) -> Arc<Msg>;
    fn candle(&self, m: &Market, s: &Symbol, key: &TopicKey, c: &Candle, now: u64) -> Arc<Msg>;
    /// What a new subscriber to a ticker or trades topic gets first, if anything (Kraken and
    /// Coinbase send a snapshot: the ticker now, the last [`SNAPSHOT_TRADES`] trades up to
    /// `last_trade`, the topic's cursor, so that no trade comes twice or not at all).
    fn first(
        &self,
        _m: &Market,
        _s: &Symbol,
        _key: &TopicKey,
        _last_trade: u64,
        _now: u64,
    ) -> Option<Arc<Msg>> {
        None
    }
}

/// Trades in a subscription's snapshot (Kraken's and Coinbase's).
pub const SNAPSHOT_TRADES: u64 = 50;

/// The first message of a ticker or trades subscription, as [`Format::first`] answers for
/// venues whose snapshot is an update marked `snapshot` (the first `"type":"update"`).
fn first_as_snapshot(
    f: &dyn Format,
    m: &Market,
    s: &Symbol,
    key: &TopicKey,
    last_trade: u64,
    now: u64,
) -> Option<Arc<Msg>> {
    let msg = match key.kind {
        Kind::Ticker => f.ticker(m, s, key, now)?,
        Kind::Trades => {
            let from = (last_trade + 1).saturating_sub(SNAPSHOT_TRADES);
            let trades: Vec<Trade> = (from..=last_trade).map(|id| m.trade(s, id)).collect();
            f.trades(m, s, key, &trades, now)
        }
        Kind::Book | Kind::Candle(_) => return None,
    };
    let (update, snapshot) = (r#""type":"update""#, r#""type":"snapshot""#);
    let (head, tail) = match &msg.tail {
        Some(t) => (msg.head.clone(), Some(t.replacen(update, snapshot, 1))),
        None => (msg.head.replacen(update, snapshot, 1), None),
    };
    Some(Arc::new(Msg {
        head,
        tail,
        lost: false,
    }))
}

/// Counters tests read ([`crate::SimHandle::ws_venue_stats`], `GET /__sim/ws/venue/stats`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VenueWsStats {
    /// Book snapshots and updates made (an update is made once per topic, whatever the
    /// number of subscribers).
    pub snapshots: u64,
    pub updates: u64,
    /// Updates dropped by the skip fault, checksums corrupted by the corrupt fault.
    pub skipped: u64,
    pub corrupted: u64,
    /// Subscribe / unsubscribe requests accepted (one per channel and symbol), and refused.
    pub subscribed: u64,
    pub unsubscribed: u64,
    pub refused: u64,
    /// Application-level pings answered (OKX "ping", Bybit / Kraken ping ops).
    pub pings: u64,
    /// Faults armed and not yet applied (Binance-style symbols), and stalled `kind:SYMBOL`s.
    pub pending_skips: Vec<String>,
    pub pending_corrupts: Vec<String>,
    pub stalled: Vec<String>,
}

#[derive(Default)]
pub struct Counters {
    pub snapshots: AtomicU64,
    pub updates: AtomicU64,
    pub skipped: AtomicU64,
    pub corrupted: AtomicU64,
    pub subscribed: AtomicU64,
    pub unsubscribed: AtomicU64,
    pub refused: AtomicU64,
    pub pings: AtomicU64,
}

/// The venue websockets' shared state (`SimState::vws`).
pub struct VenueWs {
    venue: Venue,
    topics: Mutex<HashMap<TopicKey, Arc<Topic>>>,
    /// `kind:SYMBOL` (`book:BTCUSDT`) not published while stalled.
    stalled: Mutex<HashSet<String>>,
    /// Symbols whose next book update is lost / carries a wrong checksum.
    skip: Mutex<HashSet<String>>,
    corrupt: Mutex<HashSet<String>>,
    pub counters: Counters,
}

impl VenueWs {
    pub fn new(venue: Venue) -> VenueWs {
        VenueWs {
            venue,
            topics: Mutex::default(),
            stalled: Mutex::default(),
            skip: Mutex::default(),
            corrupt: Mutex::default(),
            counters: Counters::default(),
        }
    }

    pub fn format(&self) -> &'static dyn Format {
        match self.venue {
            Venue::Bybit => &bybit::Bybit,
            Venue::Kraken => &kraken::Kraken,
            Venue::Coinbase => &coinbase::Coinbase,
            // Binance has no venue websocket topics (its streams are `crate::ws`).
            Venue::Okx | Venue::Binance => &okx::PUBLIC,
        }
    }

    fn is_stalled(&self, kind: Kind, symbol: &str) -> bool {
        let stalled = self.stalled.lock().unwrap_or_else(PoisonError::into_inner);
        !stalled.is_empty() && stalled.contains(&format!("{}:{symbol}", kind.control_name()))
    }

    fn take_skip(&self, symbol: &str) -> bool {
        let taken = self
            .skip
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(symbol);
        if taken {
            self.counters.skipped.fetch_add(1, Ordering::Relaxed);
        }
        taken
    }

    fn take_corrupt(&self, symbol: &str) -> bool {
        let taken = self
            .corrupt
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(symbol);
        if taken {
            self.counters.corrupted.fetch_add(1, Ordering::Relaxed);
        }
        taken
    }

    pub fn stats(&self) -> VenueWsStats {
        let c = &self.counters;
        let sorted = |set: &Mutex<HashSet<String>>| {
            let mut v: Vec<String> = set
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .cloned()
                .collect();
            v.sort();
            v
        };
        VenueWsStats {
            snapshots: c.snapshots.load(Ordering::Relaxed),
            updates: c.updates.load(Ordering::Relaxed),
            skipped: c.skipped.load(Ordering::Relaxed),
            corrupted: c.corrupted.load(Ordering::Relaxed),
            subscribed: c.subscribed.load(Ordering::Relaxed),
            unsubscribed: c.unsubscribed.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            pings: c.pings.load(Ordering::Relaxed),
            pending_skips: sorted(&self.skip),
            pending_corrupts: sorted(&self.corrupt),
            stalled: sorted(&self.stalled),
        }
    }

    /// Faults off and counters zero; subscriptions stay.
    pub fn reset(&self) {
        for set in [&self.stalled, &self.skip, &self.corrupt] {
            set.lock().unwrap_or_else(PoisonError::into_inner).clear();
        }
        let c = &self.counters;
        for a in [
            &c.snapshots,
            &c.updates,
            &c.skipped,
            &c.corrupted,
            &c.subscribed,
            &c.unsubscribed,
            &c.refused,
            &c.pings,
        ] {
            a.store(0, Ordering::Relaxed);
        }
    }
}

/// The websocket path and the connection protocol of a venue (None: Binance, served by
/// `crate::ws`).
pub fn routes(venue: Venue) -> Router<Arc<SimState>> {
    let r = Router::new().merge(control::routes());
    let r = match path(venue) {
        Some(p) => r.route(p, get(conn::upgrade_venue)),
        None => r,
    };
    if venue == Venue::Okx {
        return r.route("/ws/v5/business", get(conn::upgrade_okx_business));
    }
    r
}

/// The websocket path of a venue.
pub fn path(venue: Venue) -> Option<&'static str> {
    match venue {
        Venue::Okx => Some("/ws/v5/public"),
        Venue::Bybit => Some("/v5/public/spot"),
        Venue::Kraken => Some("/v2"),
        Venue::Coinbase => Some("/"),
        _ => None,
    }
}

fn protocol(venue: Venue) -> Option<&'static dyn conn::Protocol> {
    match venue {
        Venue::Okx => Some(&okx::PUBLIC),
        Venue::Bybit => Some(&bybit::Bybit),
        Venue::Kraken => Some(&kraken::Kraken),
        Venue::Coinbase => Some(&coinbase::Coinbase),
        _ => None,
    }
}

/// Starts the publisher for a non-Binance venue.
pub fn spawn(st: Arc<SimState>) {
    topics::spawn(st);
}

#[cfg(test)]
mod tests;
