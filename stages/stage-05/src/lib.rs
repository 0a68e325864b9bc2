//! Stage 05 — the server's logic: accept connections and hand each one to a
//! worker of a [`pool::ThreadPool`]; a worker reads requests from its
//! connection one after another (keep-alive) and answers each.
//!
//! The modules, in reading order: [`config`] (new: what `main` reads from
//! the environment), [`pool`] (new: the thread pool),
//! [`request`] (bytes in → `Request`, now request after request),
//! [`routes`] (`Request` → `Response`), [`static_files`], [`response`]
//! (`Response` → bytes out).

pub mod config;
pub mod pool;
pub mod request;
pub mod response;
pub mod routes;
pub mod static_files;
pub mod status;

use std::io::{self, ErrorKind, Read};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use config::Config;
pub use pool::ThreadPool;
pub use request::{Request, RequestError, RequestReader};
pub use response::{Connection, Response, Sending};
pub use routes::route;
pub use status::Status;

/// After answering, how long we keep reading (and discarding) what the client
/// still sends before we close. See [`close_gracefully`].
const LINGER_TIMEOUT: Duration = Duration::from_secs(1);
/// And how much of it we are willing to read and throw away.
const LINGER_MAX_BYTES: usize = 64 * 1024;
/// How much we read (and throw away) at a time while lingering.
const DISCARD_CHUNK_BYTES: usize = 4096;

// ANCHOR: serve
/// Accepts connections forever and hands each to the pool. The accepting
/// thread never reads or writes a socket itself, so it is never stuck
/// behind a slow client.
pub fn serve(listener: TcpListener, config: Config) -> io::Result<()> {
    // Resolve the root once, to an absolute path without symlinks: every file
    // we serve must resolve to a path that starts with this one.
    let static_root = config.static_dir.canonicalize().map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("static directory {}: {error}", config.static_dir.display()),
        )
    })?;
    let static_root = Arc::new(static_root);
    let pool = ThreadPool::new(config.workers);
    for connection in listener.incoming() {
        match connection {
            Ok(stream) => {
                let static_root = Arc::clone(&static_root);
                pool.execute(move || {
                    if let Err(error) = handle_connection(stream, &static_root) {
                        eprintln!("connection ended with an error: {error}");
                    }
                });
            }
            // Shortcut: an error that repeats (out of file descriptors)
            // makes this loop spin; stage 06 pauses and backs off.
            Err(error) => eprintln!("accept failed: {error}"),
        }
    }
    Ok(())
}
// ANCHOR_END: serve

// ANCHOR: handle_connection
/// Answers request after request on one connection, until the client or
/// the protocol says to close.
fn handle_connection(stream: TcpStream, static_root: &Path) -> io::Result<()> {
    // Our responses go out in one write (or a head and a file), and the
    // client waits for each before it can go on: don't let the kernel hold
    // back a small write hoping to merge it with the next (Nagle's algorithm).
    stream.set_nodelay(true)?;
    // `&TcpStream` implements both `Read` and `Write`, so the reader and the
    // writer can share one socket.
    let mut reader = RequestReader::new(&stream);
    let mut writer = &stream;
    loop {
        let request = match reader.read_request() {
            Ok(request) => request,
            // The client closed the connection, between requests or inside one.
            Err(RequestError::ClosedEarly) => return Ok(()),
            // After a bad request we cannot trust where the next one would
            // start: answer, then close.
            Err(RequestError::Reject(status)) => {
                Response::error(status).write_to(
                    &mut writer,
                    Sending::HeadAndBody,
                    Connection::Close,
                )?;
                return close_gracefully(&stream);
            }
            Err(RequestError::Io(error)) => return Err(error),
        };
        eprintln!("{} {}", request.method, request.path);
        let connection = if request.wants_keep_alive() {
            Connection::KeepAlive
        } else {
            Connection::Close
        };
        let sending = Sending::for_method(&request.method);
        route(&request, static_root).write_to(&mut writer, sending, connection)?;
        if connection == Connection::Close {
            return close_gracefully(&stream);
        }
    }
}
// ANCHOR_END: handle_connection

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
    if stream.shutdown(Shutdown::Write).is_err() {
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
