//! Stage 10 — the server's logic, with the habits of a production service:
//! it says what it does (one access-log line per request on stdout), how it
//! is doing (`/metrics`), and whether it can work (`/ready`).
//!
//! New since stage 09:
//! - [`access_log`] (new): the line, and whose address it names (the peer,
//!   or `X-Real-IP` from a trusted proxy);
//! - [`metrics`] (new): requests by route and status, a latency histogram,
//!   open and queued connections, hashes in flight, build info;
//! - [`routes`]: `/ready` and `/metrics`, and each route's name;
//! - [`pool`]: counts the connections waiting for a worker;
//! - [`config`]: `ADDR` and `TRUSTED_PROXIES`, every problem reported, and a
//!   description of what is in effect;
//! - here: each request is timed from its first byte, counted and logged,
//!   refusals included.

pub mod access_log;
pub mod auth;
pub mod config;
pub mod connections;
pub mod db;
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
pub mod tokens;
pub mod users;

use std::fs::File;
use std::io::{self, ErrorKind, Read};
use std::net::{IpAddr, Ipv4Addr, Shutdown as Direction, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

pub use config::Config;
use connections::{ConnectionGuard, Connections};
use json::ApiError;
use metrics::Metrics;
use passwords::Passwords;
pub use pool::ThreadPool;
pub use request::{Request, RequestError, RequestReader};
pub use response::{Connection, Response, Sending};
pub use routes::{route, App};
pub use shutdown::Shutdown;
pub use status::Status;
pub use store::UserStore;
pub use tokens::Tokens;

/// After answering, how long we keep reading (and discarding) what the client
/// still sends before we close. See [`close_gracefully`].
const LINGER_TIMEOUT: Duration = Duration::from_secs(1);
/// And how much of it we are willing to read and throw away.
const LINGER_MAX_BYTES: usize = 64 * 1024;
/// How much we read (and throw away) at a time while lingering.
const DISCARD_CHUNK_BYTES: usize = 4096;

/// After a failed `accept`, how long we pause before trying again; the
/// pause doubles while the failures go on, up to [`MAX_ACCEPT_PAUSE`].
const FIRST_ACCEPT_PAUSE: Duration = Duration::from_millis(10);
const MAX_ACCEPT_PAUSE: Duration = Duration::from_secs(1);

/// During shutdown, how long a keep-alive connection may still take to
/// deliver a request that is already on its way.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(50);

/// What every connection's worker needs to see.
struct Shared {
    app: App,
    config: Config,
    connections: Arc<Connections>,
    shutdown: Shutdown,
}

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
/// Accepts connections and hands each to the pool until `shutdown` is
/// requested; then stops accepting, lets requests in flight finish within
/// the drain timeout, and returns how that went.
///
/// The caller opens the database (`users`, see [`UserStore::open`]) and
/// loads the token secret (`tokens`) before it says it is listening, so
/// that a broken database or a missing secret stops the start.
/// The caller owns `shutdown` (made with [`Shutdown::for_listener`]): `main`
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
    // Resolve the root once, to an absolute path without symlinks: every file
    // we serve must resolve to a path that starts with this one.
    let static_root = config.static_dir.canonicalize().map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("static directory {}: {error}", config.static_dir.display()),
        )
    })?;
    let pool = ThreadPool::new(config.workers);
    let connections = Connections::new();
    let shared = Arc::new(Shared {
        app: App {
            static_root,
            users,
            tokens,
            passwords: Passwords::new(config.max_concurrent_hashes, config.max_waiting_hashes),
            metrics: Metrics::new(),
            connections: Arc::clone(&connections),
            queue_depth: pool.queue_depth(),
        },
        config,
        connections,
        shutdown,
    });

    let mut accept_pause = FIRST_ACCEPT_PAUSE;
    let mut spare_descriptor = reserve_descriptor();
    for connection in listener.incoming() {
        // Woken up to stop (the connection is our own wake-up call, or a
        // client arriving just too late: either way, not served).
        if shared.shutdown.is_requested() {
            break;
        }
        let stream = match connection {
            Ok(stream) => {
                accept_pause = FIRST_ACCEPT_PAUSE;
                stream
            }
            Err(error) if listener_is_broken(&error) => return Err(error),
            // ANCHOR: spare_descriptor
            Err(error) if is_out_of_descriptors(&error) && spare_descriptor.is_some() => {
                // The connection waits in the queue, and would wait there
                // unanswered until a descriptor frees up. Give back our
                // spare so `accept` can take it, answer 503 like any
                // connection beyond the cap, then take the spare again.
                drop(spare_descriptor.take());
                if let Ok((stream, _)) = listener.accept() {
                    if shared.shutdown.is_requested() {
                        break;
                    }
                    refuse_busy(&stream, &shared);
                }
                spare_descriptor = reserve_descriptor();
                continue;
            }
            // ANCHOR_END: spare_descriptor
            Err(error) => {
                // Out of memory, say, or out of descriptors with no spare
                // left: the error would repeat at once, so pause rather
                // than spin at 100% CPU, longer each time it repeats, and
                // try again: it passes when connections close.
                eprintln!("accept failed: {error}; trying again in {accept_pause:?}");
                thread::sleep(accept_pause);
                accept_pause = (accept_pause * 2).min(MAX_ACCEPT_PAUSE);
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
            None => refuse_busy(&stream, &shared),
        }
    }

    // Closing the listening socket makes new connections fail at once
    // ("connection refused") instead of waiting in the kernel's queue. Those
    // already in the queue (the backlog) are reset, and their requests are
    // lost: a restart that loses nothing needs the listening socket handed
    // over to the next process (systemd socket activation, SO_REUSEPORT),
    // which Part II sets up.
    drop(listener);
    eprintln!(
        "stopped accepting; open connections: {}; waiting up to {:?}",
        shared.connections.count(),
        shared.config.drain_timeout
    );
    shared.connections.close_idle();
    let deadline = Instant::now() + shared.config.drain_timeout;
    if pool.finish_within(deadline) {
        Ok(Drained::Completely)
    } else {
        Ok(Drained::CutOff {
            open_connections: shared.connections.count(),
        })
    }
}
// ANCHOR_END: serve

/// Is this `accept` error about the listening socket itself (closed, not a
/// socket, not listening), so that trying again can never work? Every other
/// error (out of file descriptors or memory, a connection that was reset
/// while it waited in the queue) is about one connection or passes.
fn listener_is_broken(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EBADF | libc::EINVAL | libc::ENOTSOCK | libc::EFAULT)
    )
}

/// Is this `accept` error "the process (or the whole system) has no file
/// descriptor left for the new connection"?
fn is_out_of_descriptors(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// Holds one file descriptor in reserve (an open `/dev/null`), so that when
/// the process runs out, the accept loop can free it, take the waiting
/// connection and answer 503 instead of leaving the client hanging. `None`
/// if even this one descriptor is not available.
fn reserve_descriptor() -> Option<File> {
    File::open("/dev/null").ok()
}

// ANCHOR: refuse_busy
/// Answers a connection beyond the cap with `503 Service Unavailable` and
/// `Retry-After`, and closes it. This runs on the accepting thread, which
/// must never wait for a client: the socket is made non-blocking, and a
/// response this small fits in the kernel's send buffer at once.
fn refuse_busy(stream: &TcpStream, shared: &Shared) {
    let started = Instant::now();
    let _ = stream.set_nonblocking(true);
    // Read what the client has sent so far (at most LINGER_MAX_BYTES: a
    // client streaming bytes must not keep us here): closing with unread
    // bytes would send a reset, which can destroy our answer before it is
    // read.
    let mut discard = [0u8; DISCARD_CHUNK_BYTES];
    let mut discarded = 0;
    while discarded < LINGER_MAX_BYTES {
        match (&*stream).read(&mut discard) {
            Ok(received) if received > 0 => discarded += received,
            // Nothing more for now (`WouldBlock`), the end, or an error.
            _ => break,
        }
    }
    let response = Response::error(Status::ServiceUnavailable).with_header("Retry-After", "1");
    // Counted (before the answer goes out, so that a client who asks
    // `/metrics` next sees it), because a burst of these is what an
    // overloaded server looks like from the outside. Not logged: a write to
    // stdout can wait (for journald, for a full pipe), and this thread must
    // never wait.
    shared
        .app
        .metrics
        .record("busy", Status::ServiceUnavailable.code(), started.elapsed());
    let _ = response.write_to(&mut &*stream, Sending::HeadAndBody, Connection::Close);
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
    // Who is at the other end, asked now: after a reset the socket can no
    // longer say.
    let peer = peer_ip(stream);
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
        // The request's clock starts with its first byte.
        let started = Instant::now();
        let request = match reader.read_request(config.request_timeout) {
            Ok(request) => request,
            Err(RequestError::ClosedEarly) => return Ok(()),
            Err(RequestError::Io(error)) => return Err(error),
            // After a bad request we cannot trust where the next one would
            // start: answer, log, then close.
            Err(RequestError::TimedOut) => {
                return refuse(
                    stream,
                    Status::RequestTimeout,
                    &reader,
                    shared,
                    peer,
                    started,
                )
            }
            Err(RequestError::Reject(status)) => {
                return refuse(stream, status, &reader, shared, peer, started)
            }
        };
        served += 1;
        let connection = if request.wants_keep_alive()
            && served < config.max_requests_per_connection
            && !shared.shutdown.is_requested()
        {
            Connection::KeepAlive
        } else {
            Connection::Close
        };
        let sending = Sending::for_method(&request.method);
        let (route_name, response) = route(&request, &shared.app);
        let status = response.status;
        let bytes = match sending {
            Sending::HeadAndBody => response.body.length(),
            Sending::HeadOnly => 0,
        };
        let written = response.write_to(&mut writer, sending, connection);
        // Counted and logged even if the client left before the end: we
        // answered, and how long it took is part of the story.
        let duration = started.elapsed();
        shared
            .app
            .metrics
            .record(route_name, status.code(), duration);
        let entry = access_log::Entry {
            peer: access_log::client_address(
                peer,
                request.header("x-real-ip"),
                &config.trusted_proxies,
            ),
            method: &request.method,
            path: &request.path,
            status: status.code(),
            bytes,
            duration,
        };
        entry.write();
        written?;
        if connection == Connection::Close {
            return close_gracefully(stream);
        }
    }
}
// ANCHOR_END: handle_connection

// ANCHOR: refuse
/// Answers a request we could not read whole with an error status, logs
/// it, and closes the connection. The error is JSON if we got far enough to
/// see that the request was for the API.
fn refuse(
    stream: &TcpStream,
    status: Status,
    reader: &RequestReader<&TcpStream>,
    shared: &Shared,
    peer: IpAddr,
    started: Instant,
) -> io::Result<()> {
    let path = reader.path_being_read();
    let response = match path {
        Some(path) if path.starts_with("/api/") => {
            ApiError::new(status, status.reason()).into_response()
        }
        _ => Response::error(status),
    };
    let bytes = response.body.length();
    let written = response.write_to(&mut &*stream, Sending::HeadAndBody, Connection::Close);
    let duration = started.elapsed();
    shared
        .app
        .metrics
        .record("refused", status.code(), duration);
    // No head we could trust, so no X-Real-IP either: the peer it is.
    let entry = access_log::Entry {
        peer,
        method: "-",
        path: path.unwrap_or("-"),
        status: status.code(),
        bytes,
        duration,
    };
    entry.write();
    written?;
    close_gracefully(stream)
}

/// The address at the other end of the connection; "unspecified" (`0.0.0.0`)
/// in the rare case that the socket can no longer say (it was reset before
/// we asked).
fn peer_ip(stream: &TcpStream) -> IpAddr {
    stream
        .peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |addr| addr.ip())
}
// ANCHOR_END: refuse

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
            // The time ran out (`WouldBlock` or `TimedOut`, by platform), or
            // a reset from the client: either way, nothing is coming.
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
    let mut discard = [0u8; DISCARD_CHUNK_BYTES];
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_errors_about_the_listener_itself_stop_the_accept_loop() {
        for broken in [libc::EBADF, libc::EINVAL, libc::ENOTSOCK, libc::EFAULT] {
            assert!(listener_is_broken(&io::Error::from_raw_os_error(broken)));
        }
        // Out of descriptors, memory or buffers, or one connection that died
        // in the queue: pause and try again.
        for passing in [
            libc::EMFILE,
            libc::ENFILE,
            libc::ENOBUFS,
            libc::ENOMEM,
            libc::ECONNABORTED,
        ] {
            assert!(!listener_is_broken(&io::Error::from_raw_os_error(passing)));
        }
    }

    #[test]
    fn only_running_out_of_descriptors_spends_the_spare_one() {
        for out_of_descriptors in [libc::EMFILE, libc::ENFILE] {
            assert!(is_out_of_descriptors(&io::Error::from_raw_os_error(
                out_of_descriptors
            )));
        }
        for other in [libc::ENOBUFS, libc::ENOMEM, libc::ECONNABORTED] {
            assert!(!is_out_of_descriptors(&io::Error::from_raw_os_error(other)));
        }
    }
}
