//! Sessions shared through Redis, so several coordinator processes (or a restarted one) see
//! the same tokens.
//!
//! Keys: `{prefix}:session:{token}` → client id, with `PX` TTL (Redis expires them itself);
//! `{prefix}:presence`, a sorted set of client ids scored by expiry (unix ms, this process's
//! clock). The presence key itself gets a TTL as long as its longest entry (`PEXPIRE … NX` /
//! `GT`, Redis ≥ 7), so an abandoned prefix disappears.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{Clock, SessionStore, SessionsFuture, SystemClock, check_args, new_token};
use crate::{SessionError, redact_url};

/// Default startup timeout of [`RedisSessions::connect`].
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// [`SessionStore`] on Redis through a reconnecting [`ConnectionManager`].
#[derive(Clone)]
pub struct RedisSessions {
    conn: ConnectionManager,
    prefix: String,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for RedisSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSessions")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisSessions {
    /// Connects and PINGs within 3 s; an unreachable server is an error here, at startup.
    /// `prefix` namespaces the keys (e.g. `fl:<run id>`), so runs and tests do not collide.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, SessionError> {
        Self::connect_with_timeout(url, prefix, CONNECT_TIMEOUT).await
    }

    /// Like [`RedisSessions::connect`] with an explicit timeout for connect + PING.
    pub async fn connect_with_timeout(
        url: &str,
        prefix: &str,
        timeout: Duration,
    ) -> Result<Self, SessionError> {
        let redacted = redact_url(url);
        let fail = |reason: String| SessionError::Connect {
            url: redacted.clone(),
            reason,
        };
        if prefix.is_empty() {
            return Err(SessionError::InvalidInput {
                field: "prefix",
                reason: "must not be empty".into(),
            });
        }
        let client = redis::Client::open(url).map_err(|e| fail(e.to_string()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1);
        let attempt = async {
            let mut conn = ConnectionManager::new_with_config(client, config).await?;
            redis::cmd("PING").query_async::<()>(&mut conn).await?;
            Ok::<_, redis::RedisError>(conn)
        };
        let conn = match tokio::time::timeout(timeout, attempt).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return Err(fail(e.to_string())),
            Err(_) => return Err(fail(format!("no answer within {timeout:?}"))),
        };
        Ok(Self {
            conn,
            prefix: prefix.to_string(),
            clock: Arc::new(SystemClock),
        })
    }

    /// Uses `clock` for presence expiry (sessions always expire on Redis's own clock).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn session_key(&self, token: &str) -> String {
        format!("{}:session:{token}", self.prefix)
    }

    fn presence_key(&self) -> String {
        format!("{}:presence", self.prefix)
    }
}

impl SessionStore for RedisSessions {
    fn create<'a>(&'a self, client_id: &'a str, ttl: Duration) -> SessionsFuture<'a, String> {
        Box::pin(async move {
            let ttl_ms = check_args(client_id, ttl)?;
            let token = new_token();
            let mut conn = self.conn.clone();
            redis::cmd("SET")
                .arg(self.session_key(&token))
                .arg(client_id)
                .arg("PX")
                .arg(ttl_ms)
                .query_async::<()>(&mut conn)
                .await?;
            Ok(token)
        })
    }

    fn validate<'a>(&'a self, token: &'a str) -> SessionsFuture<'a, Option<String>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            Ok(redis::cmd("GET")
                .arg(self.session_key(token))
                .query_async::<Option<String>>(&mut conn)
                .await?)
        })
    }

    fn revoke<'a>(&'a self, token: &'a str) -> SessionsFuture<'a, bool> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let n: i64 = redis::cmd("DEL")
                .arg(self.session_key(token))
                .query_async(&mut conn)
                .await?;
            Ok(n > 0)
        })
    }

    fn touch<'a>(&'a self, client_id: &'a str, ttl: Duration) -> SessionsFuture<'a, ()> {
        Box::pin(async move {
            let ttl_ms = check_args(client_id, ttl)?;
            let exp = self.clock.now_ms().saturating_add(ttl_ms);
            let key = self.presence_key();
            let mut conn = self.conn.clone();
            redis::pipe()
                .atomic()
                .cmd("ZADD")
                .arg(&key)
                .arg(exp)
                .arg(client_id)
                .ignore()
                // NX: give a fresh key a TTL; GT: only ever lengthen it.
                .cmd("PEXPIRE")
                .arg(&key)
                .arg(ttl_ms)
                .arg("NX")
                .ignore()
                .cmd("PEXPIRE")
                .arg(&key)
                .arg(ttl_ms)
                .arg("GT")
                .ignore()
                .query_async::<()>(&mut conn)
                .await?;
            Ok(())
        })
    }

    fn is_online<'a>(&'a self, client_id: &'a str) -> SessionsFuture<'a, bool> {
        Box::pin(async move {
            let now = self.clock.now_ms();
            let mut conn = self.conn.clone();
            // Scores come back as decimal text of a double.
            let score: Option<f64> = redis::cmd("ZSCORE")
                .arg(self.presence_key())
                .arg(client_id)
                .query_async(&mut conn)
                .await?;
            Ok(score.is_some_and(|exp| exp > now as f64))
        })
    }

    fn online_clients(&self) -> SessionsFuture<'_, Vec<String>> {
        Box::pin(async move {
            let now = self.clock.now_ms();
            let key = self.presence_key();
            let mut conn = self.conn.clone();
            let (mut ids,): (Vec<String>,) = redis::pipe()
                .atomic()
                .cmd("ZREMRANGEBYSCORE")
                .arg(&key)
                .arg("-inf")
                .arg(now)
                .ignore()
                .cmd("ZRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .query_async(&mut conn)
                .await?;
            ids.sort();
            Ok(ids)
        })
    }
}
