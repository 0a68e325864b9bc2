//! Stage 06 — the server's logic, now with limits: every wait has a
//! timeout, every resource a cap, and the server stops cleanly on request.
//!
//! New since stage 05, all in this file unless noted:
//! - [`Config`] grows the limits and timeouts, each with the attack it stops;
//! - the accept loop refuses connections beyond the cap with a fast 503 and
//!   stops when [`shutdown::Shutdown`] is requested (signals: `shutdown.rs`);
//! - a connection is closed after an idle timeout, a request must arrive
//!   whole before a deadline (408), a write must progress, and a connection
//!   serves at most so many requests;
//! - [`connections`] (new) counts open connections and wakes idle ones at
//!   shutdown; [`pool`] can finish within a deadline;
//! - [`request`] decodes chunked bodies and refuses smuggling attempts.

pub mod connections;
pub mod pool;
pub mod request;
pub mod response;
pub mod routes;
pub mod shutdown;
pub mod static_files;

use std::io::{self, ErrorKind, Read};
use std::net::{Shutdown as Direction, TcpListener, TcpStream};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use connections::{ConnectionGuard, Connections};
pub use pool::ThreadPool;
pub use request::{Request, RequestError, RequestReader};
pub use response::Response;
pub use routes::route;
pub use shutdown::Shutdown;

/// After answering, how long we keep reading (and discarding) what the client
/// still sends before we close. See [`close_gracefully`].
const LINGER_TIMEOUT: Duration = Duration::from_secs(1);
/// And how much of it we are willing to read and throw away.
const LINGER_MAX_BYTES: usize = 64 * 1024;

/// During shutdown, how long a keep-alive connection may still take to
/// deliver a request that is already on its way.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(50);

/// What we serve unless `STATIC_DIR` says otherwise: this crate's own
/// `frontend/`, as an absolute path fixed at compile time, so that
/// `cargo run -p stage-06` works from any directory.
pub const DEFAULT_STATIC_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/frontend");

// ANCHOR: config
// ANCHOR: config_fields
/// Everything the server can be told from outside, with the attack each
/// limit stops. All of them can be set from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The folder of static files (`STATIC_DIR`).
    pub static_dir: PathBuf,
    /// Worker threads (`WORKERS`): at most this many connections are being
    /// served at the same time.
    pub workers: usize,
    /// Open connections (`MAX_CONNECTIONS`), counting those waiting for a
    /// worker. Beyond it: a fast `503` and close. Stops a flood of
    /// connections from using up memory and file descriptors. Each open
    /// connection holds two descriptors (the socket and the register's
    /// copy), so keep it below half of `ulimit -n` (1024 by default).
    pub max_connections: usize,
    /// Requests on one connection (`MAX_REQUESTS_PER_CONNECTION`), then we
    /// close it. Stops one client from holding a worker forever by keeping
    /// it busy, and spreads clients over restarts.
    pub max_requests_per_connection: usize,
    /// How long a keep-alive connection may sit idle between requests
    /// (`IDLE_TIMEOUT_SECS`). Stops idle clients from holding workers.
    pub idle_timeout: Duration,
    /// How long one request may take to arrive, head and body, from its
    /// first byte (`REQUEST_TIMEOUT_SECS`). Beyond it: `408`. Stops
    /// slowloris, the client that sends its request a byte at a time.
    pub request_timeout: Duration,
    /// How long one write may wait for the client to read
    /// (`WRITE_TIMEOUT_SECS`). Stops a client that asks and never reads.
    pub write_timeout: Duration,
    /// At shutdown, how long requests in flight may take to finish
    /// (`DRAIN_TIMEOUT_SECS`). Keep it below systemd's `TimeoutStopSec`.
    pub drain_timeout: Duration,
}

impl Config {
    /// The defaults.
    pub fn new() -> Config {
        Config {
            static_dir: PathBuf::from(DEFAULT_STATIC_DIR),
            workers: default_workers(),
            max_connections: 256,
            max_requests_per_connection: 1000,
            idle_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(10),
        }
    }
    // ANCHOR_END: config_fields

    /// The defaults, overridden by any of the environment variables named
    /// above. A value that does not parse, or is out of range, is an error.
    pub fn from_env() -> Result<Config, String> {
        let mut config = Config::new();
        if let Some(dir) = std::env::var_os("STATIC_DIR") {
            config.static_dir = PathBuf::from(dir);
        }
        config.workers = env_number("WORKERS", 1, 1024)?.unwrap_or(config.workers);
        config.max_connections =
            env_number("MAX_CONNECTIONS", 1, 16_384)?.unwrap_or(config.max_connections);
        config.max_requests_per_connection =
            env_number("MAX_REQUESTS_PER_CONNECTION", 1, 1_000_000)?
                .unwrap_or(config.max_requests_per_connection);
        for (name, field) in [
            ("IDLE_TIMEOUT_SECS", &mut config.idle_timeout),
            ("REQUEST_TIMEOUT_SECS", &mut config.request_timeout),
            ("WRITE_TIMEOUT_SECS", &mut config.write_timeout),
            ("DRAIN_TIMEOUT_SECS", &mut config.drain_timeout),
        ] {
            if let Some(seconds) = env_number::<f64>(name, 0.001, 3600.0)? {
                *field = Duration::from_secs_f64(seconds);
            }
        }
        Ok(config)
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}

/// Reads the environment variable `name` as a number in `min..=max`.
fn env_number<T>(name: &str, min: T, max: T) -> Result<Option<T>, String>
where
    T: FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let Ok(text) = std::env::var(name) else {
        return Ok(None);
    };
    match text.trim().parse::<T>() {
        Ok(value) if value >= min && value <= max => Ok(Some(value)),
        _ => Err(format!(
            "{name}={text:?}: expected a number from {min} to {max}"
        )),
    }
}

/// Four workers per CPU core. Our workers mostly *wait*
/// (for the network, for the disk), so more workers than cores keeps the
/// cores busy. Why not a thousand? Each thread costs memory for its stack
/// and time to start, and all of them start before we accept the first
/// connection: a pool of hundreds makes every start-up slower.
pub fn default_workers() -> usize {
    let cores = thread::available_parallelism().map_or(1, NonZeroUsize::get);
    cores * 4
}
// ANCHOR_END: config

/// What every connection's worker needs to see.
struct Shared {
    static_root: PathBuf,
    config: Config,
    connections: Arc<Connections>,
    shutdown: Shutdown,
}

/// Serves forever: [`serve_until`] with a shutdown nobody requests.
pub fn serve(listener: TcpListener, config: Config) -> io::Result<()> {
    let shutdown = Shutdown::for_listener(&listener)?;
    serve_until(listener, config, shutdown)
}

// ANCHOR: serve_until
/// Accepts connections and hands each to the pool until `shutdown` is
/// requested; then stops accepting, lets requests in flight finish within
/// the drain timeout, and returns.
pub fn serve_until(listener: TcpListener, config: Config, shutdown: Shutdown) -> io::Result<()> {
    // Resolve the root once, to an absolute path without symlinks: every file
    // we serve must resolve to a path that starts with this one.
    let static_root = config.static_dir.canonicalize().map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("static directory {}: {error}", config.static_dir.display()),
        )
    })?;
    let pool = ThreadPool::new(config.workers);
    let shared = Arc::new(Shared {
        static_root,
        config,
        connections: Connections::new(),
        shutdown,
    });

    for connection in listener.incoming() {
        // Woken up to stop (the connection is our own wake-up call, or a
        // client arriving just too late: either way, not served).
        if shared.shutdown.is_requested() {
            break;
        }
        let stream = match connection {
            Ok(stream) => stream,
            Err(error) => {
                eprintln!("accept failed: {error}");
                // Out of file descriptors, say: the error would repeat at
                // once, so pause rather than spin at 100% CPU.
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        match shared
            .connections
            .register(&stream, shared.config.max_connections)
        {
            Some(guard) => {
                let shared = Arc::clone(&shared);
                pool.execute(move || {
                    if let Err(error) = handle_connection(&stream, &guard, &shared) {
                        eprintln!("connection ended with an error: {error}");
                    }
                });
            }
            None => refuse_busy(&stream),
        }
    }

    // Closing the listening socket makes new connections fail at once
    // ("connection refused") instead of waiting in the kernel's queue.
    drop(listener);
    eprintln!(
        "stopped accepting; open connections: {}; waiting up to {:?}",
        shared.connections.count(),
        shared.config.drain_timeout
    );
    shared.connections.close_idle();
    let deadline = Instant::now() + shared.config.drain_timeout;
    if pool.finish_within(deadline) {
        eprintln!("every connection finished; exiting");
    } else {
        eprintln!(
            "drain timeout: exiting with open connections: {}",
            shared.connections.count()
        );
    }
    Ok(())
}
// ANCHOR_END: serve_until

// ANCHOR: refuse_busy
/// Answers a connection beyond the cap with `503 Service Unavailable` and
/// `Retry-After`, and closes it. This runs on the accepting thread, which
/// must never wait for a client: the socket is made non-blocking, and a
/// response this small fits in the kernel's send buffer at once.
fn refuse_busy(stream: &TcpStream) {
    let _ = stream.set_nonblocking(true);
    // Read what the client has sent so far (at most 64 KiB: a client
    // streaming bytes must not keep us here): closing with unread bytes
    // would send a reset, which can destroy our answer before it is read.
    let mut discard = [0u8; 4096];
    for _ in 0..16 {
        if !matches!((&*stream).read(&mut discard), Ok(n) if n > 0) {
            break;
        }
    }
    let response = Response::error(503).with_header("Retry-After", "1");
    let _ = response.write_to(&mut &*stream, true, false);
    let _ = stream.shutdown(Direction::Write);
}
// ANCHOR_END: refuse_busy

// ANCHOR: handle_connection
/// Answers request after request on one connection, until the client, the
/// protocol, a limit or a shutdown says to close.
fn handle_connection(
    stream: &TcpStream,
    guard: &ConnectionGuard,
    shared: &Shared,
) -> io::Result<()> {
    let config = &shared.config;
    stream.set_nodelay(true)?;
    // A client that stops reading makes our writes wait: not forever.
    stream.set_write_timeout(Some(config.write_timeout))?;
    let mut reader = RequestReader::new(stream);
    let mut writer = stream;
    let mut served = 0;
    loop {
        // Between requests: wait (idle) for the first byte of the next one,
        // unless it is already here (pipelining).
        if !reader.has_buffered_bytes() {
            let patience = if guard.begin_idle() {
                config.idle_timeout
            } else {
                SHUTDOWN_GRACE
            };
            let arrived = wait_for_bytes(stream, patience);
            guard.end_idle();
            if !arrived? {
                // Idle timeout, the client left, or shutdown woke us: close
                // quietly. (A 408 here could cross a request the client is
                // sending at this very moment.)
                return Ok(());
            }
        }
        let request = match reader.read_request(config.request_timeout) {
            Ok(request) => request,
            Err(RequestError::ClosedEarly) => return Ok(()),
            Err(RequestError::TimedOut) => return refuse(stream, 408),
            // After a bad request we cannot trust where the next one would
            // start: answer, then close.
            Err(RequestError::Reject(status)) => return refuse(stream, status),
            Err(RequestError::Io(error)) => return Err(error),
        };
        served += 1;
        eprintln!("{} {}", request.method, request.path);
        let keep_alive = request.wants_keep_alive()
            && served < config.max_requests_per_connection
            && !shared.shutdown.is_requested();
        // A HEAD request gets the headers a GET would get, without the body.
        let send_body = request.method != "HEAD";
        route(&request, &shared.static_root).write_to(&mut writer, send_body, keep_alive)?;
        if !keep_alive {
            return close_gracefully(stream);
        }
    }
}
// ANCHOR_END: handle_connection

/// Answers with an error status and closes the connection.
fn refuse(stream: &TcpStream, status: u16) -> io::Result<()> {
    Response::error(status).write_to(&mut &*stream, true, false)?;
    close_gracefully(stream)
}

// ANCHOR: wait_for_bytes
/// Waits up to `patience` for the client to send something, without taking
/// it (`peek`). `Ok(true)`: bytes are there; `Ok(false)`: the time ran out
/// or the connection ended (closed by the client, or by our shutdown).
fn wait_for_bytes(stream: &TcpStream, patience: Duration) -> io::Result<bool> {
    stream.set_read_timeout(Some(patience))?;
    let mut byte = [0u8; 1];
    loop {
        return match stream.peek(&mut byte) {
            Ok(0) => Ok(false),
            Ok(_) => Ok(true),
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Ok(false)
            }
            // A reset from the client: it is gone.
            Err(_) => Ok(false),
        };
    }
}
// ANCHOR_END: wait_for_bytes

/// Closes the connection without destroying the response we just wrote.
///
/// If we close a socket while bytes the client sent are still unread in our
/// receive buffer (the rest of an oversized head, say), the kernel does not
/// send a polite FIN: it sends a reset (RST), and a client that receives a
/// reset may throw away our response before it has read it. So we first say
/// "no more from us" (`shutdown(Write)`, which sends FIN after our response),
/// then read and discard whatever the client still sends until it closes too,
/// for at most [`LINGER_TIMEOUT`] in all and [`LINGER_MAX_BYTES`].
fn close_gracefully(mut stream: &TcpStream) -> io::Result<()> {
    if stream.shutdown(Direction::Write).is_err() {
        // The client is already gone: there is nobody left to be polite to.
        return Ok(());
    }
    // One deadline for the whole drain, not a timeout per read: a client
    // sending a byte every 0.9 s must not keep us here for long.
    let deadline = Instant::now() + LINGER_TIMEOUT;
    let mut discard = [0u8; 4096];
    let mut discarded = 0;
    while discarded < LINGER_MAX_BYTES {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            break;
        }
        stream.set_read_timeout(Some(remaining))?;
        match stream.read(&mut discard) {
            Ok(0) => break,
            Ok(received) => discarded += received,
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            // A timeout or a reset: either way we are done with this client.
            Err(_) => break,
        }
    }
    Ok(())
}
