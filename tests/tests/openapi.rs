//! The OpenAPI document against the running API, checked by schemathesis (PyPI; `.ci/run`
//! installs it in a virtualenv and points `JUDGE_SCHEMATHESIS` at its `st`): generated
//! requests, valid and not, must get the statuses, content types and bodies the document
//! promises, and never a server error.

use judge_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_matches_the_api() -> anyhow::Result<()> {
    let st = std::env::var("JUDGE_SCHEMATHESIS").unwrap_or_else(|_| "st".into());
    if std::process::Command::new(&st)
        .arg("--version")
        .output()
        .is_err()
    {
        if std::env::var("JUDGE_REQUIRE_TOOLS").as_deref() == Ok("1") {
            anyhow::bail!("schemathesis ({st}) is not installed");
        }
        eprintln!("SKIPPED: schemathesis not installed");
        return Ok(());
    }
    let mut c = Cluster::start(&[]).await?;
    c.add_worker("w", 2)?;
    c.wait_workers(1).await?;
    let http = c.sched.http_addr.expect("http side");
    let out = tokio::process::Command::new(&st)
        .args(["run", &format!("http://{http}/api/v1/openapi.json")])
        .args(["--header", &format!("Authorization: Bearer {}", c.submitter)])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        .args(["--phases", "examples,coverage,fuzzing", "--max-examples", "15"])
        .args(["--workers", "1", "--warnings", "off"])
        .output()
        .await?;
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}\n{}", c.logs());
    Ok(())
}
