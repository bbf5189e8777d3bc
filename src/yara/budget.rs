//! The bytes YARA buffers hold at once, process-wide. YARA-X scans a whole buffer, so each
//! file is buffered (up to `--yara-max-file-bytes`) until it ends; with layers walked in
//! parallel and content matched on a second thread, several files could be buffered at
//! once. A file directly in a layer first takes a [`Lease`] of its buffered size from the
//! process's [`Budget`] and waits while other files hold it; the lease is given back once
//! the file is scanned.
//!
//! Why this cannot deadlock: only a file directly in a layer waits, and the thread that
//! waits holds no lease (its previous file was scanned and released first). A holder never
//! waits on the budget: it is fed by a walker that never waits on it either (members of
//! nested archives take [`Budget::untracked`] leases, which never wait and are not counted
//! against the cap: one member at a time per walker, each at most the per-file bound), so
//! every lease is given back.

use std::sync::{Arc, Condvar, Mutex};

/// A cap on the bytes leased at once.
#[derive(Debug)]
pub struct Budget {
    cap: u64,
    state: Mutex<State>,
    freed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    used: u64,
    /// Most bytes leased at once (tracked and untracked), for tests and measurements.
    peak: u64,
    untracked: u64,
}

/// Bytes taken from a [`Budget`]; given back when dropped.
#[derive(Debug)]
pub struct Lease {
    budget: Arc<Budget>,
    bytes: u64,
    tracked: bool,
}

impl Budget {
    pub fn new(cap: u64) -> Arc<Budget> {
        Arc::new(Budget {
            cap: cap.max(1),
            state: Mutex::new(State::default()),
            freed: Condvar::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `bytes` from the cap, waiting while other leases hold it (a request larger than
    /// the cap is granted once nothing else is leased).
    pub fn acquire(self: &Arc<Self>, bytes: u64) -> Lease {
        let mut s = self.lock();
        while s.used > 0 && s.used + bytes > self.cap {
            s = self.freed.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        s.used += bytes;
        s.peak = s.peak.max(s.used + s.untracked);
        Lease {
            budget: Arc::clone(self),
            bytes,
            tracked: true,
        }
    }

    /// `bytes` without waiting and without counting against the cap (nested archive
    /// members, see the module doc); still counted in [`Budget::peak`].
    pub fn untracked(self: &Arc<Self>, bytes: u64) -> Lease {
        let mut s = self.lock();
        s.untracked += bytes;
        s.peak = s.peak.max(s.used + s.untracked);
        Lease {
            budget: Arc::clone(self),
            bytes,
            tracked: false,
        }
    }

    /// Most bytes leased at once so far.
    pub fn peak(&self) -> u64 {
        self.lock().peak
    }

    pub fn cap(&self) -> u64 {
        self.cap
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut s = self.budget.lock();
        if self.tracked {
            s.used -= self.bytes;
        } else {
            s.untracked -= self.bytes;
        }
        drop(s);
        self.budget.freed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_wait_for_the_cap_and_are_given_back() {
        let b = Budget::new(100);
        let a = b.acquire(60);
        let big = std::thread::spawn({
            let b = Arc::clone(&b);
            move || {
                // Waits until `a` is dropped: 60 + 50 > 100.
                let l = b.acquire(50);
                l.bytes
            }
        });
        let nested = b.untracked(500);
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(!big.is_finished(), "a lease past the cap must wait");
        drop(a);
        assert_eq!(big.join().unwrap(), 50);
        drop(nested);
        assert_eq!(b.lock().used, 0);
        assert_eq!(b.lock().untracked, 0);
        // 60 tracked + 500 untracked at once.
        assert_eq!(b.peak(), 560);
        // Larger than the cap: granted alone.
        let huge = b.acquire(1000);
        assert_eq!(huge.bytes, 1000);
    }
}
