//! Stage 11 — the server's logic on an event loop: a few threads, one per
//! core, own every connection between them, and no thread ever waits for a
//! client.
//!
//! New since stage 10:
//! - [`event_loop`] (new): `mio` readiness, the connection state machine,
//!   backpressure, and every deadline;
//! - [`timers`] (new): the deadlines, in an ordered set;
//! - [`request`]: a parser that does no I/O, fed bytes, `Ok(None)` for
//!   "not yet";
//! - [`response`]: encoded into bytes for the loop to write, not written;
//! - [`routes`]: [`routes::blocks`], which requests go to the pool;
//! - [`pool`]: runs blocking jobs, not connections;
//! - [`connections`], [`shutdown`]: a count, and wakers instead of sockets;
//! - [`access_log`]: written by a thread of its own;
//! - here: `serve` starts the loops and waits for them.
//!
//! The handlers (`users`, `auth`, `static_files`, `store`, `passwords`,
//! `tokens`, `metrics`) are stage 10's, unchanged.

pub mod access_log;
pub mod auth;
pub mod config;
pub mod connections;
pub mod db;
pub mod event_loop;
pub mod json;
pub mod metrics;
pub mod passwords;
pub mod pool;
pub mod request;
pub mod response;
pub mod routes;
pub mod secret;
pub mod shutdown;
pub mod static_files;
pub mod status;
pub mod store;
pub mod timers;
pub mod tokens;
pub mod users;

use std::io;
use std::net::TcpListener;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

pub use config::Config;
use connections::Connections;
pub use event_loop::Reading;
use event_loop::{EventLoop, Shared};
use metrics::Metrics;
use passwords::Passwords;
pub use pool::ThreadPool;
pub use request::{Request, RequestParser};
pub use response::{Connection, Response, Sending};
pub use routes::{route, App};
pub use shutdown::Shutdown;
pub use status::Status;
pub use store::UserStore;
pub use tokens::Tokens;

/// At the end of a shutdown, how long we wait for the access log to be
/// written if the drain timeout has run out already.
const LOG_GRACE: Duration = Duration::from_secs(1);

/// How a server's shutdown ended, for `main` to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    /// Every connection finished before the drain timeout.
    Completely,
    /// The drain timeout ran out with these connections still open; they are
    /// cut off when the process exits.
    CutOff { open_connections: usize },
}

// ANCHOR: serve
/// Serves on `listener` with one event loop per `config.event_loops`, until
/// `shutdown` is requested; then stops accepting, lets requests in flight
/// finish within the drain timeout, and returns how that went.
///
/// The caller opens the database (`users`, see [`UserStore::open`]) and
/// loads the token secret (`tokens`) before it says it is listening, so
/// that a broken database or a missing secret stops the start.
/// The caller owns `shutdown` (made with [`Shutdown::new`]): `main`
/// requests it on SIGTERM or Ctrl-C, a test whenever it is done with the
/// server. The library never installs signal handlers and never exits the
/// process: that is `main`'s job.
pub fn serve(
    listener: TcpListener,
    config: Config,
    users: UserStore,
    tokens: Tokens,
    shutdown: Shutdown,
) -> io::Result<Drained> {
    serve_reading(
        listener,
        config,
        users,
        tokens,
        shutdown,
        Reading::UntilWouldBlock,
    )
}

/// [`serve`], reading sockets the way `reading` says. Only the tests ask
/// for anything but [`Reading::UntilWouldBlock`]: to show the classic
/// mistake failing.
#[doc(hidden)]
pub fn serve_reading(
    listener: TcpListener,
    config: Config,
    users: UserStore,
    tokens: Tokens,
    shutdown: Shutdown,
    reading: Reading,
) -> io::Result<Drained> {
    // Resolve the root once, to an absolute path without symlinks: every file
    // we serve must resolve to a path that starts with this one.
    let static_root = config.static_dir.canonicalize().map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("static directory {}: {error}", config.static_dir.display()),
        )
    })?;
    let pool = ThreadPool::new(config.workers);
    let (log, log_written) = access_log::Writer::start()?;
    let shared = Arc::new(Shared {
        app: App {
            static_root,
            users,
            tokens,
            passwords: Passwords::new(config.max_concurrent_hashes, config.max_waiting_hashes),
            metrics: Metrics::new(),
            connections: Connections::new(),
            queue_depth: pool.queue_depth(),
        },
        config,
        shutdown,
        log,
        reading,
    });

    // Every loop gets its own copy of the listening socket (the same socket:
    // `try_clone` is `dup`), registered with its own `poll`. When a client
    // arrives, every idle loop hears of it, the first to `accept` gets it,
    // and the others get `WouldBlock`: the least busy loop takes the most
    // clients. (`SO_REUSEPORT` would give each loop a socket of its own and
    // let the kernel spread clients by a hash, whatever each loop's load;
    // it also needs the loops to bind, where `serve` is handed one bound
    // socket, as systemd's socket activation hands one.)
    let mut loops = Vec::new();
    for id in 0..shared.config.event_loops.max(1) {
        let event_loop = EventLoop::new(listener.try_clone()?, Arc::clone(&shared), pool.handle())?;
        loops.push(
            thread::Builder::new()
                .name(format!("loop-{id}"))
                .spawn(move || event_loop.run())?,
        );
    }
    // Our own copy: once the loops close theirs at shutdown, the socket is
    // closed, and new connections are refused at once instead of waiting in
    // the kernel's queue. Those already in the queue are reset, and their
    // requests lost: a restart that loses nothing needs the listening socket
    // handed over to the next process (systemd socket activation), which
    // Part II sets up.
    drop(listener);

    let mut cut_off = 0;
    let mut failure = None;
    for event_loop in loops {
        match event_loop.join() {
            Ok(Ok(open)) => cut_off += open,
            Ok(Err(error)) => failure = Some(error),
            Err(_) => failure = Some(io::Error::other("an event loop panicked")),
        }
    }
    if let Some(error) = failure {
        return Err(error);
    }
    // Every connection is closed, or cut off: the jobs still running belong
    // to cut-off connections, and get what is left of the drain timeout,
    // which counts from the shutdown request (not from now: the loops may
    // have used all of it already).
    let drain_end =
        shared.shutdown.requested_at().unwrap_or_else(Instant::now) + shared.config.drain_timeout;
    let pool_finished = pool.finish_within(drain_end);
    // Nothing else holds the access-log writer now: once we drop ours, its
    // thread writes what is queued and ends, unless stdout is stuck; then we
    // go without it, after a short grace.
    drop(shared);
    let log_written = log_written.within(drain_end.max(Instant::now() + LOG_GRACE));
    if cut_off == 0 && pool_finished && log_written {
        Ok(Drained::Completely)
    } else {
        Ok(Drained::CutOff {
            open_connections: cut_off,
        })
    }
}
// ANCHOR_END: serve
