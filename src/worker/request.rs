//! A request off the wire (SPEC.md section 6), parsed and validated before any work starts.
//! Whatever a client sends, the answer is a `Request` or a `Malformed` that says what was
//! wrong and, when the request could be identified, where to answer.

use serde_json::{Map, Value};

/// Longest request accepted. Tool arguments are small; anything bigger is a client bug or
/// abuse, and parsing it in full would let one client stall a worker.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
const MAX_ID_CHARS: usize = 128;
const MAX_CHANNEL_CHARS: usize = 256;
const MAX_KEY_CHARS: usize = 256;

#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub request_id: String,
    pub tool: String,
    pub args: Option<Map<String, Value>>,
    /// `None`: the default `RESPONSE_CHANNEL`.
    pub reply_to: Option<String>,
    pub deadline_ms: Option<u64>,
    pub client_id: Option<String>,
    /// The client's key (`API_KEYS_FILE`); never logged.
    pub api_key: Option<crate::config::Secret>,
}

/// What was wrong with an input, as a closed set (a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MalformedKind {
    /// A stream entry without a `request` field.
    NoPayload,
    TooLarge,
    NotJson,
    NotObject,
    /// No `request_id`, or one that is not a 1..128 character string: nobody to answer.
    NoRequestId,
    /// Identified, but a field has the wrong type or value: answered `invalid_argument`.
    BadField,
}

impl MalformedKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoPayload => "no_payload",
            Self::TooLarge => "too_large",
            Self::NotJson => "not_json",
            Self::NotObject => "not_object",
            Self::NoRequestId => "no_request_id",
            Self::BadField => "bad_field",
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {message}", kind.as_str())]
pub struct Malformed {
    pub kind: MalformedKind,
    pub message: String,
    /// Set when the request can be answered (it has a valid `request_id`).
    pub request_id: Option<String>,
    pub reply_to: Option<String>,
}

impl Malformed {
    fn anonymous(kind: MalformedKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            request_id: None,
            reply_to: None,
        }
    }
}

/// Parses one request payload.
pub fn parse(payload: &[u8]) -> Result<Request, Malformed> {
    if payload.len() > MAX_REQUEST_BYTES {
        return Err(too_large(payload));
    }
    let value: Value = serde_json::from_slice(payload)
        .map_err(|e| Malformed::anonymous(MalformedKind::NotJson, format!("not JSON: {e}")))?;
    let Value::Object(mut object) = value else {
        return Err(Malformed::anonymous(
            MalformedKind::NotObject,
            "a request is a JSON object",
        ));
    };
    let request_id = request_id(object.get("request_id"))?;
    // From here on the request can be answered: every problem names the field.
    let reply_to = optional_string(&mut object, "reply_to", MAX_CHANNEL_CHARS);
    let fail = |message: String, reply_to: Option<String>| Malformed {
        kind: MalformedKind::BadField,
        message,
        request_id: Some(request_id.clone()),
        reply_to,
    };
    let reply_to = reply_to.map_err(|m| fail(m, None))?;
    let tool = match object.remove("tool") {
        Some(Value::String(tool)) if !tool.is_empty() => tool,
        Some(other) => {
            return Err(fail(
                format!("tool: expected a tool name, got {other}"),
                reply_to,
            ))
        }
        None => return Err(fail("tool: missing".into(), reply_to)),
    };
    let args = match object.remove("args") {
        None | Some(Value::Null) => None,
        Some(Value::Object(args)) => Some(args),
        Some(other) => {
            return Err(fail(
                format!("args: expected an object, got {other}"),
                reply_to,
            ))
        }
    };
    let deadline_ms = match object.remove("deadline_ms") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64(),
        Some(other) => {
            return Err(fail(
                format!("deadline_ms: expected a Unix time in ms, got {other}"),
                reply_to,
            ))
        }
    };
    let client_id = optional_string(&mut object, "client_id", MAX_ID_CHARS)
        .map_err(|m| fail(m, reply_to.clone()))?;
    let api_key = optional_string(&mut object, "api_key", MAX_KEY_CHARS)
        .map_err(|m| fail(m, reply_to.clone()))?
        .map(crate::config::Secret::new);
    Ok(Request {
        request_id,
        tool,
        args,
        reply_to,
        deadline_ms,
        client_id,
        api_key,
    })
}

fn request_id(value: Option<&Value>) -> Result<String, Malformed> {
    match value {
        Some(Value::String(id)) if (1..=MAX_ID_CHARS).contains(&id.chars().count()) => {
            Ok(id.clone())
        }
        Some(other) => Err(Malformed::anonymous(
            MalformedKind::NoRequestId,
            format!(
                "request_id: expected a string of 1 to {MAX_ID_CHARS} characters, got {}",
                abbreviated(other)
            ),
        )),
        None => Err(Malformed::anonymous(
            MalformedKind::NoRequestId,
            "request_id: missing",
        )),
    }
}

fn optional_string(
    object: &mut Map<String, Value>,
    field: &str,
    max_chars: usize,
) -> Result<Option<String>, String> {
    match object.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if (1..=max_chars).contains(&s.chars().count()) => Ok(Some(s)),
        Some(other) => Err(format!(
            "{field}: expected a string of 1 to {max_chars} characters, got {}",
            abbreviated(&other)
        )),
    }
}

/// An oversized request is still answered when it names itself: only its identifying fields
/// are read (serde skips the rest without building it).
fn too_large(payload: &[u8]) -> Malformed {
    #[derive(serde::Deserialize)]
    struct Envelope {
        request_id: Option<String>,
        reply_to: Option<String>,
    }
    let message = format!(
        "request is {} bytes; at most {MAX_REQUEST_BYTES} are accepted",
        payload.len()
    );
    let envelope = serde_json::from_slice::<Envelope>(payload).ok();
    let request_id = envelope
        .as_ref()
        .and_then(|e| e.request_id.clone())
        .filter(|id| (1..=MAX_ID_CHARS).contains(&id.chars().count()));
    let reply_to = envelope
        .and_then(|e| e.reply_to)
        .filter(|c| (1..=MAX_CHANNEL_CHARS).contains(&c.chars().count()));
    Malformed {
        kind: MalformedKind::TooLarge,
        message,
        request_id,
        reply_to,
    }
}

/// A value for an error message, cut short: the message goes back to the client and to logs.
fn abbreviated(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bytes(v: Value) -> Vec<u8> {
        v.to_string().into_bytes()
    }

    #[test]
    fn a_full_request_parses() {
        let r = parse(&bytes(
            json!({"request_id": "r1", "tool": "get_ticker", "args": {"symbol": "BTC/USDT"},
            "reply_to": "c", "deadline_ms": 5, "client_id": "me", "api_key": "k"}),
        ))
        .unwrap();
        assert_eq!(r.request_id, "r1");
        assert_eq!(r.args.unwrap()["symbol"], "BTC/USDT");
        assert_eq!((r.reply_to.as_deref(), r.deadline_ms), (Some("c"), Some(5)));
    }

    #[test]
    fn malformed_inputs_say_what_and_whom_to_answer() {
        let kind = |p: &[u8]| parse(p).unwrap_err();
        assert_eq!(kind(b"not json").kind, MalformedKind::NotJson);
        assert_eq!(kind(b"[1]").kind, MalformedKind::NotObject);
        assert_eq!(
            kind(&bytes(json!({"tool": "x"}))).kind,
            MalformedKind::NoRequestId
        );
        let long = "x".repeat(129);
        assert_eq!(kind(&bytes(json!({"request_id": long}))).request_id, None);
        let bad = kind(&bytes(
            json!({"request_id": "r", "tool": "t", "args": [1], "reply_to": "c"}),
        ));
        assert_eq!(
            (bad.kind, bad.request_id.as_deref(), bad.reply_to.as_deref()),
            (MalformedKind::BadField, Some("r"), Some("c"))
        );
        assert!(bad.message.starts_with("args:"), "{}", bad.message);
        let big = bytes(
            json!({"request_id": "big", "tool": "t", "args": {"x": "y".repeat(MAX_REQUEST_BYTES)}}),
        );
        let e = kind(&big);
        assert_eq!(
            (e.kind, e.request_id.as_deref()),
            (MalformedKind::TooLarge, Some("big"))
        );
    }
}
