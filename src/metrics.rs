//! Prometheus metrics (SPEC.md section 7) through the `metrics` facade: the engine and the
//! front ends record, `metrics-exporter-prometheus` renders. `METRICS_ADDR` serves `/metrics`
//! and `/healthz`. Without it no recorder is installed and recording costs next to nothing.

use std::net::SocketAddr;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use crypto_market_actors::Engine;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Streamed updates delivered, by `channel`: `mcp_progress` (`stream_ticker` progress
/// notifications) and `mcp_resource` (`notifications/resources/updated`).
pub const STREAM_UPDATES: &str = "cmm_stream_updates_total";

/// Latency buckets (seconds): cache hits are sub-millisecond, exchange calls tens of ms to the
/// timeout; 2 ms is a bucket of its own, the aim of a warm `get_indicators` (issue 24).
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
];

/// Buckets (seconds) of the in-engine paths of issue 23 (a book update from its frame, a
/// watch's wake-up): tens of microseconds, with the aims (1 ms, 2 ms) as bounds, so that
/// p50 / p99 read off them are close.
const FAST_PATH_BUCKETS: &[f64] = &[
    0.000_01, 0.000_02, 0.000_03, 0.000_05, 0.000_075, 0.000_1, 0.000_15, 0.000_2, 0.000_3,
    0.000_5, 0.000_75, 0.001, 0.001_5, 0.002, 0.003, 0.005, 0.01, 0.025, 0.1, 1.0,
];

/// Installs the process-wide Prometheus recorder.
pub fn install() -> Result<PrometheusHandle, String> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
        .map_err(|e| format!("metrics buckets: {e}"))?
        .set_buckets_for_metric(
            Matcher::Full(crypto_market_actors::BOOK_APPLY_SECONDS.into()),
            FAST_PATH_BUCKETS,
        )
        .map_err(|e| format!("metrics buckets: {e}"))?
        .set_buckets_for_metric(
            Matcher::Full(crate::tools::watch::WATCH_WAKE_SECONDS.into()),
            FAST_PATH_BUCKETS,
        )
        .map_err(|e| format!("metrics buckets: {e}"))?
        .set_buckets_for_metric(
            Matcher::Full(crate::tools::watch::WATCH_ITEM_SECONDS.into()),
            FAST_PATH_BUCKETS,
        )
        .map_err(|e| format!("metrics buckets: {e}"))?
        .install_recorder()
        .map_err(|e| format!("cannot install the metrics recorder: {e}"))
}

#[derive(Clone)]
struct MetricsState {
    handle: PrometheusHandle,
    engine: Engine,
}

/// Binds `addr` and serves `/metrics` and `/healthz` there in the background.
pub async fn start(
    addr: SocketAddr,
    handle: PrometheusHandle,
    engine: Engine,
) -> Result<(), String> {
    let app = Router::new()
        .route("/metrics", get(render))
        .route("/healthz", get(healthz))
        .with_state(MetricsState { handle, engine });
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("metrics address {addr}: {e}"))?;
    // The bound address, which differs from `addr` for port 0 (tests read it from the log).
    let bound = listener.local_addr().unwrap_or(addr);
    tracing::info!(addr = %bound, "serving /metrics and /healthz");
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("metrics server stopped: {e}");
        }
    });
    Ok(())
}

async fn render(State(state): State<MetricsState>) -> impl IntoResponse {
    // Gauges and cache counters are read at scrape time rather than pushed on every request:
    // the engine already counts them, and the hit path stays free of metric updates.
    let stats = state.engine.cache_stats();
    metrics::counter!("cmm_cache_hits_total", "layer" => "memory").absolute(stats.hits);
    metrics::counter!("cmm_cache_misses_total", "layer" => "memory").absolute(stats.misses);
    if let Some((hits, misses)) = state.engine.remote_cache_counts() {
        metrics::counter!("cmm_cache_hits_total", "layer" => "redis").absolute(hits);
        metrics::counter!("cmm_cache_misses_total", "layer" => "redis").absolute(misses);
    }
    if let Ok(actors) = state.engine.symbol_actor_count().await {
        metrics::gauge!("cmm_symbol_actors").set(actors as f64);
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.handle.render(),
    )
}

async fn healthz(State(state): State<MetricsState>) -> impl IntoResponse {
    // Alive means the actor system answers; exchange health shows in the metrics instead, so
    // an exchange outage does not get every replica restarted.
    match state.engine.symbol_actor_count().await {
        Ok(actors) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({ "status": "ok", "symbol_actors": actors })),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({ "status": "down", "error": e.to_string() })),
        ),
    }
}
