//! `completion/complete` (SPEC.md section 10): the `exchange` and `symbol` of every resource
//! template. `exchange` completes over the enabled exchanges; `symbol` over the markets of the
//! exchange the context names (else the default one), as the URI spells them (`BTCUSDT`),
//! by case-insensitive prefix, separators ignored (`btc/u` finds `BTCUSDT`); at most
//! [`MAX_VALUES`].
//!
//! Both go through the tools (`exchange_status`, `list_markets`), so a gateway completes from
//! the worker pool as it answers everything else.

use std::future::Future;

use rmcp::model::{CompleteRequestParams, CompleteResult, CompletionInfo, Reference};
use serde_json::{json, Map, Value};

use super::resources;
use crate::tools::ToolError;

/// Most values one completion returns (the MCP limit).
pub const MAX_VALUES: usize = CompletionInfo::MAX_VALUES;

/// Resource templates whose `{exchange}` and `{symbol}` complete.
pub const TEMPLATES: &[&str] = &[
    resources::TEMPLATE,
    resources::ORDERBOOK_TEMPLATE,
    resources::TRADES_TEMPLATE,
];

/// Pages of `list_markets` one completion reads at most: a short prefix matching thousands of
/// markets stops there (with `hasMore`).
const MAX_PAGES: usize = 10;
/// `list_markets`'s largest page.
const PAGE: u32 = crate::tools::args::MARKETS_LIMIT.max;

/// The values completing `request`; empty for anything this server does not complete.
pub async fn complete<F, Fut>(request: &CompleteRequestParams, call: F) -> CompleteResult
where
    F: Fn(&'static str, Map<String, Value>) -> Fut,
    Fut: Future<Output = Result<Value, ToolError>>,
{
    let Reference::Resource(reference) = &request.r#ref else {
        return CompleteResult::default();
    };
    if !TEMPLATES.contains(&reference.uri.as_str()) {
        return CompleteResult::default();
    }
    let typed = request.argument.value.as_str();
    let found = match request.argument.name.as_str() {
        "exchange" => exchanges(typed, &call).await,
        "symbol" => {
            let exchange = request
                .context
                .as_ref()
                .and_then(|context| context.get_argument("exchange"))
                .map(|exchange| exchange.trim())
                .filter(|exchange| !exchange.is_empty());
            symbols(typed, exchange, &call).await
        }
        _ => Found::default(),
    };
    CompleteResult::new(found.into_info())
}

/// Values found, and whether there are more than those.
#[derive(Debug, Default, PartialEq)]
struct Found {
    values: Vec<String>,
    more: bool,
}

impl Found {
    fn into_info(self) -> CompletionInfo {
        let total = (!self.more).then(|| u32::try_from(self.values.len()).unwrap_or(u32::MAX));
        CompletionInfo::with_pagination(self.values, total, self.more).unwrap_or_default()
    }

    /// Adds `value`; false once full (`more` then says some were left out).
    fn push(&mut self, value: String) -> bool {
        if self.values.len() >= MAX_VALUES {
            self.more = true;
            return false;
        }
        if !self.values.contains(&value) {
            self.values.push(value);
        }
        true
    }
}

/// `typed` with separators dropped, upper case: what prefixes are compared on.
fn compact(text: &str) -> String {
    text.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

async fn exchanges<F, Fut>(typed: &str, call: &F) -> Found
where
    F: Fn(&'static str, Map<String, Value>) -> Fut,
    Fut: Future<Output = Result<Value, ToolError>>,
{
    let mut found = Found::default();
    let Ok(status) = call("exchange_status", Map::new()).await else {
        return found;
    };
    let typed = typed.trim().to_ascii_lowercase();
    let ids = status["exchanges"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|venue| venue["id"].as_str());
    for id in ids.filter(|id| id.to_ascii_lowercase().starts_with(&typed)) {
        if !found.push(id.to_owned()) {
            break;
        }
    }
    found
}

async fn symbols<F, Fut>(typed: &str, exchange: Option<&str>, call: &F) -> Found
where
    F: Fn(&'static str, Map<String, Value>) -> Fut,
    Fut: Future<Output = Result<Value, ToolError>>,
{
    let mut found = Found::default();
    let prefix = compact(typed);
    let mut offset = 0;
    for _ in 0..MAX_PAGES {
        let mut args = json!({"limit": PAGE, "offset": offset});
        if !prefix.is_empty() {
            // list_markets matches a substring (separators ignored): prefixes are among those.
            args["query"] = json!(prefix);
        }
        if let Some(exchange) = exchange {
            args["exchange"] = json!(exchange);
        }
        let Ok(page) = call("list_markets", object(args)).await else {
            return found;
        };
        let symbols = page["markets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|market| market["symbol"].as_str());
        for symbol in symbols.filter(|symbol| compact(symbol).starts_with(&prefix)) {
            // As the URI spells it: ticker://binance/BTCUSDT.
            if !found.push(symbol.replace('/', "")) {
                return found;
            }
        }
        match page["next_offset"].as_u64() {
            Some(next) => offset = next,
            None => return found,
        }
    }
    // Pages left unread may hold more.
    found.more = true;
    found
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{ArgumentInfo, CompletionContext};

    fn request(argument: &str, value: &str, exchange: Option<&str>) -> CompleteRequestParams {
        let mut request = CompleteRequestParams::new(
            Reference::for_resource(resources::TEMPLATE),
            ArgumentInfo::new(argument, value),
        );
        if let Some(exchange) = exchange {
            request.context = Some(CompletionContext::with_arguments(
                [("exchange".to_owned(), exchange.to_owned())].into(),
            ));
        }
        request
    }

    /// Two venues; `okx` lists only ETH, the default lists BTC, ETH and many SIM markets.
    async fn tools(tool: &'static str, args: Map<String, Value>) -> Result<Value, ToolError> {
        match tool {
            "exchange_status" => Ok(json!({"exchanges": [{"id": "binance"}, {"id": "okx"}]})),
            "list_markets" => {
                let mut all = vec!["BTC/USDT".to_owned(), "ETH/USDT".to_owned()];
                if args.get("exchange").and_then(Value::as_str) == Some("okx") {
                    all = vec!["ETH/USDT".to_owned()];
                } else {
                    all.extend((0..300).map(|i| format!("SIM{i:04}/USDT")));
                }
                let query = args.get("query").and_then(Value::as_str).unwrap_or("");
                let matching: Vec<_> = all.iter().filter(|s| compact(s).contains(query)).collect();
                let offset = args["offset"].as_u64().unwrap_or(0) as usize;
                let limit = args["limit"].as_u64().unwrap_or(50) as usize;
                let page: Vec<_> = matching.iter().skip(offset).take(limit).collect();
                let end = offset + page.len();
                Ok(json!({
                    "markets": page.iter().map(|s| json!({"symbol": s})).collect::<Vec<_>>(),
                    "next_offset": (end < matching.len()).then_some(end),
                }))
            }
            _ => unreachable!(),
        }
    }

    #[tokio::test]
    async fn exchanges_and_symbols_complete_by_prefix() {
        let values = |r: CompleteResult| r.completion.values;
        assert_eq!(
            values(complete(&request("exchange", "O", None), tools).await),
            ["okx"]
        );
        assert_eq!(
            values(complete(&request("symbol", "btc/u", None), tools).await),
            ["BTCUSDT"]
        );
        assert_eq!(
            values(complete(&request("symbol", "e", Some("okx")), tools).await),
            ["ETHUSDT"]
        );
        let many = complete(&request("symbol", "sim", None), tools).await;
        assert_eq!(many.completion.values.len(), MAX_VALUES);
        assert_eq!(many.completion.has_more, Some(true));
        let other = request("timeframe", "1", None);
        assert!(values(complete(&other, tools).await).is_empty());
    }
}
