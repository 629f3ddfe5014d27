//! A judge worker in a VM, installed the way a teacher installs one: the guest boots with
//! `deploy/cloud-init/worker.yaml`, downloads `judge-worker` from the host's loopback (checked
//! against its SHA-256), and starts `judge-worker@<name>` from the real unit. It dials the
//! scheduler through the NAT's one forward; nothing dials it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::Result;
use sha2::{Digest, Sha256};

use super::files::FileServer;
use super::{seed, Accel, Image, Spec, Vm, HOST_IN_GUEST};

/// The guest's ports for the scheduler and for the download.
pub const SCHEDULER_PORT: u16 = 7070;
const FILES_PORT: u16 = 8080;

/// A worker VM and the download server its cloud-init uses.
pub struct WorkerVm {
    pub vm: Vm,
    _files: FileServer,
}

/// How a worker VM is made; [`Options::new`] gives a working one.
pub struct Options {
    pub name: String,
    /// The scheduler's gRPC address on the host's loopback.
    pub scheduler: SocketAddr,
    pub token: String,
    pub memory_mib: u32,
    pub cpus: u32,
    /// A SHA-256 to put in the seed instead of the binary's own (to test the refusal).
    pub wrong_sha256: Option<String>,
    /// More files the download server offers the guest (URL path → bytes).
    pub files: HashMap<String, Vec<u8>>,
}

impl Options {
    pub fn new(name: &str, scheduler: SocketAddr, token: &str) -> Options {
        Options {
            name: name.to_string(),
            scheduler,
            token: token.to_string(),
            memory_mib: 3072,
            cpus: 2,
            wrong_sha256: None,
            files: HashMap::new(),
        }
    }
}

/// Where cloud-init downloads the worker: a server on the host's loopback with the binary,
/// its URL as the guest sees it, and its SHA-256.
pub struct Download {
    pub files: FileServer,
    pub url: String,
    pub sha256: String,
}

impl Download {
    pub async fn start() -> Result<Download> {
        Self::start_with(HashMap::new()).await
    }

    /// Serves `more` files beside the worker.
    pub async fn start_with(mut more: HashMap<String, Vec<u8>>) -> Result<Download> {
        let binary = std::fs::read(crate::bin("judge-worker"))?;
        let sha256 = Sha256::digest(&binary)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        more.insert("/judge-worker".to_string(), binary);
        let files = FileServer::start(more).await?;
        Ok(Download {
            files,
            url: format!("http://{HOST_IN_GUEST}:{FILES_PORT}/judge-worker"),
            sha256,
        })
    }

    /// The guest's forwards: the scheduler at `scheduler`, and this download.
    pub fn forwards(&self, scheduler: SocketAddr) -> Vec<(u16, SocketAddr)> {
        vec![(SCHEDULER_PORT, scheduler), (FILES_PORT, self.files.addr)]
    }
}

/// The scheduler's URL as a guest dials it.
pub fn scheduler_url() -> String {
    format!("http://{HOST_IN_GUEST}:{SCHEDULER_PORT}")
}

impl WorkerVm {
    /// Boots the VM; it joins on its own once cloud-init has run (wait on the scheduler).
    pub async fn boot(image: &Image, accel: Accel, opts: Options, dir: &Path) -> Result<WorkerVm> {
        let download = Download::start_with(opts.files).await?;
        let user_data = seed::user_data(&seed::Variables {
            worker_url: download.url.clone(),
            worker_sha256: opts.wrong_sha256.unwrap_or(download.sha256.clone()),
            scheduler: scheduler_url(),
            token: opts.token,
        })?;
        let spec = Spec {
            name: opts.name,
            memory_mib: opts.memory_mib,
            cpus: opts.cpus,
            forwards: download.forwards(opts.scheduler),
            user_data,
        };
        let vm = Vm::boot(image, accel, &spec, dir).await?;
        Ok(WorkerVm {
            vm,
            _files: download.files,
        })
    }
}
