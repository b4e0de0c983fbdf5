//! Control frames a client sends on a connection: SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS,
//! SET_PROPERTY / GET_PROPERTY ["combined"], with Binance's replies and error messages
//! (`{"result":null,"id":1}`, `{"code":2,"msg":"Invalid request: ...","id":1}`).

use super::hub::Conn;
use super::streams::{self, StreamSpec};
use serde::Serialize;
use serde_json::Value;
use std::sync::atomic::Ordering;

/// What the connection does after sending the reply. Subscribing happens after the reply is
/// queued, so the reply always precedes the new streams' first events.
#[derive(Debug, PartialEq)]
pub enum Action {
    None,
    Subscribe(Vec<StreamSpec>),
    Unsubscribe(Vec<String>),
}

#[derive(Serialize)]
struct Reply<'a, T: Serialize> {
    result: T,
    id: &'a Value,
}

#[derive(Serialize)]
struct ErrorReply<'a> {
    code: u8,
    msg: String,
    id: &'a Value,
}

fn reply<T: Serialize>(result: T, id: &Value) -> String {
    serde_json::to_string(&Reply { result, id }).unwrap_or_default()
}

fn error(code: u8, msg: impl Into<String>, id: &Value) -> (String, Action) {
    let body = ErrorReply {
        code,
        msg: msg.into(),
        id,
    };
    (
        serde_json::to_string(&body).unwrap_or_default(),
        Action::None,
    )
}

fn invalid(msg: impl std::fmt::Display, id: &Value) -> (String, Action) {
    error(2, format!("Invalid request: {msg}"), id)
}

/// `id`: a 64-bit signed integer, an alphanumeric string of at most 36 characters, or null
/// (absent counts as null, as a serde `Option` field would).
fn valid_id(id: &Value) -> bool {
    match id {
        Value::Null => true,
        Value::Number(n) => n.is_i64(),
        Value::String(s) => s.len() <= 36 && s.bytes().all(|b| b.is_ascii_alphanumeric()),
        _ => false,
    }
}

/// Stream names from `params`, all valid, or the error reply.
fn stream_params(params: Option<&Value>, id: &Value) -> Result<Vec<String>, (String, Action)> {
    let Some(params) = params else {
        return Err(invalid("missing field `params`", id));
    };
    let Some(items) = params.as_array() else {
        return Err(invalid("params must be an array of stream names", id));
    };
    items
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| invalid("params must be an array of stream names", id))
        })
        .collect()
}

/// Handles one text frame; returns the reply to send and what to do next.
pub fn handle(text: &str, conn: &Conn) -> (String, Action) {
    let null = Value::Null;
    let req: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return error(3, format!("Invalid JSON: {e}"), &null),
    };
    let Some(obj) = req.as_object() else {
        return invalid("expected a JSON object", &null);
    };
    let id = obj.get("id").unwrap_or(&null);
    if !valid_id(id) {
        return invalid(
            "request ID must be a 64-bit integer, an alphanumeric string of at most 36 \
             characters, or null",
            &null,
        );
    }
    let Some(method) = obj.get("method") else {
        return invalid("missing field `method`", id);
    };
    let params = obj.get("params");
    match method.as_str().unwrap_or_default() {
        "SUBSCRIBE" => {
            let names = match stream_params(params, id) {
                Ok(n) => n,
                Err(e) => return e,
            };
            let specs = match names
                .iter()
                .map(|n| streams::parse(n))
                .collect::<Result<Vec<StreamSpec>, String>>()
            {
                Ok(s) => s,
                Err(e) => return invalid(e, id),
            };
            match conn.add_subscriptions(specs) {
                Ok(new) => (reply((), id), Action::Subscribe(new)),
                Err(e) => invalid(e, id),
            }
        }
        "UNSUBSCRIBE" => {
            let names = match stream_params(params, id) {
                Ok(n) => n,
                Err(e) => return e,
            };
            let gone = conn.remove_subscriptions(&names);
            (reply((), id), Action::Unsubscribe(gone))
        }
        "LIST_SUBSCRIPTIONS" => {
            if params
                .and_then(Value::as_array)
                .is_some_and(|p| !p.is_empty())
            {
                return invalid("too many parameters", id);
            }
            (reply(conn.subscription_names(), id), Action::None)
        }
        "SET_PROPERTY" => {
            let p = params.and_then(Value::as_array).map(Vec::as_slice);
            match p {
                Some([name, value]) => match (name.as_str(), value) {
                    (None, _) => invalid("property name must be a string", id),
                    (Some("combined"), Value::Bool(b)) => {
                        conn.combined.store(*b, Ordering::Relaxed);
                        (reply((), id), Action::None)
                    }
                    (Some("combined"), _) => error(1, "Invalid value type: expected Boolean", id),
                    (Some(_), _) => error(0, "Unknown property", id),
                },
                Some(p) if p.len() > 2 => invalid("too many parameters", id),
                _ => invalid("property name must be a string", id),
            }
        }
        "GET_PROPERTY" => {
            let p = params.and_then(Value::as_array).map(Vec::as_slice);
            match p {
                Some([name]) => match name.as_str() {
                    Some("combined") => (
                        reply(conn.combined.load(Ordering::Relaxed), id),
                        Action::None,
                    ),
                    Some(_) => error(0, "Unknown property", id),
                    None => invalid("property name must be a string", id),
                },
                Some(p) if p.len() > 1 => invalid("too many parameters", id),
                _ => invalid("property name must be a string", id),
            }
        }
        _ => {
            let name = method
                .as_str()
                .map_or_else(|| method.to_string(), |m| format!("`{m}`"));
            invalid(
                format!(
                    "unknown variant {name}, expected one of `SUBSCRIBE`, `UNSUBSCRIBE`, \
                     `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`"
                ),
                id,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::hub::Hub;
    use crate::ws::publish::WsIntervals;
    use crate::ws::streams::TimeUnit;
    use serde_json::json;
    use std::sync::Arc;
    use tokio::sync::mpsc;

    fn conn() -> (Hub, Arc<Conn>) {
        let h = Hub::new(WsIntervals {
            ticker_ms: 1000,
            book_ticker_ms: 1000,
            kline_ms: 2000,
        });
        let (tx, _rx) = mpsc::channel(1);
        let c = h.open(false, TimeUnit::Milli, 1, tx);
        (h, c)
    }

    fn call(c: &Conn, req: Value) -> (Value, Action) {
        let (text, action) = handle(&req.to_string(), c);
        (serde_json::from_str(&text).unwrap(), action)
    }

    #[test]
    fn fixture_requests_get_fixture_replies() {
        let (_h, c) = conn();
        let (r, a) = call(
            &c,
            json!({"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade", "btcusdt@trade"], "id": 1}),
        );
        assert_eq!(r, json!({"result": null, "id": 1}));
        assert!(matches!(a, Action::Subscribe(ref s) if s.len() == 2));
        let (r, a) = call(
            &c,
            json!({"method": "UNSUBSCRIBE", "params": ["btcusdt@trade"], "id": 312}),
        );
        assert_eq!(r, json!({"result": null, "id": 312}));
        assert_eq!(a, Action::Unsubscribe(vec!["btcusdt@trade".into()]));
        let (r, _) = call(&c, json!({"method": "LIST_SUBSCRIPTIONS", "id": 3}));
        assert_eq!(r, json!({"result": ["btcusdt@aggTrade"], "id": 3}));
        // Key order as Binance: result first.
        let (text, _) = handle(r#"{"method":"LIST_SUBSCRIPTIONS","id":"a1"}"#, &c);
        assert_eq!(text, r#"{"result":["btcusdt@aggTrade"],"id":"a1"}"#);
    }

    #[test]
    fn ids_may_be_integers_strings_or_null() {
        let (_h, c) = conn();
        for id in [json!(-5), json!("abc123"), json!(null)] {
            let (r, _) = call(&c, json!({"method": "LIST_SUBSCRIPTIONS", "id": id}));
            assert_eq!(r["id"], id);
        }
        let (r, _) = call(&c, json!({"method": "LIST_SUBSCRIPTIONS"}));
        assert_eq!(r, json!({"result": [], "id": null}));
        for bad in [
            json!(1.5),
            json!("with space"),
            json!("x".repeat(37)),
            json!([1]),
        ] {
            let (r, _) = call(&c, json!({"method": "LIST_SUBSCRIPTIONS", "id": bad}));
            assert_eq!(r["code"], 2, "{bad}");
        }
    }

    #[test]
    fn errors() {
        let (_h, c) = conn();
        let (text, _) = handle("{nope", &c);
        let r: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(r["code"], 3);
        assert!(r["msg"].as_str().unwrap().starts_with("Invalid JSON: "));
        let (r, a) = call(
            &c,
            json!({"method": "SUBSCRIBE", "params": ["btcusdt@trade", "BTCUSDT@trade"], "id": 7}),
        );
        assert_eq!((r["code"].as_u64(), r["id"].as_u64()), (Some(2), Some(7)));
        assert!(r["msg"].as_str().unwrap().starts_with("Invalid request: "));
        assert_eq!(a, Action::None);
        assert!(c.subscription_names().is_empty(), "nothing subscribed");
        let (r, _) = call(&c, json!({"method": "SUBSCRIBE", "id": 8}));
        assert_eq!(r["msg"], "Invalid request: missing field `params`");
        let (r, _) = call(&c, json!({"method": "PING", "id": 9}));
        assert!(r["msg"].as_str().unwrap().contains("unknown variant"));
        let (r, _) = call(&c, json!({"params": [], "id": 10}));
        assert_eq!(r["msg"], "Invalid request: missing field `method`");
        let (r, _) = call(
            &c,
            json!({"method": "LIST_SUBSCRIPTIONS", "params": ["x"], "id": 11}),
        );
        assert_eq!(r["msg"], "Invalid request: too many parameters");
    }

    #[test]
    fn combined_property() {
        let (_h, c) = conn();
        let (r, _) = call(
            &c,
            json!({"method": "GET_PROPERTY", "params": ["combined"], "id": 1}),
        );
        assert_eq!(r, json!({"result": false, "id": 1}));
        let (r, _) = call(
            &c,
            json!({"method": "SET_PROPERTY", "params": ["combined", true], "id": 2}),
        );
        assert_eq!(r, json!({"result": null, "id": 2}));
        assert!(c.combined.load(Ordering::Relaxed));
        let (r, _) = call(
            &c,
            json!({"method": "SET_PROPERTY", "params": ["combined", "yes"], "id": 3}),
        );
        assert_eq!(r["code"], 1);
        let (r, _) = call(
            &c,
            json!({"method": "GET_PROPERTY", "params": ["colour"], "id": 4}),
        );
        assert_eq!(r, json!({"code": 0, "msg": "Unknown property", "id": 4}));
    }
}
