//! The register of open connections: how many there are (for the cap), and
//! which of them are idle (for shutdown).
//!
//! A worker blocked in `read` on an idle keep-alive connection cannot see a
//! flag; nothing short of the socket itself waking up will move it. At
//! shutdown we therefore keep a second handle to every socket here and call
//! `shutdown(Read)` on the idle ones: their blocked read returns "end of
//! file" at once, and the worker closes the connection as if the client had
//! left. Busy connections are left alone to finish their request.

use std::collections::HashMap;
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Every open connection, by number.
#[derive(Default)]
pub struct Connections {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    next_id: u64,
    open: HashMap<u64, Entry>,
    /// Set by [`Connections::close_idle`]: from then on nobody may go idle.
    closing: bool,
}

struct Entry {
    /// A second handle to the connection's socket (`try_clone`).
    socket: TcpStream,
    idle: bool,
}

// ANCHOR: register
impl Connections {
    pub fn new() -> Arc<Connections> {
        Arc::new(Connections::default())
    }

    /// Counts `socket` as open, unless `max` connections are open already,
    /// or the process is out of file descriptors for the register's copy
    /// (then `None`: the caller refuses it, busy). The returned guard removes the
    /// connection from the register when it is dropped, however the
    /// connection ends, so the count can never drift.
    pub fn register(self: &Arc<Self>, socket: &TcpStream, max: usize) -> Option<ConnectionGuard> {
        let mut state = self.lock();
        if state.open.len() >= max {
            return None;
        }
        let socket = socket.try_clone().ok()?;
        let id = state.next_id;
        state.next_id += 1;
        state.open.insert(
            id,
            Entry {
                socket,
                idle: false,
            },
        );
        Some(ConnectionGuard {
            id,
            connections: Arc::clone(self),
        })
    }
    // ANCHOR_END: register

    /// How many connections are open.
    pub fn count(&self) -> usize {
        self.lock().open.len()
    }

    // ANCHOR: close_idle
    /// Starts the shutdown: wakes every idle connection with
    /// `shutdown(Read)` (its worker reads end of file and closes it), and
    /// makes [`ConnectionGuard::begin_idle`] refuse from now on.
    pub fn close_idle(&self) {
        let mut state = self.lock();
        state.closing = true;
        for entry in state.open.values().filter(|entry| entry.idle) {
            // Already closed by the client? Then there is nothing to wake.
            let _ = entry.socket.shutdown(Shutdown::Read);
        }
    }
    // ANCHOR_END: close_idle

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the map half-updated
        // (every update is one call), so a poisoned lock is safe to use.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One open connection's place in the register.
pub struct ConnectionGuard {
    id: u64,
    connections: Arc<Connections>,
}

impl ConnectionGuard {
    /// Marks the connection idle (waiting for the next request). Returns
    /// `false` if shutdown has begun: then the caller should not wait.
    pub fn begin_idle(&self) -> bool {
        let mut state = self.connections.lock();
        if state.closing {
            return false;
        }
        if let Some(entry) = state.open.get_mut(&self.id) {
            entry.idle = true;
        }
        true
    }

    /// Marks the connection busy again (a request is arriving).
    pub fn end_idle(&self) {
        if let Some(entry) = self.connections.lock().open.get_mut(&self.id) {
            entry.idle = false;
        }
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.connections.lock().open.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn socket_pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        (client, server)
    }

    #[test]
    fn the_register_refuses_beyond_its_cap_and_frees_a_place_when_a_guard_drops() {
        let connections = Connections::new();
        let (_c1, s1) = socket_pair();
        let (_c2, s2) = socket_pair();
        let first = connections.register(&s1, 1).expect("room for one");
        assert!(connections.register(&s2, 1).is_none());
        assert_eq!(connections.count(), 1);
        drop(first);
        assert!(connections.register(&s2, 1).is_some());
    }

    #[test]
    fn closing_wakes_an_idle_reader_and_refuses_new_idlers() {
        use std::io::Read;
        let connections = Connections::new();
        let (_client, server) = socket_pair();
        let guard = connections.register(&server, 10).expect("room");
        assert!(guard.begin_idle());
        let reader = std::thread::spawn(move || {
            let mut byte = [0u8; 1];
            (&server).read(&mut byte).expect("a read that ends")
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        connections.close_idle();
        assert_eq!(reader.join().expect("reader thread"), 0, "end of file");
        assert!(!guard.begin_idle());
    }
}
