//! The MCP server handler: tools, ticker resources and their subscriptions, over whichever
//! backend runs the tools; client keys admitted on every method that reads market data and
//! per-session caps applied (SPEC.md section 9).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures::future::BoxFuture;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestParams, CompleteResult,
    ContentBlock, Implementation, InitializeResult, ListResourceTemplatesResult,
    ListResourcesResult, ListToolsResult, PaginatedRequestParams, ProgressNotificationParam,
    ProgressToken, ReadResourceRequestParams, ReadResourceResponse, Resource, ResourceTemplate,
    ServerCapabilities, SubscribeRequestParams, SubscriptionFilter, Tool, UnsubscribeRequestParams,
};
use rmcp::service::{RequestContext, SubscriptionContext};
use rmcp::{ErrorData as McpError, Peer, RoleServer, ServerHandler};
use serde_json::{json, Value};

use super::caller::{EngineCaller, MarketCaller, Ticks};
use super::catalog;
use super::resources::{
    self, forward_changes, resource_error, ListenUpdates, Market, PeerUpdates, ResourceSource,
    Subscriptions, TickerUri, MAX_SPELLINGS, UPDATE_GAP,
};
use super::Caller;
use crate::auth::{ClientLimiter, Gate};
use crate::tools::{CallContext, ProgressSink, ToolError, ToolService};

const INSTRUCTIONS: &str = "Cryptocurrency market data (tickers, OHLCV candles, order books, trades, markets) \
from exchanges through ccxt. Symbols accept BTC/USDT, BTCUSDT or btc-usdt. Every result says how fresh it is \
(source, age_ms, stale). Errors carry a code: invalid_symbol (with suggestions), invalid_argument, \
exchange_unavailable, rate_limited, timeout, ... Live tickers: the stream_ticker tool (updates as progress \
notifications), or subscribe to the resource ticker://{exchange}/{symbol} (e.g. ticker://binance/BTCUSDT).";

/// Markets of the default exchange `resources/list` shows besides the session's subscriptions.
const LISTED_MARKETS: u32 = 10;

/// The MCP server handler. Cheap to clone; [`McpServer::session`] gives each session its own
/// resource subscriptions over the shared engine.
#[derive(Clone)]
pub struct McpServer {
    tools: Arc<dyn MarketCaller>,
    catalog: Arc<Vec<Tool>>,
    /// This session's `resources/subscribe` subscriptions; dropped (and released) with the
    /// session's last handler.
    subscriptions: Arc<Subscriptions>,
    /// Admits the clients calling with their own key over HTTP (`API_KEYS_FILE`).
    gate: Arc<Gate>,
    /// Most resource subscriptions (markets) a session may hold (`MCP_MAX_SUBSCRIPTIONS`).
    max_subscriptions: usize,
    /// This session's `stream_ticker` calls in progress.
    streams: Arc<AtomicUsize>,
    /// This session's watches (`watch_subscribe`), ended with its last handler.
    watches: Arc<crate::tools::watch::SessionWatches>,
    /// How long a ticker stays fresh (`CACHE_TTL`): resource reads say how much is left.
    fresh_for: std::time::Duration,
}

/// `stream_ticker` calls one session may run at once (SPEC.md section 9).
pub const MAX_STREAMS_PER_SESSION: usize = 20;

/// A running `stream_ticker` of a session, counted until dropped.
struct StreamSlot(Arc<AtomicUsize>);

impl StreamSlot {
    fn take(streams: &Arc<AtomicUsize>) -> Option<Self> {
        streams
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |running| {
                (running < MAX_STREAMS_PER_SESSION).then_some(running + 1)
            })
            .ok()
            .map(|_| Self(streams.clone()))
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The key's caller of an HTTP request (none over stdio, or with `MCP_AUTH_TOKEN`).
fn caller_of(context: &RequestContext<RoleServer>) -> Option<&Caller> {
    context
        .extensions
        .get::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Caller>())
}

impl McpServer {
    /// Runs the tools on this process's engine.
    pub fn new(tools: ToolService) -> Self {
        Self::with_caller(Arc::new(EngineCaller(tools)))
    }

    /// Runs the tools wherever `tools` does (e.g. the worker pool: [`super::PoolCaller`]).
    pub fn with_caller(tools: Arc<dyn MarketCaller>) -> Self {
        Self {
            tools,
            catalog: Arc::new(catalog::tools()),
            subscriptions: Arc::default(),
            gate: Arc::new(Gate::new(Arc::default(), ClientLimiter::new(None))),
            max_subscriptions: 500,
            streams: Arc::default(),
            watches: Arc::default(),
            fresh_for: std::time::Duration::from_secs(crate::config::CacheSettings::default().ttl),
        }
    }

    /// Values stay fresh this long (`CACHE_TTL`), for the `ttlMs` of resource reads.
    pub fn with_fresh_for(mut self, fresh_for: std::time::Duration) -> Self {
        self.fresh_for = fresh_for;
        self
    }

    /// At most `cap` resource subscriptions per session (`MCP_MAX_SUBSCRIPTIONS`).
    pub fn with_max_subscriptions(mut self, cap: usize) -> Self {
        self.max_subscriptions = cap.max(1);
        self
    }

    /// Clients' keys and rates (rates e.g. in Redis, shared with other processes).
    pub fn with_gate(mut self, gate: Gate) -> Self {
        self.gate = Arc::new(gate);
        self
    }

    /// A call of `tool` by the request's caller: with a client's key, that client may call
    /// `tool` and (unless the pool charges it) is within its rate. The call's context names
    /// the caller (client id, and the key a gateway forwards).
    async fn admit(
        &self,
        tool: &str,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallContext, ToolError> {
        let mut call = call_context(context);
        call.watches = Some(self.watches.clone());
        if let Some(caller) = caller_of(context) {
            let charge = self.tools.charges_rates();
            self.gate.admit_client(&caller.client, tool, charge).await?;
            call.client_id = Some(caller.client.id.clone());
            call.api_key = Some(caller.key.clone());
        }
        Ok(call)
    }

    /// Resource methods read market data: admitted as the call that reads it, `get_ticker`,
    /// `get_order_book` or `get_trades` (SPEC.md section 9).
    async fn admit_resource(
        &self,
        uri: &str,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallContext, McpError> {
        let tool = TickerUri::parse(uri).map_or("get_ticker", |target| target.kind.tool().0);
        self.admit(tool, context)
            .await
            .map_err(|refused| resource_error(uri, refused))
    }

    /// A handler for a new session: same tools, no subscriptions yet.
    pub fn session(&self) -> Self {
        Self {
            subscriptions: Arc::default(),
            streams: Arc::default(),
            watches: Arc::default(),
            ..self.clone()
        }
    }

    /// A resource's value: the ticker, the top of the book or the last trades.
    async fn ticker(&self, uri: &str, context: CallContext) -> Result<Value, McpError> {
        let target = TickerUri::parse(uri)?;
        let (tool, extra) = target.kind.tool();
        let mut args = json!({"symbol": target.symbol, "exchange": target.exchange});
        if let Some((name, value)) = extra {
            args[name] = json!(value);
        }
        self.tools
            .call(tool, args.as_object().cloned(), context)
            .await
            .map_err(|e| resource_error(uri, e))
    }

    /// What a subscription to `uri` forwards, and the market (with the resource kind, so that a
    /// market's ticker and book count as two subscriptions) it counts as.
    async fn source(
        &self,
        uri: &str,
        call: &CallContext,
    ) -> Result<(Market, ResourceSource), McpError> {
        let kind = TickerUri::parse(uri)?.kind;
        let mut ticks = self.watch(uri, call).await?;
        let mut market = (ticks.exchange().to_owned(), ticks.symbol().to_owned());
        let Some(channel) = kind.channel() else {
            return Ok((market, ResourceSource::Ticker(ticks)));
        };
        let Some(changes) = ticks.live_updates(channel) else {
            let refused = ToolError::new(
                crypto_market_actors::ErrorCode::Unsupported,
                "book and trade resources are served by a node that keeps them (not through \
                 the gateway); read them instead"
                    .to_owned(),
            );
            return Err(resource_error(uri, refused));
        };
        market.1 = format!("{:?}:{}", kind, market.1);
        Ok((
            market,
            ResourceSource::Live {
                _watch: ticks,
                changes,
            },
        ))
    }

    async fn watch(&self, uri: &str, call: &CallContext) -> Result<Ticks, McpError> {
        let target = TickerUri::parse(uri)?;
        self.tools
            .watch(Some(target.exchange), target.symbol, call)
            .await
            .map_err(|e| resource_error(uri, e))
    }

    /// A few markets of the default exchange as resources, best effort.
    async fn default_resources(&self, call: CallContext) -> Vec<String> {
        let args = json!({"limit": LISTED_MARKETS});
        let Ok(markets) = self
            .tools
            .call("list_markets", args.as_object().cloned(), call)
            .await
        else {
            return Vec::new();
        };
        let exchange = markets["exchange"].as_str().unwrap_or_default();
        markets["markets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|market| market["symbol"].as_str())
            .map(|symbol| resources::uri_of(exchange, symbol))
            .collect()
    }
}

/// A tool's answer as an MCP result: structured content plus the same JSON as compact text; a
/// failure as `isError` with the message as text and `{"error": {code, message}}` structured.
pub fn to_call_tool_result(outcome: Result<Value, ToolError>) -> CallToolResult {
    match outcome {
        Ok(value) => CallToolResult::structured(value),
        Err(error) => {
            let mut result = CallToolResult::error(vec![ContentBlock::text(error.message.clone())]);
            result.structured_content = Some(error.to_json());
            result
        }
    }
}

/// `notifications/progress` for one call's progress token.
struct PeerProgress {
    peer: Peer<RoleServer>,
    token: ProgressToken,
}

impl ProgressSink for PeerProgress {
    fn progress(&self, progress: u64, message: String) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            let param = ProgressNotificationParam::new(self.token.clone(), progress as f64)
                .with_message(message);
            let sent = self.peer.notify_progress(param).await.is_ok();
            if sent {
                metrics::counter!(crate::metrics::STREAM_UPDATES, "channel" => "mcp_progress")
                    .increment(1);
            }
            sent
        })
    }
}

fn call_context(context: &RequestContext<RoleServer>) -> CallContext {
    let progress = context.meta.get_progress_token().map(|token| {
        Arc::new(PeerProgress {
            peer: context.peer.clone(),
            token,
        }) as Arc<dyn ProgressSink>
    });
    CallContext {
        cancel: context.ct.clone(),
        progress,
        ..CallContext::default()
    }
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> InitializeResult {
        InitializeResult::new(
            ServerCapabilities::builder()
                .enable_completions()
                .enable_tools()
                .enable_resources()
                .enable_resources_subscribe()
                .build(),
        )
        .with_server_info(Implementation::new(
            "crypto-market-mcp",
            env!("CARGO_PKG_VERSION"),
        ))
        .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(
            self.catalog.as_ref().clone(),
        ))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.catalog.iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let outcome = match self.admit(&request.name, &context).await {
            Ok(call) => {
                let streams = request.name == "stream_ticker";
                match streams.then(|| StreamSlot::take(&self.streams)) {
                    Some(None) => Err(ToolError::new(
                        crypto_market_actors::ErrorCode::RateLimited,
                        format!(
                            "this session runs {MAX_STREAMS_PER_SESSION} stream_ticker calls \
                             already; wait for one to end"
                        ),
                    )
                    .with_retry_after(std::time::Duration::from_secs(1))),
                    slot => {
                        let outcome = self
                            .tools
                            .call(&request.name, request.arguments, call)
                            .await;
                        drop(slot);
                        outcome
                    }
                }
            }
            Err(refused) => Err(refused),
        };
        if let Err(error) = &outcome {
            tracing::debug!(tool = %request.name, code = %error.code, message = %error.message, "tool call failed");
        }
        Ok(to_call_tool_result(outcome).into())
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        let template = ResourceTemplate::new(resources::TEMPLATE, "ticker")
            .with_title("Live ticker")
            .with_description(
                "A market's ticker as get_ticker returns it (symbol without the slash, e.g. \
                 ticker://binance/BTCUSDT). Subscribe to hear of each change, at most 10 a second.",
            )
            .with_mime_type(resources::MIME_TYPE);
        let book = ResourceTemplate::new(resources::ORDERBOOK_TEMPLATE, "orderbook")
            .with_title("Live order book")
            .with_description(
                "The top 20 levels of a market's book as get_order_book returns them (e.g. \
                 orderbook://binance/BTCUSDT). Subscribe to hear of changes, at most 10 a second.",
            )
            .with_mime_type(resources::MIME_TYPE);
        let trades = ResourceTemplate::new(resources::TRADES_TEMPLATE, "trades")
            .with_title("Live trades")
            .with_description(
                "A market's last 50 trades as get_trades returns them (e.g. \
                 trades://binance/BTCUSDT). Subscribe to hear of new ones, at most 10 a second.",
            )
            .with_mime_type(resources::MIME_TYPE);
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            template, book, trades,
        ]))
    }

    /// This session's subscriptions first, then a few markets of the default exchange.
    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let mut uris = self.subscriptions.uris();
        // The markets come from list_markets: listed when the caller may read them.
        if let Ok(call) = self.admit("list_markets", &context).await {
            for uri in self.default_resources(call).await {
                if !uris.contains(&uri) {
                    uris.push(uri);
                }
            }
        }
        let listed = uris
            .into_iter()
            .map(|uri| {
                let name = uri.trim_start_matches("ticker://").to_owned();
                Resource::new(uri, name)
                    .with_description("Live ticker; subscribe for changes")
                    .with_mime_type(resources::MIME_TYPE)
            })
            .collect();
        Ok(ListResourcesResult::with_all_items(listed))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let call = self.admit_resource(&request.uri, &context).await?;
        let ticker = self.ticker(&request.uri, call).await?;
        let protocol = context.protocol_version();
        Ok(resources::read_result(request.uri, &ticker, self.fresh_for, protocol.as_ref()).into())
    }

    /// Completes the `exchange` and `symbol` of the resource templates (see
    /// [`super::completion`]); admitted as a `list_markets` call, which it makes.
    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        let call = self
            .admit("list_markets", &context)
            .await
            .map_err(|refused| resource_error(resources::TEMPLATE, refused))?;
        let tool = |name: &'static str, args| self.tools.call(name, Some(args), call.clone());
        Ok(super::completion::complete(&request, tool).await)
    }

    /// Legacy (`initialize`) sessions: forwards the ticker's changes until `unsubscribe` or the
    /// end of the session.
    #[allow(
        deprecated,
        reason = "resources/subscribe serves `initialize` sessions"
    )]
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let uri = request.uri;
        let call = self.admit_resource(&uri, &context).await?;
        if self.subscriptions.contains(&uri) {
            return Ok(());
        }
        // Watching resolves the spelling: the cap counts markets, not URIs.
        let (market, mut ticks) = self.source(&uri, &call).await?;
        let peer = context.peer.clone();
        self.subscriptions
            .subscribe(market, uri.clone(), self.max_subscriptions, |uris| {
                let mut updates = PeerUpdates { peer, uris };
                async move {
                    forward_changes(&mut ticks, &mut updates, UPDATE_GAP).await;
                }
            })
            .map_err(|refused| {
                resource_error(
                    &uri,
                    ToolError::new(crypto_market_actors::ErrorCode::RateLimited, refused),
                )
            })
    }

    #[allow(
        deprecated,
        reason = "resources/unsubscribe serves `initialize` sessions"
    )]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.subscriptions.remove(&request.uri);
        Ok(())
    }

    /// 2026-07-28 `subscriptions/listen`: every requested ticker resource, once.
    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        let mut uris: Vec<&String> = Vec::new();
        for uri in requested.resource_subscriptions.iter().flatten() {
            if TickerUri::parse(uri).is_ok() && !uris.contains(&uri) {
                uris.push(uri);
            }
        }
        Some(
            SubscriptionFilter::builder()
                .resource_subscriptions(uris)
                .build(),
        )
    }

    /// Forwards each accepted resource's changes until the client cancels the subscription or
    /// goes away. A resource that cannot be watched (unknown symbol) fails the subscription.
    async fn listen(&self, context: SubscriptionContext) -> Result<(), McpError> {
        let uris = context
            .accepted()
            .resource_subscriptions
            .clone()
            .unwrap_or_default();
        let Some(first) = uris.first() else {
            context.cancelled().await;
            return Ok(());
        };
        let call = self
            .admit_resource(first, context.request_context())
            .await?;
        // One watch per market, however many spellings ask for it; at most the cap.
        let mut markets: Vec<(Market, ResourceSource, Vec<String>)> = Vec::new();
        for uri in uris {
            let (market, ticks) = self.source(&uri, &call).await?;
            match markets.iter().position(|(held, _, _)| *held == market) {
                Some(at) => {
                    let spellings = &mut markets[at].2;
                    if spellings.len() < MAX_SPELLINGS {
                        spellings.push(uri);
                    }
                }
                None if markets.len() >= self.max_subscriptions => {
                    let refused = ToolError::new(
                        crypto_market_actors::ErrorCode::RateLimited,
                        format!(
                            "at most {} resources per subscription (MCP_MAX_SUBSCRIPTIONS)",
                            self.max_subscriptions
                        ),
                    );
                    return Err(resource_error(&uri, refused));
                }
                None => markets.push((market, ticks, vec![uri])),
            }
        }
        let mut forwards = Vec::with_capacity(markets.len());
        for (_, mut ticks, uris) in markets {
            let mut updates = ListenUpdates {
                sink: context.sink().clone(),
                uris,
            };
            forwards.push(async move {
                forward_changes(&mut ticks, &mut updates, UPDATE_GAP).await;
            });
        }
        tokio::select! {
            () = context.cancelled() => {}
            _ = futures::future::join_all(forwards) => {}
        }
        Ok(())
    }
}
