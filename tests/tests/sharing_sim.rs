//! The sharing rules on the scheduler's real core, in a deterministic simulation (see
//! `judge_tests::sharesim`): owners of unequal demand in every class, floods, consoles,
//! cancels, supersedes, rejudges, workers lost and joining. `judge-bench share` runs the
//! same with a million events and the oldest-first baseline beside it.

use judge_scheduler::core::QueueOrder;
use judge_tests::sharesim::{jain, run, ShareConfig};

#[test]
fn jains_index_is_one_for_equals_and_lower_for_unequals() {
    assert!((jain(&[3.0, 3.0, 3.0]) - 1.0).abs() < 1e-12);
    assert!((jain(&[1.0, 0.0]) - 0.5).abs() < 1e-12);
}

#[test]
fn fair_share_keeps_every_rule_under_a_mixed_load() {
    let cfg = ShareConfig {
        events: 60_000,
        ..ShareConfig::default()
    };
    let aging = cfg.aging_ms;
    let r = run(cfg);
    assert!(r.violations.is_empty(), "{:#?}", r.violations);
    // Everything the load asks for happened.
    for (what, n) in [
        ("judgings", r.judgings),
        ("rejudges", r.rejudged),
        ("supersedes", r.superseded),
        ("cancels", r.cancelled),
        ("consoles", r.consoles),
        ("refused consoles", r.consoles_refused),
        ("lost workers", r.workers_lost),
    ] {
        assert!(n > 0, "no {what}: {r:#?}");
    }
    assert_eq!(r.max_held, 4, "the running limit is reached, never passed");
    assert_eq!(
        r.max_consoles, 2,
        "the console limit is reached, never passed"
    );
    assert!(
        r.jain_students >= 0.95,
        "Jain's index {}: {r:#?}",
        r.jain_students
    );
    // Bulk waits for the classes above, but aging bounds it: past aging_ms it goes as a
    // contest job would, at the next slot its owner may use (time its owner spends at its
    // own running limit is its own queue, not the classes above).
    let bulk = &r.eligible_waits[2];
    assert!(bulk.count > 0);
    assert!(
        bulk.max <= aging + 10_000,
        "a bulk job waited {} ms with room (aging {aging} ms): {r:#?}",
        bulk.max
    );
}

#[test]
fn the_simulation_is_deterministic_and_the_baseline_differs() {
    let small = |order| ShareConfig {
        events: 20_000,
        order,
        ..ShareConfig::default()
    };
    let a = run(small(QueueOrder::FairShare));
    let b = run(small(QueueOrder::FairShare));
    assert_eq!(a.service, b.service, "same seed, same run");
    let oldest = run(small(QueueOrder::OldestFirst));
    assert!(oldest.violations.is_empty(), "{:#?}", oldest.violations);
    assert_ne!(a.service, oldest.service);
}
