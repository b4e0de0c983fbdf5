//! The request log: every exchange API request in arrival order, with when and how it was answered.
//!
//! Tests use it to check what an engine asked the exchange for (which symbols went into one
//! batched call, whether calls overlapped); benchmarks leave it on, so recording is one short
//! mutex hold per event and the log is bounded.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// Entries kept; older ones are dropped first, so a long benchmark's memory stays bounded
/// (≈ 20 MB at this size).
pub const MAX_REQUESTS: usize = 100_000;

/// One exchange API request as the simulator saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Arrival order, from 0; restarts at 0 when the log is reset.
    pub seq: u64,
    /// The endpoint name, as in the call counters: Binance's path after /api/v3/ ("ticker/24hr"),
    /// another venue's path after its REST base (see the `venues` module); unknown paths too.
    pub endpoint: String,
    /// The query string, percent-decoded (`symbols=["BTCUSDT","ETHUSDT"]`); "" if none.
    pub query: String,
    /// Ids named by `symbol` or `symbols`, in request order, whether or not they exist.
    pub symbols: Vec<String>,
    /// Microseconds since the simulator started (monotonic clock), on arrival.
    pub received_us: u64,
    /// When the response left the handler (after injected latency), on the same clock; None
    /// while in flight, or if the client hung up before the answer.
    pub answered_us: Option<u64>,
    /// HTTP status answered; None while `answered_us` is.
    pub status: Option<u16>,
}

/// Identifies a recorded request so its answer can be filled in. The epoch keeps a request that
/// was in flight across a reset from overwriting a newer entry with the same seq.
#[derive(Clone, Copy, Debug)]
pub struct Ticket {
    epoch: u64,
    seq: u64,
}

#[derive(Default)]
struct Inner {
    epoch: u64,
    next_seq: u64,
    /// Consecutive seqs, oldest first: entry `i` has seq `front.seq + i`.
    entries: VecDeque<RequestRecord>,
}

pub struct RequestLog {
    started: Instant,
    capacity: usize,
    inner: Mutex<Inner>,
}

impl RequestLog {
    pub fn new(capacity: usize) -> Self {
        RequestLog {
            started: Instant::now(),
            capacity: capacity.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The instant `received_us` and `answered_us` count from.
    pub fn started(&self) -> Instant {
        self.started
    }

    fn now_us(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Records an arrival. The record is built before locking, so the lock covers a push.
    pub fn record(&self, endpoint: &str, query: String, symbols: Vec<String>) -> Ticket {
        let mut rec = RequestRecord {
            seq: 0,
            endpoint: endpoint.to_string(),
            query,
            symbols,
            received_us: self.now_us(),
            answered_us: None,
            status: None,
        };
        let mut g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        rec.seq = g.next_seq;
        g.next_seq += 1;
        if g.entries.len() >= self.capacity {
            g.entries.pop_front();
        }
        g.entries.push_back(rec);
        Ticket {
            epoch: g.epoch,
            seq: g.next_seq - 1,
        }
    }

    /// Fills in the answer; a no-op if the entry was reset or has been dropped since.
    pub fn answer(&self, t: Ticket, status: u16) {
        let now = self.now_us();
        let mut g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if g.epoch != t.epoch {
            return;
        }
        let Some(front) = g.entries.front().map(|r| r.seq) else {
            return;
        };
        let Some(idx) = t.seq.checked_sub(front) else {
            return;
        };
        if let Some(r) = usize::try_from(idx).ok().and_then(|i| g.entries.get_mut(i)) {
            r.answered_us = Some(now);
            r.status = Some(status);
        }
    }

    /// Entries oldest first, optionally only those for one endpoint.
    pub fn snapshot(&self, endpoint: Option<&str>) -> Vec<RequestRecord> {
        let g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        g.entries
            .iter()
            .filter(|r| endpoint.is_none_or(|e| r.endpoint == e))
            .cloned()
            .collect()
    }

    pub fn reset(&self) {
        let mut g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        g.epoch += 1;
        g.next_seq = 0;
        g.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_in_order_and_fills_answers() {
        let log = RequestLog::new(10);
        let a = log.record("ping", String::new(), vec![]);
        let b = log.record("depth", "symbol=BTCUSDT".into(), vec!["BTCUSDT".into()]);
        let open = log.snapshot(None);
        assert_eq!(open.len(), 2);
        assert_eq!((open[0].seq, open[1].seq), (0, 1));
        assert_eq!((open[1].answered_us, open[1].status), (None, None));
        log.answer(b, 200);
        log.answer(a, 503);
        let done = log.snapshot(None);
        assert_eq!(done[0].status, Some(503));
        assert_eq!(done[1].status, Some(200));
        assert!(done.iter().all(|r| r.answered_us >= Some(r.received_us)));
        assert!(done[0].received_us <= done[1].received_us);
        let depth = log.snapshot(Some("depth"));
        assert_eq!(depth.len(), 1);
        assert_eq!(depth[0].symbols, ["BTCUSDT"]);
    }

    #[test]
    fn keeps_the_most_recent_entries() {
        let log = RequestLog::new(3);
        let tickets: Vec<Ticket> = (0..5)
            .map(|_| log.record("time", String::new(), vec![]))
            .collect();
        let seqs: Vec<u64> = log.snapshot(None).iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [2, 3, 4]);
        log.answer(tickets[0], 200); // dropped: ignored
        log.answer(tickets[3], 200);
        let s = log.snapshot(None);
        assert_eq!(
            s.iter().map(|r| r.status).collect::<Vec<_>>(),
            [None, Some(200), None]
        );
    }

    #[test]
    fn the_simulator_bound_drops_the_oldest() {
        let log = RequestLog::new(MAX_REQUESTS);
        for _ in 0..=MAX_REQUESTS {
            log.record("ping", String::new(), Vec::new());
        }
        let s = log.snapshot(None);
        assert_eq!(s.len(), MAX_REQUESTS);
        assert_eq!(
            (s[0].seq, s[MAX_REQUESTS - 1].seq),
            (1, MAX_REQUESTS as u64)
        );
    }

    #[test]
    fn reset_restarts_seq_and_ignores_stale_answers() {
        let log = RequestLog::new(10);
        let old = log.record("ping", String::new(), vec![]);
        log.reset();
        assert!(log.snapshot(None).is_empty());
        log.record("time", String::new(), vec![]);
        log.answer(old, 500); // same seq 0, previous epoch
        let s = log.snapshot(None);
        assert_eq!(
            (s[0].seq, s[0].endpoint.as_str(), s[0].status),
            (0, "time", None)
        );
    }

    #[test]
    fn serialises_unanswered_as_null() {
        let log = RequestLog::new(1);
        log.record("ping", String::new(), vec![]);
        let v = serde_json::to_value(&log.snapshot(None)[0]).unwrap();
        assert!(v["answered_us"].is_null() && v["status"].is_null());
        assert_eq!(v["seq"], 0);
    }
}
