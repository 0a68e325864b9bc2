//! How many connections are open, across every event loop, and the cap on
//! them (`MAX_CONNECTIONS`).
//!
//! Each event loop owns its own sockets, blocks on nothing but `poll`, and
//! closes its own idle connections at shutdown: all the loops share about
//! connections is this count, taken with a compare-and-swap so that loops
//! accepting at once never pass the cap. `/metrics` reads it too.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The number of open connections, shared by every event loop.
#[derive(Debug, Default)]
pub struct Connections {
    open: AtomicUsize,
}

impl Connections {
    pub fn new() -> Arc<Connections> {
        Arc::new(Connections::default())
    }

    /// Counts one more connection, if there is room for it under `max`.
    /// The place is freed when the returned [`OpenConnection`] is dropped.
    pub fn try_open(self: &Arc<Self>, max: usize) -> Option<OpenConnection> {
        // Several loops accept at once: take a place only if the count we
        // saw is still the count (compare-and-swap), or look again.
        let mut seen = self.open.load(Ordering::Relaxed);
        loop {
            if seen >= max {
                return None;
            }
            match self.open.compare_exchange_weak(
                seen,
                seen + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    return Some(OpenConnection {
                        connections: Arc::clone(self),
                    })
                }
                Err(now) => seen = now,
            }
        }
    }

    /// How many connections are open right now.
    pub fn count(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }
}

/// One open connection's place under the cap, given back when dropped.
#[derive(Debug)]
pub struct OpenConnection {
    connections: Arc<Connections>,
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.connections.open.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_stops_at_the_cap_and_a_dropped_place_is_free_again() {
        let connections = Connections::new();
        let first = connections.try_open(2).expect("room for one");
        let second = connections.try_open(2).expect("room for two");
        assert!(connections.try_open(2).is_none());
        assert_eq!(connections.count(), 2);
        drop(first);
        assert_eq!(connections.count(), 1);
        assert!(connections.try_open(2).is_some());
        drop(second);
    }

    #[test]
    fn threads_opening_at_once_never_pass_the_cap() {
        let connections = Connections::new();
        let places: Vec<Vec<OpenConnection>> = std::thread::scope(|scope| {
            let takers: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        (0..1000)
                            .filter_map(|_| connections.try_open(100))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            takers
                .into_iter()
                .map(|taker| taker.join().expect("no panic"))
                .collect()
        });
        let taken: usize = places.iter().map(Vec::len).sum();
        assert_eq!(taken, 100);
        assert_eq!(connections.count(), 100);
    }
}
