//! Scenario and randomized tests of the core, in simulated time.

use std::collections::{HashMap, HashSet};

use super::*;

fn job(lang: &str) -> NewJob {
    NewJob {
        spec: JobSpec::Judge {
            problem: "aplusb".into(),
            version: 1,
            run_all_tests: false,
        },
        language: lang.into(),
        owner: "alice".into(),
        request_id: None,
        supersede_key: None,
        priority: Default::default(),
    }
}

fn hello(name: &str, slots: u32) -> WorkerHello {
    WorkerHello {
        name: name.into(),
        token_id: format!("tok-{name}"),
        slots,
        job_types: vec!["judge".into()],
        languages: vec!["c".into(), "python3".into()],
        running: vec![],
        cached: vec![],
        cache: Default::default(),
    }
}

/// A worker connects; the effects of that.
fn connect(core: &mut Core, session: SessionId, hello: WorkerHello, now: Millis) -> Vec<Effect> {
    core.apply(
        Event::WorkerConnected {
            req: 0,
            session,
            hello,
        },
        now,
    )
}

fn files() -> JobFiles {
    vec![("in".to_string(), 100), ("ans".to_string(), 10)].into()
}

fn sub(req: RequestId, job: NewJob) -> Event {
    Event::Submit {
        req,
        job,
        files: files(),
        worst_case_ms: 60_000,
    }
}

fn assigns(effects: &[Effect]) -> Vec<(SessionId, JobId, Attempt)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send {
                session,
                command: Command::Assign { job_id, attempt },
            } => Some((*session, *job_id, *attempt)),
            _ => None,
        })
        .collect()
}

fn finished(effects: &[Effect]) -> Vec<(JobId, pb::JobState, Option<pb::Verdict>)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Persist(Persist::Finished {
                job_id,
                state,
                verdict,
                ..
            }) => Some((*job_id, *state, *verdict)),
            _ => None,
        })
        .collect()
}

fn submitted_id(effects: &[Effect]) -> JobId {
    effects
        .iter()
        .find_map(|e| match e {
            Effect::Reply {
                reply: Reply::Submitted(Ok(id)),
                ..
            } => Some(*id),
            _ => None,
        })
        .expect("job admitted")
}

fn progress(session: SessionId, job_id: JobId, attempt: Attempt, p: JobProgress) -> Event {
    Event::Progress {
        session,
        job_id,
        attempt,
        progress: p,
    }
}

fn done(verdict: pb::Verdict) -> JobProgress {
    JobProgress::Finished {
        verdict,
        message: String::new(),
        cancelled: false,
        score: None,
        run: None,
    }
}

#[test]
fn a_connect_is_answered_after_its_welcome() {
    let mut core = Core::new(CoreConfig::default());
    let fx = core.apply(
        Event::WorkerConnected {
            req: 9,
            session: 4,
            hello: hello("a", 1),
        },
        0,
    );
    let welcome = fx.iter().position(|e| {
        matches!(
            e,
            Effect::Send {
                session: 4,
                command: Command::Welcome { .. }
            }
        )
    });
    let reply = fx.iter().position(|e| {
        matches!(
            e,
            Effect::Reply {
                req: 9,
                reply: Reply::Connected(4)
            }
        )
    });
    assert!(
        welcome.is_some() && reply.is_some() && welcome < reply,
        "{fx:?}"
    );
}

#[test]
fn an_abandoned_job_ends_as_judge_error_and_frees_its_slot() {
    let mut core = Core::new(CoreConfig::default());
    connect(&mut core, 1, hello("a", 1), 0);
    let fx = core.apply(sub(1, job("c")), 0);
    let id = submitted_id(&fx);
    assert_eq!(assigns(&fx), vec![(1, id, 1)]);
    let reason = "problem aplusb version 1 is gone from the store".to_string();
    let fx = core.apply(
        Event::Abandon {
            job_id: id,
            reason: reason.clone(),
        },
        1,
    );
    assert_eq!(
        finished(&fx),
        vec![(id, pb::JobState::Failed, Some(pb::Verdict::Je))]
    );
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Persist(Persist::Finished { message, .. }) if *message == reason
    )));
    // Its slot is free again, and a late report of the abandoned attempt changes nothing.
    let fx = core.apply(sub(2, job("c")), 2);
    let next = submitted_id(&fx);
    assert_eq!(assigns(&fx), vec![(1, next, 1)]);
    let fx = core.apply(progress(1, id, 1, done(pb::Verdict::Ac)), 3);
    assert!(finished(&fx).is_empty());
}

#[test]
fn an_attempt_past_its_worst_case_is_taken_back_and_counts_against_the_cap() {
    let config = CoreConfig {
        attempt_slack_ms: 1_000,
        max_attempts: 2,
        ..CoreConfig::default()
    };
    let mut core = Core::new(config);
    connect(&mut core, 1, hello("stuck", 1), 0);
    let fx = core.apply(sub(1, job("c")), 0);
    let id = submitted_id(&fx);
    assert_eq!(assigns(&fx), vec![(1, id, 1)]);
    core.apply(progress(1, id, 1, JobProgress::Accepted), 10);
    // The worker keeps reporting (it is not lost), but never finishes.
    core.apply(
        Event::Resources {
            session: 1,
            usage: Usage::default(),
        },
        60_000,
    );
    assert!(
        core.apply(Event::Tick, 60_999).is_empty(),
        "not yet: 60 s + 1 s of slack"
    );
    let fx = core.apply(Event::Tick, 61_000);
    assert!(fx.contains(&Effect::Send {
        session: 1,
        command: Command::Cancel {
            job_id: id,
            attempt: 1
        }
    }));
    assert!(
        fx.iter().any(|e| matches!(
            e,
            Effect::Persist(Persist::Event(pb::JobEvent { event: Some(Ev::Requeued(r)), .. }))
                if r.reason.contains("worst case (61 s)")
        )),
        "{fx:?}"
    );
    // Its slot is free again: the job goes straight back to the same worker, attempt 2.
    assert_eq!(assigns(&fx), vec![(1, id, 2)]);
    // A late result of attempt 1 changes nothing.
    let fx = core.apply(progress(1, id, 1, done(pb::Verdict::Ac)), 61_001);
    assert!(finished(&fx).is_empty());
    // Attempt 2 overruns too: past the cap, a judge error.
    core.apply(
        Event::Resources {
            session: 1,
            usage: Usage::default(),
        },
        100_000,
    );
    let fx = core.apply(Event::Tick, 122_001);
    assert_eq!(
        finished(&fx),
        vec![(id, pb::JobState::Failed, Some(pb::Verdict::Je))]
    );
}

#[test]
fn a_queued_job_says_why_it_waits() {
    let mut core = Core::new(CoreConfig::default());
    let why = |core: &Core, id| core.waiting(id, 0).unwrap_or_default();
    let java = submitted_id(&core.apply(sub(1, job("java")), 0));
    assert_eq!(why(&core, java), "no connected worker takes judge jobs");
    connect(&mut core, 1, hello("a", 1), 0);
    assert_eq!(why(&core, java), "no connected worker offers java");
    let c = submitted_id(&core.apply(sub(2, job("c")), 0));
    assert_eq!(core.waiting(c, 0), None, "it runs at once: not queued");
    let next = submitted_id(&core.apply(sub(3, job("c")), 0));
    assert_eq!(
        why(&core, next),
        "all 1 slots of the 1 workers that can run it are busy"
    );
    core.apply(Event::WorkerDraining { session: 1 }, 0);
    assert_eq!(why(&core, next), "every worker that offers c is draining");
}

#[test]
fn a_job_runs_on_a_worker_and_finishes() {
    let mut core = Core::new(CoreConfig::default());
    connect(&mut core, 1, hello("a", 2), 0);
    let fx = core.apply(sub(7, job("c")), 10);
    let id = submitted_id(&fx);
    // Persist comes before the send of the same batch.
    let persist_at = fx
        .iter()
        .position(|e| matches!(e, Effect::Persist(Persist::Assigned { .. })));
    let send_at = fx.iter().position(|e| matches!(e, Effect::Send { .. }));
    assert!(persist_at.unwrap() < send_at.unwrap());
    assert_eq!(assigns(&fx), vec![(1, id, 1)]);
    core.apply(progress(1, id, 1, JobProgress::Accepted), 20);
    let fx = core.apply(progress(1, id, 1, done(pb::Verdict::Ac)), 30);
    assert_eq!(
        finished(&fx),
        vec![(id, pb::JobState::Done, Some(pb::Verdict::Ac))]
    );
    assert_eq!(core.active(), 0);
}

#[test]
fn group_results_count_once_in_order_and_the_score_is_persisted() {
    let mut core = Core::new(CoreConfig::default());
    connect(&mut core, 1, hello("a", 1), 0);
    let id = submitted_id(&core.apply(sub(7, job("c")), 10));
    core.apply(progress(1, id, 1, JobProgress::Accepted), 20);
    let group = |index: u32| {
        JobProgress::Group(pb::GroupResult {
            name: format!("secret/g{index}"),
            verdict: pb::Verdict::Ac as i32,
            score: 10.0,
            index,
            groups: Vec::new(),
        })
    };
    let persisted_groups = |fx: &[Effect]| {
        fx.iter()
            .filter(|e| matches!(e, Effect::Persist(Persist::Group { .. })))
            .count()
    };
    assert_eq!(
        persisted_groups(&core.apply(progress(1, id, 1, group(0)), 21)),
        1
    );
    // A duplicate, one out of order, and one for another attempt: none counts.
    assert_eq!(
        persisted_groups(&core.apply(progress(1, id, 1, group(0)), 22)),
        0
    );
    assert_eq!(
        persisted_groups(&core.apply(progress(1, id, 1, group(5)), 23)),
        0
    );
    assert_eq!(
        persisted_groups(&core.apply(progress(1, id, 2, group(1)), 24)),
        0
    );
    assert_eq!(
        persisted_groups(&core.apply(progress(1, id, 1, group(1)), 25)),
        1
    );
    let end = JobProgress::Finished {
        verdict: pb::Verdict::Ac,
        message: String::new(),
        cancelled: false,
        score: Some(20.0),
        run: None,
    };
    let fx = core.apply(progress(1, id, 1, end), 30);
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Persist(Persist::Finished {
            score: Some(s),
            run: None,
            ..
        }) if *s == 20.0
    )));
}

#[test]
fn jobs_wait_for_a_worker_that_speaks_their_language() {
    let mut core = Core::new(CoreConfig::default());
    let fx = core.apply(sub(1, job("java")), 0);
    let id = submitted_id(&fx);
    let fx = connect(&mut core, 1, hello("a", 2), 1);
    assert!(assigns(&fx).is_empty());
    let mut h = hello("b", 1);
    h.languages = vec!["java".into()];
    let fx = connect(&mut core, 2, h, 2);
    assert_eq!(assigns(&fx), vec![(2, id, 1)]);
}

#[test]
fn the_least_loaded_worker_gets_the_job() {
    let mut core = Core::new(CoreConfig::default());
    connect(&mut core, 1, hello("a", 1), 0);
    connect(&mut core, 2, hello("b", 4), 0);
    let mut per_session: HashMap<SessionId, usize> = HashMap::new();
    for i in 0..5 {
        let fx = core.apply(sub(i, job("c")), 1);
        for (s, _, _) in assigns(&fx) {
            *per_session.entry(s).or_default() += 1;
        }
    }
    assert_eq!(per_session.get(&1), Some(&1));
    assert_eq!(per_session.get(&2), Some(&4));
    assert_eq!(core.queued(), 0);
}

#[test]
fn a_full_queue_refuses_and_keeps_what_it_has() {
    let config = CoreConfig {
        max_queued: 2,
        ..CoreConfig::default()
    };
    let mut core = Core::new(config);
    core.apply(sub(1, job("c")), 0);
    core.apply(sub(2, job("c")), 0);
    let fx = core.apply(sub(3, job("c")), 0);
    assert_eq!(
        fx,
        vec![Effect::Reply {
            req: 3,
            reply: Reply::Submitted(Err(SubmitError::QueueFull(2)))
        }]
    );
    assert_eq!(core.queued(), 2);
}

#[test]
fn a_lost_worker_gets_a_grace_period_then_the_job_moves() {
    let mut core = Core::new(CoreConfig::default());
    connect(&mut core, 1, hello("a", 1), 0);
    let id = submitted_id(&core.apply(sub(1, job("c")), 0));
    core.apply(progress(1, id, 1, JobProgress::Accepted), 1);
    connect(&mut core, 2, hello("b", 1), 2);
    let fx = core.apply(Event::WorkerDisconnected { session: 1 }, 100);
    assert!(
        assigns(&fx).is_empty(),
        "no re-queue inside the grace period"
    );
    // Worker b stays alive meanwhile.
    core.apply(progress(2, id, 9, JobProgress::Compiling), 5_000);
    let fx = core.apply(Event::Tick, 100 + 9_999);
    assert!(assigns(&fx).is_empty());
    let fx = core.apply(Event::Tick, 100 + 10_000);
    assert_eq!(assigns(&fx), vec![(2, id, 2)]);
    // The old attempt's late result changes nothing.
    let fx = core.apply(progress(1, id, 1, done(pb::Verdict::Wa)), 20_000);
    assert!(finished(&fx).is_empty());
    core.apply(progress(2, id, 2, JobProgress::Accepted), 20_001);
    let fx = core.apply(progress(2, id, 2, done(pb::Verdict::Ac)), 20_002);
    assert_eq!(
        finished(&fx),
        vec![(id, pb::JobState::Done, Some(pb::Verdict::Ac))]
    );
}

#[test]
fn a_worker_back_inside_the_grace_period_keeps_its_job() {
    let mut core = Core::new(CoreConfig::default());
    connect(&mut core, 1, hello("a", 1), 0);
    let id = submitted_id(&core.apply(sub(1, job("c")), 0));
    core.apply(progress(1, id, 1, JobProgress::Accepted), 1);
    core.apply(Event::WorkerDisconnected { session: 1 }, 100);
    let mut h = hello("a", 1);
    h.running = vec![(id, 1)];
    let fx = connect(&mut core, 2, h, 5_000);
    assert!(fx.contains(&Effect::Send {
        session: 2,
        command: Command::Welcome {
            adopted: vec![(id, 1)]
        }
    }));
    assert!(assigns(&core.apply(Event::Tick, 12_000)).is_empty());
    let fx = core.apply(progress(2, id, 1, done(pb::Verdict::Ac)), 12_001);
    assert_eq!(
        finished(&fx),
        vec![(id, pb::JobState::Done, Some(pb::Verdict::Ac))]
    );
}

#[test]
fn a_worker_back_without_its_job_releases_it_at_once() {
    let mut core = Core::new(CoreConfig::default());
    connect(&mut core, 1, hello("a", 1), 0);
    let id = submitted_id(&core.apply(sub(1, job("c")), 0));
    core.apply(Event::WorkerDisconnected { session: 1 }, 100);
    let fx = connect(&mut core, 2, hello("a", 1), 200);
    assert_eq!(assigns(&fx), vec![(2, id, 2)]);
}

#[test]
fn past_the_retry_cap_the_job_fails_as_judge_error() {
    let mut core = Core::new(CoreConfig::default());
    let id = submitted_id(&core.apply(sub(1, job("c")), 0));
    let mut now = 0;
    for session in 1..=3 {
        let fx = core.apply(
            Event::WorkerConnected {
                req: 0,
                session,
                hello: hello("a", 1),
            },
            now,
        );
        assert_eq!(assigns(&fx), vec![(session, id, session as Attempt)]);
        core.apply(Event::WorkerDisconnected { session }, now + 1);
        now += 20_000;
        let fx = core.apply(Event::Tick, now);
        if session == 3 {
            assert_eq!(
                finished(&fx),
                vec![(id, pb::JobState::Failed, Some(pb::Verdict::Je))]
            );
        }
    }
    assert_eq!(core.active(), 0);
}

#[test]
fn cancel_ends_a_queued_job_at_once_and_a_running_one_when_the_worker_confirms() {
    let mut core = Core::new(CoreConfig::default());
    let queued = submitted_id(&core.apply(sub(1, job("java")), 0));
    let fx = core.apply(
        Event::Cancel {
            req: 2,
            job_id: queued,
        },
        1,
    );
    assert_eq!(finished(&fx), vec![(queued, pb::JobState::Cancelled, None)]);

    connect(&mut core, 1, hello("a", 1), 0);
    let running = submitted_id(&core.apply(sub(3, job("c")), 2));
    core.apply(progress(1, running, 1, JobProgress::Accepted), 3);
    let fx = core.apply(
        Event::Cancel {
            req: 4,
            job_id: running,
        },
        4,
    );
    assert!(fx.contains(&Effect::Send {
        session: 1,
        command: Command::Cancel {
            job_id: running,
            attempt: 1
        }
    }));
    assert!(finished(&fx).is_empty());
    let confirm = JobProgress::Finished {
        verdict: pb::Verdict::Unspecified,
        message: "cancelled".into(),
        cancelled: true,
        score: None,
        run: None,
    };
    let fx = core.apply(progress(1, running, 1, confirm), 5);
    assert_eq!(
        finished(&fx),
        vec![(running, pb::JobState::Cancelled, None)]
    );
    let fx = core.apply(
        Event::Cancel {
            req: 5,
            job_id: running,
        },
        6,
    );
    assert!(matches!(
        fx[0],
        Effect::Reply {
            reply: Reply::Cancelled(Err(_)),
            ..
        }
    ));
}

#[test]
fn cancel_of_a_running_job_whose_worker_dies_ends_it() {
    let mut core = Core::new(CoreConfig::default());
    connect(&mut core, 1, hello("a", 1), 0);
    let id = submitted_id(&core.apply(sub(1, job("c")), 0));
    core.apply(Event::Cancel { req: 2, job_id: id }, 1);
    let fx = core.apply(Event::WorkerDisconnected { session: 1 }, 2);
    assert_eq!(finished(&fx), vec![(id, pb::JobState::Cancelled, None)]);
}

#[test]
fn a_second_connection_with_the_same_name_replaces_the_first() {
    let mut core = Core::new(CoreConfig::default());
    connect(&mut core, 1, hello("a", 1), 0);
    let id = submitted_id(&core.apply(sub(1, job("c")), 0));
    let mut h = hello("a", 1);
    h.running = vec![(id, 1)];
    let fx = connect(&mut core, 2, h, 10);
    assert!(fx
        .iter()
        .any(|e| matches!(e, Effect::CloseSession { session: 1, .. })));
    // Reports on the old session are dropped; the new one owns the attempt.
    core.apply(progress(1, id, 1, JobProgress::Accepted), 11);
    let fx = core.apply(progress(2, id, 1, JobProgress::Accepted), 12);
    assert!(fx.contains(&Effect::Persist(Persist::Started {
        job_id: id,
        attempt: 1
    })));
}

#[test]
fn time_the_scheduler_did_not_listen_counts_against_no_worker() {
    let mut core = Core::new(CoreConfig::default());
    connect(&mut core, 1, hello("a", 1), 0);
    connect(&mut core, 2, hello("b", 1), 0);
    let id = submitted_id(&core.apply(sub(1, job("c")), 0));
    // The worker holding the job: its feed went away just before the scheduler stalled: its job is orphaned with
    // a grace of 10 s. The scheduler then stalls 30 s (a busy store).
    let holder = core.jobs.get(id).and_then(|j| j.session).expect("assigned");
    core.apply(Event::WorkerDisconnected { session: holder }, 2);
    let fx = core.apply(Event::Resumed { stalled_ms: 30_000 }, 30_002);
    assert!(fx.is_empty(), "{fx:?}");
    let fx = core.apply(Event::Tick, 30_002);
    assert!(
        !fx.iter().any(|e| matches!(e, Effect::CloseSession { .. })),
        "the other worker's reports were queued behind the stall: {fx:?}"
    );
    assert!(
        finished(&fx).is_empty() && assigns(&fx).is_empty(),
        "the grace goes on: {fx:?}"
    );
    // Past the timeout with no report after the stall: silence for real.
    let fx = core.apply(Event::Tick, 40_003);
    assert!(
        fx.iter().any(|e| matches!(e, Effect::CloseSession { .. })),
        "{fx:?}"
    );
}

#[test]
fn a_silent_worker_is_treated_as_lost_and_its_jobs_move_at_once() {
    let mut core = Core::new(CoreConfig::default());
    connect(&mut core, 1, hello("a", 1), 0);
    let id = submitted_id(&core.apply(sub(1, job("c")), 0));
    core.apply(progress(1, id, 1, JobProgress::Accepted), 1);
    connect(&mut core, 2, hello("b", 1), 5_000);
    let fx = core.apply(Event::Tick, 1 + 9_999);
    assert!(!fx.iter().any(|e| matches!(e, Effect::CloseSession { .. })));
    // Past the timeout: closed, and the job goes to the other worker in the same tick.
    let fx = core.apply(Event::Tick, 10_002);
    assert!(fx
        .iter()
        .any(|e| matches!(e, Effect::CloseSession { session: 1, .. })));
    assert_eq!(assigns(&fx), vec![(2, id, 2)]);
}

#[test]
fn revoking_a_token_closes_its_workers() {
    let mut core = Core::new(CoreConfig::default());
    connect(&mut core, 1, hello("a", 1), 0);
    connect(&mut core, 2, hello("b", 1), 0);
    let fx = core.apply(
        Event::TokenRevoked {
            token_id: "tok-a".into(),
        },
        1,
    );
    let closed: Vec<_> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::CloseSession { session, .. } => Some(*session),
            _ => None,
        })
        .collect();
    assert_eq!(closed, vec![1]);
}

#[test]
fn after_a_restart_a_live_console_is_abandoned() {
    let recovered = RecoveredJob {
        job_id: 7,
        job: console_job(),
        state: pb::JobState::Running,
        attempt: 1,
        judging_base: 0,
        worker: Some("a".into()),
        last_seq: 4,
        tests_done: 0,
        groups_done: 0,
        files: files(),
        worst_case_ms: 60_000,
    };
    let (mut core, first) = Core::recover(CoreConfig::default(), 7, vec![recovered], 1_000);
    let [Event::Abandon { job_id: 7, reason }] = first.as_slice() else {
        panic!("the console must be abandoned: {first:?}");
    };
    assert!(reason.contains("restarted"), "{reason}");
    // Applied first, it ends the job as failed; nothing waits for its worker.
    let fx = core.apply(first[0].clone(), 1_001);
    assert!(
        fx.iter().any(|e| matches!(
            e,
            Effect::Persist(Persist::Finished {
                job_id: 7,
                state: pb::JobState::Failed,
                ..
            })
        )),
        "{fx:?}"
    );
}

#[test]
fn after_a_restart_running_jobs_wait_for_their_worker() {
    let recovered = RecoveredJob {
        job_id: 41,
        job: job("c"),
        state: pb::JobState::Running,
        attempt: 1,
        judging_base: 0,
        worker: Some("a".into()),
        last_seq: 3,
        tests_done: 0,
        groups_done: 0,
        files: files(),
        worst_case_ms: 60_000,
    };
    let (mut core, first) = Core::recover(CoreConfig::default(), 41, vec![recovered], 1_000);
    assert!(first.is_empty(), "a judge job is kept across a restart");
    let mut h = hello("a", 1);
    h.running = vec![(41, 1)];
    let fx = connect(&mut core, 9, h, 2_000);
    assert!(fx.contains(&Effect::Send {
        session: 9,
        command: Command::Welcome {
            adopted: vec![(41, 1)]
        }
    }));
    let fx = core.apply(sub(1, job("c")), 2_001);
    assert_eq!(submitted_id(&fx), 42);
    let fx = core.apply(progress(9, 41, 1, done(pb::Verdict::Ac)), 2_002);
    // Event numbering continues where the store left off.
    assert!(fx
        .iter()
        .any(|e| matches!(e, Effect::Persist(Persist::Event(ev)) if ev.seq == 4)));
}

/// A tiny deterministic PRNG so the randomized test needs no crate and replays exactly.
struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Random workers come and go, report late and twice, cancel and submit. Whatever happens:
/// every job finishes exactly once, a finished job's result comes from its current attempt,
/// and nothing is lost once the fleet settles.
#[test]
fn random_event_storms_keep_the_invariants() {
    for seed in 1..=200u64 {
        let mut rng = XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let config = CoreConfig {
            max_queued: 50,
            max_running_per_owner: 3,
            ..CoreConfig::default()
        };
        let owners = ["alice", "bob", "carol"];
        let mut core = Core::new(config);
        let mut now: Millis = 0;
        let mut next_session: SessionId = 1;
        let mut live: Vec<(SessionId, String)> = Vec::new();
        // What each worker believes it runs: session -> (job, attempt).
        let mut held: HashMap<SessionId, Vec<(JobId, Attempt)>> = HashMap::new();
        let ended: std::cell::RefCell<HashSet<JobId>> = Default::default();
        let admitted_cell: std::cell::RefCell<HashSet<JobId>> = Default::default();
        let mut req = 0;
        let check = |fx: &[Effect], held: &mut HashMap<SessionId, Vec<(JobId, Attempt)>>| {
            for e in fx {
                match e {
                    Effect::Reply {
                        reply: Reply::Submitted(Ok(id)),
                        ..
                    } => {
                        assert!(admitted_cell.borrow_mut().insert(*id));
                    }
                    Effect::Persist(Persist::Finished { job_id, .. }) => {
                        let first = ended.borrow_mut().insert(*job_id);
                        assert!(first, "seed {seed}: job {job_id} ended twice");
                    }
                    Effect::Send {
                        session,
                        command: Command::Assign { job_id, attempt },
                    } => {
                        held.entry(*session).or_default().push((*job_id, *attempt));
                    }
                    _ => {}
                }
            }
        };
        for _ in 0..400 {
            now += rng.below(3_000) as Millis;
            let roll = rng.below(100);
            let event = if roll < 25 {
                req += 1;
                let lang = if rng.below(5) == 0 { "java" } else { "c" };
                let owner = owners[rng.below(owners.len() as u64) as usize];
                sub(req, owned(lang, owner))
            } else if roll < 35 && live.len() < 4 {
                let name = format!("w{}", rng.below(5));
                let running = live
                    .iter()
                    .find(|(_, n)| *n == name)
                    .and_then(|(s, _)| held.get(s).cloned())
                    .unwrap_or_default();
                let session = next_session;
                next_session += 1;
                live.retain(|(_, n)| *n != name);
                live.push((session, name.clone()));
                let mut h = hello(&name, 1 + rng.below(3) as u32);
                h.running = running;
                Event::WorkerConnected {
                    req: 0,
                    session,
                    hello: h,
                }
            } else if roll < 42 && !live.is_empty() {
                let (session, _) = live.remove(rng.below(live.len() as u64) as usize);
                Event::WorkerDisconnected { session }
            } else if roll < 85 && !held.is_empty() {
                let sessions: Vec<SessionId> = held.keys().copied().collect();
                let session = sessions[rng.below(sessions.len() as u64) as usize];
                let list = held.get_mut(&session).unwrap();
                if list.is_empty() {
                    Event::Tick
                } else {
                    let (job_id, attempt) = list[rng.below(list.len() as u64) as usize];
                    let p = match rng.below(4) {
                        0 => JobProgress::Accepted,
                        1 => JobProgress::Test(pb::TestResult::default()),
                        _ => {
                            list.retain(|x| *x != (job_id, attempt));
                            done(pb::Verdict::Ac)
                        }
                    };
                    progress(session, job_id, attempt, p)
                }
            } else if roll < 90 && !admitted_cell.borrow().is_empty() {
                req += 1;
                let mut ids: Vec<JobId> = admitted_cell.borrow().iter().copied().collect();
                ids.sort_unstable();
                Event::Cancel {
                    req,
                    job_id: ids[rng.below(ids.len() as u64) as usize],
                }
            } else {
                Event::Tick
            };
            let fx = core.apply(event, now);
            check(&fx, &mut held);
            let grouped: usize = core.jobs.groups().map(|(_, _, jobs)| jobs.len()).sum();
            assert_eq!(
                grouped,
                core.queued(),
                "seed {seed}: the groups hold the queue"
            );
            for owner in owners {
                let on_workers = core.jobs.held_of(owner);
                assert!(
                    on_workers <= 3,
                    "seed {seed}: {owner} holds {on_workers} jobs past the running limit"
                );
            }
        }
        // Settle: every worker finishes what it holds, ticks pass the grace periods, and a
        // fresh worker that speaks every language drains the queue.
        live.clear();
        for (session, list) in held.clone() {
            for (job_id, attempt) in list {
                let fx = core.apply(
                    progress(session, job_id, attempt, done(pb::Verdict::Ac)),
                    now,
                );
                check(&fx, &mut held);
            }
        }
        let mut h = hello("final", 1000);
        h.languages.push("java".into());
        let session = next_session;
        held.clear();
        let fx = core.apply(
            Event::WorkerConnected {
                req: 0,
                session,
                hello: h,
            },
            now,
        );
        check(&fx, &mut held);
        for _ in 0..40 {
            now += 20_000;
            // Keep the final worker from looking silent (any event may dispatch: check it).
            let fx = core.apply(
                Event::Resources {
                    session,
                    usage: Usage::default(),
                },
                now,
            );
            check(&fx, &mut held);
            let fx = core.apply(Event::Tick, now);
            check(&fx, &mut held);
            for (job_id, attempt) in held.remove(&session).unwrap_or_default() {
                let fx = core.apply(
                    progress(session, job_id, attempt, done(pb::Verdict::Ac)),
                    now,
                );
                check(&fx, &mut held);
            }
        }
        assert_eq!(core.active(), 0, "seed {seed}: jobs left unfinished");
        for owner in owners {
            assert_eq!(
                core.jobs.held_of(owner),
                0,
                "seed {seed}: {owner}'s count drifted"
            );
        }
        assert_eq!(
            admitted_cell.into_inner(),
            ended.into_inner(),
            "seed {seed}: every admitted job ends exactly once"
        );
    }
}

fn warm(name: &str, slots: u32) -> WorkerHello {
    let mut h = hello(name, slots);
    h.cached = vec!["in".into(), "ans".into()];
    h
}

#[test]
fn routing_picks_the_warm_worker() {
    let mut core = Core::new(CoreConfig::default());
    connect(&mut core, 1, hello("cold", 4), 0);
    connect(&mut core, 2, warm("warm", 4), 0);
    for req in 0..3 {
        let fx = core.apply(sub(req, job("c")), 1);
        assert_eq!(assigns(&fx)[0].0, 2, "every job goes where its files are");
    }
}

#[test]
fn the_bounded_wait_falls_back_to_a_cold_worker() {
    let mut core = Core::new(CoreConfig {
        locality_wait_ms: 2_000,
        ..CoreConfig::default()
    });
    connect(&mut core, 1, warm("warm", 1), 0);
    core.apply(sub(1, job("c")), 0); // fills the warm worker
    connect(&mut core, 2, hello("cold", 1), 0);
    let fx = core.apply(sub(2, job("c")), 100);
    assert!(assigns(&fx).is_empty(), "waits for the warm worker");
    assert!(assigns(&core.apply(Event::Tick, 2_099)).is_empty());
    let fx = core.apply(Event::Tick, 2_100);
    assert_eq!(assigns(&fx).len(), 1);
    assert_eq!(assigns(&fx)[0].0, 2, "after the wait it goes cold");
    // Had the warm worker freed up in time, it would have taken the job instead.
    let mut core = Core::new(CoreConfig::default());
    connect(&mut core, 1, warm("warm", 1), 0);
    let first = submitted_id(&core.apply(sub(1, job("c")), 0));
    connect(&mut core, 2, hello("cold", 1), 0);
    core.apply(sub(2, job("c")), 100);
    core.apply(progress(1, first, 1, JobProgress::Accepted), 200);
    let fx = core.apply(progress(1, first, 1, done(pb::Verdict::Ac)), 300);
    assert_eq!(assigns(&fx)[0].0, 1);
}

#[test]
fn a_hot_problem_spreads_to_a_second_worker_under_load() {
    let mut core = Core::new(CoreConfig {
        locality_wait_ms: 60_000,
        ..CoreConfig::default()
    });
    connect(&mut core, 1, warm("warm", 1), 0);
    connect(&mut core, 2, hello("cold", 2), 0);
    let mut sessions = Vec::new();
    for req in 0..4 {
        sessions.extend(
            assigns(&core.apply(sub(req, job("c")), 10))
                .into_iter()
                .map(|(s, _, _)| s),
        );
    }
    // One job fills the warm worker, one waits for it; the pile beyond that warms the cold
    // worker at once (long before the 60 s wait), which then counts as warm.
    assert_eq!(sessions, vec![1, 2, 2]);
    assert_eq!(core.queued(), 1);
}

#[test]
fn stale_inventories_are_corrected_by_reports() {
    let mut core = Core::new(CoreConfig::default());
    connect(&mut core, 1, warm("was-warm", 4), 0);
    connect(&mut core, 2, hello("other", 4), 0);
    let stats = pb::CacheStats::default();
    core.apply(
        Event::CacheChanged {
            session: 1,
            added: vec![],
            removed: vec!["in".into()],
            stats,
        },
        1,
    );
    core.apply(
        Event::CacheChanged {
            session: 2,
            added: vec!["in".into(), "ans".into()],
            removed: vec![],
            stats,
        },
        1,
    );
    let fx = core.apply(sub(1, job("c")), 2);
    assert_eq!(assigns(&fx)[0].0, 2);
}

#[test]
fn the_baseline_policies_ignore_locality() {
    for policy in [Policy::LeastLoaded, Policy::Random] {
        let mut core = Core::new(CoreConfig {
            policy,
            ..CoreConfig::default()
        });
        connect(&mut core, 1, warm("warm", 1), 0);
        connect(&mut core, 2, hello("cold", 1), 0);
        core.apply(sub(0, job("c")), 1);
        let fx = core.apply(sub(1, job("c")), 2);
        assert_eq!(assigns(&fx).len(), 1, "{policy:?} never waits");
    }
}

fn console_job() -> NewJob {
    NewJob {
        spec: JobSpec::Console {
            spec: pb::ConsoleSpec {
                limits: Some(pb::RunLimits::default()),
                ..Default::default()
            },
        },
        ..job("python3")
    }
}

fn console_worker(name: &str) -> WorkerHello {
    WorkerHello {
        job_types: vec!["console".into()],
        ..hello(name, 1)
    }
}

#[test]
fn a_console_needs_a_connected_worker_that_takes_consoles() {
    let mut core = Core::new(CoreConfig::default());
    connect(&mut core, 1, hello("judge-only", 1), 0);
    let fx = core.apply(sub(1, console_job()), 10);
    let refused = fx.iter().any(|e| {
        matches!(e, Effect::Reply { reply: Reply::Submitted(Err(SubmitError::NoWorker { kind, language })), .. }
            if kind == "console" && language == "python3")
    });
    assert!(refused, "{fx:?}");
    assert_eq!(core.active(), 0, "nothing kept");
    // A worker that takes consoles, even a busy one, lets it queue.
    connect(&mut core, 2, console_worker("c"), 20);
    let fx = core.apply(sub(2, console_job()), 30);
    let first = submitted_id(&fx);
    assert_eq!(assigns(&fx), vec![(2, first, 1)]);
    let fx = core.apply(sub(3, console_job()), 40);
    submitted_id(&fx);
    assert!(assigns(&fx).is_empty(), "waits for the busy worker's slot");
    assert_eq!(core.queued(), 1);
}

#[test]
fn a_console_whose_worker_is_lost_ends_at_once_and_is_never_run_again() {
    let mut core = Core::new(CoreConfig::default());
    connect(&mut core, 1, console_worker("a"), 0);
    let id = submitted_id(&core.apply(sub(1, console_job()), 10));
    core.apply(progress(1, id, 1, JobProgress::Accepted), 20);
    connect(&mut core, 2, console_worker("b"), 25);
    // No grace: its terminal was on the lost worker.
    let fx = core.apply(Event::WorkerDisconnected { session: 1 }, 30);
    assert_eq!(
        finished(&fx),
        vec![(id, pb::JobState::Failed, Some(pb::Verdict::Je))]
    );
    assert!(assigns(&fx).is_empty(), "not given to the other worker");
    let message = fx.iter().find_map(|e| match e {
        Effect::Persist(Persist::Finished { message, .. }) => Some(message.clone()),
        _ => None,
    });
    assert_eq!(message.as_deref(), Some("the worker was lost"));
    // Its worker coming back offering it changes nothing.
    let back = WorkerHello {
        running: vec![(id, 1)],
        ..console_worker("a")
    };
    let fx = connect(&mut core, 3, back, 40);
    assert!(finished(&fx).is_empty() && assigns(&fx).is_empty());
    assert_eq!(core.active(), 0);
}

#[test]
fn a_console_past_its_worst_case_ends_instead_of_being_queued_again() {
    let mut core = Core::new(CoreConfig {
        attempt_slack_ms: 1_000,
        ..CoreConfig::default()
    });
    connect(&mut core, 1, console_worker("a"), 0);
    let id = submitted_id(&core.apply(sub(1, console_job()), 0));
    core.apply(progress(1, id, 1, JobProgress::Accepted), 10);
    // Keep the worker alive past the deadline.
    core.apply(
        Event::Resources {
            session: 1,
            usage: Usage::default(),
        },
        60_000,
    );
    let fx = core.apply(Event::Tick, 61_001);
    assert_eq!(
        finished(&fx),
        vec![(id, pb::JobState::Failed, Some(pb::Verdict::Je))]
    );
    assert_eq!(core.queued(), 0);
}

fn owned(lang: &str, owner: &str) -> NewJob {
    NewJob {
        owner: owner.into(),
        ..job(lang)
    }
}

#[test]
fn an_owner_at_its_running_limit_waits_while_others_go() {
    let mut core = Core::new(CoreConfig {
        max_running_per_owner: 1,
        ..CoreConfig::default()
    });
    connect(&mut core, 1, hello("w", 3), 0);
    let a1 = submitted_id(&core.apply(sub(1, owned("c", "alice")), 10));
    let a2 = submitted_id(&core.apply(sub(2, owned("c", "alice")), 11));
    let fx = core.apply(sub(3, owned("c", "bob")), 12);
    let b1 = submitted_id(&fx);
    assert_eq!(
        assigns(&fx),
        vec![(1, b1, 1)],
        "bob's job passes alice's second"
    );
    assert_eq!(core.queued(), 1, "alice's second waits with a slot free");
    let why = core.waiting(a2, 13).expect("it waits");
    assert!(why.contains("your running limit (1)"), "{why}");
    // Her first ends: her second goes.
    let fx = core.apply(progress(1, a1, 1, done(pb::Verdict::Ac)), 20);
    assert_eq!(
        assigns(&fx),
        vec![(1, a2, 1)],
        "alice's second goes once her first ends"
    );
    assert_eq!(core.queued(), 0);
}

#[test]
fn an_owner_may_hold_only_so_many_consoles() {
    let mut core = Core::new(CoreConfig {
        max_consoles_per_owner: 1,
        ..CoreConfig::default()
    });
    connect(&mut core, 1, console_worker("c"), 0);
    let first = core.apply(sub(1, console_job()), 10);
    submitted_id(&first);
    let fx = core.apply(sub(2, console_job()), 20);
    let refused = fx.iter().any(|e| {
        matches!(e, Effect::Reply { reply: Reply::Submitted(Err(SubmitError::OwnerConsoles { owner, limit: 1 })), .. }
            if owner == "alice")
    });
    assert!(refused, "{fx:?}");
    // Another owner may open one (it queues for the worker's one slot).
    let bob = NewJob {
        owner: "bob".into(),
        ..console_job()
    };
    submitted_id(&core.apply(sub(3, bob), 30));
}

#[test]
fn a_light_owner_goes_before_a_heavy_owners_queue() {
    let mut core = Core::new(CoreConfig::default());
    connect(&mut core, 1, hello("w", 1), 0);
    let a1 = submitted_id(&core.apply(sub(1, owned("c", "alice")), 10));
    let a2 = submitted_id(&core.apply(sub(2, owned("c", "alice")), 11));
    let a3 = submitted_id(&core.apply(sub(3, owned("c", "alice")), 12));
    let b1 = submitted_id(&core.apply(sub(4, owned("c", "bob")), 13));
    let why = core.waiting(a3, 14).expect("it waits");
    assert!(why.contains("slots"), "all busy: {why}");
    // Alice's first ends: Bob, who has had nothing, goes before her second.
    let fx = core.apply(progress(1, a1, 1, done(pb::Verdict::Ac)), 20);
    assert_eq!(assigns(&fx), vec![(1, b1, 1)]);
    // Then they take turns: Alice's second, and her third after it.
    let fx = core.apply(progress(1, b1, 1, done(pb::Verdict::Ac)), 30);
    assert_eq!(assigns(&fx), vec![(1, a2, 1)]);
    let fx = core.apply(progress(1, a2, 1, done(pb::Verdict::Ac)), 40);
    assert_eq!(assigns(&fx), vec![(1, a3, 1)]);
}

#[test]
fn an_owner_with_jobs_in_two_classes_stays_within_its_running_limit() {
    // Found by the sharing simulation: each of an owner's classes is a group of its own in
    // a dispatch pass, and the second must not pass the limit the first just reached.
    let mut core = Core::new(CoreConfig {
        max_running_per_owner: 1,
        ..CoreConfig::default()
    });
    submitted_id(&core.apply(sub(1, owned("c", "alice")), 10));
    let bulk = NewJob {
        priority: Priority::Bulk,
        ..owned("c", "alice")
    };
    submitted_id(&core.apply(sub(2, bulk), 11));
    let fx = connect(&mut core, 1, hello("w", 4), 20);
    assert_eq!(assigns(&fx).len(), 1, "{fx:?}");
    assert_eq!(core.jobs.held_of("alice"), 1);
}

#[test]
fn the_oldest_first_baseline_runs_a_heavy_owners_queue_first() {
    let mut core = Core::new(CoreConfig {
        order: QueueOrder::OldestFirst,
        ..CoreConfig::default()
    });
    connect(&mut core, 1, hello("w", 1), 0);
    let a1 = submitted_id(&core.apply(sub(1, owned("c", "alice")), 10));
    let a2 = submitted_id(&core.apply(sub(2, owned("c", "alice")), 11));
    submitted_id(&core.apply(sub(3, owned("c", "bob")), 12));
    // Alice's first ends: her second goes before Bob's one, being older.
    let fx = core.apply(progress(1, a1, 1, done(pb::Verdict::Ac)), 20);
    assert_eq!(assigns(&fx), vec![(1, a2, 1)]);
}

#[test]
fn free_slots_go_to_the_owners_with_the_fewest_jobs_running() {
    let mut core = Core::new(CoreConfig::default());
    // Alice queues four, Bob and Carol one each, before any worker is there.
    let mut alice = Vec::new();
    for r in 1..=4 {
        alice.push(submitted_id(
            &core.apply(sub(r, owned("c", "alice")), r as Millis),
        ));
    }
    let b = submitted_id(&core.apply(sub(5, owned("c", "bob")), 5));
    let c = submitted_id(&core.apply(sub(6, owned("c", "carol")), 6));
    // Four slots: one each first, then Alice's second; her last two wait.
    let fx = connect(&mut core, 1, hello("w", 4), 10);
    let mut went: Vec<JobId> = assigns(&fx).into_iter().map(|(_, id, _)| id).collect();
    went.sort_unstable();
    let mut expected = vec![alice[0], alice[1], b, c];
    expected.sort_unstable();
    assert_eq!(went, expected);
    assert_eq!(core.queued(), 2);
}

fn keyed(owner: &str, key: &str) -> NewJob {
    NewJob {
        supersede_key: Some(key.into()),
        ..owned("c", owner)
    }
}

#[test]
fn a_job_with_the_same_key_replaces_the_owners_earlier_one_queued_or_running() {
    let mut core = Core::new(CoreConfig::default());
    connect(&mut core, 1, hello("w", 1), 0);
    // The first runs; the second waits; Bob's with the same key is his own.
    let first = submitted_id(&core.apply(sub(1, keyed("alice", "p1")), 10));
    let second = submitted_id(&core.apply(sub(2, keyed("alice", "p1")), 11));
    let bobs = submitted_id(&core.apply(sub(3, keyed("bob", "p1")), 12));
    // The running first was told to stop; it ends when its worker confirms.
    let stopped = JobProgress::Finished {
        verdict: pb::Verdict::Unspecified,
        message: "cancelled".into(),
        cancelled: true,
        score: None,
        run: None,
    };
    let fx = core.apply(progress(1, first, 1, stopped), 20);
    let ended = fx.iter().find_map(|e| match e {
        Effect::Persist(Persist::Finished {
            job_id,
            state,
            message,
            ..
        }) if *job_id == first => Some((*state, message.clone())),
        _ => None,
    });
    assert_eq!(
        ended,
        Some((pb::JobState::Cancelled, format!("superseded by {second}")))
    );
    // A third replaces the queued second at once.
    let fx = core.apply(sub(4, keyed("alice", "p1")), 30);
    let third = submitted_id(&fx);
    assert!(
        finished(&fx).contains(&(second, pb::JobState::Cancelled, None)),
        "{fx:?}"
    );
    assert!(
        core.jobs.get(bobs).is_some(),
        "another owner's key is its own"
    );
    assert!(core.jobs.get(third).is_some());
}

#[test]
fn after_a_restart_the_newest_job_still_holds_its_key() {
    let recovered = |id: JobId| RecoveredJob {
        job_id: id,
        job: keyed("alice", "p1"),
        state: pb::JobState::Queued,
        attempt: 0,
        judging_base: 0,
        worker: None,
        last_seq: 1,
        tests_done: 0,
        groups_done: 0,
        files: files(),
        worst_case_ms: 60_000,
    };
    let (mut core, _) = Core::recover(CoreConfig::default(), 7, vec![recovered(7)], 0);
    let fx = core.apply(sub(1, keyed("alice", "p1")), 10);
    submitted_id(&fx);
    assert!(
        finished(&fx).contains(&(7, pb::JobState::Cancelled, None)),
        "{fx:?}"
    );
}

fn classed(owner: &str, priority: Priority) -> NewJob {
    NewJob {
        priority,
        ..owned("c", owner)
    }
}

#[test]
fn a_higher_class_goes_first_and_a_lower_one_ages_into_the_front() {
    let mut core = Core::new(CoreConfig {
        aging_ms: 1_000,
        ..CoreConfig::default()
    });
    connect(&mut core, 1, hello("w", 1), 0);
    let running = submitted_id(&core.apply(sub(1, classed("x", Priority::Normal)), 0));
    let bulk = submitted_id(&core.apply(sub(2, classed("a", Priority::Bulk)), 10));
    let normal = submitted_id(&core.apply(sub(3, classed("b", Priority::Normal)), 20));
    let contest = submitted_id(&core.apply(sub(4, classed("c", Priority::Contest)), 30));
    let why = core.waiting(bulk, 50).expect("it waits");
    assert!(
        why.contains("busy; behind 1 contest job and 1 normal job"),
        "{why}"
    );
    assert!(why.contains("in at most 1 s"), "{why}");
    let fx = core.apply(progress(1, running, 1, done(pb::Verdict::Ac)), 100);
    assert_eq!(assigns(&fx), vec![(1, contest, 1)], "contest first");
    let fx = core.apply(progress(1, contest, 1, done(pb::Verdict::Ac)), 200);
    assert_eq!(assigns(&fx), vec![(1, normal, 1)], "then normal, bulk last");
    // A newer contest job comes; but the bulk one has waited past the aging bound by then.
    let fresh = submitted_id(&core.apply(sub(5, classed("c", Priority::Contest)), 1_500));
    let fx = core.apply(progress(1, normal, 1, done(pb::Verdict::Ac)), 1_600);
    assert_eq!(
        assigns(&fx),
        vec![(1, bulk, 1)],
        "aged bulk before a fresh contest job"
    );
    let fx = core.apply(progress(1, bulk, 1, done(pb::Verdict::Ac)), 1_700);
    assert_eq!(assigns(&fx), vec![(1, fresh, 1)]);
}

/// Rejudges: finished jobs queued again as new judgings.
mod rejudge;

/// Quarantine: judge errors other workers do not give.
mod quarantine;
