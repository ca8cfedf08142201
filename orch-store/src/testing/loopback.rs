//! [`free_loopback_port`]: a TCP port on 127.0.0.1 for a member or test
//! server that is started separately from the code that picks its port.

use std::fs::{File, OpenOptions};
use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::sync::Mutex;

use orch_core::{Error, Result};

/// The ports [`free_loopback_port`] picks from: below Linux's default
/// ephemeral range (`net.ipv4.ip_local_port_range`, 32768–60999), so that
/// an outgoing connection's local port never takes a picked port between
/// the pick and the bind; and above 20000, leaving the ports below to
/// servers configured with fixed ones (orch's examples use 18080).
const PORTS: std::ops::Range<u16> = 20000..32768;

/// How many random ports [`free_loopback_port`] tries before giving up.
const ATTEMPTS: usize = 100;

/// The ports this process has picked, with the lock file that reserves
/// each of them (held until the process exits).
static RESERVED: Mutex<Vec<(u16, File)>> = Mutex::new(Vec::new());

/// A TCP port that is free on 127.0.0.1 now and reserved for this process:
/// a random one from 20000–32767 that can be bound (and is released again
/// before returning), that no other process picked with this function
/// while it runs, and that this process has not been given before.
///
/// Ports the kernel hands out with `bind(…:0)` come from the ephemeral
/// range that outgoing connections draw from too, so a server started on
/// one a moment later may find it taken (`EADDRINUSE`); ports below that
/// range are only ever taken by another listener. Among processes that
/// pick with this function (say tests run in parallel, each starting
/// members), a port is reserved by an exclusive lock on
/// `$TMPDIR/orch-loopback-ports/<port>.lock`, held until the picking
/// process exits; a process that never uses this function may still bind
/// the port first, so a caller that starts a server on it should pick
/// again when the server reports the address in use.
///
/// Errors: [`Error::Unavailable`] if the lock directory cannot be made or
/// none of 100 random ports is free.
pub fn free_loopback_port() -> Result<u16> {
    let dir = lock_dir();
    std::fs::create_dir_all(&dir).map_err(|e| {
        Error::Unavailable(format!("cannot make the port lock directory {}: {e}", dir.display()))
    })?;
    let mut reserved = RESERVED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    for _ in 0..ATTEMPTS {
        let port = fastrand::u16(PORTS);
        if reserved.iter().any(|(p, _)| *p == port) {
            continue;
        }
        let Some(lock) = lock(&dir, port) else { continue };
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            reserved.push((port, lock));
            return Ok(port);
        }
    }
    Err(Error::Unavailable(format!(
        "no free loopback port among {ATTEMPTS} tried in {}–{}",
        PORTS.start,
        PORTS.end - 1
    )))
}

fn lock_dir() -> PathBuf {
    std::env::temp_dir().join("orch-loopback-ports")
}

/// The port's lock file, locked by this call; `None` if another process
/// holds it (or it cannot be opened).
fn lock(dir: &std::path::Path, port: u16) -> Option<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(format!("{port}.lock")))
        .ok()?;
    file.try_lock().ok()?;
    Some(file)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn picked_ports_are_below_the_ephemeral_range_distinct_and_bindable() {
        let mut seen = HashSet::new();
        for _ in 0..50 {
            let port = free_loopback_port().expect("a free port");
            assert!(PORTS.contains(&port), "{port}");
            assert!(seen.insert(port), "{port} was picked twice");
            TcpListener::bind((Ipv4Addr::LOCALHOST, port)).expect("the picked port binds");
        }
    }

    #[test]
    fn a_port_in_use_is_not_picked() {
        // 500 of the 12768 ports held: a pick that skipped the bind check
        // would hit one about 20 times in 500 picks.
        let taken: Vec<TcpListener> = (0..500)
            .filter_map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, fastrand::u16(PORTS))).ok())
            .collect();
        let taken: Vec<u16> = taken.iter().map(|l| l.local_addr().expect("addr").port()).collect();
        for _ in 0..500 {
            let port = free_loopback_port().expect("a free port");
            assert!(!taken.contains(&port), "{port} is in use");
        }
    }

    #[test]
    fn a_port_another_process_reserved_is_not_picked() {
        // Locks taken through other open files stand for other processes:
        // flock(2) locks belong to the open file, not the process.
        let dir = lock_dir();
        std::fs::create_dir_all(&dir).expect("lock dir");
        let others: Vec<(u16, File)> = (0..500)
            .map(|_| fastrand::u16(PORTS))
            .filter_map(|port| Some((port, lock(&dir, port)?)))
            .collect();
        for _ in 0..500 {
            let port = free_loopback_port().expect("a free port");
            assert!(!others.iter().any(|(p, _)| *p == port), "{port} is reserved elsewhere");
        }
    }
}
