//! Workers in real virtual machines: a Debian 12 guest under qemu, booted with a NoCloud seed
//! made from `deploy/cloud-init/worker.yaml`, behind qemu's user-mode NAT restricted so that
//! the guest reaches nothing but the ports the test forwards to the host's loopback (the
//! scheduler, and the file server cloud-init downloads the worker from). Tests drive the
//! guest through its agent on a serial port, never through the network.
//!
//! KVM is used where it works; elsewhere software emulation (TCG) runs the same guest, much
//! more slowly: there, behaviour is checked and speed means nothing.

pub mod agent;
pub mod files;
pub mod image;
pub mod seed;
pub mod worker;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::process::{Child, Command};
use tokio::sync::OnceCell;

pub use agent::Agent;
pub use image::{image, Image};

/// Where the guest finds the host's forwarded ports. Not the NAT's own gateway (10.0.2.2),
/// which `restrict=on` closes: only the forwards below answer.
pub const HOST_IN_GUEST: &str = "10.0.2.100";

/// How qemu runs the guest's instructions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// Whether KVM runs a guest here: `/dev/kvm` opening is not enough (nested hosts may stop
/// the guest with "KVM internal error" on its first unusual instruction), so the image's
/// kernel is booted to its first panic (no root disk) under KVM, once per process.
pub async fn kvm_works(image: &Image) -> bool {
    static WORKS: OnceCell<bool> = OnceCell::const_new();
    *WORKS
        .get_or_init(|| async {
            if std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/kvm")
                .is_err()
            {
                return false;
            }
            let Ok(dir) = tempfile::tempdir() else {
                return false;
            };
            let serial = dir.path().join("serial.log");
            let run = Command::new("qemu-system-x86_64")
                .args([
                    "-accel", "kvm", "-cpu", "host", "-m", "256", "-display", "none",
                ])
                .args(["-no-reboot", "-kernel"])
                .arg(&image.kernel)
                .args(["-append", "console=ttyS0 panic=-1 root=/dev/nonexistent"])
                .arg("-serial")
                .arg(format!("file:{}", serial.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .output();
            let Ok(Ok(out)) = tokio::time::timeout(Duration::from_secs(60), run).await else {
                return false;
            };
            let console = std::fs::read_to_string(&serial).unwrap_or_default();
            out.status.success()
                && !String::from_utf8_lossy(&out.stderr).contains("KVM internal error")
                && console.contains("Kernel panic")
        })
        .await
}

/// The accelerator to use: `JUDGE_VM_ACCEL=kvm|tcg` if set, else KVM where it works, else TCG.
pub async fn accel(image: &Image) -> Result<Accel> {
    match std::env::var("JUDGE_VM_ACCEL").as_deref() {
        Ok("kvm") => Ok(Accel::Kvm),
        Ok("tcg") => Ok(Accel::Tcg),
        Ok(other) if !other.is_empty() => bail!("JUDGE_VM_ACCEL={other:?}: use kvm or tcg"),
        _ => Ok(if kvm_works(image).await {
            Accel::Kvm
        } else {
            Accel::Tcg
        }),
    }
}

/// qemu's `-netdev` for a guest that reaches nothing but `forwards` (guest port on
/// [`HOST_IN_GUEST`] → an address on the host's loopback), as `n0`.
pub fn netdev(forwards: &[(u16, SocketAddr)]) -> String {
    let relay = crate::bin("judge-vm-relay");
    let mut netdev = "user,id=n0,restrict=on".to_string();
    for (port, host) in forwards {
        // One relay process per guest connection (see judge-vm-relay).
        netdev.push_str(&format!(
            ",guestfwd=tcp:{HOST_IN_GUEST}:{port}-cmd:{} {host}",
            relay.display()
        ));
    }
    netdev
}

/// What a VM is given.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Its host name, which is its worker's name.
    pub name: String,
    pub memory_mib: u32,
    pub cpus: u32,
    /// Guest port on [`HOST_IN_GUEST`] → the host's loopback address it reaches.
    pub forwards: Vec<(u16, SocketAddr)>,
    /// The cloud-init user-data (see [`seed::user_data`]).
    pub user_data: String,
}

/// A running VM. Dropping it kills qemu.
pub struct Vm {
    pub name: String,
    pub accel: Accel,
    child: Child,
    dir: PathBuf,
    agent: Agent,
    /// When qemu was started: boot figures count from here.
    pub started: tokio::time::Instant,
}

impl Vm {
    /// Boots `spec` from `image` with its files (seed, console log, agent socket) in `dir`.
    /// Disk writes go to a throw-away overlay: the image stays as built.
    pub async fn boot(image: &Image, accel: Accel, spec: &Spec, dir: &Path) -> Result<Vm> {
        std::fs::create_dir_all(dir)?;
        let seed_img = dir.join("seed.img");
        seed::write(&seed_img, &spec.user_data, &spec.name)?;
        let netdev = netdev(&spec.forwards);
        let socket = dir.join("agent.sock");
        let _ = std::fs::remove_file(&socket);
        let mut qemu = Command::new("qemu-system-x86_64");
        match accel {
            Accel::Kvm => qemu.args(["-accel", "kvm", "-cpu", "host"]),
            // `max`: every feature TCG emulates, told to the guest truthfully (with the
            // default model a JVM died of SIGILL).
            Accel::Tcg => qemu.args(["-accel", "tcg", "-cpu", "max"]),
        };
        qemu.args(["-m", &spec.memory_mib.to_string()])
            .args(["-smp", &spec.cpus.to_string()])
            .args(["-display", "none", "-kernel"])
            .arg(&image.kernel)
            .arg("-initrd")
            .arg(&image.initrd)
            .args(["-append", "console=ttyS0 root=LABEL=judge-root rw"])
            .arg("-drive")
            .arg(format!(
                "file={},if=virtio,format=raw,snapshot=on",
                image.disk.display()
            ))
            .arg("-drive")
            .arg(format!(
                "file={},if=virtio,format=raw,readonly=on",
                seed_img.display()
            ))
            .args(["-netdev", &netdev, "-device", "virtio-net-pci,netdev=n0"])
            .arg("-chardev")
            .arg(format!(
                "socket,path={},server=on,wait=off,id=agent",
                socket.display()
            ))
            .args(["-device", "virtio-serial"])
            .args([
                "-device",
                "virtserialport,chardev=agent,name=org.qemu.guest_agent.0",
            ])
            .arg("-serial")
            .arg(format!("file:{}", dir.join("console.log").display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("qemu.log"))?)
            .kill_on_drop(true);
        let started = tokio::time::Instant::now();
        let child = qemu.spawn().context("starting qemu-system-x86_64")?;
        Ok(Vm {
            name: spec.name.clone(),
            accel,
            child,
            dir: dir.to_path_buf(),
            agent: Agent::new(socket),
            started,
        })
    }

    pub fn agent(&self) -> &Agent {
        &self.agent
    }

    /// What the guest printed on its serial console (kernel, systemd, cloud-init).
    pub fn console(&self) -> String {
        std::fs::read_to_string(self.dir.join("console.log")).unwrap_or_default()
    }

    /// qemu's own messages, and the console's last lines: for a failure's report.
    pub fn report(&self) -> String {
        let console = self.console();
        let tail: Vec<&str> = console.lines().rev().take(60).collect();
        format!(
            "--- qemu ({}) ---\n{}\n--- console of {} (last lines) ---\n{}",
            self.accel.name(),
            std::fs::read_to_string(self.dir.join("qemu.log")).unwrap_or_default(),
            self.name,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )
    }

    /// Waits until the console shows `needle` (a boot milestone).
    pub async fn wait_console(&mut self, needle: &str, timeout: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.console().contains(needle) {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                bail!(
                    "qemu exited ({status}) before {needle:?}\n{}",
                    self.report()
                );
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "no {needle:?} on the console within {timeout:?}\n{}",
                    self.report()
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Kills qemu outright (SIGKILL): the VM is gone as a host's power cut would take it.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }
}
