//! OKX's local books, tapes and tickers (SPEC.md 5.1) through the real binary against the
//! simulator's OKX websocket: a watched symbol's book is kept from `books` (400 levels, its
//! snapshot in the stream, updates chained by `seqId`/`prevSeqId`, CRC32 checksums over the
//! strings as received) and equals the book an OKX client holds; a skipped update and a
//! corrupted checksum each cause one resync (a resubscribe), the book right again within 2 s
//! and never crossed meanwhile; trades come from the tape in order with OKX's ids and no REST
//! call; the ticker comes from the `tickers` channel.

mod common;

use common::venue_books::{Watched, BOOK_TICK_MS};
use crypto_market_sim::Venue;

#[tokio::test]
async fn a_watched_okx_book_is_true_and_a_gap_or_bad_checksum_resyncs_once() {
    let w = Watched::start(Venue::Okx, 100, BOOK_TICK_MS).await;
    w.follows_the_book().await;
    // An update goes missing: the next one's prevSeqId does not chain.
    w.sim.ws_venue_skip("BTCUSDT").expect("skip");
    w.one_resync_then_true(1.0, "sequence gap").await;
    assert_eq!(w.sim.ws_venue_stats().skipped, 1);
    w.sim.ws_venue_corrupt_checksum("BTCUSDT").expect("corrupt");
    w.one_resync_then_true(2.0, "checksum mismatch").await;
    assert_eq!(w.sim.ws_venue_stats().corrupted, 1);
    w.heals_after_a_drop().await;
}

#[tokio::test]
async fn watched_okx_trades_and_ticker_come_from_the_stream() {
    let w = Watched::start(Venue::Okx, 100, 100).await;
    w.trades_and_ticker_stream("market/trades").await;
}
