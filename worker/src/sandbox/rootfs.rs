//! The filesystem a run sees: a read-only tmpfs root holding the toolchain (read-only binds of
//! `/usr` and friends), a few device nodes, the run's own directory at `/box`, a fresh
//! size-limited `/tmp`, and its own `/proc`. Nothing of the worker: not its work dir, cache,
//! config or token.
//!
//! Building that tree costs dozens of mounts, so it is built once, at start, in a mount
//! namespace of its own (the *template*), kept alive by a descriptor. The spawn helper enters
//! it once; each run is cloned with a copy of it (`CLONE_NEWNS`, a handful of mounts) and
//! attaches only what is its own: its directories and files (cloned by the worker with
//! `open_tree` in its own namespace, see [`clone_bind`], then moved in with [`attach`]), a
//! new tmpfs on `/tmp` and its own `/proc`. When the run's last process exits, its namespace
//! and everything attached to it go away.
//!
//! What a run calls between clone and exec ([`attach`], [`mount_tmp`], [`mount_proc`]) is
//! async-signal-safe: raw syscalls on data prepared before.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

/// What every run sees besides its language's own paths: programs, libraries, the dynamic
/// linker's cache and the `alternatives` links many toolchains go through.
pub const BASE_VIEW: &[&str] = &[
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/etc/alternatives",
    "/etc/ld.so.cache",
];

/// Where a run's own directory appears, and its working directory.
pub const BOX: &CStr = c"/box";
/// Where a validator finds the test's input, answer and its feedback directory.
pub const INPUT: &CStr = c"/judge/input";
pub const ANSWER: &CStr = c"/judge/answer";
pub const FEEDBACK: &CStr = c"/judge/feedback";

/// Mount points made in the template: directories, then files.
const DIR_POINTS: &[&str] = &["/box", "/tmp", "/proc", "/judge/feedback"];
const FILE_POINTS: &[&str] = &["/judge/input", "/judge/answer"];
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom"];
const DEV_LINKS: &[(&str, &str)] = &[
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    // POSIX shared memory and semaphores (Python's multiprocessing) live in the run's /tmp.
    ("shm", "/tmp"),
];

/// At most this many directories or files attached per run.
pub const MAX_BINDS: usize = 4;

/// One host directory or file shown to a run.
#[derive(Debug, Clone)]
pub struct Bind {
    pub host: PathBuf,
    /// One of [`BOX`], [`INPUT`], [`ANSWER`], [`FEEDBACK`].
    pub inside: &'static CStr,
    pub writable: bool,
}

/// Clones host path `host` (a directory or file) as a detached mount, read-only unless
/// `writable`, never with set-uid programs or devices. Done in the worker's mount namespace,
/// where the path is; the run attaches it in its own with [`attach`].
pub fn clone_bind(host: &Path, writable: bool) -> io::Result<OwnedFd> {
    let path = CString::new(host.as_os_str().as_bytes())
        .map_err(|_| io::Error::other("a path with a NUL byte"))?;
    // SAFETY: plain syscalls on a valid path and a local struct.
    unsafe {
        let fd = check(libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC,
        ))
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", host.display())))?;
        let fd = OwnedFd::from_raw_fd(fd as libc::c_int);
        let mut set = libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV;
        if !writable {
            set |= libc::MOUNT_ATTR_RDONLY;
        }
        let attr = libc::mount_attr {
            attr_set: set,
            attr_clr: 0,
            propagation: 0,
            userns_fd: 0,
        };
        check(libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        ))?;
        Ok(fd)
    }
}

/// In a run's own copy of the template: attaches a mount made by [`clone_bind`] at `point`.
/// Returns the syscall's result.
///
/// # Safety
/// Async-signal-safe; `point` is a NUL-terminated path.
pub unsafe fn attach(fd: libc::c_int, point: *const libc::c_char) -> libc::c_long {
    libc::syscall(
        libc::SYS_move_mount,
        fd,
        c"".as_ptr(),
        libc::AT_FDCWD,
        point,
        libc::MOVE_MOUNT_F_EMPTY_PATH,
    )
}

/// The options of a run's `/tmp`: `bytes` big (its pages also count against the run's memory
/// limit).
pub fn tmp_options(bytes: u64) -> CString {
    CString::new(format!("size={bytes},nr_inodes=16384,mode=1777")).unwrap_or_default()
}

/// Mounts a fresh tmpfs on `/tmp` with `options` (from [`tmp_options`]).
///
/// # Safety
/// Async-signal-safe; `options` is a NUL-terminated string.
pub unsafe fn mount_tmp(options: *const libc::c_char) -> libc::c_long {
    libc::mount(
        c"tmpfs".as_ptr(),
        c"/tmp".as_ptr(),
        c"tmpfs".as_ptr(),
        libc::MS_NOSUID | libc::MS_NODEV,
        options.cast(),
    )
    .into()
}

/// The prepared mount namespace every run starts from.
#[derive(Debug)]
pub struct Template {
    ns: OwnedFd,
}

fn failed(e: impl std::fmt::Display, what: &str) -> String {
    format!("{what}: {e}")
}

/// A raw syscall's return value, with errno as the error when it failed.
fn check(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Paths of `read_only` that exist, with `*` prefixes expanded and paths inside others
/// dropped (binding into a read-only bind would fail, and is not needed).
fn expand(read_only: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in read_only {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
        match (
            name.as_deref().and_then(|n| n.strip_suffix('*')),
            p.parent(),
        ) {
            (Some(prefix), Some(parent)) => {
                if let Ok(entries) = std::fs::read_dir(parent) {
                    out.extend(
                        entries
                            .flatten()
                            .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
                            .map(|e| e.path()),
                    );
                }
            }
            _ if p.symlink_metadata().is_ok() => out.push(p.clone()),
            _ => {}
        }
    }
    out.sort();
    out.dedup();
    let mut kept: Vec<PathBuf> = Vec::new();
    for p in out {
        if !kept.iter().any(|k| p.starts_with(k)) {
            kept.push(p);
        }
    }
    kept
}

impl Template {
    /// Builds the template from `read_only` host paths (besides [`BASE_VIEW`]). `staging`
    /// is an empty directory of the worker's, where the root is put together before it is
    /// made the namespace's root.
    pub fn build(read_only: &[PathBuf], staging: &Path) -> Result<Template, String> {
        let mut paths: Vec<PathBuf> = BASE_VIEW.iter().map(PathBuf::from).collect();
        paths.extend(read_only.iter().cloned());
        let paths = expand(&paths);
        let staging = staging.to_path_buf();
        crate::sandbox::namespace::on_own_thread(libc::CLONE_NEWNS, "mnt", move || {
            build_tree(&paths, &staging)
        })
        .map(|ns| Template { ns })
    }

    /// Enters the template. The spawn helper does, once: each run it clones gets a copy
    /// (`CLONE_NEWNS`), so what a run attaches stays its own.
    ///
    /// # Safety
    /// Only async-signal-safe calls; the caller has one thread.
    pub unsafe fn enter(&self) -> io::Result<()> {
        check(libc::setns(self.ns.as_raw_fd(), libc::CLONE_NEWNS) as libc::c_long)?;
        check(libc::chdir(c"/".as_ptr()) as libc::c_long)?;
        Ok(())
    }
}

/// Mounts a `/proc` that shows only the run's PID namespace. Call as its PID 1.
///
/// # Safety
/// Only async-signal-safe calls.
pub unsafe fn mount_proc() -> libc::c_long {
    libc::mount(
        c"proc".as_ptr(),
        c"/proc".as_ptr(),
        c"proc".as_ptr(),
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        std::ptr::null(),
    )
    .into()
}

/// Builds the template's tree, in its new mount namespace, and makes it the root there.
fn build_tree(paths: &[PathBuf], staging: &Path) -> Result<(), String> {
    let none: Option<&str> = None;
    // Nothing done here may spread back to the worker's namespace.
    mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_PRIVATE, none)
        .map_err(|e| failed(e, "making / private"))?;
    std::fs::create_dir_all(staging).map_err(|e| failed(e, &staging.display().to_string()))?;
    mount(
        Some("judge-root"),
        staging,
        Some("tmpfs"),
        MsFlags::empty(),
        Some("size=1m,mode=0755"),
    )
    .map_err(|e| failed(e, "tmpfs for the root"))?;
    let at = |p: &Path| staging.join(p.strip_prefix("/").unwrap_or(p));
    for p in paths {
        bind_read_only(p, &at(p))?;
    }
    let dev = at(Path::new("/dev"));
    std::fs::create_dir_all(&dev).map_err(|e| failed(e, "/dev"))?;
    for d in DEVICES {
        let host = Path::new("/dev").join(d);
        if host.exists() {
            let target = dev.join(d);
            std::fs::File::create(&target).map_err(|e| failed(e, &target.display().to_string()))?;
            mount(Some(&host), &target, none, MsFlags::MS_BIND, none)
                .map_err(|e| failed(e, &host.display().to_string()))?;
        }
    }
    for (name, target) in DEV_LINKS {
        std::os::unix::fs::symlink(target, dev.join(name)).map_err(|e| failed(e, name))?;
    }
    for d in DIR_POINTS {
        std::fs::create_dir_all(at(Path::new(d))).map_err(|e| failed(e, d))?;
    }
    for f in FILE_POINTS {
        std::fs::File::create(at(Path::new(f))).map_err(|e| failed(e, f))?;
    }
    let old = staging.join(".old");
    std::fs::create_dir_all(&old).map_err(|e| failed(e, ".old"))?;
    nix::unistd::pivot_root(staging, &old).map_err(|e| failed(e, "pivot_root"))?;
    std::env::set_current_dir("/").map_err(|e| failed(e, "chdir /"))?;
    umount2("/.old", MntFlags::MNT_DETACH).map_err(|e| failed(e, "detaching the old root"))?;
    std::fs::remove_dir("/.old").map_err(|e| failed(e, "/.old"))?;
    remount_read_only(Path::new("/"))?;
    Ok(())
}

/// Shows host path `p` read-only at `target` (a symlink is copied as a symlink).
fn bind_read_only(p: &Path, target: &Path) -> Result<(), String> {
    let shown = p.display().to_string();
    let meta = p.symlink_metadata().map_err(|e| failed(e, &shown))?;
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(|e| failed(e, &shown))?;
    }
    if meta.file_type().is_symlink() {
        let to = std::fs::read_link(p).map_err(|e| failed(e, &shown))?;
        return std::os::unix::fs::symlink(to, target).map_err(|e| failed(e, &shown));
    }
    if meta.is_dir() {
        std::fs::create_dir_all(target).map_err(|e| failed(e, &shown))?;
    } else {
        std::fs::File::create(target).map_err(|e| failed(e, &shown))?;
    }
    let none: Option<&str> = None;
    mount(
        Some(p),
        target,
        none,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        none,
    )
    .map_err(|e| failed(e, &shown))?;
    remount_read_only(target)
}

/// Makes the mount at `target` read-only, without set-uid programs or device nodes.
fn remount_read_only(target: &Path) -> Result<(), String> {
    let none: Option<&str> = None;
    let flags = MsFlags::MS_BIND
        | MsFlags::MS_REMOUNT
        | MsFlags::MS_RDONLY
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV;
    mount(none, target, none, flags, none)
        .map_err(|e| failed(e, &format!("read-only {}", target.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_paths_expand_prefixes_and_drop_nested_ones() {
        let dir = std::env::temp_dir().join(format!("rootfs-expand-{}", std::process::id()));
        for d in ["java-17", "java-21", "other", "java-17/conf"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        let got = expand(&[
            dir.join("java-*"),
            dir.join("java-17/conf"),
            dir.join("missing"),
        ]);
        assert_eq!(got, [dir.join("java-17"), dir.join("java-21")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
