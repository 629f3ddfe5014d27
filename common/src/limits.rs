//! The limits a problem may set, each within a stated range, checked before any arithmetic
//! so that no value can overflow or make every run fail (a 0.1 ms time limit, a memory limit
//! that wraps to 0). A value outside its range is refused with the field and the range.

/// The range of one limit, in the unit the package format writes it in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    /// The key in `problem.yaml`'s `limits`.
    pub field: &'static str,
    pub min: f64,
    pub max: f64,
    /// Used when the package does not set it.
    pub default: f64,
    pub unit: &'static str,
}

/// Seconds of CPU time per test.
pub const TIME_LIMIT: Range = Range {
    field: "time_limit",
    min: 0.05,
    max: 60.0,
    default: 2.0,
    unit: "s",
};
/// MiB of memory per run.
pub const MEMORY: Range = Range {
    field: "memory",
    min: 16.0,
    max: 16384.0,
    default: 1024.0,
    unit: "MiB",
};
/// MiB of output per run.
pub const OUTPUT: Range = Range {
    field: "output",
    min: 1.0,
    max: 1024.0,
    default: 8.0,
    unit: "MiB",
};
/// Seconds to compile a submission.
pub const COMPILATION_TIME: Range = Range {
    field: "compilation_time",
    min: 1.0,
    max: 300.0,
    default: 30.0,
    unit: "s",
};
/// MiB of memory for the compiler.
pub const COMPILATION_MEMORY: Range = Range {
    field: "compilation_memory",
    min: 64.0,
    max: 16384.0,
    default: 2048.0,
    unit: "MiB",
};
/// Seconds for the output validator, per test (and to build it).
pub const VALIDATION_TIME: Range = Range {
    field: "validation_time",
    min: 1.0,
    max: 300.0,
    default: 60.0,
    unit: "s",
};
/// MiB of memory for the output validator.
pub const VALIDATION_MEMORY: Range = Range {
    field: "validation_memory",
    min: 64.0,
    max: 16384.0,
    default: 2048.0,
    unit: "MiB",
};

const MIB: f64 = 1024.0 * 1024.0;

/// The wall-clock limit of a submission's run with CPU-time limit `cpu_ms`: room for a
/// program that waits on I/O, and a second for start-up. The worker applies it; the
/// scheduler counts it in an attempt's worst case.
pub fn submission_wall_ms(cpu_ms: u64) -> u64 {
    cpu_ms.saturating_mul(3).saturating_add(1_000)
}

/// The wall-clock limit of one of the judge's own tools (compiler, validator) with CPU-time
/// limit `cpu_ms`.
pub fn tool_wall_ms(cpu_ms: u64) -> u64 {
    cpu_ms.saturating_mul(2)
}

impl Range {
    /// `value` (or the default) if it is within range; else a message naming the field and
    /// the range.
    pub fn check(&self, value: Option<f64>) -> Result<f64, String> {
        let v = value.unwrap_or(self.default);
        if v.is_finite() && v >= self.min && v <= self.max {
            Ok(v)
        } else {
            Err(format!(
                "limits.{} = {v} {} is outside [{}, {}] {}",
                self.field, self.unit, self.min, self.max, self.unit
            ))
        }
    }

    /// A checked number of seconds as milliseconds.
    pub fn millis(&self, value: Option<f64>) -> Result<u32, String> {
        // Within range, so at most 300,000 ms: no overflow.
        Ok((self.check(value)? * 1000.0).round() as u32)
    }

    /// A checked number of MiB as bytes.
    pub fn bytes(&self, value: Option<f64>) -> Result<u64, String> {
        // Within range, so at most 16 GiB: no overflow.
        Ok((self.check(value)? * MIB).round() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_outside_their_range_are_refused_by_name() {
        assert_eq!(TIME_LIMIT.millis(Some(1.5)), Ok(1500));
        assert_eq!(TIME_LIMIT.millis(None), Ok(2000));
        let e = TIME_LIMIT.millis(Some(0.0001)).unwrap_err();
        assert!(
            e.contains("limits.time_limit") && e.contains("[0.05, 60] s"),
            "{e}"
        );
        // 2^44 MiB would wrap to 0 bytes if multiplied first.
        let e = MEMORY.bytes(Some(17592186044416.0)).unwrap_err();
        assert!(
            e.contains("limits.memory") && e.contains("[16, 16384] MiB"),
            "{e}"
        );
        assert!(OUTPUT.bytes(Some(f64::NAN)).is_err());
        assert!(OUTPUT.bytes(Some(f64::INFINITY)).is_err());
        assert!(COMPILATION_TIME.millis(Some(-1.0)).is_err());
        assert_eq!(VALIDATION_MEMORY.bytes(Some(64.0)), Ok(64 << 20));
    }
}
