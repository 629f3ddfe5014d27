//! What a student's program prints reaches another person's terminal through judgectl as
//! text, not as commands: driven through a real pseudo-terminal, an OSC 52 clipboard write,
//! a title change, a screen clear and a line forged with a carriage return are all shown as
//! visible characters; `--raw` passes the bytes; piped output is kept byte for byte.

use std::process::Command;

use judge_tests::pty::PtyProc;
use judge_tests::*;

/// Prints terminal commands on stdout and stderr, then a forged verdict over its own line.
const HOSTILE_PY: &str = r#"
import sys
sys.stdout.write("A\x1b]52;c;cm0gLXJmIH4=\x07\x1b]0;pwned\x07\x1b[2J\x1b[H")
sys.stdout.write("WA\rverdict: AC\n")
sys.stderr.write("E\x1b[31mred\n")
"#;

fn judgectl(c: &Cluster, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin("judgectl"));
    cmd.args(["--scheduler", &c.sched.url(), "--token", &c.submitter])
        .args(args);
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_output_cannot_drive_the_readers_terminal() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    c.add_worker("w1", 1)?;
    c.wait_workers(1).await?;
    let file = c.dir.path().join("hostile.py");
    std::fs::write(&file, HOSTILE_PY)?;
    let path = file.display().to_string();

    let mut run = PtyProc::spawn(judgectl(&c, &["run", "--language", "python3", &path]))?;
    run.expect("verdict: AC", WAIT)?;
    run.wait(WAIT)?;
    let screen = run.screen();
    assert!(
        !screen.contains('\x1b'),
        "an escape reached the terminal: {screen:?}"
    );
    assert!(
        !screen.contains('\x07'),
        "a bell reached the terminal: {screen:?}"
    );
    assert!(screen.contains("A^[]52;c;cm0gLXJmIH4=^G"), "{screen:?}");
    assert!(screen.contains("WA^Mverdict: AC"), "{screen:?}");
    assert!(screen.contains("E^[[31mred"), "{screen:?}");

    // The job as `get` shows it is made visible too.
    let out = judgectl(&c, &["jobs", "--json"]).output()?;
    let jobs: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let id = jobs[0]["job_id"].as_u64().unwrap_or_default().to_string();
    let mut get = PtyProc::spawn(judgectl(&c, &["get", &id]))?;
    get.expect("--- stdout", WAIT)?;
    get.wait(WAIT)?;
    let screen = get.screen();
    assert!(!screen.contains('\x1b'), "{screen:?}");
    assert!(screen.contains("^[]0;pwned^G"), "{screen:?}");

    // --raw passes the bytes to whoever asked for them.
    let mut raw = PtyProc::spawn(judgectl(
        &c,
        &["--raw", "run", "--language", "python3", &path],
    ))?;
    raw.expect("verdict: AC", WAIT)?;
    raw.wait(WAIT)?;
    assert!(raw.screen().contains("\x1b]52;c;"), "{:?}", raw.screen());

    // Piped output is the program's own, byte for byte, as `judgectl run` promises.
    let piped = judgectl(&c, &["run", "--language", "python3", &path]).output()?;
    let stdout = String::from_utf8_lossy(&piped.stdout);
    assert!(stdout.starts_with("A\x1b]52;c;"), "{stdout:?}");
    assert!(stdout.ends_with("WA\rverdict: AC\n"), "{stdout:?}");
    Ok(())
}
