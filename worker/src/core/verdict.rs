//! Verdicts: one test's from how its run ended, and the submission's from its tests'.

use judge_common::pb::{RunOutcome, Verdict};

/// Which limit stopped a run, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitHit {
    Time,
    Memory,
    Output,
}

/// How a submission's run ended, as far as the verdict cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ending {
    /// The limit that stopped it, if one did.
    pub limit: Option<LimitHit>,
    /// It exited by itself with status 0.
    pub exited_zero: bool,
    /// Its standard error carries the language runtime's own out-of-memory message (the JVM
    /// caps its heap below the cgroup's limit, so it fails by itself before the cgroup acts).
    pub runtime_out_of_memory: bool,
}

/// The verdict a run gets before its output is looked at; `None`: its output decides.
pub fn of_run(end: Ending) -> Option<Verdict> {
    match end.limit {
        Some(LimitHit::Time) => Some(Verdict::Tle),
        Some(LimitHit::Memory) => Some(Verdict::Mle),
        Some(LimitHit::Output) => Some(Verdict::Ole),
        None if !end.exited_zero && end.runtime_out_of_memory => Some(Verdict::Mle),
        None if !end.exited_zero => Some(Verdict::Rte),
        None => None,
    }
}

/// How a `run` job's program ended: the limit that stopped it (a runtime's own
/// out-of-memory failure counts as the memory limit), else the signal that killed it, else
/// its exit.
pub fn run_outcome(end: Ending, signaled: bool) -> RunOutcome {
    match end.limit {
        Some(LimitHit::Time) => RunOutcome::TimeLimit,
        Some(LimitHit::Memory) => RunOutcome::MemoryLimit,
        Some(LimitHit::Output) => RunOutcome::OutputLimit,
        None if !end.exited_zero && end.runtime_out_of_memory => RunOutcome::MemoryLimit,
        None if signaled => RunOutcome::Signaled,
        None => RunOutcome::Exited,
    }
}

/// How a console's program ended: idle (no input or output for the idle limit) first; a
/// time limit hit with CPU time to spare is the wall limit (the runner stops a run at either
/// the same way); otherwise as a run.
pub fn console_outcome(
    idle: bool,
    cpu_under_limit: bool,
    end: Ending,
    signaled: bool,
) -> RunOutcome {
    if idle {
        return RunOutcome::IdleLimit;
    }
    if end.limit == Some(LimitHit::Time) && cpu_under_limit {
        return RunOutcome::WallLimit;
    }
    run_outcome(end, signaled)
}

/// What judging does after a test's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    RunNextTest,
    Stop,
}

/// Folds tests' verdicts, in order, into the submission's: the first verdict other than AC
/// wins; judging stops there unless every test is to be run. A JE (the judge's own failure,
/// a broken validator) stops at once and is the submission's verdict, whatever came before:
/// a submission is never blamed for the judge.
#[derive(Debug, Clone)]
pub struct Tally {
    overall: Verdict,
    run_all_tests: bool,
    judge_error: bool,
}

impl Tally {
    pub fn new(run_all_tests: bool) -> Self {
        Tally {
            overall: Verdict::Ac,
            run_all_tests,
            judge_error: false,
        }
    }

    /// Records the next test's verdict.
    pub fn add(&mut self, verdict: Verdict) -> Next {
        if verdict == Verdict::Je {
            self.judge_error = true;
            return Next::Stop;
        }
        if verdict != Verdict::Ac && self.overall == Verdict::Ac {
            self.overall = verdict;
            if !self.run_all_tests {
                return Next::Stop;
            }
        }
        Next::RunNextTest
    }

    /// The submission's verdict so far (AC when every test so far passed, or there are none).
    pub fn verdict(&self) -> Verdict {
        if self.judge_error {
            Verdict::Je
        } else {
            self.overall
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(limit: Option<LimitHit>, exited_zero: bool, oom: bool) -> Ending {
        Ending {
            limit,
            exited_zero,
            runtime_out_of_memory: oom,
        }
    }

    #[test]
    fn limits_come_before_the_exit_status() {
        assert_eq!(
            of_run(ended(Some(LimitHit::Time), true, false)),
            Some(Verdict::Tle)
        );
        assert_eq!(
            of_run(ended(Some(LimitHit::Memory), false, false)),
            Some(Verdict::Mle)
        );
        assert_eq!(
            of_run(ended(Some(LimitHit::Output), false, true)),
            Some(Verdict::Ole)
        );
    }

    #[test]
    fn a_failed_exit_is_rte_unless_the_runtime_ran_out_of_memory() {
        assert_eq!(of_run(ended(None, false, false)), Some(Verdict::Rte));
        assert_eq!(of_run(ended(None, false, true)), Some(Verdict::Mle));
        // A clean exit lets the output decide, whatever stderr said.
        assert_eq!(of_run(ended(None, true, true)), None);
    }

    #[test]
    fn a_run_ends_by_its_limit_then_its_signal_then_its_exit() {
        let run = |limit, zero, oom, signaled| run_outcome(ended(limit, zero, oom), signaled);
        assert_eq!(
            run(Some(LimitHit::Time), false, false, true),
            RunOutcome::TimeLimit
        );
        assert_eq!(
            run(Some(LimitHit::Memory), false, false, true),
            RunOutcome::MemoryLimit
        );
        assert_eq!(
            run(Some(LimitHit::Output), false, false, true),
            RunOutcome::OutputLimit
        );
        assert_eq!(run(None, false, true, false), RunOutcome::MemoryLimit);
        assert_eq!(run(None, false, false, true), RunOutcome::Signaled);
        assert_eq!(run(None, false, false, false), RunOutcome::Exited);
        assert_eq!(run(None, true, true, false), RunOutcome::Exited);
    }

    #[test]
    fn a_console_ends_idle_then_at_its_wall_then_as_a_run() {
        let time = ended(Some(LimitHit::Time), false, false);
        assert_eq!(
            console_outcome(true, true, time, true),
            RunOutcome::IdleLimit
        );
        assert_eq!(
            console_outcome(false, true, time, true),
            RunOutcome::WallLimit
        );
        assert_eq!(
            console_outcome(false, false, time, true),
            RunOutcome::TimeLimit
        );
        let exited = ended(None, true, false);
        assert_eq!(
            console_outcome(false, true, exited, false),
            RunOutcome::Exited
        );
    }

    #[test]
    fn the_first_failure_wins_and_stops_unless_all_tests_run() {
        let mut t = Tally::new(false);
        assert_eq!(t.add(Verdict::Ac), Next::RunNextTest);
        assert_eq!(t.add(Verdict::Wa), Next::Stop);
        assert_eq!(t.verdict(), Verdict::Wa);

        let mut all = Tally::new(true);
        assert_eq!(all.add(Verdict::Tle), Next::RunNextTest);
        assert_eq!(all.add(Verdict::Wa), Next::RunNextTest);
        assert_eq!(all.add(Verdict::Ac), Next::RunNextTest);
        assert_eq!(all.verdict(), Verdict::Tle);
    }

    #[test]
    fn a_judge_error_stops_and_overrides_an_earlier_failure() {
        let mut t = Tally::new(true);
        t.add(Verdict::Wa);
        assert_eq!(t.add(Verdict::Je), Next::Stop);
        assert_eq!(t.verdict(), Verdict::Je);
    }

    #[test]
    fn no_tests_is_accepted() {
        assert_eq!(Tally::new(false).verdict(), Verdict::Ac);
    }
}
