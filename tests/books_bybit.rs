//! Bybit's local books, tapes and tickers (SPEC.md 5.1) through the real binary against the
//! simulator's Bybit spot websocket: a watched symbol's book is kept from `orderbook.50` (its
//! snapshot in the stream, then deltas with consecutive `u`) and equals the book a Bybit
//! client holds; a skipped update causes one resync (a resubscribe; Bybit's books carry no
//! checksum), the book right again within 2 s and never crossed meanwhile; trades come from
//! the tape in order with Bybit's ids and no REST call; the ticker comes from `tickers`.

mod common;

use common::venue_books::{Watched, BOOK_TICK_MS};
use crypto_market_sim::Venue;

#[tokio::test]
async fn a_watched_bybit_book_is_true_and_a_gap_resyncs_once() {
    let w = Watched::start(Venue::Bybit, 50, BOOK_TICK_MS).await;
    w.follows_the_book().await;
    w.sim.ws_venue_skip("BTCUSDT").expect("skip");
    w.one_resync_then_true(1.0, "sequence gap").await;
    assert_eq!(w.sim.ws_venue_stats().skipped, 1);
    w.heals_after_a_drop().await;
}

#[tokio::test]
async fn watched_bybit_trades_and_ticker_come_from_the_stream() {
    let w = Watched::start(Venue::Bybit, 50, 100).await;
    w.trades_and_ticker_stream_of("market/recent-trade", 50)
        .await;
}
