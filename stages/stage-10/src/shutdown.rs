//! Graceful shutdown: a "please stop" that anyone holding a [`Shutdown`] can
//! request, and that the accepting thread notices at once.
//!
//! The server ([`crate::serve`]) takes a `Shutdown` as a parameter and
//! checks it after every `accept`. But a thread blocked in `accept` looks at
//! nothing until a client arrives, so [`Shutdown::request`] also wakes it:
//! it simply connects to our own listening socket. Who requests shutdown is
//! not this module's business: `main` does on SIGTERM or SIGINT (see
//! `main.rs`), a test does when it is done with its server.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

// ANCHOR: shutdown
/// A shared "please stop" flag for one listener, cheap to clone.
#[derive(Clone, Debug)]
pub struct Shutdown {
    requested: Arc<AtomicBool>,
    /// Where to connect to wake the thread blocked in `accept`.
    wake_addr: SocketAddr,
}

impl Shutdown {
    /// A flag for `listener`, not yet requested.
    pub fn for_listener(listener: &TcpListener) -> io::Result<Shutdown> {
        let mut wake_addr = listener.local_addr()?;
        // Listening on every address (0.0.0.0 or ::)? Wake via loopback.
        if wake_addr.ip().is_unspecified() {
            wake_addr.set_ip(match wake_addr {
                SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            });
        }
        Ok(Shutdown {
            requested: Arc::new(AtomicBool::new(false)),
            wake_addr,
        })
    }

    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// Asks the server to stop, and wakes its accepting thread.
    pub fn request(&self) {
        self.requested.store(true, Ordering::SeqCst);
        // If this fails the listener is already gone, which is what we want.
        let _ = TcpStream::connect_timeout(&self.wake_addr, Duration::from_secs(1));
    }
}
// ANCHOR_END: shutdown
