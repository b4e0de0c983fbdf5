//! `status`: an MCP server's exchanges (`exchange_status`, else whether it answers at all);
//! with `--redis`, the worker pool's own `status` (SPEC.md section 6): live workers, queue
//! depth, pending requests and the answering worker's cache.

use serde_json::{json, Value};

use super::args::Cli;
use super::connection::Connection;
use super::render::{self, age, tables, venues, Look};
use super::{args, json_line, one_line, spin, CliError};

pub async fn run(connection: &Connection, cli: &Cli, look: Look) -> Result<String, CliError> {
    if let Connection::Pool(_) = connection {
        return pool(connection, cli, look).await;
    }
    server(connection, cli, look).await
}

/// The pool's `status`: a summary, then a row per live worker.
async fn pool(connection: &Connection, cli: &Cli, look: Look) -> Result<String, CliError> {
    let v = spin(connection.call("status", json!({}))).await?;
    if cli.global.json {
        return Ok(json_line(&v));
    }
    Ok(format!(
        "{}\n{}",
        connection.describe(),
        pool_tables(&v, crypto_market_actors::model::now_ms(), look)
    ))
}

/// A `status` result of the pool as two tables; ages are relative to `now_ms`.
pub fn pool_tables(v: &Value, now_ms: i64, look: Look) -> String {
    let count = |x: &Value| {
        x.as_u64()
            .map_or("-".to_owned(), |n| render::group(n as f64, 0))
    };
    let workers: Vec<&Value> = v["workers"].as_array().into_iter().flatten().collect();
    let mut summary = tables::table(look, &[], &[1]);
    summary.add_row(vec!["workers live".to_owned(), workers.len().to_string()]);
    summary.add_row(vec!["queue depth".to_owned(), count(&v["queue_depth"])]);
    summary.add_row(vec!["pending".to_owned(), count(&v["pending"])]);
    let cache = &v["cache"];
    summary.add_row(vec![
        "cache (answering worker)".to_owned(),
        format!(
            "{} hits, {} misses, hit rate {}",
            count(&cache["hits"]),
            count(&cache["misses"]),
            cache["hit_rate"]
                .as_f64()
                .map_or("-".to_owned(), |r| format!("{:.1}%", r * 100.0))
        ),
    ]);
    let mut out = format!("{summary}\n");
    if workers.is_empty() {
        out.push_str("no live worker\n");
        return out;
    }
    let mut t = tables::table(
        look,
        &[
            "worker",
            "host",
            "pid",
            "up",
            "last seen",
            "processed",
            "errors",
            "in flight",
        ],
        &[2, 3, 4, 5, 6, 7],
    );
    let ago = |at: &Value| {
        at.as_i64()
            .map_or("-".to_owned(), |at| age((now_ms - at).max(0) as f64))
    };
    for w in workers {
        t.add_row(vec![
            w["id"].as_str().unwrap_or("-").to_owned(),
            w["host"].as_str().unwrap_or("-").to_owned(),
            w["pid"]
                .as_u64()
                .map_or("-".to_owned(), |pid| pid.to_string()),
            ago(&w["started_ms"]),
            ago(&w["last_seen_ms"]),
            count(&w["processed"]),
            count(&w["errors"]),
            count(&w["in_flight"]),
        ]);
    }
    out.push_str(&format!("{t}\n"));
    // With API_KEYS_FILE: the answering worker's requests and rejections per client id.
    if let Some(clients) = v["clients"].as_object() {
        let mut t = tables::table(look, &["client", "requests", "rejected"], &[1, 2]);
        let mut ids: Vec<&String> = clients.keys().collect();
        ids.sort();
        for id in ids {
            let c = &clients[id];
            t.add_row(vec![
                id.clone(),
                count(&c["requests"]),
                count(&c["rejected"]),
            ]);
        }
        out.push_str(&format!("{t}\n"));
    }
    out
}

/// The server and whether its exchange answers (`exchange_status` when the server has it).
async fn server(connection: &Connection, cli: &Cli, look: Look) -> Result<String, CliError> {
    let (name, version, tools) = spin(connection.server_info()).await?;
    if tools.iter().any(|t| t == "exchange_status") {
        let v = spin(connection.call("exchange_status", args(cli, json!({})))).await?;
        // A server that has not talked to an exchange yet (the embedded one always) knows
        // nothing of it: ask each such exchange for its markets once, so the table says
        // whether it answers. Failures are what the table then shows.
        let untried: Vec<String> = v["exchanges"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["calls_1m"].as_u64() == Some(0) && e["markets"].as_u64() == Some(0))
            .filter_map(|e| e["id"].as_str().map(str::to_owned))
            .collect();
        let v = if untried.is_empty() {
            v
        } else {
            let probes = untried
                .iter()
                .map(|id| connection.call("list_markets", json!({ "exchange": id, "limit": 1 })));
            let _ = spin(futures::future::join_all(probes)).await;
            spin(connection.call("exchange_status", args(cli, json!({})))).await?
        };
        if cli.global.json {
            return Ok(json_line(&v));
        }
        return Ok(format!(
            "{name} {version} ({})\n{}",
            connection.describe(),
            venues::status(&v, look)
        ));
    }
    let started = std::time::Instant::now();
    let probe = spin(connection.call("list_markets", args(cli, json!({ "limit": 1 })))).await;
    let latency_ms = started.elapsed().as_millis() as u64;
    let (answers, exchange, markets, error) = match &probe {
        Ok(v) => (true, v["exchange"].clone(), v["total"].clone(), Value::Null),
        Err(e) => (
            false,
            json!(cli.global.exchange),
            Value::Null,
            json!(e.to_string()),
        ),
    };
    let v = json!({
        "backend": connection.describe(),
        "server": {"name": name, "version": version},
        "tools": tools,
        "exchange": exchange,
        "answers": answers,
        "markets": markets,
        "latency_ms": latency_ms,
        "error": error,
    });
    if cli.global.json {
        return Ok(json_line(&v));
    }
    let mut t = tables::table(look, &[], &[]);
    t.add_row(vec!["backend".to_owned(), connection.describe()]);
    t.add_row(vec!["server".to_owned(), format!("{name} {version}")]);
    t.add_row(vec!["tools".to_owned(), tools.join(", ")]);
    t.add_row(vec![
        "exchange".to_owned(),
        exchange.as_str().unwrap_or("(server default)").to_owned(),
    ]);
    t.add_row(vec![
        "answers".to_owned(),
        match &probe {
            Ok(_) => format!("yes ({latency_ms} ms)"),
            Err(e) => format!("no: {}", one_line(&e.to_string())),
        },
    ]);
    t.add_row(vec![
        "markets".to_owned(),
        markets
            .as_u64()
            .map_or("-".to_owned(), |m| render::group(m as f64, 0)),
    ]);
    let out = format!("{t}\n");
    match probe {
        Ok(_) => Ok(out),
        Err(e) => {
            print!("{out}");
            Err(e)
        }
    }
}
