//! The dashboard in headless Chromium (Debian's `chromium`, driven by `playwright-core`
//! from npm; `.ci/run` installs both): `tests/browser/dashboard.mjs` signs in, sees the
//! worker, submits from the form and watches the verdict arrive without a reload, sees the
//! judgings of a job the teacher had judged again, finds
//! another student's job refused, shows hostile compiler output and program output as
//! text, and fits a phone. Screenshots of each page are kept in `target/screenshots/`.

use judge_common::pb;
use judge_tests::*;

/// A run job of `source`, finished; its id.
async fn finished_run(c: &Cluster, language: &str, source: &str) -> anyhow::Result<u64> {
    let mut j = judge_client(&c.sched.url(), &c.admin).await?;
    let req = pb::SubmitRequest {
        language: language.into(),
        source: source.as_bytes().to_vec(),
        job_type: "run".into(),
        ..Default::default()
    };
    let id = j.submit(req).await?.into_inner().job_id;
    wait_finished(&mut j, id).await?;
    Ok(id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_a_browser() -> anyhow::Result<()> {
    if !browser_ready()? {
        return Ok(());
    }
    let mut c = Cluster::start(&[]).await?;
    c.add_worker("w", 2)?;
    c.wait_workers(1).await?;
    let (other, _) = c.another_submitter("bob").await?;
    let hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>";
    let ce = finished_run(
        &c,
        "c",
        &format!("#error {hostile}\nint main(void) {{ return 0; }}\n"),
    )
    .await?;
    let out = finished_run(&c, "python3", &format!("print({hostile:?})\n")).await?;
    let http = c.sched.http_addr.expect("http side");
    let shots = workspace().join("target/screenshots");
    std::fs::create_dir_all(&shots)?;
    let run = tokio::process::Command::new("node")
        .arg(workspace().join("tests/browser/dashboard.mjs"))
        .arg(format!("http://{http}"))
        .args([&c.admin, &c.submitter, &other, &format!("{ce},{out}")])
        .arg(&shots)
        .output()
        .await?;
    assert!(
        run.status.success(),
        "{}\n{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr),
        c.logs()
    );
    for page in [
        "signin",
        "fleet",
        "problems",
        "submit",
        "job",
        "jobs",
        "rejudged",
        "hostile-0",
        "hostile-1",
        "phone",
    ] {
        let png = shots.join(format!("{page}.png"));
        assert!(
            std::fs::metadata(&png)?.len() > 1000,
            "{} is empty",
            png.display()
        );
    }
    Ok(())
}
