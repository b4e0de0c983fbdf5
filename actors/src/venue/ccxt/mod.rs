//! The ccxt-backed [`Exchange`]: every REST call of every exchange ccxt knows, behind one
//! adapter. Calls run on a pool of ccxt instances sharing the loaded markets, under this
//! process's request-weight budget for the exchange and a deadline of our own (ccxt reports
//! its own client timeout as a plain network error).

mod batch;
mod convert;
mod derivatives;
mod diagnose;
#[doc(hidden)]
pub mod fuzzing;
mod instance;
mod pool;
mod side;
mod weights;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ccxt::TypedExchangeExt;

use super::{
    CallLog, CircuitBreaker, Exchange, Feed, InstanceCounts, VenueConfig, VenueError, VenueHealth,
    WeightBudget,
};
use crate::memory::release_free_memory;
use crate::model::{
    Candle, CandlePrice, FundingPoint, FundingRate, Market, MarketType, OpenInterest, OrderBook,
    Ticker, Timeframe, Trade,
};
use instance::{build, Instance, InstanceFactory};
use side::Side;
use weights::Weights;

/// For `benches/footprint.rs`, which measures what these build and keep.
#[doc(hidden)]
pub mod footprint {
    pub use super::convert::market;
    pub use super::instance::{market_tables, without_info};
    pub use super::rebase_urls;
}

/// Exchange ids this build can serve (the ccxt crate is compiled with only these features).
pub const SUPPORTED_EXCHANGES: &[&str] = &["binance", "okx", "bybit", "kraken", "coinbase"];

/// Extra time ccxt's own HTTP client gets over our deadline, so that ours always fires first
/// and is reported as `timeout` rather than as a network error.
const CCXT_TIMEOUT_MARGIN: Duration = Duration::from_secs(1);
/// Failures in a row (5xx, unreachable, timeouts) that open the exchange's circuit, and how
/// long it then stays open.
const CIRCUIT_THRESHOLD: u32 = 5;
const CIRCUIT_OPEN_FOR: Duration = Duration::from_secs(5);
/// Instances idle this long are dropped (all but the most recently used one), checked this
/// often: a burst's instances go a minute after it, and the next call still finds one ready.
const INSTANCE_IDLE_FOR: Duration = Duration::from_secs(60);
const INSTANCE_IDLE_CHECK: Duration = Duration::from_secs(15);
/// Instances kept ready: made after a markets load, and never dropped for being idle.
const INSTANCES_KEPT_IDLE: usize = 1;

pub struct CcxtExchange {
    id: String,
    timeframes: Vec<String>,
    /// Spot markets and their instances, budget and ticker batcher.
    spot: Side,
    /// Derivative markets (loaded on first use), with their own instances; their own budget
    /// where the exchange counts derivative weights apart (Binance `fapi`).
    derivatives: Side,
    /// `MARKET_TYPES`.
    market_types: Vec<MarketType>,
    /// Funding interval (hours) per unified symbol where the exchange lists it apart from the
    /// rate (Binance `fundingInfo`); read when the rate does not say.
    funding_intervals: std::sync::RwLock<HashMap<String, f64>>,
    breaker: CircuitBreaker,
    /// Calls of the last minute, for `exchange_status`.
    calls: CallLog,
    timeout: Duration,
    /// Scheme, host and port of the REST API, probed to say why it cannot be reached.
    rest_base: Option<url::Url>,
    /// The exchange's websocket feed, where this build has one for its format.
    feed: Option<Arc<dyn Feed>>,
    /// Whether the task dropping idle instances runs (started with the first markets load,
    /// inside the runtime).
    idle_trimming: std::sync::atomic::AtomicBool,
}

impl CcxtExchange {
    pub fn new(config: &VenueConfig) -> Result<Self, VenueError> {
        let (_, describe) = build(&config.id, None).ok_or_else(|| {
            VenueError::Unsupported(format!(
                "exchange {} (built with: {})",
                config.id,
                SUPPORTED_EXCHANGES.join(", ")
            ))
        })?;
        let mut base_config = serde_json::json!({
            // Our budget replaces ccxt's limiter, which allows ~50 calls/s per instance and
            // stalls after heavy calls (see docs/notes on ccxt).
            "enableRateLimit": false,
            "timeout": (config.timeout + CCXT_TIMEOUT_MARGIN).as_millis() as u64,
        });
        let api = describe.urls.get("api").cloned().unwrap_or_default();
        let rest_base = match &config.rest_url {
            Some(rest_url) => {
                base_config["urls"] = serde_json::json!({ "api": rebase_urls(api, rest_url)? });
                url::Url::parse(rest_url).ok()
            }
            None => api
                .get("public")
                .and_then(|u| u.as_str())
                .and_then(|u| url::Url::parse(u).ok()),
        };
        let mut weights = Weights::for_exchange(&config.id);
        if let Some(limit) = config.weight_limit {
            // A tenth of the minute as burst, but never less than the heaviest common call
            // (the markets list), which must fit in one burst.
            weights.burst = (limit / 10)
                .max(weights.markets)
                .min(limit.max(weights.markets));
            weights.per_minute = limit;
        }
        let max_calls = config.max_concurrent_calls.max(1);
        let spot_budget = Arc::new(WeightBudget::new(
            config.enable_rate_limit,
            weights.per_minute,
            weights.burst,
        ));
        let derivative_weights = Weights::for_derivatives(&config.id);
        let derivative_budget = if derivative_weights.own_budget {
            Arc::new(WeightBudget::new(
                config.enable_rate_limit,
                derivative_weights.per_minute,
                derivative_weights.burst,
            ))
        } else {
            spot_budget.clone()
        };
        let spot_types: Vec<&'static str> = if config.market_types.contains(&MarketType::Spot) {
            vec!["spot"]
        } else {
            Vec::new()
        };
        let derivative_types = side::derivative_ccxt_types(&config.id, &config.market_types);
        let factory = |types: &[&str]| {
            InstanceFactory::new(
                config.id.clone(),
                side::with_market_types(&base_config, types),
            )
        };
        Ok(Self {
            id: config.id.clone(),
            timeframes: describe.timeframes,
            spot: Side::new(
                factory(&["spot"]),
                max_calls,
                spot_budget,
                weights,
                config.ticker_batch_window,
                spot_types,
            ),
            derivatives: Side::new(
                factory(if derivative_types.is_empty() {
                    &["spot"]
                } else {
                    &derivative_types
                }),
                max_calls,
                derivative_budget,
                derivative_weights,
                config.ticker_batch_window,
                derivative_types,
            ),
            market_types: config.market_types.clone(),
            funding_intervals: std::sync::RwLock::new(HashMap::new()),
            breaker: CircuitBreaker::new(CIRCUIT_THRESHOLD, CIRCUIT_OPEN_FOR),
            calls: CallLog::default(),
            timeout: config.timeout,
            rest_base,
            feed: super::feed_for(config),
            idle_trimming: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Candles of `symbol` from `side`'s instances; `params` are ccxt's (`price: mark` or
    /// `index` for a derivative's price candles, nothing for trade candles).
    async fn candles(
        &self,
        side: &Side,
        symbol: &str,
        timeframe: &Timeframe,
        since: Option<i64>,
        limit: u32,
        params: ccxt::Params,
    ) -> Result<Vec<Candle>, VenueError> {
        let rows = self
            .call(side, "ohlcv", side.weights.ohlcv, async {
                let mut ex = side.instance().await?;
                let reply = ex
                    .fetch_ohlcv(
                        symbol,
                        Some(timeframe.as_str()),
                        since,
                        Some(i64::from(limit)),
                        params,
                    )
                    .await;
                reply.map_err(|e| failure(&ex, e))
            })
            .await?;
        Ok(convert::candles(rows))
    }

    /// Starts, once, the task that drops instances idle for [`INSTANCE_IDLE_FOR`] on both
    /// sides; it ends with the adapter's pools.
    fn start_idle_trimming(&self) {
        if self
            .idle_trimming
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return;
        }
        let pools = [
            Arc::downgrade(&self.spot.pool),
            Arc::downgrade(&self.derivatives.pool),
        ];
        tokio::spawn(async move {
            let mut every = tokio::time::interval(INSTANCE_IDLE_CHECK);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let mut dropped = 0;
                for pool in &pools {
                    let Some(pool) = pool.upgrade() else { return };
                    dropped += pool.trim_idle(INSTANCES_KEPT_IDLE, INSTANCE_IDLE_FOR);
                }
                if dropped > 0 {
                    release_free_memory().await;
                }
            }
        });
    }

    /// The side serving `symbol`: ccxt's unified derivative symbols all have a settle part
    /// (`BTC/USDT:USDT`), spot ones never.
    fn side(&self, symbol: &str) -> &Side {
        if symbol.contains(':') {
            &self.derivatives
        } else {
            &self.spot
        }
    }

    /// Tickers of up to `ticker_batch` symbols in one call (a single symbol uses the
    /// single-symbol endpoint, which Binance charges the same).
    async fn fetch_ticker_chunk(
        &self,
        symbols: Vec<String>,
    ) -> HashMap<String, Result<Ticker, VenueError>> {
        if let [symbol] = symbols.as_slice() {
            return HashMap::from([(symbol.clone(), self.fetch_one_ticker(symbol).await)]);
        }
        let side = &self.spot;
        let reply = self
            .call(
                side,
                "tickers",
                side.weights.tickers(symbols.len()),
                async {
                    let mut ex = side.instance().await?;
                    let reply = ex.fetch_tickers(Some(symbols.clone()), ()).await;
                    reply.map_err(|e| failure(&ex, e))
                },
            )
            .await;
        // One symbol the exchange rejects (delisted since the markets were loaded) fails the
        // whole request: ask for each symbol on its own so the others are still served.
        if matches!(
            reply,
            Err(VenueError::BadSymbol(_) | VenueError::BadRequest(_))
        ) {
            let singles = symbols
                .iter()
                .map(|symbol| async move { (symbol.clone(), self.fetch_one_ticker(symbol).await) });
            return futures::future::join_all(singles)
                .await
                .into_iter()
                .collect();
        }
        symbols
            .into_iter()
            .map(|symbol| {
                let answer = match &reply {
                    Ok(tickers) => tickers
                        .get(&symbol)
                        .cloned()
                        .map(convert::ticker)
                        .ok_or_else(|| {
                            VenueError::Malformed(format!(
                                "no {symbol} in the exchange's tickers reply"
                            ))
                        }),
                    Err(error) => Err(error.clone()),
                };
                (symbol, answer)
            })
            .collect()
    }

    async fn fetch_one_ticker(&self, symbol: &str) -> Result<Ticker, VenueError> {
        if std::ptr::eq(self.side(symbol), &self.derivatives) {
            return self.derivative_ticker(symbol).await;
        }
        self.ticker_call(symbol).await
    }

    /// One symbol's ticker, as the exchange's ticker endpoint gives it.
    async fn ticker_call(&self, symbol: &str) -> Result<Ticker, VenueError> {
        let side = self.side(symbol);
        let ticker = self
            .call(side, "ticker", side.weights.ticker, async {
                let mut ex = side.instance().await?;
                let reply = ex.fetch_ticker(symbol, ()).await;
                reply.map_err(|e| failure(&ex, e))
            })
            .await?;
        Ok(convert::ticker(ticker))
    }

    /// Runs one exchange call within the circuit, the budget and the deadline. The deadline
    /// covers waiting for budget and for a free instance too: the caller's patience does not
    /// care why. Counted in `cmm_exchange_calls_total{exchange,endpoint,outcome}` and timed in
    /// `cmm_exchange_call_duration_seconds`.
    async fn call<T>(
        &self,
        side: &Side,
        endpoint: &'static str,
        weight: u32,
        work: impl Future<Output = Result<T, VenueError>>,
    ) -> Result<T, VenueError> {
        let started = std::time::Instant::now();
        // Refused by an open circuit: not an exchange call, so neither counted nor recorded.
        self.breaker.check()?;
        // Whether the call got past our own budget: a refusal of ours is not an exchange call
        // and must not show in `exchange_status` as one.
        let reached = std::sync::atomic::AtomicBool::new(false);
        let attempt = async {
            side.budget.admit(weight).await?;
            reached.store(true, std::sync::atomic::Ordering::Relaxed);
            let result = work.await;
            if let Err(VenueError::RateLimited {
                retry_after: Some(wait),
                ..
            }) = &result
            {
                tracing::warn!(exchange = %self.id, wait_ms = wait.as_millis() as u64, "exchange rate-limited us; backing off");
                side.budget.back_off_everyone(*wait).await;
            }
            result
        };
        let mut result = match tokio::time::timeout(self.timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(VenueError::Timeout(self.timeout)),
        };
        if let (Err(VenueError::Unreachable(message)), Some(base)) = (&mut result, &self.rest_base)
        {
            // Say what failed: the name, the port, or TLS (ccxt only says "network error").
            if let Some(reason) = diagnose::unreachable_reason(base).await {
                *message = format!("{}: {reason}", base.as_str().trim_end_matches('/'));
            }
        }
        self.breaker.record(&result);
        if reached.load(std::sync::atomic::Ordering::Relaxed) {
            self.calls.record(weight, started.elapsed(), &result);
        }
        let exchange = self.id.clone();
        metrics::counter!("cmm_exchange_calls_total", "exchange" => exchange.clone(), "endpoint" => endpoint, "outcome" => outcome_label(&result))
            .increment(1);
        metrics::histogram!("cmm_exchange_call_duration_seconds", "exchange" => exchange, "endpoint" => endpoint)
            .record(started.elapsed().as_secs_f64());
        result
    }
}

/// A ccxt failure of a call made on `ex`, with the response's `Retry-After` (ccxt keeps the
/// last response's headers on the instance).
fn failure(ex: &Instance, error: ccxt::ExchangeError) -> VenueError {
    convert::error(error, instance::retry_after(ex.as_ref()))
}

fn outcome_label<T>(result: &Result<T, VenueError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(VenueError::BadSymbol(_)) => "bad_symbol",
        Err(VenueError::BadRequest(_)) => "bad_request",
        Err(VenueError::Unsupported(_)) => "unsupported",
        Err(VenueError::Unavailable { .. }) => "unavailable",
        Err(VenueError::Rejected(_)) => "rejected",
        Err(VenueError::Unreachable(_)) => "unreachable",
        Err(VenueError::Config(_)) => "config",
        Err(VenueError::RateLimited { .. }) => "rate_limited",
        Err(VenueError::Timeout(_)) => "timeout",
        Err(VenueError::Unauthorized(_)) => "unauthorized",
        Err(VenueError::Malformed(_)) => "malformed",
        Err(VenueError::Other(_)) => "error",
    }
}

/// Replaces scheme, host and port of every http(s) URL under `api`, keeping each path.
pub fn rebase_urls(api: serde_json::Value, base: &str) -> Result<serde_json::Value, VenueError> {
    let base = url::Url::parse(base)
        .map_err(|e| VenueError::Config(format!("REST URL {base:?} is not a URL: {e}")))?;
    if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
        return Err(VenueError::Config(format!(
            "REST URL {base} must be http:// or https:// with a host"
        )));
    }
    Ok(match api {
        serde_json::Value::String(s) => match url::Url::parse(&s) {
            Ok(mut u) if matches!(u.scheme(), "http" | "https") => {
                // Both are "special" schemes, so switching between them cannot fail.
                let _ = u.set_scheme(base.scheme());
                let _ = u.set_host(base.host_str());
                let _ = u.set_port(base.port());
                serde_json::Value::String(u.to_string().trim_end_matches('/').to_owned())
            }
            _ => serde_json::Value::String(s),
        },
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.into_iter()
                .map(|(k, v)| Ok((k, rebase_urls(v, base.as_str())?)))
                .collect::<Result<_, VenueError>>()?,
        ),
        other => other,
    })
}

#[async_trait]
impl Exchange for CcxtExchange {
    fn id(&self) -> &str {
        &self.id
    }

    fn timeframes(&self) -> &[String] {
        &self.timeframes
    }

    fn feed(&self) -> Option<Arc<dyn Feed>> {
        self.feed.clone()
    }

    fn health(&self) -> Option<VenueHealth> {
        let mut health = self
            .calls
            .health(self.breaker.state(), self.spot.weights.per_minute);
        // Both sides' instances; the derivative side's most only where it can have any.
        let (spot, derivatives) = (self.spot.pool.counts(), self.derivatives.pool.counts());
        health.instances = Some(InstanceCounts {
            live: spot.live + derivatives.live,
            idle: spot.idle + derivatives.idle,
            max: spot.max
                + if self.has_derivatives() {
                    derivatives.max
                } else {
                    0
                },
        });
        Some(health)
    }

    fn shed_idle(&self) -> usize {
        self.spot.pool.trim_idle(0, Duration::ZERO)
            + self.derivatives.pool.trim_idle(0, Duration::ZERO)
    }

    fn share_budget(&self, shared: Arc<dyn super::SharedBudget>) {
        self.spot.budget.share(&self.id, shared.clone());
        if !Arc::ptr_eq(&self.spot.budget, &self.derivatives.budget) {
            // Its own key: Binance counts futures weights apart from spot ones.
            self.derivatives
                .budget
                .share(&format!("{}-derivatives", self.id), shared);
        }
    }

    async fn load_markets(&self) -> Result<Vec<Market>, VenueError> {
        self.load_side(false).await
    }

    fn has_derivatives(&self) -> bool {
        !self.derivatives.ccxt_types.is_empty()
    }

    fn has_spot(&self) -> bool {
        !self.spot.ccxt_types.is_empty()
    }

    fn listed_funding_interval(&self, symbol: &str) -> Option<f64> {
        self.listed_interval(symbol)
    }

    async fn load_derivative_markets(&self) -> Result<Vec<Market>, VenueError> {
        if !self.has_derivatives() {
            return Err(VenueError::Unsupported(format!(
                "derivatives on {} (MARKET_TYPES: {})",
                self.id,
                self.market_types
                    .iter()
                    .map(|t| t.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            )));
        }
        let markets = self.load_side(true).await?;
        self.load_funding_intervals().await;
        Ok(markets)
    }

    async fn fetch_funding_rate(&self, symbol: &str) -> Result<FundingRate, VenueError> {
        self.funding_rate(symbol).await
    }

    async fn fetch_funding_history(
        &self,
        symbol: &str,
        since: Option<i64>,
        until: Option<i64>,
        limit: u32,
    ) -> Result<Vec<FundingPoint>, VenueError> {
        self.funding_history(symbol, since, until, limit).await
    }

    async fn fetch_open_interest(&self, symbol: &str) -> Result<OpenInterest, VenueError> {
        self.open_interest(symbol).await
    }

    async fn fetch_price_ohlcv(
        &self,
        symbol: &str,
        timeframe: &Timeframe,
        since: Option<i64>,
        limit: u32,
        price: CandlePrice,
    ) -> Result<Vec<Candle>, VenueError> {
        self.price_candles(symbol, timeframe, since, limit, price)
            .await
    }

    async fn fetch_ticker(&self, symbol: &str) -> Result<Ticker, VenueError> {
        let side = self.side(symbol);
        if side.weights.ticker_batch <= 1 {
            return self.fetch_one_ticker(symbol).await;
        }
        let key = [symbol.to_owned()];
        let mut answers = side
            .tickers
            .get_many(&key, |chunk| self.fetch_ticker_chunk(chunk))
            .await;
        answers
            .remove(symbol)
            .unwrap_or_else(|| Err(VenueError::Other(format!("no answer for {symbol}"))))
    }

    async fn fetch_tickers(
        &self,
        symbols: &[String],
    ) -> HashMap<String, Result<Ticker, VenueError>> {
        // Spot tickers travel in batches where the exchange has them; derivatives' each alone
        // (a batch cannot mix market types, and Binance's `fapi` has no `symbols` list).
        let (derivative, spot): (Vec<String>, Vec<String>) =
            symbols.iter().cloned().partition(|s| s.contains(':'));
        let singles = |list: Vec<String>| async move {
            let each = list
                .into_iter()
                .map(|s| async move { (s.clone(), self.fetch_one_ticker(&s).await) });
            futures::future::join_all(each).await
        };
        let spot_answers = async {
            if spot.is_empty() {
                HashMap::new()
            } else if self.spot.weights.ticker_batch <= 1 {
                singles(spot.clone()).await.into_iter().collect()
            } else {
                self.spot
                    .tickers
                    .get_many(&spot, |chunk| self.fetch_ticker_chunk(chunk))
                    .await
            }
        };
        let (mut answers, derivative_answers) =
            futures::future::join(spot_answers, singles(derivative)).await;
        answers.extend(derivative_answers);
        answers
    }

    async fn fetch_ohlcv(
        &self,
        symbol: &str,
        timeframe: &Timeframe,
        since: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Candle>, VenueError> {
        let side = self.side(symbol);
        self.candles(side, symbol, timeframe, since, limit, ().into())
            .await
    }

    fn max_book_depth(&self) -> u32 {
        weights::max_book_depth(&self.id)
    }

    /// One call for every ticker (Binance: ticker/24hr without symbols, weight 80), charged to
    /// the spot budget like any call.
    async fn fetch_all_tickers(&self) -> Result<Vec<Ticker>, VenueError> {
        let side = &self.spot;
        let tickers = self
            .call(side, "tickers_all", side.weights.all_tickers, async {
                let mut ex = side.instance().await?;
                // Spot asked for by name: without it ccxt's Bybit asks for its default type
                // (linear perpetuals) and names them by the spot markets it has loaded. Kraken
                // has spot only, and ccxt would pass `type` on as a query parameter.
                let params = if self.id == "kraken" {
                    ccxt::Params::default()
                } else {
                    ccxt::Params::from(ccxt::Value::from(serde_json::json!({ "type": "spot" })))
                };
                let reply = ex.fetch_tickers(None, params).await;
                reply.map_err(|e| failure(&ex, e))
            })
            .await?;
        Ok(tickers.into_values().map(convert::ticker).collect())
    }

    async fn fetch_order_book(&self, symbol: &str, limit: u32) -> Result<OrderBook, VenueError> {
        let side = self.side(symbol);
        // Deeper than the venue serves is an error there: its whole book is what it has.
        let limit = limit.min(self.max_book_depth());
        let book = self
            .call(side, "orderbook", side.weights.order_book(limit), async {
                let mut ex = side.instance().await?;
                let reply = ex
                    .fetch_order_book(symbol, Some(i64::from(limit)), ())
                    .await;
                reply.map_err(|e| failure(&ex, e))
            })
            .await?;
        Ok(convert::order_book(book))
    }

    async fn fetch_trades(&self, symbol: &str, limit: u32) -> Result<Vec<Trade>, VenueError> {
        let side = self.side(symbol);
        let trades = self
            .call(side, "trades", side.weights.trades, async {
                let mut ex = side.instance().await?;
                let reply = ex
                    .fetch_trades(symbol, None, Some(i64::from(limit)), ())
                    .await;
                reply.map_err(|e| failure(&ex, e))
            })
            .await?;
        Ok(convert::trades(trades))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebases_every_http_url_and_keeps_paths() {
        let api = serde_json::json!({
            "public": "https://api.binance.com/api/v3",
            "sapi": "https://api.binance.com/sapi/v1",
            "nested": { "fapi": "https://fapi.binance.com/fapi/v1" },
            "ws": "wss://stream.binance.com:9443/ws",
        });
        let out = rebase_urls(api, "http://127.0.0.1:9000").unwrap();
        assert_eq!(out["public"], "http://127.0.0.1:9000/api/v3");
        assert_eq!(out["sapi"], "http://127.0.0.1:9000/sapi/v1");
        assert_eq!(out["nested"]["fapi"], "http://127.0.0.1:9000/fapi/v1");
        assert_eq!(out["ws"], "wss://stream.binance.com:9443/ws");
    }

    #[test]
    fn binance_describes_its_timeframes() {
        let ex = CcxtExchange::new(&VenueConfig::new("binance")).unwrap();
        for tf in ["1m", "1h", "1d"] {
            assert!(
                ex.timeframes().iter().any(|t| t == tf),
                "{tf} in {:?}",
                ex.timeframes()
            );
        }
        assert!(!ex.timeframes().iter().any(|t| t == "7m"));
        assert!(matches!(
            CcxtExchange::new(&VenueConfig::new("nosuchexchange")),
            Err(VenueError::Unsupported(_))
        ));
    }
}
