//! Stage 04 — the server's logic: read a [`Request`], pick a handler with
//! [`route`], write the [`Response`], close.
//!
//! The pieces live in four modules you can read in this order:
//! [`request`] (bytes in → `Request`), [`routes`] (`Request` → `Response`),
//! [`static_files`] (a URL path → a file under the static root, or a refusal),
//! [`response`] (`Response` → bytes out, a file body streamed). This file ties
//! them together; new since stage 03 is only the static root passed along.

pub mod request;
pub mod response;
pub mod routes;
pub mod static_files;
pub mod status;

use std::io::{self, ErrorKind, Read};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

pub use request::{read_request, Request, RequestError};
pub use response::{Response, Sending};
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
/// Accepts connections forever, one at a time, and answers one request on
/// each, serving files from `static_dir`. An error on one connection is
/// printed and forgotten.
///
/// Shortcut: one connection at a time means one slow client blocks everyone
/// (stage 05 adds a thread pool, stage 06 timeouts).
pub fn serve(listener: TcpListener, static_dir: &Path) -> io::Result<()> {
    // Resolve the root once, to an absolute path without symlinks: every file
    // we serve must resolve to a path that starts with this one.
    let static_root = static_dir.canonicalize().map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("static directory {}: {error}", static_dir.display()),
        )
    })?;
    for connection in listener.incoming() {
        match connection {
            Ok(stream) => {
                if let Err(error) = handle_connection(stream, &static_root) {
                    eprintln!("connection ended with an error: {error}");
                }
            }
            Err(error) => eprintln!("accept failed: {error}"),
        }
    }
    Ok(())
}
// ANCHOR_END: serve

// ANCHOR: handle_connection
/// Reads one request, routes it, writes the response.
fn handle_connection(mut stream: TcpStream, static_root: &Path) -> io::Result<()> {
    let (response, sending) = match read_request(&mut stream) {
        Ok(request) => {
            eprintln!("{} {}", request.method, request.path);
            // A HEAD request gets the headers a GET would get, without the body.
            (
                route(&request, static_root),
                Sending::for_method(&request.method),
            )
        }
        Err(RequestError::Reject(status)) => (Response::error(status), Sending::HeadAndBody),
        Err(RequestError::ClosedEarly) => return Ok(()),
        Err(RequestError::Io(error)) => return Err(error),
    };
    response.write_to(&mut stream, sending)?;
    close_gracefully(stream)
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
fn close_gracefully(mut stream: TcpStream) -> io::Result<()> {
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
