//! Tokens: missing, bad, revoked and wrong-role tokens are refused; revoking a worker's token
//! disconnects it at once.

use judge_common::pb;
use judge_tests::*;
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_and_wrong_role_tokens_are_refused() -> anyhow::Result<()> {
    let c = Cluster::start(&[]).await?;
    let url = c.sched.url();

    // No token at all.
    let channel = tonic::transport::Endpoint::from_shared(url.clone())?
        .connect()
        .await?;
    let mut bare = pb::judge_service_client::JudgeServiceClient::new(channel);
    let err = bare
        .list_jobs(pb::ListJobsRequest {
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert!(err.message().contains("missing token"), "{}", err.message());

    // Garbage, and a well-formed token with a wrong secret.
    for bad in [
        "nonsense",
        &format!("{}x", c.submitter),
        &c.submitter.replace('_', "_0"),
    ] {
        let mut j = judge_client(&url, bad).await?;
        let err = j
            .list_jobs(pb::ListJobsRequest {
                limit: 1,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated, "token {bad:?}");
    }

    // A worker token reaches only the worker service.
    let mut as_worker = judge_client(&url, &c.worker_token).await?;
    let err = as_worker
        .submit(pb::SubmitRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    // A submitter cannot push problems or act as a worker.
    let mut admin_as_student = admin_client(&url, &c.submitter).await?;
    let err = admin_as_student
        .drain_worker(pb::DrainWorkerRequest { name: "w".into() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let mut worker_as_student = worker_client(&url, &c.submitter).await?;
    let err = worker_as_student
        .fetch_file(pb::FetchFileRequest {
            sha256: "0".repeat(64),
            offset: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    // The submitter may submit and read.
    let mut student = judge_client(&url, &c.submitter).await?;
    let id = submit(&mut student, "aplusb", "python3", AC_PY).await?;
    student.get_job(pb::GetJobRequest { job_id: id }).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_worker_token_disconnects_the_worker_at_once() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    c.add_worker("w1", 1)?;
    c.wait_workers(1).await?;
    let data = c.sched.data_dir.clone();
    let out = std::process::Command::new(bin("judge-scheduler"))
        .args(["token", "revoke", "workers", "--data-dir"])
        .arg(&data)
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let judge = c.judge().await?;
    workers_where(
        &judge,
        "the worker to be disconnected",
        std::time::Duration::from_secs(10),
        |l| l.iter().all(|w| !w.connected),
    )
    .await?;
    // Its reconnects are refused, and its token opens nothing any more.
    let mut w = worker_client(&c.sched.url(), &c.worker_token).await?;
    let err = w.connect(pb::ConnectRequest::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let listed = std::process::Command::new(bin("judge-scheduler"))
        .args(["token", "list", "--data-dir"])
        .arg(&data)
        .output()?;
    let text = String::from_utf8(listed.stdout)?;
    assert!(
        text.lines()
            .any(|l| l.starts_with("workers") && l.contains("revoked")),
        "{text}"
    );
    assert!(!text.contains("jdg_"), "token list never shows secrets");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_commands_refuse_bad_input() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let run = |args: &[&str]| {
        std::process::Command::new(bin("judge-scheduler"))
            .args(args)
            .arg("--data-dir")
            .arg(dir.path())
            .output()
    };
    let out = run(&["token", "create", "--role", "root", "--name", "x"])?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown role"));
    assert!(run(&["token", "create", "--role", "admin", "--name", "x"])?
        .status
        .success());
    let out = run(&["token", "create", "--role", "admin", "--name", "x"])?;
    assert!(!out.status.success(), "duplicate names are refused");
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    let out = run(&["token", "revoke", "nobody"])?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
    Ok(())
}
