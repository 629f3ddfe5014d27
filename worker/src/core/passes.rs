//! Multi-pass tests (2023-07 `type: multi-pass`): after each pass, whether the submission
//! runs again. The validator asks for another pass by accepting and writing `nextpass.in`;
//! a pass it does not accept ends the test with that pass's verdict; asking for more passes
//! than `limits.validation_passes`, or writing `nextpass.in` without accepting, is the
//! validator's fault (JE), never the submission's.

use judge_common::pb::Verdict;

/// What follows a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum After {
    /// The test's verdict is this pass's.
    Done,
    /// Run again, on the `nextpass.in` the validator wrote.
    NextPass,
    /// The validator broke the protocol: a judge error, with why.
    JudgeError(String),
}

/// After pass `pass` (from 1) of at most `limit`, which ended with `verdict`; `nextpass`:
/// the validator left a `nextpass.in`.
pub fn after_pass(pass: u32, limit: u32, verdict: Verdict, nextpass: bool) -> After {
    match (verdict, nextpass) {
        (_, false) => After::Done,
        (Verdict::Ac, true) if pass < limit => After::NextPass,
        (Verdict::Ac, true) => After::JudgeError(format!(
            "the validator asked for pass {} of a problem allowed {limit} passes \
             (limits.validation_passes)",
            pass.saturating_add(1)
        )),
        // A rejection with a request for more: the validator contradicts itself.
        (Verdict::Wa, true) => {
            After::JudgeError("the validator wrote nextpass.in but did not accept (exit 43)".into())
        }
        // A pass the submission failed by itself (a limit, a crash) or a validator that
        // broke: that verdict stands.
        (_, true) => After::Done,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_go_on_while_the_validator_accepts_and_asks() {
        assert_eq!(after_pass(1, 3, Verdict::Ac, true), After::NextPass);
        assert_eq!(after_pass(2, 3, Verdict::Ac, true), After::NextPass);
        assert_eq!(after_pass(3, 3, Verdict::Ac, false), After::Done);
        assert_eq!(after_pass(2, 3, Verdict::Wa, false), After::Done);
        assert_eq!(after_pass(1, 3, Verdict::Tle, false), After::Done);
    }

    #[test]
    fn too_many_passes_or_a_rejecting_request_is_the_judge_s_fault() {
        let After::JudgeError(why) = after_pass(3, 3, Verdict::Ac, true) else {
            panic!("a fourth pass of three must be JE");
        };
        assert!(why.contains("pass 4") && why.contains("3 passes"), "{why}");
        assert!(matches!(
            after_pass(1, 3, Verdict::Wa, true),
            After::JudgeError(_)
        ));
        // A validator that broke on its own is already a JE: it stays one.
        assert_eq!(after_pass(1, 3, Verdict::Je, true), After::Done);
    }
}
