//! Coinbase Advanced Trade's local books, tapes and tickers (SPEC.md 5.1) through the real
//! binary against the simulator's Coinbase websocket: a watched symbol's book is kept from
//! `level2` (its snapshot in the stream) and equals the book a Coinbase client holds; a
//! skipped `sequence_num` causes one resync (a resubscribe), the book right again within 2 s
//! and never crossed meanwhile; trades come from the tape in order with Coinbase's ids and no
//! REST call; the ticker comes from the stream. Coinbase's books carry no checksum.

mod common;

use common::venue_books::{Watched, BOOK_TICK_MS};
use crypto_market_sim::Venue;

#[tokio::test]
async fn a_watched_coinbase_book_is_true_and_a_sequence_gap_resyncs_once() {
    let w = Watched::start(Venue::Coinbase, 100, BOOK_TICK_MS).await;
    w.follows_the_book().await;
    w.sim.ws_venue_skip("BTCUSDT").expect("skip");
    w.one_resync_then_true(1.0, "sequence gap").await;
    assert_eq!(w.sim.ws_venue_stats().skipped, 1);
    w.heals_after_a_drop().await;
}

#[tokio::test]
async fn watched_coinbase_trades_and_ticker_come_from_the_stream() {
    let w = Watched::start(Venue::Coinbase, 100, 100).await;
    w.trades_and_ticker_stream("market/products/{product_id}/ticker")
        .await;
}
