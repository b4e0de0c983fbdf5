//! The public spot REST market data of OKX, Bybit, Kraken and Coinbase, each in its own wire
//! format, paths, errors and HTTP status conventions (Binance's is `crate::rest`).
//!
//! The data is the one market (`crate::market`): the same symbols, walk, book, trade tape and
//! candles, seen through the venue's price skew ([`crate::Venue`]). Only the formats differ.
//!
//! Every request goes through [`serve`]: count and log → charge one unit against the per-minute
//! limit (`SimConfig::weight_limit`) → injected latency → rate limit / injected status → the
//! venue's handler. So faults, counters, the request log and the limit work as for Binance.
//!
//! Endpoint names (for `SimHandle::calls`, `Faults::endpoints` and the request log) are the path
//! after the venue's REST base:
//! * OKX (`/api/v5/`): `public/instruments`, `public/time`, `market/ticker`, `market/tickers`,
//!   `market/books`, `market/books-full`, `market/candles`, `market/history-candles`,
//!   `market/trades`, `market/history-trades`.
//! * Bybit (`/v5/`): `market/instruments-info`, `market/time`, `market/tickers`,
//!   `market/orderbook`, `market/kline`, `market/recent-trade`.
//! * Kraken (`/0/public/`): `AssetPairs`, `Assets`, `Ticker`, `Depth`, `OHLC`, `Trades`, `Time`,
//!   `SystemStatus`.
//! * Coinbase (`/api/v3/brokerage/`): `market/products`, `market/products/{product_id}`,
//!   `market/products/{product_id}/ticker`, `market/products/{product_id}/candles`,
//!   `market/product_book`, `time`; and the v2 currency lists ccxt loads with the markets
//!   (`/v2/`): `v2/currencies`, `v2/currencies/crypto`, `v2/exchange-rates`.
//!
//! Derivatives (see `market::derivatives` for the contracts, `market::contract` for how their
//! prices, funding and open interest are made) are counted under the endpoint name with a
//! prefix, so spot's counts stay spot's and [`crate::SimHandle::derivative_calls`] says whether a
//! client asked for any:
//! * Binance USDⓈ-M (`binance_futures`, `/fapi/...` on the Binance port, its own weight budget):
//!   the path, `fapi/v1/premiumIndex`, `fapi/v1/fundingRate`, `fapi/v1/fundingInfo`,
//!   `fapi/v1/openInterest`, `fapi/v1/exchangeInfo`, `fapi/v1/ticker/24hr`,
//!   `fapi/v1/ticker/bookTicker`, `fapi/v1/ticker/price`, `fapi/v2/ticker/price`,
//!   `fapi/v1/klines`, `fapi/v1/markPriceKlines`, `fapi/v1/indexPriceKlines`, `fapi/v1/depth`,
//!   `fapi/v1/trades`, `fapi/v1/aggTrades`, `fapi/v1/historicalTrades`, `fapi/v1/time`,
//!   `fapi/v1/ping`.
//! * OKX: `swap:<endpoint>` for every request with `instType=SWAP` (or FUTURES / OPTION, which
//!   list nothing), an `instId` ending in `-SWAP`, or a swap-only endpoint:
//!   `public/funding-rate`, `public/funding-rate-history`, `public/open-interest`,
//!   `public/mark-price`, `market/index-tickers`, `market/mark-price-candles`,
//!   `market/history-mark-price-candles`, `market/index-candles`,
//!   `market/history-index-candles`.
//! * Bybit: `linear:<endpoint>` for `category=linear` and the linear-only
//!   `market/funding/history`, `market/open-interest`, `market/mark-price-kline`,
//!   `market/index-price-kline`.
//!
//! Paths a venue does not have answer 404 and are counted under their full path. The request
//! log's `symbols` are the venue's own ids as sent (`BTC-USDT`, `XBTUSDT`). The
//! `delisted` fault takes Binance ids (`SOLUSDT`) for every venue. `last_response` is keyed by
//! endpoint name and the first venue id named.
//!
//! How ccxt 4.5.91 classifies each venue's errors (read from its `handle_errors` and exception
//! tables, and exercised through the engine's adapter by `actors/tests/sim_venues.rs`; the
//! adapter's `VenueError` in brackets):
//! * symbol not in the loaded markets: ccxt raises `BadSymbol` before any request [BadSymbol].
//! * symbol the venue refuses (delisted since the markets were loaded): OKX HTTP 200
//!   `{"code":"51001","msg":"Instrument ID does not exist","data":[]}` → `BadSymbol`
//!   [BadSymbol]; Bybit HTTP 200 `{"retCode":10001,"retMsg":"Not supported symbols",...}` →
//!   `BadSymbol`, matched on the message [BadSymbol]; Kraken HTTP 200
//!   `{"error":["EQuery:Unknown asset pair"]}` → plain `ExchangeError` (ccxt's table has only
//!   "EQuery:Unknown asset" and "EQuery:Invalid asset pair") [Rejected]; Coinbase HTTP 404
//!   `{"error":"NOT_FOUND",...}` → plain `ExchangeError` [Rejected].
//! * rate limit (over `weight_limit`, or an injected 429 / 418): OKX HTTP 429
//!   `{"code":"50011","msg":"Too Many Requests","data":[]}` → `RateLimitExceeded`; Bybit HTTP
//!   200 `retCode 10006` "Too many visits!" → `RateLimitExceeded`; Kraken HTTP 200
//!   `{"error":["EAPI:Rate limit exceeded"]}` → `DDoSProtection`; Coinbase HTTP 429
//!   `{"error":"rate_limit_exceeded",...}` → `RateLimitExceeded` [all RateLimited, with the
//!   `Retry-After` every one of them carries here].
//! * an injected 403 on Bybit is its IP ban, plain text "access too frequent": ccxt-rs reports
//!   it as `ExchangeNotAvailable` (its 403 → RateLimitExceeded table entry is not applied)
//!   [Unavailable].
//! * injected 5xx: OKX `{"code":"50001",...}` → `OnMaintenance`; Bybit and Coinbase a plain
//!   text gateway error → `ExchangeNotAvailable` by status; Kraken `EGeneral:Internal error`
//!   (500) / `EService:Unavailable` → `ExchangeNotAvailable` [all Unavailable].

pub mod binance_futures;
pub(crate) mod bybit;
pub(crate) mod coinbase;
pub mod format;
pub(crate) mod kraken;
pub(crate) mod okx;

use crate::counters::Verdict;
use crate::market::{Market, Symbol};
use crate::rest::Params;
use crate::state::{now_ms, SimState};
use crate::venue::{Quote, Venue};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::sync::Arc;

/// Why a venue handler refused a request (rendered in the venue's own error format).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reject {
    /// The instrument / pair / product does not exist (or is delisted).
    UnknownSymbol,
    /// A parameter is missing or wrong; the message says which.
    BadParam(String),
}

/// An HTTP answer: status, body and its content type.
pub struct Answer {
    pub status: StatusCode,
    pub body: String,
    pub json: bool,
}

impl Answer {
    pub fn json(status: StatusCode, body: String) -> Answer {
        Answer {
            status,
            body,
            json: true,
        }
    }

    pub fn text(status: StatusCode, body: &str) -> Answer {
        Answer {
            status,
            body: body.to_string(),
            json: false,
        }
    }
}

/// One venue's REST surface. Handlers are synchronous functions of (market, path, params, now),
/// unit-testable without HTTP, as Binance's are.
pub trait VenueApi: Sync {
    /// The endpoint name of a request path (full path), or None if the venue has no such path.
    fn endpoint(&self, path: &str) -> Option<&'static str>;
    /// The venue ids the request names (for the log and the `delisted` fault).
    fn symbols_named(&self, path: &str, p: &Params) -> Vec<String>;
    /// The 200 body.
    fn handle(
        &self,
        endpoint: &'static str,
        path: &str,
        m: &Market,
        p: &Params,
        now: u64,
    ) -> Result<String, Reject>;
    /// The counter prefix (`"swap:"`) when a request is about derivatives (it is then counted
    /// and logged as `<prefix><endpoint>` and answered by [`VenueApi::handle_derivative`]);
    /// None for spot requests and on venues without derivatives.
    fn derivative(&self, _endpoint: &str, _p: &Params) -> Option<&'static str> {
        None
    }
    /// The 200 body of a derivatives request.
    fn handle_derivative(
        &self,
        endpoint: &'static str,
        _d: &crate::market::derivatives::Derivatives,
        _p: &Params,
        _now: u64,
    ) -> Result<String, Reject> {
        Err(Reject::BadParam(format!("no derivatives at {endpoint}")))
    }
    /// A refused request in the venue's format.
    fn reject(&self, r: &Reject, now: u64) -> Answer;
    /// Over the rate limit (also for an injected 429 / 418).
    fn rate_limited(&self, now: u64) -> Answer;
    /// An injected status other than 429 / 418.
    fn failure(&self, status: StatusCode, now: u64) -> Answer;
}

fn api(venue: Venue) -> Option<&'static dyn VenueApi> {
    match venue {
        Venue::Binance => None,
        Venue::Okx => Some(&okx::Okx),
        Venue::Bybit => Some(&bybit::Bybit),
        Venue::Kraken => Some(&kraken::Kraken),
        Venue::Coinbase => Some(&coinbase::Coinbase),
    }
}

/// `base`/`quote` (Binance spelling) as the venue's market id.
pub fn market_id(venue: Venue, base: &str, quote: &str) -> String {
    match venue {
        Venue::Binance | Venue::Bybit => format!("{base}{quote}"),
        Venue::Okx | Venue::Coinbase => format!("{base}-{quote}"),
        Venue::Kraken => kraken::pair_id(base, quote),
    }
}

/// The last price the venue's REST ticker shows at `t_ms`, in 1e-8 units. Coinbase's ticker is
/// its latest trade (ccxt reads `last` from it), printed at its step's walk price; the others
/// show the walk price, as Binance. Both change only with the walk step (Coinbase: once the
/// step's first trade has happened).
pub fn last_price(m: &Market, s: &Symbol, t_ms: u64) -> u64 {
    match m.venue() {
        Venue::Coinbase => m.trade(s, m.last_trade_id(s, t_ms)).price,
        _ => m.price_at(s, t_ms),
    }
}

/// What the venue's REST ticker says at `t_ms`, as numbers.
pub fn quote(m: &Market, s: &Symbol, t_ms: u64) -> Quote {
    let book = m.book(s, t_ms, 1);
    let f = crate::market::decimal::to_f64;
    Quote {
        bid: f(book.bids.first().map_or(0, |l| l.0)),
        ask: f(book.asks.first().map_or(0, |l| l.0)),
        last: f(last_price(m, s, t_ms)),
    }
}

/// The router of a non-Binance venue: its REST paths (matched by [`VenueApi::endpoint`]) and the
/// `/__sim` controls. None for Binance, whose router is `crate::rest::router`.
pub fn router(state: Arc<SimState>) -> Option<Router> {
    api(state.config.venue)?;
    Some(
        Router::new()
            .merge(crate::rest::control_routes())
            // The venue's websocket, and the websocket controls (drop, refuse, shutdown, stats)
            // shared with Binance's streams.
            .merge(crate::ws::control::routes())
            .merge(crate::vws::routes(state.config.venue))
            .fallback(serve)
            .with_state(state),
    )
}

/// What the venue's REST would answer to `path_and_query` at wall time `at_ms` (no counting,
/// weight or faults): the 200 body, or Err with why not. Spot only.
pub fn body_at(st: &SimState, path_and_query: &str, at_ms: u64) -> Result<String, String> {
    let api = api(st.config.venue).ok_or("Binance: use SimHandle::rest_body_at")?;
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let e = api
        .endpoint(path)
        .ok_or_else(|| format!("no endpoint {path}"))?;
    api.handle(e, path, &st.market(), &Params::parse(query), at_ms)
        .map_err(|r| format!("{r:?}"))
}

async fn serve(State(st): State<Arc<SimState>>, uri: Uri) -> Response {
    let Some(api) = api(st.config.venue) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let path = uri.path();
    let query = uri.query();
    let endpoint = api.endpoint(path);
    let params = Params::parse(query);
    // Derivative requests are counted apart (`swap:market/ticker`), so spot's counts stay
    // spot's and a test can tell when a client first asked for derivatives.
    let derivative = endpoint.and_then(|e| api.derivative(e, &params));
    let name = match (derivative, endpoint) {
        (Some(prefix), Some(e)) => format!("{prefix}{e}"),
        _ => endpoint.unwrap_or(path).to_string(),
    };
    let name = name.as_str();
    // Counted and logged on arrival, before any latency (as Binance's requests).
    st.calls.incr(name);
    let named = api.symbols_named(path, &params);
    let ticket = st.requests.record(
        name,
        query.map(crate::rest::decode).unwrap_or_default(),
        named.clone(),
    );
    // These venues publish no per-endpoint weights the simulator models: one unit a request.
    let charge = st.weight.charge(1, now_ms());
    let plan = st.faults.plan(name);
    if !plan.delay.is_zero() {
        tokio::time::sleep(plan.delay).await;
    }
    let now = now_ms();
    let (answer, retry_after) = match (&charge.verdict, plan.status, endpoint) {
        (Verdict::TooMuch { retry_after_s } | Verdict::Banned { retry_after_s, .. }, _, _) => {
            (api.rate_limited(now), Some(*retry_after_s))
        }
        (Verdict::Ok, Some(429 | 418), _) => (api.rate_limited(now), Some(plan.retry_after_s)),
        (Verdict::Ok, Some(status), _) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (api.failure(status, now), None)
        }
        (Verdict::Ok, None, None) => (Answer::text(StatusCode::NOT_FOUND, "Not Found"), None),
        (Verdict::Ok, None, Some(e)) => {
            let market = st.market();
            let delisted = st.faults.get();
            // A contract counts as delisted with its underlying (`BTC-USDT-SWAP` with BTCUSDT).
            let names_delisted = named.iter().any(|id| {
                let spot = market.by_venue_id(id).map(|s| s.name.clone());
                let contract = || {
                    st.derivs
                        .as_ref()
                        .and_then(|d| d.by_venue_id(id))
                        .map(|s| format!("{}{}", s.base, s.quote))
                };
                spot.or_else(contract)
                    .is_some_and(|name| delisted.delisted.contains(&name))
            });
            let result = match (names_delisted, derivative, st.derivs.as_deref()) {
                (true, _, _) => Err(Reject::UnknownSymbol),
                (false, Some(_), Some(d)) => api.handle_derivative(e, d, &params, now),
                (false, Some(_), None) => Err(Reject::UnknownSymbol),
                (false, None, _) => api.handle(e, path, &market, &params, now),
            };
            match result {
                Ok(body) => {
                    let body = Bytes::from(body);
                    st.record_last(name, named.first().map(String::as_str), body.clone());
                    return finish(
                        &st,
                        ticket,
                        Answer::json(StatusCode::OK, String::new()),
                        None,
                        Some(body),
                    );
                }
                Err(r) => (api.reject(&r, now), None),
            }
        }
    };
    finish(&st, ticket, answer, retry_after, None)
}

/// Builds the response (`body` overrides the answer's, to reuse recorded bytes) and logs it.
fn finish(
    st: &SimState,
    ticket: crate::requests::Ticket,
    answer: Answer,
    retry_after_s: Option<u64>,
    body: Option<Bytes>,
) -> Response {
    let body = body.unwrap_or_else(|| Bytes::from(answer.body));
    let mut resp = Response::new(axum::body::Body::from(body));
    *resp.status_mut() = answer.status;
    let content_type = if answer.json {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(s) = retry_after_s {
        h.insert(header::RETRY_AFTER, HeaderValue::from(s.max(1)));
    }
    st.requests.answer(ticket, answer.status.as_u16());
    resp
}

/// `limit`-style parameter: default when absent, clamped to 1..=max; not a number → Err.
pub fn limit_param(p: &Params, key: &str, default: usize, max: usize) -> Result<usize, Reject> {
    match p.get(key) {
        None => Ok(default),
        Some(v) => v
            .parse::<u64>()
            .map(|l| l.clamp(1, max as u64) as usize)
            .map_err(|_| Reject::BadParam(format!("Parameter {key} error"))),
    }
}

/// Optional integer parameter; not a number → Err.
pub fn u64_param(p: &Params, key: &str) -> Result<Option<u64>, Reject> {
    p.get(key)
        .map(|v| {
            v.parse::<u64>()
                .map_err(|_| Reject::BadParam(format!("Parameter {key} error")))
        })
        .transpose()
}

/// Serialises a JSON value (cannot fail for `serde_json::Value`, but never panics).
pub fn to_body(v: &serde_json::Value) -> Result<String, Reject> {
    serde_json::to_string(v).map_err(|e| Reject::BadParam(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::decimal::to_f64;

    const NOW: u64 = 1_725_817_008_719;

    #[test]
    fn market_ids_per_venue() {
        let id = |v| market_id(v, "BTC", "USDT");
        assert_eq!(
            Venue::ALL.map(id),
            ["BTCUSDT", "BTC-USDT", "BTCUSDT", "XBTUSDT", "BTC-USDT"]
        );
    }

    #[test]
    fn venues_share_the_walk_with_a_small_skew() {
        let binance = Market::for_venue(Venue::Binance, 42, 2, false, 100).unwrap();
        assert!(binance.symbol("BNBUSDT").is_some());
        for v in &Venue::ALL[1..] {
            let m = Market::for_venue(*v, 42, 2, false, 100).unwrap();
            assert!(
                m.symbol("BNBUSDT").is_none(),
                "{v} lists only Binance's BNB"
            );
            assert!(
                m.symbol("SIM0002USDT").is_some(),
                "{v} has the generated symbols"
            );
            let again = Market::for_venue(*v, 42, 2, false, 100).unwrap();
            for name in ["BTCUSDT", "ETHUSDT", "SOLUSDT"] {
                let (a, b) = (binance.symbol(name).unwrap(), m.symbol(name).unwrap());
                let (pa, pb) = (to_f64(binance.price_at(a, NOW)), to_f64(m.price_at(b, NOW)));
                assert!(
                    pa != pb && (pa / pb - 1.0).abs() < 1e-3,
                    "{v} {name}: {pa} {pb}"
                );
                assert_eq!(
                    m.price_at(b, NOW),
                    again.price_at(again.symbol(name).unwrap(), NOW)
                );
            }
        }
    }

    #[test]
    fn quote_is_the_book_top_and_the_tickers_last() {
        for v in Venue::ALL {
            let m = Market::for_venue(v, 42, 0, false, 100).unwrap();
            let s = m.symbol("BTCUSDT").unwrap();
            let q = quote(&m, s, NOW);
            assert_eq!(q.ask, to_f64(m.price_at(s, NOW)), "{v}");
            assert!((q.ask - q.bid - 0.01).abs() < 1e-6, "{v}");
            match v {
                // The latest trade hit the bid or the ask of its own (possibly earlier) step.
                Venue::Coinbase => {
                    let t = m.trade(s, m.last_trade_id(s, NOW));
                    assert_eq!(q.last, to_f64(t.price));
                }
                _ => assert_eq!(q.last, q.ask, "{v}"),
            }
        }
    }
}
