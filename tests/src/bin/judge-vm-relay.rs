//! Joins its standard input and output to a TCP connection to the address it is given.
//!
//! qemu's user-mode NAT forwards each connection a guest opens to one allowed address
//! (`guestfwd=...-cmd:judge-vm-relay 127.0.0.1:PORT`) by starting this program with the
//! guest's connection as its standard input and output: every connection gets its own relay,
//! so a long-lived gRPC stream and a download can cross side by side.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};

fn main() {
    let Some(addr) = std::env::args().nth(1) else {
        eprintln!("usage: judge-vm-relay HOST:PORT");
        std::process::exit(2);
    };
    let stream = match TcpStream::connect(&addr) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("judge-vm-relay: {addr}: {e}");
            std::process::exit(1);
        }
    };
    let Ok(mut up) = stream.try_clone() else {
        std::process::exit(1);
    };
    // Guest to host on a thread of its own; host to guest here. Either side's end ends both.
    std::thread::spawn(move || {
        let mut buf = [0u8; 64 << 10];
        let mut stdin = std::io::stdin().lock();
        while let Ok(n) = stdin.read(&mut buf) {
            if n == 0 || up.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = up.shutdown(Shutdown::Write);
    });
    let mut down = stream;
    let mut buf = [0u8; 64 << 10];
    let mut stdout = std::io::stdout().lock();
    while let Ok(n) = down.read(&mut buf) {
        if n == 0
            || stdout
                .write_all(&buf[..n])
                .and_then(|_| stdout.flush())
                .is_err()
        {
            break;
        }
    }
}
