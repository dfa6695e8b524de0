//! Listening sockets: each worker binds its own with SO_REUSEPORT, so the kernel spreads new
//! connections over the workers and no accept is ever handed from one core to another.

use std::io;
use std::net::{SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

/// A non-blocking listener on `addr` with SO_REUSEPORT (and SO_REUSEADDR) set.
pub fn bind_reuseport(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// One worker's listeners: the backend numbers them in the order it was given them (never reusing
/// a number); the gateway numbers them in its configuration's order, which a reload may change.
#[derive(Default)]
pub struct Listening {
    /// By backend number: the address, `None` once it stopped.
    by_backend: Vec<Option<SocketAddr>>,
    /// The configuration's order.
    order: Vec<SocketAddr>,
}

/// What [`Listening::change`] asks of the backend and the gateway.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Change {
    /// Addresses to listen on (report each with [`Listening::listening`]).
    pub add: Vec<SocketAddr>,
    /// Backend numbers to stop.
    pub remove: Vec<usize>,
    /// Per gateway listener before the change: its number after it (`None`: removed).
    pub remap: Vec<Option<usize>>,
}

impl Listening {
    /// A worker's listeners, in configuration order (report each with [`Listening::listening`]).
    pub fn new(order: Vec<SocketAddr>) -> Self {
        Listening {
            by_backend: Vec::new(),
            order,
        }
    }

    /// The backend listens on `addr` as number `backend`.
    pub fn listening(&mut self, backend: usize, addr: SocketAddr) {
        if self.by_backend.len() <= backend {
            self.by_backend.resize(backend + 1, None);
        }
        self.by_backend[backend] = Some(addr);
    }

    /// The gateway listener of backend listener `backend`, if it still listens.
    pub fn gateway_index(&self, backend: usize) -> Option<usize> {
        let addr = self.by_backend.get(backend).copied().flatten()?;
        self.order.iter().position(|a| *a == addr)
    }

    /// Moves to the listeners `order`; `None` if they did not change.
    pub fn change(&mut self, order: &[SocketAddr]) -> Option<Change> {
        if self.order == order {
            return None;
        }
        let add: Vec<SocketAddr> = order
            .iter()
            .filter(|a| !self.order.contains(a))
            .copied()
            .collect();
        let remap = self
            .order
            .iter()
            .map(|a| order.iter().position(|b| b == a))
            .collect();
        let mut remove = Vec::new();
        for (i, slot) in self.by_backend.iter_mut().enumerate() {
            if slot.is_some_and(|a| !order.contains(&a)) {
                *slot = None;
                remove.push(i);
            }
        }
        self.order = order.to_vec();
        Some(Change { add, remove, remap })
    }

    /// Every backend number listening (to stop them on shutdown). They stay mapped: a client
    /// accepted just before is taken and drained like the others.
    pub fn backend_numbers(&self) -> Vec<usize> {
        (0..self.by_backend.len())
            .filter(|&i| self.by_backend[i].is_some())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn a_reload_renumbers_kept_listeners_and_stops_removed_ones() {
        let mut l = Listening::new(vec![addr(80), addr(443)]);
        l.listening(0, addr(80));
        l.listening(1, addr(443));
        assert_eq!(l.change(&[addr(80), addr(443)]), None);
        let change = l.change(&[addr(443), addr(8080)]).unwrap();
        assert_eq!(
            change,
            Change {
                add: vec![addr(8080)],
                remove: vec![0],
                remap: vec![None, Some(0)],
            }
        );
        l.listening(2, addr(8080));
        // Backend numbers: 0 stopped, 1 is 443, 2 is the new 8080.
        assert_eq!(l.gateway_index(0), None);
        assert_eq!(l.gateway_index(1), Some(0));
        assert_eq!(l.gateway_index(2), Some(1));
        assert_eq!(l.backend_numbers(), vec![1, 2]);
    }
}
