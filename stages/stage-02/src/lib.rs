//! Stage 02 — the server's logic: read one HTTP request head, answer it,
//! close the connection.
//!
//! The important idea of this stage: **one `read` is not one request.** TCP
//! delivers a stream of bytes in whatever pieces the network produced, so a
//! request can arrive one byte at a time, or in two writes with a pause
//! between them. We keep reading into a buffer and ask `httparse` after every
//! read whether the head is complete yet. The buffer has a hard cap, because a
//! client that never finishes its head must not make us use unbounded memory.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::{Duration, Instant};

// ANCHOR: limits
/// The largest request head we accept, in bytes. Real browsers send 1–2 KiB;
/// nginx's default buffers allow 8 KiB per header line. A head that is still
/// incomplete at this size gets `431 Request Header Fields Too Large`.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// The most header lines we accept. `httparse` writes the headers it finds
/// into a fixed array of this size, so this is also a memory cap.
pub const MAX_HEADERS: usize = 64;
// ANCHOR_END: limits

/// How many bytes we ask the kernel for per `read`.
const READ_CHUNK_BYTES: usize = 4096;

/// After answering, how long we keep reading (and discarding) what the client
/// still sends before we close. See [`close_gracefully`].
const LINGER_TIMEOUT: Duration = Duration::from_secs(1);
/// And how much of it we are willing to read and throw away.
const LINGER_MAX_BYTES: usize = 64 * 1024;

/// The fixed answer of this stage, byte for byte. `Content-Length` tells the
/// client where the body ends; `Connection: close` tells it we will hang up
/// after this response (keeping connections open comes in stage 05).
// ANCHOR: fixed_response
pub const HELLO_RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Length: 20\r\n\
Connection: close\r\n\
\r\n\
Hello from stage 02\n";
// ANCHOR_END: fixed_response

const BAD_REQUEST_RESPONSE: &[u8] = b"HTTP/1.1 400 Bad Request\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Length: 12\r\n\
Connection: close\r\n\
\r\n\
Bad Request\n";

const HEAD_TOO_LARGE_RESPONSE: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Length: 32\r\n\
Connection: close\r\n\
\r\n\
Request Header Fields Too Large\n";

/// The parts of a request head this stage looks at. (It answers every request
/// the same way, so this is mostly for the log line; stage 03 uses them.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    pub target: String,
    /// The `1` of `HTTP/1.1` (or `0` for `HTTP/1.0`).
    pub minor_version: u8,
    pub headers: Vec<(String, Vec<u8>)>,
}

// ANCHOR: head_error
/// Why we could not read a request head.
#[derive(Debug)]
pub enum HeadError {
    /// The client hung up before sending a complete head. If it sent nothing
    /// at all, that is a normal way to end (browsers open spare connections
    /// and close them unused); there is nobody left to answer either way.
    ClosedEarly,
    /// The bytes are not HTTP: answer `400 Bad Request`.
    Malformed(httparse::Error),
    /// The head did not fit in [`MAX_HEAD_BYTES`] or [`MAX_HEADERS`]: answer
    /// `431 Request Header Fields Too Large`.
    TooLarge,
    /// The socket itself failed (the peer reset the connection, say).
    Io(io::Error),
}
// ANCHOR_END: head_error

impl From<io::Error> for HeadError {
    fn from(error: io::Error) -> Self {
        HeadError::Io(error)
    }
}

// ANCHOR: serve
/// Accepts connections forever, one at a time, and answers one request on
/// each. An error on one connection is printed and forgotten.
///
/// Shortcut: one connection at a time means one slow client blocks everyone
/// (stage 05 adds a thread pool, stage 06 timeouts).
pub fn serve(listener: TcpListener) -> io::Result<()> {
    for connection in listener.incoming() {
        match connection {
            Ok(stream) => {
                if let Err(error) = handle_connection(stream) {
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
/// Reads one request head and writes the matching response.
fn handle_connection(mut stream: TcpStream) -> io::Result<()> {
    let response = match read_request_head(&mut stream) {
        Ok(head) => {
            eprintln!("{} {}", head.method, head.target);
            HELLO_RESPONSE
        }
        Err(HeadError::Malformed(_)) => BAD_REQUEST_RESPONSE,
        Err(HeadError::TooLarge) => HEAD_TOO_LARGE_RESPONSE,
        Err(HeadError::ClosedEarly) => return Ok(()),
        Err(HeadError::Io(error)) => return Err(error),
    };
    stream.write_all(response)?;
    close_gracefully(stream)
}
// ANCHOR_END: handle_connection

// ANCHOR: read_request_head
/// Reads from `stream` until the buffered bytes form a complete request head.
///
/// After every read we hand the *whole* buffer to `httparse` again. It answers
/// `Partial` (keep reading), `Complete` (done), or an error (not HTTP). Parsing
/// again from the start is simple and cheap enough: a hostile client sending
/// one byte per read makes us parse up to [`MAX_HEAD_BYTES`] times over a
/// growing buffer: about 16 KiB² / 2 ≈ 1.3 × 10⁸ bytes scanned in all, a
/// small fraction of a second at the rate `httparse` scans.
pub fn read_request_head(stream: &mut impl Read) -> Result<RequestHead, HeadError> {
    let mut buffer = Vec::with_capacity(READ_CHUNK_BYTES);
    let mut chunk = [0u8; READ_CHUNK_BYTES];
    loop {
        // Never read past the cap: ask only for the room that is left.
        let room = MAX_HEAD_BYTES - buffer.len();
        if room == 0 {
            return Err(HeadError::TooLarge);
        }
        let wanted = room.min(chunk.len());
        let received = match stream.read(&mut chunk[..wanted]) {
            Ok(0) => return Err(HeadError::ClosedEarly),
            Ok(received) => received,
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) => return Err(HeadError::Io(error)),
        };
        buffer.extend_from_slice(&chunk[..received]);

        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&buffer) {
            Ok(httparse::Status::Complete(_head_length)) => {
                return Ok(RequestHead {
                    method: request.method.unwrap_or_default().to_string(),
                    target: request.path.unwrap_or_default().to_string(),
                    minor_version: request.version.unwrap_or_default(),
                    headers: request
                        .headers
                        .iter()
                        .map(|header| (header.name.to_string(), header.value.to_vec()))
                        .collect(),
                });
            }
            Ok(httparse::Status::Partial) => continue,
            Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
            Err(error) => return Err(HeadError::Malformed(error)),
        }
    }
}
// ANCHOR_END: read_request_head

// ANCHOR: close_gracefully
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
    let mut discard = [0u8; READ_CHUNK_BYTES];
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
// ANCHOR_END: close_gracefully

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that fails every other read with `Interrupted`, the way a
    /// read fails when a signal arrives while it waits (signal(7)), and
    /// hands out one byte at a time in between. The right answer to
    /// `Interrupted` is to read again; any other error ends the request.
    struct Interrupting<'a> {
        bytes: &'a [u8],
        interrupt_next: bool,
        then_fail_with: Option<io::ErrorKind>,
    }

    impl<'a> Interrupting<'a> {
        fn new(bytes: &'a [u8]) -> Self {
            Interrupting {
                bytes,
                interrupt_next: true,
                then_fail_with: None,
            }
        }
    }

    impl Read for Interrupting<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.interrupt_next {
                self.interrupt_next = false;
                return Err(io::ErrorKind::Interrupted.into());
            }
            self.interrupt_next = true;
            if self.bytes.is_empty() {
                if let Some(kind) = self.then_fail_with {
                    return Err(kind.into());
                }
            }
            let n = out.len().min(1).min(self.bytes.len());
            out[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_read_interrupted_by_a_signal_is_tried_again_and_other_errors_end_it() {
        let request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let head = read_request_head(&mut Interrupting::new(request));
        assert_eq!(head.map(|head| head.target).ok().as_deref(), Some("/"));
        let mut reset = Interrupting::new(b"GET / HT");
        reset.then_fail_with = Some(io::ErrorKind::ConnectionReset);
        assert!(matches!(
            read_request_head(&mut reset),
            Err(HeadError::Io(_))
        ));
    }

    /// A reader that hands out its bytes in pieces of at most `piece` bytes,
    /// the way a slow network would.
    struct Trickle<'a> {
        bytes: &'a [u8],
        piece: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.piece.min(out.len()).min(self.bytes.len());
            out[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_head_delivered_one_byte_per_read_is_parsed() {
        let mut stream = Trickle {
            bytes: b"GET /hello HTTP/1.1\r\nHost: example.com\r\n\r\n",
            piece: 1,
        };
        let head = read_request_head(&mut stream).expect("a complete head");
        assert_eq!(head.method, "GET");
        assert_eq!(head.target, "/hello");
        assert_eq!(head.minor_version, 1);
        assert_eq!(
            head.headers,
            vec![("Host".to_string(), b"example.com".to_vec())]
        );
    }

    #[test]
    fn a_head_that_never_ends_stops_at_the_cap() {
        let endless = vec![b'a'; MAX_HEAD_BYTES * 2];
        let mut head = b"GET / HTTP/1.1\r\nX-Filler: ".to_vec();
        head.extend_from_slice(&endless);
        let mut stream = Trickle {
            bytes: &head,
            piece: 1000,
        };
        assert!(matches!(
            read_request_head(&mut stream),
            Err(HeadError::TooLarge)
        ));
        // We stopped reading at the cap instead of swallowing everything.
        assert_eq!(stream.bytes.len(), head.len() - MAX_HEAD_BYTES);
    }

    #[test]
    fn the_fixed_responses_announce_their_true_body_length() {
        for response in [
            HELLO_RESPONSE,
            BAD_REQUEST_RESPONSE,
            HEAD_TOO_LARGE_RESPONSE,
        ] {
            let text = std::str::from_utf8(response).expect("ASCII");
            let (head, body) = text.split_once("\r\n\r\n").expect("a blank line");
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("Content-Length: "))
                .expect("a Content-Length header")
                .parse()
                .expect("a number");
            assert_eq!(length, body.len(), "in {head}");
        }
    }
}
