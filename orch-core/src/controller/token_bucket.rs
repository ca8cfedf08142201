//! A token bucket, as client-go's `flowcontrol` token bucket rate limiter:
//! it holds at most `burst` tokens and refills at `qps` tokens per second.
//! The workqueue's overall retry limit, the event recorder's spam filter and
//! the node lifecycle controller's tainting rate are each one.
//!
//! Time is passed in (a `tokio::time::Instant`), so the bucket is a plain
//! value that tests drive with instants of their own.

use std::time::Duration;

use tokio::time::Instant;

/// A token bucket. See the [module docs](self).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TokenBucket {
    qps: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket of `burst` tokens, refilled at `qps` tokens per second
    /// (0 or less: never refilled).
    pub fn new(qps: f64, burst: u32, now: Instant) -> Self {
        let burst = f64::from(burst);
        TokenBucket { qps: qps.max(0.0), burst, tokens: burst, last: now }
    }

    /// Tokens per second.
    pub fn qps(&self) -> f64 {
        self.qps
    }

    /// Refills up to `now`.
    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.qps).min(self.burst);
        self.last = self.last.max(now);
    }

    /// Takes a token if one is there at `now` (client-go's `TryAccept`).
    pub fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Takes a token whether or not one is there, going into debt, and
    /// returns how long until it would have been there: zero within the
    /// burst (a reservation, as `rate.Limiter.Reserve`). A bucket that is
    /// never refilled answers zero: it does not limit.
    pub fn reserve(&mut self, now: Instant) -> Duration {
        if self.qps <= 0.0 {
            return Duration::ZERO;
        }
        self.refill(now);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.qps)
        }
    }

    /// How long from `now` until a token is there, without taking one;
    /// `None` if the bucket is empty and never refilled.
    pub fn wait(&self, now: Instant) -> Option<Duration> {
        let mut b = *self;
        b.refill(now);
        if b.tokens >= 1.0 {
            Some(Duration::ZERO)
        } else if b.qps > 0.0 {
            Some(Duration::from_secs_f64((1.0 - b.tokens) / b.qps))
        } else {
            None
        }
    }

    /// Changes the refill rate from `now` on, keeping the tokens there
    /// (client-go's `SwapLimiter`, without its reset).
    pub fn set_qps(&mut self, qps: f64, now: Instant) {
        self.refill(now);
        self.qps = qps.max(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_gives_its_burst_then_one_token_per_interval() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(0.1, 1, t0);
        assert!(b.try_take(t0), "full at first");
        assert!(!b.try_take(t0), "burst of 1");
        assert_eq!(b.wait(t0), Some(Duration::from_secs(10)));
        assert!(!b.try_take(t0 + Duration::from_secs(9)));
        assert!(b.try_take(t0 + Duration::from_secs(10)), "0.1 per second refills in 10 s");
    }

    #[test]
    fn a_bucket_without_refill_empties_for_good_and_a_new_rate_applies_from_then_on() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(0.0, 2, t0);
        assert!(b.try_take(t0) && b.try_take(t0));
        let later = t0 + Duration::from_secs(3600);
        assert!(!b.try_take(later));
        assert_eq!(b.wait(later), None);
        b.set_qps(1.0, later);
        assert!(!b.try_take(later), "no tokens for the time before the new rate");
        assert!(b.try_take(later + Duration::from_secs(1)));
    }

    #[test]
    fn reserve_goes_into_debt_and_says_how_long_to_wait() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, 2, t0);
        assert_eq!(b.reserve(t0), Duration::ZERO);
        assert_eq!(b.reserve(t0), Duration::ZERO);
        assert_eq!(b.reserve(t0), Duration::from_millis(100));
        assert_eq!(b.reserve(t0), Duration::from_millis(200));
        assert_eq!(TokenBucket::new(0.0, 0, t0).reserve(t0), Duration::ZERO, "0 qps: no limit");
    }
}
