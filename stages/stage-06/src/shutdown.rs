//! Graceful shutdown: turning SIGTERM (systemd's "please stop") or SIGINT
//! (Ctrl-C) into "stop accepting, finish what is in flight, exit 0".
//!
//! A signal can arrive at any instant, in the middle of any code; a signal
//! handler may do almost nothing safely. `signal-hook` does the delicate part:
//! its handler only writes to a pipe, and a normal thread of ours reads the
//! signals from it. That thread sets a flag, and then wakes the accepting
//! thread, which is blocked in `accept` and would otherwise not look at the
//! flag until the next client arrives: it simply connects to our own
//! listening socket.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::process;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

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
    // ANCHOR_END: shutdown

    // ANCHOR: on_signals
    /// Requests shutdown on the first SIGTERM or SIGINT. A second one means
    /// "now": the process exits at once, with status 130 (128 + SIGINT, what
    /// shells report for Ctrl-C) or 143 (128 + SIGTERM).
    pub fn request_on_signals(&self) -> io::Result<()> {
        let mut signals = Signals::new([SIGTERM, SIGINT])?;
        let shutdown = self.clone();
        thread::Builder::new()
            .name("signals".to_string())
            .spawn(move || {
                for signal in signals.forever() {
                    let name = if signal == SIGTERM {
                        "SIGTERM"
                    } else {
                        "SIGINT"
                    };
                    if shutdown.is_requested() {
                        eprintln!("{name} again: exiting without waiting");
                        process::exit(128 + signal);
                    }
                    eprintln!("{name}: shutting down gracefully (send it again to stop at once)");
                    shutdown.request();
                }
            })?;
        Ok(())
    }
    // ANCHOR_END: on_signals
}
