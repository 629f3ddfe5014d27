//! The short chaos run: about 200 jobs while workers are killed and stopped, the scheduler
//! is killed and restarted three times, the data dir's disk fills and empties, and problems
//! are pushed. Every acknowledged job must exist with its own source, end exactly once with
//! the verdict its source deserves, and no id may be handed out twice
//! (`judge_tests::chaos`; `judge-bench chaos` is the long run).

use judge_tests::chaos::{run, ChaosConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_jobs_survive_kills_restarts_and_a_full_disk() -> anyhow::Result<()> {
    let report = run(ChaosConfig {
        jobs: 200,
        workers: 2,
        slots: 2,
        scheduler_kills: 3,
        submit_seconds: 20.0,
    })
    .await?;
    println!("{report}");
    assert!(report.clean(), "{report}");
    assert_eq!(report.scheduler_kills, 3);
    assert!(report.worker_kills > 0 && report.worker_stops > 0 && report.disk_fills > 0);
    assert!(report.pushes > 0);
    Ok(())
}
