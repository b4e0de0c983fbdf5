//! The publisher without sockets: one book update per walk step with chained sequence numbers,
//! the true book after each, catching up after a stall, the skip fault losing exactly one
//! update, and topics dropped with their last subscriber.

use super::topics::{book_at, publish, Kind, Msg, Sub, TopicKey};
use crate::config::SimConfig;
use crate::state::{now_ms, SimState};
use crate::venue::Venue;
use crate::ws::streams::TimeUnit;
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::mpsc;

fn okx() -> SimState {
    SimState::new(SimConfig {
        venue: Venue::Okx,
        ..SimConfig::default()
    })
    .unwrap()
}

fn book_key() -> TopicKey {
    TopicKey {
        kind: Kind::Book,
        symbol: "BTCUSDT".into(),
        depth: 400,
    }
}

fn subscribe(st: &SimState, key: TopicKey) -> (u64, mpsc::Receiver<Arc<Msg>>) {
    let (tx, rx) = mpsc::channel(1000);
    let (unused, _) = mpsc::channel(1);
    let conn = st.ws.open(false, TimeUnit::Milli, now_ms(), unused);
    let id = conn.id;
    st.vws.attach(st, key, Sub { conn, tx });
    (id, rx)
}

/// (lost, prevSeqId, seqId) of each queued OKX books message.
fn drain(rx: &mut mpsc::Receiver<Arc<Msg>>) -> Vec<(bool, i64, i64)> {
    let mut out = Vec::new();
    while let Ok(m) = rx.try_recv() {
        let v: Value = serde_json::from_str(&m.head).unwrap();
        let d = &v["data"][0];
        out.push((
            m.lost,
            d["prevSeqId"].as_i64().unwrap(),
            d["seqId"].as_i64().unwrap(),
        ));
    }
    out
}

#[test]
fn one_update_per_step_chained_and_the_true_book_follows() {
    let st = okx();
    let (_, mut rx) = subscribe(&st, book_key());
    let snap = drain(&mut rx);
    assert_eq!(snap.len(), 1);
    let (_, prev, first) = snap[0];
    assert_eq!(prev, -1);
    let tick = st.config.tick_ms;
    let now = (first as u64 + 5) * tick;
    publish(&st, now);
    let ups = drain(&mut rx);
    assert_eq!(ups.len(), 5);
    let mut last = first;
    for (lost, prev, seq) in ups {
        assert!(!lost);
        assert_eq!((prev, seq), (last, last + 1));
        last = seq;
    }
    let m = st.market();
    let s = m.symbol("BTCUSDT").unwrap();
    assert_eq!(
        st.vws.true_book("BTCUSDT", None),
        Some(book_at(&m, s, last as u64, 400))
    );
    // Nothing new within the same step.
    assert_eq!(publish(&st, now + tick - 1), 0);
}

#[test]
fn a_skip_loses_one_update_and_a_stall_catches_up_in_one_after_many_steps() {
    let st = okx();
    let (_, mut rx) = subscribe(&st, book_key());
    let first = drain(&mut rx)[0].2 as u64;
    let tick = st.config.tick_ms;
    super::control::skip(&st, "BTC-USDT").unwrap();
    publish(&st, (first + 3) * tick);
    let lost: Vec<bool> = drain(&mut rx).iter().map(|u| u.0).collect();
    assert_eq!(lost, [true, false, false]);
    assert_eq!(st.vws.stats().skipped, 1);
    assert!(st.vws.stats().pending_skips.is_empty());

    super::control::stall(&st, "book", "BTCUSDT", true).unwrap();
    assert_eq!(publish(&st, (first + 200) * tick), 0);
    super::control::stall(&st, "book", "BTCUSDT", false).unwrap();
    publish(&st, (first + 200) * tick);
    assert_eq!(
        drain(&mut rx),
        [(false, first as i64 + 3, first as i64 + 200)]
    );
    assert!(super::control::stall(&st, "nope", "BTCUSDT", true).is_err());
    assert!(super::control::skip(&st, "NOPE").is_err());
}

#[test]
fn topics_go_with_their_last_subscriber_and_corrupt_needs_a_checksum() {
    let st = okx();
    let (a, _ra) = subscribe(&st, book_key());
    let (b, _rb) = subscribe(&st, book_key());
    assert_eq!(st.vws.stats().snapshots, 2);
    st.vws.detach(&book_key(), a);
    assert!(st.vws.true_book("BTCUSDT", None).is_some());
    st.vws.detach(&book_key(), b);
    assert!(st.vws.true_book("BTCUSDT", None).is_none());

    let bybit = SimState::new(SimConfig {
        venue: Venue::Bybit,
        ..SimConfig::default()
    })
    .unwrap();
    assert!(super::control::corrupt(&bybit, "BTCUSDT").is_err());
    assert!(super::control::corrupt(&st, "BTCUSDT").is_ok());
}
