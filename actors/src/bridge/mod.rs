//! The Redis bridge actor: one exchange feed per symbol across the cluster. When a symbol
//! becomes watched on this node, the bridge takes the symbol's feed lease in Redis
//! (`{prefix}:feed:{exchange}:{symbol}`, expiring, renewed while wanted): the holder streams it
//! from the exchange and publishes every tick (cache key + ticker channel, see the symbol
//! actor); every other node follows the ticker channel and stores what arrives in its own
//! symbol actor, served `source: stream`. A holder that dies stops renewing; within a lease
//! period another node takes the lease and opens the feed. While Redis does not answer, each
//! node streams for itself (the exchange serves, as in any Redis outage).
//!
//! A symbol's book, trade and candle feeds (wanted while something reads its book or trades)
//! are shared the same way under a lease of their own (`{prefix}:livefeed:{exchange}:{symbol}`):
//! the holder streams them and publishes its book and new trades (see [`live`]); the others
//! keep what it publishes and open no stream of their own.

mod follow;
mod live;

/// Also used by an MCP gateway to follow the pool's ticker channels.
pub use follow::{Deliver, Follower};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, ActorFutureExt, AsyncContext, Context, Handler, Message, WrapFuture};
use tokio::task::JoinHandle;

use crate::cache::RemoteCache;
use crate::directory::{Directory, Sharing, Store, SymbolEntry};
use crate::model::{DataRequest, MarketData, Source, Stamped, Ticker};
use crate::venue::{Feed, StreamKey};

/// How long a feed lease lasts without renewal: the longest a dead holder keeps a symbol
/// from being streamed (plus one check).
const LEASE: Duration = Duration::from_secs(6);
/// How often leases are renewed, and free ones taken.
const CHECK_EVERY: Duration = Duration::from_secs(2);

/// A watched symbol wants its exchange feed (first watcher on this node). `stream`: its
/// ticker, or (a [`StreamKey::Book`]) its book, trade and candle streams together.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct FeedWanted {
    pub exchange: Arc<str>,
    pub stream: StreamKey,
}

/// Nobody on this node watches the symbol any more.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct FeedUnwanted {
    pub exchange: Arc<str>,
    pub stream: StreamKey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Asking Redis who holds it.
    Deciding,
    /// This node streams it from the exchange.
    Holder,
    /// Another node does; this one follows its ticker channel.
    Follower,
}

type Key = (Arc<str>, StreamKey);

pub(crate) struct RedisBridge {
    remote: Arc<RemoteCache>,
    feeds: HashMap<Arc<str>, Arc<dyn Feed>>,
    watched: HashMap<Key, Role>,
    follower: Option<Follower>,
    directory: Arc<Directory>,
    /// The publishing task of each symbol whose live feeds this node holds.
    publishers: HashMap<Key, JoinHandle<()>>,
}

/// Whether a key stands for a symbol's live (book, trade, candle) feeds.
fn is_live((_, stream): &Key) -> bool {
    matches!(stream, StreamKey::Book { .. })
}

/// The feed streams a key stands for.
fn streams((_, stream): &Key) -> Vec<StreamKey> {
    match stream {
        StreamKey::Book { symbol, market_id } => StreamKey::watched(symbol, market_id)
            .into_iter()
            .filter(|key| !matches!(key, StreamKey::Ticker { .. }))
            .collect(),
        other => vec![other.clone()],
    }
}

impl RedisBridge {
    pub fn new(
        remote: Arc<RemoteCache>,
        feeds: HashMap<Arc<str>, Arc<dyn Feed>>,
        directory: Arc<Directory>,
    ) -> Self {
        Self {
            remote,
            feeds,
            watched: HashMap::new(),
            follower: None,
            directory,
            publishers: HashMap::new(),
        }
    }

    /// The channels a follower of `key` listens to.
    fn channels(&self, key: &Key) -> Vec<String> {
        let target = self.remote.target();
        let (exchange, symbol) = (&key.0, key.1.symbol());
        if is_live(key) {
            vec![
                target.book_channel(exchange, symbol),
                target.trades_channel(exchange, symbol),
            ]
        } else {
            vec![target.ticker_channel(exchange, symbol)]
        }
    }

    fn lease(&self, key: &Key) -> String {
        let (exchange, symbol) = (&key.0, key.1.symbol());
        if is_live(key) {
            self.remote.live_feed_key(exchange, symbol)
        } else {
            self.remote.feed_key(exchange, symbol)
        }
    }

    fn entry(&self, (exchange, stream): &Key) -> Option<Arc<SymbolEntry>> {
        self.directory.venue(exchange)?.symbol(stream.symbol())
    }

    /// Asks Redis for the lease (taking or renewing it) and settles the symbol's role.
    fn decide(&mut self, key: Key, ctx: &mut Context<Self>) {
        let remote = self.remote.clone();
        let lease = self.lease(&key);
        let ask = async move { remote.hold_feed(&lease, LEASE).await };
        ctx.spawn(ask.into_actor(self).map(move |held, bridge, _| {
            // Redis silent: stream it ourselves rather than not at all.
            let role = if held.unwrap_or(true) {
                Role::Holder
            } else {
                Role::Follower
            };
            bridge.settle(&key, role);
        }));
    }

    fn settle(&mut self, key: &Key, role: Role) {
        let Some(current) = self.watched.get(key).copied() else {
            return; // unwanted meanwhile
        };
        if current == role {
            return;
        }
        match role {
            Role::Holder => {
                tracing::info!(exchange = %key.0, symbol = %key.1.symbol(), "this node streams the symbol for the cluster");
                if current == Role::Follower {
                    self.unfollow(key);
                }
                if is_live(key) {
                    self.start_publishing(key);
                }
                if let Some(feed) = self.feeds.get(&key.0) {
                    feed.subscribe(&streams(key));
                }
            }
            Role::Follower => {
                tracing::info!(exchange = %key.0, symbol = %key.1.symbol(), "another node streams the symbol; following it");
                if current == Role::Holder {
                    if let Some(feed) = self.feeds.get(&key.0) {
                        feed.unsubscribe(&streams(key));
                    }
                }
                if is_live(key) {
                    self.stop_publishing(key);
                    if let Some(entry) = self.entry(key) {
                        entry.live.share(Sharing::Mirroring);
                    }
                }
                for channel in self.channels(key) {
                    self.follower().follow(channel);
                }
            }
            Role::Deciding => {}
        }
        self.watched.insert(key.clone(), role);
    }

    fn unfollow(&mut self, key: &Key) {
        for channel in self.channels(key) {
            self.follower().unfollow(channel);
        }
    }

    /// This node holds the symbol's live feeds: what it takes in goes out to the cluster.
    fn start_publishing(&mut self, key: &Key) {
        let Some(entry) = self.entry(key) else {
            return;
        };
        entry.live.share(Sharing::Publishing);
        let task = tokio::spawn(live::publish(self.remote.clone(), entry));
        if let Some(old) = self.publishers.insert(key.clone(), task) {
            old.abort();
        }
    }

    fn stop_publishing(&mut self, key: &Key) {
        if let Some(task) = self.publishers.remove(key) {
            task.abort();
        }
    }

    fn follower(&mut self) -> &Follower {
        let directory = self.directory.clone();
        let target = self.remote.target().clone();
        self.follower.get_or_insert_with(|| {
            let prefix = format!("{}:", target.key_prefix);
            Follower::start(
                target,
                Arc::new(move |channel, payload| dispatch(&directory, &prefix, channel, payload)),
            )
        })
    }
}

/// A message on a followed channel, to its kind's handler: `{prefix}:{kind}:{exchange}:{symbol}`
/// (the symbol may hold a `:`, a perpetual's settle currency).
fn dispatch(directory: &Directory, prefix: &str, channel: &str, payload: &str) {
    let Some((kind, exchange, symbol)) = channel
        .strip_prefix(prefix)
        .and_then(|rest| rest.split_once(':'))
        .and_then(|(kind, rest)| rest.split_once(':').map(|(ex, sym)| (kind, ex, sym)))
    else {
        return;
    };
    match kind {
        "ticker" => deliver(directory, exchange, symbol, channel, payload),
        "book" => live::deliver(
            directory,
            live::Channel::Book,
            exchange,
            symbol,
            channel,
            payload,
        ),
        "trades" => live::deliver(
            directory,
            live::Channel::Trades,
            exchange,
            symbol,
            channel,
            payload,
        ),
        _ => {}
    }
}

/// A tick another node published: stored in this node's actor of that symbol, as streamed
/// when the publisher streamed it.
fn deliver(directory: &Directory, exchange: &str, symbol: &str, channel: &str, payload: &str) {
    #[derive(serde::Deserialize)]
    struct Published {
        #[serde(flatten)]
        ticker: Ticker,
        source: Option<Source>,
    }
    let published: Published = match serde_json::from_str(payload) {
        Ok(published) => published,
        Err(error) => {
            tracing::warn!(%channel, %error, "unreadable ticker update ignored");
            return;
        }
    };
    let actor = directory
        .venue(exchange)
        .and_then(|venue| venue.symbol(symbol))
        .and_then(|entry| entry.actor());
    let Some(actor) = actor else {
        return;
    };
    let now = directory.now_ms();
    let stamped = Stamped {
        fetched_at_ms: published.ticker.timestamp.unwrap_or(now).min(now),
        value: Arc::new(MarketData::Ticker(published.ticker)),
        origin: match published.source {
            Some(Source::Stream) => Source::Stream,
            _ => Source::Redis,
        },
    };
    let _ = actor.try_store(Store {
        upstream: DataRequest::Ticker,
        stamped,
        from_own_feed: false,
    });
}

impl Actor for RedisBridge {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(CHECK_EVERY, |bridge, ctx| {
            let keys: Vec<Key> = bridge.watched.keys().cloned().collect();
            for key in keys {
                bridge.decide(key, ctx);
            }
        });
    }
}

impl Handler<FeedWanted> for RedisBridge {
    type Result = ();

    fn handle(&mut self, msg: FeedWanted, ctx: &mut Context<Self>) {
        let key = (msg.exchange, msg.stream);
        self.watched.insert(key.clone(), Role::Deciding);
        self.decide(key, ctx);
    }
}

impl Handler<FeedUnwanted> for RedisBridge {
    type Result = ();

    fn handle(&mut self, msg: FeedUnwanted, ctx: &mut Context<Self>) {
        let key = (msg.exchange, msg.stream);
        self.stop_publishing(&key);
        match self.watched.remove(&key) {
            Some(Role::Holder) => {
                if let Some(feed) = self.feeds.get(&key.0) {
                    feed.unsubscribe(&streams(&key));
                }
                let remote = self.remote.clone();
                let lease = self.lease(&key);
                ctx.spawn(async move { remote.drop_feed(&lease).await }.into_actor(self));
            }
            Some(Role::Follower) => self.unfollow(&key),
            Some(Role::Deciding) | None => {}
        }
    }
}
