//! Hostile submissions against the real worker's sandbox: what they look for is not there.

use judge_common::pb::Verdict;
use judge_tests::*;

/// Every file under `dir`.
fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.display().to_string());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submission_finds_neither_the_answers_nor_the_workers_files_nor_its_token(
) -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    c.add_worker("w", 1)?;
    let mut judge = c.judge().await?;
    // A first job fills the worker's cache with the problem's inputs and answers.
    let solve = "a, b = map(int, input().split())\nprint(a + b)\n";
    let warm = submit(&mut judge, "aplusb", "python3", solve).await?;
    assert_eq!(
        wait_finished(&mut judge, warm).await?.verdict,
        Verdict::Ac as i32
    );

    let worker_files = files_under(&c.dir.path().join("work-w"));
    assert!(
        worker_files.iter().any(|f| f.contains("/cache/")),
        "the answers are in the cache: {worker_files:?}"
    );
    // It prints the right sum only if it finds nothing; else what it found.
    let cheat = format!(
        r#"import os
a, b = map(int, input().split())
found = [p for p in {worker_files:?} + [{work:?}, {data:?}] if os.path.exists(p)]
for pid in filter(str.isdigit, os.listdir('/proc')):
    try:
        text = open(f'/proc/{{pid}}/cmdline').read() + open(f'/proc/{{pid}}/environ').read()
    except OSError:
        continue
    if {token:?} in text:
        found.append('the token, in /proc/' + pid)
found += [k for k, v in os.environ.items() if {token:?} in v]
print(a + b if not found else 'FOUND ' + ' '.join(found))
"#,
        work = c.dir.path().join("work-w").display().to_string(),
        data = c.dir.path().join("data").display().to_string(),
        token = c.worker_token,
    );
    let job = submit(&mut judge, "aplusb", "python3", &cheat).await?;
    let job = wait_finished(&mut judge, job).await?;
    assert_eq!(job.verdict, Verdict::Ac as i32, "{}\n{job:?}", c.logs());
    Ok(())
}
