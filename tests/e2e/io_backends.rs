//! The gateway on each I/O backend: io_uring (where this kernel and sandbox allow it) and the
//! epoll fallback, forced, with two workers each: large unary, lock-step ping-pong, and 300
//! concurrent streams spread over the backends.

use std::time::Duration;

use h2edge::runtime::BackendKind;

use crate::cases::subset;
use crate::harness::run_with;

#[test]
fn epoll_backend() {
    run_with(
        BackendKind::Epoll,
        2,
        Duration::from_secs(90),
        |bed| async move {
            subset(&bed).await;
        },
    );
}

#[test]
fn io_uring_backend() {
    if let Err(e) = h2edge::runtime::uring::Uring::new() {
        println!("note: io_uring unavailable here ({e}); skipping the io_uring run");
        return;
    }
    run_with(
        BackendKind::IoUring,
        2,
        Duration::from_secs(90),
        |bed| async move {
            subset(&bed).await;
        },
    );
}
