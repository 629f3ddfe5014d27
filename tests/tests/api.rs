//! Every RPC refuses bad input with a clear status and changes nothing; admission is bounded;
//! cancel works on queued and running jobs; reports on a stale session are refused.

use std::time::Duration;

use judge_common::pb;
use judge_tests::*;
use tonic::Code;

fn submit_req(problem: &str, language: &str, source: &[u8]) -> pb::SubmitRequest {
    pb::SubmitRequest {
        problem_id: problem.into(),
        language: language.into(),
        source: source.to_vec(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_rpcs_refuse_malformed_requests_and_change_nothing() -> anyhow::Result<()> {
    let c = Cluster::start(&["--max-source-bytes", "1000"]).await?;
    let mut j = c.judge().await?;

    assert_status(
        j.submit(submit_req("aplusb", "cobol", b"x")).await,
        Code::InvalidArgument,
        "known: c, cpp, java, python3, rust",
    );
    assert_status(
        j.submit(submit_req("aplusb", "python3", b"")).await,
        Code::InvalidArgument,
        "source is empty",
    );
    assert_status(
        j.submit(submit_req("aplusb", "python3", &[b'#'; 1001]))
            .await,
        Code::InvalidArgument,
        "limit is 1000 bytes",
    );
    assert_status(
        j.submit(submit_req("nope", "python3", b"x")).await,
        Code::NotFound,
        "problem \"nope\"",
    );
    assert_status(
        j.submit(submit_req("../etc", "python3", b"x")).await,
        Code::InvalidArgument,
        "problem id",
    );
    let mut bad_type = submit_req("aplusb", "python3", b"x");
    bad_type.job_type = "no spaces allowed".into();
    assert_status(j.submit(bad_type).await, Code::InvalidArgument, "job type");
    let jobs = j
        .list_jobs(pb::ListJobsRequest {
            limit: 10,
            ..Default::default()
        })
        .await?
        .into_inner()
        .jobs;
    assert!(jobs.is_empty(), "refused submissions left no job: {jobs:?}");

    assert_status(
        j.get_job(pb::GetJobRequest { job_id: 0 }).await,
        Code::InvalidArgument,
        "job_id",
    );
    assert_status(
        j.get_job(pb::GetJobRequest { job_id: 4242 }).await,
        Code::NotFound,
        "job 4242",
    );
    assert_status(
        j.watch_job(pb::WatchJobRequest {
            job_id: 0,
            after_seq: 0,
        })
        .await,
        Code::InvalidArgument,
        "job_id",
    );
    assert_status(
        j.watch_job(pb::WatchJobRequest {
            job_id: 4242,
            after_seq: 0,
        })
        .await,
        Code::NotFound,
        "job 4242",
    );
    assert_status(
        j.cancel_job(pb::CancelJobRequest { job_id: 0 }).await,
        Code::InvalidArgument,
        "job_id",
    );
    assert_status(
        j.cancel_job(pb::CancelJobRequest { job_id: 4242 }).await,
        Code::NotFound,
        "job 4242",
    );
    assert_status(
        j.list_jobs(pb::ListJobsRequest {
            limit: 0,
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
        "limit",
    );
    assert_status(
        j.list_jobs(pb::ListJobsRequest {
            limit: 5000,
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
        "limit",
    );
    // ListWorkers and ListProblems take no arguments; their bad input is a bad token (auth.rs).
    assert!(j
        .list_workers(pb::ListWorkersRequest {})
        .await?
        .into_inner()
        .workers
        .is_empty());

    let mut admin = admin_client(&c.sched.url(), &c.admin).await?;
    assert_status(
        admin
            .drain_worker(pb::DrainWorkerRequest {
                name: String::new(),
            })
            .await,
        Code::InvalidArgument,
        "worker name",
    );
    assert_status(
        admin
            .drain_worker(pb::DrainWorkerRequest {
                name: "ghost".into(),
            })
            .await,
        Code::NotFound,
        "ghost",
    );
    Ok(())
}

fn file(path: &str, data: &[u8], last: bool) -> pb::PushProblemRequest {
    pb::PushProblemRequest {
        item: Some(pb::push_problem_request::Item::File(pb::FileData {
            path: path.into(),
            data: data.to_vec().into(),
            last,
        })),
    }
}

fn header(id: &str) -> pb::PushProblemRequest {
    pb::PushProblemRequest {
        item: Some(pb::push_problem_request::Item::Header(pb::ProblemHeader {
            id: id.into(),
            time_limit_seconds: None,
        })),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_problem_uploads_are_refused_and_store_nothing() -> anyhow::Result<()> {
    let c = Cluster::start(&[]).await?;
    let admin = admin_client(&c.sched.url(), &c.admin).await?;
    let push = |msgs: Vec<pb::PushProblemRequest>| {
        let mut admin = admin.clone();
        async move { admin.push_problem(tokio_stream::iter(msgs)).await }
    };
    assert_status(
        push(vec![file("a.in", b"1", true)]).await,
        Code::InvalidArgument,
        "first message must be the header",
    );
    assert_status(
        push(vec![header("p"), file("../a.in", b"1", true)]).await,
        Code::InvalidArgument,
        "bad path",
    );
    assert_status(
        push(vec![header("bad id!")]).await,
        Code::InvalidArgument,
        "problem id",
    );
    assert_status(
        push(vec![header("p"), file("data/secret/1.in", b"1", true)]).await,
        Code::InvalidArgument,
        "data/secret/1.in: test input has no matching .ans",
    );
    assert_status(
        push(vec![
            header("p"),
            file("problem.yaml", b"limits: [", true),
            file("data/secret/1.in", b"1", true),
            file("data/secret/1.ans", b"1", true),
        ])
        .await,
        Code::InvalidArgument,
        "problem.yaml",
    );
    assert_status(
        push(vec![
            header("p"),
            file("data/secret/1.in", b"1", false),
            file("data/secret/1.ans", b"1", true),
        ])
        .await,
        Code::InvalidArgument,
        "not finished",
    );
    let mut j = c.judge().await?;
    let problems = j
        .list_problems(pb::ListProblemsRequest {})
        .await?
        .into_inner()
        .problems;
    assert_eq!(
        problems.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        ["aplusb"],
        "nothing new stored"
    );
    let staged = std::fs::read_dir(c.sched.data_dir.join("blobs/tmp"))?.count();
    assert_eq!(staged, 0, "refused uploads leave no staged files");

    // A good push makes a new version; queued jobs keep theirs.
    push(vec![
        header("p"),
        file("data/secret/1.in", b"1 2\n", true),
        file("data/secret/1.ans", b"3\n", true),
    ])
    .await?;
    let r = push(vec![
        header("p"),
        file("data/secret/1.in", b"2 2\n", true),
        file("data/secret/1.ans", b"4\n", true),
    ])
    .await?;
    assert_eq!(r.into_inner().version, 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_rpcs_refuse_malformed_requests() -> anyhow::Result<()> {
    let c = Cluster::start(&[]).await?;
    let mut w = worker_client(&c.sched.url(), &c.worker_token).await?;
    let good = pb::ConnectRequest {
        name: "fake".into(),
        slots: 1,
        job_types: vec!["judge".into()],
        languages: vec![pb::LanguageInfo {
            id: "python3".into(),
            version: "3".into(),
        }],
        ..Default::default()
    };
    assert_status(
        w.connect(pb::ConnectRequest {
            slots: 0,
            ..good.clone()
        })
        .await,
        Code::InvalidArgument,
        "slots",
    );
    assert_status(
        w.connect(pb::ConnectRequest {
            name: String::new(),
            ..good.clone()
        })
        .await,
        Code::InvalidArgument,
        "worker name",
    );
    assert_status(
        w.connect(pb::ConnectRequest {
            languages: vec![],
            ..good.clone()
        })
        .await,
        Code::InvalidArgument,
        "languages",
    );
    assert_status(
        w.connect(pb::ConnectRequest {
            job_types: vec![],
            ..good.clone()
        })
        .await,
        Code::InvalidArgument,
        "job_types",
    );

    assert_status(
        w.fetch_file(pb::FetchFileRequest {
            sha256: "xyz".into(),
            offset: 0,
        })
        .await,
        Code::InvalidArgument,
        "SHA-256",
    );
    assert_status(
        w.fetch_file(pb::FetchFileRequest {
            sha256: "a".repeat(64),
            offset: 0,
        })
        .await,
        Code::NotFound,
        "no file",
    );
    // A real blob: the first test's input of aplusb ("1 2\n"), asked past its end.
    let input = std::fs::read(example_problem("aplusb").join("data/sample/1.in"))?;
    let sha = sha256_hex(&input);
    assert_status(
        w.fetch_file(pb::FetchFileRequest {
            sha256: sha.clone(),
            offset: 99,
        })
        .await,
        Code::OutOfRange,
        "past the end",
    );
    let mut s = w
        .fetch_file(pb::FetchFileRequest {
            sha256: sha,
            offset: 2,
        })
        .await?
        .into_inner();
    let chunk = s.message().await?.expect("a chunk");
    assert_eq!(
        (chunk.offset, &chunk.data[..]),
        (2, &b"2\n"[..]),
        "resumes from the offset"
    );

    // Reports: unknown session, empty report, a session switch mid-stream.
    let report = |session: &str, r: Option<pb::worker_report::Report>| pb::WorkerReport {
        session_id: session.to_string(),
        report: r,
    };
    let resources = Some(pb::worker_report::Report::Resources(
        pb::ResourceUsage::default(),
    ));
    assert_status(
        w.report(tokio_stream::iter(vec![report(
            "0123456789abcdef0123456789abcdef",
            resources.clone(),
        )]))
        .await,
        Code::FailedPrecondition,
        "unknown or stale session",
    );

    let mut feed = w.connect(good.clone()).await?.into_inner();
    let Some(pb::WorkerCommand {
        command: Some(pb::worker_command::Command::Welcome(first)),
    }) = feed.message().await?
    else {
        panic!("first command is Welcome");
    };
    assert_status(
        w.report(tokio_stream::iter(vec![report(&first.session_id, None)]))
            .await,
        Code::InvalidArgument,
        "no content",
    );
    assert_status(
        w.report(tokio_stream::iter(vec![
            report(&first.session_id, resources.clone()),
            report("another", resources.clone()),
        ]))
        .await,
        Code::InvalidArgument,
        "another session",
    );
    // A second connection with the same name replaces the first: its session is now stale.
    let mut feed2 = w.connect(good).await?.into_inner();
    let _welcome2 = feed2.message().await?;
    let end = tokio::time::timeout(Duration::from_secs(10), feed.message()).await?;
    assert!(
        end.is_err() || matches!(end, Ok(None)),
        "the replaced feed ends: {end:?}"
    );
    assert_status(
        w.report(tokio_stream::iter(vec![report(
            &first.session_id,
            resources,
        )]))
        .await,
        Code::FailedPrecondition,
        "stale session",
    );
    Ok(())
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_says_resource_exhausted_and_keeps_what_it_accepted() -> anyhow::Result<()> {
    let mut c = Cluster::start(&["--max-queued", "2"]).await?;
    let mut j = c.judge().await?;
    let a = submit(&mut j, "aplusb", "python3", AC_PY).await?;
    let b = submit(&mut j, "aplusb", "python3", AC_PY).await?;
    assert_status(
        j.submit(submit_req("aplusb", "python3", AC_PY.as_bytes()))
            .await,
        Code::ResourceExhausted,
        "queue is full",
    );
    c.add_worker("w1", 2)?;
    for id in [a, b] {
        let job = wait_finished(&mut j, id).await?;
        assert_eq!(job.verdict, pb::Verdict::Ac as i32);
    }
    // Room again.
    submit(&mut j, "aplusb", "python3", AC_PY).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_queued_and_running_jobs() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    let mut j = c.judge().await?;
    // Queued: no worker yet, so it ends at once.
    let queued = submit(&mut j, "aplusb", "python3", AC_PY).await?;
    let r = j
        .cancel_job(pb::CancelJobRequest { job_id: queued })
        .await?
        .into_inner();
    assert_eq!(r.state, pb::JobState::Cancelled as i32);
    assert_eq!(
        j.get_job(pb::GetJobRequest { job_id: queued })
            .await?
            .into_inner()
            .state,
        pb::JobState::Cancelled as i32
    );

    // Running: the worker is told and confirms.
    c.add_worker("w1", 1)?;
    let running = start_slow(&mut j, 30.0).await?;
    let r = j
        .cancel_job(pb::CancelJobRequest { job_id: running })
        .await?
        .into_inner();
    assert_eq!(
        r.state,
        pb::JobState::Running as i32,
        "still running while the worker stops it"
    );
    let job = wait_finished(&mut j, running).await?;
    assert_eq!(job.state, pb::JobState::Cancelled as i32);
    assert_status(
        j.cancel_job(pb::CancelJobRequest { job_id: running }).await,
        Code::FailedPrecondition,
        "already finished",
    );
    // The slot is free again.
    let next = submit(&mut j, "aplusb", "python3", AC_PY).await?;
    assert_eq!(
        wait_finished(&mut j, next).await?.verdict,
        pb::Verdict::Ac as i32
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_languages_some_worker_offered_are_accepted_even_after_a_restart() -> anyhow::Result<()>
{
    let mut c = Cluster::start(&[]).await?;
    let mut j = c.judge().await?;
    assert_status(
        j.submit(submit_req("aplusb", "kotlin", b"x")).await,
        Code::InvalidArgument,
        "offered language \"kotlin\"",
    );
    // A worker offering kotlin connects (and leaves): kotlin is known from then on.
    let mut w = worker_client(&c.sched.url(), &c.worker_token).await?;
    let hello = pb::ConnectRequest {
        name: "kt".into(),
        slots: 1,
        job_types: vec!["judge".into()],
        languages: vec![pb::LanguageInfo {
            id: "kotlin".into(),
            version: "2.0".into(),
        }],
        ..Default::default()
    };
    let mut feed = w.connect(hello).await?.into_inner();
    feed.message().await?;
    drop(feed);
    submit(&mut j, "aplusb", "kotlin", "fun main() {}").await?;
    let data = c.sched.data_dir.clone();
    c.sched.kill().await;
    c.sched = SchedulerProc::start(&data, &[]).await?;
    let mut j = c.judge().await?;
    submit(&mut j, "aplusb", "kotlin", "fun main() {}").await?;
    Ok(())
}
