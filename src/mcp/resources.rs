//! MCP resources `ticker://{exchange}/{symbol}` (SPEC.md section 5), `orderbook://` (the top
//! 20 levels of the local book) and `trades://` (the last 50 trades) (section 5.1): their
//! URIs, the subscriptions of one session, and the forwarding of changes as
//! `notifications/resources/updated`, at most [`MAX_UPDATES_PER_SECOND`] per resource.
//!
//! A session's subscriptions count by market, the resolved (exchange, unified symbol), however
//! the URIs spell it (SPEC.md section 9): `ticker://binance/BTCUSDT` and
//! `ticker://binance/btc-usdt` are one subscription, one ticker watch, notified under each
//! spelling subscribed (at most [`MAX_SPELLINGS`] of one market).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{
    CacheScope, ErrorCode as McpErrorCode, ProtocolVersion, ReadResourceResult, ResourceContents,
    ResourceUpdatedNotificationParam,
};
use rmcp::service::SubscriptionSink;
use rmcp::{ErrorData as McpError, Peer, RoleServer};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::caller::Ticks;
use crate::tools::stream::TickerSource;
use crate::tools::ToolError;
use crypto_market_actors::ErrorCode;

pub const TEMPLATE: &str = "ticker://{exchange}/{symbol}";
pub const ORDERBOOK_TEMPLATE: &str = "orderbook://{exchange}/{symbol}";
pub const TRADES_TEMPLATE: &str = "trades://{exchange}/{symbol}";
const SCHEME: &str = "ticker://";
/// Levels a side an `orderbook://` resource shows.
pub const BOOK_LEVELS: u32 = 20;
/// Trades a `trades://` resource shows.
pub const TAPE_TRADES: u32 = 50;

/// What a resource shows of its market.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    Ticker,
    OrderBook,
    Trades,
}

impl ResourceKind {
    const ALL: [(ResourceKind, &'static str); 3] = [
        (ResourceKind::Ticker, SCHEME),
        (ResourceKind::OrderBook, "orderbook://"),
        (ResourceKind::Trades, "trades://"),
    ];

    /// The tool and arguments (besides symbol and exchange) a read answers with.
    pub fn tool(self) -> (&'static str, Option<(&'static str, u32)>) {
        match self {
            Self::Ticker => ("get_ticker", None),
            Self::OrderBook => ("get_order_book", Some(("limit", BOOK_LEVELS))),
            Self::Trades => ("get_trades", Some(("limit", TAPE_TRADES))),
        }
    }

    /// The live channel a subscription follows (None: the ticker itself).
    pub fn channel(self) -> Option<crypto_market_actors::LiveChannel> {
        match self {
            Self::Ticker => None,
            Self::OrderBook => Some(crypto_market_actors::LiveChannel::Book),
            Self::Trades => Some(crypto_market_actors::LiveChannel::Trades),
        }
    }
}
pub const MIME_TYPE: &str = "application/json";

/// At most this many `notifications/resources/updated` per second for one resource.
pub const MAX_UPDATES_PER_SECOND: u32 = 10;
/// The shortest time between two updates of one resource.
pub const UPDATE_GAP: Duration = Duration::from_millis(1000 / MAX_UPDATES_PER_SECOND as u64);

/// A `ticker://{exchange}/{symbol}` URI, read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TickerUri<'a> {
    pub kind: ResourceKind,
    pub exchange: &'a str,
    /// As written: `BTCUSDT`, or any spelling the symbol resolution accepts (`BTC/USDT` too).
    pub symbol: &'a str,
}

impl<'a> TickerUri<'a> {
    pub fn parse(uri: &'a str) -> Result<Self, McpError> {
        let parsed = ResourceKind::ALL.iter().find_map(|(kind, scheme)| {
            uri.strip_prefix(scheme)
                .and_then(|rest| rest.split_once('/'))
                .filter(|(exchange, symbol)| !exchange.is_empty() && !symbol.is_empty())
                .map(|(exchange, symbol)| (*kind, exchange, symbol))
        });
        match parsed {
            Some((kind, exchange, symbol)) => Ok(Self {
                kind,
                exchange,
                symbol,
            }),
            None => Err(McpError::resource_not_found(
                format!(
                    "{uri:?} is not a resource of this server; use {TEMPLATE}, \
                     {ORDERBOOK_TEMPLATE} or {TRADES_TEMPLATE}, e.g. ticker://binance/BTCUSDT"
                ),
                None,
            )),
        }
    }
}

/// The URI of a unified symbol's ticker: the symbol without its slash (`BTC/USDT` →
/// `ticker://binance/BTCUSDT`).
pub fn uri_of(exchange: &str, symbol: &str) -> String {
    format!("{SCHEME}{exchange}/{}", symbol.replace('/', ""))
}

/// `resources/read` of a ticker: its JSON, and on protocol 2026-07-28 (SEP-2549) the result's
/// `ttlMs`, the time left until the value is stale (0 when it is served stale already), with
/// `cacheScope: private` (a client's key may be refused a ticker another's key may read, so
/// no cache is shared between keys).
pub fn read_result(
    uri: String,
    ticker: &serde_json::Value,
    fresh_for: Duration,
    protocol: Option<&ProtocolVersion>,
) -> ReadResourceResult {
    let contents = ResourceContents::text(ticker.to_string(), uri).with_mime_type(MIME_TYPE);
    let result = ReadResourceResult::new(vec![contents]);
    let caches = protocol.is_some_and(|v| v.as_str() >= ProtocolVersion::V_2026_07_28.as_str());
    if !caches {
        return result;
    }
    result
        .with_ttl_ms(ttl_ms(ticker, fresh_for))
        .with_cache_scope(CacheScope::Private)
}

/// Milliseconds until `ticker` (with its `age_ms` and `stale`) is stale, at least 0.
pub fn ttl_ms(ticker: &serde_json::Value, fresh_for: Duration) -> u64 {
    if ticker["stale"].as_bool() == Some(true) {
        return 0;
    }
    let age_ms = ticker["age_ms"].as_u64().unwrap_or(u64::MAX);
    u64::try_from(fresh_for.as_millis())
        .unwrap_or(u64::MAX)
        .saturating_sub(age_ms)
}

/// A tool failure about resource `uri` as an MCP error: an unknown symbol is "resource not
/// found" (with the suggestions of its message), a bad exchange invalid params, anything else
/// an internal error; `data` carries the error envelope with its code.
pub fn resource_error(uri: &str, error: ToolError) -> McpError {
    let message = format!("{uri}: {}", error.message);
    let data = Some(error.to_json());
    match error.code {
        ErrorCode::InvalidSymbol => McpError::resource_not_found(message, data),
        ErrorCode::InvalidArgument => McpError::invalid_params(message, data),
        // The client's key or a cap refuses it: the client must change what it asks.
        ErrorCode::Unauthorized | ErrorCode::RateLimited => {
            McpError::invalid_request(message, data)
        }
        _ => McpError::new(McpErrorCode::INTERNAL_ERROR, message, data),
    }
}

/// Where one resource's changes go.
pub trait UpdateSink: Send {
    /// Sends `notifications/resources/updated`; `false` when the client cannot be reached.
    fn updated(&mut self) -> impl Future<Output = bool> + Send;
}

/// The URIs one market is subscribed under (shared with its forwarding task).
pub type Spellings = Arc<Mutex<Vec<String>>>;

fn spellings_now(spellings: &Spellings) -> Vec<String> {
    spellings.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// A legacy `resources/subscribe` (sessions opened with `initialize`).
pub struct PeerUpdates {
    pub peer: Peer<RoleServer>,
    pub uris: Spellings,
}

impl UpdateSink for PeerUpdates {
    async fn updated(&mut self) -> bool {
        for uri in spellings_now(&self.uris) {
            let sent = self
                .peer
                .notify_resource_updated(ResourceUpdatedNotificationParam::new(uri))
                .await;
            if sent.is_err() {
                return false;
            }
        }
        true
    }
}

/// A market of a 2026-07-28 `subscriptions/listen`, under each URI it was asked by.
pub struct ListenUpdates {
    pub sink: SubscriptionSink,
    pub uris: Vec<String>,
}

impl UpdateSink for ListenUpdates {
    async fn updated(&mut self) -> bool {
        for uri in &self.uris {
            if self
                .sink
                .notify_resource_updated(uri.clone())
                .await
                .is_err()
            {
                return false;
            }
        }
        true
    }
}

/// Forwards `source`'s changes to `sink` until either ends: each change at once when the last
/// update went out at least `gap` ago; changes within `gap` are coalesced into one update sent
/// when `gap` has passed, so the last change always reaches the client. The value the symbol
/// holds at the start is not a change.
pub async fn forward_changes(
    source: &mut impl TickerSource,
    sink: &mut impl UpdateSink,
    gap: Duration,
) {
    source.skip_held().await;
    let mut last_sent: Option<Instant> = None;
    let mut pending = false;
    loop {
        let due = last_sent.map_or_else(Instant::now, |sent| sent + gap);
        tokio::select! {
            ticker = source.next_ticker() => match ticker {
                Ok(_) => pending = true,
                Err(error) => {
                    tracing::warn!("a resource subscription ends: {error}");
                    return;
                }
            },
            () = tokio::time::sleep_until(due), if pending => {}
        }
        let now = Instant::now();
        if pending && now >= due {
            // Counted as it is handed to the session, not after: an unsubscribe cancels this
            // task, possibly while the update is already on its way to the client, and the
            // count must include it (a failed send ends the subscription anyway).
            metrics::counter!(crate::metrics::STREAM_UPDATES, "channel" => "mcp_resource")
                .increment(1);
            if !sink.updated().await {
                tracing::debug!("a resource subscriber is gone");
                return;
            }
            pending = false;
            last_sent = Some(now);
        }
    }
}

/// What a subscription forwards: a ticker's changes, or the change signal of a local book or
/// tape (held with the watch that keeps its streams running).
pub enum ResourceSource {
    Ticker(Ticks),
    Live {
        _watch: Ticks,
        changes: tokio::sync::watch::Receiver<u64>,
    },
}

impl TickerSource for ResourceSource {
    async fn next_ticker(&mut self) -> Result<serde_json::Value, ToolError> {
        match self {
            Self::Ticker(ticks) => ticks.next_ticker().await,
            Self::Live { changes, .. } => {
                // The sender lives in the watched symbol this source keeps watched.
                if changes.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
                Ok(serde_json::Value::Null)
            }
        }
    }

    async fn skip_held(&mut self) {
        match self {
            Self::Ticker(ticks) => ticks.skip_held().await,
            Self::Live { changes, .. } => {
                changes.borrow_and_update();
            }
        }
    }
}

/// At most this many spellings of one market per session: each is notified on every change.
pub const MAX_SPELLINGS: usize = 8;

/// A resolved market: (exchange id, unified symbol).
pub type Market = (String, String);

/// The legacy subscriptions of one MCP session, by market: each a task forwarding changes to
/// every spelling subscribed. Dropping an entry (its last spelling unsubscribed, or the
/// session ending) stops its task, which releases its ticker watch.
#[derive(Default)]
pub struct Subscriptions {
    held: Mutex<HashMap<Market, Subscription>>,
}

struct Subscription {
    spellings: Spellings,
    forwarding: Forwarding,
}

struct Forwarding(AbortHandle);

impl Drop for Forwarding {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Subscriptions {
    /// Whether `uri` is subscribed (as written) and still forwarding.
    pub fn contains(&self, uri: &str) -> bool {
        self.lock().values().any(|subscription| {
            !subscription.forwarding.0.is_finished()
                && spellings_now(&subscription.spellings)
                    .iter()
                    .any(|u| u == uri)
        })
    }

    /// Subscribes `uri`, a spelling of `market`: a new spelling of a subscribed market joins
    /// it (`forward` is not started); a new market starts `forward` with the spellings to
    /// notify, unless the session holds `cap` markets already. The error says why not.
    pub fn subscribe<F>(
        &self,
        market: Market,
        uri: String,
        cap: usize,
        forward: impl FnOnce(Spellings) -> F,
    ) -> Result<(), String>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let mut held = self.lock();
        held.retain(|_, subscription| !subscription.forwarding.0.is_finished());
        if let Some(subscription) = held.get(&market) {
            let mut spellings = subscription
                .spellings
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if !spellings.contains(&uri) {
                if spellings.len() >= MAX_SPELLINGS {
                    return Err(format!(
                        "{} {} is subscribed under {MAX_SPELLINGS} spellings already",
                        market.0, market.1
                    ));
                }
                spellings.push(uri);
            }
            return Ok(());
        }
        if held.len() >= cap {
            return Err(format!(
                "this session holds {cap} resource subscriptions (MCP_MAX_SUBSCRIPTIONS); \
                 unsubscribe some first"
            ));
        }
        let spellings: Spellings = Arc::new(Mutex::new(vec![uri]));
        let task = tokio::spawn(forward(spellings.clone())).abort_handle();
        held.insert(
            market,
            Subscription {
                spellings,
                forwarding: Forwarding(task),
            },
        );
        Ok(())
    }

    /// Unsubscribes the spelling `uri`; the market's forwarding stops with its last spelling.
    pub fn remove(&self, uri: &str) {
        let mut held = self.lock();
        let mut emptied = None;
        for (market, subscription) in held.iter() {
            let mut spellings = subscription
                .spellings
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            spellings.retain(|u| u != uri);
            if spellings.is_empty() {
                emptied = Some(market.clone());
            }
        }
        if let Some(market) = emptied {
            let removed = held.remove(&market);
            drop(held);
            drop(removed);
        }
    }

    /// The URIs still forwarding.
    pub fn uris(&self) -> Vec<String> {
        let mut uris: Vec<String> = self
            .lock()
            .values()
            .filter(|subscription| !subscription.forwarding.0.is_finished())
            .flat_map(|subscription| spellings_now(&subscription.spellings))
            .collect();
        uris.sort();
        uris
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Market, Subscription>> {
        // Whole entries are inserted and removed: a panic elsewhere leaves nothing half-done.
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn uris_name_an_exchange_and_a_symbol() {
        assert_eq!(
            TickerUri::parse("ticker://binance/BTCUSDT").unwrap(),
            TickerUri {
                kind: ResourceKind::Ticker,
                exchange: "binance",
                symbol: "BTCUSDT"
            }
        );
        let book = TickerUri::parse("orderbook://binance/ETHUSDT").unwrap();
        assert_eq!(
            (book.kind, book.symbol),
            (ResourceKind::OrderBook, "ETHUSDT")
        );
        let tape = TickerUri::parse("trades://okx/BTC-USDT").unwrap();
        assert_eq!((tape.kind, tape.exchange), (ResourceKind::Trades, "okx"));
        assert_eq!(
            TickerUri::parse("ticker://binance/BTC/USDT")
                .unwrap()
                .symbol,
            "BTC/USDT"
        );
        for bad in [
            "ticker://binance",
            "ticker://binance/",
            "ticker:///BTCUSDT",
            "http://binance/BTCUSDT",
            "orderbook://binance",
            "book://binance/BTCUSDT",
        ] {
            let error = TickerUri::parse(bad).unwrap_err();
            assert_eq!(error.code, McpErrorCode::RESOURCE_NOT_FOUND, "{bad}");
        }
        assert_eq!(uri_of("binance", "BTC/USDT"), "ticker://binance/BTCUSDT");
    }

    #[tokio::test]
    async fn subscriptions_count_markets_not_spellings() {
        let subscriptions = Subscriptions::default();
        let market = |symbol: &str| ("binance".to_owned(), symbol.to_owned());
        let idle = |_: Spellings| std::future::pending::<()>();
        for uri in ["ticker://binance/BTCUSDT", "ticker://binance/btc-usdt"] {
            subscriptions
                .subscribe(market("BTC/USDT"), uri.into(), 1, idle)
                .unwrap();
        }
        let full = subscriptions.subscribe(
            market("ETH/USDT"),
            "ticker://binance/ETHUSDT".into(),
            1,
            idle,
        );
        assert!(full.unwrap_err().contains("MCP_MAX_SUBSCRIPTIONS"));
        subscriptions.remove("ticker://binance/BTCUSDT");
        assert!(subscriptions.contains("ticker://binance/btc-usdt"));
        subscriptions.remove("ticker://binance/btc-usdt");
        assert!(subscriptions.uris().is_empty());
        subscriptions
            .subscribe(
                market("ETH/USDT"),
                "ticker://binance/ETHUSDT".into(),
                1,
                idle,
            )
            .unwrap();
        for n in 0..MAX_SPELLINGS {
            let spelled = format!("ticker://binance/ETH{n}USDT");
            let added = subscriptions.subscribe(market("ETH/USDT"), spelled, 1, idle);
            assert_eq!(added.is_ok(), n + 1 < MAX_SPELLINGS, "spelling {n}");
        }
    }

    #[test]
    fn reads_carry_the_time_left_until_stale_on_2026_07_28_only() {
        let fresh_for = Duration::from_secs(10);
        let ticker = json!({"last": 1.0, "age_ms": 2_500, "stale": false});
        assert_eq!(ttl_ms(&ticker, fresh_for), 7_500);
        assert_eq!(
            ttl_ms(&json!({"age_ms": 60_000, "stale": false}), fresh_for),
            0
        );
        assert_eq!(ttl_ms(&json!({"age_ms": 1, "stale": true}), fresh_for), 0);
        let uri = || "ticker://binance/BTCUSDT".to_owned();
        let new = read_result(
            uri(),
            &ticker,
            fresh_for,
            Some(&ProtocolVersion::V_2026_07_28),
        );
        assert_eq!(new.ttl_ms, Some(7_500));
        let old = read_result(
            uri(),
            &ticker,
            fresh_for,
            Some(&ProtocolVersion::V_2025_06_18),
        );
        assert_eq!(old.ttl_ms, None);
    }

    #[test]
    fn an_unknown_symbol_is_a_resource_not_found_with_its_suggestions() {
        let error = resource_error(
            "ticker://binance/BTCUSD",
            ToolError::new(
                ErrorCode::InvalidSymbol,
                "BTCUSD is not listed; did you mean BTC/USDT?",
            ),
        );
        assert_eq!(error.code, McpErrorCode::RESOURCE_NOT_FOUND);
        assert!(error.message.contains("did you mean BTC/USDT"));
        assert_eq!(error.data.unwrap()["error"]["code"], "invalid_symbol");
    }

    /// Tickers at the given times (ms from the start), then nothing.
    struct Scripted {
        start: Instant,
        at_ms: std::vec::IntoIter<u64>,
    }

    impl TickerSource for Scripted {
        async fn next_ticker(&mut self) -> Result<Value, ToolError> {
            // Cancel-safe, as the trait asks: the change is taken only once it is handed over.
            match self.at_ms.as_slice().first().copied() {
                Some(ms) => {
                    tokio::time::sleep_until(self.start + Duration::from_millis(ms)).await;
                    self.at_ms.next();
                    Ok(json!({"at": ms}))
                }
                None => std::future::pending().await,
            }
        }

        async fn skip_held(&mut self) {}
    }

    #[derive(Clone, Default)]
    struct Sent(Arc<Mutex<Vec<Instant>>>);

    impl UpdateSink for Sent {
        async fn updated(&mut self) -> bool {
            self.0.lock().unwrap().push(Instant::now());
            true
        }
    }

    /// Runs `ticks` (ms) through the throttle for `for_ms`; the send times, in ms.
    async fn sent_for(ticks: Vec<u64>, for_ms: u64) -> Vec<u64> {
        let start = Instant::now();
        let mut source = Scripted {
            start,
            at_ms: ticks.into_iter(),
        };
        let sent = Sent::default();
        let mut sink = sent.clone();
        let _ = tokio::time::timeout(
            Duration::from_millis(for_ms),
            forward_changes(&mut source, &mut sink, UPDATE_GAP),
        )
        .await;
        let times = sent.0.lock().unwrap().clone();
        times
            .iter()
            .map(|t| t.duration_since(start).as_millis() as u64)
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_fast_ticker_is_sent_at_most_ten_times_a_second_and_its_last_change_is_sent() {
        // A change every 7 ms for 3 s: ~430 changes.
        let ticks: Vec<u64> = (1..=430).map(|i| i * 7).collect();
        let last_tick = *ticks.last().unwrap();
        let sent = sent_for(ticks, 5_000).await;
        for window in sent.windows(MAX_UPDATES_PER_SECOND as usize + 1) {
            assert!(
                window[MAX_UPDATES_PER_SECOND as usize] - window[0] >= 1_000,
                "11 updates within a second: {window:?}"
            );
        }
        assert!(
            sent.len() >= 29,
            "about ten a second over 3 s: {}",
            sent.len()
        );
        let last_sent = *sent.last().unwrap();
        assert!(
            (last_tick..=last_tick + 100).contains(&last_sent),
            "the last change ({last_tick} ms) goes out within the gap: {last_sent} ms"
        );
        assert_eq!(sent[0], 7, "the first change goes out at once");
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_ticker_is_sent_at_once() {
        let ticks = vec![100, 400, 450, 900];
        // 450 comes 50 ms after 400: it waits for the gap, 500.
        assert_eq!(sent_for(ticks, 2_000).await, vec![100, 400, 500, 900]);
    }
}
