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

fn quarantines(fx: &[Effect]) -> Vec<(String, bool)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Quarantine {
                worker, refused, ..
            } => Some((worker.clone(), *refused)),
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
