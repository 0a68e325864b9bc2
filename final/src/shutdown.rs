//! Graceful shutdown: a "please stop" that anyone holding a [`Shutdown`] can
//! request, and that every event loop notices at once.
//!
//! The server ([`crate::Server::run`], [`crate::run`]) takes a `Shutdown`
//! as a parameter. An event loop sleeps in `poll` until something happens,
//! so [`Shutdown::request`] also wakes each loop, through the `mio::Waker`
//! the loop registered with [`Shutdown::wake_on_request`]. Who requests
//! shutdown is not this module's business: `main` does on SIGTERM or
//! SIGINT, a test does when it is done with its server.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use mio::Waker;

// ANCHOR: shutdown
/// A shared "please stop" flag, cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    requested: Arc<AtomicBool>,
    /// When it was first requested: the drain timeout counts from here.
    requested_at: Arc<OnceLock<Instant>>,
    /// One waker per event loop, to interrupt its `poll`.
    wakers: Arc<Mutex<Vec<Arc<Waker>>>>,
}

impl Shutdown {
    /// A flag, not yet requested.
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// Asks the server to stop, and wakes every event loop.
    pub fn request(&self) {
        let _ = self.requested_at.set(Instant::now());
        self.requested.store(true, Ordering::SeqCst);
        for waker in self.wakers().iter() {
            // A loop that has already finished cannot be woken; no matter.
            let _ = waker.wake();
        }
    }

    /// When shutdown was first requested, if it was.
    pub fn requested_at(&self) -> Option<Instant> {
        self.requested_at.get().copied()
    }

    /// Wakes `waker` when shutdown is requested (at once, if it already is).
    pub fn wake_on_request(&self, waker: Arc<Waker>) {
        let mut wakers = self.wakers();
        // Checked under the lock that `request` takes too: a request that
        // comes now cannot slip between the check and the push.
        if self.is_requested() {
            let _ = waker.wake();
        }
        wakers.push(waker);
    }

    fn wakers(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Waker>>> {
        self.wakers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
// ANCHOR_END: shutdown
