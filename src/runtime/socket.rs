//! Socket options the configuration sets, as plain data. Kept apart from the backends so that the
//! proxy can name them in its I/O requests without depending on the runtime that drives it.

use std::io;
use std::time::Duration;

/// TCP keepalive on the sockets of upstream connections (`connectionPool.tcp.tcpKeepalive`);
/// `None` fields keep the kernel's defaults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpKeepalive {
    /// Idle time before the first probe.
    pub time: Option<Duration>,
    /// Time between probes.
    pub interval: Option<Duration>,
    /// Unanswered probes before the connection is dropped.
    pub probes: Option<u32>,
}

/// Turns on TCP keepalive on `socket` with the times and count `k` sets (the kernel's for the
/// others).
pub fn set_keepalive(socket: socket2::SockRef<'_>, k: &TcpKeepalive) -> io::Result<()> {
    let mut params = socket2::TcpKeepalive::new();
    if let Some(t) = k.time {
        params = params.with_time(t);
    }
    if let Some(i) = k.interval {
        params = params.with_interval(i);
    }
    if let Some(n) = k.probes {
        params = params.with_retries(n);
    }
    socket.set_tcp_keepalive(&params)
}
