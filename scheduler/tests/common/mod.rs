//! What the scheduler's integration tests share.

#![allow(dead_code)] // each test binary uses its own part

use std::sync::Arc;
use std::time::Duration;

use judge_common::problem::{build_manifest, PackageFile};
use judge_scheduler::core::CoreConfig;
use judge_scheduler::driver::clock::{Clock, ManualClock};
use judge_scheduler::driver::storage::Storage;
use judge_scheduler::driver::{recovery, Driver, DriverConfig, DriverHandle, Sessions};
use judge_scheduler::live::catalog::Catalog;
use judge_scheduler::live::consoles::Consoles;
use judge_scheduler::live::watch::WatchHub;
use judge_scheduler::store::Store;

/// The files of a package with one test (`data/secret/1`), as a push lists them.
pub fn one_test_package() -> Vec<PackageFile> {
    vec![
        PackageFile {
            path: "data/secret/1.in".into(),
            sha256: "a".repeat(64),
            size: 4,
        },
        PackageFile {
            path: "data/secret/1.ans".into(),
            sha256: "b".repeat(64),
            size: 2,
        },
    ]
}

/// A driver running on its own task.
pub struct Running {
    pub handle: DriverHandle,
    /// Where it publishes committed job events (for watches).
    pub hub: WatchHub,
    pub task: tokio::task::JoinHandle<Result<(), judge_scheduler::store::StoreError>>,
}

/// A store with problem `p` (one test), in `dir`.
pub async fn store_with_problem(dir: &std::path::Path) -> Store {
    let url = format!("sqlite://{}/judge.db?mode=rwc", dir.display());
    let store = Store::open(&url).await.expect("sqlite store");
    let files = one_test_package();
    let manifest = build_manifest("p", &files, |_| None, Some(1.0)).unwrap();
    store
        .insert_problem("p", &manifest, &files, 1)
        .await
        .unwrap();
    store
}

/// A driver rebuilt from `store` (as at start), reading time from `clock`.
pub async fn start(store: &Store, config: CoreConfig, clock: Arc<ManualClock>) -> Running {
    start_on(store.clone(), store, config, clock).await
}

/// A driver on `storage` (in front of `store`, whose problems the catalog reads).
pub async fn start_on(
    storage: impl Storage,
    store: &Store,
    config: CoreConfig,
    clock: Arc<ManualClock>,
) -> Running {
    let catalog = Catalog::new(store.clone());
    let hub = WatchHub::default();
    let rebuilt = recovery::rebuild(&storage, &catalog, config, clock.now_ms())
        .await
        .unwrap();
    let driver_config = DriverConfig {
        epoch: 1,
        tick: Duration::from_millis(20),
        report_interval: Duration::from_secs(3),
        max_batch: 64,
        scale: None,
    };
    let (handle, task) = Driver::new(
        rebuilt,
        storage,
        catalog,
        hub.clone(),
        Sessions::default(),
        Consoles::default(),
        driver_config,
    )
    .with_clock(clock)
    .spawn(64);
    Running { handle, hub, task }
}
