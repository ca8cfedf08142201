//! Rate limiters for retries, after client-go's `workqueue` rate limiters.
//!
//! The default ([`RateLimiter::default`]) is client-go's
//! `DefaultControllerRateLimiter`: the larger of a per-key exponential
//! backoff (5 ms doubling to 1000 s) and an overall token bucket (10 per
//! second, burst 100).

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use super::token_bucket::TokenBucket;

/// Settings of a [`RateLimiter`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimiterConfig {
    /// Delay of a key's first retry; doubles with each further failure.
    pub base_delay: Duration,
    /// Largest per-key delay.
    pub max_delay: Duration,
    /// Overall retries per second (the bucket's refill rate); 0 disables the bucket.
    pub qps: f64,
    /// Retries allowed at once before the bucket's rate applies.
    pub burst: u32,
}

impl Default for RateLimiterConfig {
    /// client-go's defaults: 5 ms to 1000 s per key; 10 qps, burst 100 overall.
    fn default() -> Self {
        RateLimiterConfig {
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_secs(1000),
            qps: 10.0,
            burst: 100,
        }
    }
}

/// Per-key exponential backoff combined with an overall token bucket; the
/// delay for a retry is the larger of the two.
pub struct RateLimiter<T> {
    config: RateLimiterConfig,
    failures: Mutex<HashMap<T, u32>>,
    bucket: Mutex<TokenBucket>,
}

impl<T: Hash + Eq + Clone> Default for RateLimiter<T> {
    fn default() -> Self {
        Self::new(RateLimiterConfig::default())
    }
}

impl<T: Hash + Eq + Clone> RateLimiter<T> {
    /// A limiter with these settings.
    pub fn new(config: RateLimiterConfig) -> Self {
        RateLimiter {
            config,
            failures: Mutex::new(HashMap::new()),
            bucket: Mutex::new(TokenBucket::new(config.qps, config.burst, Instant::now())),
        }
    }

    /// Records a failure of `item` and returns how long to wait before its
    /// retry.
    pub fn when(&self, item: &T) -> Duration {
        let per_item = {
            let mut failures = self.failures.lock();
            let n = failures.entry(item.clone()).or_insert(0);
            let exp = (*n).min(62);
            *n = n.saturating_add(1);
            let factor = 1u64 << exp;
            let nanos = (self.config.base_delay.as_nanos() as u64).saturating_mul(factor);
            Duration::from_nanos(nanos).min(self.config.max_delay)
        };
        per_item.max(self.bucket_delay())
    }

    /// Reserves a token; the wait until it is available.
    fn bucket_delay(&self) -> Duration {
        self.bucket.lock().reserve(Instant::now())
    }

    /// Forgets `item`'s failures: its next failure waits the base delay again.
    pub fn forget(&self, item: &T) {
        self.failures.lock().remove(item);
    }

    /// How many failures of `item` are recorded.
    pub fn retries(&self, item: &T) -> u32 {
        self.failures.lock().get(item).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn per_key_backoff_doubles_to_its_cap_and_forget_resets_it() {
        let rl: RateLimiter<&str> =
            RateLimiter::new(RateLimiterConfig { qps: 0.0, ..Default::default() });
        let delays: Vec<u128> = (0..4).map(|_| rl.when(&"a").as_millis()).collect();
        assert_eq!(delays, [5, 10, 20, 40]);
        assert_eq!(rl.when(&"b").as_millis(), 5, "keys back off independently");
        for _ in 0..40 {
            rl.when(&"a");
        }
        assert_eq!(rl.when(&"a"), Duration::from_secs(1000));
        assert_eq!(rl.retries(&"a"), 45);
        rl.forget(&"a");
        assert_eq!(rl.when(&"a").as_millis(), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn the_bucket_limits_overall_retries_after_the_burst() {
        let rl: RateLimiter<u32> = RateLimiter::default();
        for i in 0..100 {
            assert_eq!(rl.when(&i), Duration::from_millis(5), "within the burst");
        }
        assert_eq!(rl.when(&100), Duration::from_millis(100), "10 qps after it");
        assert_eq!(rl.when(&101), Duration::from_millis(200));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(rl.when(&102) < Duration::from_millis(200), "refilled");
    }
}
