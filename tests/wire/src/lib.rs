//! `wire`: the one test helper every stage and the conformance suite share.
//!
//! Tests in this project talk to a real server over a real socket and look at
//! the exact bytes that come back. This crate does the plumbing so each test
//! reads like a sentence:
//!
//! ```text
//! let addr = wire::start(|listener| stage_02::serve(listener));
//! let reply = wire::exchange(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
//! assert_eq!(reply.status(), Some(200));
//! insta::assert_snapshot!(reply.show());
//! ```
//!
//! Every socket it opens has read and write timeouts, so a server that hangs
//! makes a test fail after a few seconds instead of hanging the suite.
//!
//! Also here, so that no test suite has its own copy: [`StageProcess`] (a
//! stage's real binary on a free port, for the conformance suite and the
//! transcripts), [`StaticFixture`] (the one folder of files where every path
//! traversal has a real target), [`reset`] (close with RST, not FIN) and
//! [`jwt`] (tokens forged by hand, for stage 09 on).

mod fixture;
pub mod jwt;
mod process;

pub use fixture::{StaticFixture, SECRET};
pub use process::{binary_path, StageProcess};

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

/// How long a test waits for the server before it calls the reply finished.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// Binds `127.0.0.1:0` (the kernel picks a free port), runs `serve` on a
/// background thread and returns the address to connect to.
///
/// The thread is never joined: the server lives until the test process ends,
/// which is exactly how long a test needs it.
pub fn start<F>(serve: F) -> SocketAddr
where
    F: FnOnce(TcpListener) -> io::Result<()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free loopback port");
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    thread::spawn(move || {
        if let Err(error) = serve(listener) {
            panic!("server under test stopped with an error: {error}");
        }
    });
    addr
}

/// Connects with [`CLIENT_TIMEOUT`] on reads and writes and Nagle's algorithm
/// off, so each `write` leaves as its own TCP segment (tests that split a
/// request into pieces rely on that).
pub fn connect(addr: SocketAddr) -> TcpStream {
    connect_with_timeout(addr, CLIENT_TIMEOUT)
}

/// Like [`connect`], with a read timeout of your choice.
pub fn connect_with_timeout(addr: SocketAddr, read_timeout: Duration) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect to the server under test");
    stream.set_nodelay(true).expect("set TCP_NODELAY");
    stream
        .set_read_timeout(Some(read_timeout))
        .expect("set a read timeout");
    stream
        .set_write_timeout(Some(CLIENT_TIMEOUT))
        .expect("set a write timeout");
    stream
}

/// `copies` pipelined `GET /api/status` requests in one buffer, each with
/// an `X-Pad` header of `padding` bytes: sent in one write, more than one
/// `read` of the server's takes when they add up to more than its buffer.
pub fn pipelined_burst(copies: usize, padding: usize) -> Vec<u8> {
    let pad = "p".repeat(padding);
    format!("GET /api/status HTTP/1.1\r\nHost: localhost\r\nX-Pad: {pad}\r\n\r\n")
        .repeat(copies)
        .into_bytes()
}

/// How many `200` answers arrive on `stream`, up to `expected`, stopping at
/// the first that does not (or does not come before the read timeout).
pub fn count_answers(stream: &mut TcpStream, expected: usize) -> usize {
    (0..expected)
        .take_while(|_| read_response(stream).status() == Some(200))
        .count()
}

/// The bytes of `GET path`, with these extra header lines (each ending in
/// `\r\n`, or none), asking the server to close after its answer.
pub fn get_request(path: &str, extra_headers: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra_headers}Connection: close\r\n\r\n")
        .into_bytes()
}

/// The bytes of `POST path` with `body`, declared as `content_type`, asking
/// the server to close after its answer.
pub fn post_request(path: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

/// [`post_request`] with a JSON body (the API of stage 07 on).
pub fn post_json_request(path: &str, body: &str) -> Vec<u8> {
    post_request(path, "application/json", body.as_bytes())
}

/// Sends `request` in one write, then reads until the server closes.
pub fn exchange(addr: SocketAddr, request: &[u8]) -> Reply {
    let mut stream = connect(addr);
    send(&mut stream, request);
    read_reply(&mut stream)
}

/// Sends a request in the given pieces, sleeping `pause` between them, then
/// reads one response (see [`read_response`]).
pub fn exchange_in_pieces(addr: SocketAddr, pieces: &[&[u8]], pause: Duration) -> Reply {
    let mut stream = connect(addr);
    for (index, piece) in pieces.iter().enumerate() {
        if index > 0 {
            thread::sleep(pause);
        }
        send(&mut stream, piece);
    }
    read_response_to(&mut stream, pieces.first().copied().unwrap_or_default())
}

/// Sends `request`, then half-closes our side (the server reads end of file
/// after the last byte), then reads until the server closes.
pub fn exchange_then_half_close(addr: SocketAddr, request: &[u8]) -> Reply {
    let mut stream = connect(addr);
    send(&mut stream, request);
    // Ignore errors: the server may already have closed, which is an answer too.
    let _ = stream.shutdown(Shutdown::Write);
    read_reply(&mut stream)
}

/// Closes `stream` with a reset (RST) instead of the polite FIN: what a
/// client that crashes, or a middlebox that gives up, does to a server.
///
/// `SO_LINGER` with a zero timeout tells the kernel to drop anything unsent
/// and reset the connection on close (socket(7)). std has no stable setter
/// for it, so we call `setsockopt` ourselves.
pub fn reset(stream: TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `stream` owns a valid socket descriptor for the whole call, and
    // we pass a pointer to a `linger` that lives on our stack, with its size.
    let result = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            std::ptr::addr_of!(linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(
        result,
        0,
        "setsockopt(SO_LINGER): {}",
        io::Error::last_os_error()
    );
    drop(stream);
}

/// Sends `request` in one write and reads exactly one response (framed by its
/// `Content-Length`), leaving the connection open: for servers that keep
/// connections alive. A `HEAD` request's response has no body, whatever its
/// `Content-Length` says.
pub fn exchange_one(addr: SocketAddr, request: &[u8]) -> Reply {
    let mut stream = connect(addr);
    send(&mut stream, request);
    read_response_to(&mut stream, request)
}

/// Reads one response from a connection that may stay open: the head up to
/// the blank line, then `Content-Length` bytes of body. Without a
/// `Content-Length`, reads until the server closes.
pub fn read_response(stream: &mut TcpStream) -> Reply {
    read_one_response(stream, Body::AsAnnounced)
}

/// [`read_response`], for a response to `HEAD`: its `Content-Length` says
/// how long the body *would* be, and no body follows.
pub fn read_response_to_head(stream: &mut TcpStream) -> Reply {
    read_one_response(stream, Body::None)
}

/// Whether a body follows a response's head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    AsAnnounced,
    None,
}

/// A response to a request that was `HEAD` (`request` starts with it) or not.
fn read_response_to(stream: &mut TcpStream, request: &[u8]) -> Reply {
    if request.starts_with(b"HEAD ") {
        read_response_to_head(stream)
    } else {
        read_response(stream)
    }
}

fn read_one_response(stream: &mut TcpStream, expected: Body) -> Reply {
    let mut bytes = Vec::new();
    let mut byte = [0u8; 1];
    // Byte by byte up to the blank line, so we never read into the body or
    // the next response. Slow, but this is a test helper.
    while find(&bytes, b"\r\n\r\n").is_none() {
        match stream.read(&mut byte) {
            Ok(0) => {
                return Reply {
                    bytes,
                    ending: Ending::Closed,
                }
            }
            Ok(_) => bytes.push(byte[0]),
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) => {
                return Reply {
                    bytes,
                    ending: ending_of(&error),
                }
            }
        }
    }
    let head = Reply {
        bytes,
        ending: Ending::Complete,
    };
    let length = match head.header("content-length") {
        Some(length) if expected == Body::AsAnnounced => length.parse::<usize>().unwrap_or(0),
        Some(_) => 0,
        None => {
            let rest = read_reply(stream);
            let mut bytes = head.bytes;
            bytes.extend_from_slice(&rest.bytes);
            return Reply {
                bytes,
                ending: rest.ending,
            };
        }
    };
    let mut bytes = head.bytes;
    let mut body = vec![0u8; length];
    match stream.read_exact(&mut body) {
        Ok(()) => {
            bytes.extend_from_slice(&body);
            Reply {
                bytes,
                ending: Ending::Complete,
            }
        }
        Err(error) => Reply {
            bytes,
            ending: ending_of(&error),
        },
    }
}

fn ending_of(error: &io::Error) -> Ending {
    match error.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => Ending::TimedOut,
        ErrorKind::UnexpectedEof => Ending::Closed,
        _ => Ending::Reset,
    }
}

/// Writes all of `bytes`. A server that already closed the connection makes
/// this fail; the reply we then read tells the story, so the error is ignored.
pub fn send(stream: &mut TcpStream, bytes: &[u8]) {
    let _ = stream.write_all(bytes);
}

/// How a reply ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The server closed the connection cleanly (we read end of file).
    Closed,
    /// Nothing more arrived within the read timeout.
    TimedOut,
    /// The connection was reset (the server closed with unread data, or died).
    Reset,
    /// One whole response arrived (as long as its `Content-Length` said);
    /// the connection may still be open. See [`read_response`].
    Complete,
}

/// Everything the server sent before the connection ended, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub bytes: Vec<u8>,
    pub ending: Ending,
}

/// Reads until end of file, a timeout or a reset, whichever comes first.
pub fn read_reply(stream: &mut TcpStream) -> Reply {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 8192];
    let ending = loop {
        match stream.read(&mut chunk) {
            Ok(0) => break Ending::Closed,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break Ending::TimedOut
            }
            Err(_) => break Ending::Reset,
        }
    };
    Reply { bytes, ending }
}

impl Reply {
    /// The status code of the first response, if the reply starts with a
    /// well-formed status line.
    pub fn status(&self) -> Option<u16> {
        let line = self.bytes.split(|&b| b == b'\n').next()?;
        let line = std::str::from_utf8(line).ok()?.trim_end_matches('\r');
        let mut parts = line.splitn(3, ' ');
        let version = parts.next()?;
        if !version.starts_with("HTTP/1.") {
            return None;
        }
        parts.next()?.parse().ok()
    }

    /// The response head (status line and headers, without the blank line).
    pub fn head(&self) -> &[u8] {
        match find(&self.bytes, b"\r\n\r\n") {
            Some(end) => &self.bytes[..end],
            None => &self.bytes,
        }
    }

    /// Everything after the first blank line.
    pub fn body(&self) -> &[u8] {
        match find(&self.bytes, b"\r\n\r\n") {
            Some(end) => &self.bytes[end + 4..],
            None => &[],
        }
    }

    /// The value of the first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<String> {
        let head = String::from_utf8_lossy(self.head()).into_owned();
        head.split("\r\n").skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    }

    /// True when `needle` appears anywhere in what the server sent.
    pub fn contains(&self, needle: &[u8]) -> bool {
        find(&self.bytes, needle).is_some()
    }

    /// The body as JSON (from stage 07 on); panics, failing the test, with
    /// the whole reply if it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(self.body())
            .unwrap_or_else(|error| panic!("not JSON ({error}):\n{}", self.show()))
    }

    /// The reply as text for a snapshot: see [`show`]. A reply that did not end
    /// with a clean close says so on its last line.
    pub fn show(&self) -> String {
        let mut text = show(&self.bytes);
        match self.ending {
            Ending::Closed | Ending::Complete => {}
            Ending::TimedOut => text.push_str("\n[no more bytes: the read timed out]"),
            Ending::Reset => text.push_str("\n[the connection was reset]"),
        }
        text
    }
}

/// Renders raw bytes for a snapshot so that nothing is hidden: every `\r\n`
/// is written out as the four characters `\r\n` before the line break, any
/// other control or non-ASCII byte as `\xNN`, and the value of a `Date:`
/// header is replaced by `<date>` because it changes every second.
pub fn show(bytes: &[u8]) -> String {
    let mut text = String::new();
    for line in split_keeping_newlines(bytes) {
        let (content, ending) = if let Some(content) = line.strip_suffix(b"\r\n") {
            (content, "\\r\\n\n")
        } else if let Some(content) = line.strip_suffix(b"\n") {
            (content, "\\n\n")
        } else {
            (line, "")
        };
        let content = if starts_with_ignore_case(content, b"date:") {
            b"Date: <date>".as_slice()
        } else {
            content
        };
        for &byte in content {
            match byte {
                b' '..=b'~' => text.push(byte as char),
                b'\t' => text.push_str("\\t"),
                b'\r' => text.push_str("\\r"),
                _ => text.push_str(&format!("\\x{byte:02x}")),
            }
        }
        text.push_str(ending);
    }
    text
}

fn split_keeping_newlines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split_inclusive(|&b| b == b'\n')
}

fn starts_with_ignore_case(haystack: &[u8], prefix: &[u8]) -> bool {
    haystack.len() >= prefix.len() && haystack[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// The position of the first `needle` in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_writes_out_line_endings_and_hides_the_date() {
        let bytes = b"HTTP/1.1 200 OK\r\nDate: Sat, 21 Nov 2026 10:00:00 GMT\r\n\r\nhi\x00";
        assert_eq!(
            show(bytes),
            "HTTP/1.1 200 OK\\r\\n\nDate: <date>\\r\\n\n\\r\\n\nhi\\x00"
        );
    }

    #[test]
    fn a_reply_knows_its_status_headers_and_body() {
        let reply = Reply {
            bytes: b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno".to_vec(),
            ending: Ending::Closed,
        };
        assert_eq!(reply.status(), Some(404));
        assert_eq!(reply.header("content-length").as_deref(), Some("2"));
        assert_eq!(reply.body(), b"no");
    }

    #[test]
    fn a_reply_that_is_not_http_has_no_status() {
        let reply = Reply {
            bytes: b"hello\n".to_vec(),
            ending: Ending::Closed,
        };
        assert_eq!(reply.status(), None);
    }
}
