//! Priority classes: how urgent a job is. A higher class goes first; aging bounds how long a
//! lower one waits while higher ones flow. Named on the wire, in tokens and in the store.

use std::fmt;
use std::str::FromStr;

/// A priority class, highest first (`Contest < Normal < Bulk` as ranks: lower goes first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Priority {
    /// A contest's submissions: before everything else.
    Contest,
    /// Everyday submissions (the default).
    #[default]
    Normal,
    /// Rejudges and batch work: when nothing else waits, or once aged.
    Bulk,
}

impl Priority {
    /// Every class, highest first.
    pub const ALL: [Priority; 3] = [Priority::Contest, Priority::Normal, Priority::Bulk];

    /// Its name on the wire and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Contest => "contest",
            Priority::Normal => "normal",
            Priority::Bulk => "bulk",
        }
    }

    /// Its rank: 0 for the highest class.
    pub fn rank(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of the classes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("priority {0:?} is not one of contest, normal, bulk")]
pub struct UnknownPriority(pub String);

impl FromStr for Priority {
    type Err = UnknownPriority;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Priority::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPriority(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_ranks_order_and_others_are_refused() {
        for p in Priority::ALL {
            assert_eq!(p.as_str().parse::<Priority>(), Ok(p));
        }
        assert!(Priority::Contest.rank() < Priority::Normal.rank());
        assert!(Priority::Normal.rank() < Priority::Bulk.rank());
        assert_eq!(Priority::default(), Priority::Normal);
        let e = "urgent".parse::<Priority>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "priority \"urgent\" is not one of contest, normal, bulk"
        );
    }
}
