//! Following other nodes' ticker channels: one pub/sub connection per process, opened when
//! the first channel is followed, resubscribed after any loss (a `PubSub` does not resubscribe
//! by itself), each message handed to a callback.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;

use crate::redis_target::RedisTarget;

/// Called with (channel, payload) for every message on a followed channel.
pub type Deliver = Arc<dyn Fn(&str, &str) + Send + Sync>;

enum Command {
    Follow(String),
    Unfollow(String),
}

pub struct Follower {
    commands: mpsc::UnboundedSender<Command>,
}

impl Follower {
    /// Starts the subscriber task on the current tokio runtime.
    pub fn start(target: RedisTarget, deliver: Deliver) -> Self {
        let (commands, inbox) = mpsc::unbounded_channel();
        tokio::spawn(run(target, inbox, deliver));
        Self { commands }
    }

    pub fn follow(&self, channel: String) {
        let _ = self.commands.send(Command::Follow(channel));
    }

    pub fn unfollow(&self, channel: String) {
        let _ = self.commands.send(Command::Unfollow(channel));
    }
}

async fn run(target: RedisTarget, mut inbox: mpsc::UnboundedReceiver<Command>, deliver: Deliver) {
    let mut wanted: HashSet<String> = HashSet::new();
    loop {
        // Nothing followed: no connection until something is.
        while wanted.is_empty() {
            match inbox.recv().await {
                Some(Command::Follow(channel)) => {
                    wanted.insert(channel);
                }
                Some(Command::Unfollow(_)) => {}
                None => return,
            }
        }
        let pubsub = match target.pubsub().await.map_err(|e| e.to_string()) {
            Ok(pubsub) => pubsub,
            Err(error) => {
                tracing::debug!(%error, "ticker channels: cannot subscribe yet");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let (mut sink, mut messages) = pubsub.split();
        let mut healthy = true;
        for channel in &wanted {
            if sink.subscribe(channel).await.is_err() {
                healthy = false;
                break;
            }
        }
        while healthy {
            tokio::select! {
                command = inbox.recv() => match command {
                    Some(Command::Follow(channel)) => {
                        if wanted.insert(channel.clone()) && sink.subscribe(&channel).await.is_err() {
                            healthy = false;
                        }
                    }
                    Some(Command::Unfollow(channel)) => {
                        if wanted.remove(&channel) {
                            let _ = sink.unsubscribe(&channel).await;
                        }
                    }
                    None => return,
                },
                message = messages.next() => match message {
                    Some(message) => {
                        if let Ok(payload) = message.get_payload::<String>() {
                            deliver(message.get_channel_name(), &payload);
                        }
                    }
                    None => healthy = false,
                },
            }
        }
        tracing::warn!("ticker channels: subscription lost; resubscribing");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
