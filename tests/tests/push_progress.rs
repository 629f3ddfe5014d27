//! `judgectl problem push` shows its progress on a terminal (files, bytes, rate, time left),
//! and nothing when its output is piped.

use std::process::Command;

use judge_tests::pty::PtyProc;
use judge_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_draws_progress_on_a_terminal_and_nothing_when_piped() -> anyhow::Result<()> {
    let c = Cluster::start(&[]).await?;
    // A package with 32 MiB of test data.
    let dir = c.dir.path().join("big");
    std::fs::create_dir_all(dir.join("data/secret"))?;
    std::fs::write(dir.join("data/secret/1.in"), vec![b'7'; 32 << 20])?;
    std::fs::write(dir.join("data/secret/1.ans"), "7\n")?;
    let push = |id: &str| {
        let mut cmd = Command::new(bin("judgectl"));
        cmd.args(["--scheduler", &c.sched.url(), "--token", &c.admin])
            .args(["problem", "push", "--id", id])
            .arg(&dir);
        cmd
    };
    let mut shown = PtyProc::spawn(push("big"))?;
    shown.expect("pushing file", WAIT)?;
    let status = shown.wait(WAIT)?;
    assert!(status.success(), "{}", shown.screen());
    let screen = shown.screen();
    assert!(screen.contains("MiB"), "{screen:?}");
    assert!(
        screen.contains("big"),
        "the id is printed at the end: {screen:?}"
    );

    let piped = push("big2").output()?;
    assert!(piped.status.success(), "{piped:?}");
    assert_eq!(String::from_utf8_lossy(&piped.stdout).trim(), "big2");
    let stderr = String::from_utf8_lossy(&piped.stderr);
    assert_eq!(
        stderr, "stored big2 version 1 with 1 tests\n",
        "no bar when piped"
    );
    Ok(())
}
