//! Flags of the default grader, as the ICPC / Kattis problem format defines them for scoring
//! problems (`grader_flags` in `testdata.yaml`). Parsed at push time, so that a typo or two
//! flags that contradict each other are refused then, and again by the worker that grades.

/// How a group's verdict comes from its results.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum VerdictMode {
    /// The worst error among the results (JE, RTE, MLE, TLE, OLE, WA, in that order).
    #[default]
    WorstError,
    /// The first result that is not accepted.
    FirstError,
    /// Accepted, whatever the results.
    AlwaysAccept,
}

/// How a group's score comes from its results' scores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ScoreMode {
    #[default]
    Sum,
    Avg,
    Min,
    Max,
}

/// The default grader's settings for one group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GraderFlags {
    pub verdict: VerdictMode,
    pub score: ScoreMode,
    /// Accepted if any result is, else as `verdict` says.
    pub accept_if_any_accepted: bool,
    /// The root group leaves its first result (the samples) out, verdict and score alike.
    pub ignore_sample: bool,
}

impl GraderFlags {
    /// Parses `grader_flags` words. At most one verdict mode and one score mode: two of a
    /// kind contradict each other and are refused rather than silently resolved.
    pub fn parse(words: &[String]) -> Result<GraderFlags, String> {
        let mut flags = GraderFlags::default();
        let mut verdict: Option<&str> = None;
        let mut score: Option<&str> = None;
        for word in words {
            let w = word.as_str();
            let (slot, name) = match w {
                "worst_error" | "first_error" | "always_accept" => (&mut verdict, "verdict mode"),
                "sum" | "avg" | "min" | "max" => (&mut score, "score mode"),
                "accept_if_any_accepted" => {
                    flags.accept_if_any_accepted = true;
                    continue;
                }
                "ignore_sample" => {
                    flags.ignore_sample = true;
                    continue;
                }
                other => return Err(format!("unknown grader flag {other:?}")),
            };
            if let Some(before) = slot {
                if *before != w {
                    return Err(format!(
                        "grader flags {before:?} and {w:?} contradict each other (one {name})"
                    ));
                }
            }
            *slot = Some(w);
        }
        flags.verdict = match verdict {
            Some("first_error") => VerdictMode::FirstError,
            Some("always_accept") => VerdictMode::AlwaysAccept,
            _ => VerdictMode::WorstError,
        };
        flags.score = match score {
            Some("avg") => ScoreMode::Avg,
            Some("min") => ScoreMode::Min,
            Some("max") => ScoreMode::Max,
            _ => ScoreMode::Sum,
        };
        if flags.verdict == VerdictMode::AlwaysAccept && flags.accept_if_any_accepted {
            return Err(
                "grader flags \"always_accept\" and \"accept_if_any_accepted\" contradict each other"
                    .into(),
            );
        }
        Ok(flags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<GraderFlags, String> {
        let words: Vec<String> = s.split_whitespace().map(str::to_string).collect();
        GraderFlags::parse(&words)
    }

    #[test]
    fn defaults_are_worst_error_and_sum() {
        assert_eq!(parse("").unwrap(), GraderFlags::default());
        let f = parse("first_error min accept_if_any_accepted").unwrap();
        assert_eq!(f.verdict, VerdictMode::FirstError);
        assert_eq!(f.score, ScoreMode::Min);
        assert!(f.accept_if_any_accepted && !f.ignore_sample);
        // Saying the same mode twice is no contradiction.
        assert_eq!(parse("avg avg").unwrap().score, ScoreMode::Avg);
    }

    #[test]
    fn contradictions_and_unknown_flags_are_refused() {
        assert!(parse("sum max").unwrap_err().contains("contradict"));
        assert!(parse("first_error worst_error")
            .unwrap_err()
            .contains("contradict"));
        assert!(parse("always_accept accept_if_any_accepted")
            .unwrap_err()
            .contains("contradict"));
        assert!(parse("average").unwrap_err().contains("unknown"));
    }
}
