//! The resource figures a worker reports: CPU, memory, disk, load (via sysinfo).

use std::path::PathBuf;

use judge_common::pb;
use sysinfo::{Disks, System};

/// Samples the machine; keeps sysinfo's state between samples (CPU use needs two readings).
pub struct Sampler {
    system: System,
    disks: Disks,
    work_dir: PathBuf,
}

impl Sampler {
    pub fn new(work_dir: PathBuf) -> Self {
        let mut system = System::new();
        system.refresh_cpu_usage();
        system.refresh_memory();
        Sampler {
            system,
            disks: Disks::new_with_refreshed_list(),
            work_dir,
        }
    }

    pub fn sample(&mut self) -> pb::ResourceUsage {
        self.system.refresh_cpu_usage();
        self.system.refresh_memory();
        self.disks.refresh(true);
        let work_dir =
            std::fs::canonicalize(&self.work_dir).unwrap_or_else(|_| self.work_dir.clone());
        // The disk holding the work dir: the mount point with the longest matching prefix.
        let disk_free = self
            .disks
            .list()
            .iter()
            .filter(|d| work_dir.starts_with(d.mount_point()))
            .max_by_key(|d| d.mount_point().as_os_str().len())
            .map(|d| d.available_space())
            .unwrap_or(0);
        pb::ResourceUsage {
            cpu_percent: self.system.global_cpu_usage(),
            memory_total_bytes: self.system.total_memory(),
            memory_free_bytes: self.system.available_memory(),
            disk_free_bytes: disk_free,
            load_average: System::load_average().one as f32,
        }
    }
}
