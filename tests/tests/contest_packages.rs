//! Packages as contests publish them, verified on the real cluster: a single-file output
//! validator with its header beside it and DOMjudge's settings file, jury solutions that
//! overrun memory filed under run-time error, a Python 2 solution skipped with its reason,
//! PyPy; multi-pass problems (batch and interactive, a folder and a single-file validator);
//! custom graders (a single file and a folder). And the bad ones: a validator that does not
//! compile is refused at push with the compiler's words, a grader that crashes or prints
//! garbage is a judge error with its words, a validator that asks for too many passes too.

use judge_common::pb::{self, Verdict};
use judge_tests::packages::{copy_package, package, verdicts, verify};
use judge_tests::*;
use serde_json::Value;

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(f, v)| (f.to_string(), v.to_string()))
        .collect()
}

/// The job a verify report judged `file` in.
async fn job_of(c: &Cluster, report: &Value, file: &str) -> anyhow::Result<pb::Job> {
    let id = report["submissions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["file"] == file)
        .and_then(|s| s["job_id"].as_u64())
        .ok_or_else(|| anyhow::anyhow!("{file} was not judged: {report}"))?;
    let mut judge = c.judge().await?;
    Ok(judge
        .get_job(pb::GetJobRequest { job_id: id })
        .await?
        .into_inner())
}

/// Whether the cluster's workers offer `language`.
async fn offered(c: &Cluster, language: &str) -> anyhow::Result<bool> {
    let mut judge = c.judge().await?;
    let workers = judge.list_workers(pb::ListWorkersRequest {}).await?;
    Ok(workers
        .into_inner()
        .workers
        .iter()
        .any(|w| w.languages.iter().any(|l| l == language)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_package_with_a_single_file_validator_and_domjudge_settings() -> anyhow::Result<()>
{
    let mut c = Cluster::start(&[]).await?;
    c.add_worker("w", 3)?;
    c.wait_workers(1).await?;

    let (ok, report) = verify(&c, &package("wordsum"), "wordsum", &[])?;
    assert_eq!(
        verdicts(&report),
        pairs(&[
            ("accepted/sum.c", "AC"),
            ("accepted/sum.py", "AC"),
            ("run_time_error/divides_by_zero.py", "RTE"),
            ("run_time_error/hog.c", "MLE"),
            ("run_time_error/old_print.py", "-"),
            ("run_time_error/recurses.cpp", "MLE"),
            ("time_limit_exceeded/spins.c", "TLE"),
            ("wrong_answer/off_by_one.py", "WA"),
        ]),
        "{report}\n{}",
        c.logs()
    );
    assert!(ok && report["ok"] == true, "{report}");
    // The Python 2 solution is not judged as Python 3: skipped, and why.
    let old = &report["submissions"][4];
    assert_eq!(
        (old["language"].as_str(), old["ok"].as_bool()),
        (Some("python2"), Some(true))
    );
    assert_eq!(
        old["skipped"], "no connected worker offers python2",
        "{report}"
    );

    // Name and time limit from domjudge-problem.ini (problem.yaml gives neither).
    let mut judge = c.judge().await?;
    let problems = judge.list_problems(pb::ListProblemsRequest {}).await?;
    let p = problems
        .into_inner()
        .problems
        .into_iter()
        .find(|p| p.id == "wordsum")
        .unwrap();
    assert_eq!((p.name.as_str(), p.time_limit_ms), ("Word Sum", 1500));

    // Every verdict says what the run used of its limits.
    let tle = job_of(&c, &report, "time_limit_exceeded/spins.c").await?;
    let m = &tle.tests[0].message;
    assert!(m.starts_with("time 1.") && m.contains(" s of 1.5 s"), "{m}");
    assert!(
        m.contains("of 256 MiB") && m.contains("killed by signal 9 (SIGKILL)"),
        "{m}"
    );
    let mle = job_of(&c, &report, "run_time_error/hog.c").await?;
    assert!(mle.tests[0].message.contains("MiB of 256 MiB"), "{mle:?}");
    let rte = job_of(&c, &report, "run_time_error/divides_by_zero.py").await?;
    assert!(rte.tests[0].message.contains("exit code 1"), "{rte:?}");
    let wa = job_of(&c, &report, "wrong_answer/off_by_one.py").await?;
    let m = &wa.tests[0].message;
    assert!(
        m.starts_with("expected 6, got 7\n") && m.contains("output 2 B of 8 MiB"),
        "{m}"
    );
    let ac = job_of(&c, &report, "accepted/sum.c").await?;
    assert!(
        ac.tests.iter().all(|t| t.message.contains("exit code 0")),
        "{ac:?}"
    );

    // PyPy for the .py jury solutions, when asked for.
    let (ok, report) = verify(
        &c,
        &package("wordsum"),
        "wordsum-pypy",
        &["--python", "pypy3"],
    )?;
    let py = &report["submissions"][1];
    assert_eq!(py["language"], "pypy3", "{report}");
    if offered(&c, "pypy3").await? {
        assert!(ok, "{report}\n{}", c.logs());
        assert_eq!(py["verdict"], "AC", "{report}");
        let job = job_of(&c, &report, "accepted/sum.py").await?;
        assert_eq!(job.language, "pypy3");
    } else {
        assert!(
            std::env::var("JUDGE_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "pypy3 is required (JUDGE_REQUIRE_TOOLS=1) but no worker offers it"
        );
        assert_eq!(
            py["skipped"], "no connected worker offers pypy3",
            "{report}"
        );
    }

    // A single-file validator that does not compile: refused at push, with the compiler's
    // words, and nothing stored.
    let tmp = tempfile::tempdir()?;
    let dir = copy_package("wordsum", tmp.path())?;
    let source = dir.join("output_validators/validate.cpp");
    let text = std::fs::read_to_string(&source)?;
    std::fs::write(
        &source,
        text.replace("long long got;", "long long got = nothing_here;"),
    )?;
    let out = std::process::Command::new(bin("judgectl"))
        .args(["--scheduler", &c.sched.url(), "--token", &c.admin])
        .args(["problem", "push", "--id", "broken"])
        .arg(&dir)
        .output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(
            "InvalidArgument: the output validator (output_validators/validate.cpp) does not build"
        ) && err.contains("'nothing_here' was not declared"),
        "{err}"
    );
    let problems = judge.list_problems(pb::ListProblemsRequest {}).await?;
    assert!(problems
        .into_inner()
        .problems
        .iter()
        .all(|p| p.id != "broken"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_pass_problems_run_pass_after_pass_up_to_their_limit() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    c.add_worker("w", 3)?;
    c.wait_workers(1).await?;

    let (ok, report) = verify(&c, &package("passes"), "passes", &[])?;
    assert_eq!(
        verdicts(&report),
        pairs(&[
            ("accepted/passes.c", "AC"),
            ("accepted/passes.py", "AC"),
            ("run_time_error/crashes_second.py", "RTE"),
            ("time_limit_exceeded/slow_third.c", "TLE"),
            ("wrong_answer/forgets_the_third.py", "WA"),
        ]),
        "{report}\n{}",
        c.logs()
    );
    assert!(ok, "{report}");
    // Three passes each, every pass's words kept (the validator appends to judgemessage.txt).
    let job = job_of(&c, &report, "wrong_answer/forgets_the_third.py").await?;
    let m = &job.tests[0].message;
    assert!(
        m.starts_with("pass 1: wanted 10") && m.contains("pass 3: wanted 121"),
        "{m}"
    );
    assert!(m.ends_with("3 passes"), "{m}");

    // Interactive and multi-pass, with a single-file interactor.
    let (ok, report) = verify(&c, &package("passes_interactive"), "passes-io", &[])?;
    assert_eq!(
        verdicts(&report),
        pairs(&[
            ("accepted/both.py", "AC"),
            ("wrong_answer/first_only.py", "WA")
        ]),
        "{report}\n{}",
        c.logs()
    );
    assert!(ok, "{report}");

    // Allowed fewer passes than its validator asks for: a judge error, never the
    // submission's verdict.
    let tmp = tempfile::tempdir()?;
    let dir = copy_package("passes", tmp.path())?;
    let yaml = std::fs::read_to_string(dir.join("problem.yaml"))?;
    std::fs::write(
        dir.join("problem.yaml"),
        yaml.replace("validation_passes: 3", "validation_passes: 2"),
    )?;
    let mut admin = admin_client(&c.sched.url(), &c.admin).await?;
    judgectl::push::push(&mut admin, &dir, Some("two-passes".into()), None).await?;
    let mut judge = c.judge().await?;
    let source = std::fs::read_to_string(package("passes").join("submissions/accepted/passes.py"))?;
    let job = submit(&mut judge, "two-passes", "python3", &source).await?;
    let job = wait_finished(&mut judge, job).await?;
    assert_eq!(job.verdict(), Verdict::Je, "{job:?}");
    assert!(
        job.message
            .contains("the validator asked for pass 3 of a problem allowed 2 passes"),
        "{}",
        job.message
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_graders_grade_groups_and_a_broken_one_is_a_judge_error() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    c.add_worker("w", 3)?;
    c.wait_workers(1).await?;
    let expected = pairs(&[
        ("accepted/square.py", "AC"),
        ("partially_accepted/misses_the_thirds.py", "AC"),
        ("wrong_answer/mostly_wrong.c", "WA"),
    ]);
    for (layout, id) in [("graded", "graded"), ("graded_folder", "graded-folder")] {
        let (ok, report) = verify(&c, &package(layout), id, &[])?;
        assert_eq!(
            verdicts(&report),
            expected,
            "{layout}: {report}\n{}",
            c.logs()
        );
        assert!(ok, "{layout}: {report}");
        let scores: Vec<f64> = report["submissions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["score"].as_f64().unwrap_or(-1.0))
            .collect();
        // sample 1 + secret (g1 and g2, 10 per accepted test, by majority).
        assert_eq!(scores[..2], [61.0, 41.0], "{layout}: {report}");
        let job = job_of(&c, &report, "partially_accepted/misses_the_thirds.py").await?;
        let groups: Vec<(String, f64)> = job.groups[1]
            .groups
            .iter()
            .map(|g| (g.name.clone(), g.score))
            .collect();
        assert_eq!(
            groups,
            [
                ("secret/g1".to_string(), 20.0),
                ("secret/g2".to_string(), 20.0)
            ]
        );
    }

    // A grader that crashes, and one that prints garbage: a judge error with its words.
    let tmp = tempfile::tempdir()?;
    let mut admin = admin_client(&c.sched.url(), &c.admin).await?;
    let mut judge = c.judge().await?;
    let source = std::fs::read_to_string(package("graded").join("submissions/accepted/square.py"))?;
    for (id, grader, says) in [
        (
            "crashing-grader",
            "raise RuntimeError('grader bug')\n",
            "RuntimeError: grader bug",
        ),
        (
            "garbage-grader",
            "print('full marks!')\n",
            "the grader printed the verdict \"full\"",
        ),
    ] {
        let dir = copy_package("graded", tmp.path())?;
        std::fs::write(dir.join("graders/grade.py"), grader)?;
        judgectl::push::push(&mut admin, &dir, Some(id.into()), None).await?;
        std::fs::remove_dir_all(&dir)?;
        let job = submit(&mut judge, id, "python3", &source).await?;
        let job = wait_finished(&mut judge, job).await?;
        assert_eq!(
            (job.verdict(), job.score),
            (Verdict::Je, None),
            "{id}: {job:?}"
        );
        assert!(
            job.message.starts_with("group secret/g1: ") && job.message.contains(says),
            "{id}: {}",
            job.message
        );
    }
    Ok(())
}
