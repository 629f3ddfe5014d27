//! `judgectl`: submit, follow and administer judge jobs.

use judgectl::{output, push, status_line, Authed};

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, Subcommand};
use judge_common::auth::Bearer;
use judge_common::pb;
use judge_common::pb::admin_service_client::AdminServiceClient;
use judge_common::pb::judge_service_client::JudgeServiceClient;

#[derive(Parser)]
#[command(
    name = "judgectl",
    version,
    about = "Submit, watch and administer judge jobs"
)]
struct Cli {
    /// Scheduler URL, or several separated by commas (schedulers sharing one PostgreSQL:
    /// judgectl talks to the one that leads) [default: http://127.0.0.1:7070]
    #[arg(long, global = true, env = "JUDGE_SCHEDULER")]
    scheduler: Option<String>,
    /// API token (submitter or admin)
    #[arg(long, global = true, env = "JUDGE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// PEM file of the CA that signed the scheduler's certificate, for an https:// scheduler
    /// [default: the system's roots]
    #[arg(long, global = true, env = "JUDGE_CA_CERT")]
    ca_cert: Option<PathBuf>,
    /// Print text from programs, compilers and other users byte for byte, terminal control
    /// characters included [default: they are shown as ^[ and <U+XXXX>]
    #[arg(long, global = true)]
    raw: bool,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Problems (push needs an admin token).
    #[command(subcommand)]
    Problem(ProblemCmd),
    /// Submit a solution.
    Submit {
        #[arg(long)]
        problem: String,
        /// c, cpp, python3, rust or java
        #[arg(long)]
        language: String,
        file: PathBuf,
        /// Wait for the verdict (shows progress; with --json prints the finished job).
        #[arg(long)]
        wait: bool,
        #[arg(long)]
        json: bool,
        /// Run every test even after one fails.
        #[arg(long)]
        all_tests: bool,
        /// This submission replaces your unfinished one with the same key (up to 64
        /// printable characters), which is cancelled, queued or running [default: none]
        #[arg(long)]
        supersede_key: Option<String>,
        /// contest, normal or bulk: a higher class goes first; up to your token's highest
        /// [default: normal]
        #[arg(long)]
        priority: Option<String>,
    },
    /// Run a program once on given input through the cluster: its output is printed as it
    /// printed it, and judgectl exits with its exit code; 124 past the time limit, 125 past
    /// the memory limit, 126 past the output limit, 127 for a compile error, 128+N killed by
    /// signal N, 123 without a result (refused, cancelled, the judge failed).
    Run {
        /// c, cpp, python3, rust, java...
        #[arg(long)]
        language: String,
        file: PathBuf,
        /// Standard input for the program [default: empty]
        #[arg(long)]
        stdin: Option<PathBuf>,
        /// CPU seconds [default: the scheduler's, 2 s unless it caps lower]
        #[arg(long)]
        time_limit: Option<f64>,
        /// Memory in MiB [default: the scheduler's, 1024 unless it caps lower]
        #[arg(long)]
        memory_limit: Option<u64>,
        /// Standard output in MiB [default: the scheduler's, 1]
        #[arg(long)]
        output_limit: Option<u64>,
        /// Print one JSON object (outcome, exit_code, signal, stdout, stderr, time_ms,
        /// wall_ms, memory_kb, job_id, state...) instead of the program's output.
        #[arg(long)]
        json: bool,
    },
    /// Run a program live on a worker, on this terminal: keys go to it as typed (Ctrl-C
    /// interrupts it, Ctrl-D ends its input), its output comes back as it prints. Without a
    /// terminal, standard input is streamed and then closed. Exits as `run` does.
    Console {
        /// c, cpp, python3, rust, java...
        #[arg(long)]
        language: String,
        file: PathBuf,
        /// CPU seconds [default: the scheduler's, 2 s unless it caps lower]
        #[arg(long)]
        time_limit: Option<f64>,
        /// Memory in MiB [default: the scheduler's, 1024 unless it caps lower]
        #[arg(long)]
        memory_limit: Option<u64>,
    },
    /// Show a job.
    Get {
        job: u64,
        #[arg(long)]
        json: bool,
    },
    /// Follow a job's events live until it finishes.
    Watch {
        job: u64,
        /// Print one JSON object per event, one per line.
        #[arg(long)]
        json: bool,
        /// Resume after this event sequence number.
        #[arg(long, default_value_t = 0)]
        after: u64,
    },
    /// Cancel a job.
    Cancel { job: u64 },
    /// List recent jobs, newest first.
    Jobs {
        #[arg(long)]
        json: bool,
        /// How many [1 to 1000]
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// List workers.
    Workers {
        #[arg(long)]
        json: bool,
    },
    /// Ask a worker to stop taking jobs and finish what it runs (admin).
    Drain { name: String },
    /// Workers (admin): `release NAME` lifts a quarantine.
    #[command(subcommand)]
    Worker(WorkerCmd),
    /// Judge finished submissions of a problem again on its current version (admin). Each
    /// job keeps its id and its earlier judgings (`get --json` shows `judgings`).
    Rejudge {
        #[arg(long)]
        problem: String,
        /// Only jobs with one of these verdicts, e.g. WA,TLE [default: any]
        #[arg(long)]
        verdict: Option<String>,
        /// Only jobs submitted since: 2026-12-02T09:00:00Z, or a span ago (90m, 2h, 3d)
        /// [default: any time]
        #[arg(long)]
        since: Option<String>,
        /// Only these jobs, e.g. 12,15 [default: every finished job of the problem]
        #[arg(long)]
        jobs: Option<String>,
        /// contest, normal or bulk [default: bulk]
        #[arg(long)]
        priority: Option<String>,
        /// Wait until every job is judged, then print judged, changed, and one line per
        /// changed job (`#12 WA -> AC`).
        #[arg(long)]
        wait: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum WorkerCmd {
    /// Lift a worker's quarantine (judge errors other workers did not give): it gets jobs
    /// again.
    Release { name: String },
}

#[derive(Subcommand)]
enum ProblemCmd {
    /// Upload a problem package directory; prints the problem id.
    Push {
        dir: PathBuf,
        /// Problem id [default: the directory's name]
        #[arg(long)]
        id: Option<String>,
        /// Time limit in seconds, overriding the package's
        #[arg(long)]
        time_limit: Option<f64>,
    },
    /// List problems.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Push a package and judge its own submissions (submissions/<folder>/) on the cluster:
    /// exits 0 only when each gets what its folder says (accepted, wrong_answer,
    /// time_limit_exceeded, run_time_error, memory_limit_exceeded, output_limit_exceeded,
    /// compile_error, partially_accepted, slow_accepted). Needs an admin token.
    Verify {
        dir: PathBuf,
        /// Problem id [default: the directory's name]
        #[arg(long)]
        id: Option<String>,
        /// Set the time limit from the slowest accepted submission times the format's
        /// multiplier (legacy time_multiplier, default 5; 2023-07 ac_to_time_limit, default
        /// 2), rounded up to whole seconds, then verify with it
        #[arg(long)]
        calibrate: bool,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// Judge .py jury solutions with this Python (a shebang naming python2 still asks
        /// for Python 2)
        #[arg(long, value_enum, default_value_t = judgectl::verify::Python::Python3)]
        python: judgectl::verify::Python,
    },
}

struct Clients {
    judge: JudgeServiceClient<Authed>,
    admin: AdminServiceClient<Authed>,
}

/// A failure's line, with a hint when a plaintext client's connection broke during the
/// handshake (the client's own words for it): the scheduler probably serves TLS.
fn with_tls_hint(plain: bool, line: &str) -> String {
    let broken = [
        "h2 protocol error",
        "transport error",
        "operation was canceled",
    ]
    .iter()
    .any(|m| line.contains(m));
    if plain && broken {
        format!("{line} (if the scheduler serves TLS, use an https:// URL)")
    } else {
        line.to_string()
    }
}

async fn clients(
    scheduler: Option<String>,
    token: Option<String>,
    ca_cert: Option<PathBuf>,
) -> Result<Clients> {
    let url = scheduler.unwrap_or_else(|| "http://127.0.0.1:7070".into());
    let token = token.ok_or_else(|| anyhow!("no token: pass --token or set JUDGE_TOKEN"))?;
    let tls = judge_common::channel::ClientTls {
        ca_cert,
        identity: None,
    };
    let channel = judgectl::dial(&url, &tls).await?;
    let bearer = Bearer::new(&token)?;
    Ok(Clients {
        // Run results carry a program's output and error (up to the scheduler's limits).
        judge: JudgeServiceClient::with_interceptor(channel.clone(), bearer.clone())
            .max_decoding_message_size(1 << 30)
            .max_encoding_message_size(1 << 30),
        admin: AdminServiceClient::with_interceptor(channel, bearer),
    })
}

/// The limits asked for on the command line, checked enough to convert without overflow
/// (the scheduler checks them against its maxima).
fn run_limits(
    time: Option<f64>,
    memory: Option<u64>,
    output: Option<u64>,
) -> Result<pb::RunLimits> {
    let time_limit_ms = match time {
        Some(s) if s.is_finite() && s > 0.0 && s <= 3600.0 => Some((s * 1000.0).round() as u32),
        Some(s) => bail!("--time-limit {s}: give seconds, more than 0 and at most 3600"),
        None => None,
    };
    let mib = |flag: &str, v: Option<u64>| match v {
        Some(m) if m <= 1 << 20 => Ok(Some(m << 20)),
        Some(m) => Err(anyhow!("{flag} {m}: at most 1048576 MiB")),
        None => Ok(None),
    };
    Ok(pb::RunLimits {
        time_limit_ms,
        memory_limit_bytes: mib("--memory-limit", memory)?,
        output_limit_bytes: mib("--output-limit", output)?,
    })
}

/// What a command ends with: judgectl's usual 0, or a code of its own (`run`).
enum Exit {
    Ok,
    Code(u8),
}

async fn run(cli: Cli) -> Result<Exit> {
    // A plaintext client on a TLS port hears garbage: say what it probably means.
    let plain = cli
        .scheduler
        .as_deref()
        .is_none_or(|u| u.starts_with("http://"));
    let mut c = clients(cli.scheduler, cli.token, cli.ca_cert)
        .await
        .map_err(|e| anyhow!(with_tls_hint(plain, &format!("{e:#}"))))?;
    let rpc = |s: tonic::Status| anyhow!(with_tls_hint(plain, &status_line(&s)));
    match cli.command {
        Cmd::Problem(ProblemCmd::Push {
            dir,
            id,
            time_limit,
        }) => {
            let resp = push::push(&mut c.admin, &dir, id, time_limit).await?;
            eprintln!(
                "stored {} version {} with {} tests",
                resp.id, resp.version, resp.test_count
            );
            for note in &resp.notes {
                eprintln!("note: {}", judgectl::visible::visible(note));
            }
            println!("{}", resp.id);
        }
        Cmd::Problem(ProblemCmd::Verify {
            dir,
            id,
            calibrate,
            json,
            python,
        }) => {
            let report =
                judgectl::verify::verify(&c.judge, &mut c.admin, &dir, id, calibrate, python)
                    .await?;
            if json {
                println!("{}", report.json());
            } else {
                report.print_table();
            }
            if !report.passed() {
                bail!(
                    "{}: some submissions did not get what their folder says",
                    dir.display()
                );
            }
        }
        Cmd::Problem(ProblemCmd::List { json }) => {
            let list = c
                .judge
                .list_problems(pb::ListProblemsRequest {})
                .await
                .map_err(rpc)?
                .into_inner();
            output::problems(&list.problems, json);
        }
        Cmd::Submit {
            problem,
            language,
            file,
            wait,
            json,
            all_tests,
            supersede_key,
            priority,
        } => {
            let source =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let req = pb::SubmitRequest {
                problem_id: problem,
                language,
                source,
                job_type: String::new(),
                run_all_tests: all_tests,
                request_id: String::new(),
                stdin: Vec::new(),
                limits: None,
                supersede_key: supersede_key.unwrap_or_default(),
                priority: priority.unwrap_or_default(),
            };
            let job_id = judgectl::submit::submit(&mut c.judge, req)
                .await
                .map_err(rpc)?;
            if !wait {
                if json {
                    println!("{}", serde_json::json!({ "job_id": job_id }));
                } else {
                    println!("{job_id}");
                }
                return Ok(Exit::Ok);
            }
            let job = finished(&mut c.judge, job_id, !json).await?;
            output::job(&job, json);
        }
        Cmd::Run {
            language,
            file,
            stdin,
            time_limit,
            memory_limit,
            output_limit,
            json,
        } => {
            let source =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let input = match &stdin {
                Some(p) => std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
                None => Vec::new(),
            };
            let limits = run_limits(time_limit, memory_limit, output_limit)?;
            let req = judgectl::run::request(language, source, input, limits);
            let job_id = judgectl::submit::submit(&mut c.judge, req)
                .await
                .map_err(rpc)?;
            let job = finished(&mut c.judge, job_id, false).await?;
            if json {
                println!("{}", judgectl::run::job_json(&job));
            } else {
                judgectl::run::print(&job)?;
            }
            return Ok(Exit::Code(judgectl::run::exit_code(job.run.as_ref())));
        }
        Cmd::Console {
            language,
            file,
            time_limit,
            memory_limit,
        } => {
            let source =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let limits = run_limits(time_limit, memory_limit, None)?;
            let code = judgectl::console::console(&mut c.judge, language, source, limits).await?;
            return Ok(Exit::Code(code));
        }
        Cmd::Get { job, json } => {
            let job = c
                .judge
                .get_job(pb::GetJobRequest { job_id: job })
                .await
                .map_err(rpc)?
                .into_inner();
            output::job(&job, json);
        }
        Cmd::Watch { job, json, after } => follow(&mut c.judge, job, after, !json, json).await?,
        Cmd::Cancel { job } => {
            let r = c
                .judge
                .cancel_job(pb::CancelJobRequest { job_id: job })
                .await
                .map_err(rpc)?
                .into_inner();
            println!("{}", output::state_name(r.state));
        }
        Cmd::Jobs { json, limit } => {
            let list = c
                .judge
                .list_jobs(pb::ListJobsRequest {
                    limit,
                    ..Default::default()
                })
                .await
                .map_err(rpc)?
                .into_inner();
            output::jobs(&list.jobs, json);
        }
        Cmd::Workers { json } => {
            let list = c
                .judge
                .list_workers(pb::ListWorkersRequest {})
                .await
                .map_err(rpc)?
                .into_inner();
            output::workers(&list.workers, json);
        }
        Cmd::Rejudge {
            problem,
            verdict,
            since,
            jobs,
            priority,
            wait,
            json,
        } => {
            let req = judgectl::rejudge::request(
                problem.clone(),
                verdict.as_deref(),
                since.as_deref(),
                jobs.as_deref(),
                priority,
            )?;
            let r = c.admin.rejudge(req).await.map_err(rpc)?.into_inner();
            eprintln!(
                "{} jobs of {problem} queued to be judged on version {}",
                r.jobs.len(),
                r.problem_version
            );
            if !wait {
                if json {
                    println!("{}", judge_common::json::rejudge_json(&r));
                } else {
                    for j in &r.jobs {
                        println!("{}", j.job_id);
                    }
                }
                return Ok(Exit::Ok);
            }
            let outcome = judgectl::rejudge::wait(&mut c.judge, &problem, &r).await?;
            if json {
                println!("{}", outcome.json(&r));
            } else {
                outcome.print();
            }
        }
        Cmd::Worker(WorkerCmd::Release { name }) => {
            c.admin
                .release_worker(pb::ReleaseWorkerRequest { name: name.clone() })
                .await
                .map_err(rpc)?;
            eprintln!("worker {name} is out of quarantine");
        }
        Cmd::Drain { name } => {
            c.admin
                .drain_worker(pb::DrainWorkerRequest { name: name.clone() })
                .await
                .map_err(rpc)?;
            eprintln!("worker {name} is draining");
        }
    }
    Ok(Exit::Ok)
}

/// Follows a job until it finishes (a live line on stderr with `progress`); the job then.
async fn finished(
    client: &mut JudgeServiceClient<Authed>,
    job_id: u64,
    progress: bool,
) -> Result<pb::Job> {
    follow(client, job_id, 0, progress, false).await?;
    let job = client
        .get_job(pb::GetJobRequest { job_id })
        .await
        .map_err(|s| anyhow!(status_line(&s)))?;
    Ok(job.into_inner())
}

/// How many times in a row a watch is resumed, half a second apart: long enough for a
/// standby to take over from a leader that died (its lease, 8 s by default, then recovery).
const WATCH_RETRIES: u32 = 60;

/// Follows a job's events until it finishes; resumes from the last event after a dropped
/// stream. `progress` draws a live line on stderr; `json` prints each event on stdout.
async fn follow(
    client: &mut JudgeServiceClient<Authed>,
    job_id: u64,
    after: u64,
    progress: bool,
    json: bool,
) -> Result<()> {
    let mut last = after;
    let mut retries = 0;
    loop {
        let req = pb::WatchJobRequest {
            job_id,
            after_seq: last,
        };
        let mut stream = match client.watch_job(req).await {
            Ok(s) => s.into_inner(),
            Err(s) if s.code() == tonic::Code::Unavailable && retries < WATCH_RETRIES => {
                retries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                continue;
            }
            Err(s) => bail!(status_line(&s)),
        };
        loop {
            match stream.message().await {
                Ok(Some(ev)) => {
                    last = ev.seq;
                    retries = 0;
                    if json {
                        println!("{}", output::event_json(&ev));
                    }
                    if progress {
                        output::progress(&ev);
                    }
                }
                // The scheduler ends the watch after the job's last end (a job judged
                // again ends once per judging).
                Ok(None) => {
                    if progress {
                        eprintln!();
                    }
                    return Ok(());
                }
                Err(s) if retries < WATCH_RETRIES => {
                    retries += 1;
                    tracing_free_warn(&s);
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    break;
                }
                Err(s) => bail!(status_line(&s)),
            }
        }
    }
}

fn tracing_free_warn(s: &tonic::Status) {
    eprintln!("\nwatch interrupted ({}); resuming", status_line(s));
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    judgectl::visible::set_raw(cli.raw);
    // `run` speaks through its exit code: its own failures get one of its own too.
    let failure = if matches!(cli.command, Cmd::Run { .. } | Cmd::Console { .. }) {
        ExitCode::from(judgectl::run::EXIT_NO_RESULT)
    } else {
        ExitCode::FAILURE
    };
    match run(cli).await {
        Ok(Exit::Ok) => ExitCode::SUCCESS,
        Ok(Exit::Code(code)) => ExitCode::from(code),
        Err(e) => {
            // Server messages can quote what a user sent.
            eprintln!(
                "judgectl: {}",
                judgectl::visible::visible(&format!("{e:#}"))
            );
            failure
        }
    }
}
