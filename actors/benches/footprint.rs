//! Where a venue's memory goes (issue 25): the bytes each part of a ccxt instance and of our
//! market directory keeps alive, for each of the five venues on the simulator's full market
//! lists. Bytes are counted by a global allocator, per thread (the in-process simulator's own
//! threads are not counted): live bytes after a step minus before it, with the step's result
//! still held.
//!
//! Rows, per venue:
//! - `instance, no markets`: `X::new(config)` without markets (describe(), API tables, options);
//! - `load_markets (1st instance)`: what `load_markets` adds to that instance (markets,
//!   markets_by_id, currencies, symbols, ids, the HTTP client), and how much of it the raw
//!   `info` of the markets is (measured on a copy);
//! - `extra instance, today`: `X::new(config + "markets": [raw markets])` while the loaded markets
//!   are alive elsewhere, which is how the pool makes every further instance today;
//! - `extra instance, info stripped`: the same with each market's raw `info` removed;
//! - `extra instance, shared markets`: `X::new(config)` then `set_markets_from_exchange` with
//!   the first instance's market tables (shared through `Arc`, nothing copied);
//! - `shared tables without info: new maps`: what `without_info` allocates (the old maps and
//!   the `info` are freed once the loading instance goes);
//! - `directory MarketIndex`: our own index of the same markets.
//!
//! `cargo test -p crypto-market-actors --bench footprint` (debug build; byte counts do not
//! depend on the profile, times do). `FOOTPRINT_VENUES=binance,okx` limits the venues.

#![allow(
    clippy::print_stdout,
    reason = "a benchmark's report is Markdown on stdout"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ops::Deref;
use std::time::Instant;

use ccxt::{TypedExchange, TypedExchangeExt, Value};
use crypto_market_actors::model::{Market, MarketIndex};
use crypto_market_actors::venue::ccxt::footprint::{
    market, market_tables, rebase_urls, without_info,
};
use crypto_market_sim::{SimConfig, Simulator};

/// Counts the bytes allocated minus freed by the current thread.
struct PerThreadCounter;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn add(delta: isize) {
    // `try_with`: during thread teardown the slot may be gone; such frees are not ours anyway.
    let _ = LIVE.try_with(|live| live.set(live.get() + delta));
}

#[allow(
    unsafe_code,
    reason = "a counting GlobalAlloc is unsafe to implement by definition"
)]
// SAFETY: every method forwards to the system allocator with the caller's own arguments, so
// `System`'s guarantees are this allocator's; the counting touches no allocated memory.
unsafe impl GlobalAlloc for PerThreadCounter {
    #[allow(unsafe_code, reason = "GlobalAlloc's methods are unsafe fns")]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size() as isize);
        // SAFETY: the caller's layout, as GlobalAlloc::alloc requires.
        unsafe { System.alloc(layout) }
    }
    #[allow(unsafe_code, reason = "GlobalAlloc's methods are unsafe fns")]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        add(-(layout.size() as isize));
        // SAFETY: ptr was allocated by System (alloc above) with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    #[allow(unsafe_code, reason = "GlobalAlloc's methods are unsafe fns")]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        add(new_size as isize - layout.size() as isize);
        // SAFETY: ptr was allocated by System with layout; new_size is the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTER: PerThreadCounter = PerThreadCounter;

fn live() -> isize {
    LIVE.with(|live| live.get())
}

/// Runs `step`, returning its result and the bytes it left allocated.
fn measured<T>(step: impl FnOnce() -> T) -> (T, isize) {
    let before = live();
    let out = step();
    (out, live() - before)
}

fn mb(bytes: isize) -> String {
    format!("{:.2}", bytes as f64 / 1_048_576.0)
}

/// The engine's config for a venue (see `CcxtExchange::new`), pointed at the simulator.
fn config(api: serde_json::Value, rest_url: &str) -> serde_json::Value {
    serde_json::json!({
        "enableRateLimit": false,
        "timeout": 11_000,
        "options": { "fetchMarkets": { "types": ["spot"] } },
        "urls": { "api": rebase_urls(api, rest_url).expect("the simulator's URL is a base URL") },
    })
}

fn with_key(config: &serde_json::Value, key: &str, value: Value) -> Value {
    let mut config = Value::from(config.clone());
    if let Value::Dict(map) = &mut config {
        std::sync::Arc::make_mut(map).insert(key.to_owned(), value);
    }
    config
}

fn drop_info(market: &Value) -> Value {
    let mut market = market.clone();
    if let Value::Dict(map) = &mut market {
        std::sync::Arc::make_mut(map).shift_remove("info");
    }
    market
}

struct Row {
    venue: String,
    markets: usize,
    parts: Vec<(&'static str, isize)>,
    make_ms: Vec<(&'static str, f64)>,
}

fn measure<E>(
    venue: &str,
    rest_url: &str,
    new: fn(Option<Value>) -> E,
    rt: &tokio::runtime::Runtime,
) -> Row
where
    E: TypedExchange + Deref,
    E::Target: Deref<Target = ccxt::Exchange>,
{
    let api = new(None).urls.to_json()["api"].clone();
    let config = config(api, rest_url);
    let mut parts = Vec::new();
    let mut make_ms = Vec::new();

    let (mut first, bytes) = measured(|| new(Some(Value::from(config.clone()))));
    parts.push(("instance, no markets", bytes));
    let (loaded, bytes) = measured(|| {
        rt.block_on(first.call_raw("load_markets", vec![Value::Bool(true)]))
            .map(|_| ())
    });
    loaded.unwrap_or_else(|e| panic!("{venue}: load_markets failed: {e:?}"));
    parts.push(("load_markets (1st instance)", bytes));
    let (typed, bytes) = measured(|| first.markets());
    parts.push(("typed markets() (raw shared)", bytes));
    // What the raw `info` of every market weighs: a fresh copy of each (JSON round trip).
    let (infos, bytes) = measured(|| {
        typed
            .iter()
            .map(|m| match m.raw.as_map().and_then(|raw| raw.get("info")) {
                Some(info) => Value::from(info.to_json()),
                None => Value::Null,
            })
            .collect::<Vec<_>>()
    });
    parts.push(("  of which raw `info` of every market (a copy)", bytes));
    drop(infos);
    let raw = Value::Arr(std::sync::Arc::new(
        typed.iter().map(|m| m.raw.clone()).collect(),
    ));

    let started = Instant::now();
    let (today, bytes) = measured(|| new(Some(with_key(&config, "markets", raw.clone()))));
    make_ms.push(("today", started.elapsed().as_secs_f64() * 1e3));
    parts.push(("extra instance, today", bytes));

    let stripped = match &raw {
        Value::Arr(all) => Value::Arr(std::sync::Arc::new(all.iter().map(drop_info).collect())),
        other => other.clone(),
    };
    let started = Instant::now();
    let (no_info, bytes) = measured(|| new(Some(with_key(&config, "markets", stripped.clone()))));
    make_ms.push(("info stripped", started.elapsed().as_secs_f64() * 1e3));
    parts.push(("extra instance, info stripped", bytes));

    let tables = market_tables(&first);
    let started = Instant::now();
    let (mut shared, bytes) = measured(|| {
        let mut ex = new(Some(Value::from(config.clone())));
        let set = futures::executor::block_on(
            ex.call_raw("set_markets_from_exchange", vec![tables.clone()]),
        );
        set.unwrap_or_else(|e| panic!("{venue}: set_markets_from_exchange failed: {e:?}"));
        ex
    });
    make_ms.push(("shared", started.elapsed().as_secs_f64() * 1e3));
    parts.push(("extra instance, shared markets", bytes));
    let (lean_tables, bytes) = measured(|| without_info(&tables));
    parts.push(("shared tables without `info`: new maps", bytes));
    drop(lean_tables);

    // The shared instance serves calls without loading markets again, and without copying them.
    let symbol = typed
        .iter()
        .find(|m| m.quote == "USDT" || m.quote == "USD")
        .map(|m| m.symbol.clone())
        .unwrap_or_else(|| typed[0].symbol.clone());
    let (served, bytes) = measured(|| {
        rt.block_on(async {
            let book = shared.fetch_order_book(&symbol, Some(5), ()).await;
            let ticker = shared.fetch_ticker(&symbol, ()).await;
            (book.is_ok(), ticker.is_ok())
        })
    });
    assert_eq!(
        served,
        (true, true),
        "{venue}: a shared instance serves {symbol}"
    );
    parts.push(("shared instance after 2 calls (growth)", bytes));

    let ours: Vec<Market> = typed.iter().filter_map(market).collect();
    let (index, bytes) = measured(|| MarketIndex::new(ours));
    parts.push(("directory MarketIndex", bytes));

    let row = Row {
        venue: venue.to_owned(),
        markets: typed.len(),
        parts,
        make_ms,
    };
    drop((first, today, no_info, shared, index, raw, stripped, tables));
    row
}

fn main() {
    let wanted: Vec<String> = std::env::var("FOOTPRINT_VENUES")
        .unwrap_or_else(|_| "binance,okx,bybit,kraken,coinbase".to_owned())
        .split(',')
        .map(|s| s.trim().to_owned())
        .collect();
    let sims = Simulator::start_venues(SimConfig {
        full_markets: true,
        tick_ms: 3_600_000,
        ..SimConfig::default()
    })
    .expect("simulators start");
    // One thread: the HTTP client's tasks run on this thread and are counted with it.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let mut rows = Vec::new();
    for sim in &sims {
        let id = sim.venue().id();
        if !wanted.iter().any(|w| w == id) {
            continue;
        }
        let url = sim.rest_url();
        rows.push(match id {
            "binance" => measure(id, &url, ccxt::Binance::new, &rt),
            "okx" => measure(id, &url, ccxt::Okx::new, &rt),
            "bybit" => measure(id, &url, ccxt::Bybit::new, &rt),
            "kraken" => measure(id, &url, ccxt::Kraken::new, &rt),
            "coinbase" => measure(id, &url, ccxt::Coinbase::new, &rt),
            other => panic!("no ccxt type for {other}"),
        });
    }
    let Some(first) = rows.first() else {
        eprintln!("no venue selected");
        return;
    };
    let mut header = "| part (MB) |".to_owned();
    let mut rule = "|---|".to_owned();
    for row in &rows {
        header.push_str(&format!(" {} ({} mkts) |", row.venue, row.markets));
        rule.push_str("---:|");
    }
    header.push_str(" all |");
    rule.push_str("---:|");
    println!("{header}\n{rule}");
    for (i, (name, _)) in first.parts.iter().enumerate() {
        let mut line = format!("| {name} |");
        let mut total = 0;
        for row in &rows {
            line.push_str(&format!(" {} |", mb(row.parts[i].1)));
            total += row.parts[i].1;
        }
        line.push_str(&format!(" {} |", mb(total)));
        println!("{line}");
    }
    for (i, (name, _)) in first.make_ms.iter().enumerate() {
        let mut line = format!("| make ms, {name} |");
        for row in &rows {
            line.push_str(&format!(" {:.0} |", row.make_ms[i].1));
        }
        println!("{line} |");
    }
}
