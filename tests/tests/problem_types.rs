//! Every problem a contest brings, on the real cluster: interactive problems in both package
//! layouts (each rule of the verdict with a submission of its own), a scoring problem with
//! nested groups, every grader flag and a validator that writes score.txt, `judgectl problem
//! verify` passing and failing, and packages refused at push with the file and key named.

use judge_common::pb::{self, Verdict};
use judge_tests::packages::{copy_package, package, verdicts, verify};
use judge_tests::*;
use serde_json::Value;

/// The problems the scheduler lists.
async fn problems(c: &Cluster) -> anyhow::Result<Vec<pb::ProblemInfo>> {
    let mut judge = c.judge().await?;
    let list = judge.list_problems(pb::ListProblemsRequest {}).await?;
    Ok(list.into_inner().problems)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactive_problems_in_both_layouts_follow_every_rule() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    c.add_worker("w", 4)?;
    c.wait_workers(1).await?;
    let expected = [
        ("accepted/binary.c", "AC"),
        ("accepted/binary.py", "AC"),
        ("run_time_error/crashes_first.c", "RTE"),
        ("time_limit_exceeded/never_flushes.c", "TLE"),
        ("time_limit_exceeded/spins.c", "TLE"),
        ("wrong_answer/linear.py", "WA"),
        ("wrong_answer/rejected_then_crashes.c", "WA"),
    ];
    for (layout, id) in [("guess", "guess"), ("guess_legacy", "guess-legacy")] {
        let (ok, report) = verify(&c, &package(layout), id, &[])?;
        let got = verdicts(&report);
        let want: Vec<(String, String)> = expected
            .iter()
            .map(|(f, v)| (f.to_string(), v.to_string()))
            .collect();
        assert_eq!(got, want, "{layout}: {report}\n{}", c.logs());
        assert!(ok && report["ok"] == true, "{layout}: {report}");
    }
    // An interactor that crashes is the judge's fault: the legacy one trusts its input to be
    // numbers, and this submission says something else.
    let mut judge = c.judge().await?;
    let garbage = "print(input() and 'hello', flush=True)\nimport sys\nsys.stdin.read()\n";
    let job = submit(&mut judge, "guess-legacy", "python3", garbage).await?;
    let job = wait_finished(&mut judge, job).await?;
    assert_eq!(job.verdict(), Verdict::Je, "{job:?}");
    assert!(job.message.contains("interactor"), "{}", job.message);
    // The careful interactor rejects the same words.
    let job = submit(&mut judge, "guess", "python3", garbage).await?;
    assert_eq!(wait_finished(&mut judge, job).await?.verdict(), Verdict::Wa);
    // The sample's .interaction file is kept with the package but is no test.
    let problems = problems(&c).await?;
    let guess = problems.iter().find(|p| p.id == "guess").unwrap();
    assert_eq!(
        (guess.test_count, guess.kind.as_str()),
        (5, "pass-fail interactive")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoring_problems_grade_groups_and_scores() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    c.add_worker("w", 3)?;
    c.wait_workers(1).await?;
    let (ok, report) = verify(&c, &package("subtasks"), "subtasks", &[])?;
    assert!(ok, "{report}\n{}", c.logs());
    assert_eq!(report["max_score"], 90.0, "{report}");
    let scores: Vec<(String, String, f64)> = report["submissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["file"].as_str().unwrap().to_string(),
                s["verdict"].as_str().unwrap().to_string(),
                s["score"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        scores,
        [
            ("accepted/double.py".into(), "AC".into(), 90.0),
            ("partially_accepted/small_only.py".into(), "AC".into(), 20.0),
            ("wrong_answer/triple.c".into(), "WA".into(), 0.0),
        ]
    );

    // The groups of the full solution, nested as the folders are, each with its flags'
    // verdict and score; tests carry their scores (the weighted ones from score.txt).
    let mut judge = c.judge().await?;
    let job = submit(
        &mut judge,
        "subtasks",
        "python3",
        "print(2 * int(input().split()[0]))\n",
    )
    .await?;
    let job = wait_finished(&mut judge, job).await?;
    assert_eq!((job.verdict(), job.score), (Verdict::Ac, Some(90.0)));
    let flat = |g: &pb::GroupResult| (g.name.clone(), g.verdict(), g.score);
    let top: Vec<_> = job.groups.iter().map(flat).collect();
    assert_eq!(
        top,
        [
            ("sample".into(), Verdict::Ac, 1.0),
            ("secret".into(), Verdict::Ac, 90.0)
        ]
    );
    let secret: Vec<_> = job.groups[1].groups.iter().map(flat).collect();
    assert_eq!(
        secret,
        [
            ("secret/g1".into(), Verdict::Ac, 20.0),
            ("secret/g2".into(), Verdict::Ac, 70.0)
        ]
    );
    let g2: Vec<_> = job.groups[1].groups[1].groups.iter().map(flat).collect();
    assert_eq!(
        g2,
        [
            ("secret/g2/big".into(), Verdict::Ac, 10.0),
            ("secret/g2/weighted".into(), Verdict::Ac, 60.0)
        ]
    );
    let test_scores: Vec<_> = job.tests.iter().map(|t| t.score).collect();
    assert_eq!(
        test_scores,
        [1.0, 20.0, 20.0, 10.0, 10.0, 60.0, 30.0].map(Some).to_vec()
    );

    // Watchers see each group close, and the score at the end.
    let evs = events(&mut judge, job.job_id).await?;
    let closed: Vec<String> = evs
        .iter()
        .filter_map(|e| match &e.event {
            Some(pb::job_event::Event::Group(g)) => Some(g.name.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        closed,
        [
            "sample",
            "secret/g1",
            "secret/g2/big",
            "secret/g2/weighted",
            "secret/g2",
            "secret"
        ]
    );

    // A validator that writes garbage to score.txt, or a score outside its group's range:
    // a judge error on that test, with the validator's words.
    for (said, why) in [
        ("lots", "score.txt holds \"lots\""),
        ("1000", "outside the range [0, 60]"),
    ] {
        let src = format!(
            "n = int(input().split()[0])\nprint(2 * n, '{said}' if n in (50, 20) else '')\n"
        );
        let job = submit(&mut judge, "subtasks", "python3", &src).await?;
        let job = wait_finished(&mut judge, job).await?;
        assert_eq!(job.verdict(), Verdict::Je, "{said}: {job:?}");
        assert_eq!(job.score, None);
        let bad = job
            .tests
            .iter()
            .find(|t| t.verdict() == Verdict::Je)
            .unwrap();
        assert_eq!(bad.name, "secret/g2/weighted/01");
        assert!(bad.message.contains(why), "{said}: {}", bad.message);
    }

    // judgectl get --json shows score and groups.
    let out = std::process::Command::new(bin("judgectl"))
        .args(["--scheduler", &c.sched.url(), "--token", &c.admin])
        .args(["get", "--json", &job.job_id.to_string()])
        .output()?;
    let v: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(v["score"], 90.0, "{v}");
    assert_eq!(v["groups"][1]["groups"][1]["name"], "secret/g2", "{v}");
    assert_eq!(
        v["groups"][1]["groups"][1]["groups"][1]["score"], 60.0,
        "{v}"
    );
    // A pass-fail problem has no score.
    let job = submit(
        &mut judge,
        "aplusb",
        "python3",
        "print(sum(map(int, input().split())))\n",
    )
    .await?;
    let job = wait_finished(&mut judge, job).await?;
    assert_eq!((job.score, job.groups.len()), (None, 0));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_fails_on_a_misfiled_submission_and_calibrates_a_time_limit() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    c.add_worker("w", 3)?;
    c.wait_workers(1).await?;
    let tmp = tempfile::tempdir()?;

    // A wrong submission filed as accepted: verify says so and exits non-zero.
    let dir = copy_package("subtasks", tmp.path())?;
    std::fs::rename(
        dir.join("submissions/wrong_answer/triple.c"),
        dir.join("submissions/accepted/triple.c"),
    )?;
    let (ok, report) = verify(&c, &dir, "misfiled", &[])?;
    assert!(!ok && report["ok"] == false, "{report}");
    let bad: Vec<&Value> = report["submissions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["ok"] == false)
        .collect();
    assert_eq!(bad.len(), 1, "{report}");
    assert_eq!(bad[0]["file"], "accepted/triple.c");

    // A legacy package that leaves the time limit to the judge: calibrated from the slowest
    // accepted run (times 5, rounded up to whole seconds), then verified with it.
    let dir = copy_package("guess_legacy", tmp.path())?;
    std::fs::remove_file(dir.join(".timelimit"))?;
    let (ok, report) = verify(&c, &dir, "calibrated", &["--calibrate"])?;
    assert!(ok, "{report}\n{}", c.logs());
    let limit = report["calibrated_time_limit"].as_f64().unwrap();
    let slowest = report["submissions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["expected"] == "AC")
        .filter_map(|s| s["max_time_ms"].as_f64())
        .fold(0.0, f64::max);
    assert!(
        limit >= 1.0 && limit >= (slowest * 5.0 / 1000.0).ceil(),
        "{report}"
    );
    let problems = problems(&c).await?;
    let p = problems.iter().find(|p| p.id == "calibrated").unwrap();
    assert_eq!(f64::from(p.time_limit_ms), limit * 1000.0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packages_that_contradict_themselves_are_refused_at_push() -> anyhow::Result<()> {
    let c = Cluster::start(&[]).await?;
    let mut admin = admin_client(&c.sched.url(), &c.admin).await?;
    let tmp = tempfile::tempdir()?;
    let cases: [(&str, &str, &str, &[&str]); 8] = [
        (
            "no-interactor",
            "problem.yaml",
            "type: interactive\n",
            &["problem.yaml", "interactor"],
        ),
        (
            "unknown-key",
            "data/secret/testdata.yaml",
            "on_rejct: continue\n",
            &["data/secret/testdata.yaml", "unknown key \"on_rejct\""],
        ),
        (
            "bad-value",
            "data/testdata.yaml",
            "accept_score: many\n",
            &["data/testdata.yaml", "accept_score", "not a number"],
        ),
        (
            "reversed",
            "data/secret/testdata.yaml",
            "range: 100 0\n",
            &["data/secret/testdata.yaml", "range", "reversed"],
        ),
        (
            "contradicting",
            "data/testdata.yaml",
            "grader_flags: first_error always_accept\n",
            &["data/testdata.yaml", "grader_flags", "contradict"],
        ),
        (
            "no-grader",
            "data/secret/testdata.yaml",
            "grading: custom\n",
            &["graders", "grading: custom in data/secret", "no grader"],
        ),
        (
            "multi-pass-alone",
            "problem.yaml",
            "type: multi-pass\n",
            &["problem.yaml", "multi-pass", "output validator"],
        ),
        (
            "one-pass",
            "problem.yaml",
            "limits:\n  validation_passes: 1\n",
            &["problem.yaml", "validation_passes", "only for a multi-pass"],
        ),
    ];
    for (id, file, text, says) in cases {
        let dir = tmp.path().join(id);
        std::fs::create_dir_all(dir.join("data/secret"))?;
        std::fs::write(dir.join("data/secret/1.in"), "1\n")?;
        std::fs::write(dir.join("data/secret/1.ans"), "2\n")?;
        if file != "problem.yaml" {
            std::fs::write(dir.join("problem.yaml"), "type: scoring\n")?;
        }
        std::fs::write(dir.join(file), text)?;
        let err = push(&mut admin, &dir, id, None)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("InvalidArgument"), "{id}: {err}");
        for s in says {
            assert!(err.contains(s), "{id}: {err:?} should name {s:?}");
        }
    }
    // Nothing refused was stored.
    let problems = problems(&c).await?;
    assert!(problems.iter().all(|p| p.id == "aplusb"), "{problems:?}");
    Ok(())
}
