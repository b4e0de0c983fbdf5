//! The baseline: a bare tokio-tungstenite client reading the same streams from the same
//! simulator as the engine (each book's `@depth@100ms`, `@trade`, `@kline_1m` and `@ticker`,
//! 1,000 to a combined-stream connection, as the engine packs them), parsing each frame and
//! nothing else: the cost of merely reading and decoding the feed, the engine's ceiling.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

/// Streams a connection carries (the engine's feed: up to Binance's 1024).
const PER_CONNECTION: usize = 1000;

/// A diff depth event, decoded as a client keeping a book would (prices and sizes as the
/// strings the wire carries).
#[derive(Deserialize)]
#[allow(dead_code, reason = "decoded to be paid for, not read")]
struct Depth {
    #[serde(rename = "U")]
    first: u64,
    u: u64,
    b: Vec<[String; 2]>,
    a: Vec<[String; 2]>,
}

#[derive(Deserialize)]
struct Combined<T> {
    stream: String,
    data: T,
}

/// What the bare client saw.
#[derive(Default)]
pub struct Tally {
    pub frames: u64,
    pub depth_frames: u64,
    /// Seconds each depth frame took to decode.
    pub depth_parse: Vec<f64>,
    /// Levels in the depth frames.
    pub depth_levels: u64,
}

/// When the depth event `u` of `stream` arrived (for the streams being followed).
pub type Arrivals = Arc<Mutex<HashMap<u64, Instant>>>;

/// The stream names of books `SIM0001USDT`.. for `symbols`.
pub fn streams(symbols: &[String]) -> Vec<String> {
    symbols
        .iter()
        .flat_map(|s| {
            let s = s.to_ascii_lowercase();
            [
                format!("{s}@depth@100ms"),
                format!("{s}@trade"),
                format!("{s}@kline_1m"),
                format!("{s}@ticker"),
            ]
        })
        .collect()
}

/// Reads `streams` on connections to `ws_url` until `stop`; records the arrival of
/// `follow`'s depth events in `arrivals`.
pub async fn read(
    ws_url: &str,
    streams: Vec<String>,
    stop: Arc<AtomicBool>,
    follow: Option<(String, Arrivals)>,
) -> Tally {
    let mut tasks = Vec::new();
    for chunk in streams.chunks(PER_CONNECTION) {
        let url = format!("{ws_url}/stream");
        let names = chunk.to_vec();
        let stop = stop.clone();
        let follow = follow.clone();
        tasks.push(tokio::spawn(async move {
            connection(&url, names, stop, follow).await
        }));
    }
    let mut tally = Tally::default();
    for task in tasks {
        let t = task.await.expect("bare connection task");
        tally.frames += t.frames;
        tally.depth_frames += t.depth_frames;
        tally.depth_levels += t.depth_levels;
        tally.depth_parse.extend(t.depth_parse);
    }
    tally
}

async fn connection(
    url: &str,
    names: Vec<String>,
    stop: Arc<AtomicBool>,
    follow: Option<(String, Arrivals)>,
) -> Tally {
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("bare client connects");
    let subscribe = json!({"method": "SUBSCRIBE", "params": names, "id": 1});
    socket
        .send(Message::text(subscribe.to_string()))
        .await
        .expect("SUBSCRIBE sent");
    let mut tally = Tally::default();
    while !stop.load(Ordering::Relaxed) {
        let frame = tokio::time::timeout(Duration::from_millis(200), socket.next()).await;
        let text = match frame {
            Err(_) => continue,
            Ok(Some(Ok(Message::Text(text)))) => text,
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(e))) => panic!("bare client: {e}"),
            Ok(None) => panic!("bare client: connection ended"),
        };
        let arrived = Instant::now();
        tally.frames += 1;
        if text.contains("@depth") {
            let started = Instant::now();
            let event: Combined<Depth> = serde_json::from_str(&text).expect("a depth event");
            tally.depth_parse.push(started.elapsed().as_secs_f64());
            tally.depth_frames += 1;
            tally.depth_levels += (event.data.b.len() + event.data.a.len()) as u64;
            if let Some((stream, arrivals)) = &follow {
                if &event.stream == stream {
                    arrivals
                        .lock()
                        .expect("arrivals")
                        .insert(event.data.u, arrived);
                }
            }
        } else if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
            // Trades, candles, tickers and acks: decoded too, as the engine decodes them.
            std::hint::black_box(v);
        }
    }
    let _ = socket.close(None).await;
    tally
}
