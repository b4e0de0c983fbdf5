//! Reading the request stream with bounded memory (SPEC.md section 9). `XREADGROUP` and
//! `XAUTOCLAIM` hand over whole entries, so one client's 150 MB `XADD` would land in a
//! worker's memory, and again on every reclaim, until the pool crash-loops. Both run inside a
//! Lua script instead, which measures each entry in Redis: an entry of at most
//! [`MAX_ENTRY_BYTES`] comes back as its `request` field; a bigger one as its id, its size,
//! its first [`HEAD_BYTES`] and the `request_id` / `reply_to` it names (looked up in Redis,
//! within a few hundred bytes of each name). A read thus brings at most COUNT × 64 KiB into a
//! worker, whatever clients send.
//!
//! A script cannot block, so new entries are polled ([`Poll`]): again at once while work keeps
//! coming, backing off to a few milliseconds when the stream is idle.

use std::time::Duration;

use crypto_market_actors::redis_target::RedisConn;
use redis::RedisResult;

use super::request::MAX_REQUEST_BYTES;
use super::{Shared, GROUP};

/// Largest entry (all its fields and values) a worker reads in full.
pub const MAX_ENTRY_BYTES: usize = MAX_REQUEST_BYTES;
/// What is kept of an oversized entry: its first KiB.
pub const HEAD_BYTES: usize = 1024;

/// One entry as the scripts return it.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// An entry of acceptable size; `request` is `None` when it has no `request` field.
    Entry {
        id: String,
        request: Option<Vec<u8>>,
    },
    /// An entry over [`MAX_ENTRY_BYTES`], never read in full.
    Oversized {
        id: String,
        size: u64,
        head: Vec<u8>,
        request_id: Option<String>,
        reply_to: Option<String>,
    },
}

impl Delivery {
    pub fn id(&self) -> &str {
        match self {
            Self::Entry { id, .. } | Self::Oversized { id, .. } => id,
        }
    }
}

/// Shapes `entries` (`{{id, {field, value, ...}}, ...}`) into `{id, 'ok', request}`,
/// `{id, 'none'}` or `{id, 'big', size, head, request_id, reply_to}`.
const SHAPE: &str = r#"
local function named(request, name)
  local at = string.find(request, '"' .. name .. '"', 1, true)
  if not at then return '' end
  local window = string.sub(request, at, at + 400)
  return string.match(window, '^"' .. name .. '"%s*:%s*"([^"\\]*)"') or ''
end
local function shape(entries, max, keep)
  local out = {}
  for _, e in ipairs(entries) do
    local id, fields = e[1], e[2]
    if type(fields) == 'table' then
      local size, request = 0, false
      for j = 1, #fields, 2 do
        size = size + string.len(fields[j]) + string.len(fields[j + 1])
        if fields[j] == 'request' then request = fields[j + 1] end
      end
      if size > max then
        local head, rid, rto = '', '', ''
        if request then
          head = string.sub(request, 1, keep)
          rid, rto = named(request, 'request_id'), named(request, 'reply_to')
        end
        out[#out + 1] = {id, 'big', tostring(size), head, rid, rto}
      elseif request then
        out[#out + 1] = {id, 'ok', request}
      else
        out[#out + 1] = {id, 'none'}
      end
    end
  end
  return out
end
"#;

/// KEYS: stream. ARGV: group, consumer, count, max bytes, head bytes.
const READ_NEW: &str = r"
local r = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3],
  'STREAMS', KEYS[1], '>')
if not r then return {} end
return shape(r[1][2], tonumber(ARGV[4]), tonumber(ARGV[5]))
";

/// KEYS: stream. ARGV: group, consumer, count, max bytes, head bytes, min idle ms, cursor.
/// Returns {next cursor, shaped claimed entries, ids deleted while pending}.
const CLAIM: &str = r"
local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[6], ARGV[7],
  'COUNT', ARGV[3])
return {r[1], shape(r[2], tonumber(ARGV[4]), tonumber(ARGV[5])), r[3] or {}}
";

static READ_NEW_SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(&format!("{SHAPE}{READ_NEW}")));
static CLAIM_SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(&format!("{SHAPE}{CLAIM}")));

/// `script` on the request stream with the arguments both scripts begin with: the group, this
/// worker, `count` and the entry size bounds.
fn on_requests<'a>(
    script: &'a redis::Script,
    shared: &Shared,
    count: usize,
) -> redis::ScriptInvocation<'a> {
    let mut invocation = script.key(&shared.request_channel);
    invocation
        .arg(GROUP)
        .arg(&shared.id)
        .arg(count)
        .arg(MAX_ENTRY_BYTES)
        .arg(HEAD_BYTES);
    invocation
}

/// Up to `count` new entries for this worker (`XREADGROUP ... >`), without waiting.
pub async fn new_entries(
    conn: &mut RedisConn,
    shared: &Shared,
    count: usize,
) -> RedisResult<Vec<Delivery>> {
    let rows: Vec<Vec<Vec<u8>>> = on_requests(&READ_NEW_SCRIPT, shared, count)
        .invoke_async(conn)
        .await?;
    Ok(rows.into_iter().filter_map(delivery).collect())
}

/// One `XAUTOCLAIM` step: (next cursor, claimed entries, ids trimmed while pending).
pub async fn claim(
    conn: &mut RedisConn,
    shared: &Shared,
    min_idle: Duration,
    cursor: &str,
    count: usize,
) -> RedisResult<(String, Vec<Delivery>, Vec<String>)> {
    let mut invocation = on_requests(&CLAIM_SCRIPT, shared, count);
    invocation
        .arg(u64::try_from(min_idle.as_millis()).unwrap_or(u64::MAX))
        .arg(cursor);
    let (next, rows, deleted): (String, Vec<Vec<Vec<u8>>>, Vec<String>) =
        invocation.invoke_async(conn).await?;
    Ok((
        next,
        rows.into_iter().filter_map(delivery).collect(),
        deleted,
    ))
}

/// A shaped row; `None` for a row the scripts never make.
fn delivery(mut row: Vec<Vec<u8>>) -> Option<Delivery> {
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).ok();
    let optional = |bytes: Vec<u8>| text(bytes).filter(|s| !s.is_empty());
    if row.len() < 2 {
        return None;
    }
    let mut rest = row.split_off(2).into_iter();
    let kind = row.pop()?;
    let id = text(row.pop()?)?;
    match kind.as_slice() {
        b"ok" => Some(Delivery::Entry {
            id,
            request: rest.next(),
        }),
        b"none" => Some(Delivery::Entry { id, request: None }),
        b"big" => Some(Delivery::Oversized {
            id,
            size: text(rest.next()?)?.parse().ok()?,
            head: rest.next()?,
            request_id: optional(rest.next()?),
            reply_to: optional(rest.next()?),
        }),
        _ => None,
    }
}

/// Whether `e` says the group (or the whole stream) is gone: Redis restarted without
/// persistence. The code survives the script's error wrapping, but the text is checked too.
pub fn is_nogroup(e: &redis::RedisError) -> bool {
    e.code() == Some("NOGROUP") || e.to_string().contains("NOGROUP")
}

/// How long to wait before polling an idle stream again: from 1 ms after the last entry,
/// doubling to [`Poll::MAX`]. The first request after a quiet spell waits at most that long;
/// an idle worker costs Redis a few hundred cheap scripts a second at most.
pub struct Poll {
    next: Duration,
}

impl Poll {
    const MIN: Duration = Duration::from_millis(1);
    const MAX: Duration = Duration::from_millis(8);

    pub fn new() -> Self {
        Self { next: Self::MIN }
    }

    /// Work came: poll again at once, and soon after.
    pub fn busy(&mut self) {
        self.next = Self::MIN;
    }

    /// Nothing came: the wait before the next poll.
    pub fn idle(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(parts: &[&[u8]]) -> Vec<Vec<u8>> {
        parts.iter().map(|p| p.to_vec()).collect()
    }

    #[test]
    fn rows_become_deliveries() {
        assert_eq!(
            delivery(row(&[b"1-0", b"ok", b"{}"])),
            Some(Delivery::Entry {
                id: "1-0".into(),
                request: Some(b"{}".to_vec())
            })
        );
        assert_eq!(
            delivery(row(&[b"1-1", b"none"])),
            Some(Delivery::Entry {
                id: "1-1".into(),
                request: None
            })
        );
        assert_eq!(
            delivery(row(&[b"1-2", b"big", b"70000", b"{\"a", b"r9", b""])),
            Some(Delivery::Oversized {
                id: "1-2".into(),
                size: 70_000,
                head: b"{\"a".to_vec(),
                request_id: Some("r9".into()),
                reply_to: None,
            })
        );
        assert_eq!(delivery(row(&[b"1-3"])), None);
        assert_eq!(delivery(row(&[b"1-3", b"what"])), None);
    }

    #[test]
    fn polling_backs_off_while_idle_and_resets_on_work() {
        let mut poll = Poll::new();
        let waits: Vec<Duration> = (0..6).map(|_| poll.idle()).collect();
        assert_eq!(waits[0], Poll::MIN);
        assert_eq!(*waits.last().unwrap(), Poll::MAX);
        poll.busy();
        assert_eq!(poll.idle(), Poll::MIN);
    }
}
