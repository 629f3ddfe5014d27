//! The messages between the worker and its spawn helper, over a `SOCK_SEQPACKET` socket pair
//! (one message per `send`, descriptors alongside with `SCM_RIGHTS`).
//!
//! Both ends are the same binary, so fixed-layout headers are copied as they are. The helper
//! decodes without allocating ([`Spawn::parse`] borrows from its receive buffer), because it
//! may have been forked from a multi-threaded process, where allocating is not safe.

use std::ffi::{c_char, CStr, CString};
use std::io;

/// Largest request: the header and every string of the command.
pub const MAX_REQUEST: usize = 128 * 1024;
/// Most arguments, environment variables, binds and cgroups a command may have.
pub const MAX_ARGS: usize = 256;
pub const MAX_ENV: usize = 16;
pub const MAX_BINDS: usize = crate::sandbox::rootfs::MAX_BINDS;
pub const MAX_CGROUPS: usize = 4;
/// Descriptors of one request: stdin, stdout, stderr, cgroups, binds, network namespace.
pub const MAX_FDS: usize = 3 + MAX_CGROUPS + MAX_BINDS + 1;

pub const SPAWN: u32 = 1;
pub const KILL: u32 = 2;

/// The fixed part of a request. A spawn request is followed by NUL-terminated strings: the
/// program's path, the working directory, the `/tmp` mount options, then `args`,
/// `env` and `binds` of them (the binds' mount points).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Header {
    pub kind: u32,
    /// Whether the run leaves root for `uid`.
    pub set_uid: u32,
    pub tag: u64,
    pub uid: u32,
    pub args: u32,
    pub env: u32,
    pub binds: u32,
    pub cgroups: u32,
    /// 1 if a network namespace to enter follows the binds' descriptors.
    pub netns: u32,
    /// 1 if stdin is a terminal the run takes as its controlling terminal (a new session).
    pub terminal: u32,
    /// Largest file the run may write.
    pub file_size: u64,
}

/// What the helper says.
pub const STARTED: u32 = 1;
pub const FAILED: u32 = 2;
pub const EXITED: u32 = 3;
/// The helper's first message: set up (errno 0) or not (the step and errno).
pub const READY: u32 = 4;

/// A message from the helper: ready, a run started (its pid), could not start (the step and
/// errno), or ended (its wait status and resource use).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Reply {
    pub kind: u32,
    pub stage: u32,
    pub tag: u64,
    pub pid: i32,
    pub errno: i32,
    pub status: i32,
    pub _pad: i32,
    pub cpu_us: u64,
    pub max_rss_kb: u64,
}

/// The step of starting a run that failed, for the error message; sent as its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stage(pub u32);

impl Stage {
    pub const SETUP: Stage = Stage(0);
    pub const REQUEST: Stage = Stage(1);
    pub const TOO_MANY_RUNS: Stage = Stage(2);
    pub const CLONE: Stage = Stage(3);
    pub const CGROUP: Stage = Stage(4);
    pub const BIND: Stage = Stage(5);
    pub const TMP: Stage = Stage(6);
    pub const DIR: Stage = Stage(7);
    pub const PROC: Stage = Stage(8);
    pub const STDIO: Stage = Stage(9);
    pub const UID: Stage = Stage(10);
    pub const SECCOMP: Stage = Stage(11);
    pub const EXEC: Stage = Stage(12);
    pub const NETNS: Stage = Stage(13);

    /// What the step does, in the order of the numbers above.
    const WHAT: [&'static str; 14] = [
        "setting up the spawn helper",
        "a request the spawn helper could not read",
        "too many runs at once",
        "clone",
        "joining the run's cgroup",
        "showing a directory in the sandbox",
        "mounting /tmp",
        "entering the run's directory",
        "mounting /proc",
        "setting up standard input and output",
        "changing to the run's uid",
        "installing the seccomp filter",
        "exec",
        "entering the run's network namespace",
    ];

    pub fn describe(self) -> &'static str {
        Self::WHAT
            .get(self.0 as usize)
            .copied()
            .unwrap_or("an unknown step")
    }
}

/// Views a fixed-layout value as bytes.
pub fn bytes_of<T: Copy>(v: &T) -> &[u8] {
    // SAFETY: `T` is one of the `repr(C)` headers above, without padding or pointers.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), std::mem::size_of::<T>()) }
}

/// Reads a fixed-layout value from the front of `buf`, if it is long enough.
pub fn read<T: Copy + Default>(buf: &[u8]) -> Option<T> {
    if buf.len() < std::mem::size_of::<T>() {
        return None;
    }
    // SAFETY: long enough, and every bit pattern is a valid header (plain integers).
    Some(unsafe { std::ptr::read_unaligned(buf.as_ptr().cast::<T>()) })
}

/// A spawn request as the worker writes it.
pub struct SpawnRequest<'a> {
    pub tag: u64,
    pub program: &'a CStr,
    pub dir: &'a CStr,
    pub tmp_options: &'a CStr,
    pub args: &'a [CString],
    pub env: &'a [CString],
    pub bind_points: &'a [&'static CStr],
    pub cgroups: usize,
    pub uid: Option<u32>,
    /// Whether a network namespace's descriptor is sent after the binds'.
    pub netns: bool,
    /// Whether stdin is a terminal to take as the controlling one.
    pub terminal: bool,
    pub file_size: u64,
}

impl SpawnRequest<'_> {
    /// The message, or why it cannot be sent.
    pub fn encode(&self) -> io::Result<Vec<u8>> {
        if self.args.len() > MAX_ARGS || self.env.len() > MAX_ENV {
            return Err(io::Error::other(format!(
                "{} arguments and {} environment variables, at most {MAX_ARGS} and {MAX_ENV}",
                self.args.len(),
                self.env.len()
            )));
        }
        if self.bind_points.len() > MAX_BINDS || self.cgroups > MAX_CGROUPS {
            return Err(io::Error::other("too many binds or cgroups"));
        }
        let header = Header {
            kind: SPAWN,
            set_uid: self.uid.is_some() as u32,
            tag: self.tag,
            uid: self.uid.unwrap_or(0),
            args: self.args.len() as u32,
            env: self.env.len() as u32,
            binds: self.bind_points.len() as u32,
            cgroups: self.cgroups as u32,
            netns: u32::from(self.netns),
            terminal: u32::from(self.terminal),
            file_size: self.file_size,
        };
        let mut out = bytes_of(&header).to_vec();
        let strings = [self.program, self.dir, self.tmp_options]
            .into_iter()
            .chain(self.args.iter().map(CString::as_c_str))
            .chain(self.env.iter().map(CString::as_c_str))
            .chain(self.bind_points.iter().copied());
        for s in strings {
            out.extend_from_slice(s.to_bytes_with_nul());
        }
        if out.len() > MAX_REQUEST {
            return Err(io::Error::other(format!(
                "the command is {} bytes long, at most {MAX_REQUEST}",
                out.len()
            )));
        }
        Ok(out)
    }
}

/// A kill request: ends the run `tag` if it is still running.
pub fn kill(tag: u64) -> Header {
    Header {
        kind: KILL,
        tag,
        ..Header::default()
    }
}

/// A spawn request as the helper reads it: pointers into its receive buffer, in the shape
/// `execve` takes (NULL-terminated arrays).
pub struct Spawn {
    pub header: Header,
    pub program: *const c_char,
    pub dir: *const c_char,
    pub tmp_options: *const c_char,
    pub argv: [*const c_char; MAX_ARGS + 1],
    pub envp: [*const c_char; MAX_ENV + 1],
    pub bind_points: [*const c_char; MAX_BINDS],
}

impl Spawn {
    /// Reads a request from `msg` without allocating; `None` if it is malformed. The
    /// pointers are valid as long as `msg` is.
    pub fn parse(header: Header, msg: &[u8]) -> Option<Spawn> {
        let (args, env, binds) = (
            header.args as usize,
            header.env as usize,
            header.binds as usize,
        );
        if args == 0
            || args > MAX_ARGS
            || env > MAX_ENV
            || binds > MAX_BINDS
            || header.cgroups as usize > MAX_CGROUPS
            || header.netns > 1
            || header.terminal > 1
        {
            return None;
        }
        let mut spawn = Spawn {
            header,
            program: std::ptr::null(),
            dir: std::ptr::null(),
            tmp_options: std::ptr::null(),
            argv: [std::ptr::null(); MAX_ARGS + 1],
            envp: [std::ptr::null(); MAX_ENV + 1],
            bind_points: [std::ptr::null(); MAX_BINDS],
        };
        let mut rest = msg.get(std::mem::size_of::<Header>()..)?;
        let mut next = || -> Option<*const c_char> {
            let end = rest.iter().position(|b| *b == 0)?;
            let s = rest.as_ptr().cast::<c_char>();
            rest = rest.get(end + 1..)?;
            Some(s)
        };
        spawn.program = next()?;
        spawn.dir = next()?;
        spawn.tmp_options = next()?;
        for slot in spawn.argv.iter_mut().take(args) {
            *slot = next()?;
        }
        for slot in spawn.envp.iter_mut().take(env) {
            *slot = next()?;
        }
        for slot in spawn.bind_points.iter_mut().take(binds) {
            *slot = next()?;
        }
        Some(spawn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_reads_back_as_written() {
        let args = [c"/bin/echo".to_owned(), c"hi".to_owned()];
        let env = [c"PATH=/bin".to_owned()];
        let req = SpawnRequest {
            tag: 7,
            program: c"/bin/echo",
            dir: c"/box",
            tmp_options: c"size=1",
            args: &args,
            env: &env,
            bind_points: &[c"/box"],
            cgroups: 2,
            uid: Some(60001),
            netns: false,
            terminal: false,
            file_size: 99,
        };
        let msg = req.encode().unwrap();
        let header: Header = read(&msg).unwrap();
        assert_eq!((header.kind, header.tag, header.uid), (SPAWN, 7, 60001));
        let s = Spawn::parse(header, &msg).unwrap();
        // SAFETY: the pointers point into `msg`, alive here.
        let text = |p| unsafe { CStr::from_ptr(p) }.to_str().unwrap();
        assert_eq!(text(s.program), "/bin/echo");
        assert_eq!(text(s.argv[1]), "hi");
        assert!(s.argv[2].is_null());
        assert_eq!(text(s.envp[0]), "PATH=/bin");
        assert_eq!(text(s.bind_points[0]), "/box");
    }

    #[test]
    fn a_cut_request_is_refused() {
        let args = [c"/bin/true".to_owned()];
        let req = SpawnRequest {
            tag: 1,
            program: c"/bin/true",
            dir: c"/",
            tmp_options: c"",
            args: &args,
            env: &[],
            bind_points: &[],
            cgroups: 0,
            uid: None,
            netns: false,
            terminal: false,
            file_size: 1,
        };
        let msg = req.encode().unwrap();
        let header: Header = read(&msg).unwrap();
        assert!(Spawn::parse(header, &msg[..msg.len() - 1]).is_none());
        let lying = Header { args: 2, ..header };
        assert!(Spawn::parse(lying, &msg).is_none());
    }
}
