//! Caps on the MCP sessions of `--http` (SPEC.md section 9): at most
//! `MCP_MAX_SESSIONS_PER_CLIENT` per client key (per peer address without keys) and
//! `MCP_MAX_SESSIONS` in all; past either, a request that would open one gets 429 with
//! `Retry-After`. Idle sessions are closed by rmcp's session worker (`keep_alive`), which
//! frees their place here.
//!
//! rmcp's `SessionManager::create_session` is not told who asks, so the decision is taken in
//! front of the service: [`limit_sessions`] reserves a place for a request that may open a
//! session (a POST without `Mcp-Session-Id`) and hands it down in a task-local;
//! [`CappedSessions::create_session`], awaited inside that request, binds it to the new
//! session. A place the request did not use is given back when the request is done.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::Stream;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError,
};
use rmcp::transport::streamable_http_server::session::{
    ServerSseMessage, SessionId, SessionManager,
};

use super::origin::ConnectionAddrs;
use super::Caller;

/// The session limits, from the settings.
#[derive(Debug, Clone, Copy)]
pub struct SessionCaps {
    pub max_sessions: usize,
    pub max_sessions_per_client: usize,
    /// A session without traffic this long is closed.
    pub idle: Duration,
}

/// Whose sessions count together.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Owner {
    /// A client of `API_KEYS_FILE`, by id.
    Client(String),
    /// Anyone else (all-access token, or no auth), by peer address.
    Peer(IpAddr),
    /// Not known (a session made without passing [`limit_sessions`]); counted in the total.
    Unknown,
}

#[derive(Default)]
struct Counts {
    total: usize,
    by_owner: HashMap<Owner, usize>,
    sessions: HashMap<SessionId, Owner>,
}

/// Sessions (and places reserved for sessions being opened) per owner and in all.
pub struct SessionLimits {
    caps: SessionCaps,
    counts: Mutex<Counts>,
}

/// A place taken for a session about to be opened; given back when dropped unused.
struct Place {
    limits: Arc<SessionLimits>,
    /// `None` once the place belongs to a session.
    owner: Option<Owner>,
}

impl Place {
    /// The place now belongs to a session: kept until the session closes.
    fn keep(mut self) -> Owner {
        self.owner.take().unwrap_or(Owner::Unknown)
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        if let Some(owner) = &self.owner {
            self.limits.release(owner);
        }
    }
}

impl SessionLimits {
    pub fn new(caps: SessionCaps) -> Arc<Self> {
        Arc::new(Self {
            caps,
            counts: Mutex::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        // Counters only: a panic elsewhere leaves them usable.
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a place for `owner`, or says which cap is full.
    fn reserve(self: &Arc<Self>, owner: Owner) -> Result<Place, &'static str> {
        let mut counts = self.lock();
        if counts.total >= self.caps.max_sessions {
            return Err("MCP_MAX_SESSIONS");
        }
        let held = counts.by_owner.entry(owner.clone()).or_default();
        if *held >= self.caps.max_sessions_per_client {
            return Err("MCP_MAX_SESSIONS_PER_CLIENT");
        }
        *held += 1;
        counts.total += 1;
        Ok(Place {
            limits: self.clone(),
            owner: Some(owner),
        })
    }

    fn release(&self, owner: &Owner) {
        let mut counts = self.lock();
        counts.total = counts.total.saturating_sub(1);
        if let Some(held) = counts.by_owner.get_mut(owner) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                counts.by_owner.remove(owner);
            }
        }
    }

    /// The session `id` holds `place` (or, made outside a request that reserved one, a place
    /// counted in the total only) until [`Self::closed`].
    fn opened(&self, id: &SessionId, place: Option<Place>) {
        let owner = match place {
            Some(place) => place.keep(),
            None => {
                let mut counts = self.lock();
                counts.total += 1;
                *counts.by_owner.entry(Owner::Unknown).or_default() += 1;
                Owner::Unknown
            }
        };
        self.lock().sessions.insert(id.clone(), owner);
    }

    /// Frees session `id`'s place; closing twice (DELETE, then its worker's end) frees once.
    fn closed(&self, id: &SessionId) {
        let owner = self.lock().sessions.remove(id);
        if let Some(owner) = owner {
            self.release(&owner);
        }
    }

    /// Seconds a refused client is told to wait: sessions free up when closed or idle.
    fn retry_after_s(&self) -> u64 {
        self.caps.idle.as_secs().clamp(1, 60)
    }
}

tokio::task_local! {
    /// The place reserved for the request being served, taken by `create_session`.
    static RESERVED: RefCell<Option<Place>>;
}

/// In front of the MCP service: a request that may open a session needs a place (429 with
/// `Retry-After` when there is none); any other passes.
pub async fn limit_sessions(limits: &Arc<SessionLimits>, request: Request, next: Next) -> Response {
    let opens =
        request.method() == Method::POST && !request.headers().contains_key("mcp-session-id");
    if !opens {
        return next.run(request).await;
    }
    let owner = match request.extensions().get::<Caller>() {
        Some(caller) => Owner::Client(caller.client.id.clone()),
        None => request
            .extensions()
            .get::<ConnectionAddrs>()
            .map_or(Owner::Unknown, |addrs| Owner::Peer(addrs.peer.ip())),
    };
    match limits.reserve(owner) {
        Ok(place) => {
            RESERVED
                .scope(RefCell::new(Some(place)), next.run(request))
                .await
        }
        Err(cap) => {
            tracing::debug!(cap, "a new MCP session refused");
            (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, limits.retry_after_s().to_string())],
                format!("too many MCP sessions ({cap}); close some or retry later"),
            )
                .into_response()
        }
    }
}

/// rmcp's in-memory sessions, counted in [`SessionLimits`].
pub struct CappedSessions {
    inner: LocalSessionManager,
    limits: Arc<SessionLimits>,
}

impl CappedSessions {
    pub fn new(limits: Arc<SessionLimits>) -> Self {
        let mut inner = LocalSessionManager::default();
        inner.session_config.keep_alive = Some(limits.caps.idle);
        Self { inner, limits }
    }
}

impl SessionManager for CappedSessions {
    type Error = LocalSessionManagerError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        let place = RESERVED
            .try_with(|reserved| reserved.borrow_mut().take())
            .ok()
            .flatten();
        let (id, transport) = self.inner.create_session().await?;
        self.limits.opened(&id, place);
        Ok((id, transport))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        self.inner.initialize_session(id, message).await
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        self.inner.has_session(id).await
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        let closed = self.inner.close_session(id).await;
        self.limits.closed(id);
        closed
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.create_stream(id, message).await
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.inner.accept_message(id, message).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.create_standalone_stream(id).await
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.resume(id, last_event_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize, per_client: usize) -> Arc<SessionLimits> {
        SessionLimits::new(SessionCaps {
            max_sessions: max,
            max_sessions_per_client: per_client,
            idle: Duration::from_secs(300),
        })
    }

    #[test]
    fn places_are_capped_per_owner_and_in_all_and_come_back() {
        let limits = limits(3, 2);
        let alpha = || Owner::Client("alpha".into());
        let a1 = limits.reserve(alpha()).unwrap();
        let a2 = limits.reserve(alpha()).unwrap();
        assert_eq!(
            limits.reserve(alpha()).err(),
            Some("MCP_MAX_SESSIONS_PER_CLIENT")
        );
        let id: SessionId = Arc::from("s1");
        limits.opened(&id, Some(a1));
        drop(a2);
        let b = limits.reserve(Owner::Client("beta".into())).unwrap();
        let a3 = limits.reserve(alpha()).unwrap();
        assert_eq!(
            limits.reserve(Owner::Client("gamma".into())).err(),
            Some("MCP_MAX_SESSIONS")
        );
        drop((b, a3));
        limits.closed(&id);
        limits.closed(&id);
        assert_eq!(limits.lock().total, 0);
        assert!(limits.lock().by_owner.is_empty());
    }
}
