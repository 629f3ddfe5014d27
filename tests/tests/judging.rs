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

fn write(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, text)?;
    Ok(())
}

const DIVISOR_VALIDATOR: &str = r#"import sys
n = int(open(sys.argv[1]).read())
feedback = sys.argv[3]
try:
    d = int(sys.stdin.read().split()[0])
except Exception:
    open(feedback + "/judgemessage.txt", "w").write("no number in the output")
    sys.exit(43)
if 1 < d < n and n % d == 0:
    sys.exit(42)
open(feedback + "/judgemessage.txt", "w").write(f"{d} is not a proper divisor of {n}")
sys.exit(43)
"#;

const SAME_CPP: &str = r#"#include <fstream>
#include <iostream>
#include <string>
int main(int argc, char **argv) {
    std::ifstream ans(argv[2]);
    std::string want, got;
    ans >> want;
    std::cin >> got;
    std::ofstream msg(std::string(argv[3]) + "/judgemessage.txt");
    if (want == got) { msg << "ok"; return 42; }
    msg << "wanted " << want << " got " << got;
    return 43;
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_validators_judge_and_their_failures_are_judge_errors() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    let root = c.dir.path().join("pkgs");
    // 2023-07 layout, Python validator: any proper divisor is right.
    let div = root.join("divisor");
    write(&div.join("data/secret/1.in"), "91\n")?;
    write(&div.join("data/secret/1.ans"), "7\n")?;
    write(&div.join("output_validator/validate.py"), DIVISOR_VALIDATOR)?;
    // Legacy layout, C++ validator.
    let same = root.join("same");
    write(&same.join("problem.yaml"), "validation: custom\n")?;
    write(&same.join("data/secret/1.in"), "x\n")?;
    write(&same.join("data/secret/1.ans"), "hello\n")?;
    write(&same.join("output_validators/check/check.cpp"), SAME_CPP)?;
    // A validator that crashes.
    let broken = root.join("broken");
    write(&broken.join("data/secret/1.in"), "1\n")?;
    write(&broken.join("data/secret/1.ans"), "1\n")?;
    write(
        &broken.join("output_validator/validate.py"),
        "raise SystemExit(1)\n",
    )?;
    let mut admin = admin_client(&c.sched.url(), &c.admin).await?;
    for (dir, id) in [(&div, "divisor"), (&same, "same"), (&broken, "broken")] {
        push(&mut admin, dir, id, None).await?;
    }
    c.add_worker("w", 2)?;
    let mut j = c.judge().await?;
    let cases = [
        ("divisor", "print(13)\n", pb::Verdict::Ac, ""),
        (
            "divisor",
            "print(1)\n",
            pb::Verdict::Wa,
            "1 is not a proper divisor of 91",
        ),
        ("same", "print('hello')\n", pb::Verdict::Ac, "ok"),
        (
            "same",
            "print('bye')\n",
            pb::Verdict::Wa,
            "wanted hello got bye",
        ),
        ("same", "print('hello')\n", pb::Verdict::Ac, "ok"),
    ];
    let mut before_last = std::time::SystemTime::now();
    for (i, (problem, src, want, message)) in cases.into_iter().enumerate() {
        if i == cases.len() - 1 {
            before_last = std::time::SystemTime::now();
        }
        let id = submit(&mut j, problem, "python3", src).await?;
        let job = wait_finished(&mut j, id).await?;
        assert_eq!(
            job.verdict,
            want as i32,
            "{problem} {src:?}: {job:?}\n{}",
            c.logs()
        );
        // judgemessage.txt is kept with the result, the run's figures after it.
        let said = &job.tests[0].message;
        let figures = said.lines().last().unwrap_or_default();
        assert!(
            figures.starts_with("time ") && figures.contains("exit code 0"),
            "{said}"
        );
        let words = said.strip_suffix(figures).unwrap_or_default().trim_end();
        assert_eq!(words, message, "{said}");
    }
    // Built once and kept: one binary, not rebuilt for the last job of the same problem.
    let built: Vec<_> = std::fs::read_dir(c.dir.path().join("work-w/validators"))?
        .filter_map(|e| Some(e.ok()?.path().join("program")))
        .filter(|p| p.exists())
        .collect();
    assert_eq!(built.len(), 1, "{built:?}");
    assert!(std::fs::metadata(&built[0])?.modified()? < before_last);
    let id = submit(&mut j, "broken", "python3", "print(1)\n").await?;
    let job = wait_finished(&mut j, id).await?;
    assert_eq!(
        job.verdict,
        pb::Verdict::Je as i32,
        "a crashing validator is the judge's fault: {job:?}"
    );
    assert!(job.message.contains("validator"), "{}", job.message);
    Ok(())
}

/// A compiler that writes past the worker's bound on a job's files (a 200 MB binary from one
/// initialised array) gets a compile error that says so, and the worker judges on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compile_that_writes_past_the_job_disk_bound_is_a_compile_error() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    let url = c.sched.url();
    c.add_worker_with(&url, "w", 1, &["--job-disk-mib", "64"])?;
    c.wait_workers(1).await?;
    let mut judge = c.judge().await?;
    let huge = "char big[200 << 20] = {1};\nint main(void) { return big[5] - 1; }\n";
    let id = submit(&mut judge, "aplusb", "c", huge).await?;
    let job = wait_finished(&mut judge, id).await?;
    assert_eq!(job.verdict, pb::Verdict::Ce as i32, "{job:?}\n{}", c.logs());
    // The assembler is stopped at the bound (RLIMIT_FSIZE) and gcc says so; a compiler that
    // leaves its files behind is told by the worker (`--job-disk-mib`).
    assert!(
        job.message.contains("File size limit exceeded") || job.message.contains("--job-disk-mib"),
        "{}",
        job.message
    );
    // The same worker still judges a normal submission.
    let ok = submit(&mut judge, "aplusb", "python3", AC_PY).await?;
    assert_eq!(
        wait_finished(&mut judge, ok).await?.verdict,
        pb::Verdict::Ac as i32
    );
    Ok(())
}
