//! TLS end to end: a scheduler with a self-signed certificate, a worker and judgectl that
//! trust its CA, clients that do not (a wrong CA, plaintext) failing with one line, and
//! mutual TLS for workers.

use std::path::{Path, PathBuf};
use std::process::Output;

use judge_common::auth::Bearer;
use judge_common::channel::{endpoint, ClientTls};
use judge_common::pb;
use judge_common::pb::worker_service_client::WorkerServiceClient;
use judge_tests::*;

/// `judge-scheduler tls self-signed` into `dir`.
fn self_signed(dir: &Path, clients: &[&str]) -> anyhow::Result<()> {
    let mut cmd = std::process::Command::new(bin("judge-scheduler"));
    cmd.args([
        "tls",
        "self-signed",
        "--host",
        "127.0.0.1",
        "--host",
        "localhost",
        "--out",
    ])
    .arg(dir);
    for c in clients {
        cmd.args(["--client", c]);
    }
    let out = cmd.output()?;
    anyhow::ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// A scheduler serving TLS with the certificates in `tls`, with tokens made and standard
/// languages offered, as in `Cluster::start`.
struct TlsCluster {
    dir: tempfile::TempDir,
    sched: SchedulerProc,
    url: String,
    ca: PathBuf,
    admin: String,
    worker_token: String,
}

async fn start(mutual: bool) -> anyhow::Result<TlsCluster> {
    let dir = tempfile::tempdir()?;
    let tls = dir.path().join("tls");
    self_signed(&tls, &["w1"])?;
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data)?;
    let admin = token(&data, "admin", "admin")?;
    let worker_token = token(&data, "worker", "workers")?;
    let cert = tls.join("server.pem");
    let key = tls.join("server-key.pem");
    let ca = tls.join("ca.pem");
    let mut args = vec![
        "--tls-cert".to_string(),
        cert.display().to_string(),
        "--tls-key".into(),
        key.display().to_string(),
    ];
    if mutual {
        args.extend(["--client-ca".to_string(), ca.display().to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let sched = SchedulerProc::start(&data, &args).await?;
    let url = format!("https://127.0.0.1:{}", sched.addr.port());
    Ok(TlsCluster {
        dir,
        sched,
        url,
        ca,
        admin,
        worker_token,
    })
}

impl TlsCluster {
    /// A judge client over TLS, trusting the cluster's CA.
    async fn judge(
        &self,
    ) -> anyhow::Result<pb::judge_service_client::JudgeServiceClient<judgectl::Authed>> {
        let tls = ClientTls {
            ca_cert: Some(self.ca.clone()),
            identity: None,
        };
        let channel = judgectl::dial(&self.url, &tls).await?;
        Ok(
            pb::judge_service_client::JudgeServiceClient::with_interceptor(
                channel,
                Bearer::new(&self.admin)?,
            ),
        )
    }
}

fn judgectl(url: &str, token: &str, ca: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(bin("judgectl"));
    cmd.args(args)
        .env("JUDGE_SCHEDULER", url)
        .env("JUDGE_TOKEN", token)
        .env_remove("JUDGE_CA_CERT");
    if let Some(ca) = ca {
        cmd.env("JUDGE_CA_CERT", ca);
    }
    cmd.output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn self_signed_writes_a_ca_a_server_and_client_certificates_with_private_keys() {
    let dir = tempfile::tempdir().unwrap();
    self_signed(dir.path(), &["w1", "w2"]).unwrap();
    use std::os::unix::fs::PermissionsExt;
    for (file, mode) in [
        ("ca.pem", 0o644),
        ("ca-key.pem", 0o600),
        ("server.pem", 0o644),
        ("server-key.pem", 0o600),
        ("w1.pem", 0o644),
        ("w2-key.pem", 0o600),
    ] {
        let meta = std::fs::metadata(dir.path().join(file)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, mode, "{file}");
        let text = std::fs::read_to_string(dir.path().join(file)).unwrap();
        assert!(text.starts_with("-----BEGIN "), "{file} is PEM");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_and_judgectl_judge_over_tls() -> anyhow::Result<()> {
    let c = start(false).await?;
    let ca = c.ca.to_str().unwrap();
    let push = judgectl(
        &c.url,
        &c.admin,
        Some(&c.ca),
        &[
            "problem",
            "push",
            example_problem("aplusb").to_str().unwrap(),
        ],
    );
    assert!(push.status.success(), "{}", stderr(&push));
    let _worker = WorkerProc::start_with(
        &c.url,
        &c.worker_token,
        "tls-worker",
        1,
        c.dir.path(),
        &["--ca-cert", ca],
    )?;
    workers_where(&c.judge().await?, "the worker over TLS", WAIT, |l| {
        l.iter().any(|w| w.name == "tls-worker" && w.connected)
    })
    .await?;
    let src = c.dir.path().join("ac.py");
    std::fs::write(&src, AC_PY)?;
    let out = judgectl(
        &c.url,
        &c.admin,
        Some(&c.ca),
        &[
            "submit",
            "--problem",
            "aplusb",
            "--language",
            "python3",
            src.to_str().unwrap(),
            "--wait",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}{}", stderr(&out), c.sched.log());
    let job: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(job["verdict"], "AC", "{job}");
    assert_eq!(job["worker"], "tls-worker");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_do_not_trust_it_or_speak_plaintext_fail_with_one_line() -> anyhow::Result<()>
{
    let c = start(false).await?;
    let other = c.dir.path().join("other");
    self_signed(&other, &[])?;
    let wrong = judgectl(&c.url, &c.admin, Some(&other.join("ca.pem")), &["jobs"]);
    let said = stderr(&wrong);
    assert!(!wrong.status.success());
    assert_eq!(said.trim().lines().count(), 1, "one line: {said}");
    assert!(said.to_lowercase().contains("certificate"), "{said}");
    // The system's roots do not know a self-signed CA either.
    let none = judgectl(&c.url, &c.admin, None, &["jobs"]);
    assert!(!none.status.success());
    assert_eq!(stderr(&none).trim().lines().count(), 1, "{}", stderr(&none));
    let plain = format!("http://127.0.0.1:{}", c.sched.addr.port());
    let out = judgectl(&plain, &c.admin, None, &["jobs"]);
    let said = stderr(&out);
    assert!(!out.status.success());
    assert_eq!(said.trim().lines().count(), 1, "one line: {said}");
    assert!(said.contains("use an https:// URL"), "{said}");
    // A CA with an http:// URL is a mistake, said before anything is sent.
    let out = judgectl(&plain, &c.admin, Some(&c.ca), &["jobs"]);
    assert!(stderr(&out).contains("use https://"), "{}", stderr(&out));
    // The right CA works.
    let ok = judgectl(&c.url, &c.admin, Some(&c.ca), &["jobs"]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_requires_a_client_certificate_from_workers_only() -> anyhow::Result<()> {
    let c = start(true).await?;
    let tls = c.dir.path().join("tls");
    let hello = judge_tests::raw::hello("w1", vec![]);
    let worker = |identity: Option<(PathBuf, PathBuf)>| {
        let (url, ca, token) = (c.url.clone(), c.ca.clone(), c.worker_token.clone());
        async move {
            let tls = ClientTls {
                ca_cert: Some(ca),
                identity,
            };
            let channel = endpoint(&url, &tls)?.connect().await?;
            Ok::<_, anyhow::Error>(WorkerServiceClient::with_interceptor(
                channel,
                Bearer::new(&token)?,
            ))
        }
    };
    // Without a certificate: the token alone is not enough.
    let mut bare = worker(None).await?;
    let err = bare.connect(hello.clone()).await.expect_err("refused");
    assert_eq!(err.code(), tonic::Code::Unauthenticated, "{err:?}");
    assert!(
        err.message().contains("client certificate"),
        "{}",
        err.message()
    );
    // With one from the client CA: welcome.
    let identity = (tls.join("w1.pem"), tls.join("w1-key.pem"));
    let mut good = worker(Some(identity)).await?;
    let mut feed = good.connect(hello).await?.into_inner();
    let first = feed.message().await?;
    assert!(matches!(
        first.and_then(|m| m.command),
        Some(pb::worker_command::Command::Welcome(_))
    ));
    // People need none.
    let ok = judgectl(&c.url, &c.admin, Some(&c.ca), &["workers"]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    // A real worker with its certificate connects too.
    let dir = c.dir.path();
    let _w = WorkerProc::start_with(
        &c.url,
        &c.worker_token,
        "w2",
        1,
        dir,
        &[
            "--ca-cert",
            c.ca.to_str().unwrap(),
            "--client-cert",
            tls.join("w1.pem").to_str().unwrap(),
            "--client-key",
            tls.join("w1-key.pem").to_str().unwrap(),
        ],
    )?;
    let admin = c.judge().await?;
    workers_where(&admin, "w2 connected", WAIT, |l| {
        l.iter().any(|w| w.name == "w2" && w.connected)
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_side_serves_tls_with_the_same_certificate() -> anyhow::Result<()> {
    let c = start(true).await?;
    let port = c.sched.http_addr.expect("http side").port();
    let url = |path: &str| format!("https://127.0.0.1:{port}{path}");
    let curl = |args: &[&str]| {
        std::process::Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}"])
            .args(args)
            .output()
    };
    let ca = c.ca.display().to_string();
    // Trusting the CA: served, no client certificate needed on this side.
    let ok = curl(&["--cacert", &ca, &url("/healthz")])?;
    assert_eq!(String::from_utf8_lossy(&ok.stdout), "200", "{ok:?}");
    let auth = format!("Authorization: Bearer {}", c.admin);
    let api = curl(&["--cacert", &ca, "-H", &auth, &url("/api/v1/problems")])?;
    assert_eq!(String::from_utf8_lossy(&api.stdout), "200");
    // Not trusting it, or speaking plaintext: nothing served.
    let untrusted = curl(&[&url("/healthz")])?;
    assert!(!untrusted.status.success(), "{untrusted:?}");
    let plain = curl(&[&format!("http://127.0.0.1:{port}/healthz")])?;
    assert_ne!(String::from_utf8_lossy(&plain.stdout), "200");
    Ok(())
}

/// The certificate a teacher makes with the usual one-liner marks itself a CA and is served
/// as the scheduler's own; given as the CA (as to curl and grpcio), judgectl and the worker
/// accept it. Its name is still checked: the same certificate for another host is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_signed_certificate_given_as_the_ca_is_trusted_for_its_own_names(
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
        ])
        .args([
            "-subj",
            "/CN=judge",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output();
    match made {
        Ok(out) if out.status.success() => {}
        other if std::env::var("JUDGE_REQUIRE_TOOLS").as_deref() != Ok("1") => {
            eprintln!("SKIPPED: openssl could not make a certificate: {other:?}");
            return Ok(());
        }
        other => anyhow::bail!("openssl could not make a certificate: {other:?}"),
    }
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data)?;
    let admin = token(&data, "admin", "admin")?;
    let worker_token = token(&data, "worker", "workers")?;
    let (cert_arg, key_arg) = (cert.display().to_string(), key.display().to_string());
    let sched =
        SchedulerProc::start(&data, &["--tls-cert", &cert_arg, "--tls-key", &key_arg]).await?;
    let port = sched.addr.port();
    let url = format!("https://127.0.0.1:{port}");

    let ok = judgectl(&url, &admin, Some(&cert), &["jobs"]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    // A worker that trusts it connects.
    let _worker = WorkerProc::start_with(
        &url,
        &worker_token,
        "pinned",
        1,
        dir.path(),
        &["--ca-cert", &cert_arg],
    )?;
    let tls = ClientTls {
        ca_cert: Some(cert.clone()),
        identity: None,
    };
    let judge = pb::judge_service_client::JudgeServiceClient::with_interceptor(
        judgectl::dial(&url, &tls).await?,
        Bearer::new(&admin)?,
    );
    connected_workers(&judge, 1, WAIT).await?;
    // The name is still checked: the certificate says 127.0.0.1, not localhost.
    let other_name = judgectl(
        &format!("https://localhost:{port}"),
        &admin,
        Some(&cert),
        &["jobs"],
    );
    let said = stderr(&other_name);
    assert!(!other_name.status.success());
    assert_eq!(said.trim().lines().count(), 1, "one line: {said}");
    assert!(said.to_lowercase().contains("certificate"), "{said}");
    Ok(())
}
