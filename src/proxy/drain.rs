//! Draining connections instead of cutting them.
//!
//! - Shutdown ([`start`]): every client hears a graceful GOAWAY in two steps
//!   ([`Connection::go_away_soon`](crate::h2::conn::Connection::go_away_soon)), so no stream it
//!   already sent is lost; once no client can open streams any more, every upstream connection
//!   gets a GOAWAY and closes after its last stream.
//! - A reload that removes a listener ([`relisten`]): its clients get the final GOAWAY at once (the
//!   routes of that listener are gone, so a stream opened later could only be refused; above the
//!   GOAWAY's last id it is safe for the client to retry elsewhere).
//!
//! Either way the streams in flight may finish until a deadline; what is still open then is cut.

use std::time::{Duration, Instant};

use super::conns::Kind;
use super::events::Events;
use super::ids::ConnId;
use super::worker::Worker;
use crate::h2::ErrorCode;

/// How often a shutdown drain looks over every connection (new clients to warn, upstream
/// connections to retire): not on every loop turn, which would cost a scan per event.
const SCAN_EVERY: Duration = Duration::from_millis(20);

/// The drains in progress on one worker.
#[derive(Default)]
pub(super) struct Drains {
    /// The whole worker is draining (shutdown) until this deadline.
    all: Option<Instant>,
    /// When a shutdown drain next looks over every connection.
    scan_at: Option<Instant>,
    /// Clients of removed listeners, with when they are cut.
    cut_at: Vec<(Instant, ConnId)>,
    /// Clients just warned: their timer (the final GOAWAY's) must be armed.
    pub(super) warned: Vec<ConnId>,
}

impl Drains {
    pub(super) fn is_draining_all(&self) -> bool {
        self.all.is_some()
    }
}

/// Shutdown: warns every client connection; see [`tend`] for the rest.
pub(super) fn start<E: Events>(w: &mut Worker<E>, drains: &mut Drains, deadline: Instant) {
    drains.all = Some(deadline);
    drains.scan_at = Some(w.now);
    warn_clients(w, &mut drains.warned);
}

/// A reload changed the listeners: `remap[old]` is the new index of each old listener, `None` if
/// it was removed. Clients of removed listeners get the final GOAWAY and are cut at `deadline`.
pub(super) fn relisten<E: Events>(
    w: &mut Worker<E>,
    drains: &mut Drains,
    remap: &[Option<usize>],
    deadline: Instant,
) {
    w.conns.for_each_mut(|id, c| {
        let Some((h2, side)) = c.client_parts() else {
            return false;
        };
        match remap.get(side.listener).copied().flatten() {
            Some(new) => {
                side.listener = new;
                false
            }
            None if !h2.is_going_away() => {
                h2.go_away(ErrorCode::NO_ERROR, b"listener removed");
                drains.cut_at.push((deadline, id));
                true
            }
            None => false,
        }
    });
}

/// Once per loop turn while something drains: clients that arrived meanwhile are warned too;
/// upstream connections are retired once every client has had its final GOAWAY; what outlives
/// its deadline is cut.
pub(super) fn tend<E: Events>(w: &mut Worker<E>, drains: &mut Drains) {
    let now = w.now;
    if let Some(deadline) = drains.all {
        if deadline <= now {
            w.conns.for_each_mut(|_, c| {
                c.closing = true;
                true
            });
            return;
        }
        if drains.scan_at.is_some_and(|at| at <= now) {
            drains.scan_at = Some(now + SCAN_EVERY);
            warn_clients(w, &mut drains.warned);
            if !clients_may_open(w) {
                retire_upstreams(w);
            }
        }
    }
    if drains.cut_at.iter().any(|&(at, _)| at <= now) {
        let mut cut_at = std::mem::take(&mut drains.cut_at);
        cut_at.retain(|&(at, id)| {
            if at > now {
                return true;
            }
            if let Some(c) = w.conns.get_mut(id) {
                c.closing = true;
            }
            false
        });
        drains.cut_at = cut_at;
    }
}

/// Whether some drain still needs [`tend`].
pub(super) fn is_idle(drains: &Drains) -> bool {
    drains.all.is_none() && drains.cut_at.is_empty()
}

/// The first GOAWAY (and its PING) to every client not yet going away.
fn warn_clients<E: Events>(w: &mut Worker<E>, warned: &mut Vec<ConnId>) {
    let now = w.now;
    w.conns.for_each_mut(|id, c| {
        let warn = matches!(c.kind, Kind::Client { .. }) && !c.h2.is_going_away();
        if warn {
            c.h2.go_away_soon(now);
            warned.push(id);
        }
        warn
    });
}

/// Whether some client is between the two GOAWAYs (it may still open streams).
fn clients_may_open<E: Events>(w: &Worker<E>) -> bool {
    w.conns
        .iter()
        .any(|(_, c)| matches!(c.kind, Kind::Client { .. }) && c.h2.final_goaway_due())
}

/// Upstream connections take no new stream and close after their last one. (Checked every turn:
/// a client accepted late may have had one opened meanwhile.)
fn retire_upstreams<E: Events>(w: &mut Worker<E>) {
    w.conns.for_each_mut(|_, c| match c.upstream_parts() {
        Some((h2, side)) if !side.retired => {
            side.retired = true;
            h2.go_away(ErrorCode::NO_ERROR, b"shutting down");
            true
        }
        _ => false,
    });
}
