//! The io_uring backend: multishot accept, multishot receive into a provided-buffer ring, and one send
//! in flight per connection (output offered meanwhile is queued behind it and sent next). A send
//! with nothing in flight goes out of the worker's own output buffer, swapped for a spare one, so
//! it is not copied.
//!
//! Received bytes are handed to the worker straight from the kernel-filled ring buffer and the buffer
//! is returned at once, so memory for receiving does not grow with the number of connections.
//!
//! Safety rests on three rules, each stated where it is relied on: (1) a buffer given to the kernel
//! (send buffers, the ring) is neither moved, freed, nor written by us until its completion arrives;
//! (2) a socket is not closed while an operation on it is in flight: closing shuts it down and parks it
//! until its last completion; (3) completions name their connection by token *and* generation, so a
//! late one never reaches a newer connection that reuses the token.
#![allow(unsafe_code)]

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::ops::Range;
use std::os::fd::{AsRawFd, FromRawFd};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use io_uring::types::{BufRingEntry, Fd, SubmitArgs, Timespec};
use io_uring::{IoUring, cqueue, opcode, squeue};

use super::io::{Backend, Sink, Token};
use super::socket::{TcpKeepalive, set_keepalive};

/// Size of each provided receive buffer.
const BUF_SIZE: usize = 16 << 10;
/// Buffers in the ring (a power of two); 8 MiB per worker, touched only as used.
const BUF_COUNT: u16 = 512;
const BUF_GROUP: u16 = 0;
/// Output queued per connection behind the send in flight; past this `send` takes less and the
/// worker waits for `Sink::writable`.
const MAX_QUEUED: usize = 1 << 20;
const RING_ENTRIES: u32 = 1024;

/// What a submission was, kept in the top byte of its user data.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Accept = 1,
    Recv = 2,
    Send = 3,
    /// Writability of a socket whose non-blocking connect is in progress.
    Connect = 4,
}

fn user_data(op: Op, generation: u32, index: usize) -> u64 {
    ((op as u64) << 56) | (u64::from(generation & 0xff_ffff) << 32) | (index as u64 & 0xffff_ffff)
}

fn split_user_data(data: u64) -> (u8, u32, usize) {
    (
        (data >> 56) as u8,
        ((data >> 32) & 0xff_ffff) as u32,
        (data & 0xffff_ffff) as usize,
    )
}

/// One connection's socket and its in-flight state.
struct Slot {
    stream: TcpStream,
    generation: u32,
    /// Operations submitted and not yet completed.
    in_flight: u32,
    /// The buffer of the send in flight, and how much of it the kernel has taken so far.
    sending: Option<(Vec<u8>, usize)>,
    /// Output queued behind the send in flight.
    queued: Vec<u8>,
    /// The buffer the worker swaps its output into when nothing is in flight (`spare_buffer`);
    /// its length marks initialised room, which the TLS encryption reuses without zeroing.
    spare: Vec<u8>,
    /// The worker was offered more than we took: tell it when there is room again.
    refused: bool,
    /// A connect is in progress; receiving starts once it succeeds.
    connecting: bool,
    /// Write side shut: reading until the peer's FIN (or the deadline), then dropped after the
    /// last completion, so that our last bytes arrive instead of being destroyed by a reset.
    closing: Option<Instant>,
}

/// The provided-buffer ring: `BUF_COUNT` buffers of `BUF_SIZE` bytes the kernel picks from.
struct BufRing {
    entries: *mut BufRingEntry,
    entries_layout: Layout,
    memory: *mut u8,
    memory_layout: Layout,
    tail: u16,
}

impl BufRing {
    fn new(ring: &IoUring) -> io::Result<Self> {
        let entries_layout = Layout::from_size_align(
            usize::from(BUF_COUNT) * std::mem::size_of::<BufRingEntry>(),
            4096,
        )
        .map_err(io::Error::other)?;
        let memory_layout = Layout::from_size_align(usize::from(BUF_COUNT) * BUF_SIZE, 4096)
            .map_err(io::Error::other)?;
        // SAFETY: both layouts have a non-zero size.
        let entries = unsafe { alloc_zeroed(entries_layout) }.cast::<BufRingEntry>();
        let memory = unsafe { alloc_zeroed(memory_layout) };
        if entries.is_null() || memory.is_null() {
            return Err(io::ErrorKind::OutOfMemory.into());
        }
        let mut buf_ring = BufRing {
            entries,
            entries_layout,
            memory,
            memory_layout,
            tail: 0,
        };
        for bid in 0..BUF_COUNT {
            buf_ring.push(bid);
        }
        buf_ring.publish();
        // SAFETY: `entries` is page-aligned, holds BUF_COUNT entries, and stays allocated until
        // after the ring is dropped (Uring drops `ring` before `buffers`).
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                entries as u64,
                BUF_COUNT,
                BUF_GROUP,
                0,
            )?
        };
        Ok(buf_ring)
    }

    fn buffer(&mut self, bid: u16, len: usize) -> &mut [u8] {
        let bid = usize::from(bid % BUF_COUNT);
        // SAFETY: the buffer lies inside `memory`; the kernel finished writing it (its completion
        // arrived) and does not reuse it until we push it back; `&mut self` keeps it unaliased.
        unsafe {
            std::slice::from_raw_parts_mut(self.memory.add(bid * BUF_SIZE), len.min(BUF_SIZE))
        }
    }

    /// Hands buffer `bid` back to the kernel (visible after `publish`).
    fn push(&mut self, bid: u16) {
        let index = usize::from(self.tail & (BUF_COUNT - 1));
        // SAFETY: `index` < BUF_COUNT; the kernel reads entries only up to the published tail.
        let entry = unsafe { &mut *self.entries.add(index) };
        entry.set_addr(self.memory as u64 + u64::from(bid) * BUF_SIZE as u64);
        entry.set_len(BUF_SIZE as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&self) {
        // SAFETY: the tail lives inside the first entry, which is allocated; the kernel reads it
        // concurrently, hence the atomic store with Release ordering.
        unsafe {
            let tail = BufRingEntry::tail(self.entries).cast::<AtomicU16>();
            (*tail).store(self.tail, Ordering::Release);
        }
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with these layouts; the ring that used them is gone.
        unsafe {
            dealloc(self.entries.cast(), self.entries_layout);
            dealloc(self.memory, self.memory_layout);
        }
    }
}

pub struct Uring {
    // Field order matters: the ring is dropped (and the kernel lets go of every buffer) first.
    ring: IoUring,
    buffers: BufRing,
    /// By number, with whether it was stopped (its socket is kept until its accept completes).
    listeners: Vec<Option<(TcpListener, bool)>>,
    slots: Vec<Option<Slot>>,
    /// Closed connections waiting for their last completion, by (token, generation).
    closing: HashMap<(usize, u32), Slot>,
    generation: u32,
    completions: Vec<(u64, i32, u32)>,
}

impl Uring {
    /// A ring with multishot receive into provided buffers, or the reason it cannot be had here
    /// (io_uring blocked by seccomp or sysctl, or a kernel too old for buffer rings).
    pub fn new() -> io::Result<Self> {
        // Completion work deferred to our own io_uring_enter (Linux 6.1) runs in batches, in the
        // worker's thread, instead of interrupting it; older kernels get cooperative task running.
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .build(RING_ENTRIES)
            .or_else(|_| IoUring::builder().setup_coop_taskrun().build(RING_ENTRIES))
            .or_else(|_| IoUring::new(RING_ENTRIES))?;
        if !ring.params().is_feature_ext_arg() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "kernel lacks IORING_FEAT_EXT_ARG",
            ));
        }
        let buffers = BufRing::new(&ring)?;
        Ok(Uring {
            ring,
            buffers,
            listeners: Vec::new(),
            slots: Vec::new(),
            closing: HashMap::new(),
            generation: 0,
            completions: Vec::with_capacity(RING_ENTRIES as usize),
        })
    }

    fn push(&mut self, entry: squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: every entry's buffers and descriptors outlive its completion (module rules).
            if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                return Ok(());
            }
            self.ring.submit()?;
        }
    }

    fn arm_recv(&mut self, index: usize) -> io::Result<()> {
        let Some(Some(slot)) = self.slots.get_mut(index) else {
            return Ok(());
        };
        let entry = opcode::RecvMulti::new(Fd(slot.stream.as_raw_fd()), BUF_GROUP)
            .build()
            .user_data(user_data(Op::Recv, slot.generation, index));
        slot.in_flight += 1;
        self.push(entry)
    }

    fn arm_accept(&mut self, index: usize) -> io::Result<()> {
        let Some(Some((listener, false))) = self.listeners.get(index) else {
            return Ok(());
        };
        let entry = opcode::AcceptMulti::new(Fd(listener.as_raw_fd()))
            .flags(libc::SOCK_CLOEXEC)
            .build()
            .user_data(user_data(Op::Accept, 0, index));
        self.push(entry)
    }

    /// Submits the send of `slot.sending` from its current offset (the slot may be live or closing).
    fn submit_send(&mut self, index: usize, generation: u32) -> io::Result<()> {
        let Some(slot) = self.slot_mut(index, generation) else {
            return Ok(());
        };
        let Some((buf, offset)) = &slot.sending else {
            return Ok(());
        };
        let rest = &buf[*offset..];
        let entry = opcode::Send::new(
            Fd(slot.stream.as_raw_fd()),
            rest.as_ptr(),
            rest.len() as u32,
        )
        .flags(libc::MSG_NOSIGNAL)
        .build()
        .user_data(user_data(Op::Send, slot.generation, index));
        slot.in_flight += 1;
        self.push(entry)
    }

    /// Finds the slot a completion belongs to: a live connection, or one that is closing.
    fn slot_mut(&mut self, index: usize, generation: u32) -> Option<&mut Slot> {
        match self.slots.get_mut(index) {
            Some(Some(slot)) if slot.generation == generation => Some(slot),
            _ => self.closing.get_mut(&(index, generation)),
        }
    }

    /// Forgets a live connection. `linger`: shut only the write side and keep reading until the
    /// peer's FIN or a deadline; otherwise shut both sides, which ends pending operations at once.
    /// Either way the socket is parked until its last completion.
    fn retire(&mut self, index: usize, linger: bool) {
        let Some(mut slot) = self.slots.get_mut(index).and_then(Option::take) else {
            return;
        };
        if !linger {
            let _ = slot.stream.shutdown(Shutdown::Both);
        } else if slot.sending.is_none() {
            let _ = slot.stream.shutdown(Shutdown::Write);
        }
        // Otherwise on_send shuts the write side once the output in flight is out.
        if slot.in_flight > 0 {
            slot.closing = Some(Instant::now() + super::epoll::LINGER);
            self.closing.insert((index, slot.generation), slot);
        }
    }

    /// One operation of a closing connection completed; drop it after the last one.
    fn settle(&mut self, index: usize, generation: u32) {
        if let Some(slot) = self.closing.get(&(index, generation)) {
            if slot.in_flight == 0 {
                self.closing.remove(&(index, generation));
            }
        }
    }

    fn on_accept(&mut self, index: usize, res: i32, flags: u32, sink: &mut impl Sink) {
        if res >= 0 {
            // SAFETY: a successful accept returns a new descriptor that nothing else owns.
            let stream = unsafe { TcpStream::from_raw_fd(res) };
            if let Ok(peer) = stream.peer_addr() {
                sink.accepted(index, stream, peer);
            }
        }
        if !cqueue::more(flags) {
            if let Some(Some((_, true))) = self.listeners.get(index) {
                // Stopped, and its accept is over: the socket may close now.
                self.listeners[index] = None;
            } else {
                let _ = self.arm_accept(index);
            }
        }
    }

    fn on_recv(
        &mut self,
        index: usize,
        generation: u32,
        res: i32,
        flags: u32,
        sink: &mut impl Sink,
    ) {
        let bid = cqueue::buffer_select(flags);
        let more = cqueue::more(flags);
        let Some(slot) = self.slot_mut(index, generation) else {
            if let Some(bid) = bid {
                self.buffers.push(bid);
            }
            return;
        };
        if !more {
            slot.in_flight = slot.in_flight.saturating_sub(1);
        }
        let closing = slot.closing.is_some();
        if let Some(bid) = bid {
            if res > 0 && !closing {
                sink.received(index, self.buffers.buffer(bid, res as usize));
            }
            self.buffers.push(bid);
        }
        if closing {
            if res <= 0 {
                // EOF or error: reading is over; make sure nothing else stays pending.
                if let Some(slot) = self.closing.get(&(index, generation)) {
                    let _ = slot.stream.shutdown(Shutdown::Both);
                }
            }
            self.settle(index, generation);
            return;
        }
        if res == 0 || (res < 0 && res != -libc::ENOBUFS) {
            let error = (res < 0).then(|| io::Error::from_raw_os_error(-res));
            self.retire(index, false);
            sink.closed(index, error);
        } else if !more && self.arm_recv(index).is_err() {
            self.retire(index, false);
            sink.closed(index, Some(io::Error::other("cannot re-arm receive")));
        }
    }

    fn on_connect(&mut self, index: usize, generation: u32, sink: &mut impl Sink) {
        let Some(slot) = self.slot_mut(index, generation) else {
            return;
        };
        slot.in_flight = slot.in_flight.saturating_sub(1);
        slot.connecting = false;
        if slot.closing.is_some() {
            self.settle(index, generation);
            return;
        }
        let error = match slot.stream.take_error() {
            Ok(Some(e)) | Err(e) => Some(e),
            Ok(None) => slot.stream.peer_addr().err(),
        };
        if let Some(e) = error {
            self.retire(index, false);
            sink.connected(index, Err(e));
            return;
        }
        let refused = std::mem::take(&mut slot.refused);
        if let Err(e) = self.arm_recv(index) {
            self.retire(index, false);
            sink.connected(index, Err(e));
            return;
        }
        sink.connected(index, Ok(()));
        if refused {
            sink.writable(index);
        }
    }

    fn on_send(&mut self, index: usize, generation: u32, res: i32, sink: &mut impl Sink) {
        let Some(slot) = self.slot_mut(index, generation) else {
            return;
        };
        slot.in_flight = slot.in_flight.saturating_sub(1);
        let closing = slot.closing.is_some();
        if res < 0 {
            if closing {
                let _ = slot.stream.shutdown(Shutdown::Both);
                self.settle(index, generation);
            } else {
                self.retire(index, false);
                sink.closed(index, Some(io::Error::from_raw_os_error(-res)));
            }
            return;
        }
        let Some((buf, offset)) = slot.sending.as_mut() else {
            return;
        };
        *offset += res as usize;
        if *offset < buf.len() {
            let _ = self.submit_send(index, generation);
            return;
        }
        // Done: the queued output (if any) goes next; the buffer just freed is kept for reuse.
        let Some((mut buf, _)) = slot.sending.take() else {
            return;
        };
        let notify = std::mem::take(&mut slot.refused);
        if !slot.queued.is_empty() {
            buf.clear();
            std::mem::swap(&mut buf, &mut slot.queued);
            slot.sending = Some((buf, 0));
            let _ = self.submit_send(index, generation);
        } else if closing {
            // The last bytes are out: now the FIN may follow them.
            let _ = slot.stream.shutdown(Shutdown::Write);
            self.settle(index, generation);
            return;
        } else if slot.spare.capacity() == 0 {
            slot.spare = buf;
        } else if slot.queued.capacity() == 0 {
            buf.clear();
            slot.queued = buf;
        }
        if notify && !closing {
            sink.writable(index);
        }
    }
}

impl Backend for Uring {
    fn name(&self) -> &'static str {
        "io_uring"
    }

    fn listen(&mut self, listener: TcpListener) -> io::Result<usize> {
        listener.set_nonblocking(true)?;
        let index = self.listeners.len();
        self.listeners.push(Some((listener, false)));
        self.arm_accept(index)?;
        Ok(index)
    }

    fn unlisten(&mut self, listener: usize) {
        if let Some(Some((socket, stopped))) = self.listeners.get_mut(listener) {
            // Shutting a listening socket's read side stops it listening (new connects are
            // refused) and ends its multishot accept, whose completion lets the socket go (rule 2).
            let _ = socket2::SockRef::from(&*socket).shutdown(Shutdown::Read);
            *stopped = true;
        }
    }

    fn lingering(&self) -> bool {
        !self.closing.is_empty()
    }

    fn register(&mut self, token: Token, stream: TcpStream) -> io::Result<()> {
        if token > u32::MAX as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "token too large",
            ));
        }
        stream.set_nodelay(true)?;
        self.generation = self.generation.wrapping_add(1) & 0xff_ffff;
        if self.slots.len() <= token {
            self.slots.resize_with(token + 1, || None);
        }
        if self.slots[token].is_some() {
            self.retire(token, false);
        }
        self.slots[token] = Some(Slot {
            stream,
            generation: self.generation,
            in_flight: 0,
            sending: None,
            queued: Vec::new(),
            spare: Vec::new(),
            refused: false,
            connecting: false,
            closing: None,
        });
        self.arm_recv(token)
    }

    fn connect(
        &mut self,
        token: Token,
        addr: SocketAddr,
        keepalive: Option<TcpKeepalive>,
    ) -> io::Result<()> {
        if token > u32::MAX as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "token too large",
            ));
        }
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM.cloexec(),
            Some(socket2::Protocol::TCP),
        )?;
        socket.set_nonblocking(true)?;
        socket.set_tcp_nodelay(true)?;
        if let Some(k) = &keepalive {
            set_keepalive(socket2::SockRef::from(&socket), k)?;
        }
        match socket.connect(&addr.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Err(e),
        }
        self.generation = self.generation.wrapping_add(1) & 0xff_ffff;
        if self.slots.len() <= token {
            self.slots.resize_with(token + 1, || None);
        }
        if self.slots[token].is_some() {
            self.retire(token, false);
        }
        let stream: TcpStream = socket.into();
        let entry = opcode::PollAdd::new(Fd(stream.as_raw_fd()), libc::POLLOUT as u32)
            .build()
            .user_data(user_data(Op::Connect, self.generation, token));
        self.slots[token] = Some(Slot {
            stream,
            generation: self.generation,
            in_flight: 1,
            sending: None,
            queued: Vec::new(),
            spare: Vec::new(),
            refused: false,
            connecting: true,
            closing: None,
        });
        self.push(entry)
    }

    fn send(&mut self, token: Token, data: &[u8]) -> io::Result<usize> {
        let Some(Some(slot)) = self.slots.get_mut(token) else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        if slot.connecting {
            slot.refused = true;
            return Ok(0);
        }
        if slot.sending.is_none() {
            let mut buf = std::mem::take(&mut slot.queued);
            buf.clear();
            let n = data.len().min(MAX_QUEUED);
            buf.extend_from_slice(&data[..n]);
            slot.sending = Some((buf, 0));
            slot.refused = n < data.len();
            let generation = slot.generation;
            self.submit_send(token, generation)?;
            return Ok(n);
        }
        let n = data.len().min(MAX_QUEUED.saturating_sub(slot.queued.len()));
        slot.queued.extend_from_slice(&data[..n]);
        if n < data.len() {
            slot.refused = true;
        }
        Ok(n)
    }

    fn spare_buffer(&mut self, token: Token) -> Option<&mut Vec<u8>> {
        match self.slots.get_mut(token) {
            Some(Some(slot)) if !slot.connecting && slot.sending.is_none() => Some(&mut slot.spare),
            _ => None,
        }
    }

    fn send_spare(&mut self, token: Token, range: Range<usize>) -> io::Result<()> {
        let Some(Some(slot)) = self.slots.get_mut(token) else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        if slot.connecting || slot.sending.is_some() || range.end > slot.spare.len() {
            return Err(io::ErrorKind::InvalidInput.into());
        }
        let mut buf = std::mem::take(&mut slot.spare);
        buf.truncate(range.end);
        slot.sending = Some((buf, range.start));
        let generation = slot.generation;
        self.submit_send(token, generation)
    }

    fn close(&mut self, token: Token) {
        self.retire(token, true);
    }

    fn poll(&mut self, timeout: Option<Duration>, sink: &mut impl Sink) -> io::Result<()> {
        let ts = timeout.map(Timespec::from);
        let result = match &ts {
            Some(ts) if self.ring.completion().is_empty() => {
                let args = SubmitArgs::new().timespec(ts);
                self.ring.submitter().submit_with_args(1, &args)
            }
            Some(_) => self.ring.submit(),
            None => self.ring.submit_and_wait(1),
        };
        match result {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                ) => {}
            Err(e) => return Err(e),
        }
        sink.woke();
        let mut completions = std::mem::take(&mut self.completions);
        completions.extend(
            self.ring
                .completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
        for &(data, res, flags) in &completions {
            let (op, generation, index) = split_user_data(data);
            match op {
                x if x == Op::Accept as u8 => self.on_accept(index, res, flags, sink),
                x if x == Op::Recv as u8 => self.on_recv(index, generation, res, flags, sink),
                x if x == Op::Send as u8 => self.on_send(index, generation, res, sink),
                x if x == Op::Connect as u8 => self.on_connect(index, generation, sink),
                _ => {}
            }
        }
        completions.clear();
        self.completions = completions;
        self.buffers.publish();
        // Closing sockets whose peer never sent FIN: shut them fully so their receive ends.
        let now = Instant::now();
        for slot in self.closing.values_mut() {
            if slot.closing.is_some_and(|deadline| deadline <= now) {
                let _ = slot.stream.shutdown(Shutdown::Both);
                slot.closing = Some(now + super::epoll::LINGER);
            }
        }
        Ok(())
    }
}
