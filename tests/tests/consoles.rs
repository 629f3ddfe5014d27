//! Consoles on the real cluster, driven through judgectl on a real pseudo-terminal as a
//! person at a keyboard would: a prompt before a newline, a name typed and answered, Ctrl-C
//! and Ctrl-D reaching the program, the local terminal restored; piped input; a client or a
//! worker killed mid-session; idle and wall limits; many consoles at once; a client that
//! never reads; bad messages refused by name.

use std::process::Command;
use std::time::Duration;

use judge_common::pb;
use judge_tests::pty::PtyProc;
use judge_tests::*;

const SCREEN: Duration = Duration::from_secs(60);

/// `judgectl console` for `source` (a file of `name`), on a terminal.
fn console(c: &Cluster, name: &str, language: &str, source: &str) -> anyhow::Result<PtyProc> {
    let file = c.dir.path().join(name);
    std::fs::write(&file, source)?;
    let mut cmd = Command::new(bin("judgectl"));
    cmd.args(["--scheduler", &c.sched.url(), "--token", &c.submitter])
        .args(["console", "--language", language])
        .arg(&file);
    PtyProc::spawn(cmd)
}

const GREET_PY: &str = r#"
import sys
sys.stdout.write("name? ")
sys.stdout.flush()
name = sys.stdin.readline().strip()
print("hello, " + name)
rest = sys.stdin.read()
print("then %d more lines; bye" % rest.count("\n"))
sys.exit(7)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_types_to_a_program_and_gets_its_answers() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    c.add_worker("w", 2)?;
    c.wait_workers(1).await?;
    let mut p = console(&c, "greet.py", "python3", GREET_PY)?;
    // The prompt shows before any newline.
    p.expect("name? ", SCREEN)
        .map_err(|e| anyhow::anyhow!("{e}\n{}", c.logs()))?;
    assert!(
        !p.cooked()?,
        "the local terminal is raw while the console runs"
    );
    p.send(b"Ada\r")?;
    p.expect("hello, Ada", SCREEN)?;
    p.send(b"one\rtwo\r")?;
    // Ctrl-D: end of input.
    p.send(&[0x04])?;
    p.expect("then 2 more lines; bye", SCREEN)?;
    let status = p.wait(SCREEN)?;
    assert_eq!(status.code(), Some(7), "{}", p.screen());
    assert!(p.cooked()?, "the local terminal is restored");
    // Typed keys were echoed by the program's terminal, as at a local one.
    assert!(p.screen().contains("Ada"), "{}", p.screen());
    Ok(())
}
