//! An interactive test's verdict, from how the submission and the interactor (the problem's
//! output validator, run beside it) each ended, as the format's reference tooling decides:
//!
//! 1. the interactor crashed, hit a limit, or exited with a code other than 42 / 43: JE;
//! 2. it exited first, with 43: WA, whatever the submission did after;
//! 3. otherwise the submission over its time limit: TLE; crashed (or out of memory): RTE
//!    (MLE);
//! 4. otherwise the interactor's verdict: 42 AC, 43 WA.
//!
//! "First" is measured by the adapter (the order the two exits were seen), not guessed.
//!
//! One reading of rule 1 is ours: an interactor killed by SIGPIPE after the submission ended
//! first died writing to a submission that was gone. That is the submission's doing (a C
//! interactor does not ignore SIGPIPE by default), so the submission's own failure decides,
//! or WA when it exited cleanly in the middle of the conversation.

use judge_common::pb::Verdict;

use super::verdict::{self, Ending};

/// How the interactor ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InteractorEnd {
    /// Its exit code, when it exited by itself within its limits.
    pub exit_code: Option<i32>,
    /// It was killed by a signal or a limit.
    pub crashed: bool,
    /// It ended before the submission did.
    pub first: bool,
    /// It was killed by SIGPIPE: it wrote to a pipe whose reader had gone.
    pub broken_pipe: bool,
}

/// The exit code by which a validator accepts.
pub const EXIT_ACCEPT: i32 = 42;
/// The exit code by which a validator rejects.
pub const EXIT_REJECT: i32 = 43;

/// The verdict of one interactive test, or why it is the judge's fault.
pub fn verdict(interactor: InteractorEnd, submission: Ending) -> Result<Verdict, String> {
    if interactor.broken_pipe && !interactor.first {
        return Ok(verdict::of_run(submission).unwrap_or(Verdict::Wa));
    }
    let code = match (interactor.crashed, interactor.exit_code) {
        (false, Some(c @ (EXIT_ACCEPT | EXIT_REJECT))) => c,
        (true, _) => return Err("the interactor crashed or hit a limit".into()),
        (false, c) => {
            return Err(format!(
                "the interactor exited with {}, not 42 or 43",
                c.map_or("no code".to_string(), |c| c.to_string())
            ))
        }
    };
    if interactor.first && code == EXIT_REJECT {
        return Ok(Verdict::Wa);
    }
    if let Some(v) = verdict::of_run(submission) {
        return Ok(v);
    }
    Ok(if code == EXIT_ACCEPT {
        Verdict::Ac
    } else {
        Verdict::Wa
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::verdict::LimitHit;

    fn interactor(code: Option<i32>, crashed: bool, first: bool) -> InteractorEnd {
        InteractorEnd {
            exit_code: code,
            crashed,
            first,
            broken_pipe: false,
        }
    }

    #[test]
    fn an_interactor_that_writes_to_a_submission_gone_first_blames_the_submission() {
        let piped = InteractorEnd {
            exit_code: None,
            crashed: true,
            first: false,
            broken_pipe: true,
        };
        assert_eq!(verdict(piped, sub(None, false)), Ok(Verdict::Rte));
        assert_eq!(verdict(piped, sub(None, true)), Ok(Verdict::Wa));
        // Broken pipe while the submission still ran: the interactor's own failure.
        let early = InteractorEnd {
            first: true,
            ..piped
        };
        assert!(verdict(early, sub(None, true)).is_err());
    }

    fn sub(limit: Option<LimitHit>, exited_zero: bool) -> Ending {
        Ending {
            limit,
            exited_zero,
            runtime_out_of_memory: false,
        }
    }

    #[test]
    fn a_broken_interactor_is_always_the_judges_fault() {
        let clean = sub(None, true);
        assert!(verdict(interactor(Some(1), false, true), clean).is_err());
        assert!(verdict(
            interactor(None, true, false),
            sub(Some(LimitHit::Time), false)
        )
        .is_err());
        assert!(verdict(interactor(Some(0), false, false), clean).is_err());
    }

    #[test]
    fn an_interactor_that_rejects_first_wins_over_what_the_submission_does_after() {
        let crashed = sub(None, false);
        assert_eq!(
            verdict(interactor(Some(43), false, true), crashed),
            Ok(Verdict::Wa)
        );
        assert_eq!(
            verdict(
                interactor(Some(43), false, true),
                sub(Some(LimitHit::Time), false)
            ),
            Ok(Verdict::Wa)
        );
        // Rejecting second: the submission's own failure comes first.
        assert_eq!(
            verdict(interactor(Some(43), false, false), crashed),
            Ok(Verdict::Rte)
        );
    }

    #[test]
    fn otherwise_limits_and_crashes_then_the_interactors_word() {
        assert_eq!(
            verdict(
                interactor(Some(42), false, false),
                sub(Some(LimitHit::Time), false)
            ),
            Ok(Verdict::Tle)
        );
        assert_eq!(
            verdict(interactor(Some(42), false, true), sub(None, false)),
            Ok(Verdict::Rte)
        );
        assert_eq!(
            verdict(interactor(Some(42), false, true), sub(None, true)),
            Ok(Verdict::Ac)
        );
        assert_eq!(
            verdict(interactor(Some(43), false, false), sub(None, true)),
            Ok(Verdict::Wa)
        );
    }
}
