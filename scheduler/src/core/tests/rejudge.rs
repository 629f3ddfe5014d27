//! Rejudges in the core: a finished job queues again as a new judging, all or none, its
//! attempts and events continuing, its retry cap counted afresh.

use super::*;

/// A finished job of `job("c")` to judge again on version 2 at `bulk`.
fn again(job_id: JobId, attempt: Attempt, last_seq: u64) -> RejudgeJob {
    let mut j = job("c");
    j.spec = JobSpec::Judge {
        problem: "aplusb".into(),
        version: 2,
        run_all_tests: false,
    };
    j.priority = Priority::Bulk;
    RejudgeJob {
        job_id,
        job: j,
        attempt,
        ended: (pb::JobState::Done, Some(pb::Verdict::Wa)),
        last_seq,
        files: files(),
        worst_case_ms: 60_000,
    }
}

fn rejudged(fx: &[Effect]) -> Option<Result<Vec<JobId>, RejudgeError>> {
    fx.iter().find_map(|e| match e {
        Effect::Reply {
            reply: Reply::Rejudged(r),
            ..
        } => Some(r.clone()),
        _ => None,
    })
}

/// Runs one job to its end on worker session 1; its id and its last event's seq.
fn judged_once(core: &mut Core) -> (JobId, u64) {
    connect(core, 1, hello("a", 1), 0);
    let fx = core.apply(sub(1, job("c")), 10);
    let id = submitted_id(&fx);
    let fx = core.apply(progress(1, id, 1, done(pb::Verdict::Wa)), 20);
    assert_eq!(finished(&fx).len(), 1);
    // Submitted, assigned, finished.
    (id, 3)
}

#[test]
fn a_finished_job_is_judged_again_with_its_id_its_events_and_a_new_attempt() {
    let mut core = Core::new(CoreConfig::default());
    let (id, seq) = judged_once(&mut core);
    let fx = core.apply(
        Event::Rejudge {
            req: 7,
            jobs: vec![again(id, 1, seq)],
        },
        30,
    );
    assert_eq!(rejudged(&fx), Some(Ok(vec![id])));
    let stored = fx.iter().any(|e| {
        matches!(e, Effect::Persist(Persist::Rejudged { job_id, version: 2, priority: Priority::Bulk, base: 1, .. }) if *job_id == id)
    });
    assert!(stored, "{fx:?}");
    // Its log goes on from where it ended: the rejudge is event 4.
    let seqs: Vec<u64> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Persist(Persist::Event(ev)) => Some(ev.seq),
            _ => None,
        })
        .collect();
    assert_eq!(seqs.first(), Some(&(seq + 1)));
    // The free worker takes it at once, as attempt 2.
    assert_eq!(assigns(&fx), vec![(1, id, 2)]);
    let fx = core.apply(progress(1, id, 2, done(pb::Verdict::Ac)), 40);
    assert_eq!(
        finished(&fx),
        vec![(id, pb::JobState::Done, Some(pb::Verdict::Ac))]
    );
    assert_eq!(core.active(), 0);
}

#[test]
fn a_rejudge_is_all_or_none_and_refuses_an_unfinished_job() {
    let mut core = Core::new(CoreConfig::default());
    let (done_id, seq) = judged_once(&mut core);
    // Another job still waits (the one worker is free, but it speaks no java).
    let busy = submitted_id(&core.apply(sub(2, job("java")), 30));
    let fx = core.apply(
        Event::Rejudge {
            req: 8,
            jobs: vec![again(done_id, 1, seq), again(busy, 0, 1)],
        },
        40,
    );
    assert_eq!(rejudged(&fx), Some(Err(RejudgeError::Unfinished(busy))));
    assert!(
        !fx.iter().any(|e| matches!(e, Effect::Persist(_))),
        "nothing of a refused rejudge is stored: {fx:?}"
    );
    assert_eq!(core.active(), 1);
}

#[test]
fn a_rejudge_larger_than_the_queue_room_is_refused() {
    let mut core = Core::new(CoreConfig {
        max_queued: 1,
        ..CoreConfig::default()
    });
    let fx = core.apply(
        Event::Rejudge {
            req: 1,
            jobs: vec![again(1, 1, 3), again(2, 1, 3)],
        },
        0,
    );
    assert_eq!(
        rejudged(&fx),
        Some(Err(RejudgeError::QueueFull { room: 1, asked: 2 }))
    );
    assert_eq!(core.active(), 0);
}

#[test]
fn a_rejudged_job_gets_the_whole_retry_cap_again() {
    let config = CoreConfig {
        max_attempts: 2,
        ..CoreConfig::default()
    };
    let mut core = Core::new(config);
    // It ended after 5 attempts (say, with an earlier cap): the new judging still gets 2.
    let fx = core.apply(
        Event::Rejudge {
            req: 1,
            jobs: vec![again(9, 5, 12)],
        },
        0,
    );
    assert_eq!(rejudged(&fx), Some(Ok(vec![9])));
    let mut now = 0;
    for session in 1..=2u64 {
        let fx = connect(&mut core, session, hello("a", 1), now);
        assert_eq!(assigns(&fx), vec![(session, 9, 5 + session as Attempt)]);
        core.apply(Event::WorkerDisconnected { session }, now + 1);
        now += 20_000;
        let fx = core.apply(Event::Tick, now);
        let ended = finished(&fx);
        if session == 1 {
            assert!(ended.is_empty(), "one lost attempt of two: queued again");
        } else {
            assert_eq!(
                ended,
                vec![(9, pb::JobState::Failed, Some(pb::Verdict::Je))]
            );
        }
    }
}

#[test]
fn a_rejudge_after_a_restart_carries_no_submission_keys() {
    // A rejudged job recovered after a restart keeps neither the request id nor the
    // supersede key of its submission: a new submission with that key replaces nothing.
    let mut j = job("c");
    j.supersede_key = Some("k".into());
    j.request_id = Some("r".into());
    let recovered = RecoveredJob {
        job_id: 4,
        job: j.clone(),
        state: pb::JobState::Queued,
        attempt: 1,
        judging_base: 1,
        worker: None,
        last_seq: 5,
        tests_done: 0,
        groups_done: 0,
        files: files(),
        worst_case_ms: 60_000,
    };
    let (mut core, _) = Core::recover(CoreConfig::default(), 4, vec![recovered], 0);
    let fx = core.apply(sub(1, j), 10);
    let new = submitted_id(&fx);
    assert_ne!(new, 4, "the request id no longer names the rejudged job");
    assert!(
        finished(&fx).is_empty(),
        "the rejudge is not superseded: {fx:?}"
    );
}
