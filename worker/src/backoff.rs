//! Reconnect delays: exponential from 0.5 s to 30 s, with jitter so a fleet that lost its
//! scheduler does not reconnect in one thundering wave.

use std::time::Duration;

/// Exponential backoff with "equal jitter": half the delay fixed, half random.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    failures: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(500),
            max: Duration::from_secs(30),
            failures: 0,
        }
    }
}

impl Backoff {
    /// The delay before the next try; `unit` is a random number in [0, 1).
    pub fn next_delay(&mut self, unit: f64) -> Duration {
        let exp = self.base.saturating_mul(1u32 << self.failures.min(16));
        let ceiling = exp.min(self.max);
        self.failures = self.failures.saturating_add(1);
        ceiling / 2 + ceiling.mul_f64(unit.clamp(0.0, 1.0) / 2.0)
    }

    /// A session got through: start again from the base delay.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_the_cap_and_reset() {
        let mut b = Backoff::default();
        assert_eq!(b.next_delay(0.0), Duration::from_millis(250));
        assert_eq!(b.next_delay(0.999_999).as_millis(), 999);
        for _ in 0..20 {
            b.next_delay(0.5);
        }
        let d = b.next_delay(1.0);
        assert!(
            d <= Duration::from_secs(30) && d >= Duration::from_secs(15),
            "{d:?}"
        );
        b.reset();
        assert!(b.next_delay(1.0) <= Duration::from_millis(500));
    }
}
