//! An OpenAI-compatible chat-completions model with tool calling (`LLM_API_URL`,
//! `LLM_API_KEY`, `LLM_MODEL`): it decides which tools to call; each call and its freshness is
//! shown before the model's answer. The API key is never printed.

use std::time::Duration;

use serde_json::{json, Value};

use super::arrow;
use crate::cli::connection::Connection;
use crate::cli::render::{dim, tables, Look};
use crate::cli::CliError;

pub struct Llm {
    endpoint: String,
    key: String,
    pub model: String,
    http: reqwest::Client,
    tools: Vec<Value>,
    messages: Vec<Value>,
}

impl Llm {
    pub fn from_env() -> Result<Option<Llm>, CliError> {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let Some(url) = get("LLM_API_URL") else {
            return Ok(None);
        };
        let key = get("LLM_API_KEY")
            .ok_or_else(|| CliError::Usage("LLM_API_URL is set but LLM_API_KEY is not".into()))?;
        let model = get("LLM_MODEL").unwrap_or_else(|| "gpt-4o-mini".into());
        let base = url.trim_end_matches('/');
        let endpoint = if base.ends_with("/chat/completions") {
            base.to_owned()
        } else {
            format!("{base}/chat/completions")
        };
        reqwest::Url::parse(&endpoint)
            .map_err(|e| CliError::Usage(format!("LLM_API_URL is not a URL: {e}")))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| CliError::Unavailable(format!("cannot build an HTTP client: {e}")))?;
        let system = "You answer questions about cryptocurrency markets. Use the tools for any \
                      market data; never invent numbers. Mention how fresh the data is (source, \
                      age_ms, stale) when it matters. Be brief.";
        Ok(Some(Llm {
            endpoint,
            key,
            model,
            http,
            tools: Vec::new(),
            messages: vec![json!({ "role": "system", "content": system })],
        }))
    }

    /// The MCP tools' schemas as chat-completions tools.
    pub async fn load_tools(&mut self, connection: &Connection) -> Result<(), CliError> {
        self.tools = connection
            .tools()
            .await?
            .into_iter()
            .map(|(name, description, schema)| {
                json!({ "type": "function", "function": {
                    "name": name, "description": description, "parameters": schema } })
            })
            .collect();
        Ok(())
    }

    async fn complete(&self) -> Result<Value, CliError> {
        let body = json!({ "model": self.model, "messages": self.messages, "tools": self.tools });
        let response = self
            .http
            .post(&self.endpoint)
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .map_err(|e| {
                CliError::Unavailable(format!(
                    "the model at {} did not answer: {}",
                    self.endpoint,
                    e.without_url()
                ))
            })?;
        let status = response.status();
        if !status.is_success() {
            return Err(CliError::Unavailable(format!(
                "the model at {} answered HTTP {status}",
                self.endpoint
            )));
        }
        let v: Value = response.json().await.map_err(|e| {
            CliError::Unavailable(format!(
                "the model's answer is not JSON: {}",
                e.without_url()
            ))
        })?;
        v["choices"][0]["message"]
            .as_object()
            .map(|m| Value::Object(m.clone()))
            .ok_or_else(|| CliError::Unavailable("the model's answer has no message".into()))
    }

    /// Asks the model; runs the tool calls it wants (showing each and its freshness) until it
    /// answers in words.
    pub async fn ask(
        &mut self,
        connection: &Connection,
        question: &str,
        look: Look,
    ) -> Result<String, CliError> {
        self.messages
            .push(json!({ "role": "user", "content": question }));
        let mut out = String::new();
        for _ in 0..8 {
            let message = self.complete().await?;
            let calls = message["tool_calls"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            self.messages.push(message.clone());
            if calls.is_empty() {
                out.push_str(message["content"].as_str().unwrap_or_default().trim());
                out.push('\n');
                return Ok(out);
            }
            for call in calls {
                let id = call["id"].as_str().unwrap_or_default().to_owned();
                let name = call["function"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let arguments: Value = match &call["function"]["arguments"] {
                    Value::String(s) if s.trim().is_empty() => json!({}),
                    Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| json!({})),
                    Value::Object(o) => Value::Object(o.clone()),
                    _ => json!({}),
                };
                out.push_str(
                    &look.paint(dim(), &format!("{} {name} {arguments}", arrow(look, true))),
                );
                out.push('\n');
                let content = match connection.call(&name, arguments).await {
                    Ok(v) => {
                        let fresh = tables::freshness_line(&v, look).unwrap_or_else(|| "ok".into());
                        out.push_str(
                            &look.paint(dim(), &format!("  {} {fresh}", arrow(look, false))),
                        );
                        out.push('\n');
                        v.to_string()
                    }
                    Err(CliError::Tool { code, message }) => {
                        out.push_str(
                            &look.paint(dim(), &format!("  {} error {code}", arrow(look, false))),
                        );
                        out.push('\n');
                        json!({ "error": { "code": code, "message": message } }).to_string()
                    }
                    Err(e) => return Err(e),
                };
                self.messages
                    .push(json!({ "role": "tool", "tool_call_id": id, "content": content }));
            }
        }
        out.push_str("(the model kept calling tools; stopping here)\n");
        Ok(out)
    }
}
