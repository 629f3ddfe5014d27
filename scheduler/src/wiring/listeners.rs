//! The scheduler's listening sockets, bound once for the life of the process and kept
//! across a restart in place.
//!
//! A scheduler on a shared database changes roles on the same ports: standby, then leader,
//! and, when deposed, a fresh start of the program as a standby again (`main` execs
//! itself). Binding anew at each change would leave a moment with the port free: clients
//! are refused, and on a busy host another process's outgoing connection may take the port
//! as its local one, so that the bind fails and the scheduler never comes back. So the
//! sockets are bound once, each role serves on a duplicate of them (connections that
//! arrive between two roles wait in the backlog), and a restart hands them to the new
//! program as inherited descriptors named in [`INHERIT_VAR`].

use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::sys::socket::{
    bind, getsockname, getsockopt, listen as listen_on, setsockopt, socket, sockopt, AddressFamily,
    Backlog, SockFlag, SockType, SockaddrStorage,
};

/// A socket that could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {source}")]
pub struct ListenError {
    pub addr: SocketAddr,
    #[source]
    pub source: std::io::Error,
}

/// Where to listen: the gRPC address, the HTTP one if any, and the backlog's size.
#[derive(Debug, Clone, Copy)]
pub struct Addresses {
    pub grpc: SocketAddr,
    pub http: Option<SocketAddr>,
    /// Workers the listen backlog is sized for.
    pub fleet_size: u32,
}

/// The environment variable through which a restarting scheduler names its listening
/// descriptors to the program it becomes: `GRPC_FD` or `GRPC_FD,HTTP_FD`.
pub const INHERIT_VAR: &str = "JUDGE_SCHEDULER_LISTEN_FDS";

/// The bound gRPC and (optional) HTTP sockets, with the addresses they are bound to.
#[derive(Debug)]
pub struct Listeners {
    grpc: TcpListener,
    http: Option<TcpListener>,
    grpc_at: SocketAddr,
    http_at: Option<SocketAddr>,
}

impl Listeners {
    /// The sockets handed on by the program this one replaced, if [`INHERIT_VAR`] names
    /// listening sockets on the configured addresses; otherwise freshly bound ones.
    pub fn open(at: Addresses) -> Result<Listeners, ListenError> {
        if let Ok(named) = std::env::var(INHERIT_VAR) {
            match inherited(&named, at) {
                Ok(listeners) => return Ok(listeners),
                Err(why) => tracing::warn!(%why, "not using the inherited sockets; binding anew"),
            }
        }
        Listeners::bind(at)
    }

    /// Binds the configured addresses.
    pub fn bind(at: Addresses) -> Result<Listeners, ListenError> {
        let grpc = listen(at.grpc, at.fleet_size)?;
        let http = match at.http {
            Some(addr) => Some(listen(addr, at.fleet_size)?),
            None => None,
        };
        Listeners::new(grpc, http).map_err(|source| ListenError {
            addr: at.grpc,
            source,
        })
    }

    /// The pair, with where each is bound.
    fn new(grpc: TcpListener, http: Option<TcpListener>) -> std::io::Result<Listeners> {
        let grpc_at = grpc.local_addr()?;
        let http_at = http.as_ref().map(TcpListener::local_addr).transpose()?;
        Ok(Listeners {
            grpc,
            http,
            grpc_at,
            http_at,
        })
    }

    /// Where the gRPC socket is bound.
    pub fn addr(&self) -> SocketAddr {
        self.grpc_at
    }

    /// Where the HTTP socket is bound, if there is one.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_at
    }

    /// A duplicate of the gRPC socket for one role's server (closing it leaves the socket
    /// listening).
    pub fn grpc(&self) -> Result<tokio::net::TcpListener, ListenError> {
        to_tokio(&self.grpc, self.grpc_at)
    }

    /// A duplicate of the HTTP socket, if there is one.
    pub fn http(&self) -> Result<Option<tokio::net::TcpListener>, ListenError> {
        match (&self.http, self.http_at) {
            (Some(http), Some(at)) => to_tokio(http, at).map(Some),
            _ => Ok(None),
        }
    }

    /// Lets the sockets survive the exec of `command` and names them to it. Only for a
    /// command about to replace this program: every other child keeps not inheriting them.
    pub fn hand_on(&self, command: &mut std::process::Command) -> nix::Result<()> {
        let mut fds = vec![self.grpc.as_raw_fd().to_string()];
        keep_on_exec(&self.grpc)?;
        if let Some(http) = &self.http {
            keep_on_exec(http)?;
            fds.push(http.as_raw_fd().to_string());
        }
        command.env(INHERIT_VAR, fds.join(","));
        Ok(())
    }
}

/// A listener whose backlog holds `fleet_size` connection attempts, so that a fleet
/// redialling at once after a restart is not dropped by the kernel.
fn listen(addr: SocketAddr, fleet_size: u32) -> Result<TcpListener, ListenError> {
    let family = if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    // Past the largest backlog the kernel takes, the largest it allows.
    let backlog = i32::try_from(fleet_size)
        .ok()
        .and_then(|n| Backlog::new(n).ok())
        .unwrap_or(Backlog::MAXALLOWABLE);
    let bound = socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None).and_then(|fd| {
        setsockopt(&fd, sockopt::ReuseAddr, &true)?;
        bind(fd.as_raw_fd(), &SockaddrStorage::from(addr))?;
        listen_on(&fd, backlog)?;
        Ok(TcpListener::from(fd))
    });
    let cap = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok());
    if let Some(cap) = cap.filter(|&cap| cap < fleet_size) {
        tracing::warn!(
            fleet_size,
            somaxconn = cap,
            "the kernel caps the listen backlog below the fleet size: raise net.core.somaxconn"
        );
    }
    bound.map_err(|e| ListenError {
        addr,
        source: e.into(),
    })
}

fn to_tokio(
    listener: &TcpListener,
    addr: SocketAddr,
) -> Result<tokio::net::TcpListener, ListenError> {
    let copy = || {
        let copy = listener.try_clone()?;
        copy.set_nonblocking(true)?;
        tokio::net::TcpListener::from_std(copy)
    };
    copy().map_err(|source| ListenError { addr, source })
}

fn keep_on_exec(listener: &TcpListener) -> nix::Result<()> {
    fcntl(listener, FcntlArg::F_SETFD(FdFlag::empty())).map(drop)
}

/// The sockets named in `named`, checked: each a listening TCP socket on the address this
/// configuration asks for (any port where it asks for port 0).
fn inherited(named: &str, at: Addresses) -> Result<Listeners, String> {
    let fds: Vec<&str> = named.split(',').collect();
    let wanted = [Some(at.grpc), at.http];
    let wanted: Vec<SocketAddr> = wanted.into_iter().flatten().collect();
    if fds.len() != wanted.len() {
        return Err(format!(
            "{INHERIT_VAR}={named:?} names {} sockets; this configuration listens on {}",
            fds.len(),
            wanted.len()
        ));
    }
    let mut taken = Vec::new();
    for (fd, want) in fds.iter().zip(&wanted) {
        taken.push(adopt(fd, *want)?);
    }
    let mut taken = taken.into_iter();
    let grpc = taken.next().ok_or("no gRPC socket")?;
    Listeners::new(grpc, taken.next()).map_err(|e| format!("an inherited socket: {e}"))
}

/// Takes descriptor `fd` as a listener if it is one on `want`; marks it close-on-exec
/// again, so that children (scale commands) do not inherit it.
fn adopt(fd: &str, want: SocketAddr) -> Result<TcpListener, String> {
    let raw: RawFd = fd
        .trim()
        .parse()
        .ok()
        .filter(|&fd: &RawFd| fd > 2)
        .ok_or_else(|| format!("{fd:?} is not a descriptor number above 2"))?;
    // An open socket, asked without touching the descriptor: borrowing a closed one would
    // be unsound.
    let what = std::fs::read_link(format!("/proc/self/fd/{raw}"))
        .map_err(|e| format!("descriptor {raw} is not open: {e}"))?;
    if !what.to_string_lossy().starts_with("socket:") {
        return Err(format!(
            "descriptor {raw} is not a socket ({})",
            what.display()
        ));
    }
    // SAFETY: open (above) and not closed before this function returns; owned only once
    // the checks pass.
    let borrowed = unsafe { BorrowedFd::borrow_raw(raw) };
    let listening = getsockopt(&borrowed, sockopt::AcceptConn)
        .map_err(|e| format!("descriptor {raw} is not a socket: {e}"))?;
    if !listening {
        return Err(format!("descriptor {raw} is not a listening socket"));
    }
    let at: SockaddrStorage =
        getsockname(raw).map_err(|e| format!("descriptor {raw} has no address: {e}"))?;
    let at: SocketAddr = match (at.as_sockaddr_in(), at.as_sockaddr_in6()) {
        (Some(v4), _) => SocketAddr::from(std::net::SocketAddrV4::from(*v4)),
        (_, Some(v6)) => SocketAddr::from(std::net::SocketAddrV6::from(*v6)),
        _ => return Err(format!("descriptor {raw} is not a TCP/IP socket")),
    };
    if at.ip() != want.ip() || (want.port() != 0 && at.port() != want.port()) {
        return Err(format!("descriptor {raw} listens on {at}, not {want}"));
    }
    fcntl(borrowed, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))
        .map_err(|e| format!("descriptor {raw}: {e}"))?;
    // SAFETY: a listening socket this program was handed on purpose, owned from here on.
    Ok(TcpListener::from(unsafe { OwnedFd::from_raw_fd(raw) }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::IntoRawFd;

    fn opts(grpc: SocketAddr, http: Option<SocketAddr>) -> Addresses {
        Addresses {
            grpc,
            http,
            fleet_size: 16,
        }
    }

    #[test]
    fn a_socket_handed_on_is_taken_and_others_are_refused() {
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let bound = Listeners::bind(opts(any, Some(any))).unwrap();
        let grpc = bound.addr();
        let http = bound.http_addr().unwrap();
        // Duplicates, as a program started again would find them.
        let g = bound.grpc.try_clone().unwrap().into_raw_fd();
        let h = bound
            .http
            .as_ref()
            .unwrap()
            .try_clone()
            .unwrap()
            .into_raw_fd();

        let wanted = opts(grpc, Some(http));
        assert!(inherited(&format!("{g}"), wanted)
            .unwrap_err()
            .contains("names 1 sockets"));
        assert!(inherited(&format!("{h},{g}"), wanted)
            .unwrap_err()
            .contains("not 127.0.0.1"));
        assert!(inherited("1,2", wanted).unwrap_err().contains("above 2"));
        assert!(inherited("x,-5", wanted)
            .unwrap_err()
            .contains("not a descriptor"));
        let file = std::fs::File::open("/proc/self/exe").unwrap();
        let f = file.as_raw_fd();
        assert!(inherited(&format!("{f},{h}"), wanted)
            .unwrap_err()
            .contains("not a socket"));

        let taken = inherited(&format!("{g},{h}"), opts(any, Some(any))).unwrap();
        assert_eq!(taken.addr(), grpc);
        assert_eq!(taken.http_addr(), Some(http));
        let flags = fcntl(&taken.grpc, FcntlArg::F_GETFD).unwrap();
        assert!(FdFlag::from_bits_truncate(flags).contains(FdFlag::FD_CLOEXEC));
    }
}
