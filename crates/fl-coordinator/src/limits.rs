//! Per-client request rate limiting: a token bucket per client id.
//!
//! Time is passed in (`now`), so the limiter is deterministic under test; the service
//! calls it with `Instant::now()`.

use std::collections::HashMap;
use std::time::Instant;

/// Token buckets keyed by client id: `rate` tokens per second, at most `burst` saved up.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: HashMap<String, (f64, Instant)>,
}

/// Buckets idle this long are dropped when the table grows, bounding memory under churn.
const IDLE_EVICT_SECS: f64 = 600.0;

impl RateLimiter {
    /// A limiter allowing `rate` requests per second with bursts of `burst`.
    /// `rate` = 0 disables limiting.
    pub fn new(rate: f64, burst: u32) -> Self {
        Self {
            rate,
            burst: f64::from(burst.max(1)),
            buckets: HashMap::new(),
        }
    }

    /// Takes one token for `key` at `now`; false when the bucket is empty.
    pub fn allow(&mut self, key: &str, now: Instant) -> bool {
        if self.rate <= 0.0 {
            return true;
        }
        if self.buckets.len() > 100_000 {
            self.buckets.retain(|_, (_, t)| {
                now.saturating_duration_since(*t).as_secs_f64() < IDLE_EVICT_SECS
            });
        }
        let (rate, burst) = (self.rate, self.burst);
        let (tokens, last) = self.buckets.entry(key.to_string()).or_insert((burst, now));
        let dt = now.saturating_duration_since(*last).as_secs_f64();
        *tokens = (*tokens + dt * rate).min(burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bursts_then_refills_at_the_rate_per_client() {
        let t0 = Instant::now();
        let mut l = RateLimiter::new(10.0, 5);
        assert!((0..5).all(|_| l.allow("a", t0)));
        assert!(!l.allow("a", t0), "burst spent");
        assert!(l.allow("b", t0), "other clients have their own bucket");
        let t1 = t0 + Duration::from_millis(100); // one token back
        assert!(l.allow("a", t1));
        assert!(!l.allow("a", t1));
        let t2 = t1 + Duration::from_secs(60); // refills only up to the burst
        assert_eq!((0..10).filter(|_| l.allow("a", t2)).count(), 5);
        let mut off = RateLimiter::new(0.0, 1);
        assert!((0..1000).all(|_| off.allow("a", t0)));
    }
}
