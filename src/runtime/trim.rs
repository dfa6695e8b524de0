//! Memory given back after bursts. glibc's malloc keeps what a burst of connections freed inside
//! the worker's arena: free chunks between live ones are never returned, only the top of a heap
//! past `M_TRIM_THRESHOLD`, so after a connection storm the RSS stays at its peak although the
//! gateway holds no more than before (`loadtest/conn-storm.py`, docs/security.md). A background
//! thread looks every [`PERIOD`] at the bytes the allocator holds free (`mallinfo2().fordblks`)
//! and, when they are past [`SLACK`] and more than the bytes in use (what a burst leaves behind;
//! under steady load freed memory is reused and stays below that), calls `malloc_trim(0)`, which
//! hands every free page of every arena back to the kernel. Not on the workers: a trim only takes
//! each arena's lock while it walks that arena's free chunks, at most every [`PERIOD`] and only
//! after a burst. `H2EDGE_MALLOC_TRIM=0` turns it off; other allocators than glibc's never trim.
#![allow(unsafe_code)]

use std::sync::Once;
use std::time::Duration;

/// How often the allocator is looked at.
pub const PERIOD: Duration = Duration::from_secs(5);
/// Free bytes the allocator may keep for reuse before a trim.
pub const SLACK: usize = 8 << 20;

/// Starts the trimming thread, once per process (later calls do nothing).
pub fn start() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("H2EDGE_MALLOC_TRIM").is_some_and(|v| v == "0") {
            return;
        }
        let spawned = std::thread::Builder::new()
            .name("h2edge-trim".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(PERIOD);
                    trim_if_slack(SLACK);
                }
            });
        if let Err(e) = spawned {
            eprintln!("h2edge: no memory trimming thread: {e}");
        }
    });
}

/// Gives free allocator memory back to the system when more than `slack` bytes, and more than the
/// bytes in use, are free; returns the free bytes it found, or `None` when it did not trim.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn trim_if_slack(slack: usize) -> Option<usize> {
    // SAFETY: mallinfo2 takes no pointers; it reads the allocator's statistics under its locks.
    let info = unsafe { libc::mallinfo2() };
    let free = info.fordblks;
    if free <= slack || free <= info.uordblks {
        return None;
    }
    // SAFETY: malloc_trim takes no pointers and is thread-safe (it locks each arena in turn).
    unsafe { libc::malloc_trim(0) };
    Some(free)
}

/// Gives free allocator memory back to the system: not possible with this allocator.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn trim_if_slack(_slack: usize) -> Option<usize> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_only_past_the_slack() {
        // Nothing is ever free beyond usize::MAX.
        assert_eq!(trim_if_slack(usize::MAX), None);
        // A burst of blocks freed but the last one, as closed connections leave the arena: may
        // trim (other tests' memory in use decides), and must not disturb what is still in use.
        let mut blocks: Vec<Vec<u8>> = (0..4096).map(|i| vec![i as u8; 4000]).collect();
        let last = blocks.pop().expect("a block");
        drop(blocks);
        let _ = trim_if_slack(0);
        assert!(last.iter().all(|&b| b == last[0]));
    }
}
