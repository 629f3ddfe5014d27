//! The scheduler's HTTP side on the real cluster, through curl as a web client would call
//! it: every JSON API route and its errors, ownership between two students, Server-Sent
//! Events resumed with Last-Event-ID, metrics after a few jobs, health, CORS, the
//! dashboard's page and its headers, and gRPC and HTTP agreeing on a job.

use std::process::Command;

use judge_common::pb;
use judge_tests::curl::{curl, post_json, Reply};
use judge_tests::*;
use serde_json::json;

const AC_PY: &str = "a, b = map(int, input().split())\nprint(a + b)\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_api_does_what_grpc_does_with_the_same_rules() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    c.add_worker("w", 2)?;
    c.wait_workers(1).await?;
    let other = token(&c.dir.path().join("data"), "submitter", "bob")?;
    // Picked up by the scheduler's next token refresh.
    eventually("bob's token works", WAIT, || async {
        (curl(&c, "GET", "/api/v1/problems", Some(&other), &[]).status == 200).then_some(())
    })
    .await?;

    // Submit, then the same job through HTTP and gRPC.
    let r = post_json(
        &c,
        "/api/v1/jobs",
        &c.submitter,
        &json!({"problem": "aplusb", "language": "python3", "source": AC_PY}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["job_id"].as_u64().expect("job id");
    let mut j = judge_client(&c.sched.url(), &c.submitter).await?;
    let grpc = wait_finished(&mut j, id).await?;
    let got = curl(
        &c,
        "GET",
        &format!("/api/v1/jobs/{id}"),
        Some(&c.submitter),
        &[],
    );
    assert_eq!(got.status, 200);
    let job = got.json();
    assert_eq!(
        job,
        judge_common::json::job_json(&grpc),
        "HTTP and judgectl --json agree"
    );
    assert_eq!(job["verdict"], "AC");

    // A run job with stdin.
    let r = post_json(
        &c,
        "/api/v1/jobs",
        &c.submitter,
        &json!({"job_type": "run", "language": "python3", "source": "print(input()[::-1])",
                "stdin": "olleh\n", "limits": {"time_limit_ms": 1000}}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let run_id = r.json()["job_id"].as_u64().unwrap_or_default();
    wait_finished(&mut j, run_id).await?;
    let run = curl(
        &c,
        "GET",
        &format!("/api/v1/jobs/{run_id}"),
        Some(&c.submitter),
        &[],
    )
    .json();
    assert_eq!(run["run"]["stdout"], "hello\n", "{run}");

    // Events as SSE: all of them, then resumed after the third.
    let sse = curl(
        &c,
        "GET",
        &format!("/api/v1/jobs/{id}/events"),
        Some(&c.submitter),
        &["-N"],
    );
    assert_eq!(sse.status, 200);
    assert!(
        sse.headers.contains("content-type: text/event-stream"),
        "{}",
        sse.headers
    );
    let ids: Vec<u64> = sse
        .body
        .lines()
        .filter_map(|l| l.strip_prefix("id: ").and_then(|v| v.parse().ok()))
        .collect();
    assert!(ids.len() >= 4 && ids[0] == 1, "{}", sse.body);
    assert!(sse.body.contains("event: finished"), "{}", sse.body);
    let resumed = curl(
        &c,
        "GET",
        &format!("/api/v1/jobs/{id}/events"),
        Some(&c.submitter),
        &["-N", "-H", "Last-Event-ID: 3"],
    );
    let again: Vec<u64> = resumed
        .body
        .lines()
        .filter_map(|l| l.strip_prefix("id: ").and_then(|v| v.parse().ok()))
        .collect();
    assert_eq!(again, ids[3..].to_vec(), "resumed after seq 3");

    // Lists, with filters and paging; workers; problems.
    let list = curl(&c, "GET", "/api/v1/jobs?limit=1", Some(&c.submitter), &[]).json();
    assert_eq!(list["jobs"][0]["job_id"], run_id);
    let before = list["next_before"].as_u64().unwrap_or_default();
    let page2 = curl(
        &c,
        "GET",
        &format!("/api/v1/jobs?limit=5&before={before}"),
        Some(&c.submitter),
        &[],
    )
    .json();
    assert_eq!(page2["jobs"][0]["job_id"], id);
    let done = curl(
        &c,
        "GET",
        "/api/v1/jobs?state=done&problem=aplusb",
        Some(&c.submitter),
        &[],
    )
    .json();
    assert_eq!(done["jobs"].as_array().map(Vec::len), Some(1), "{done}");
    let workers = curl(&c, "GET", "/api/v1/workers", Some(&c.submitter), &[]).json();
    assert_eq!(workers["workers"][0]["name"], "w");
    let problems = curl(&c, "GET", "/api/v1/problems", Some(&c.submitter), &[]).json();
    assert_eq!(problems["problems"][0]["id"], "aplusb");

    // Ownership: bob sees none of the student's jobs, word for word as gRPC says it.
    let theirs = curl(&c, "GET", &format!("/api/v1/jobs/{id}"), Some(&other), &[]);
    assert_eq!(theirs.status, 404, "{}", theirs.body);
    assert_eq!(
        theirs.json(),
        json!({"error": "not_found", "message": format!("job {id} not found")})
    );
    let mine = curl(&c, "GET", "/api/v1/jobs?owner=student", Some(&other), &[]).json();
    assert_eq!(
        mine["jobs"],
        json!([]),
        "a submitter's owner filter cannot widen their view"
    );
    let sse = curl(
        &c,
        "GET",
        &format!("/api/v1/jobs/{id}/events"),
        Some(&other),
        &[],
    );
    assert_eq!(sse.status, 404);
    let cancel = curl(
        &c,
        "POST",
        &format!("/api/v1/jobs/{id}/cancel"),
        Some(&other),
        &[],
    );
    assert_eq!(cancel.status, 404);
    let admin_view = curl(&c, "GET", "/api/v1/jobs?owner=student", Some(&c.admin), &[]).json();
    assert_eq!(admin_view["jobs"].as_array().map(Vec::len), Some(2));

    // Errors: JSON with the right status, naming the problem.
    let cases: Vec<(Reply, u16, &str)> = vec![
        (
            curl(&c, "GET", "/api/v1/jobs", None, &[]),
            401,
            "unauthenticated",
        ),
        (
            curl(&c, "GET", "/api/v1/jobs", Some("jdg_nope"), &[]),
            401,
            "unauthenticated",
        ),
        (
            curl(&c, "GET", "/api/v1/jobs", Some(&c.worker_token), &[]),
            403,
            "permission_denied",
        ),
        (
            curl(&c, "GET", "/api/v1/jobs/99999", Some(&c.submitter), &[]),
            404,
            "not_found",
        ),
        (
            curl(&c, "GET", "/api/v1/jobs/abc", Some(&c.submitter), &[]),
            400,
            "invalid_argument",
        ),
        (
            curl(
                &c,
                "GET",
                "/api/v1/jobs?state=sleeping",
                Some(&c.submitter),
                &[],
            ),
            400,
            "invalid_argument",
        ),
        (
            curl(&c, "GET", "/api/v1/jobs?limit=0", Some(&c.submitter), &[]),
            400,
            "invalid_argument",
        ),
        (
            curl(
                &c,
                "POST",
                &format!("/api/v1/jobs/{id}/cancel"),
                Some(&c.submitter),
                &[],
            ),
            409,
            "failed_precondition",
        ),
        (
            post_json(
                &c,
                "/api/v1/jobs",
                &c.submitter,
                &json!({"language": "python3"}),
            ),
            400,
            "invalid_argument",
        ),
        (
            post_json(
                &c,
                "/api/v1/jobs",
                &c.submitter,
                &json!({"problem": "nope", "language": "python3", "source": "x"}),
            ),
            404,
            "not_found",
        ),
        (
            post_json(
                &c,
                "/api/v1/jobs",
                &c.submitter,
                &json!({"problem": "aplusb", "language": "python3", "source": "x", "colour": 1}),
            ),
            400,
            "invalid_argument",
        ),
    ];
    for (i, (r, status, code)) in cases.iter().enumerate() {
        assert_eq!(r.status, *status, "case {i}: {}", r.body);
        assert_eq!(r.json()["error"], *code, "case {i}: {}", r.body);
        assert!(r.json()["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert!(
        cases[8].0.body.contains("source"),
        "names the missing field: {}",
        cases[8].0.body
    );
    assert!(
        cases[10].0.body.contains("colour"),
        "names the unknown field: {}",
        cases[10].0.body
    );
    // A body over the limit.
    let big = json!({"problem": "aplusb", "language": "python3", "source": "x".repeat(40 << 20)});
    let file = c.dir.path().join("big.json");
    std::fs::write(&file, big.to_string())?;
    let r = curl(
        &c,
        "POST",
        "/api/v1/jobs",
        Some(&c.submitter),
        &[
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            &format!("@{}", file.display()),
        ],
    );
    assert_eq!(r.status, 413, "{}", r.body);

    // A problem pushed as one archive (admins only).
    let archive = c.dir.path().join("aplusb.tar");
    let ok = Command::new("tar")
        .arg("-C")
        .arg(example_problem("aplusb"))
        .arg("-cf")
        .arg(&archive)
        .arg(".")
        .status()?
        .success();
    assert!(ok, "tar");
    let upload = format!("@{}", archive.display());
    let tar_args = [
        "-H",
        "Content-Type: application/x-tar",
        "--data-binary",
        upload.as_str(),
    ];
    let r = curl(
        &c,
        "POST",
        "/api/v1/problems/aplusb-web?time_limit=3",
        Some(&c.admin),
        &tar_args,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["id"], "aplusb-web");
    assert!(
        r.json()["tests"].as_u64().is_some_and(|t| t > 0),
        "{}",
        r.body
    );
    let listed = curl(&c, "GET", "/api/v1/problems", Some(&c.submitter), &[]).json();
    let web = listed["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["id"] == "aplusb-web");
    assert_eq!(
        web.map(|p| p["time_limit_ms"].clone()),
        Some(json!(3000)),
        "{listed}"
    );
    let r = curl(
        &c,
        "POST",
        "/api/v1/problems/mine",
        Some(&c.submitter),
        &tar_args,
    );
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (403, json!("permission_denied"))
    );
    let junk = curl(
        &c,
        "POST",
        "/api/v1/problems/junk",
        Some(&c.admin),
        &[
            "-H",
            "Content-Type: application/x-tar",
            "--data-binary",
            "not a tar archive",
        ],
    );
    assert_eq!(junk.status, 400, "{}", junk.body);

    // A full queue is 429 with Retry-After.
    let mut q = Cluster::start(&["--max-queued-per-token", "1"]).await?;
    let first = post_json(
        &q,
        "/api/v1/jobs",
        &q.submitter,
        &json!({"problem": "aplusb", "language": "python3", "source": AC_PY}),
    );
    assert_eq!(first.status, 201);
    let second = post_json(
        &q,
        "/api/v1/jobs",
        &q.submitter,
        &json!({"problem": "aplusb", "language": "python3", "source": AC_PY}),
    );
    assert_eq!(second.status, 429, "{}", second.body);
    assert!(
        second.headers.contains("retry-after: 5"),
        "{}",
        second.headers
    );
    q.sched.kill().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_health_cors_and_the_dashboards_page() -> anyhow::Result<()> {
    let mut c = Cluster::start(&["--http-allow-origin", "https://class.example.org"]).await?;
    c.add_worker("w", 2)?;
    c.wait_workers(1).await?;
    let mut j = judge_client(&c.sched.url(), &c.submitter).await?;
    for _ in 0..3 {
        let id = submit(&mut j, "aplusb", "python3", AC_PY).await?;
        wait_finished(&mut j, id).await?;
    }
    let m = curl(&c, "GET", "/metrics", None, &[]);
    assert_eq!(m.status, 200);
    for needle in [
        "judge_jobs{job_type=\"judge\",state=\"done\",verdict=\"AC\"} 3",
        "judge_workers_connected 1",
        "judge_slots{use=\"total\"} 2",
        "judge_worker_cpu_percent{worker=\"w\"}",
        "judge_consoles_open 0",
        "judge_submit_to_assign_seconds_count 3",
        "judge_submit_to_done_seconds_count 3",
        "judge_store_batch_changes_count",
        "judge_transfers_in_flight 0",
        "judge_queue_length",
        "judge_queue_length_by_class{class=\"contest\"} 0",
        "judge_queue_length_by_class{class=\"bulk\"} 0",
        "judge_queue_wait_seconds_count{class=\"normal\"} 3",
    ] {
        assert!(
            m.body.contains(needle),
            "{needle} missing from:\n{}",
            m.body
        );
    }
    assert_eq!(curl(&c, "GET", "/healthz", None, &[]).status, 200);
    assert_eq!(curl(&c, "GET", "/readyz", None, &[]).status, 200);

    // CORS: the teacher's site may call the API; another site gets nothing.
    let ok = curl(
        &c,
        "OPTIONS",
        "/api/v1/jobs",
        None,
        &["-H", "Origin: https://class.example.org"],
    );
    assert!(
        ok.headers
            .contains("access-control-allow-origin: https://class.example.org"),
        "{}",
        ok.headers
    );
    let no = curl(
        &c,
        "OPTIONS",
        "/api/v1/jobs",
        None,
        &["-H", "Origin: https://evil.example"],
    );
    assert!(
        !no.headers.contains("access-control-allow-origin"),
        "{}",
        no.headers
    );
    let get = curl(
        &c,
        "GET",
        "/api/v1/problems",
        Some(&c.submitter),
        &["-H", "Origin: https://evil.example"],
    );
    assert!(!get.headers.contains("access-control-allow-origin"));

    // The page, embedded, with a policy that runs only its own script.
    let page = curl(&c, "GET", "/", None, &[]);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("type=\"password\""));
    assert!(page
        .headers
        .contains("content-security-policy: default-src 'none'; script-src 'self'"));
    assert_eq!(curl(&c, "GET", "/app.js", None, &[]).status, 200);
    let doc = curl(&c, "GET", "/api/v1/openapi.json", None, &[]).json();
    assert_eq!(doc["openapi"], "3.0.3");

    // The job counts are kept as jobs change, counted from the store once at start: a
    // restarted scheduler shows the same.
    let addr = c.sched.addr.to_string();
    c.sched.kill().await;
    c.sched = SchedulerProc::start_on(&c.sched.data_dir.clone(), &addr, &[]).await?;
    let m = curl(&c, "GET", "/metrics", None, &[]);
    assert!(
        m.body
            .contains("judge_jobs{job_type=\"judge\",state=\"done\",verdict=\"AC\"} 3"),
        "{}",
        m.body
    );

    // Off means off.
    let data = c.dir.path().join("data2");
    let off = SchedulerProc::start(&data, &["--http-listen", "none"]).await?;
    assert!(off.http_addr.is_none());
    drop(off);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_health_and_reflection_answer_without_a_token() -> anyhow::Result<()> {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    let c = Cluster::start(&[]).await?;
    let channel = tonic::transport::Endpoint::from_shared(c.sched.url())?
        .connect()
        .await?;
    let mut health = HealthClient::new(channel.clone());
    for service in ["", "judge.v1.JudgeService", "judge.v1.WorkerService"] {
        let r = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await?
            .into_inner();
        assert_eq!(r.status, ServingStatus::Serving as i32, "{service:?}");
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "nope".into(),
        })
        .await;
    assert_status(unknown, tonic::Code::NotFound, "");
    let mut reflection = ServerReflectionClient::new(channel);
    let ask = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection
        .server_reflection_info(tokio_stream::iter([ask]))
        .await?
        .into_inner();
    let Some(answer) = answers.message().await? else {
        anyhow::bail!("no reflection answer");
    };
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        anyhow::bail!("not a service list: {answer:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for s in [
        "judge.v1.JudgeService",
        "judge.v1.WorkerService",
        "judge.v1.AdminService",
    ] {
        assert!(names.iter().any(|n| n == s), "{s} not in {names:?}");
    }
    Ok(())
}

/// Past its submission rate a token is refused with the seconds to wait: gRPC's
/// `retry-after`, HTTP's 429 and `Retry-After`; judgectl waits that long and submits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_past_its_submit_rate_is_told_when_to_come_back() -> anyhow::Result<()> {
    let mut c = Cluster::start(&["--submit-rate", "0.5", "--submit-burst", "1"]).await?;
    c.add_worker("w", 1)?;
    c.wait_workers(1).await?;
    let mut j = c.judge().await?;
    let req = pb::SubmitRequest {
        problem_id: "aplusb".into(),
        language: "python3".into(),
        source: AC_PY.as_bytes().to_vec(),
        ..Default::default()
    };
    j.submit(req.clone()).await?;
    let refused = j.submit(req).await.expect_err("past the burst");
    assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
    assert!(
        refused.message().contains("submit_rate"),
        "{}",
        refused.message()
    );
    let wait = refused
        .metadata()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    assert!(matches!(wait, Some(1..=2)), "retry-after {wait:?}");

    let body = json!({"problem": "aplusb", "language": "python3", "source": AC_PY});
    // The submitter's token has a bucket of its own: its first submission is taken.
    let first = post_json(&c, "/api/v1/jobs", &c.submitter, &body);
    assert_eq!(first.status, 201, "{}", first.body);
    let r = post_json(&c, "/api/v1/jobs", &c.submitter, &body);
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.json()["error"], "resource_exhausted");
    assert!(
        r.headers.contains("retry-after: 1") || r.headers.contains("retry-after: 2"),
        "{}",
        r.headers
    );

    // judgectl waits as told, then its submission is taken.
    let src = c.dir.path().join("ac.py");
    std::fs::write(&src, AC_PY)?;
    let started = std::time::Instant::now();
    let out = Command::new(bin("judgectl"))
        .args(["--scheduler", &c.sched.url(), "--token", &c.submitter])
        .args(["submit", "--problem", "aplusb", "--language", "python3"])
        .arg(&src)
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(500),
        "judgectl came back only after the wait"
    );
    Ok(())
}
