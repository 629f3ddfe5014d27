//! The default grader of scoring problems, and the walk over the test groups that decides
//! which test runs next.
//!
//! [`Grading`] is a state machine: [`Grading::step`] says what to do (run a test, announce a
//! closed group, or stop with the submission's result) and [`Grading::record`] takes a test's
//! verdict. It follows the ICPC / Kattis format: a group's tests and subgroups in order;
//! `on_reject: break` stops a group at its first rejected result; a test scores its
//! validator's `score.txt`, or its group's accept / reject score; a group's verdict and score
//! come from its results by its grader flags; any judge error makes the group's result a judge
//! error and stops everything (the submission is never blamed for the judge).

use judge_common::grading::{GraderFlags, ScoreMode, VerdictMode};
use judge_common::pb::{self, Verdict};

/// Errors from worst to least bad, as the format's default grader orders them.
const WORST_FIRST: [Verdict; 6] = [
    Verdict::Je,
    Verdict::Rte,
    Verdict::Mle,
    Verdict::Tle,
    Verdict::Ole,
    Verdict::Wa,
];

/// A verdict with its score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Graded {
    pub verdict: Verdict,
    pub score: f64,
}

/// What the judging flow does next.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Run this test (an index into the problem's tests), then [`Grading::record`] it.
    Run(usize),
    /// A group with `grading: custom` has all its results: run the package's grader on
    /// them (with the group's grader flags), then [`Grading::graded`] its answer.
    Grade {
        name: String,
        flags: Vec<String>,
        results: Vec<Graded>,
    },
    /// A group closed: announce its result.
    Closed { name: String, result: Graded },
    /// Everything is graded: the submission's result.
    Done(Graded),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Child {
    Test(usize),
    Group(usize),
}

#[derive(Debug, Clone)]
struct Group {
    name: String,
    flags: GraderFlags,
    /// Graded by the package's grader, given these words.
    custom: Option<Vec<String>>,
    on_reject_continue: bool,
    accept_score: f64,
    reject_score: f64,
    range: (f64, f64),
    children: Vec<Child>,
}

#[derive(Debug)]
struct Frame {
    group: usize,
    next: usize,
    results: Vec<Graded>,
    stopped: bool,
}

/// The walk over one problem's groups for one submission.
#[derive(Debug)]
pub struct Grading {
    groups: Vec<Group>,
    test_group: Vec<usize>,
    stack: Vec<Frame>,
    awaiting: Option<usize>,
    /// A group closed and waiting for its custom grader's answer.
    grading: Option<Frame>,
    /// A group's result, ready to be announced.
    ready: Option<(Frame, Graded)>,
    done: Option<Graded>,
}

impl Grading {
    /// Checks the groups and tests from the assignment (indices in range, parents before
    /// children, flags that parse) and starts at the root. `run_all` turns every `break` into
    /// `continue`.
    pub fn new(
        groups: &[pb::TestGroup],
        tests: &[pb::TestCase],
        run_all: bool,
    ) -> Result<Grading, String> {
        if groups.is_empty() {
            return Err("a scoring problem without test groups".into());
        }
        let mut out: Vec<Group> = Vec::with_capacity(groups.len());
        // Where each group's first test is: the order of a group's children.
        let mut first_test = vec![usize::MAX; groups.len()];
        let mut parents = Vec::with_capacity(groups.len());
        for (i, g) in groups.iter().enumerate() {
            let parent = match (i, g.parent) {
                (0, None) => None,
                (0, Some(_)) => return Err("the root group has a parent".into()),
                (_, Some(p)) if (p as usize) < i => Some(p as usize),
                _ => {
                    return Err(format!(
                        "group {:?}: its parent must come before it",
                        g.name
                    ))
                }
            };
            parents.push(parent);
            // `<=` is false for NaN, so a NaN end is refused too.
            let sane = g.range_min <= g.range_max
                && g.accept_score.is_finite()
                && g.reject_score.is_finite();
            if !sane {
                return Err(format!("group {:?}: bad scores or range", g.name));
            }
            // A custom grader's flags are its own; the default grader's must parse.
            let (flags, custom) = if g.custom_grading {
                (GraderFlags::default(), Some(g.grader_flags.clone()))
            } else {
                let flags = GraderFlags::parse(&g.grader_flags)
                    .map_err(|e| format!("group {:?}: {e}", g.name))?;
                (flags, None)
            };
            out.push(Group {
                name: g.name.clone(),
                flags,
                custom,
                on_reject_continue: g.on_reject_continue || run_all,
                accept_score: g.accept_score,
                reject_score: g.reject_score,
                range: (g.range_min, g.range_max),
                children: Vec::new(),
            });
        }
        let mut test_group = Vec::with_capacity(tests.len());
        for (t, test) in tests.iter().enumerate() {
            let g = test.group as usize;
            if g >= out.len() {
                return Err(format!("test {:?}: no group {g}", test.name));
            }
            test_group.push(g);
            out[g].children.push(Child::Test(t));
            // The group and its ancestors start no later than this test.
            let mut at = Some(g);
            while let Some(a) = at {
                first_test[a] = first_test[a].min(t);
                at = parents[a];
            }
        }
        for (i, parent) in parents.iter().enumerate() {
            if let Some(p) = parent {
                out[*p].children.push(Child::Group(i));
            }
        }
        let start = |c: &Child| match c {
            Child::Test(t) => *t,
            Child::Group(g) => first_test[*g],
        };
        for g in &mut out {
            g.children.sort_by_key(start);
        }
        Ok(Grading {
            groups: out,
            test_group,
            stack: vec![Frame {
                group: 0,
                next: 0,
                results: Vec::new(),
                stopped: false,
            }],
            awaiting: None,
            grading: None,
            ready: None,
            done: None,
        })
    }

    /// What to do next. After [`Step::Run`], call [`Grading::record`] before asking again;
    /// after [`Step::Grade`], [`Grading::graded`].
    pub fn step(&mut self) -> Step {
        if let Some(test) = self.awaiting {
            return Step::Run(test);
        }
        if let Some(frame) = &self.grading {
            return self.grade_step(frame);
        }
        if let Some((frame, result)) = self.ready.take() {
            return self.close(frame, result);
        }
        loop {
            let Some(top) = self.stack.last_mut() else {
                return Step::Done(self.done.unwrap_or(Graded {
                    verdict: Verdict::Ac,
                    score: 0.0,
                }));
            };
            let group = &self.groups[top.group];
            if !top.stopped && top.next < group.children.len() {
                let child = group.children[top.next];
                top.next += 1;
                match child {
                    Child::Test(t) => {
                        self.awaiting = Some(t);
                        return Step::Run(t);
                    }
                    Child::Group(g) => self.stack.push(Frame {
                        group: g,
                        next: 0,
                        results: Vec::new(),
                        stopped: false,
                    }),
                }
                continue;
            }
            let Some(frame) = self.stack.pop() else {
                continue;
            };
            // A judge error below is never handed to a grader: it is the group's result.
            let judge_error = frame.results.iter().any(|r| r.verdict == Verdict::Je);
            if self.groups[frame.group].custom.is_some() && !judge_error {
                let step = self.grade_step(&frame);
                self.grading = Some(frame);
                return step;
            }
            let result = self.aggregate(&frame);
            return self.close(frame, result);
        }
    }

    fn grade_step(&self, frame: &Frame) -> Step {
        let group = &self.groups[frame.group];
        Step::Grade {
            name: group.name.clone(),
            flags: group.custom.clone().unwrap_or_default(),
            results: frame.results.clone(),
        }
    }

    /// The custom grader's answer for the group [`Step::Grade`] named: its result, or why
    /// it failed. Returns the group's result and, for a judge error, why.
    pub fn graded(&mut self, answer: Result<Graded, String>) -> (Graded, Option<String>) {
        let Some(frame) = self.grading.take() else {
            self.stop_all();
            return (je(), Some("a grader's answer nobody asked for".into()));
        };
        let group = &self.groups[frame.group];
        let (result, why) = match answer {
            Err(why) => (je(), Some(why)),
            // A rejected group's score is not the grader's to give.
            Ok(Graded { verdict, .. }) if verdict != Verdict::Ac => (
                Graded {
                    verdict,
                    score: 0.0,
                },
                None,
            ),
            Ok(r) if r.score >= group.range.0 && r.score <= group.range.1 => (r, None),
            Ok(r) => (
                je(),
                Some(format!(
                    "the grader gave group {:?} {}, outside its range [{}, {}]",
                    display_name(&group.name),
                    r.score,
                    group.range.0,
                    group.range.1
                )),
            ),
        };
        self.ready = Some((frame, result));
        (result, why)
    }

    /// Announces a closed group's result and hands it to its parent.
    fn close(&mut self, frame: Frame, result: Graded) -> Step {
        let name = self.groups[frame.group].name.clone();
        match self.stack.last_mut() {
            None => {
                self.done = Some(result);
                Step::Done(result)
            }
            Some(parent) => {
                parent.results.push(result);
                let continues = self.groups[parent.group].on_reject_continue;
                if result.verdict != Verdict::Ac && !continues {
                    parent.stopped = true;
                }
                if result.verdict == Verdict::Je {
                    self.stop_all();
                }
                Step::Closed { name, result }
            }
        }
    }

    /// Records the verdict of the test [`Step::Run`] asked for, with the score its validator
    /// gave, if any. Returns the test's graded result: a score outside its group's range is a
    /// judge error, with the reason.
    pub fn record(
        &mut self,
        test: usize,
        verdict: Verdict,
        validator_score: Option<f64>,
    ) -> (Graded, Option<String>) {
        if self.awaiting != Some(test) {
            // The flow asked for another test: its own bug, a judge error.
            self.stop_all();
            let why = format!("test {test} was not the one to run");
            return (je(), Some(why));
        }
        self.awaiting = None;
        let group = &self.groups[self.test_group[test]];
        let mut why = None;
        let graded = match verdict {
            Verdict::Ac => {
                let score = validator_score.unwrap_or(group.accept_score);
                if score.is_finite() && score >= group.range.0 && score <= group.range.1 {
                    Graded {
                        verdict: Verdict::Ac,
                        score,
                    }
                } else {
                    why = Some(format!(
                        "score {score} is outside the range [{}, {}] of group {:?}",
                        group.range.0,
                        group.range.1,
                        display_name(&group.name)
                    ));
                    je()
                }
            }
            v => Graded {
                verdict: v,
                score: if v == Verdict::Je {
                    0.0
                } else {
                    group.reject_score
                },
            },
        };
        let continues = group.on_reject_continue;
        if let Some(top) = self.stack.last_mut() {
            top.results.push(graded);
            if graded.verdict != Verdict::Ac && !continues {
                top.stopped = true;
            }
        }
        if graded.verdict == Verdict::Je {
            self.stop_all();
        }
        (graded, why)
    }

    fn stop_all(&mut self) {
        for f in &mut self.stack {
            f.stopped = true;
        }
    }

    /// A closed group's result from its results, by its flags.
    fn aggregate(&self, frame: &Frame) -> Graded {
        let group = &self.groups[frame.group];
        let mut results: &[Graded] = &frame.results;
        let first_is_sample = matches!(
            group.children.first(),
            Some(Child::Group(g)) if self.groups[*g].name == "sample"
        );
        if frame.group == 0 && group.flags.ignore_sample && first_is_sample && !results.is_empty() {
            results = &results[1..];
        }
        let result = aggregate(&group.flags, results);
        let in_range = result.score >= group.range.0 && result.score <= group.range.1;
        if result.verdict != Verdict::Je && !in_range {
            return je();
        }
        result
    }
}

/// A custom grader's standard input: one `VERDICT score` line per result, in order.
pub fn grader_input(results: &[Graded]) -> String {
    results
        .iter()
        .map(|r| format!("{} {}\n", r.verdict.as_str_name(), r.score))
        .collect()
}

/// A custom grader's answer: exactly one `VERDICT score` line (the verdict one of the
/// format's, the score a finite number within ±1e9); anything else is why it is not.
pub fn grader_output(text: &str) -> Result<Graded, String> {
    let shown = || text.chars().take(200).collect::<String>();
    let words: Vec<&str> = text.split_whitespace().collect();
    let [verdict, score] = words.as_slice() else {
        return Err(format!(
            "the grader printed {:?}, not one line \"VERDICT score\"",
            shown()
        ));
    };
    let verdict = match *verdict {
        "AC" => Verdict::Ac,
        "WA" => Verdict::Wa,
        "TLE" => Verdict::Tle,
        "MLE" => Verdict::Mle,
        "OLE" => Verdict::Ole,
        "RTE" => Verdict::Rte,
        "JE" => Verdict::Je,
        other => {
            return Err(format!(
                "the grader printed the verdict {other:?}, not one of AC WA TLE MLE OLE RTE JE"
            ))
        }
    };
    match score.parse::<f64>() {
        Ok(x) if x.is_finite() && x.abs() <= 1e9 => Ok(Graded { verdict, score: x }),
        _ => Err(format!(
            "the grader printed the score {score:?}, not a number within ±1e9"
        )),
    }
}

fn je() -> Graded {
    Graded {
        verdict: Verdict::Je,
        score: 0.0,
    }
}

/// How a group is named to people: the root is `data`.
pub fn display_name(name: &str) -> &str {
    if name.is_empty() {
        "data"
    } else {
        name
    }
}

/// The default grader: a verdict and a score from a group's results.
pub fn aggregate(flags: &GraderFlags, results: &[Graded]) -> Graded {
    if results.is_empty() {
        return Graded {
            verdict: Verdict::Ac,
            score: 0.0,
        };
    }
    if results.iter().any(|r| r.verdict == Verdict::Je) {
        return je();
    }
    let any_accepted = results.iter().any(|r| r.verdict == Verdict::Ac);
    let first_error = results
        .iter()
        .map(|r| r.verdict)
        .find(|v| *v != Verdict::Ac);
    let verdict = if flags.accept_if_any_accepted && any_accepted {
        Verdict::Ac
    } else {
        match flags.verdict {
            VerdictMode::AlwaysAccept => Verdict::Ac,
            VerdictMode::FirstError => first_error.unwrap_or(Verdict::Ac),
            VerdictMode::WorstError => WORST_FIRST
                .iter()
                .copied()
                .find(|w| results.iter().any(|r| r.verdict == *w))
                .or(first_error)
                .unwrap_or(Verdict::Ac),
        }
    };
    let scores = results.iter().map(|r| r.score);
    let score = match flags.score {
        ScoreMode::Sum => scores.sum(),
        ScoreMode::Avg => scores.sum::<f64>() / results.len() as f64,
        ScoreMode::Min => scores.fold(f64::INFINITY, f64::min),
        ScoreMode::Max => scores.fold(f64::NEG_INFINITY, f64::max),
    };
    Graded { verdict, score }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(name: &str, parent: Option<u32>, flags: &str, cont: bool) -> pb::TestGroup {
        pb::TestGroup {
            name: name.into(),
            parent,
            on_reject_continue: cont,
            accept_score: 1.0,
            reject_score: 0.0,
            range_min: f64::NEG_INFINITY,
            range_max: f64::INFINITY,
            grader_flags: flags.split_whitespace().map(str::to_string).collect(),
            validator_flags: Vec::new(),
            custom_grading: false,
        }
    }

    fn test(name: &str, group: u32) -> pb::TestCase {
        pb::TestCase {
            name: name.into(),
            group,
            ..Default::default()
        }
    }

    fn g(verdict: Verdict, score: f64) -> Graded {
        Graded { verdict, score }
    }

    /// Runs the walk with `verdicts` per test; returns the tests run, closed groups, result.
    fn walk(
        grading: &mut Grading,
        verdict_of: impl Fn(usize) -> (Verdict, Option<f64>),
    ) -> (Vec<usize>, Vec<(String, Graded)>, Graded) {
        let (mut ran, mut closed) = (Vec::new(), Vec::new());
        loop {
            match grading.step() {
                Step::Run(t) => {
                    ran.push(t);
                    let (v, s) = verdict_of(t);
                    grading.record(t, v, s);
                }
                Step::Closed { name, result } => closed.push((name, result)),
                Step::Grade { .. } => {
                    grading.graded(Err("no grader in this walk".into()));
                }
                Step::Done(r) => return (ran, closed, r),
            }
        }
    }

    /// data/ {sample: s1; secret: {g1: a b; g2: c d}}, with the given root and secret flags.
    fn problem(
        root_flags: &str,
        secret_flags: &str,
        cont: bool,
    ) -> (Vec<pb::TestGroup>, Vec<pb::TestCase>) {
        let groups = vec![
            group("", None, root_flags, cont),
            group("sample", Some(0), "", cont),
            group("secret", Some(0), secret_flags, cont),
            group("secret/g1", Some(2), "min", false),
            group("secret/g2", Some(2), "min", false),
        ];
        let tests = vec![
            test("sample/s1", 1),
            test("secret/g1/a", 3),
            test("secret/g1/b", 3),
            test("secret/g2/c", 4),
            test("secret/g2/d", 4),
        ];
        (groups, tests)
    }

    #[test]
    fn subtasks_score_partially_and_break_inside_a_group() {
        let (mut groups, tests) = problem("ignore_sample", "accept_if_any_accepted", true);
        groups[3].accept_score = 30.0;
        groups[4].accept_score = 70.0;
        let mut grading = Grading::new(&groups, &tests, false).unwrap();
        // g1 passes; g2's first test fails, so its second never runs (break).
        let (ran, closed, result) = walk(&mut grading, |t| match t {
            3 => (Verdict::Wa, None),
            _ => (Verdict::Ac, None),
        });
        assert_eq!(ran, [0, 1, 2, 3]);
        let names: Vec<&str> = closed.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(names, ["sample", "secret/g1", "secret/g2", "secret"]);
        assert_eq!(closed[1].1, g(Verdict::Ac, 30.0));
        assert_eq!(closed[2].1, g(Verdict::Wa, 0.0));
        assert_eq!(closed[3].1, g(Verdict::Ac, 30.0));
        // The sample's 1 point is left out at the root.
        assert_eq!(result, g(Verdict::Ac, 30.0));
    }

    #[test]
    fn verdict_modes() {
        let r = [
            g(Verdict::Ac, 1.0),
            g(Verdict::Wa, 0.0),
            g(Verdict::Tle, 0.0),
        ];
        let flags = |s: &str| {
            GraderFlags::parse(&s.split_whitespace().map(str::to_string).collect::<Vec<_>>())
                .unwrap()
        };
        assert_eq!(aggregate(&flags(""), &r).verdict, Verdict::Tle);
        assert_eq!(aggregate(&flags("worst_error"), &r).verdict, Verdict::Tle);
        assert_eq!(aggregate(&flags("first_error"), &r).verdict, Verdict::Wa);
        assert_eq!(aggregate(&flags("always_accept"), &r).verdict, Verdict::Ac);
        assert_eq!(
            aggregate(&flags("first_error accept_if_any_accepted"), &r).verdict,
            Verdict::Ac
        );
        let none = [g(Verdict::Wa, 0.0), g(Verdict::Rte, 0.0)];
        assert_eq!(
            aggregate(&flags("first_error accept_if_any_accepted"), &none).verdict,
            Verdict::Wa
        );
        assert_eq!(aggregate(&flags(""), &[]), g(Verdict::Ac, 0.0));
    }

    #[test]
    fn score_modes() {
        let r = [
            g(Verdict::Ac, 2.0),
            g(Verdict::Ac, 6.0),
            g(Verdict::Wa, 1.0),
        ];
        let score = |s: &str| aggregate(&GraderFlags::parse(&[s.to_string()]).unwrap(), &r).score;
        assert_eq!(score("sum"), 9.0);
        assert_eq!(score("avg"), 3.0);
        assert_eq!(score("min"), 1.0);
        assert_eq!(score("max"), 6.0);
    }

    #[test]
    fn continue_runs_everything_and_break_stops_the_parent_too() {
        let (groups, tests) = problem("", "", true);
        let mut grading = Grading::new(&groups, &tests, false).unwrap();
        let (ran, _, result) = walk(&mut grading, |_| (Verdict::Wa, None));
        // Every group but g1/g2 continues; g1 and g2 break after their first test.
        assert_eq!(ran, [0, 1, 3]);
        assert_eq!(result.verdict, Verdict::Wa);

        let (groups, tests) = problem("", "", false);
        let mut grading = Grading::new(&groups, &tests, false).unwrap();
        let (ran, closed, _) = walk(&mut grading, |t| {
            (if t == 0 { Verdict::Rte } else { Verdict::Ac }, None)
        });
        // The sample fails and the root breaks: secret never runs.
        assert_eq!(ran, [0]);
        assert_eq!(closed.len(), 1);

        let mut all = Grading::new(&groups, &tests, true).unwrap();
        let (ran, _, _) = walk(&mut all, |_| (Verdict::Wa, None));
        assert_eq!(
            ran,
            [0, 1, 2, 3, 4],
            "run_all_tests turns break into continue"
        );
    }

    #[test]
    fn validator_scores_count_and_a_score_out_of_range_is_a_judge_error() {
        let (mut groups, tests) = problem("", "", true);
        groups[3].range_min = 0.0;
        groups[3].range_max = 10.0;
        let mut grading = Grading::new(&groups, &tests, false).unwrap();
        assert_eq!(grading.step(), Step::Run(0));
        assert_eq!(
            grading.record(0, Verdict::Ac, Some(0.5)).0,
            g(Verdict::Ac, 0.5)
        );
        assert!(matches!(grading.step(), Step::Closed { .. }));
        assert_eq!(grading.step(), Step::Run(1));
        let (graded, why) = grading.record(1, Verdict::Ac, Some(11.0));
        assert_eq!(graded.verdict, Verdict::Je);
        assert!(why.unwrap().contains("outside the range [0, 10]"));
        // A judge error stops everything and is the submission's verdict.
        let (ran, _, result) = walk(&mut grading, |_| (Verdict::Ac, None));
        assert!(ran.is_empty());
        assert_eq!(result.verdict, Verdict::Je);
    }

    #[test]
    fn malformed_groups_from_the_wire_are_refused() {
        let (mut groups, tests) = problem("", "", true);
        groups[3].parent = Some(4);
        assert!(Grading::new(&groups, &tests, false).is_err());
        let (mut groups, tests) = problem("", "", true);
        groups[1].range_min = 5.0;
        groups[1].range_max = 1.0;
        assert!(Grading::new(&groups, &tests, false).is_err());
        let (groups, mut tests) = problem("", "", true);
        tests[0].group = 99;
        assert!(Grading::new(&groups, &tests, false).is_err());
        assert!(Grading::new(&[], &[], false).is_err());
    }

    #[test]
    fn a_custom_graded_group_waits_for_its_grader_s_answer() {
        let mut groups = vec![
            group("", None, "", true),
            group("secret", Some(0), "half mine", true),
        ];
        groups[1].custom_grading = true;
        groups[1].range_max = 100.0;
        let tests = vec![test("secret/a", 1), test("secret/b", 1)];
        let mut grading = Grading::new(&groups, &tests, false).unwrap();
        assert_eq!(grading.step(), Step::Run(0));
        grading.record(0, Verdict::Ac, Some(3.0));
        assert_eq!(grading.step(), Step::Run(1));
        grading.record(1, Verdict::Wa, None);
        let Step::Grade {
            name,
            flags,
            results,
        } = grading.step()
        else {
            panic!("the custom group must be graded by its grader");
        };
        assert_eq!(
            (name.as_str(), flags),
            ("secret", vec!["half".to_string(), "mine".to_string()])
        );
        assert_eq!(results, [g(Verdict::Ac, 3.0), g(Verdict::Wa, 0.0)]);
        assert_eq!(grader_input(&results), "AC 3\nWA 0\n");
        // Asked again before answering, it asks again.
        assert!(matches!(grading.step(), Step::Grade { .. }));
        let (r, why) = grading.graded(grader_output("AC 42\n"));
        assert_eq!((r, why), (g(Verdict::Ac, 42.0), None));
        assert_eq!(
            grading.step(),
            Step::Closed {
                name: "secret".into(),
                result: g(Verdict::Ac, 42.0)
            }
        );
        assert_eq!(grading.step(), Step::Done(g(Verdict::Ac, 42.0)));
    }

    #[test]
    fn a_broken_grader_is_a_judge_error_and_its_words_are_kept() {
        let mut groups = vec![
            group("", None, "", true),
            group("secret", Some(0), "", true),
        ];
        groups[1].custom_grading = true;
        groups[1].range_max = 10.0;
        let tests = vec![test("secret/a", 1)];
        for (answer, says) in [
            (grader_output("garbage"), Some("not one line")),
            (grader_output("OK 1"), Some("the verdict \"OK\"")),
            (grader_output("AC nan"), Some("not a number")),
            (grader_output("AC 11"), Some("outside its range")),
            (
                Err("the grader failed (exit Some(1))".into()),
                Some("exit Some(1)"),
            ),
            (grader_output("WA 7"), None),
        ] {
            let mut grading = Grading::new(&groups, &tests, false).unwrap();
            assert_eq!(grading.step(), Step::Run(0));
            grading.record(0, Verdict::Ac, None);
            assert!(matches!(grading.step(), Step::Grade { .. }));
            let (r, why) = grading.graded(answer);
            match says {
                Some(text) => {
                    assert_eq!(r.verdict, Verdict::Je);
                    assert!(why.as_deref().unwrap_or_default().contains(text), "{why:?}");
                }
                // A rejected group's score is not the grader's to give.
                None => assert_eq!((r, why), (g(Verdict::Wa, 0.0), None)),
            }
            let (_, _, done) = walk(&mut grading, |_| (Verdict::Ac, None));
            assert_eq!(done.verdict, r.verdict);
        }
    }
}
