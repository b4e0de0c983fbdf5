//! Per-client keys and limits (`API_KEYS_FILE`): who may call, which tools, how fast.
//!
//! The file is TOML, one `[[client]]` table per client:
//! ```toml
//! [[client]]
//! id = "research-bot"
//! key_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
//! rate_per_s = 5.0
//! burst = 10
//! tools = ["get_ticker", "get_ohlcv"]   # optional allow-list
//! ```
//! Keys are stored only as SHA-256 hashes (hex); a presented key is hashed and looked up.

mod gate;
mod limit;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use sha2::{Digest, Sha256};

pub use gate::{ClientCounts, Gate};
pub use limit::{ClientLimiter, Verdict};

/// The slowest rate a client may be given: one call in 1,000 s. Below it the limiter's
/// period would not fit a `Duration` sensibly (1e-30/s is ~3e22 years) and is surely a typo.
pub const MIN_RATE_PER_S: f64 = 0.001;
/// The fastest: above it a limit limits nothing.
pub const MAX_RATE_PER_S: f64 = 100_000.0;

/// One client of the file.
#[derive(Debug)]
pub struct Client {
    pub id: String,
    pub rate_per_s: f64,
    pub burst: u32,
    /// `None`: every tool.
    pub tools: Option<HashSet<String>>,
}

impl Client {
    pub fn may_call(&self, tool: &str) -> bool {
        self.tools.as_ref().is_none_or(|tools| tools.contains(tool))
    }
}

/// Every known client by the SHA-256 (hex) of its key.
#[derive(Debug, Default)]
pub struct ApiKeys {
    by_hash: HashMap<String, Arc<Client>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    client: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: String,
    key_sha256: String,
    rate_per_s: f64,
    burst: u32,
    tools: Option<Vec<String>>,
}

impl ApiKeys {
    /// Reads and checks the file; the error says what is wrong where (for the one-line exit).
    pub fn load(path: &Path, known_tools: &[&str]) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::parse(&text, known_tools)
    }

    pub fn parse(text: &str, known_tools: &[&str]) -> Result<Self, String> {
        let file: File = toml::from_str(text).map_err(|e| format!("not a keys file: {e}"))?;
        if file.client.is_empty() {
            return Err("no [[client]] in the file".to_owned());
        }
        let mut by_hash = HashMap::new();
        let mut ids = HashSet::new();
        for entry in file.client {
            let id = entry.id.trim().to_owned();
            if id.is_empty()
                || id.len() > 64
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
            {
                return Err(format!(
                    "client id {:?}: letters, digits and - _ . : (1..64)",
                    entry.id
                ));
            }
            if !ids.insert(id.clone()) {
                return Err(format!("client id {id} appears twice"));
            }
            let hash = entry.key_sha256.trim().to_ascii_lowercase();
            if hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(format!("client {id}: key_sha256 must be 64 hex digits"));
            }
            if !(entry.rate_per_s.is_finite()
                && (MIN_RATE_PER_S..=MAX_RATE_PER_S).contains(&entry.rate_per_s))
            {
                return Err(format!(
                    "client {id}: rate_per_s must be from {MIN_RATE_PER_S} to {MAX_RATE_PER_S}"
                ));
            }
            if entry.burst == 0 || entry.burst > 100_000 {
                return Err(format!("client {id}: burst must be 1..100000"));
            }
            let tools = match entry.tools {
                None => None,
                Some(tools) => {
                    if let Some(unknown) = tools.iter().find(|t| !known_tools.contains(&t.as_str()))
                    {
                        return Err(format!("client {id}: unknown tool {unknown:?}"));
                    }
                    Some(tools.into_iter().collect())
                }
            };
            let client = Arc::new(Client {
                id: id.clone(),
                rate_per_s: entry.rate_per_s,
                burst: entry.burst,
                tools,
            });
            if by_hash.insert(hash, client).is_some() {
                return Err(format!("client {id}: its key is another client's too"));
            }
        }
        Ok(Self { by_hash })
    }

    /// The client a presented key belongs to.
    pub fn client(&self, key: &str) -> Option<Arc<Client>> {
        self.by_hash.get(&sha256_hex(key)).cloned()
    }

    pub fn clients(&self) -> impl Iterator<Item = &Arc<Client>> {
        self.by_hash.values()
    }
}

pub fn sha256_hex(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOOLS: &[&str] = &["get_ticker", "get_ohlcv"];

    fn file(extra: &str) -> String {
        format!(
            "[[client]]\nid = \"bot\"\nkey_sha256 = \"{}\"\nrate_per_s = 2.5\nburst = 3\n{extra}",
            sha256_hex("secret")
        )
    }

    #[test]
    fn a_known_key_finds_its_client_and_its_tools() {
        let keys = ApiKeys::parse(&file("tools = [\"get_ticker\"]"), TOOLS).unwrap();
        let client = keys.client("secret").unwrap();
        assert_eq!((client.id.as_str(), client.burst), ("bot", 3));
        assert!(client.may_call("get_ticker"));
        assert!(!client.may_call("get_ohlcv"));
        assert!(keys.client("Secret").is_none());
        assert!(keys.client("").is_none());
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let bad = [
            ("", "no [[client]]"),
            ("[[client]]\nid = \"x\"", "not a keys file"),
            (&file("tools = [\"get_everything\"]"), "unknown tool"),
            (&file("").replace("burst = 3", "burst = 0"), "burst"),
            (
                &file("").replace("rate_per_s = 2.5", "rate_per_s = -1.0"),
                "rate_per_s",
            ),
            (
                &file("").replace("rate_per_s = 2.5", "rate_per_s = 1e-30"),
                "rate_per_s",
            ),
            (
                &file("").replace("rate_per_s = 2.5", "rate_per_s = 0.0009"),
                "rate_per_s",
            ),
            (
                &file("").replace(&sha256_hex("secret"), "abc"),
                "64 hex digits",
            ),
            (&format!("{}\n{}", file(""), file("")), "twice"),
        ];
        for (text, expected) in bad {
            let error = ApiKeys::parse(text, TOOLS).unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }

    #[test]
    fn keys_are_hashed_with_sha256() {
        assert_eq!(
            sha256_hex("test"),
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        );
    }
}
