//! Submissions per token in time: a token bucket per token, `rate` a second with `burst` at
//! once, on the scheduler's clock. A refusal says how long to wait, so that a client (and
//! judgectl) can come back exactly then instead of hammering.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::core::Millis;

/// The bucket of every token that has submitted.
#[derive(Debug)]
pub struct SubmitRate {
    /// Submissions a second, refilled continuously.
    per_second: f64,
    /// Most submissions at once (the bucket's size).
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// A token's bucket: how many submissions it holds, as of when.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Millis,
}

impl SubmitRate {
    /// `per_second` a second (more than 0), `burst` at once (at least 1): the caller checks
    /// the ranges (the configuration does).
    pub fn new(per_second: f64, burst: u32) -> Self {
        SubmitRate {
            per_second,
            burst: f64::from(burst),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one submission for `token_id` at `now`; when none is left, the milliseconds
    /// until one is.
    pub fn take(&self, token_id: &str, now: Millis) -> Result<(), u64> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let b = buckets.entry(token_id.to_string()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        // A clock that went back refills nothing (and takes nothing away).
        let elapsed_s = (now - b.at).max(0) as f64 / 1000.0;
        b.tokens = (b.tokens + elapsed_s * self.per_second).min(self.burst);
        b.at = now.max(b.at);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return Ok(());
        }
        let missing = 1.0 - b.tokens;
        Err((missing / self.per_second * 1000.0).ceil() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate_and_the_wait_is_exact() {
        let r = SubmitRate::new(2.0, 3);
        for _ in 0..3 {
            assert_eq!(r.take("t", 0), Ok(()));
        }
        assert_eq!(r.take("t", 0), Err(500), "one more in half a second");
        assert_eq!(r.take("t", 499), Err(2));
        assert_eq!(r.take("t", 500), Ok(()));
        assert_eq!(
            r.take("other", 500),
            Ok(()),
            "each token has its own bucket"
        );
        // A long pause refills to the burst, not beyond.
        for _ in 0..3 {
            assert_eq!(r.take("t", 100_000), Ok(()));
        }
        assert!(r.take("t", 100_000).is_err());
    }

    #[test]
    fn a_clock_that_goes_back_gives_nothing() {
        let r = SubmitRate::new(1.0, 1);
        assert_eq!(r.take("t", 10_000), Ok(()));
        assert_eq!(r.take("t", 5_000), Err(1000));
        assert_eq!(r.take("t", 11_000), Ok(()));
    }
}
