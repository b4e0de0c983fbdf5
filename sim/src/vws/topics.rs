//! Topics of the venues' websockets (one per channel, symbol and depth), the connections
//! subscribed to each, and the publisher that computes each topic's update once and hands the
//! same message to every subscriber (as the Binance hub does, `crate::ws::hub`).
//!
//! A book topic keeps the book it last published ([`TopicState::book`], the true book the
//! clients should hold) and the walk step it belongs to, which is also its sequence number: the
//! publisher sends one update per walk step (catching up step by step after a slow tick), so
//! OKX's `prevSeqId` links and Bybit's `u` count up by one, except where a fault says otherwise.

use super::book::{diff, Diff};
use super::VenueWs;
use crate::market::book::Book;
use crate::market::interval::Interval;
use crate::market::{Market, Symbol};
use crate::state::{now_ms, SimState};
use crate::ws::hub::{Command, Conn};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::mpsc;

/// After a stall longer than this many walk steps, the missed steps go out as one update.
const MAX_CATCH_UP_STEPS: u64 = 50;
/// Trades per topic and update at most (older ones are skipped after a long pause).
const MAX_TRADES: u64 = 1000;
/// Candles and tickers are re-sent at least this often even when nothing changed.
const CANDLE_EVERY_MS: u64 = 1000;

/// One outgoing message. Coinbase numbers every message of a connection (`sequence_num`), so
/// its messages are `head` + the connection's next number + `tail`; the others are `head` only.
/// A `lost` message is never sent: it only consumes its sequence number (a skipped update).
#[derive(Debug, Default)]
pub struct Msg {
    pub head: String,
    pub tail: Option<String>,
    pub lost: bool,
}

impl Msg {
    pub fn text(head: String) -> Arc<Msg> {
        Arc::new(Msg {
            head,
            ..Msg::default()
        })
    }
}

/// What a topic streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Ticker,
    Book,
    Trades,
    Candle(Interval),
}

impl Kind {
    /// The name the stall controls use: `ticker`, `book`, `trades`, `candle`.
    pub fn control_name(&self) -> &'static str {
        match self {
            Kind::Ticker => "ticker",
            Kind::Book => "book",
            Kind::Trades => "trades",
            Kind::Candle(_) => "candle",
        }
    }
}

/// A topic: `symbol` is the simulator's (Binance-style) name, `depth` only matters for books.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TopicKey {
    pub kind: Kind,
    pub symbol: String,
    pub depth: usize,
}

/// A subscriber: the connection (to close it when it cannot keep up) and its queue.
pub struct Sub {
    pub conn: Arc<Conn>,
    pub tx: mpsc::Sender<Arc<Msg>>,
}

/// Queues `msg` for `sub`; a full queue means the client does not read: it is closed.
pub fn send(sub: &Sub, msg: Arc<Msg>) {
    if let Err(mpsc::error::TrySendError::Full(_)) = sub.tx.try_send(msg) {
        sub.conn.command(Command::Close {
            code: 1008,
            reason: "client too slow",
        });
    }
}

/// Where a topic's last update left off.
#[derive(Default)]
pub struct TopicState {
    /// Walk step of the last update (books: also its sequence number).
    pub step: u64,
    /// Books: the book after the last update, at most `depth` levels a side.
    pub book: Option<Book>,
    /// Trades: the last trade id sent.
    pub last_trade: Option<u64>,
    /// Candles and tickers: when the last one was sent, and the candle's open time.
    pub last_sent_ms: u64,
    pub candle_open: Option<u64>,
}

pub struct Topic {
    pub key: TopicKey,
    pub subs: Mutex<Vec<Sub>>,
    pub state: Mutex<TopicState>,
}

impl Topic {
    fn deliver(&self, msg: &Arc<Msg>) {
        for s in self
            .subs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            send(s, msg.clone());
        }
    }
}

impl VenueWs {
    /// Subscribes a connection to `key`. A book topic sends the new subscriber a snapshot of the
    /// book its other subscribers hold, under the topic's lock so that no update slips between.
    pub fn attach(&self, st: &SimState, key: TopicKey, sub: Sub) {
        let m = st.market();
        let Some(s) = m.symbol(&key.symbol) else {
            return;
        };
        let topic = self
            .topics
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.clone())
            .or_insert_with(|| {
                Arc::new(Topic {
                    key: key.clone(),
                    subs: Mutex::default(),
                    state: Mutex::default(),
                })
            })
            .clone();
        let mut state = topic.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = now_ms();
        if state.step == 0 {
            state.step = m.walk().step_at(now);
            state.last_trade = Some(m.last_trade_id(s, now));
        }
        if key.kind == Kind::Book {
            let step = state.step;
            let book = state
                .book
                .get_or_insert_with(|| book_at(&m, s, step, key.depth))
                .clone();
            let msg = self
                .format()
                .book(&m, s, &key, &BookEvent::snapshot(&book, now));
            self.counters.snapshots.fetch_add(1, Ordering::Relaxed);
            send(&sub, msg);
        } else {
            let last_trade = state.last_trade.unwrap_or_default();
            if let Some(msg) = self.format().first(&m, s, &key, last_trade, now) {
                send(&sub, msg);
            }
        }
        topic
            .subs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(sub);
    }

    /// Unsubscribes connection `conn_id` from `key`; a topic nobody listens to is dropped.
    pub fn detach(&self, key: &TopicKey, conn_id: u64) {
        let mut topics = self.topics.lock().unwrap_or_else(PoisonError::into_inner);
        let empty = topics.get(key).is_some_and(|t| {
            let mut subs = t.subs.lock().unwrap_or_else(PoisonError::into_inner);
            subs.retain(|s| s.conn.id != conn_id);
            subs.is_empty()
        });
        if empty {
            topics.remove(key);
        }
    }

    /// The book of `symbol` at the last update sent (the deepest subscribed book if several
    /// depths are), as (walk step = sequence, book).
    pub fn true_book(&self, symbol: &str, depth: Option<usize>) -> Option<Book> {
        let topics = self.topics.lock().unwrap_or_else(PoisonError::into_inner);
        topics
            .values()
            .filter(|t| {
                t.key.kind == Kind::Book
                    && t.key.symbol == symbol
                    && depth.is_none_or(|d| d == t.key.depth)
            })
            .max_by_key(|t| t.key.depth)
            .and_then(|t| {
                t.state
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .book
                    .clone()
            })
    }

    fn snapshot_topics(&self) -> Vec<Arc<Topic>> {
        self.topics
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }
}

/// The book at `step`, `depth` levels a side, its id the step.
pub fn book_at(m: &Market, s: &Symbol, step: u64, depth: usize) -> Book {
    m.book(s, step * m.walk().tick_ms(), depth)
}

/// A book message to format: a snapshot, or an update (the levels that changed).
pub struct BookEvent<'a> {
    pub snapshot: bool,
    pub bids: &'a [(u64, u64)],
    pub asks: &'a [(u64, u64)],
    /// The book after this message (checksums are computed over it).
    pub book: &'a Book,
    /// This message's sequence number (the walk step) and the previous one's (None: snapshot).
    pub seq: u64,
    pub prev_seq: Option<u64>,
    /// Send a wrong checksum (a fault).
    pub corrupt: bool,
    pub ts_ms: u64,
}

impl<'a> BookEvent<'a> {
    pub fn snapshot(book: &'a Book, ts_ms: u64) -> BookEvent<'a> {
        BookEvent {
            snapshot: true,
            bids: &book.bids,
            asks: &book.asks,
            book,
            seq: book.last_update_id,
            prev_seq: None,
            corrupt: false,
            ts_ms,
        }
    }
}

/// Starts the venue's publisher on the current runtime.
pub fn spawn(st: Arc<SimState>) {
    tokio::spawn(async move {
        // Twice per walk step at least, so updates follow the walk closely.
        let period = Duration::from_millis((st.config.tick_ms / 2).clamp(10, 50));
        let mut timer = tokio::time::interval(period);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            timer.tick().await;
            publish(&st, now_ms());
        }
    });
}

/// One round: every topic sends what changed since its last update. Returns messages made.
pub fn publish(st: &SimState, now: u64) -> usize {
    let v = &st.vws;
    let topics = v.snapshot_topics();
    if topics.is_empty() {
        return 0;
    }
    let m = st.market();
    let mut n = 0;
    for t in topics {
        let Some(s) = m.symbol(&t.key.symbol) else {
            continue;
        };
        if v.is_stalled(t.key.kind, &t.key.symbol) {
            continue;
        }
        let mut state = t.state.lock().unwrap_or_else(PoisonError::into_inner);
        let msgs = match t.key.kind {
            Kind::Book => book_updates(v, &m, s, &t.key, &mut state, now),
            Kind::Ticker => {
                let step = m.walk().step_at(now);
                if step == state.step && now < state.last_sent_ms + CANDLE_EVERY_MS {
                    Vec::new()
                } else {
                    state.step = step;
                    state.last_sent_ms = now;
                    v.format().ticker(&m, s, &t.key, now).into_iter().collect()
                }
            }
            Kind::Trades => {
                let last = m.last_trade_id(s, now);
                let sent = state.last_trade.unwrap_or(last);
                state.last_trade = Some(last.max(sent));
                if last <= sent {
                    Vec::new()
                } else {
                    let from = (sent + 1).max((last + 1).saturating_sub(MAX_TRADES));
                    let trades: Vec<_> = (from..=last).map(|id| m.trade(s, id)).collect();
                    vec![v.format().trades(&m, s, &t.key, &trades, now)]
                }
            }
            Kind::Candle(iv) => {
                let open = iv.align(now);
                let prev = state.candle_open.replace(open);
                let mut out = Vec::new();
                if let Some(p) = prev.filter(|&p| p < open) {
                    // The candle that just closed, once more with its final values.
                    out.push(
                        v.format()
                            .candle(&m, s, &t.key, &m.candle(s, iv, p, now), now),
                    );
                }
                if prev != Some(open) || now >= state.last_sent_ms + CANDLE_EVERY_MS {
                    state.last_sent_ms = now;
                    out.push(
                        v.format()
                            .candle(&m, s, &t.key, &m.candle(s, iv, open, now), now),
                    );
                }
                out
            }
        };
        for msg in msgs {
            n += 1;
            t.deliver(&msg);
        }
    }
    n
}

/// The updates of a book topic from its last step to now, one per walk step.
fn book_updates(
    v: &VenueWs,
    m: &Market,
    s: &Symbol,
    key: &TopicKey,
    state: &mut crate::vws::topics::TopicState,
    now: u64,
) -> Vec<Arc<Msg>> {
    let cur = m.walk().step_at(now);
    let Some(mut book) = state.book.take() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut step = state.step;
    while step < cur {
        let next = if cur - step > MAX_CATCH_UP_STEPS {
            cur
        } else {
            step + 1
        };
        let new = book_at(m, s, next, key.depth);
        let (bids, asks): Diff = diff(&book, &new);
        // Faults go to the incremental channel of the symbol, not to a whole-book one.
        let incremental = v.format().incremental(key);
        let lost = incremental && v.take_skip(&key.symbol);
        let corrupt = incremental && !lost && v.take_corrupt(&key.symbol);
        let ev = BookEvent {
            snapshot: false,
            bids: &bids,
            asks: &asks,
            book: &new,
            seq: next,
            prev_seq: Some(step),
            corrupt,
            ts_ms: now,
        };
        let mut msg = v.format().book(m, s, key, &ev);
        if lost {
            if let Some(msg) = Arc::get_mut(&mut msg) {
                msg.lost = true;
            }
        }
        v.counters.updates.fetch_add(1, Ordering::Relaxed);
        out.push(msg);
        book = new;
        step = next;
    }
    state.step = step;
    state.book = Some(book);
    out
}
