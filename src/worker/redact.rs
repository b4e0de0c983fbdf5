//! Keeping client keys out of what the pool leaves in Redis (SPEC.md section 9): a copy of a
//! request set aside in the dead-letter stream omits its `api_key`, whether the request is
//! whole JSON or only the first KiB of an oversized one.

use serde_json::Value;

const FIELD: &[u8] = b"\"api_key\"";

/// `payload` without its `api_key`. A JSON object loses the member; anything else (a cut-off
/// head, invalid JSON) loses every `"api_key": <value>` found in its text, up to the end when
/// the value is cut off. A payload without the field is returned as it was, byte for byte.
pub fn without_api_key(payload: &[u8]) -> Vec<u8> {
    if find(payload, FIELD, 0).is_none() {
        return payload.to_vec();
    }
    if let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(payload) {
        if object.remove("api_key").is_some() {
            if let Ok(text) = serde_json::to_vec(&Value::Object(object)) {
                // The name may still appear inside another value: fall through to the text.
                if find(&text, FIELD, 0).is_none() {
                    return text;
                }
                return cut_members(&text);
            }
        }
    }
    cut_members(payload)
}

/// Removes each `"api_key" : value` from `text`.
fn cut_members(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut from = 0;
    while let Some(start) = find(text, FIELD, from) {
        out.extend_from_slice(&text[from..start]);
        from = member_end(text, start + FIELD.len());
    }
    out.extend_from_slice(&text[from..]);
    out
}

/// Where the value after a member name at `at` ends: after `: "string"` (escapes honoured),
/// else at the next `,` or `}`; the end of `text` if it is cut off first.
fn member_end(text: &[u8], mut at: usize) -> usize {
    let skip_space = |at: &mut usize| {
        while text.get(*at).is_some_and(u8::is_ascii_whitespace) {
            *at += 1;
        }
    };
    skip_space(&mut at);
    if text.get(at) != Some(&b':') {
        return at;
    }
    at += 1;
    skip_space(&mut at);
    if text.get(at) == Some(&b'"') {
        at += 1;
        while let Some(&byte) = text.get(at) {
            at += 1;
            match byte {
                b'\\' => at += 1,
                b'"' => return at.min(text.len()),
                _ => {}
            }
        }
        return text.len();
    }
    text[at..]
        .iter()
        .position(|b| matches!(b, b',' | b'}'))
        .map_or(text.len(), |n| at + n)
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|n| from + n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn a_request_without_a_key_is_kept_byte_for_byte() {
        let raw = br#"{"tool":"x",  "request_id":"r"}"#;
        assert_eq!(without_api_key(raw), raw.to_vec());
    }

    #[test]
    fn a_json_request_loses_its_key_member() {
        let raw = br#"{"request_id":"r","api_key":"alphakey","tool":"t"}"#;
        let out = text(without_api_key(raw));
        assert!(
            !out.contains("api_key") && !out.contains("alphakey"),
            "{out}"
        );
        let parsed: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed["request_id"], "r");
    }

    #[test]
    fn a_cut_off_head_loses_the_key_too() {
        for raw in [
            &br#"{"args":{"s":"xx"},"api_key" : "alph\"akey","request_id":"r","#[..],
            br#"{"request_id":"r","api_key":"alphak"#,
            br#"{"api_key":12345,"tool":"t""#,
        ] {
            let out = text(without_api_key(raw));
            assert!(!out.contains("api_key") && !out.contains("alph"), "{out}");
            assert!(!out.contains("12345"), "{out}");
        }
    }
}
