use std::sync::Arc;

use futures::future::BoxFuture;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    InitializeResult, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ProgressNotificationParam, ProgressToken, ReadResourceRequestParams,
    ReadResourceResponse, ReadResourceResult, Resource, ResourceContents, ResourceTemplate,
    ServerCapabilities, SubscribeRequestParams, SubscriptionFilter, Tool, UnsubscribeRequestParams,
};
use rmcp::service::{RequestContext, SubscriptionContext};
use rmcp::{ErrorData as McpError, Peer, RoleServer, ServerHandler};
use serde_json::{json, Value};

use super::catalog;
use super::resources::{
    self, forward_changes, resource_error, ListenUpdates, PeerUpdates, Subscriptions, TickerUri,
    UPDATE_GAP,
};
use super::ticks::{PoolTicker, Ticks};
use crate::client::PubSubClient;
use crate::tools::args::{parse, StreamLimits, StreamTickerArgs};
use crate::tools::{stream, CallContext, ProgressSink, Tool as ToolKind, ToolError, ToolService};

const INSTRUCTIONS: &str = "Cryptocurrency market data (tickers, OHLCV candles, order books, trades, markets) \
from exchanges through ccxt. Symbols accept BTC/USDT, BTCUSDT or btc-usdt. Every result says how fresh it is \
(source, age_ms, stale). Errors carry a code: invalid_symbol (with suggestions), invalid_argument, \
exchange_unavailable, rate_limited, timeout, ... Live tickers: the stream_ticker tool (updates as progress \
notifications), or subscribe to the resource ticker://{exchange}/{symbol} (e.g. ticker://binance/BTCUSDT).";

/// Markets of the default exchange `resources/list` shows besides the session's subscriptions.
const LISTED_MARKETS: u32 = 10;

/// How long a gateway's lease on a pool-side ticker stream lasts when nothing else bounds it
/// (resource subscriptions); renewed while in use.
const POOL_LEASE: std::time::Duration = std::time::Duration::from_secs(300);

/// Who runs the tools: this process's engine, or the worker pool through Redis
/// (`PUBSUB_ENABLED`: the MCP server is then a gateway and calls no exchange itself).
#[derive(Clone)]
pub enum Backend {
    Local(ToolService),
    Pool(Arc<PubSubClient>),
}

impl Backend {
    async fn call(
        &self,
        name: &str,
        arguments: crate::tools::Arguments,
        context: CallContext,
    ) -> Result<Value, ToolError> {
        match self {
            Self::Local(tools) => tools.call(name, arguments, context).await,
            Self::Pool(client) => {
                let streams =
                    ToolKind::named(name).map(|spec| spec.tool) == Some(ToolKind::StreamTicker);
                let call = async {
                    if streams {
                        let args: StreamTickerArgs = parse(arguments)?;
                        let limits = args.limits()?;
                        stream_from_pool(client, &args, limits, &context).await
                    } else {
                        let args = Value::Object(arguments.unwrap_or_default());
                        client.call(name, args).await.map_err(ToolError::from)
                    }
                };
                tokio::select! {
                    outcome = call => outcome,
                    () = context.cancelled() => Err(ToolError::cancelled()),
                }
            }
        }
    }

    /// Every new ticker of `symbol` from now on.
    async fn watch(&self, exchange: Option<&str>, symbol: &str) -> Result<Ticks, ToolError> {
        match self {
            Self::Local(tools) => tools.watch_ticker(exchange, symbol).await.map(Ticks::Watch),
            Self::Pool(client) => PoolTicker::start(client.clone(), exchange, symbol, POOL_LEASE)
                .await
                .map(Ticks::Pool),
        }
    }
}

/// Gateway mode: `stream_ticker` forwarded to the pool and polled there (see [`super::ticks`]).
async fn stream_from_pool(
    client: &Arc<PubSubClient>,
    args: &StreamTickerArgs,
    limits: StreamLimits,
    context: &CallContext,
) -> Result<Value, ToolError> {
    let mut ticks = Ticks::Pool(
        PoolTicker::start(
            client.clone(),
            args.exchange.as_deref(),
            &args.symbol,
            limits.duration,
        )
        .await?,
    );
    let (exchange, symbol) = (ticks.exchange().to_owned(), ticks.symbol().to_owned());
    stream::run(
        &mut ticks,
        &exchange,
        &symbol,
        limits,
        context.progress.as_deref(),
    )
    .await
}

/// The MCP server handler. Cheap to clone; [`McpServer::session`] gives each session its own
/// resource subscriptions over the shared engine.
#[derive(Clone)]
pub struct McpServer {
    tools: Backend,
    catalog: Arc<Vec<Tool>>,
    /// This session's `resources/subscribe` subscriptions; dropped (and released) with the
    /// session's last handler.
    subscriptions: Arc<Subscriptions>,
    /// Rates of the clients calling with their own key over HTTP (`API_KEYS_FILE`).
    limiter: Arc<crate::auth::ClientLimiter>,
}

impl McpServer {
    pub fn new(tools: ToolService) -> Self {
        Self::with_backend(Backend::Local(tools))
    }

    pub fn with_backend(tools: Backend) -> Self {
        Self {
            tools,
            catalog: Arc::new(catalog::tools()),
            subscriptions: Arc::default(),
            limiter: Arc::new(crate::auth::ClientLimiter::new(None)),
        }
    }

    /// Client rates are kept here (e.g. in Redis, shared with other processes).
    pub fn with_limiter(mut self, limiter: crate::auth::ClientLimiter) -> Self {
        self.limiter = Arc::new(limiter);
        self
    }

    /// A call made with a client's key: that client may call `tool`, within its rate.
    async fn admit(
        &self,
        tool: &str,
        context: &RequestContext<RoleServer>,
    ) -> Result<Option<String>, ToolError> {
        let caller = context
            .extensions
            .get::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<super::Caller>());
        let Some(super::Caller(client)) = caller else {
            return Ok(None);
        };
        if !client.may_call(tool) {
            return Err(ToolError::new(
                crypto_market_actors::ErrorCode::Unauthorized,
                format!("client {} may not call {tool}", client.id),
            ));
        }
        match self.limiter.check(client).await {
            crate::auth::Verdict::Allowed => Ok(Some(client.id.clone())),
            crate::auth::Verdict::Limited { retry_after } => Err(ToolError::new(
                crypto_market_actors::ErrorCode::RateLimited,
                format!(
                    "client {} is over its rate ({} requests/s, burst {})",
                    client.id, client.rate_per_s, client.burst
                ),
            )
            .with_retry_after(retry_after)),
        }
    }

    /// A handler for a new session: same tools, no subscriptions yet.
    pub fn session(&self) -> Self {
        Self {
            subscriptions: Arc::default(),
            ..self.clone()
        }
    }

    async fn ticker_json(&self, uri: &str, context: CallContext) -> Result<String, McpError> {
        let target = TickerUri::parse(uri)?;
        let args = json!({"symbol": target.symbol, "exchange": target.exchange});
        let ticker = self
            .tools
            .call("get_ticker", args.as_object().cloned(), context)
            .await
            .map_err(|e| resource_error(uri, e))?;
        Ok(ticker.to_string())
    }

    async fn watch(&self, uri: &str) -> Result<Ticks, McpError> {
        let target = TickerUri::parse(uri)?;
        self.tools
            .watch(Some(target.exchange), target.symbol)
            .await
            .map_err(|e| resource_error(uri, e))
    }

    /// A few markets of the default exchange as resources, best effort.
    async fn default_resources(&self) -> Vec<String> {
        let args = json!({"limit": LISTED_MARKETS});
        let Ok(markets) = self
            .tools
            .call(
                "list_markets",
                args.as_object().cloned(),
                CallContext::default(),
            )
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
            Ok(client_id) => {
                let call = CallContext {
                    client_id,
                    ..call_context(&context)
                };
                self.tools
                    .call(&request.name, request.arguments, call)
                    .await
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
        Ok(ListResourceTemplatesResult::with_all_items(vec![template]))
    }

    /// This session's subscriptions first, then a few markets of the default exchange.
    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let mut uris = self.subscriptions.uris();
        for uri in self.default_resources().await {
            if !uris.contains(&uri) {
                uris.push(uri);
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
        let text = self
            .ticker_json(&request.uri, call_context(&context))
            .await?;
        let contents =
            ResourceContents::text(text, request.uri).with_mime_type(resources::MIME_TYPE);
        Ok(ReadResourceResult::new(vec![contents]).into())
    }

    /// Legacy (`initialize`) sessions: forwards the ticker's changes until `unsubscribe` or the
    /// end of the session.
    #[allow(deprecated)]
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let uri = request.uri;
        if self.subscriptions.contains(&uri) {
            return Ok(());
        }
        let mut ticks = self.watch(&uri).await?;
        let mut updates = PeerUpdates {
            peer: context.peer.clone(),
            uri: uri.clone(),
        };
        self.subscriptions.insert(uri, async move {
            forward_changes(&mut ticks, &mut updates, UPDATE_GAP).await;
        });
        Ok(())
    }

    #[allow(deprecated)]
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
        let mut forwards = Vec::with_capacity(uris.len());
        for uri in uris {
            let mut ticks = self.watch(&uri).await?;
            let mut updates = ListenUpdates {
                sink: context.sink().clone(),
                uri,
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
