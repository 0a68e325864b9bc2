//! [`Idle`]: the open connections no worker is using right now, kept for
//! the next one. Both stores use it, for SQLite connections and for
//! PostgreSQL clients alike.
//!
//! Opening a connection costs a file open and three pragmas (SQLite), or a
//! TCP handshake, a login and a server process (PostgreSQL): too much to
//! pay on every request. A connection must not be used by two threads at
//! once, so a worker takes one from here, uses it, and puts it back.
//!
//! Why not a connection pool crate (r2d2, deadpool)? Our worker pool
//! already bounds how many connections can be in use: a worker serves one
//! request at a time, so there are never more connections in use than
//! workers (`WORKERS`). A second pool with a limit of its own would be a
//! second place to wait, with a second timeout to tune. What is left to do
//! is this list, and a cap on how many idle ones we keep.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// The connections waiting for a worker: at most `max` of them.
pub struct Idle<C> {
    connections: Mutex<Vec<C>>,
    max: usize,
}

impl<C> Idle<C> {
    /// Keeps `first` (the connection that migrated the schema) and, later,
    /// at most `max` connections.
    pub fn new(first: C, max: usize) -> Idle<C> {
        Idle {
            connections: Mutex::new(vec![first]),
            max,
        }
    }

    /// An idle connection, if there is one; the caller opens a new one
    /// otherwise.
    pub fn take(&self) -> Option<C> {
        self.lock().pop()
    }

    /// Keeps `connection` for the next caller, or closes it (drops it) if
    /// `max` are kept already.
    pub fn put_back(&self, connection: C) {
        let mut idle = self.lock();
        if idle.len() < self.max {
            idle.push(connection);
        }
    }

    /// How many are kept right now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Nothing panics while holding the lock, so even a poisoned lock holds
    /// a usable list.
    fn lock(&self) -> MutexGuard<'_, Vec<C>> {
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_max_connections_are_kept_and_the_last_one_back_is_the_first_out() {
        let idle = Idle::new(1, 2);
        idle.put_back(2);
        idle.put_back(3);
        assert_eq!(idle.len(), 2, "3 was closed: two were kept already");
        assert_eq!(idle.take(), Some(2));
        assert_eq!(idle.take(), Some(1));
        assert_eq!(idle.take(), None);
    }
}
