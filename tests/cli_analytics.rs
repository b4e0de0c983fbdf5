//! `crypto-market fill`, `movers` and `convert` (SPEC.md section 8, issue 24) and the chat's
//! built-in parser on "cost to buy 5 btc", "top gainers", "2 eth in btc": the real binary
//! (with its embedded server) against the simulator, prices frozen so that the table and the
//! `--json` run show the same values.

mod common;

use common::cli::{chat, parse_num, row, run, sim_args, Run};
use crypto_market_mcp::cli::render::num;
use crypto_market_sim::{rest_urls, SimConfig, SimHandle, Simulator};
use serde_json::Value;

fn frozen_venues() -> Vec<SimHandle> {
    Simulator::start_venues(SimConfig {
        tick_ms: 3_600_000,
        ..SimConfig::default()
    })
    .expect("simulators start")
}

/// The CLI with every venue enabled, its embedded server on `venues`.
async fn cli(venues: &[SimHandle], args: &[&str]) -> Run {
    let urls = rest_urls(&venues[1..]);
    let env = [
        ("EXCHANGES", "binance,okx,bybit,kraken,coinbase"),
        ("EXCHANGE_REST_URLS", urls.as_str()),
    ];
    run(&sim_args(&venues[0], args), &env).await
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("a number: {v}"))
}

#[tokio::test]
async fn fill_shows_each_venue_and_the_best_as_the_tool_says() {
    let venues = frozen_venues();
    let args = ["fill", "BTC/USDT", "buy", "5", "--exchanges", "binance,okx"];
    let table = cli(&venues, &args).await.success();
    let mut json_args = vec!["--json"];
    json_args.extend(args);
    let v = cli(&venues, &json_args).await.success().json();
    assert_eq!(v["side"], "buy");
    for r in v["venues"].as_array().expect("venues") {
        let exchange = r["exchange"].as_str().expect("exchange");
        let cells = row(&table.stdout, exchange);
        assert_eq!(cells[1], num(f(&r["avg_price"])), "{}", table.stdout);
        assert_eq!(parse_num(cells[5]), f(&r["filled_amount"]));
        assert_eq!(cells[9], r["levels_used"].to_string(), "{}", table.stdout);
        assert_eq!(cells[10], "yes");
    }
    let best = format!(
        "best: {} (cost with fees {})",
        v["best"]["exchange"].as_str().expect("a best venue"),
        num(f(&v["best"]["cost_with_fees"]))
    );
    assert!(table.stdout.contains(&best), "{best} in\n{}", table.stdout);

    // A notional sell on the default venue: proceeds, not cost.
    let sell = cli(&venues, &["fill", "ETH/USDT", "sell", "1000", "--notional"])
        .await
        .success();
    assert!(
        sell.stdout.contains("proceeds net of fees"),
        "{}",
        sell.stdout
    );
    assert_eq!(row(&sell.stdout, "binance")[0], "binance");
    let bad = cli(&venues, &["fill", "BTC/USDT", "hold", "5"]).await;
    assert_eq!(bad.code, 2, "{}", bad.stderr);
}

#[tokio::test]
async fn movers_and_convert_tables_equal_the_tools_results() {
    let venues = frozen_venues();
    let table = cli(&venues, &["movers", "--by", "losers", "--limit", "3"])
        .await
        .success();
    let v = cli(
        &venues,
        &["--json", "movers", "--by", "losers", "--limit", "3"],
    )
    .await
    .success()
    .json();
    assert!(
        table
            .stdout
            .starts_with("top losers on binance (USDT markets)"),
        "{}",
        table.stdout
    );
    let markets = v["markets"].as_array().expect("markets");
    assert_eq!(markets.len(), 3);
    for (i, m) in markets.iter().enumerate() {
        let cells = row(&table.stdout, &(i + 1).to_string());
        assert_eq!(
            cells[1],
            m["symbol"].as_str().expect("symbol"),
            "{}",
            table.stdout
        );
        assert_eq!(cells[3], format!("{:+.2}%", f(&m["percentage"])));
    }

    let line = cli(&venues, &["convert", "2", "ETH", "BTC"])
        .await
        .success();
    let v = cli(&venues, &["--json", "convert", "2", "ETH", "BTC"])
        .await
        .success()
        .json();
    let first = line.stdout.lines().next().expect("a line");
    assert_eq!(first, format!("2.00 ETH = {} BTC", num(f(&v["result"]))));
    assert!(
        line.stdout.contains("via ETH/USDT -> BTC/USDT"),
        "{}",
        line.stdout
    );
    let unknown = cli(&venues, &["convert", "2", "ETHH", "BTC"]).await;
    assert!(
        unknown.one_error_line(1).contains("invalid_symbol"),
        "{}",
        unknown.stderr
    );
}

#[tokio::test]
async fn chat_answers_fill_movers_and_convert_questions_with_the_tools() {
    let venues = frozen_venues();
    let out = chat(
        &venues[0],
        "cost to buy 5 btc\ntop gainers\n2 eth in btc\n",
        &[],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    for call in [
        r#"estimate_fill {"symbol":"BTC/USDT","side":"buy","amount":5.0}"#,
        r#"top_movers {"by":"gainers"}"#,
        r#"convert {"amount":2.0,"from":"ETH","to":"BTC"}"#,
    ] {
        assert!(out.stdout.contains(call), "{call} in\n{}", out.stdout);
    }
    assert!(out.stdout.contains("best: binance"), "{}", out.stdout);
    assert!(
        out.stdout.contains("top gainers on binance"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("2.00 ETH = "), "{}", out.stdout);
}
