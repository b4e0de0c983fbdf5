//! The tool list clients see: names, titles, descriptions, input schemas and output schemas.
//!
//! Every output schema also admits the error envelope `{"error": {code, message}}`: TypeScript
//! MCP clients validate `structuredContent` against `outputSchema` even when `isError` is true,
//! and would otherwise turn each error result into a protocol error.

use std::sync::Arc;

use rmcp::handler::server::common::{schema_for_input, schema_for_output};
use rmcp::model::{JsonObject, Tool as McpTool, ToolAnnotations};
use schemars::JsonSchema;
use serde_json::json;

use crate::tools::args::{
    ListMarketsArgs, OhlcvArgs, OrderBookArgs, StreamTickerArgs, TickerArgs, TickersArgs,
    TradesArgs,
};
use crate::tools::compare::{CompareArgs, CompareResult};
use crate::tools::convert::{ConvertArgs, ConvertResult};
use crate::tools::derivatives::{
    CompareFundingArgs, CompareFundingResult, FundingHistoryArgs, FundingHistoryResult,
    FundingRateArgs, FundingRateResult, OpenInterestResult,
};
use crate::tools::fill::{EstimateFillArgs, EstimateFillResult};
use crate::tools::indicators::{IndicatorsArgs, IndicatorsResult};
use crate::tools::movers::{TopMoversArgs, TopMoversResult};
use crate::tools::output::{
    MarketsResult, OhlcvResult, OrderBookResult, StreamTickerResult, TickerResult, TickersResult,
    TradesResult,
};
use crate::tools::status::{StatusArgs, StatusResult};
use crate::tools::watch::{
    WatchReadArgs, WatchReadResult, WatchSubscribeArgs, WatchSubscribeResult, WatchUnsubscribeArgs,
    WatchUnsubscribeResult,
};
use crate::tools::{Tool, ToolSpec, TOOLS};

/// Every tool of [`TOOLS`], as MCP lists it.
pub fn tools() -> Vec<McpTool> {
    TOOLS.iter().map(mcp_tool).collect()
}

fn mcp_tool(spec: &ToolSpec) -> McpTool {
    match spec.tool {
        Tool::GetTicker => tool::<TickerArgs, TickerResult<'static>>(spec),
        Tool::GetTickers => tool::<TickersArgs, TickersResult<'static>>(spec),
        Tool::GetOhlcv => tool::<OhlcvArgs, OhlcvResult<'static>>(spec),
        Tool::GetOrderBook => tool::<OrderBookArgs, OrderBookResult<'static>>(spec),
        Tool::GetTrades => tool::<TradesArgs, TradesResult<'static>>(spec),
        Tool::ListMarkets => tool::<ListMarketsArgs, MarketsResult<'static>>(spec),
        Tool::StreamTicker => tool::<StreamTickerArgs, StreamTickerResult>(spec),
        Tool::WatchSubscribe => tool::<WatchSubscribeArgs, WatchSubscribeResult>(spec),
        Tool::WatchRead => tool::<WatchReadArgs, WatchReadResult>(spec),
        Tool::WatchUnsubscribe => tool::<WatchUnsubscribeArgs, WatchUnsubscribeResult>(spec),
        Tool::ComparePrices => tool::<CompareArgs, CompareResult>(spec),
        Tool::ExchangeStatus => tool::<StatusArgs, StatusResult>(spec),
        Tool::GetFundingRate => tool::<FundingRateArgs, FundingRateResult<'static>>(spec),
        Tool::GetFundingHistory => tool::<FundingHistoryArgs, FundingHistoryResult<'static>>(spec),
        Tool::GetOpenInterest => tool::<FundingRateArgs, OpenInterestResult<'static>>(spec),
        Tool::CompareFunding => tool::<CompareFundingArgs, CompareFundingResult>(spec),
        Tool::EstimateFill => tool::<EstimateFillArgs, EstimateFillResult>(spec),
        Tool::TopMovers => tool::<TopMoversArgs, TopMoversResult>(spec),
        Tool::Convert => tool::<ConvertArgs, ConvertResult>(spec),
        Tool::GetIndicators => tool::<IndicatorsArgs, IndicatorsResult<'static>>(spec),
    }
}

fn tool<A: JsonSchema + 'static, R: JsonSchema + 'static>(spec: &ToolSpec) -> McpTool {
    // Our argument types are all structs, so their schema is an object; fall back to an open
    // object rather than fail the whole tool list.
    let input =
        schema_for_input::<A>().unwrap_or_else(|_| Arc::new(object(json!({ "type": "object" }))));
    let mut annotations = ToolAnnotations::new();
    // Every tool only reads market data from exchanges outside this server; asking twice
    // changes nothing, but for watch_subscribe (each call opens a watch of its own).
    annotations.read_only_hint = Some(true);
    annotations.idempotent_hint = Some(spec.tool != crate::tools::Tool::WatchSubscribe);
    annotations.open_world_hint = Some(true);
    McpTool::new(spec.name, spec.description, input)
        .with_title(spec.title)
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
            "message": { "type": "string" },
            "retryable": { "type": "boolean", "description": "whether the same call may succeed later" },
            "retry_after_ms": { "type": "integer", "description": "how long to wait before retrying" },
            "hint": { "type": "string", "description": "the next step: the tool and argument to try" }
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
