//! Limits of `run` jobs: the ranges any run may have, the scheduler's defaults and maxima,
//! and the checks both sides make (the scheduler when it accepts a job, the worker when it
//! is told to run one: neither trusts the other's numbers).

use std::time::Duration;

use crate::pb;

/// CPU time of a run, milliseconds.
pub const TIME_MS: (u64, u64) = (50, 60_000);
/// Memory of a run, bytes.
pub const MEMORY_BYTES: (u64, u64) = (16 << 20, 16 << 30);
/// Standard output of a run, bytes.
pub const OUTPUT_BYTES: (u64, u64) = (1 << 10, 1 << 30);

/// The scheduler's most (and, unset in a request, default) limits for runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunMaxima {
    pub time_ms: u32,
    pub memory_bytes: u64,
    pub output_bytes: u64,
}

impl RunMaxima {
    /// What a request that sets no limit gets: 2 s, 1 GiB, 1 MiB, each at most the maximum.
    pub fn defaults(&self) -> pb::RunLimits {
        pb::RunLimits {
            time_limit_ms: Some(self.time_ms.min(2_000)),
            memory_limit_bytes: Some(self.memory_bytes.min(1 << 30)),
            output_limit_bytes: Some(self.output_bytes.min(1 << 20)),
        }
    }

    /// The limits a request asked for, the unset ones from [`Self::defaults`]; a set one
    /// outside its range or over the maximum is refused with its name.
    pub fn resolve(&self, asked: Option<&pb::RunLimits>) -> Result<pb::RunLimits, String> {
        let d = self.defaults();
        let asked = asked.cloned().unwrap_or_default();
        let within = |name: &str, v: u64, (min, _): (u64, u64), max: u64, unit: &str| {
            if v < min || v > max {
                Err(format!(
                    "{name} {v} {unit} is outside [{min}, {max}] {unit}"
                ))
            } else {
                Ok(v)
            }
        };
        let time = within(
            "time_limit_ms",
            u64::from(asked.time_limit_ms.or(d.time_limit_ms).unwrap_or_default()),
            TIME_MS,
            u64::from(self.time_ms),
            "ms",
        )?;
        let memory = within(
            "memory_limit_bytes",
            asked
                .memory_limit_bytes
                .or(d.memory_limit_bytes)
                .unwrap_or_default(),
            MEMORY_BYTES,
            self.memory_bytes,
            "bytes",
        )?;
        let output = within(
            "output_limit_bytes",
            asked
                .output_limit_bytes
                .or(d.output_limit_bytes)
                .unwrap_or_default(),
            OUTPUT_BYTES,
            self.output_bytes,
            "bytes",
        )?;
        Ok(pb::RunLimits {
            // Within TIME_MS's range: fits a u32.
            time_limit_ms: Some(time as u32),
            memory_limit_bytes: Some(memory),
            output_limit_bytes: Some(output),
        })
    }
}

/// A run's limits as the worker applies them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    pub time: Duration,
    pub memory_bytes: u64,
    pub output_bytes: u64,
}

/// The limits of an assignment, each set and within its range (the worker's own check).
pub fn check(l: &pb::RunLimits) -> Result<Checked, String> {
    let get = |name: &str, v: Option<u64>, (min, max): (u64, u64)| match v {
        Some(v) if (min..=max).contains(&v) => Ok(v),
        Some(v) => Err(format!("{name} {v} is outside [{min}, {max}]")),
        None => Err(format!("{name} is not set")),
    };
    Ok(Checked {
        time: Duration::from_millis(get(
            "time_limit_ms",
            l.time_limit_ms.map(u64::from),
            TIME_MS,
        )?),
        memory_bytes: get("memory_limit_bytes", l.memory_limit_bytes, MEMORY_BYTES)?,
        output_bytes: get("output_limit_bytes", l.output_limit_bytes, OUTPUT_BYTES)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: RunMaxima = RunMaxima {
        time_ms: 10_000,
        memory_bytes: 512 << 20,
        output_bytes: 4 << 20,
    };

    #[test]
    fn unset_limits_take_the_defaults_capped_by_the_maxima() {
        let l = MAX.resolve(None).unwrap();
        assert_eq!(l.time_limit_ms, Some(2_000));
        assert_eq!(l.memory_limit_bytes, Some(512 << 20));
        assert_eq!(l.output_limit_bytes, Some(1 << 20));
        assert!(check(&l).is_ok());
    }

    #[test]
    fn limits_over_the_maxima_or_out_of_range_are_refused_by_name() {
        let ask = |t, m, o| pb::RunLimits {
            time_limit_ms: t,
            memory_limit_bytes: m,
            output_limit_bytes: o,
        };
        let e = MAX
            .resolve(Some(&ask(Some(20_000), None, None)))
            .unwrap_err();
        assert!(
            e.contains("time_limit_ms 20000 ms") && e.contains("10000"),
            "{e}"
        );
        let e = MAX.resolve(Some(&ask(None, Some(1), None))).unwrap_err();
        assert!(e.contains("memory_limit_bytes"), "{e}");
        let e = MAX
            .resolve(Some(&ask(None, None, Some(u64::MAX))))
            .unwrap_err();
        assert!(e.contains("output_limit_bytes"), "{e}");
        assert!(MAX.resolve(Some(&ask(Some(0), None, None))).is_err());
        let ok = MAX.resolve(Some(&ask(Some(500), Some(64 << 20), Some(4096))));
        assert_eq!(ok.unwrap().time_limit_ms, Some(500));
    }

    #[test]
    fn the_worker_refuses_unset_or_absurd_limits() {
        let mut l = MAX.resolve(None).unwrap();
        l.memory_limit_bytes = Some(u64::MAX);
        assert!(check(&l).unwrap_err().contains("memory_limit_bytes"));
        l.memory_limit_bytes = None;
        assert!(check(&l).unwrap_err().contains("not set"));
    }
}
