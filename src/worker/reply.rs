//! Replies (SPEC.md section 6): `PUBLISH {reply_to}` of
//! `{request_id, ok, result | error, worker, elapsed_ms}`, at most once per `request_id`.
//!
//! A request can be executed twice (a reclaimed request whose first worker was only slow, a
//! client that sends the same id both ways); the reply is what must happen once. So a reply is
//! claimed with `SET {prefix}:replied:{request_id} NX PX`; only the claimant publishes, in the
//! same script, so the claim and the reply happen together or not at all.

use std::time::Duration;

use crypto_market_actors::redis_target::RedisConn;
use serde_json::{json, Value};

use crate::tools::ToolError;

/// How long a reply claim is remembered: past the last possible redelivery of a request (four
/// deliveries, each after 5 s idle plus a sweep interval plus at most an exchange timeout, about
/// 70 s), short enough that the keys of a busy pool stay few (one per request per 5 minutes).
const REPLIED_TTL: Duration = Duration::from_secs(300);

/// `{request_id, ok, result | error, worker, elapsed_ms}`.
pub fn body(
    request_id: &str,
    outcome: &Result<Value, ToolError>,
    worker: &str,
    elapsed: Duration,
) -> Value {
    let elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    match outcome {
        Ok(result) => json!({
            "request_id": request_id, "ok": true, "result": result,
            "worker": worker, "elapsed_ms": elapsed_ms,
        }),
        Err(error) => {
            let mut envelope = error.to_json();
            json!({
                "request_id": request_id, "ok": false, "error": envelope["error"].take(),
                "worker": worker, "elapsed_ms": elapsed_ms,
            })
        }
    }
}

pub fn replied_key(prefix: &str, request_id: &str) -> String {
    format!("{prefix}:replied:{request_id}")
}

/// Whether `request_id` was answered already (a reclaimed request whose worker replied, then
/// died before its XACK): such a request is acknowledged, not run again.
pub async fn already_replied(
    conn: &mut RedisConn,
    prefix: &str,
    request_id: &str,
) -> redis::RedisResult<bool> {
    redis::cmd("EXISTS")
        .arg(replied_key(prefix, request_id))
        .query_async(conn)
        .await
}

/// Claims the reply and publishes it in one step: a worker dying between the two would
/// otherwise leave a claimed but never published reply, which no later delivery may send.
/// One round trip, too. (Plain EVAL: Redis caches the compiled script by its text.)
const CLAIM_AND_PUBLISH: &str = r"
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  return 1
end
return 0";

/// Claims the reply for `request_id` and publishes it. `Ok(false)`: another delivery of the same
/// request was answered already, nothing was published.
pub async fn send(
    conn: &mut RedisConn,
    prefix: &str,
    channel: &str,
    request_id: &str,
    body: &Value,
) -> redis::RedisResult<bool> {
    let payload = body.to_string();
    let mut attempt = 0;
    loop {
        let sent: redis::RedisResult<i64> = redis::cmd("EVAL")
            .arg(CLAIM_AND_PUBLISH)
            .arg(1)
            .arg(replied_key(prefix, request_id))
            .arg(REPLIED_TTL.as_millis() as u64)
            .arg(channel)
            .arg(&payload)
            .query_async(conn)
            .await;
        match sent {
            Ok(published) => return Ok(published == 1),
            // Safe to repeat: if the failed attempt did run, this one finds the claim taken
            // and publishes nothing (the connection manager reconnects in between).
            Err(e) if attempt < 3 => {
                attempt += 1;
                tracing::warn!(request_id, "sending a reply failed, retrying: {e}");
                tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crypto_market_actors::ErrorCode;

    #[test]
    fn replies_carry_the_spec_fields() {
        let ok = body("r", &Ok(json!({"x": 1})), "w1", Duration::from_millis(7));
        assert_eq!(
            ok,
            json!({"request_id": "r", "ok": true, "result": {"x": 1}, "worker": "w1", "elapsed_ms": 7})
        );
        let err = body(
            "r",
            &Err(ToolError::new(ErrorCode::UnknownTool, "no")),
            "w1",
            Duration::ZERO,
        );
        assert_eq!(err["ok"], false);
        assert_eq!(err["error"]["code"], "unknown_tool");
        assert!(err.get("result").is_none());
    }
}
