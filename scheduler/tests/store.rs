//! The store against real databases: a SQLite file always, and PostgreSQL when
//! `JUDGE_TEST_POSTGRES_URL` points at a server (`.ci/run` starts one). Each PostgreSQL test
//! gets a database of its own.

mod common;

use std::collections::HashMap;

use judge_common::pb;
use judge_common::problem::build_manifest;
use judge_scheduler::core::{JobSpec, NewJob, Persist};
use judge_scheduler::live::tokens;
use judge_scheduler::store::{Payload, Role, Store};

/// One store per backend available here.
async fn stores() -> Vec<(String, Store, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/judge.db", dir.path().display());
    let mut out = vec![(
        "sqlite".to_string(),
        Store::open(&url).await.expect("sqlite store"),
        Some(dir),
    )];
    if let Ok(base) = std::env::var("JUDGE_TEST_POSTGRES_URL") {
        let name = format!("judge_test_{:016x}", rand::random::<u64>());
        let admin = sqlx::PgPool::connect(&base)
            .await
            .expect("postgres reachable");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .expect("create database");
        admin.close().await;
        let (prefix, _) = base.rsplit_once('/').expect("URL with a database");
        let store = Store::open(&format!("{prefix}/{name}"))
            .await
            .expect("postgres store");
        out.push(("postgres".to_string(), store, None));
    }
    out
}

fn job() -> NewJob {
    NewJob {
        spec: JobSpec::Judge {
            problem: "p".into(),
            version: 1,
            run_all_tests: false,
        },
        language: "python3".into(),
        owner: "alice".into(),
        request_id: None,
        supersede_key: None,
        priority: Default::default(),
    }
}

fn test_result(index: u32) -> pb::TestResult {
    pb::TestResult {
        index,
        name: format!("t{index}"),
        verdict: pb::Verdict::Ac as i32,
        time_ms: 5,
        ..Default::default()
    }
}

fn event(job_id: u64, seq: u64) -> Persist {
    Persist::Event(pb::JobEvent {
        job_id,
        seq,
        at_ms: 1,
        event: Some(pb::job_event::Event::Submitted(pb::Submitted {})),
    })
}

#[tokio::test]
async fn transitions_are_fenced_by_attempt_and_state() {
    for (backend, store, _keep) in stores().await {
        let sources = HashMap::from([(
            7,
            Payload {
                source: b"print(1)".to_vec(),
                stdin: Vec::new(),
            },
        )]);
        let insert = Persist::InsertJob {
            job_id: 1,
            req: 7,
            job: job(),
            at: 10,
        };
        store
            .persist(&[&insert, &event(1, 1)], &sources)
            .await
            .unwrap();
        let assign = Persist::Assigned {
            job_id: 1,
            attempt: 1,
            worker: "w".into(),
        };
        store
            .persist(
                &[
                    &assign,
                    &Persist::Started {
                        job_id: 1,
                        attempt: 1,
                    },
                ],
                &sources,
            )
            .await
            .unwrap();
        // A result for a wrong attempt is dropped; for the right one it lands once.
        let stale = Persist::Test {
            job_id: 1,
            attempt: 2,
            result: test_result(0),
        };
        let good = Persist::Test {
            job_id: 1,
            attempt: 1,
            result: test_result(0),
        };
        store.persist(&[&stale, &good], &sources).await.unwrap();
        assert_eq!(store.tests(1, 1).await.unwrap().len(), 1, "{backend}");
        assert!(store.tests(1, 2).await.unwrap().is_empty(), "{backend}");

        // Lose the attempt, assign again: the old attempt cannot finish the job.
        store
            .persist(
                &[&Persist::Requeued {
                    job_id: 1,
                    attempt: 1,
                }],
                &sources,
            )
            .await
            .unwrap();
        store
            .persist(
                &[&Persist::Assigned {
                    job_id: 1,
                    attempt: 2,
                    worker: "v".into(),
                }],
                &sources,
            )
            .await
            .unwrap();
        let finish = |attempt, verdict| Persist::Finished {
            job_id: 1,
            attempt,
            state: pb::JobState::Done,
            verdict: Some(verdict),
            message: String::new(),
            score: Some(2.5),
            run: None,
            at: 20,
        };
        store
            .persist(&[&finish(1, pb::Verdict::Wa)], &sources)
            .await
            .unwrap();
        let rec = store.job(1).await.unwrap().unwrap();
        assert_eq!(
            (rec.state, rec.attempt),
            (pb::JobState::Assigned, 2),
            "{backend}: old attempt fenced off"
        );
        store
            .persist(
                &[&finish(2, pb::Verdict::Ac), &finish(2, pb::Verdict::Wa)],
                &sources,
            )
            .await
            .unwrap();
        let rec = store.job(1).await.unwrap().unwrap();
        assert_eq!(
            (rec.state, rec.verdict),
            (pb::JobState::Done, Some(pb::Verdict::Ac)),
            "{backend}: first finish wins"
        );
        assert_eq!(rec.score, Some(2.5), "{backend}: the score is kept");
        assert_eq!(rec.worker.as_deref(), Some("v"));
        let payloads = store.assign_payloads(&[1]).await.unwrap();
        assert_eq!(payloads[&1].payload.source, b"print(1)", "{backend}");
    }
}

#[tokio::test]
async fn every_kind_comes_back_as_it_was_stored() {
    for (backend, store, _keep) in stores().await {
        let console = pb::ConsoleSpec {
            size: Some(pb::TerminalSize { rows: 24, cols: 80 }),
            limits: Some(pb::RunLimits {
                time_limit_ms: Some(2000),
                memory_limit_bytes: Some(64 << 20),
                output_limit_bytes: Some(1 << 20),
            }),
            piped_input: false,
            max_seconds: 600,
            idle_seconds: 60,
        };
        let specs = [
            JobSpec::Judge {
                problem: "p".into(),
                version: 7,
                run_all_tests: true,
            },
            JobSpec::Run {
                limits: console.limits.unwrap(),
            },
            JobSpec::Console { spec: console },
        ];
        let sources = HashMap::from([(1, Payload::default())]);
        for (i, spec) in specs.iter().enumerate() {
            let insert = Persist::InsertJob {
                job_id: i as u64 + 1,
                req: 1,
                job: NewJob {
                    spec: spec.clone(),
                    supersede_key: Some(format!("key-{i}")),
                    ..job()
                },
                at: 1,
            };
            store.persist(&[&insert], &sources).await.unwrap();
        }
        let ids = [1, 2, 3];
        let payloads = store.assign_payloads(&ids).await.unwrap();
        for (id, spec) in ids.iter().zip(&specs) {
            assert_eq!(&payloads[id].job.spec, spec, "{backend}: assignment");
            let record = store.job(*id).await.unwrap().unwrap();
            assert_eq!(&record.job.spec, spec, "{backend}: the job's row");
            let key = format!("key-{}", id - 1);
            assert_eq!(record.job.supersede_key.as_deref(), Some(key.as_str()));
        }
    }
}

#[tokio::test]
async fn a_run_job_keeps_its_input_limits_and_result() {
    for (backend, store, _keep) in stores().await {
        let limits = pb::RunLimits {
            time_limit_ms: Some(1500),
            memory_limit_bytes: Some(64 << 20),
            output_limit_bytes: Some(4096),
        };
        let run = NewJob {
            spec: JobSpec::Run { limits },
            ..job()
        };
        let stdin: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        let sources = HashMap::from([(
            3,
            Payload {
                source: b"cat".to_vec(),
                stdin: stdin.clone(),
            },
        )]);
        let insert = Persist::InsertJob {
            job_id: 1,
            req: 3,
            job: run,
            at: 1,
        };
        store.persist(&[&insert], &sources).await.unwrap();
        let back = store.unfinished().await.unwrap();
        assert_eq!(back[0].job.spec.limits(), Some(&limits), "{backend}");
        let payloads = store.assign_payloads(&[1]).await.unwrap();
        assert_eq!(
            payloads[&1].payload.stdin, stdin,
            "{backend}: input kept byte for byte"
        );
        assert_eq!(payloads[&1].job.spec.limits(), Some(&limits), "{backend}");
        assert_eq!(store.run_result(1).await.unwrap(), None, "{backend}");

        let assigned = Persist::Assigned {
            job_id: 1,
            attempt: 1,
            worker: "w".into(),
        };
        let result = pb::RunResult {
            outcome: pb::RunOutcome::Exited as i32,
            exit_code: Some(3),
            stdout: vec![0, 1, 2, 255],
            stderr: b"oops".to_vec(),
            stderr_truncated: true,
            time_ms: 12,
            ..Default::default()
        };
        let finished = Persist::Finished {
            job_id: 1,
            attempt: 1,
            state: pb::JobState::Done,
            verdict: None,
            message: String::new(),
            score: None,
            run: Some(Box::new(result.clone())),
            at: 5,
        };
        store
            .persist(&[&assigned, &finished], &HashMap::new())
            .await
            .unwrap();
        assert_eq!(
            store.run_result(1).await.unwrap().as_ref(),
            Some(&result),
            "{backend}"
        );
        let rec = store.job(1).await.unwrap().unwrap();
        assert_eq!(
            (rec.state, rec.verdict),
            (pb::JobState::Done, None),
            "{backend}"
        );
        // What the owner's run jobs hold: source, input and result, until they expire.
        let held = store.run_bytes_held("alice").await.unwrap();
        let result_len = prost::Message::encoded_len(&result) as u64;
        assert_eq!(held, 3 + 70_000 + result_len, "{backend}");
        assert_eq!(store.run_bytes_held("bob").await.unwrap(), 0, "{backend}");
        // Ended at 5: kept at a cutoff of 5, dropped at 6 (the outcome and use stay).
        assert_eq!(store.expire_run_io(5, 100).await.unwrap(), 0, "{backend}");
        assert_eq!(store.expire_run_io(6, 100).await.unwrap(), 1, "{backend}");
        assert_eq!(
            store.expire_run_io(6, 101).await.unwrap(),
            0,
            "{backend}: once"
        );
        let kept = store.run_result(1).await.unwrap().unwrap();
        assert!(
            kept.stdout.is_empty() && kept.stderr.is_empty(),
            "{backend}"
        );
        assert_eq!((kept.exit_code, kept.time_ms), (Some(3), 12), "{backend}");
        assert_eq!(
            store.job(1).await.unwrap().unwrap().io_expired_at,
            Some(100)
        );
        assert!(store.assign_payloads(&[1]).await.unwrap()[&1]
            .payload
            .stdin
            .is_empty());
        assert_eq!(store.run_bytes_held("alice").await.unwrap(), 0, "{backend}");
        // A judge job has neither input nor limits.
        let judge = Persist::InsertJob {
            job_id: 2,
            req: 9,
            job: job(),
            at: 1,
        };
        store.persist(&[&judge], &HashMap::new()).await.unwrap();
        let payloads = store.assign_payloads(&[2]).await.unwrap();
        assert!(payloads[&2].payload.stdin.is_empty() && payloads[&2].job.spec.limits().is_none());
        let types = store.offered_job_types().await.unwrap();
        assert_eq!(types, ["judge"], "{backend}: judge is known from the start");
        store.offer(&[], &["run".to_string()], 3).await.unwrap();
        let types = store.offered_job_types().await.unwrap();
        assert_eq!(types, ["judge", "run"], "{backend}");
    }
}

#[tokio::test]
async fn unfinished_jobs_come_back_with_their_progress() {
    for (backend, store, _keep) in stores().await {
        let sources = HashMap::new();
        for id in 1..=3 {
            let insert = Persist::InsertJob {
                job_id: id,
                req: 0,
                job: job(),
                at: 1,
            };
            store
                .persist(&[&insert, &event(id, 1)], &sources)
                .await
                .unwrap();
        }
        let steps = [
            Persist::Assigned {
                job_id: 2,
                attempt: 1,
                worker: "w".into(),
            },
            Persist::Started {
                job_id: 2,
                attempt: 1,
            },
            Persist::Test {
                job_id: 2,
                attempt: 1,
                result: test_result(0),
            },
            event(2, 2),
            event(2, 3),
            Persist::Finished {
                job_id: 3,
                attempt: 0,
                state: pb::JobState::Cancelled,
                verdict: None,
                message: "x".into(),
                score: None,
                run: None,
                at: 2,
            },
            Persist::Group {
                job_id: 2,
                attempt: 1,
                result: pb::GroupResult {
                    name: "secret/g1".into(),
                    verdict: pb::Verdict::Ac as i32,
                    score: 30.0,
                    index: 0,
                    groups: Vec::new(),
                },
            },
        ];
        store
            .persist(&steps.iter().collect::<Vec<_>>(), &sources)
            .await
            .unwrap();
        assert_eq!(store.max_job_id().await.unwrap(), 3, "{backend}");
        let back = store.unfinished().await.unwrap();
        let summary: Vec<_> = back
            .iter()
            .map(|r| (r.job_id, r.state, r.attempt, r.last_seq, r.tests_done))
            .collect();
        let job2 = back.iter().find(|r| r.job_id == 2).unwrap();
        assert_eq!(job2.groups_done, 1, "{backend}");
        let groups = store.groups(2, 1).await.unwrap();
        assert_eq!(
            (groups[0].name.as_str(), groups[0].score),
            ("secret/g1", 30.0),
            "{backend}"
        );
        assert_eq!(
            summary,
            vec![
                (1, pb::JobState::Queued, 0, 1, 0),
                (2, pb::JobState::Running, 1, 3, 1)
            ],
            "{backend}"
        );
        assert_eq!(back[1].worker.as_deref(), Some("w"));
        let events = store.events_after(2, 1).await.unwrap();
        assert_eq!(
            events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [2, 3],
            "{backend}"
        );
        // A seq past every stored one (even past i64) replays nothing, never everything.
        for after in [3, i64::MAX as u64, 1 << 63, u64::MAX] {
            let events = store.events_after(2, after).await.unwrap();
            assert!(events.is_empty(), "{backend}: after {after}");
        }
        assert_eq!(
            store.next_epoch().await.unwrap() + 1,
            store.next_epoch().await.unwrap(),
            "{backend}"
        );
    }
}

#[tokio::test]
async fn tokens_and_problem_versions() {
    for (backend, store, _keep) in stores().await {
        let (rec, _text) = tokens::issue("w", Role::Worker, Default::default(), 5);
        store.insert_token(&rec).await.unwrap();
        let dup = tokens::issue("w", Role::Admin, Default::default(), 6).0;
        assert!(
            store
                .insert_token(&dup)
                .await
                .unwrap_err()
                .to_string()
                .contains("already exists"),
            "{backend}"
        );
        store.revoke_token("w", 7).await.unwrap();
        assert!(store.tokens().await.unwrap()[0].revoked, "{backend}");
        assert!(store.revoke_token("nobody", 7).await.is_err());

        let files = common::one_test_package();
        let manifest = build_manifest("p", &files, |_| None, Some(1.5)).unwrap();
        assert_eq!(
            store
                .insert_problem("p", &manifest, &files, 1)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            store
                .insert_problem("p", &manifest, &files, 2)
                .await
                .unwrap(),
            2,
            "{backend}"
        );
        assert_eq!(store.latest_version("p").await.unwrap(), Some(2));
        assert_eq!(store.latest_version("q").await.unwrap(), None);
        let spec = store.problem_spec("p", 1).await.unwrap();
        assert_eq!(
            (spec.time_limit_ms, spec.tests.len()),
            (1500, 1),
            "{backend}"
        );
        let list = store.problems().await.unwrap();
        assert_eq!(
            (list.len(), list[0].version, list[0].total_bytes),
            (1, 2, 6),
            "{backend}"
        );
        assert!(store
            .referenced_blobs()
            .await
            .unwrap()
            .contains(&"a".repeat(64)));
    }
}

#[tokio::test]
async fn job_ids_are_not_handed_out_again_even_if_rows_go() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/judge.db", dir.path().display());
    let store = Store::open(&url).await.expect("sqlite store");
    let sources = HashMap::new();
    for job_id in [1, 2] {
        let insert = Persist::InsertJob {
            job_id,
            req: job_id,
            job: job(),
            at: 1,
        };
        store.persist(&[&insert], &sources).await.unwrap();
    }
    // A row gone behind the store's back (a repair, a restore from an older backup of the
    // table) does not bring its id back.
    let raw = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("DELETE FROM jobs WHERE id = 2")
        .execute(&raw)
        .await
        .unwrap();
    raw.close().await;
    assert_eq!(store.max_job_id().await.unwrap(), 2);
}

/// A rejudge keeps the job's judging so far as a `judgings` row and queues the job with the
/// new version and class, fenced: a job that has not ended is not judged again, and the
/// rejudge's new attempt finishes it with its own tests. Recovery sees the new judging.
#[tokio::test]
async fn a_rejudge_keeps_the_judging_before_and_queues_the_job() {
    use judge_common::priority::Priority;
    use judge_scheduler::store::RejudgeFilter;
    for (backend, store, _keep) in stores().await {
        let sources = HashMap::new();
        let insert = Persist::InsertJob {
            job_id: 1,
            req: 1,
            job: job(),
            at: 10,
        };
        let steps = [
            insert,
            Persist::Assigned {
                job_id: 1,
                attempt: 1,
                worker: "w".into(),
            },
            Persist::Started {
                job_id: 1,
                attempt: 1,
            },
            Persist::Test {
                job_id: 1,
                attempt: 1,
                result: test_result(0),
            },
        ];
        for s in &steps {
            store.persist(&[s], &sources).await.unwrap();
        }
        let rejudge = Persist::Rejudged {
            job_id: 1,
            version: 2,
            priority: Priority::Bulk,
            base: 1,
            ended: (pb::JobState::Done, Some(pb::Verdict::Wa)),
        };
        // Still running: the fence holds, nothing changes.
        store.persist(&[&rejudge], &sources).await.unwrap();
        assert!(
            store.past_judgings(1).await.unwrap().is_empty(),
            "{backend}"
        );
        let filter = RejudgeFilter {
            problem: "p".into(),
            ..Default::default()
        };
        assert!(store
            .rejudge_candidates(&filter, 10)
            .await
            .unwrap()
            .is_empty());
        let finish = |attempt, verdict| Persist::Finished {
            job_id: 1,
            attempt,
            state: pb::JobState::Done,
            verdict: Some(verdict),
            message: "first".into(),
            score: None,
            run: None,
            at: 20,
        };
        store
            .persist(&[&finish(1, pb::Verdict::Wa), &event(1, 1)], &sources)
            .await
            .unwrap();
        let found = store.rejudge_candidates(&filter, 10).await.unwrap();
        assert_eq!(found.len(), 1, "{backend}");
        assert_eq!(found[0].1, 1, "{backend}: its last event's seq");
        let later = RejudgeFilter {
            since: Some(11),
            ..filter.clone()
        };
        let other_verdict = RejudgeFilter {
            verdicts: vec![pb::Verdict::Tle],
            ..filter.clone()
        };
        let right_verdict = RejudgeFilter {
            verdicts: vec![pb::Verdict::Tle, pb::Verdict::Wa],
            ..filter.clone()
        };
        assert!(store
            .rejudge_candidates(&other_verdict, 10)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            store
                .rejudge_candidates(&right_verdict, 10)
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(store
            .rejudge_candidates(&later, 10)
            .await
            .unwrap()
            .is_empty());

        store.persist(&[&rejudge], &sources).await.unwrap();
        let rec = store.job(1).await.unwrap().unwrap();
        assert_eq!(
            (rec.state, rec.verdict, rec.judging_base, rec.job.priority),
            (pb::JobState::Queued, None, 1, Priority::Bulk),
            "{backend}"
        );
        assert_eq!(rec.job.spec.problem(), Some(("p", 2)), "{backend}");
        let past = store.past_judgings(1).await.unwrap();
        assert_eq!(past.len(), 1, "{backend}");
        assert_eq!(
            (
                past[0].version,
                past[0].verdict,
                past[0].attempt,
                past[0].message.as_str()
            ),
            (1, Some(pb::Verdict::Wa), 1, "first"),
            "{backend}"
        );
        let unfinished = store.unfinished().await.unwrap();
        assert_eq!(
            (unfinished.len(), unfinished[0].judging_base),
            (1, 1),
            "{backend}"
        );
        // The new judging runs as attempt 2 and ends on its own.
        for s in [
            Persist::Assigned {
                job_id: 1,
                attempt: 2,
                worker: "w".into(),
            },
            Persist::Started {
                job_id: 1,
                attempt: 2,
            },
            finish(2, pb::Verdict::Ac),
        ] {
            store.persist(&[&s], &sources).await.unwrap();
        }
        let rec = store.job(1).await.unwrap().unwrap();
        assert_eq!(rec.verdict, Some(pb::Verdict::Ac), "{backend}");
        assert_eq!(store.tests(1, 1).await.unwrap().len(), 1, "{backend}: kept");
        assert!(store.tests(1, 2).await.unwrap().is_empty(), "{backend}");
    }
}

/// The leader's lease on PostgreSQL: a store fenced on a term writes nothing once another
/// scheduler has taken the lease, and a renewal of the old term is refused.
#[tokio::test]
async fn a_deposed_leader_writes_nothing_once_another_took_the_lease() {
    for (_backend, store, _keep) in stores().await {
        if !store.is_shared() {
            continue;
        }
        // A lease of 50 ms, so that the second scheduler may take it soon.
        let first = store
            .take_lease("a", "http://a:1", "http://a:2", 50)
            .await
            .unwrap()
            .expect("the lease starts free");
        let fenced = store.clone().fenced(first);
        let before = fenced.next_epoch().await.expect("the leader writes");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let second = loop {
            if let Some(term) = store
                .take_lease("b", "http://b:1", "http://b:2", 60_000)
                .await
                .unwrap()
            {
                break term;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the lease never ran out"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        };
        assert_eq!(second, first + 1);
        match fenced.next_epoch().await {
            Err(judge_scheduler::store::StoreError::Deposed { term, now }) => {
                assert_eq!((term, now), (first, second));
            }
            other => panic!("a deposed leader's write went through: {other:?}"),
        }
        assert_eq!(store.epoch().await.unwrap(), before, "nothing was written");
        assert!(!store.renew_lease(first, "a", 60_000).await.unwrap());
        // The new leader's own writes go on; its lease names it.
        store.clone().fenced(second).next_epoch().await.unwrap();
        let lease = store.lease().await.unwrap();
        assert_eq!((lease.term, lease.address.as_str()), (second, "http://b:1"));
        assert!(lease.remaining_ms > 0);
        // A clean shutdown hands over at once.
        store.release_lease(second, "b").await.unwrap();
        assert!(store.lease().await.unwrap().remaining_ms <= 0);
    }
}

/// On PostgreSQL a problem file is kept in the database too, so that a scheduler with an
/// empty blob directory (one that took over) serves it, checked against its hash.
#[tokio::test]
async fn a_blob_stored_through_one_scheduler_is_served_by_another() {
    use judge_scheduler::store::blobs::BlobStore;
    for (_backend, store, _keep) in stores().await {
        if !store.is_shared() {
            continue;
        }
        let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let one = BlobStore::open(dirs.0.path())
            .await
            .unwrap()
            .backed_by(&store);
        let other = BlobStore::open(dirs.1.path())
            .await
            .unwrap()
            .backed_by(&store);
        // Over two chunks, so that the order of the rows matters.
        let data: Vec<u8> = (0..(2 << 20) + 12345).map(|i| (i % 251) as u8).collect();
        let mut w = one.writer().await.unwrap();
        w.write(&data).await.unwrap();
        let staged = w.finish().await.unwrap();
        let sha = staged.sha256.clone();
        staged.commit(1).await.unwrap();
        assert!(!other.path(&sha).exists());
        let path = other
            .local(&sha)
            .await
            .unwrap()
            .expect("served from the database");
        assert_eq!(std::fs::read(path).unwrap(), data);
        let missing = "0".repeat(64);
        assert_eq!(other.local(&missing).await.unwrap(), None);
        // Rows no version references are swept once old enough, not before.
        assert_eq!(store.sweep_blob_rows(0).await.unwrap(), 0);
        assert_eq!(store.sweep_blob_rows(2).await.unwrap(), 1);
        assert!(!store.has_blob_rows(&sha).await.unwrap());
    }
}
