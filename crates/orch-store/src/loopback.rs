//! [`free_loopback_port`]: a TCP port on 127.0.0.1 for a member or test
//! server that is started separately from the code that picks its port.

use std::net::{Ipv4Addr, TcpListener};

use orch_core::{Error, Result};

/// The ports [`free_loopback_port`] picks from: below Linux's default
/// ephemeral range (`net.ipv4.ip_local_port_range`, 32768–60999), so that
/// an outgoing connection's local port never takes a picked port between
/// the pick and the bind; and above 20000, leaving the ports below to
/// servers configured with fixed ones (orch's examples use 18080).
const PORTS: std::ops::Range<u16> = 20000..32768;

/// How many random ports [`free_loopback_port`] tries before giving up.
const ATTEMPTS: usize = 100;

/// A TCP port that is free on 127.0.0.1 now: a random one from 20000–32767
/// that can be bound (and is released again before returning).
///
/// Ports the kernel hands out with `bind(…:0)` come from the ephemeral
/// range that outgoing connections draw from too, so a server started on
/// one a moment later may find it taken (`EADDRINUSE`); ports below that
/// range are only ever taken by another listener. Another process may
/// still bind the same port first: a caller that starts a server on it
/// should pick again when the server reports the address in use.
///
/// Errors: [`Error::Unavailable`] if none of 100 random ports can be bound.
pub fn free_loopback_port() -> Result<u16> {
    for _ in 0..ATTEMPTS {
        let port = fastrand::u16(PORTS);
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(port);
        }
    }
    Err(Error::Unavailable(format!(
        "no free loopback port among {ATTEMPTS} tried in {}–{}",
        PORTS.start,
        PORTS.end - 1
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picked_ports_are_below_the_ephemeral_range_and_bindable() {
        for _ in 0..20 {
            let port = free_loopback_port().expect("a free port");
            assert!(PORTS.contains(&port), "{port}");
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
}
