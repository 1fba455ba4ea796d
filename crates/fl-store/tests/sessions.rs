//! Sessions: the same contract on `MemorySessions` and on real Redis (`FL_TEST_REDIS_URL`,
//! default redis://127.0.0.1:6379), each Redis test under its own key prefix.

mod common;

use std::sync::Arc;
use std::time::Duration;

use fl_store::{
    ManualClock, MemorySessions, RedisSessions, SessionError, SessionStore, connect_sessions,
};

const MIN: Duration = Duration::from_secs(60);

/// Behaviour that does not depend on time passing.
async fn contract(s: &dyn SessionStore) {
    let t1 = s.create("alice", MIN).await.unwrap();
    let t2 = s.create("alice", MIN).await.unwrap();
    let t3 = s.create("bob", MIN).await.unwrap();
    assert_eq!(t1.len(), 64);
    assert!(t1 != t2 && t2 != t3, "tokens are unique");
    assert_eq!(s.validate(&t1).await.unwrap().as_deref(), Some("alice"));
    assert_eq!(s.validate(&t3).await.unwrap().as_deref(), Some("bob"));
    assert_eq!(s.validate("no-such-token").await.unwrap(), None);
    assert!(s.revoke(&t1).await.unwrap());
    assert!(!s.revoke(&t1).await.unwrap(), "second revoke finds nothing");
    assert_eq!(s.validate(&t1).await.unwrap(), None);
    assert_eq!(s.validate(&t2).await.unwrap().as_deref(), Some("alice"));
    assert!(matches!(
        s.create("", MIN).await,
        Err(SessionError::InvalidInput {
            field: "client_id",
            ..
        })
    ));
    assert!(matches!(
        s.create("x", Duration::ZERO).await,
        Err(SessionError::InvalidInput { field: "ttl", .. })
    ));
    assert!(!s.is_online("carol").await.unwrap());
    s.touch("carol", MIN).await.unwrap();
    s.touch("alice", MIN).await.unwrap();
    assert!(s.is_online("carol").await.unwrap());
    assert_eq!(s.online_clients().await.unwrap(), ["alice", "carol"]);
}

/// Presence expiry driven by a manual clock (sessions in Redis expire on Redis's clock, so
/// only presence is checked here).
async fn presence_with_clock(s: &dyn SessionStore, clock: &ManualClock) {
    s.touch("a", Duration::from_secs(5)).await.unwrap();
    s.touch("b", Duration::from_secs(10)).await.unwrap();
    clock.advance(Duration::from_millis(4_999));
    assert_eq!(s.online_clients().await.unwrap(), ["a", "b"]);
    clock.advance(Duration::from_millis(1));
    assert!(!s.is_online("a").await.unwrap());
    assert_eq!(s.online_clients().await.unwrap(), ["b"]);
    // A heartbeat brings it back.
    s.touch("a", Duration::from_secs(5)).await.unwrap();
    assert_eq!(s.online_clients().await.unwrap(), ["a", "b"]);
    clock.advance(Duration::from_secs(6));
    assert!(s.online_clients().await.unwrap().is_empty());
}

#[tokio::test]
async fn memory_contract() {
    contract(&MemorySessions::new()).await;
}

#[tokio::test]
async fn memory_session_ttl_with_manual_clock() {
    let clock = ManualClock::new(1_000_000);
    let s = MemorySessions::with_clock(Arc::new(clock.clone()));
    let t = s.create("c", Duration::from_secs(10)).await.unwrap();
    clock.advance(Duration::from_millis(9_999));
    assert_eq!(s.validate(&t).await.unwrap().as_deref(), Some("c"));
    clock.advance(Duration::from_millis(1));
    assert_eq!(
        s.validate(&t).await.unwrap(),
        None,
        "expired at exactly the TTL"
    );
    assert!(!s.revoke(&t).await.unwrap());
    // Many expired sessions are swept as new ones arrive; live ones survive the sweep.
    let live = s.create("live", Duration::from_secs(3600)).await.unwrap();
    for i in 0..200 {
        s.create(&format!("tmp{i}"), Duration::from_millis(1))
            .await
            .unwrap();
        clock.advance(Duration::from_millis(1));
    }
    assert_eq!(s.validate(&live).await.unwrap().as_deref(), Some("live"));
}

#[tokio::test]
async fn memory_presence_with_manual_clock() {
    let clock = ManualClock::new(0);
    let s = MemorySessions::with_clock(Arc::new(clock.clone()));
    presence_with_clock(&s, &clock).await;
}

async fn redis(prefix: &str) -> RedisSessions {
    RedisSessions::connect(&common::redis_url(), prefix)
        .await
        .expect("Redis at FL_TEST_REDIS_URL")
}

/// Deletes every key under the prefix.
async fn redis_cleanup(prefix: &str) {
    let client = redis::Client::open(common::redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    if !keys.is_empty() {
        redis::cmd("DEL")
            .arg(keys)
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn redis_contract() {
    let prefix = common::unique("flstore_t");
    contract(&redis(&prefix).await).await;
    redis_cleanup(&prefix).await;
}

#[tokio::test]
async fn redis_prefixes_do_not_collide() {
    let (p1, p2) = (common::unique("flstore_t"), common::unique("flstore_t"));
    let (a, b) = (redis(&p1).await, redis(&p2).await);
    let t = a.create("x", MIN).await.unwrap();
    a.touch("x", MIN).await.unwrap();
    assert_eq!(b.validate(&t).await.unwrap(), None);
    assert!(b.online_clients().await.unwrap().is_empty());
    redis_cleanup(&p1).await;
    redis_cleanup(&p2).await;
}

#[tokio::test]
async fn redis_session_expires() {
    let prefix = common::unique("flstore_t");
    let s = redis(&prefix).await;
    let long = s.create("a", MIN).await.unwrap();
    let short = s.create("b", Duration::from_millis(250)).await.unwrap();
    // Redis expires the key on its own clock; wait well past the TTL.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(s.validate(&short).await.unwrap(), None);
    assert_eq!(s.validate(&long).await.unwrap().as_deref(), Some("a"));
    redis_cleanup(&prefix).await;
}

#[tokio::test]
async fn redis_presence_with_manual_clock() {
    let prefix = common::unique("flstore_t");
    let clock = ManualClock::new(fl_store::now_ms());
    let s = redis(&prefix).await.with_clock(Arc::new(clock.clone()));
    presence_with_clock(&s, &clock).await;
    redis_cleanup(&prefix).await;
}

#[tokio::test]
async fn unreachable_redis_is_an_error_at_startup() {
    let err = RedisSessions::connect_with_timeout(
        "redis://:pw123@127.0.0.1:1",
        "p",
        Duration::from_secs(2),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SessionError::Connect { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("127.0.0.1:1") && !msg.contains("pw123"),
        "{msg}"
    );
    assert!(matches!(
        RedisSessions::connect("http://127.0.0.1:6379", "p").await,
        Err(SessionError::Connect { .. })
    ));
    assert!(matches!(
        connect_sessions(Some("redis://127.0.0.1:1"), "p", Duration::from_secs(2)).await,
        Err(SessionError::Connect { .. })
    ));
}

#[tokio::test]
async fn connect_sessions_defaults_to_memory() {
    let s = connect_sessions(None, "p", Duration::from_secs(1))
        .await
        .unwrap();
    contract(s.as_ref()).await;
}
