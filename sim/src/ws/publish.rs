//! The publishers: one task per stream group ([`Group`]) wakes at the group's interval,
//! computes each subscribed topic's payload once from the current market version and hands the
//! frame to the topic's subscribers. Connections never compute payloads, so the cost grows with
//! the number of distinct streams, not with connections × streams.

use super::hub::{Frame, Topic};
use super::payload;
use super::streams::{Group, Kind, Now};
use crate::market::Market;
use crate::state::{now_us, SimState};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, PoisonError};
use std::time::Duration;
use tokio::time::{sleep_until, Instant};

/// How often trade streams look for new trades on the tape. Trades are 20–400 ms apart per
/// symbol, so 50 ms keeps them close to "as they happen" for little work.
pub const TRADE_POLL_MS: u64 = 50;
/// Trades sent per stream and update at most (after a stall or a long pause, older ones are
/// skipped rather than sent in a burst).
const MAX_TRADES_PER_UPDATE: u64 = 1000;

/// Update intervals of the periodic streams; changeable at runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WsIntervals {
    /// `@ticker` and `@miniTicker`.
    pub ticker_ms: u64,
    /// `@bookTicker`: checked this often, sent when the book changed.
    pub book_ticker_ms: u64,
    /// `@kline_<interval>` (`kline_1s`: at most 1000).
    pub kline_ms: u64,
}

impl WsIntervals {
    pub const MIN_MS: u64 = 10;
    pub const MAX_MS: u64 = 3_600_000;

    /// Every interval within [`Self::MIN_MS`]..=[`Self::MAX_MS`] (a 0 ms timer would spin).
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            ("ticker_ms", self.ticker_ms),
            ("book_ticker_ms", self.book_ticker_ms),
            ("kline_ms", self.kline_ms),
        ] {
            if !(Self::MIN_MS..=Self::MAX_MS).contains(&v) {
                return Err(format!(
                    "{name} must be within {}..={} ms, got {v}",
                    Self::MIN_MS,
                    Self::MAX_MS
                ));
            }
        }
        Ok(())
    }

    pub fn period(&self, g: Group) -> Duration {
        Duration::from_millis(match g {
            Group::Ticker => self.ticker_ms,
            Group::BookTicker => self.book_ticker_ms,
            Group::Kline => self.kline_ms,
            Group::Kline1s => self.kline_ms.min(1000),
            Group::Trade => TRADE_POLL_MS,
            Group::MarkPrice => 1000,
            Group::Depth => 100,
            Group::Depth1s => 1000,
        })
    }
}

/// Starts the publishers on the current runtime; they run until it shuts down.
pub fn spawn(st: Arc<SimState>) {
    for g in Group::ALL {
        tokio::spawn(run(st.clone(), g));
    }
}

async fn run(st: Arc<SimState>, group: Group) {
    let mut intervals = st.ws.watch_intervals();
    let mut next = Instant::now();
    loop {
        let period = intervals.borrow_and_update().period(group);
        next += period;
        let now = Instant::now();
        if next + period < now {
            // Fell behind (a loaded machine): skip the missed updates instead of bursting them.
            next = now;
        }
        tokio::select! {
            _ = sleep_until(next) => {}
            changed = intervals.changed() => {
                if changed.is_err() {
                    return;
                }
                // A new interval applies from now (a change from 60 s to 100 ms is not stuck
                // behind the old timer).
                tracing::info!(?group, interval = ?st.ws.intervals().period(group), "ws update interval changed");
                next = Instant::now();
                continue;
            }
        }
        publish(&st, group, Now::from_us(now_us()));
    }
}

/// One update of every topic in `group`; returns the number of frames produced.
pub fn publish(st: &SimState, group: Group, now: Now) -> usize {
    let topics = st.ws.topics(group);
    if topics.is_empty() {
        return 0;
    }
    let market = st.market();
    let stalled = st.ws.stalled();
    let mut frames = 0;
    for t in topics {
        if !t.has_subscribers() {
            continue;
        }
        let is_stalled = !stalled.is_empty() && stalled.contains(&*t.name);
        let produced = match (t.spec.kind, st.derivs.as_deref()) {
            (Kind::MarkPrice(every_second) | Kind::MarkPriceAll(every_second), Some(d)) => {
                mark_price(d, &t, now, is_stalled, every_second)
            }
            (Kind::MarkPrice(_) | Kind::MarkPriceAll(_), None) => Vec::new(),
            (Kind::Depth(_), _) => super::depth::produce(&market, &st.ws, &t, now, is_stalled)
                .into_iter()
                .collect(),
            _ => produce(&market, &t, now, is_stalled),
        };
        for data in produced {
            frames += 1;
            t.deliver(Arc::new(Frame::new(t.name.clone(), data)));
        }
    }
    frames
}

/// A mark price stream's event, every second (`@markPrice@1s`) or every third second.
fn mark_price(
    d: &crate::market::derivatives::Derivatives,
    t: &Topic,
    now: Now,
    stalled: bool,
    every_second: bool,
) -> Vec<String> {
    if stalled || (!every_second && !(now.ms / 1000).is_multiple_of(3)) {
        return Vec::new();
    }
    if let Kind::MarkPriceAll(_) = t.spec.kind {
        return vec![super::mark_price::all(d, now, t.unit)];
    }
    let Some(s) = d.last.symbol(&t.spec.symbol) else {
        return Vec::new();
    };
    vec![super::mark_price::event(d, s, now, t.unit)]
}

/// The payloads `t` sends now: none for an unknown symbol (as Binance) or a stalled stream,
/// several for a trade stream with several new trades.
fn produce(m: &Market, t: &Topic, now: Now, stalled: bool) -> Vec<String> {
    let Some(s) = m.symbol(&t.spec.symbol) else {
        return Vec::new();
    };
    let unit = t.unit;
    match t.spec.kind {
        Kind::Ticker | Kind::MiniTicker | Kind::BookTicker if stalled => Vec::new(),
        Kind::Ticker => vec![payload::ticker(m, s, now, unit)],
        Kind::MiniTicker => vec![payload::mini_ticker(m, s, now, unit)],
        Kind::BookTicker => {
            // Like Binance's, the stream sends a book when it changed: not twice per walk step.
            let (text, update_id) = payload::book_ticker(m, s, now);
            let mut cur = t.cursor.lock().unwrap_or_else(PoisonError::into_inner);
            if cur.book_update == Some(update_id) {
                return Vec::new();
            }
            cur.book_update = Some(update_id);
            vec![text]
        }
        Kind::Trade | Kind::AggTrade => {
            let last = m.last_trade_id(s, now.ms);
            let mut cur = t.cursor.lock().unwrap_or_else(PoisonError::into_inner);
            // A new topic starts with the trades after its creation.
            let sent = cur
                .last_trade
                .unwrap_or_else(|| m.last_trade_id(s, t.created_ms));
            cur.last_trade = Some(last.max(sent));
            drop(cur);
            if stalled || last <= sent {
                return Vec::new();
            }
            let from = (sent + 1).max((last + 1).saturating_sub(MAX_TRADES_PER_UPDATE));
            (from..=last)
                .map(|id| {
                    let tr = m.trade(s, id);
                    if t.spec.kind == Kind::Trade {
                        payload::trade(s, &tr, now, unit)
                    } else {
                        payload::agg_trade(s, &tr, now, unit)
                    }
                })
                .collect()
        }
        // Served by `depth::produce` (it needs the hub's skips).
        Kind::Depth(_) => Vec::new(),
        // Served from the contracts by `mark_price`.
        Kind::MarkPrice(_) | Kind::MarkPriceAll(_) => Vec::new(),
        Kind::Kline(iv, label) => {
            let open = iv.align(now.ms);
            let prev = t
                .cursor
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .kline_open
                .replace(open);
            if stalled {
                return Vec::new();
            }
            let mut out = Vec::with_capacity(2);
            if let Some(p) = prev.filter(|&p| p < open) {
                // The candle that just closed, final (`x: true`), as Binance sends it.
                out.push(payload::kline(m, s, (iv, label), p, now, unit));
            }
            out.push(payload::kline(m, s, (iv, label), open, now, unit));
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimConfig;
    use crate::ws::streams::{parse, TimeUnit};
    use serde_json::Value;
    use tokio::sync::mpsc;

    const T0: u64 = 1_725_817_008_719;

    fn at(ms: u64) -> Now {
        Now::from_us(ms * 1000)
    }

    fn setup(streams: &[&str]) -> (SimState, mpsc::Receiver<Arc<Frame>>) {
        let st = SimState::new(SimConfig::default()).unwrap();
        let (tx, rx) = mpsc::channel(10_000);
        let c = st.ws.open(false, TimeUnit::Milli, T0, tx);
        let specs = streams.iter().map(|n| parse(n).unwrap()).collect();
        let new = c.add_subscriptions(specs).unwrap();
        st.ws.attach(&c, new, T0);
        (st, rx)
    }

    fn drain(rx: &mut mpsc::Receiver<Arc<Frame>>) -> Vec<Value> {
        let mut out = Vec::new();
        while let Ok(f) = rx.try_recv() {
            out.push(serde_json::from_str(f.text(false).as_str()).unwrap());
        }
        out
    }

    #[test]
    fn trades_are_sent_once_in_order() {
        let (st, mut rx) = setup(&["btcusdt@trade"]);
        let mut ids = Vec::new();
        for i in 1..=20 {
            publish(&st, Group::Trade, at(T0 + i * 50));
            ids.extend(drain(&mut rx).iter().map(|v| v["t"].as_u64().unwrap()));
        }
        let m = st.market();
        let s = m.symbol("BTCUSDT").unwrap();
        let expected: Vec<u64> =
            (m.last_trade_id(s, T0) + 1..=m.last_trade_id(s, T0 + 1000)).collect();
        assert_eq!(ids, expected);
    }

    #[test]
    fn kline_sends_the_closed_candle_once() {
        let (st, mut rx) = setup(&["ethusdt@kline_1m"]);
        let open = T0 / 60_000 * 60_000;
        publish(&st, Group::Kline, at(open + 59_000));
        let first = drain(&mut rx);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0]["k"]["x"], false);
        publish(&st, Group::Kline, at(open + 61_000));
        let next = drain(&mut rx);
        assert_eq!(next.len(), 2);
        assert_eq!(
            (next[0]["k"]["t"].as_u64(), next[0]["k"]["x"].as_bool()),
            (Some(open), Some(true))
        );
        assert_eq!(
            (next[1]["k"]["t"].as_u64(), next[1]["k"]["x"].as_bool()),
            (Some(open + 60_000), Some(false))
        );
    }

    #[test]
    fn stalled_and_unknown_streams_send_nothing() {
        let (st, mut rx) = setup(&["btcusdt@ticker", "ethusdt@ticker", "nopeusdt@ticker"]);
        st.ws.stall("btcusdt@ticker");
        assert_eq!(publish(&st, Group::Ticker, at(T0)), 1);
        let got = drain(&mut rx);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0]["s"], "ETHUSDT");
        st.ws.unstall("btcusdt@ticker");
        assert_eq!(publish(&st, Group::Ticker, at(T0 + 1000)), 2);
    }

    #[test]
    fn book_ticker_is_sent_once_per_book() {
        let (st, mut rx) = setup(&["btcusdt@bookTicker"]);
        publish(&st, Group::BookTicker, at(T0));
        publish(&st, Group::BookTicker, at(T0 + 1)); // same walk step (100 ms)
        let step = T0 / 100 * 100;
        publish(&st, Group::BookTicker, at(step + 100));
        let got = drain(&mut rx);
        let ids: Vec<u64> = got.iter().map(|v| v["u"].as_u64().unwrap()).collect();
        assert_eq!(ids, [T0 / 100, T0 / 100 + 1]);
    }

    #[test]
    fn interval_validation() {
        let ok = WsIntervals {
            ticker_ms: 1000,
            book_ticker_ms: 100,
            kline_ms: 2000,
        };
        assert!(ok.validate().is_ok());
        assert_eq!(ok.period(Group::Kline1s), Duration::from_millis(1000));
        assert!(WsIntervals { ticker_ms: 0, ..ok }.validate().is_err());
        assert!(WsIntervals {
            kline_ms: 3_600_001,
            ..ok
        }
        .validate()
        .is_err());
    }
}
