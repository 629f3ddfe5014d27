//! Judging against real packages: the default validator's flags end to end.

use judge_common::pb;
use judge_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validator_flags_from_problem_yaml_decide_the_verdict() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    let dir = c.dir.path().join("third");
    std::fs::create_dir_all(dir.join("data/secret"))?;
    std::fs::write(
        dir.join("problem.yaml"),
        "name: One third\nvalidator_flags: float_tolerance 1e-3\n",
    )?;
    std::fs::write(dir.join("data/secret/1.in"), "3\n")?;
    std::fs::write(dir.join("data/secret/1.ans"), "0.333333333\n")?;
    let mut admin = admin_client(&c.sched.url(), &c.admin).await?;
    push(&mut admin, &dir, "third", None).await?;
    c.add_worker("w", 1)?;
    let mut judge = c.judge().await?;
    let close = submit(
        &mut judge,
        "third",
        "python3",
        "n = int(input())\nprint(round(1 / n, 4))\n",
    )
    .await?;
    let far = submit(&mut judge, "third", "python3", "print(0.3)\n").await?;
    let word = submit(&mut judge, "third", "python3", "print('third')\n").await?;
    assert_eq!(
        wait_finished(&mut judge, close).await?.verdict,
        pb::Verdict::Ac as i32,
        "{}",
        c.logs()
    );
    let far = wait_finished(&mut judge, far).await?;
    assert_eq!(far.verdict, pb::Verdict::Wa as i32);
    assert!(
        far.tests[0].message.contains("too large"),
        "{:?}",
        far.tests[0].message
    );
    let word = wait_finished(&mut judge, word).await?;
    assert!(
        word.tests[0].message.contains("expected a number"),
        "{:?}",
        word.tests[0].message
    );

    // A typo in the flags is refused at push time, naming the file.
    std::fs::write(
        dir.join("problem.yaml"),
        "validator_flags: float_tolerence 1e-3\n",
    )?;
    let err = push(&mut admin, &dir, "third", None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("problem.yaml") && err.contains("float_tolerence"),
        "{err}"
    );
    Ok(())
}
