//! What a running symbol actor takes, named here so that the read side can hold the actor's
//! mailbox without knowing its type (the actor lives above, in `symbol`): a request to serve,
//! a value obtained elsewhere, the start of keeping a watched symbol fresh.

use actix::dev::{SendError, ToEnvelope};
use actix::{Actor, Addr, Handler, Message};

use super::answer::Responder;
use super::live::LiveNeed;
use crate::model::{DataRequest, Stamped};

/// Serve `request` for this actor's symbol: from its state when fresh, else by one exchange
/// call shared with every concurrent request for the same data.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Fetch {
    pub request: DataRequest,
    pub reply: Responder,
}

/// A value for this symbol obtained elsewhere (a batched ticker call, a feed, another node):
/// kept if it is newer than what the symbol holds.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Store {
    pub upstream: DataRequest,
    pub stamped: Stamped,
    /// Came from this node's own exchange feed: the symbol shares it with the cluster (a
    /// value another node published, or one already shared when fetched, is not re-shared).
    pub from_own_feed: bool,
}

/// The symbol is watched: keep its ticker fresh until nobody watches it any more.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct KeepFresh;

/// Fetch by REST what the symbol's live state needs to be whole (a book snapshot, the tape's
/// first trades).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct LiveFetch(pub LiveNeed);

/// A running symbol actor, as the read side holds it ([`super::SymbolEntry::actor`]).
pub(crate) trait SymbolMailbox: Send + Sync {
    /// `Full` when its mailbox is, `Closed` when the actor stopped since it was looked up.
    fn try_fetch(&self, fetch: Fetch) -> Result<(), SendError<Fetch>>;
    fn try_store(&self, store: Store) -> Result<(), SendError<Store>>;
    /// Queued even into a full mailbox: losing it would leave a watched symbol unpolled.
    fn keep_fresh(&self);
    /// Queued even into a full mailbox: a book left waiting for its snapshot is not served.
    fn live_fetch(&self, need: LiveNeed);
    fn connected(&self) -> bool;
}

/// Each message goes through a sender of its own (`clone`), as every caller's did when the
/// entry handed out clones of the address: actix parks a sender that overfills a mailbox and
/// turns away everything it sends next, which one shared sender would do to every caller.
impl<A> SymbolMailbox for Addr<A>
where
    A: Actor + Handler<Fetch> + Handler<Store> + Handler<KeepFresh> + Handler<LiveFetch>,
    A::Context: ToEnvelope<A, Fetch>
        + ToEnvelope<A, Store>
        + ToEnvelope<A, KeepFresh>
        + ToEnvelope<A, LiveFetch>,
{
    fn try_fetch(&self, fetch: Fetch) -> Result<(), SendError<Fetch>> {
        self.clone().try_send(fetch)
    }

    fn try_store(&self, store: Store) -> Result<(), SendError<Store>> {
        self.clone().try_send(store)
    }

    fn keep_fresh(&self) {
        self.do_send(KeepFresh);
    }

    fn live_fetch(&self, need: LiveNeed) {
        self.do_send(LiveFetch(need));
    }

    fn connected(&self) -> bool {
        Addr::connected(self)
    }
}
