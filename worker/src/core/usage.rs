//! What a test's run used, against its limits, in words: the message every test result
//! carries, whatever its verdict ("time 3.02 s of 3 s", "memory 1024.0 MiB of 1024 MiB",
//! "killed by signal 11 (SIGSEGV)", "output 14 B of 8 MiB"), so that a TLE or an MLE says
//! by how much without anyone opening the logs.

/// What one run used and how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Use {
    pub cpu_ms: u32,
    pub wall_ms: u32,
    /// Peak memory.
    pub memory_kb: u64,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    /// Bytes of standard output, where the judge saw them (not through an interactor's pipe).
    pub output_bytes: Option<u64>,
    /// How many times it ran (a multi-pass test: its passes; the figures are the largest).
    pub passes: u32,
}

/// The limits it ran under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub time_ms: u64,
    pub memory_bytes: u64,
    pub output_bytes: u64,
}

/// `1.5` → "1.5", `3.0` → "3": a limit as people write it.
fn seconds(ms: u64) -> String {
    let text = format!("{:.3}", ms as f64 / 1000.0);
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Bytes in the unit that reads best: B, KiB or MiB.
pub fn bytes(n: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * 1024;
    if n < KIB {
        format!("{n} B")
    } else if n < MIB {
        format!("{:.1} KiB", n as f64 / KIB as f64)
    } else if n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else {
        format!("{:.1} MiB", n as f64 / MIB as f64)
    }
}

/// How the run ended, in words: its exit code or the signal that killed it.
fn ending(u: &Use) -> String {
    match (u.signal, u.exit_code) {
        (Some(sig), _) => {
            let name = nix::sys::signal::Signal::try_from(sig)
                .map(|s| format!(" ({})", s.as_str()))
                .unwrap_or_default();
            format!("killed by signal {sig}{name}")
        }
        (None, Some(code)) => format!("exit code {code}"),
        (None, None) => "no exit code".into(),
    }
}

/// The figures of a run against its limits, e.g. "time 3.02 s of 3 s (wall 3.10 s), memory
/// 12.4 MiB of 1024 MiB, exit code 0, output 14 B of 8 MiB".
pub fn describe(u: &Use, l: &Limits) -> String {
    let mut parts = vec![
        format!(
            "time {:.2} s of {} s (wall {:.2} s)",
            f64::from(u.cpu_ms) / 1000.0,
            seconds(l.time_ms),
            f64::from(u.wall_ms) / 1000.0
        ),
        format!(
            "memory {} of {}",
            bytes(u.memory_kb.saturating_mul(1024)),
            bytes(l.memory_bytes)
        ),
        ending(u),
    ];
    if let Some(out) = u.output_bytes {
        parts.push(format!(
            "output {} of {}",
            bytes(out),
            bytes(l.output_bytes)
        ));
    }
    if u.passes > 1 {
        parts.push(format!("{} passes", u.passes));
    }
    parts.join(", ")
}

/// A test's message: what decided it (a checker's or validator's words), then the figures.
pub fn message(reason: &str, u: &Use, l: &Limits) -> String {
    let figures = describe(u, l);
    if reason.trim().is_empty() {
        figures
    } else {
        format!("{}\n{figures}", reason.trim_end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        time_ms: 3000,
        memory_bytes: 1024 << 20,
        output_bytes: 8 << 20,
    };

    fn used() -> Use {
        Use {
            cpu_ms: 3020,
            wall_ms: 3100,
            memory_kb: 12 * 1024 + 410,
            exit_code: None,
            signal: Some(9),
            output_bytes: Some(14),
            passes: 1,
        }
    }

    #[test]
    fn a_time_limit_says_how_long_of_how_long() {
        assert_eq!(
            describe(&used(), &LIMITS),
            "time 3.02 s of 3 s (wall 3.10 s), memory 12.4 MiB of 1024 MiB, \
             killed by signal 9 (SIGKILL), output 14 B of 8 MiB"
        );
    }

    #[test]
    fn exits_limits_and_passes_read_as_people_write_them() {
        let u = Use {
            exit_code: Some(1),
            signal: None,
            output_bytes: None,
            memory_kb: 1024 * 1024,
            passes: 3,
            ..used()
        };
        let l = Limits {
            time_ms: 1500,
            ..LIMITS
        };
        let text = describe(&u, &l);
        assert!(
            text.contains("of 1.5 s") && text.contains("memory 1024 MiB of 1024 MiB"),
            "{text}"
        );
        assert!(
            text.contains("exit code 1") && text.ends_with("3 passes"),
            "{text}"
        );
        assert!(!text.contains("output"), "{text}");
        assert_eq!(bytes(2048), "2.0 KiB");
        assert_eq!(message("", &u, &l), text);
        assert_eq!(
            message("wrong on line 2\n", &u, &l),
            format!("wrong on line 2\n{text}")
        );
    }
}
