//! In-process sessions: the default when no Redis URL is configured.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::{Clock, SessionStore, SessionsFuture, SystemClock, check_args, new_token};

/// Sessions and presence in a mutex-guarded map. Entries are valid while `now < expires_at`;
/// expired ones are dropped lazily.
#[derive(Debug)]
pub struct MemorySessions {
    clock: Arc<dyn Clock>,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// token → (client id, expiry ms)
    sessions: HashMap<String, (String, i64)>,
    /// client id → expiry ms
    presence: HashMap<String, i64>,
    /// Sweep expired sessions when the map reaches this size (amortized O(1) per create).
    sweep_at: usize,
}

impl Default for MemorySessions {
    fn default() -> Self {
        Self::new()
    }
}

impl MemorySessions {
    /// Uses the system clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// Uses `clock` (e.g. a [`super::ManualClock`] in tests).
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            inner: Mutex::new(Inner {
                sweep_at: 64,
                ..Inner::default()
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated (each update is
        // one insert or remove), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl SessionStore for MemorySessions {
    fn create<'a>(&'a self, client_id: &'a str, ttl: Duration) -> SessionsFuture<'a, String> {
        Box::pin(async move {
            let ttl_ms = check_args(client_id, ttl)?;
            let now = self.clock.now_ms();
            let token = new_token();
            let mut g = self.lock();
            if g.sessions.len() >= g.sweep_at {
                g.sessions.retain(|_, (_, exp)| *exp > now);
                g.sweep_at = (2 * g.sessions.len()).max(64);
            }
            g.sessions.insert(
                token.clone(),
                (client_id.to_string(), now.saturating_add(ttl_ms)),
            );
            Ok(token)
        })
    }

    fn validate<'a>(&'a self, token: &'a str) -> SessionsFuture<'a, Option<String>> {
        Box::pin(async move {
            let now = self.clock.now_ms();
            let mut g = self.lock();
            match g.sessions.get(token) {
                Some((id, exp)) if *exp > now => Ok(Some(id.clone())),
                Some(_) => {
                    g.sessions.remove(token);
                    Ok(None)
                }
                None => Ok(None),
            }
        })
    }

    fn revoke<'a>(&'a self, token: &'a str) -> SessionsFuture<'a, bool> {
        Box::pin(async move {
            let now = self.clock.now_ms();
            Ok(self
                .lock()
                .sessions
                .remove(token)
                .is_some_and(|(_, exp)| exp > now))
        })
    }

    fn touch<'a>(&'a self, client_id: &'a str, ttl: Duration) -> SessionsFuture<'a, ()> {
        Box::pin(async move {
            let ttl_ms = check_args(client_id, ttl)?;
            let exp = self.clock.now_ms().saturating_add(ttl_ms);
            self.lock().presence.insert(client_id.to_string(), exp);
            Ok(())
        })
    }

    fn is_online<'a>(&'a self, client_id: &'a str) -> SessionsFuture<'a, bool> {
        Box::pin(async move {
            let now = self.clock.now_ms();
            Ok(self
                .lock()
                .presence
                .get(client_id)
                .is_some_and(|e| *e > now))
        })
    }

    fn online_clients(&self) -> SessionsFuture<'_, Vec<String>> {
        Box::pin(async move {
            let now = self.clock.now_ms();
            let mut g = self.lock();
            g.presence.retain(|_, exp| *exp > now);
            let mut ids: Vec<String> = g.presence.keys().cloned().collect();
            ids.sort();
            Ok(ids)
        })
    }
}
