//! Quarantine in the core: a judge error is judged again elsewhere, free of the retry cap;
//! a worker whose judge errors others do not give is quarantined, stays so across a
//! reconnect, and is released by hand; at most a share of the fleet is.

use super::*;

fn je(message: &str) -> JobProgress {
    JobProgress::Finished {
        verdict: pb::Verdict::Je,
        message: message.into(),
        cancelled: false,
        score: None,
        run: None,
    }
}

/// Quarantines (worker, refused) among the effects.
fn quarantines(fx: &[Effect]) -> Vec<(String, bool)> {
    news(fx)
        .into_iter()
        .filter_map(|(worker, n)| match n {
            BreakerNews::Quarantined(_) => Some((worker, false)),
            BreakerNews::Refused(_) => Some((worker, true)),
            _ => None,
        })
        .collect()
}

fn news(fx: &[Effect]) -> Vec<(String, BreakerNews)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Breaker { worker, news } => Some((worker.clone(), news.clone())),
            _ => None,
        })
        .collect()
}

fn snapshot(core: &mut Core, name: &str) -> WorkerSnapshot {
    let fx = core.apply(Event::ListWorkers { req: 99 }, 0);
    fx.iter()
        .find_map(|e| match e {
            Effect::Reply {
                reply: Reply::Workers(list),
                ..
            } => list.iter().find(|w| w.name == name).cloned(),
            _ => None,
        })
        .expect("the worker is listed")
}

/// Worker "bad" (session 1, C only) and "good" (session 2, C and Python), a slot each;
/// routing by load alone (a job never waits for the warm worker).
fn two_workers() -> Core {
    let mut core = Core::new(CoreConfig {
        policy: Policy::LeastLoaded,
        ..CoreConfig::default()
    });
    let mut bad = hello("bad", 1);
    bad.languages = vec!["c".into()];
    connect(&mut core, 1, bad, 0);
    connect(&mut core, 2, hello("good", 1), 0);
    core
}

/// A C job judged on "bad" first ("good" busy with a Python filler only it takes), which
/// gives a judge error; it then goes to "good", which gives `then`. Returns the effects of
/// "good"'s verdict.
fn judged_bad_then_good(core: &mut Core, req: RequestId, then: JobProgress) -> Vec<Effect> {
    let filler = submitted_id(&core.apply(sub(req, job("python3")), 1));
    let fx = core.apply(sub(req + 1, job("c")), 2);
    let id = submitted_id(&fx);
    let on_bad = assigns(&fx);
    let (first, attempt) = match on_bad.as_slice() {
        [(1, j, a)] if *j == id => (1, *a),
        other => panic!("expected the job on bad: {other:?} (filler {filler})"),
    };
    // Bad's judge error: not the job's end; it goes back to the queue.
    let fx = core.apply(progress(first, id, attempt, je("no cgroup")), 3);
    assert!(finished(&fx).is_empty(), "{fx:?}");
    assert!(
        assigns(&fx).is_empty(),
        "not back to bad, and good is busy: {fx:?}"
    );
    // Good finishes its filler: it takes the job.
    let fx = core.apply(progress(2, filler, 1, done(pb::Verdict::Ac)), 4);
    let second = assigns(&fx);
    assert_eq!(second, vec![(2, id, attempt + 1)], "{fx:?}");
    core.apply(progress(2, id, attempt + 1, then), 5)
}

#[test]
fn a_judge_error_another_worker_does_not_give_is_a_strike_and_three_quarantine() {
    let mut core = two_workers();
    for round in 0..3u64 {
        let fx = judged_bad_then_good(&mut core, 10 + round * 10, done(pb::Verdict::Wa));
        let ended = finished(&fx);
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].2, Some(pb::Verdict::Wa), "good's verdict stands");
        let q = quarantines(&fx);
        if round < 2 {
            assert!(q.is_empty(), "round {round}: {q:?}");
        } else {
            assert_eq!(q, vec![("bad".to_string(), false)]);
        }
    }
    let bad = snapshot(&mut core, "bad");
    let why = bad.quarantined.expect("quarantined");
    assert!(
        why.contains("3 judge errors") && why.contains("no cgroup"),
        "{why}"
    );
    // It gets nothing, however free; good gets the next job.
    let fx = core.apply(sub(100, job("c")), 10);
    let id = submitted_id(&fx);
    assert_eq!(assigns(&fx), vec![(2, id, 1)]);
    // A reconnect does not lift it; an admin's release does.
    core.apply(Event::WorkerDisconnected { session: 1 }, 11);
    connect(&mut core, 3, hello("bad", 1), 12);
    assert!(snapshot(&mut core, "bad").quarantined.is_some());
    let fx = core.apply(sub(101, job("c")), 13);
    assert!(assigns(&fx).is_empty(), "bad stays quarantined: {fx:?}");
    let fx = core.apply(
        Event::ReleaseWorker {
            req: 7,
            name: "bad".into(),
        },
        14,
    );
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Reply {
            reply: Reply::Released(true),
            ..
        }
    )));
    assert_eq!(assigns(&fx).len(), 1, "released, it takes the waiting job");
    let fx = core.apply(
        Event::ReleaseWorker {
            req: 8,
            name: "bad".into(),
        },
        15,
    );
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Reply {
            reply: Reply::Released(false),
            ..
        }
    )));
}

#[test]
fn a_judge_error_every_worker_gives_is_the_problems_and_counts_against_nobody() {
    let mut core = two_workers();
    for round in 0..4u64 {
        let fx = judged_bad_then_good(&mut core, 10 + round * 10, je("validator crashed"));
        assert_eq!(finished(&fx)[0].2, Some(pb::Verdict::Je));
        assert!(quarantines(&fx).is_empty(), "{fx:?}");
    }
    assert!(snapshot(&mut core, "bad").quarantined.is_none());
}

#[test]
fn a_judge_error_with_no_other_worker_ends_the_job() {
    let mut core = Core::new(CoreConfig::default());
    connect(&mut core, 1, hello("only", 1), 0);
    let fx = core.apply(sub(1, job("c")), 1);
    let id = submitted_id(&fx);
    let fx = core.apply(progress(1, id, 1, je("no cgroup")), 2);
    assert_eq!(
        finished(&fx),
        vec![(id, pb::JobState::Done, Some(pb::Verdict::Je))]
    );
}

#[test]
fn the_retry_elsewhere_is_free_of_the_retry_cap() {
    let mut core = Core::new(CoreConfig {
        max_attempts: 2,
        ..CoreConfig::default()
    });
    connect(&mut core, 1, hello("bad", 1), 0);
    connect(&mut core, 2, hello("good", 1), 0);
    let fx = core.apply(sub(1, job("c")), 1);
    let id = submitted_id(&fx);
    assert_eq!(assigns(&fx), vec![(1, id, 1)]);
    // Judge error on bad; good takes it (attempt 2) and is lost past its grace.
    let fx = core.apply(progress(1, id, 1, je("no cgroup")), 2);
    assert_eq!(assigns(&fx), vec![(2, id, 2)]);
    core.apply(Event::WorkerDisconnected { session: 2 }, 3);
    let fx = core.apply(Event::Tick, 60_000);
    assert!(finished(&fx).is_empty(), "one lost attempt of two: {fx:?}");
    // Good comes back and judges it.
    let fx = connect(&mut core, 3, hello("good", 1), 60_001);
    assert_eq!(assigns(&fx), vec![(3, id, 3)]);
}

#[test]
fn only_a_share_of_the_fleet_is_quarantined() {
    let mut core = Core::new(CoreConfig {
        breaker: BreakerConfig {
            strikes: 1,
            ..BreakerConfig::DEFAULT
        },
        ..CoreConfig::default()
    });
    connect(&mut core, 1, hello("a", 1), 0);
    connect(&mut core, 2, hello("b", 1), 0);
    let fx = core.apply(sub(1, job("c")), 1);
    let id = submitted_id(&fx);
    let fx = core.apply(progress(1, id, 1, je("x")), 2);
    let fx2 = core.apply(progress(2, id, 2, done(pb::Verdict::Ac)), 3);
    assert!(assigns(&fx).len() == 1);
    assert_eq!(quarantines(&fx2), vec![("a".to_string(), false)]);
    // b errs on a job that a... cannot take (quarantined): with no other worker to try, the
    // judge error ends the job and nobody is struck.
    let fx = core.apply(sub(2, job("c")), 4);
    let id = submitted_id(&fx);
    let fx = core.apply(progress(2, id, 1, je("y")), 5);
    assert_eq!(finished(&fx).len(), 1);
    // A third worker joins; b errs again, c judges: b would be quarantined, but one of
    // three is the most (20 %, at least one): refused, and said so.
    connect(&mut core, 3, hello("c", 1), 6);
    let fx = core.apply(sub(3, job("c")), 7);
    let id = submitted_id(&fx);
    let on = assigns(&fx);
    assert_eq!(on.len(), 1);
    let (s, _, a) = on[0];
    let other = if s == 2 { 3 } else { 2 };
    let fx = core.apply(progress(s, id, a, je("z")), 8);
    assert_eq!(assigns(&fx), vec![(other, id, a + 1)]);
    let fx = core.apply(progress(other, id, a + 1, done(pb::Verdict::Ac)), 9);
    let name = if s == 2 { "b" } else { "c" };
    assert_eq!(quarantines(&fx), vec![(name.to_string(), true)]);
    assert!(snapshot(&mut core, name).quarantined.is_none());
}

/// A worker that takes judge and run jobs in C and Python.
fn runner(name: &str) -> WorkerHello {
    let mut h = hello(name, 1);
    h.job_types.push("run".into());
    h
}

fn probe_job() -> NewJob {
    NewJob {
        spec: JobSpec::Run {
            limits: pb::RunLimits {
                time_limit_ms: Some(10_000),
                memory_limit_bytes: Some(1 << 29),
                output_limit_bytes: Some(1 << 16),
            },
        },
        language: "c".into(),
        owner: "_probe".into(),
        request_id: None,
        supersede_key: None,
        priority: Priority::Contest,
    }
}

fn ran(stdout: &str) -> JobProgress {
    JobProgress::Finished {
        verdict: pb::Verdict::Unspecified,
        message: String::new(),
        cancelled: false,
        score: None,
        run: Some(Box::new(pb::RunResult {
            outcome: pb::RunOutcome::Exited as i32,
            exit_code: Some(0),
            stdout: stdout.as_bytes().to_vec(),
            ..Default::default()
        })),
    }
}

/// "bad" (session 1) and "good" (2), runners both, one strike to quarantine, a cool-down of
/// a minute; "bad" quarantined at 10 ms.
fn probing_core() -> Core {
    let mut core = Core::new(CoreConfig {
        policy: Policy::LeastLoaded,
        breaker: BreakerConfig {
            strikes: 1,
            cooldown_ms: 60_000,
            ..BreakerConfig::DEFAULT
        },
        ..CoreConfig::default()
    });
    connect(&mut core, 1, runner("bad"), 0);
    connect(&mut core, 2, runner("good"), 0);
    quarantine_bad(&mut core, 1, 10);
    core
}

/// Both workers report at `now` (neither looks silent to a tick).
fn both_report(core: &mut Core, now: Millis) {
    for session in [1, 2] {
        let usage = Usage::default();
        core.apply(Event::Resources { session, usage }, now);
    }
}

/// Quarantines "bad" (session 1) with one strike: a judge error there, AC on "good" (2).
fn quarantine_bad(core: &mut Core, req: RequestId, now: Millis) {
    let fx = core.apply(sub(req, job("c")), now);
    let id = submitted_id(&fx);
    let (s, a) = match assigns(&fx).as_slice() {
        [(s, _, a)] => (*s, *a),
        other => panic!("{other:?}"),
    };
    assert_eq!(s, 1, "bad is free and first");
    let fx = core.apply(progress(1, id, a, je("no cgroup")), now + 1);
    assert_eq!(assigns(&fx), vec![(2, id, a + 1)]);
    let fx = core.apply(progress(2, id, a + 1, done(pb::Verdict::Ac)), now + 2);
    assert_eq!(quarantines(&fx), vec![("bad".to_string(), false)]);
}

/// The probe after the cool-down: asked for at the tick, submitted, sent to its quarantined
/// worker and no other; its id.
fn probe_sent(core: &mut Core, req: RequestId, now: Millis) -> JobId {
    let fx = core.apply(Event::Tick, now);
    let asked: Vec<(String, String)> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Probe { worker, job } => Some((worker.clone(), job.language.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(asked, vec![("bad".to_string(), "c".to_string())]);
    let fx = core.apply(
        Event::SubmitProbe {
            req,
            worker: "bad".into(),
            job: probe_job(),
            worst_case_ms: 30_000,
        },
        now + 1,
    );
    let id = submitted_id(&fx);
    assert_eq!(assigns(&fx), vec![(1, id, 1)], "to bad, though quarantined");
    id
}

#[test]
fn after_the_cool_down_a_probe_decides_whether_a_worker_comes_back() {
    let mut core = probing_core();
    // Reports keep both alive; no probe before the cool-down.
    both_report(&mut core, 59_000);
    let fx = core.apply(Event::Tick, 59_000);
    assert!(!fx.iter().any(|e| matches!(e, Effect::Probe { .. })));
    both_report(&mut core, 60_020);
    // A wrong answer: it stays quarantined, and the next probe waits a whole cool-down.
    let probe = probe_sent(&mut core, 10, 60_020);
    let fx = core.apply(progress(1, probe, 1, ran("garbage\n")), 60_030);
    assert!(matches!(news(&fx).as_slice(), [(w, BreakerNews::ProbeFailed(_))] if w == "bad"));
    assert!(snapshot(&mut core, "bad").quarantined.is_some());
    let fx = core.apply(sub(20, job("c")), 60_040);
    let id = submitted_id(&fx);
    assert_eq!(assigns(&fx), vec![(2, id, 1)], "still not to bad");
    core.apply(progress(2, id, 1, done(pb::Verdict::Ac)), 60_050);
    both_report(&mut core, 100_000);
    let fx = core.apply(Event::Tick, 100_000);
    assert!(!fx.iter().any(|e| matches!(e, Effect::Probe { .. })));
    both_report(&mut core, 120_100);
    // The known answer: it is back.
    let probe = probe_sent(&mut core, 11, 120_100);
    let fx = core.apply(
        progress(1, probe, 1, ran(judge_common::probe::PROBE_OUTPUT)),
        120_110,
    );
    assert!(matches!(news(&fx).as_slice(), [(w, BreakerNews::ProbePassed)] if w == "bad"));
    assert!(snapshot(&mut core, "bad").quarantined.is_none());
    // The probe job itself ended as a run that exited 0.
    assert_eq!(finished(&fx), vec![(probe, pb::JobState::Done, None)]);
}

#[test]
fn a_probe_whose_worker_is_lost_fails_and_is_never_run_elsewhere() {
    let mut core = probing_core();
    both_report(&mut core, 60_020);
    let probe = probe_sent(&mut core, 10, 60_020);
    let fx = core.apply(Event::WorkerDisconnected { session: 1 }, 60_030);
    let ended = finished(&fx);
    assert_eq!(ended.len(), 1, "{fx:?}");
    assert_eq!(ended[0].0, probe, "the probe ends with its worker");
    assert!(assigns(&fx).is_empty(), "never to good");
    assert!(matches!(
        news(&fx).as_slice(),
        [(_, BreakerNews::ProbeFailed(_))]
    ));
}
