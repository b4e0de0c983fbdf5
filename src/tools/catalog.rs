//! The tool list clients see: names, descriptions, input schemas and output schemas.
//!
//! Every output schema also admits the error envelope `{"error": {code, message}}`: TypeScript
//! MCP clients validate `structuredContent` against `outputSchema` even when `isError` is true,
//! and would otherwise turn each error result into a protocol error.

use std::sync::Arc;

use rmcp::handler::server::common::{schema_for_input, schema_for_output};
use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use rmcp::schemars::JsonSchema;
use serde_json::json;

use super::args::{ListMarketsArgs, OhlcvArgs, OrderBookArgs, TickerArgs, TickersArgs, TradesArgs};
use super::output::{
    MarketsResult, OhlcvResult, OrderBookResult, TickerResult, TickersResult, TradesResult,
};

pub fn tools() -> Vec<Tool> {
    vec![
        tool::<TickerArgs, TickerResult<'static>>(
            "get_ticker",
            "Latest 24h ticker of one market (last price, bid/ask, high/low, volume, change), with \
             freshness: source, age_ms, stale.",
        ),
        tool::<TickersArgs, TickersResult<'static>>(
            "get_tickers",
            "Tickers of up to 100 markets at once; symbols that fail are listed under errors.",
        ),
        tool::<OhlcvArgs, OhlcvResult<'static>>(
            "get_ohlcv",
            "OHLCV candles [ts_ms, open, high, low, close, volume], oldest first.",
        ),
        tool::<OrderBookArgs, OrderBookResult<'static>>(
            "get_order_book",
            "Order book snapshot: bids and asks as [price, amount], best first.",
        ),
        tool::<TradesArgs, TradesResult<'static>>("get_trades", "Most recent public trades, oldest first."),
        tool::<ListMarketsArgs, MarketsResult<'static>>(
            "list_markets",
            "Markets listed on the exchange, filtered by symbol substring and quote currency.",
        ),
    ]
}

fn tool<A: JsonSchema + 'static, R: JsonSchema + 'static>(
    name: &'static str,
    description: &'static str,
) -> Tool {
    // Our argument types are all structs, so their schema is an object; fall back to an open
    // object rather than fail the whole tool list.
    let input =
        schema_for_input::<A>().unwrap_or_else(|_| Arc::new(object(json!({ "type": "object" }))));
    let mut annotations = ToolAnnotations::new();
    annotations.read_only_hint = Some(true);
    annotations.open_world_hint = Some(true);
    Tool::new(name, description, input)
        .with_raw_output_schema(with_error_envelope(&schema_for_output::<R>()))
        .with_annotations(annotations)
}

/// Lets `schema` also match `{"error": {"code", "message"}}`: the top stays `type: object`
/// (rmcp drops output schemas without it for older protocol versions), `error` becomes a
/// property, and `anyOf` requires either the result's own fields or `error`.
pub fn with_error_envelope(schema: &JsonObject) -> Arc<JsonObject> {
    let mut schema = schema.clone();
    let required = schema.remove("required").unwrap_or_else(|| json!([]));
    schema.insert("type".into(), json!("object"));
    let error = json!({
        "type": "object",
        "properties": {
            "code": { "type": "string", "description": "SPEC error code, e.g. invalid_symbol" },
            "message": { "type": "string" }
        },
        "required": ["code", "message"]
    });
    match schema.get_mut("properties").and_then(|p| p.as_object_mut()) {
        Some(properties) => {
            properties.insert("error".into(), error);
        }
        None => {
            schema.insert("properties".into(), json!({ "error": error }));
        }
    }
    schema.insert(
        "anyOf".into(),
        json!([{ "required": required }, { "required": ["error"] }]),
    );
    Arc::new(schema)
}

fn object(value: serde_json::Value) -> JsonObject {
    match value {
        serde_json::Value::Object(map) => map,
        _ => JsonObject::new(),
    }
}
