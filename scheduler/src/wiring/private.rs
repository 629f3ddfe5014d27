//! The data dir holds every source, input and token hash: only the scheduler's user may
//! read it. Files made here are 0600 and directories 0700, whoever starts the scheduler
//! (the systemd unit sets `UMask=0077`; a teacher's shell usually has 0022).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Makes everything this process creates from now on private (umask 077), creates
/// `data_dir` if needed, and takes away others' access to what an earlier run left there
/// (the directory, the database and its WAL files), where it is readable by others.
pub fn make_private(data_dir: &Path) -> std::io::Result<()> {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    std::fs::create_dir_all(data_dir)?;
    restrict(data_dir, 0o700)?;
    for name in ["judge.db", "judge.db-wal", "judge.db-shm", "blobs"] {
        let path = data_dir.join(name);
        if path.exists() {
            restrict(&path, if path.is_dir() { 0o700 } else { 0o600 })?;
        }
    }
    Ok(())
}

/// Clears the group and other bits of `path`, keeping at most `mode`.
fn restrict(path: &Path, mode: u32) -> std::io::Result<()> {
    let current = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if current & !mode != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(current & mode))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_data_dir_is_closed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        std::fs::create_dir(&data).expect("dir");
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::write(data.join("judge.db"), b"").expect("db");
        std::fs::set_permissions(
            data.join("judge.db"),
            std::fs::Permissions::from_mode(0o644),
        )
        .expect("chmod");
        make_private(&data).expect("made private");
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join("judge.db")), 0o600);
        std::fs::write(data.join("new"), b"x").expect("new file");
        assert_eq!(
            mode(&data.join("new")),
            0o600,
            "the umask applies to new files"
        );
    }
}
