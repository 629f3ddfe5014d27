//! What the sandbox tests share: a runner with cgroups and isolation, and finding processes.

use std::sync::Arc;

use judge_worker::sandbox::cgroup::Cgroups;
use judge_worker::sandbox::isolation::{Isolation, IsolationConfig};
use judge_worker::sandbox::SandboxRunner;

/// A runner with cgroups and isolation (root), its filesystem put together in `staging`
/// under the temp dir; and its isolation, to look at.
pub fn sandbox(staging: &str) -> (SandboxRunner, Arc<Isolation>) {
    let cgroups = Cgroups::detect().unwrap_or_else(|why| panic!("these tests need cgroups: {why}"));
    let staging = std::env::temp_dir().join(staging);
    let isolation = Arc::new(
        Isolation::new(&IsolationConfig::base(staging))
            .unwrap_or_else(|why| panic!("these tests need root: {why}")),
    );
    let runner = SandboxRunner::new(Some(Arc::new(cgroups)), Some(isolation.clone()))
        .expect("the spawn helper starts");
    (runner, isolation)
}

/// Processes whose command line contains `marker`.
pub fn with_marker(marker: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(marker))
                .unwrap_or(false)
        })
        .collect()
}
