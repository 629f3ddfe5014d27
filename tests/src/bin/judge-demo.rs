//! `judge-demo`: a one-machine cluster in one command.
//!
//! Starts a scheduler on embedded SQLite and one worker, both on loopback and talking real
//! gRPC, pushes the example problems, judges every example submission, prints a table of
//! verdicts and exits non-zero if any verdict differs from the one its file name promises.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use judge_common::pb;
use judge_scheduler::driver::clock::{Clock, SystemClock};
use judge_scheduler::live::tokens;
use judge_scheduler::store::{Role, Store};
use judge_scheduler::wiring::server::{self, ServeOptions};
use judge_tests::{admin_client, connected_workers, judge_client, wait_finished, workspace};
use judge_worker::WorkerOptions;

#[derive(Parser)]
#[command(about = "Run a one-machine judge cluster on the bundled examples")]
struct Args {
    /// Where the demo keeps its database and files [default: a fresh temporary directory]
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Judging slots of the demo worker [default: 2]
    #[arg(long, default_value_t = 2)]
    slots: u32,
    /// Exit after the verdict table [default: keep the cluster and its dashboard up until
    /// Ctrl-C]
    #[arg(long)]
    once: bool,
}

fn language_of(file: &Path) -> Option<&'static str> {
    match file.extension()?.to_str()? {
        "c" => Some("c"),
        "cpp" => Some("cpp"),
        "py" => Some("python3"),
        "rs" => Some("rust"),
        "java" => Some("java"),
        _ => None,
    }
}

/// The verdict a file name promises: `ac.c`, `wa.py`, `tle.py`...; `Main.java` is accepted.
fn expected(file: &Path) -> String {
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let tag = stem
        .split(['_', '-', '.'])
        .next()
        .unwrap_or("")
        .to_uppercase();
    if ["AC", "WA", "TLE", "MLE", "OLE", "RTE", "CE"].contains(&tag.as_str()) {
        tag
    } else {
        "AC".into()
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    // The table is the point; logs only when asked for with RUST_LOG.
    if std::env::var_os("RUST_LOG").is_none() {
        std::env::set_var("RUST_LOG", "warn");
    }
    judge_common::logging::init(false);
    let temp = tempfile::tempdir()?;
    let data_dir = args.data_dir.unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&data_dir)?;
    let database_url = format!("sqlite://{}/judge.db", data_dir.display());

    // Tokens straight into the store, as `judge-scheduler token create` does.
    let store = Store::open(&database_url).await?;
    let suffix = SystemClock.now_ms();
    let (admin_rec, admin) = tokens::issue(
        &format!("demo-admin-{suffix}"),
        Role::Admin,
        Default::default(),
        SystemClock.now_ms(),
    );
    let (worker_rec, worker_token) = tokens::issue(
        &format!("demo-worker-{suffix}"),
        Role::Worker,
        Default::default(),
        SystemClock.now_ms(),
    );
    store.insert_token(&admin_rec).await?;
    store.insert_token(&worker_rec).await?;
    store.close().await;

    let opts = ServeOptions {
        listen: "127.0.0.1:0".parse()?,
        // Any free port: the demo prints where its dashboard is.
        http_listen: Some("127.0.0.1:0".parse()?),
        database_url,
        data_dir: data_dir.clone(),
        ..ServeOptions::default()
    };
    let running = server::start(opts, std::future::pending()).await?;
    let url = format!("http://{}", running.addr);
    eprintln!("scheduler on {url} (SQLite in {})", data_dir.display());
    if let Some(http) = running.http_addr {
        eprintln!("dashboard on http://{http}/ (sign in with the admin token below)");
    }
    let worker = judge_worker::start(WorkerOptions {
        schedulers: vec![url.clone()],
        tls: Default::default(),
        token: worker_token,
        name: "demo-worker".into(),
        slots: args.slots,
        work_dir: data_dir.join("worker"),
        cache_dir: None,
        cache_size: 1 << 30,
        job_types: vec!["judge".into()],
        languages: judge_worker::judge::languages::defaults(),
        sandbox_uid_base: judge_worker::sandbox::uids::DEFAULT_SANDBOX_UID_BASE,
        require_sandbox: false,
        job_disk_bytes: 1 << 30,
    })
    .await?;
    let offered: Vec<&str> = worker.languages.iter().map(|l| l.id.as_str()).collect();
    eprintln!("worker demo-worker offers: {}", offered.join(", "));

    let mut admin_api = admin_client(&url, &admin).await?;
    let problems_dir = workspace().join("examples/problems");
    let mut problems: Vec<PathBuf> = std::fs::read_dir(&problems_dir)
        .with_context(|| format!("reading {}", problems_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    problems.sort();
    for p in &problems {
        let r = judgectl::push::push(&mut admin_api, p, None, None).await?;
        eprintln!("pushed problem {} ({} tests)", r.id, r.test_count);
    }

    let mut judge = judge_client(&url, &admin).await?;
    // Submit accepts the languages a connected worker offers: wait for ours.
    connected_workers(&judge, 1, Duration::from_secs(30)).await?;
    let mut jobs = Vec::new();
    let started = Instant::now();
    for p in &problems {
        let id = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let dir = workspace().join("examples/submissions").join(&id);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for f in files {
            let Some(lang) = language_of(&f) else {
                continue;
            };
            if !offered.contains(&lang) {
                eprintln!("skipping {} (no {lang} toolchain here)", f.display());
                continue;
            }
            let req = pb::SubmitRequest {
                problem_id: id.clone(),
                language: lang.into(),
                source: std::fs::read(&f)?,
                ..Default::default()
            };
            let job_id = judge.submit(req).await?.into_inner().job_id;
            jobs.push((job_id, id.clone(), f, lang));
        }
    }
    println!(
        "{:>4}  {:<10} {:<14} {:<8} {:<8} {:<8} {:>8}",
        "JOB", "PROBLEM", "FILE", "LANG", "EXPECTED", "VERDICT", "MAX ms"
    );
    let mut wrong = 0;
    for (job_id, problem, file, lang) in &jobs {
        let job = wait_finished(&mut judge, *job_id).await?;
        let got = pb::Verdict::try_from(job.verdict)
            .map(|v| v.as_str_name().to_string())
            .unwrap_or_default();
        let want = expected(file);
        let max_ms = job.tests.iter().map(|t| t.time_ms).max().unwrap_or(0);
        let mark = if got == want { "" } else { "  <-- unexpected" };
        if got != want {
            wrong += 1;
        }
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        println!(
            "{job_id:>4}  {problem:<10} {name:<14} {lang:<8} {want:<8} {got:<8} {max_ms:>8}{mark}"
        );
    }
    println!(
        "{} submissions judged in {:.1?}",
        jobs.len(),
        started.elapsed()
    );
    if wrong == 0 && !args.once {
        // The cluster is the newcomer's to try: it stays up until Ctrl-C.
        println!();
        if let Some(http) = running.http_addr {
            println!("dashboard:   http://{http}/");
        }
        println!("admin token: {admin}");
        println!("judgectl:    export JUDGE_SCHEDULER={url} JUDGE_TOKEN={admin}");
        println!("The cluster stays up; Ctrl-C stops it.");
        tokio::signal::ctrl_c().await?;
        eprintln!("stopping");
    }
    let _ = worker.drain.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(5), worker.task).await;
    running.task.abort();
    if wrong > 0 {
        bail!("{wrong} verdicts differ from what the file names promise");
    }
    Ok(())
}
