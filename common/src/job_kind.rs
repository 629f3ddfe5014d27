//! The kinds of job the cluster runs, named on the wire, in workers' offers and in the store.

use std::fmt;
use std::str::FromStr;

/// A kind of job. Workers offer some of them (`--job-types`); routing honours the offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobKind {
    /// Compile once, run every test of a problem, check each output.
    Judge,
    /// One run of a program on given standard input: its output, exit and use.
    Run,
    /// A live program on a pseudo-terminal, relayed to a client. Live, not durable.
    Console,
}

impl JobKind {
    /// Every kind, in the order `--help` lists them.
    pub const ALL: [JobKind; 3] = [JobKind::Judge, JobKind::Run, JobKind::Console];

    /// Its name on the wire and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Judge => "judge",
            JobKind::Run => "run",
            JobKind::Console => "console",
        }
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of the kinds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("job type {0:?} is not one of judge, run, console")]
pub struct UnknownKind(pub String);

impl FromStr for JobKind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_others_are_refused() {
        for k in JobKind::ALL {
            assert_eq!(k.as_str().parse::<JobKind>(), Ok(k));
        }
        let e = "Judge".parse::<JobKind>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "job type \"Judge\" is not one of judge, run, console"
        );
    }
}
