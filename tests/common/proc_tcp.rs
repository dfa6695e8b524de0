//! The kernel's view of this network namespace's TCP sockets (`/proc/net/tcp`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The keepalive timer of the socket connected to `remote`, in clock ticks left, waiting up to
/// 2 s for other timers (a retransmission, say) to make way; `None` if it never shows.
pub fn keepalive_towards(remote: SocketAddr) -> Option<u64> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        if let Some((2, ticks)) = timer_towards(remote) {
            return Some(ticks);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The timer of the IPv4 loopback socket connected to `remote` (any process):
/// `(timer kind, clock ticks left)`. Kind 2 is the keepalive timer, 0 none.
fn timer_towards(remote: SocketAddr) -> Option<(u32, u64)> {
    let want = format!("0100007F:{:04X}", remote.port());
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.get(2) != Some(&want.as_str()) {
            return None;
        }
        let (kind, when) = f.get(5)?.split_once(':')?;
        Some((
            u32::from_str_radix(kind, 16).ok()?,
            u64::from_str_radix(when, 16).ok()?,
        ))
    })
}
