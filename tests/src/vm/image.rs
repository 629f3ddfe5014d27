//! The guest image: Debian 12 as a cloud VM would run it (systemd, pure cgroup v2,
//! cloud-init), with the languages' toolchains already installed, since the guest reaches no
//! package mirror. Built once with `mmdebstrap` from Debian's package registry and kept under
//! `target/vm-image/<key>/`, the key being a hash of the recipe below: change the recipe and
//! the next run builds anew.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

/// The release the image is of.
const SUITE: &str = "bookworm";
const MIRROR: &str = "http://deb.debian.org/debian";

/// What the image holds: the distribution's init, cloud-init and guest agent, its cloud
/// kernel, and what `deploy/cloud-init/worker.yaml` installs (so its `packages:` step finds
/// them present and needs no mirror).
const PACKAGES: &[&str] = &[
    "systemd",
    "systemd-sysv",
    "udev",
    "dbus",
    "cloud-init",
    "qemu-guest-agent",
    "linux-image-cloud-amd64",
    "initramfs-tools",
    "iproute2",
    "procps",
    // cloud-init sets the system's locale (en_US.UTF-8, generated below) and grows the root
    // file system to its disk (resize2fs), as on a cloud image.
    "locales",
    "e2fsprogs",
    "ca-certificates",
    "curl",
    "gcc",
    "g++",
    "python3",
    "default-jdk-headless",
    "rustc",
    "nodejs",
];

/// Run inside mmdebstrap's customize hook with the root directory as `$1`: no package
/// sources (the guest reaches no mirror, and an empty list makes `apt-get update` a quick
/// no-op), the root file system by label, DHCP on the NAT's interface by systemd-networkd,
/// and cloud-init told to look only for a NoCloud seed and to leave the network alone.
const CUSTOMIZE: &str = r#"set -eu
root=$1
rm -f "$root/etc/apt/sources.list" "$root"/etc/apt/sources.list.d/*
echo 'LABEL=judge-root / ext4 rw,errors=remount-ro 0 1' > "$root/etc/fstab"
mkdir -p "$root/etc/systemd/network"
printf '[Match]\nName=en* eth*\n\n[Network]\nDHCP=ipv4\n' > "$root/etc/systemd/network/10-nat.network"
chroot "$root" systemctl enable systemd-networkd
printf 'datasource_list: [NoCloud, None]\nnetwork: {config: disabled}\n' > "$root/etc/cloud/cloud.cfg.d/90-judge-vm.cfg"
echo judge-vm > "$root/etc/hostname"
sed -i 's/^# *en_US.UTF-8 UTF-8/en_US.UTF-8 UTF-8/' "$root/etc/locale.gen"
chroot "$root" locale-gen
"#;

/// Size of the root file system (sparse: it takes what the files take).
const DISK_SIZE: &str = "8G";

/// A built image: a raw ext4 disk and the kernel and initramfs to boot it directly.
#[derive(Debug, Clone)]
pub struct Image {
    pub disk: PathBuf,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    /// How long this process spent building it (zero when it was cached).
    pub built_in: std::time::Duration,
}

/// The recipe's key: what changes it changes the image.
fn key() -> String {
    let mut hash = Sha256::new();
    for part in [SUITE, MIRROR, &PACKAGES.join(","), CUSTOMIZE, DISK_SIZE] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    let digest = hash.finalize();
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn cache_root() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace().join("target"))
        .join("vm-image")
}

/// The image, built on first use (minutes) and cached (then instant).
pub async fn image() -> Result<Image> {
    static IMAGE: OnceCell<Image> = OnceCell::const_new();
    IMAGE
        .get_or_try_init(|| async {
            let dir = cache_root().join(key());
            tokio::task::spawn_blocking(move || ensure(&dir))
                .await
                .context("image build task")?
        })
        .await
        .cloned()
}

fn ensure(dir: &Path) -> Result<Image> {
    let image = Image {
        disk: dir.join("disk.raw"),
        kernel: dir.join("vmlinuz"),
        initrd: dir.join("initrd.img"),
        built_in: std::time::Duration::ZERO,
    };
    if dir.join("done").exists() {
        return Ok(image);
    }
    let started = std::time::Instant::now();
    // Built beside its place and renamed into it: a build cut short leaves no half image,
    // and two processes building at once both end with a whole one.
    let parent = dir.parent().context("cache dir has a parent")?;
    std::fs::create_dir_all(parent)?;
    let work = parent.join(format!("build-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let root = work.join("root");
    let hook = work.join("customize.sh");
    std::fs::write(&hook, CUSTOMIZE)?;
    run(
        Command::new("mmdebstrap")
            .args(["--variant=apt", "--quiet"])
            .arg(format!("--include={}", PACKAGES.join(",")))
            .arg(format!("--customize-hook=sh {} \"$1\"", hook.display()))
            .args([SUITE])
            .arg(&root)
            .arg(MIRROR),
        &work.join("mmdebstrap.log"),
    )?;
    let boot = root.join("boot");
    let pick = |prefix: &str| -> Result<PathBuf> {
        std::fs::read_dir(&boot)?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(prefix))
            })
            .with_context(|| format!("no {prefix}* in {}", boot.display()))
    };
    std::fs::copy(pick("vmlinuz-")?, work.join("vmlinuz"))?;
    std::fs::copy(pick("initrd.img-")?, work.join("initrd.img"))?;
    run(
        Command::new("mkfs.ext4")
            .args(["-q", "-F", "-L", "judge-root", "-d"])
            .arg(&root)
            .arg(work.join("disk.raw"))
            .arg(DISK_SIZE),
        &work.join("mkfs.log"),
    )?;
    std::fs::remove_dir_all(&root)?;
    std::fs::write(
        work.join("recipe.txt"),
        format!(
            "suite: {SUITE}\nmirror: {MIRROR}\npackages: {}\ncustomize:\n{CUSTOMIZE}",
            PACKAGES.join(" ")
        ),
    )?;
    std::fs::write(work.join("done"), "")?;
    if std::fs::rename(&work, dir).is_err() && dir.join("done").exists() {
        // Another process finished first: its image is as good.
        let _ = std::fs::remove_dir_all(&work);
    }
    // Images of older recipes go: each takes gigabytes.
    for entry in std::fs::read_dir(parent)?.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if entry.path() != dir && !name.starts_with("build-") {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    if !dir.join("done").exists() {
        bail!(
            "the image was built in {} but could not be moved to {}",
            work.display(),
            dir.display()
        );
    }
    Ok(Image {
        built_in: started.elapsed(),
        ..image
    })
}

/// Runs a build step with its output in `log`; on failure the log's end says why.
fn run(command: &mut Command, log: &Path) -> Result<()> {
    let out = std::fs::File::create(log)?;
    let status = command
        .stdout(out.try_clone()?)
        .stderr(out)
        .status()
        .with_context(|| format!("starting {:?} (is it installed?)", command.get_program()))?;
    if !status.success() {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        bail!(
            "{:?} failed ({status}):\n{}",
            command.get_program(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    Ok(())
}
