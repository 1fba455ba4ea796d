//! Client sessions and presence: the [`SessionStore`] trait and its two implementations.

mod memory;
mod redis;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

pub use self::memory::MemorySessions;
pub use self::redis::RedisSessions;
use crate::SessionError;

/// The boxed future returned by [`SessionStore`] methods (boxed so the trait is usable as
/// `Arc<dyn SessionStore>`).
pub type SessionsFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, SessionError>> + Send + 'a>>;

/// Session tokens (bearer tokens handed to clients at registration) and presence (which
/// clients sent a heartbeat recently). Both expire after a TTL.
pub trait SessionStore: Send + Sync {
    /// Creates a session for `client_id` valid for `ttl`; returns its token (64 hex chars from a
    /// CSPRNG).
    fn create<'a>(&'a self, client_id: &'a str, ttl: Duration) -> SessionsFuture<'a, String>;
    /// The client id of a live session; `None` if unknown, revoked or expired.
    fn validate<'a>(&'a self, token: &'a str) -> SessionsFuture<'a, Option<String>>;
    /// Ends a session; returns whether it was live.
    fn revoke<'a>(&'a self, token: &'a str) -> SessionsFuture<'a, bool>;
    /// Marks `client_id` online for `ttl` from now (a heartbeat).
    fn touch<'a>(&'a self, client_id: &'a str, ttl: Duration) -> SessionsFuture<'a, ()>;
    /// Whether `client_id` was touched within its TTL.
    fn is_online<'a>(&'a self, client_id: &'a str) -> SessionsFuture<'a, bool>;
    /// All online clients, sorted by id.
    fn online_clients(&self) -> SessionsFuture<'_, Vec<String>>;
}

/// Picks the session backend from a URL: `None`, `""` or `"memory"` gives [`MemorySessions`];
/// `redis://…` gives [`RedisSessions`] with keys under `prefix`, failing within `timeout` if
/// Redis is unreachable.
pub async fn connect_sessions(
    url: Option<&str>,
    prefix: &str,
    timeout: Duration,
) -> Result<Arc<dyn SessionStore>, SessionError> {
    match url {
        None | Some("") | Some("memory") => Ok(Arc::new(MemorySessions::new())),
        Some(u) => Ok(Arc::new(
            RedisSessions::connect_with_timeout(u, prefix, timeout).await?,
        )),
    }
}

/// A source of unix-millisecond time, injectable for deterministic tests.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, in unix milliseconds.
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        crate::now_ms()
    }
}

/// A clock that only moves when told to; clones share the same time.
#[derive(Clone, Debug, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock reading `start_ms`.
    pub fn new(start_ms: i64) -> Self {
        Self(Arc::new(AtomicI64::new(start_ms)))
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        self.0.fetch_add(duration_ms(d), Ordering::SeqCst);
    }

    /// Sets the clock to `ms`.
    pub fn set(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A duration in whole milliseconds, saturating.
fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Rejects empty ids and TTLs under one millisecond (Redis `PX` needs ≥ 1).
fn check_args(client_id: &str, ttl: Duration) -> Result<i64, SessionError> {
    if client_id.is_empty() || client_id.len() > 256 {
        return Err(SessionError::InvalidInput {
            field: "client_id",
            reason: format!("must be 1 to 256 bytes, got {}", client_id.len()),
        });
    }
    let ms = duration_ms(ttl);
    if ms < 1 {
        return Err(SessionError::InvalidInput {
            field: "ttl",
            reason: format!("must be at least 1 ms, got {ttl:?}"),
        });
    }
    Ok(ms)
}

/// 32 bytes from the thread-local CSPRNG (seeded from the OS), hex encoded.
fn new_token() -> String {
    use ::rand::RngCore;
    let mut bytes = [0u8; 32];
    ::rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
