//! The judging flow with a fake [`Runner`]: compile errors, a broken validator, running all
//! tests or stopping at the first failure, cancelling, multi-pass tests and their limit, a
//! scoring problem's groups, a custom grader's group, an interactive problem, a run job;
//! without a sandbox, root or a scheduler. Test data is put in the cache directory
//! beforehand, as a worker finds it after a restart, so no file is fetched.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use judge_common::auth::Bearer;
use judge_common::pb;
use judge_common::pb::worker_service_client::WorkerServiceClient;
use judge_worker::cache::FileCache;
use judge_worker::judge::languages::Language;
use judge_worker::judge::validator::Validators;
use judge_worker::judge::{Judge, Outcome};
use judge_worker::sandbox::{RunFuture, RunOutcome, RunSpec, Runner};
use pb::job_update::Update;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

/// What a fake run does, by its command.
type Script = dyn Fn(&RunSpec) -> Option<RunOutcome> + Send + Sync;

/// Runs nothing: answers each run from a script. A run the script answers `None` for waits
/// until it is cancelled, like a program that never ends.
struct FakeRunner {
    script: Box<Script>,
    started: Mutex<Vec<Vec<String>>>,
    /// Woken whenever a run starts.
    start: tokio::sync::Notify,
}

impl FakeRunner {
    fn new(script: impl Fn(&RunSpec) -> Option<RunOutcome> + Send + Sync + 'static) -> Self {
        FakeRunner {
            script: Box::new(script),
            started: Mutex::new(Vec::new()),
            start: tokio::sync::Notify::new(),
        }
    }

    fn commands(&self) -> Vec<String> {
        self.started
            .lock()
            .unwrap()
            .iter()
            .map(|argv| argv[0].clone())
            .collect()
    }
}

impl Runner for FakeRunner {
    fn run(&self, spec: RunSpec, mut cancel: watch::Receiver<bool>) -> RunFuture<'_> {
        Box::pin(async move {
            self.started.lock().unwrap().push(spec.argv.clone());
            self.start.notify_waiters();
            match (self.script)(&spec) {
                Some(outcome) => Ok(outcome),
                None => {
                    let _ = cancel.wait_for(|c| *c).await;
                    Ok(RunOutcome {
                        cancelled: true,
                        ..Default::default()
                    })
                }
            }
        })
    }

    fn sandboxed(&self) -> bool {
        false
    }
}

fn exited(code: i32, stdout: &[u8], stderr: &str) -> RunOutcome {
    RunOutcome {
        exit_code: Some(code),
        stdout: stdout.to_vec(),
        stderr: stderr.as_bytes().to_vec(),
        ..Default::default()
    }
}

/// The submission echoes its input; the compiler and validator answer as `compile` and
/// `validator` say.
fn echo_script(
    compile: RunOutcome,
    validator_exit: i32,
) -> impl Fn(&RunSpec) -> Option<RunOutcome> {
    move |spec| match spec.argv[0].as_str() {
        "cc" => Some(compile.clone()),
        "prog" => {
            let input = spec.stdin.as_ref().map(std::fs::read).transpose().ok()?;
            Some(exited(0, &input.unwrap_or_default(), ""))
        }
        // The validator's build (byte-compiling it) passes; its runs answer as told.
        "/usr/bin/python3" if spec.argv.get(1).is_some_and(|a| a == "-m") => {
            Some(exited(0, b"", ""))
        }
        "/usr/bin/python3" => Some(exited(validator_exit, b"", "validator says no")),
        "hang" => None,
        other => panic!("unexpected command {other}"),
    }
}

fn language(run: &str) -> Language {
    Language {
        id: "fake".into(),
        source_file: "main.fake".into(),
        compile: Some(vec!["cc".into(), "main.fake".into()]),
        run: vec![run.into()],
        version: vec!["true".into()],
        max_processes: 8,
        read_only: Vec::new(),
        memory_error: None,
    }
}

/// Puts `data` into the cache directory under its hash; its reference.
fn cached(cache_dir: &Path, data: &[u8]) -> pb::FileRef {
    let sha = hex::encode(Sha256::digest(data));
    std::fs::write(cache_dir.join(&sha), data).unwrap();
    pb::FileRef {
        sha256: sha,
        size: data.len() as u64,
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    judge: Judge,
    runner: Arc<FakeRunner>,
    problem: pb::ProblemSpec,
}

/// Three tests; the second one's answer differs from its input, so an echo fails it.
async fn setup(runner: FakeRunner, run: &str, with_validator: bool) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let cache_dir = dir.path().join("cache");
    std::fs::create_dir_all(&cache_dir).unwrap();
    let tests = ["1 2\n", "3 4\n", "5 6\n"]
        .iter()
        .enumerate()
        .map(|(i, input)| pb::TestCase {
            name: format!("secret/{}", i + 1),
            input: Some(cached(&cache_dir, input.as_bytes())),
            answer: Some(cached(
                &cache_dir,
                if i == 1 { b"other\n" } else { input.as_bytes() },
            )),
            group: 0,
        })
        .collect();
    let output_validator = with_validator.then(|| pb::OutputValidator {
        language: "python3".into(),
        files: vec![pb::ValidatorFile {
            path: "validate.py".into(),
            file: Some(cached(&cache_dir, b"import sys\nsys.exit(42)\n")),
        }],
        main: None,
    });
    let problem = pb::ProblemSpec {
        id: "p".into(),
        version: 1,
        time_limit_ms: 1000,
        memory_limit_bytes: 64 << 20,
        output_limit_bytes: 1 << 20,
        tests,
        validator_flags: Vec::new(),
        output_validator,
        compile_time_limit_ms: 30_000,
        compile_memory_limit_bytes: 1 << 30,
        validator_time_limit_ms: 10_000,
        validator_memory_limit_bytes: 1 << 30,
        judging: None,
    };
    // Nothing listens there: a fetch would fail, and none must happen.
    let channel = judge_common::failover::Failover::new(
        &["http://127.0.0.1:9".to_string()],
        &Default::default(),
    )
    .unwrap();
    let client = WorkerServiceClient::with_interceptor(channel, Bearer::new("unused").unwrap());
    let cache = FileCache::open(cache_dir, 1 << 30, client).await.unwrap();
    let runner = Arc::new(runner);
    let work_dir = dir.path().join("work");
    let judge = Judge {
        runner: runner.clone(),
        languages: BTreeMap::from([("fake".to_string(), language(run))]),
        cache,
        validators: Validators::new(work_dir.join("validators")),
        work_dir,
        attacher: None,
        job_disk_bytes: 1 << 30,
    };
    Setup {
        _dir: dir,
        judge,
        runner,
        problem,
    }
}

fn assign(problem: &pb::ProblemSpec, run_all_tests: bool) -> pb::Assign {
    pb::Assign {
        job_id: 1,
        attempt: 1,
        language: "fake".into(),
        source: b"source".to_vec(),
        run_all_tests,
        spec: Some(pb::assign::Spec::Problem(problem.clone())),
    }
}

/// Judges and returns the outcome and the verdicts of the tests reported, in order.
async fn judge(s: &Setup, run_all_tests: bool) -> (Outcome, Vec<pb::Verdict>) {
    let updates = Mutex::new(Vec::new());
    let report = |u: Update| updates.lock().unwrap().push(u);
    let (_cancel, rx) = watch::channel(false);
    let outcome = s
        .judge
        .judge(&assign(&s.problem, run_all_tests), &report, rx)
        .await;
    let verdicts = updates
        .into_inner()
        .unwrap()
        .into_iter()
        .filter_map(|u| match u {
            Update::Test(t) => Some(t.verdict()),
            _ => None,
        })
        .collect();
    (outcome, verdicts)
}

fn verdict(outcome: &Outcome) -> pb::Verdict {
    verdict_and_message(outcome).0
}

/// Judges a scoring problem whose groups all continue on a rejection: every test runs (the
/// echo fails the second); the submission's verdict and score.
async fn graded(s: &Setup) -> (pb::Verdict, Option<f64>) {
    let (outcome, tests) = judge(s, false).await;
    assert_eq!(
        tests,
        [pb::Verdict::Ac, pb::Verdict::Wa, pb::Verdict::Ac],
        "on_reject: continue runs every test"
    );
    match outcome {
        Outcome::Verdict { verdict, score, .. } => (verdict, score),
        other => panic!("{other:?}"),
    }
}

fn verdict_and_message(outcome: &Outcome) -> (pb::Verdict, &str) {
    match outcome {
        Outcome::Verdict {
            verdict, message, ..
        } => (*verdict, message),
        Outcome::Ran(_) => panic!("a run result for a judge job"),
        Outcome::Cancelled => panic!("cancelled"),
    }
}

#[tokio::test]
async fn a_compile_error_is_ce_with_the_compilers_words_and_runs_nothing() {
    let compile = exited(1, b"", "main.fake:1: syntax error");
    let s = setup(FakeRunner::new(echo_script(compile, 42)), "prog", false).await;
    let (outcome, tests) = judge(&s, true).await;
    let (verdict, message) = verdict_and_message(&outcome);
    assert_eq!(verdict, pb::Verdict::Ce);
    assert!(message.contains("syntax error"), "{message}");
    assert!(tests.is_empty());
    assert_eq!(s.runner.commands(), vec!["cc"]);
}

#[tokio::test]
async fn judging_stops_at_the_first_failure_unless_every_test_is_to_run() {
    let s = setup(
        FakeRunner::new(echo_script(exited(0, b"", ""), 42)),
        "prog",
        false,
    )
    .await;
    let (outcome, tests) = judge(&s, false).await;
    assert_eq!(verdict(&outcome), pb::Verdict::Wa);
    assert_eq!(tests, vec![pb::Verdict::Ac, pb::Verdict::Wa]);

    let (outcome, tests) = judge(&s, true).await;
    assert_eq!(verdict(&outcome), pb::Verdict::Wa);
    assert_eq!(
        tests,
        vec![pb::Verdict::Ac, pb::Verdict::Wa, pb::Verdict::Ac]
    );
    // Compiled once per attempt, then one run per test.
    assert_eq!(
        s.runner.commands(),
        ["cc", "prog", "prog", "cc", "prog", "prog", "prog"]
    );
}

#[tokio::test]
async fn a_broken_validator_is_a_judge_error_not_the_submissions() {
    let s = setup(
        FakeRunner::new(echo_script(exited(0, b"", ""), 1)),
        "prog",
        true,
    )
    .await;
    let (outcome, tests) = judge(&s, true).await;
    let (verdict, message) = verdict_and_message(&outcome);
    assert_eq!(verdict, pb::Verdict::Je);
    assert!(message.contains("test 0"), "{message}");
    assert_eq!(
        tests,
        vec![pb::Verdict::Je],
        "judging stops at the broken test"
    );
}

#[tokio::test]
async fn a_custom_validator_decides_each_test() {
    // It accepts everything, even the test whose answer differs.
    let s = setup(
        FakeRunner::new(echo_script(exited(0, b"", ""), 42)),
        "prog",
        true,
    )
    .await;
    let (outcome, tests) = judge(&s, true).await;
    assert_eq!(verdict(&outcome), pb::Verdict::Ac);
    assert_eq!(tests, vec![pb::Verdict::Ac; 3]);
}

#[tokio::test]
async fn limits_out_of_range_are_a_judge_error_before_anything_runs() {
    let mut s = setup(
        FakeRunner::new(echo_script(exited(0, b"", ""), 42)),
        "prog",
        false,
    )
    .await;
    s.problem.memory_limit_bytes = 0;
    let (outcome, tests) = judge(&s, true).await;
    let (verdict, message) = verdict_and_message(&outcome);
    assert_eq!(verdict, pb::Verdict::Je);
    assert!(message.contains("limits.memory"), "{message}");
    assert!(tests.is_empty() && s.runner.commands().is_empty());
}

#[tokio::test]
async fn a_cancel_stops_a_running_test() {
    let s = setup(
        FakeRunner::new(echo_script(exited(0, b"", ""), 42)),
        "hang",
        false,
    )
    .await;
    let (cancel, rx) = watch::channel(false);
    let job = assign(&s.problem, false);
    let report = |_u: Update| {};
    let judging = s.judge.judge(&job, &report, rx);
    tokio::pin!(judging);
    // Cancel once the submission's first run has started.
    let started = async {
        loop {
            let notified = s.runner.start.notified();
            if s.runner.commands().iter().any(|c| c == "hang") {
                break;
            }
            notified.await;
        }
    };
    tokio::select! {
        _ = started => {}
        o = &mut judging => panic!("ended before the run started: {o:?}"),
    }
    cancel.send(true).unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(10), judging)
        .await
        .expect("cancelled within 10 s");
    assert_eq!(outcome, Outcome::Cancelled);
}

#[tokio::test]
async fn a_compiler_that_writes_past_the_job_disk_bound_is_ce_and_says_so() {
    // Two files of 600 KiB each: each under the 1 MiB bound, together past it.
    let compiler = |spec: &RunSpec| -> Option<RunOutcome> {
        match spec.argv[0].as_str() {
            "cc" => {
                assert_eq!(
                    spec.file_size_limit,
                    1 << 20,
                    "the bound is the compiler's too"
                );
                for name in ["a.o", "b.o"] {
                    std::fs::write(spec.dir.join(name), vec![0u8; 600 << 10]).unwrap();
                }
                Some(exited(0, b"", ""))
            }
            other => panic!("nothing runs after such a compile, yet {other} did"),
        }
    };
    let mut s = setup(FakeRunner::new(compiler), "prog", false).await;
    s.judge.job_disk_bytes = 1 << 20;
    let (outcome, tests) = judge(&s, true).await;
    let (verdict, message) = verdict_and_message(&outcome);
    assert_eq!(verdict, pb::Verdict::Ce);
    assert!(
        message.contains("--job-disk-mib") && message.contains("bound of 1 MiB"),
        "{message}"
    );
    assert!(tests.is_empty());
}

/// A validator that accepts, asking for another pass (on the same input) until it has seen
/// `passes` of a test, counted in its feedback folder as a real one would.
fn multi_pass_script(passes: u32) -> impl Fn(&RunSpec) -> Option<RunOutcome> {
    move |spec| match spec.argv[0].as_str() {
        "cc" => Some(exited(0, b"", "")),
        "prog" => {
            let input = spec.stdin.as_ref().map(std::fs::read).transpose().ok()?;
            Some(exited(0, &input.unwrap_or_default(), ""))
        }
        "/usr/bin/python3" if spec.argv.get(1).is_some_and(|a| a == "-m") => {
            Some(exited(0, b"", ""))
        }
        "/usr/bin/python3" => {
            let (input, feedback) = (Path::new(&spec.argv[2]), Path::new(&spec.argv[4]));
            let count = feedback.join("count");
            let seen: u32 = std::fs::read_to_string(&count)
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0)
                + 1;
            std::fs::write(&count, seen.to_string()).unwrap();
            if seen < passes {
                std::fs::copy(input, feedback.join("nextpass.in")).unwrap();
            }
            Some(exited(42, b"", ""))
        }
        other => panic!("unexpected command {other}"),
    }
}

fn multi_pass(problem: &mut pb::ProblemSpec, limit: u32) {
    // The second test's answer differs, but this validator accepts any output.
    problem.judging = Some(pb::Judging {
        multi_pass: true,
        validation_passes: limit,
        ..Default::default()
    });
}

#[tokio::test]
async fn a_multi_pass_test_runs_again_while_its_validator_asks() {
    let mut s = setup(FakeRunner::new(multi_pass_script(3)), "prog", true).await;
    multi_pass(&mut s.problem, 3);
    let updates = Mutex::new(Vec::new());
    let report = |u: Update| updates.lock().unwrap().push(u);
    let (_cancel, rx) = watch::channel(false);
    let outcome = s.judge.judge(&assign(&s.problem, false), &report, rx).await;
    assert_eq!(verdict(&outcome), pb::Verdict::Ac, "{outcome:?}");
    // Three passes of each test: the submission and the validator three times each.
    let runs = s.runner.commands();
    assert_eq!(runs.iter().filter(|c| *c == "prog").count(), 9, "{runs:?}");
    let messages: Vec<String> = updates
        .into_inner()
        .unwrap()
        .into_iter()
        .filter_map(|u| match u {
            Update::Test(t) => Some(t.message),
            _ => None,
        })
        .collect();
    assert_eq!(messages.len(), 3);
    assert!(
        messages.iter().all(|m| m.ends_with("3 passes")),
        "{messages:?}"
    );
}

#[tokio::test]
async fn a_validator_asking_past_the_pass_limit_is_a_judge_error() {
    let mut s = setup(FakeRunner::new(multi_pass_script(3)), "prog", true).await;
    multi_pass(&mut s.problem, 2);
    let (outcome, tests) = judge(&s, false).await;
    let (verdict, message) = verdict_and_message(&outcome);
    assert_eq!(verdict, pb::Verdict::Je);
    assert!(
        message.contains("pass 3 of a problem allowed 2 passes"),
        "{message}"
    );
    assert_eq!(tests, [pb::Verdict::Je], "judging stops at the first test");
}

/// A test group of a scoring problem, graded by default (no grader of the package's).
fn scored_group(name: &str, parent: Option<u32>, accept_score: f64) -> pb::TestGroup {
    pb::TestGroup {
        name: name.into(),
        parent,
        on_reject_continue: true,
        accept_score,
        reject_score: 0.0,
        range_min: f64::NEG_INFINITY,
        range_max: f64::INFINITY,
        grader_flags: Vec::new(),
        validator_flags: Vec::new(),
        custom_grading: false,
    }
}

#[tokio::test]
async fn a_custom_grader_gives_a_group_its_result() {
    // The grader is asked once, for the one custom group; its answer is the group's.
    let script = |spec: &RunSpec| -> Option<RunOutcome> {
        match (spec.argv[0].as_str(), spec.argv.get(1).map(String::as_str)) {
            ("cc", _) => Some(exited(0, b"", "")),
            ("prog", _) => {
                let input = spec.stdin.as_ref().map(std::fs::read).transpose().ok()?;
                Some(exited(0, &input.unwrap_or_default(), ""))
            }
            ("/usr/bin/python3", Some("-m")) => Some(exited(0, b"", "")),
            ("/usr/bin/python3", Some("grade.py")) => {
                assert_eq!(spec.argv[2..], ["bonus"], "the group's grader flags");
                let lines = std::fs::read_to_string(spec.stdin.as_ref()?).ok()?;
                assert_eq!(lines, "AC 1\nWA 0\nAC 1\n");
                Some(exited(0, b"AC 7.5\n", ""))
            }
            (other, _) => panic!("unexpected command {other}"),
        }
    };
    let mut s = setup(FakeRunner::new(script), "prog", false).await;
    // Any file the cache holds will do: the runner is fake.
    let grader_file = s.problem.tests[0].input.clone();
    let group = |name: &str, parent: Option<u32>, custom: bool| pb::TestGroup {
        grader_flags: if custom {
            vec!["bonus".into()]
        } else {
            Vec::new()
        },
        custom_grading: custom,
        ..scored_group(name, parent, 1.0)
    };
    for t in &mut s.problem.tests {
        t.group = 1;
    }
    s.problem.judging = Some(pb::Judging {
        scoring: true,
        groups: vec![group("", None, false), group("secret", Some(0), true)],
        grader: Some(pb::OutputValidator {
            language: "python3".into(),
            files: vec![pb::ValidatorFile {
                path: "grade.py".into(),
                file: grader_file,
            }],
            main: Some("grade.py".into()),
        }),
        ..Default::default()
    });
    assert_eq!(graded(&s).await, (pb::Verdict::Ac, Some(7.5)));
}

#[tokio::test]
async fn a_run_job_runs_once_on_its_input() {
    let s = setup(
        FakeRunner::new(echo_script(exited(0, b"", ""), 42)),
        "prog",
        false,
    )
    .await;
    let mut job = assign(&s.problem, false);
    job.spec = Some(pb::assign::Spec::Run(pb::RunInput {
        stdin: b"hello\n".to_vec(),
        limits: Some(pb::RunLimits {
            time_limit_ms: Some(1000),
            memory_limit_bytes: Some(64 << 20),
            output_limit_bytes: Some(1 << 20),
        }),
    }));
    let report = |_u: Update| {};
    let (_cancel, rx) = watch::channel(false);
    let Outcome::Ran(result) = s.judge.judge(&job, &report, rx).await else {
        panic!("a run job ends with its run");
    };
    assert_eq!(result.outcome, pb::RunOutcome::Exited as i32);
    assert_eq!(
        (result.exit_code, result.stdout.as_slice()),
        (Some(0), &b"hello\n"[..])
    );
    assert_eq!(s.runner.commands(), ["cc", "prog"]);
}

#[tokio::test]
async fn a_scoring_problem_sums_its_groups_scores() {
    // Test 0 is in "sample" (worth nothing); tests 1 and 2 in "secret", 5 each. The echo
    // fails test 1 (its answer differs), so secret scores 5 and the verdict is its WA.
    let mut s = setup(
        FakeRunner::new(echo_script(exited(0, b"", ""), 42)),
        "prog",
        false,
    )
    .await;
    for (i, t) in s.problem.tests.iter_mut().enumerate() {
        t.group = if i == 0 { 1 } else { 2 };
    }
    s.problem.judging = Some(pb::Judging {
        scoring: true,
        groups: vec![
            scored_group("", None, 1.0),
            scored_group("sample", Some(0), 0.0),
            scored_group("secret", Some(0), 5.0),
        ],
        ..Default::default()
    });
    assert_eq!(graded(&s).await, (pb::Verdict::Wa, Some(5.0)));
}

#[tokio::test]
async fn an_interactive_problem_takes_the_interactors_verdict() {
    // The interactor accepts the first test and rejects the second; the submission (which
    // talks to it over pipes in a real run) exits cleanly each time.
    let tests_seen = Arc::new(Mutex::new(0));
    let seen = tests_seen.clone();
    let script = move |spec: &RunSpec| -> Option<RunOutcome> {
        match spec.argv[0].as_str() {
            "cc" | "prog" => Some(exited(0, b"", "")),
            "/usr/bin/python3" if spec.argv.get(1).is_some_and(|a| a == "-m") => {
                Some(exited(0, b"", ""))
            }
            "/usr/bin/python3" => {
                assert!(spec.piped.is_some(), "the interactor runs on pipes");
                let mut n = seen.lock().unwrap();
                *n += 1;
                Some(exited(if *n == 1 { 42 } else { 43 }, b"", ""))
            }
            other => panic!("unexpected command {other}"),
        }
    };
    let mut s = setup(FakeRunner::new(script), "prog", true).await;
    s.problem.judging = Some(pb::Judging {
        interactive: true,
        ..Default::default()
    });
    let (outcome, tests) = judge(&s, false).await;
    assert_eq!(tests, [pb::Verdict::Ac, pb::Verdict::Wa]);
    assert_eq!(verdict(&outcome), pb::Verdict::Wa);
    assert_eq!(
        *tests_seen.lock().unwrap(),
        2,
        "judging stopped at the rejection"
    );
}
