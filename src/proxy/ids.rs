//! Handles of connections.
//!
//! The runtime knows a connection by its [`Token`]: the index of its slot in the worker's table,
//! and of its socket in the runtime's. A token is given to a new connection only after the runtime
//! was told to close the old one, so the runtime never confuses two. What the proxy keeps beyond
//! one event (a stream's legs, the pool's lists, timers, queues) holds a [`ConnId`] instead, which
//! adds the slot's generation: a reference to a connection that is gone never reaches the next one
//! in its slot.

/// A connection's slot, as the runtime knows it.
pub type Token = usize;

/// A connection as the proxy remembers it: its slot and the slot's generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct ConnId {
    slot: u32,
    generation: u32,
}

impl ConnId {
    pub(super) fn new(token: Token, generation: u32) -> Self {
        ConnId {
            slot: u32::try_from(token).unwrap_or(u32::MAX),
            generation,
        }
    }

    pub(super) fn token(self) -> Token {
        self.slot as Token
    }

    pub(super) fn generation(self) -> u32 {
        self.generation
    }
}
