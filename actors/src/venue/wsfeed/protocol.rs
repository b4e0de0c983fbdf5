//! What differs between venues' websockets, behind one trait: where to connect, what a stream
//! is called, how to (un)subscribe, the venue's own ping, and how to read a frame. Everything
//! else (connections, pacing, reconnects, stalls, make-before-break) is the shared machinery
//! of [`super::WsFeed`], the same for every venue.

use std::sync::Arc;
use std::time::Duration;

use crate::model::MarketData;
use crate::venue::{LiveData, StreamKey};

/// One venue's websocket dialect.
pub trait Protocol: Send + Sync + 'static {
    /// The URL a connection opens, from the configured endpoint (`FeedOptions::url`).
    fn url(&self, base: &str) -> String;

    /// The venue's names of the streams carrying `key` (empty: this feed does not carry it).
    /// Names are unique per feed; each maps to one unified symbol.
    fn stream_names(&self, key: &StreamKey) -> Vec<String>;

    /// Whether `name` is a book stream (resubscribed to get a new in-stream snapshot).
    fn is_book(&self, name: &str) -> bool;

    /// Stream names one control message carries at most.
    fn names_per_message(&self) -> usize {
        200
    }

    /// The control messages subscribing (or unsubscribing) `names`, each with the request id
    /// it carries (taken from `next_id`) when the venue acknowledges by id.
    fn control(
        &self,
        subscribe: bool,
        names: &[String],
        next_id: &mut u64,
    ) -> Vec<(Option<u64>, String)>;

    /// The venue's application-level ping, where it wants one besides websocket pings.
    fn ping(&self, _id: u64) -> Option<String> {
        None
    }

    /// How often [`Protocol::ping`] goes out.
    fn ping_every(&self) -> Duration {
        Duration::from_secs(20)
    }

    /// Reads one text frame, telling `out` what it carries.
    fn read(&self, text: &str, out: &mut dyn Reader);
}

/// What a connection does with what a frame carries ([`Protocol::read`]).
pub trait Reader {
    /// The unified symbol of `stream` if this connection carries it (noting that it
    /// delivered); `None`: not carried (unsubscribed a moment ago), drop what it brought.
    fn stream(&mut self, stream: &str) -> Option<Arc<str>>;
    /// A ticker (or funding) update with the exchange's event time.
    fn market(&mut self, symbol: Arc<str>, stream: &str, update: Result<(MarketData, i64), String>);
    /// A book, trade or candle event, with the exchange's time where the event has one.
    fn live(
        &mut self,
        symbol: Arc<str>,
        stream: &str,
        update: Result<(LiveData, Option<i64>), String>,
    );
    /// A control message was accepted (`None`: the venue names no request: all were).
    fn ack(&mut self, id: Option<u64>);
    /// A control message was refused.
    fn refused(&mut self, id: Option<u64>, message: &str);
    /// The server will close this connection soon: open a replacement first.
    fn shutdown(&mut self);
    /// A frame that could not be read.
    fn malformed(&mut self, error: &str);
    /// A venue numbering every message of a connection (Coinbase `sequence_num`) numbered
    /// this one `seq`: the connection's gap count (its epoch) after it. A book change of
    /// another epoch than its snapshot's follows a loss (see `BookDelta::epoch`).
    fn sequence(&mut self, seq: u64) -> u64;
}

/// Stream names spelled `<channel>:<id>` (Kraken, Coinbase) grouped by channel, in
/// `channels`' order, channels without a name left out: one control message each.
pub fn by_channel<'a>(
    names: &'a [String],
    channels: &[&'static str],
) -> Vec<(&'static str, Vec<&'a str>)> {
    channels
        .iter()
        .map(|channel| {
            let ids = names
                .iter()
                .filter_map(|n| n.split_once(':'))
                .filter(|(c, _)| c == channel)
                .map(|(_, id)| id)
                .collect::<Vec<_>>();
            (*channel, ids)
        })
        .filter(|(_, ids)| !ids.is_empty())
        .collect()
}
