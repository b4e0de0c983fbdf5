//! The Redis plumbing every node shares, against a private redis-server: a connection that
//! outlives a Redis restart.

mod common;

use common::redis::RedisServer;
use crypto_market_actors::redis_target::RedisTarget;
use redis::AsyncCommands;

#[tokio::test]
async fn a_connection_survives_a_redis_restart() {
    let mut server = RedisServer::start();
    let target = RedisTarget::new(server.url(), "test_prefix");
    let mut conn = target.connection().await.expect("connects");
    let _: () = conn.set("k", "v1").await.unwrap();
    let v: String = conn.get("k").await.unwrap();
    assert_eq!(v, "v1");
    server.restart();
    // The first command after the restart may fail (the manager reconnects in the background);
    // later ones succeed. The restarted server kept nothing (no persistence).
    let mut last = None;
    for _ in 0..50 {
        match conn.get::<_, Option<String>>("k").await {
            Ok(value) => {
                last = Some(value);
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    assert_eq!(last, Some(None));
}
