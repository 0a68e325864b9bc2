//! Bytes in → [`Request`]: read the head (as in stage 02), check it the way
//! HTTP/1.1 requires, then read the body, framed by `Content-Length` or sent
//! in chunks. A [`RequestReader`] reads request after request from one
//! connection, keeping the bytes of the next request between calls.
//!
//! Every request must arrive whole before a deadline (`408 Request Timeout`
//! otherwise: the slowloris defence), and bodies sent with
//! `Transfer-Encoding: chunked` are decoded under the same caps.
//! `Transfer-Encoding` together with `Content-Length`, or a coding we do not
//! know, is refused: that is where request smuggling lives.
//! [`RequestReader::path_being_read`] lets an error about a request for the
//! API be answered as JSON.
//!
//! Everything a client controls is capped here, before it costs us memory:
//! the head ([`MAX_HEAD_BYTES`], [`MAX_HEADERS`]), the target
//! ([`MAX_TARGET_BYTES`]), the body ([`MAX_BODY_BYTES`]) and each chunk-size
//! line ([`MAX_CHUNK_LINE_BYTES`]).

use std::io::{self, ErrorKind, Read};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::status::Status;

// ANCHOR: limits
/// The largest request head we accept, in bytes (431 beyond).
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// The most header lines we accept (431 beyond).
pub const MAX_HEADERS: usize = 64;
/// The longest request target (path and query) we accept (414 beyond). No
/// route of ours needs more; very long URLs are a classic probe for buffer
/// overflows in servers written in less forgiving languages.
pub const MAX_TARGET_BYTES: usize = 8 * 1024;
/// The largest request body we accept (413 beyond). We check the announced
/// `Content-Length` *before* reading, so an oversized body is never read; a
/// chunked body is refused as soon as its chunks add up to more.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The longest chunk-size line (`1a2b;name=value`) we accept (a longer
/// line gets 400 Bad Request).
pub const MAX_CHUNK_LINE_BYTES: usize = 1024;
// ANCHOR_END: limits

/// How many bytes we ask the kernel for per `read`.
const READ_CHUNK_BYTES: usize = 4096;

// ANCHOR: request
/// One HTTP request, as the rest of the server sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `POST`, … exactly as sent (methods are case-sensitive).
    pub method: String,
    /// The path part of the target, from the first `/`: `/api/status`.
    pub path: String,
    /// What came after `?`, if anything (not decoded).
    pub query: Option<String>,
    /// The `1` of `HTTP/1.1` (or `0` for `HTTP/1.0`).
    pub minor_version: u8,
    /// Header lines in the order they arrived. Values that are not UTF-8
    /// (rare, but legal) are converted lossily: we never route on them.
    pub headers: Vec<(String, String)>,
    /// The body: `Content-Length` bytes, or the chunks joined (empty
    /// without either).
    pub body: Vec<u8>,
}

impl Request {
    /// The value of the first header called `name`. Header names are
    /// case-insensitive: `content-length` and `Content-Length` are the same.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    // ANCHOR: wants_keep_alive
    /// Does the client want to send more requests on this connection?
    ///
    /// HTTP/1.1 connections stay open unless the client says
    /// `Connection: close`; HTTP/1.0 connections close unless it says
    /// `Connection: keep-alive`. The header is a comma-separated list of
    /// case-insensitive tokens (`Connection: keep-alive, Upgrade`).
    pub fn wants_keep_alive(&self) -> bool {
        let has_token = |wanted: &str| {
            self.headers
                .iter()
                .filter(|(name, _)| name.eq_ignore_ascii_case("connection"))
                .flat_map(|(_, value)| value.split(','))
                .any(|token| token.trim().eq_ignore_ascii_case(wanted))
        };
        if self.minor_version >= 1 {
            !has_token("close")
        } else {
            has_token("keep-alive")
        }
    }
    // ANCHOR_END: wants_keep_alive
}
// ANCHOR_END: request

// ANCHOR: request_error
/// Why we have no request to route.
#[derive(Debug)]
pub enum RequestError {
    /// The client hung up before sending a whole request: nobody to answer.
    ClosedEarly,
    /// The request did not arrive whole before its deadline: answer
    /// `408 Request Timeout` and close.
    TimedOut,
    /// The request is not acceptable: answer with this status and close.
    Reject(Status),
    /// The socket itself failed (the peer reset the connection, say).
    Io(io::Error),
}
// ANCHOR_END: request_error

// ANCHOR: source
/// Where a [`RequestReader`] reads from: a byte stream whose reads can be
/// given a time limit. A `&TcpStream` in the server; a slice in unit tests.
pub trait Source: Read {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()>;
}

impl Source for &TcpStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }
}
// ANCHOR_END: source

/// Reads requests one after another from one connection.
///
/// With keep-alive, a connection carries many requests, and a client may
/// send the next one before we answer the first (pipelining). One `read` can
/// therefore return the end of one request and the start of the next. The
/// reader keeps every byte it has read but not yet used in `buffer`, and
/// starts the next request from there.
pub struct RequestReader<S> {
    stream: S,
    buffer: Vec<u8>,
    /// When the request being read must be complete.
    deadline: Instant,
    /// The path of the request being read, once its head has arrived.
    path_being_read: Option<String>,
}

/// How a request says where its body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyFraming {
    Length(usize),
    Chunked,
}

impl<S: Source> RequestReader<S> {
    pub fn new(stream: S) -> Self {
        RequestReader {
            stream,
            buffer: Vec::with_capacity(READ_CHUNK_BYTES),
            deadline: Instant::now(),
            path_being_read: None,
        }
    }

    /// True if bytes of a next request have already arrived.
    pub fn has_buffered_bytes(&self) -> bool {
        !self.buffer.is_empty()
    }

    /// If [`RequestReader::read_request`] failed after the head arrived
    /// (the body was too large, or too slow), the path the request was for:
    /// the caller answers in the API's format (JSON) if it was for the API.
    pub fn path_being_read(&self) -> Option<&str> {
        self.path_being_read.as_deref()
    }

    // ANCHOR: read_request
    /// Reads one whole request, head and body, which must be complete
    /// within `time_limit`. What follows it stays in the buffer.
    pub fn read_request(&mut self, time_limit: Duration) -> Result<Request, RequestError> {
        // One deadline for the whole request, not a timeout per read: a
        // slowloris client that sends one byte every few seconds would
        // never trip a per-read timeout, but it cannot beat a deadline.
        self.deadline = Instant::now() + time_limit;
        self.path_being_read = None;
        let (mut request, head_length) = self.read_request_head()?;
        self.path_being_read = Some(request.path.clone());
        let framing = body_framing(&request)?;
        self.buffer.drain(..head_length);
        request.body = match framing {
            BodyFraming::Length(length) => self.read_body(length)?,
            BodyFraming::Chunked => self.read_chunked_body()?,
        };
        Ok(request)
    }
    // ANCHOR_END: read_request

    /// Parses the buffer, reading more until it holds a complete head. Returns
    /// the request (with an empty body) and the length of its head.
    fn read_request_head(&mut self) -> Result<(Request, usize), RequestError> {
        loop {
            // The buffer may already hold a whole pipelined request: parse
            // before reading, or we would wait for bytes that never come.
            if !self.buffer.is_empty() {
                let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let mut parsed = httparse::Request::new(&mut headers);
                match parsed.parse(&self.buffer) {
                    Ok(httparse::Status::Complete(head_length)) => {
                        return Ok((check_head(&parsed)?, head_length));
                    }
                    Ok(httparse::Status::Partial) => {}
                    Err(httparse::Error::TooManyHeaders) => {
                        return Err(RequestError::Reject(Status::RequestHeaderFieldsTooLarge))
                    }
                    Err(_) => return Err(RequestError::Reject(Status::BadRequest)),
                }
            }
            if self.buffer.len() >= MAX_HEAD_BYTES {
                return Err(RequestError::Reject(Status::RequestHeaderFieldsTooLarge));
            }
            self.fill_up_to(MAX_HEAD_BYTES)?;
        }
    }

    /// Takes exactly `length` body bytes: first those already buffered, then
    /// the rest from the socket.
    fn read_body(&mut self, length: usize) -> Result<Vec<u8>, RequestError> {
        while self.buffer.len() < length {
            self.fill_up_to(length)?;
        }
        Ok(self.buffer.drain(..length).collect())
    }

    // ANCHOR: read_chunked_body
    /// Decodes a chunked body:
    ///
    /// ```text
    /// 5\r\n          a chunk of 5 bytes (the size is hexadecimal)
    /// hello\r\n
    /// 0\r\n          the last chunk has size 0
    /// \r\n           then optional trailer lines, then an empty line
    /// ```
    ///
    /// Every piece is capped: a size line by [`MAX_CHUNK_LINE_BYTES`], the
    /// sum of the chunks by [`MAX_BODY_BYTES`] (413), the trailers by
    /// [`MAX_HEAD_BYTES`] (431). We ignore chunk extensions and trailers.
    fn read_chunked_body(&mut self) -> Result<Vec<u8>, RequestError> {
        let mut body = Vec::new();
        loop {
            let line = self.read_line(MAX_CHUNK_LINE_BYTES, Status::BadRequest)?;
            let size = parse_chunk_size(&line).ok_or(RequestError::Reject(Status::BadRequest))?;
            if size == 0 {
                break;
            }
            if size > MAX_BODY_BYTES - body.len() {
                return Err(RequestError::Reject(Status::ContentTooLarge));
            }
            // The chunk's bytes, then the CRLF that ends every chunk.
            while self.buffer.len() < size + 2 {
                self.fill_up_to(size + 2)?;
            }
            if &self.buffer[size..size + 2] != b"\r\n" {
                return Err(RequestError::Reject(Status::BadRequest));
            }
            body.extend(self.buffer.drain(..size));
            self.buffer.drain(..2);
        }
        let mut trailer_bytes: usize = 0;
        loop {
            let room = MAX_HEAD_BYTES.saturating_sub(trailer_bytes);
            if room == 0 {
                return Err(RequestError::Reject(Status::RequestHeaderFieldsTooLarge));
            }
            let line = self.read_line(room, Status::RequestHeaderFieldsTooLarge)?;
            if line.is_empty() {
                return Ok(body);
            }
            trailer_bytes += line.len() + 2;
        }
    }
    // ANCHOR_END: read_chunked_body

    /// Takes one line ending in CRLF (without the CRLF) from the buffer,
    /// reading as needed. A line longer than `max` bytes is refused with
    /// `too_long_status`.
    fn read_line(&mut self, max: usize, too_long_status: Status) -> Result<Vec<u8>, RequestError> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|pair| pair == b"\r\n") {
                if end > max {
                    return Err(RequestError::Reject(too_long_status));
                }
                let line = self.buffer[..end].to_vec();
                self.buffer.drain(..end + 2);
                return Ok(line);
            }
            // No CRLF yet. `max` bytes and a CR may still be a line of
            // exactly `max` bytes whose LF is on its way; one byte more
            // cannot be.
            if self.buffer.len() > max + 1 {
                return Err(RequestError::Reject(too_long_status));
            }
            self.fill_up_to(max + 2)?;
        }
    }

    // ANCHOR: fill_up_to
    /// One `read` from the socket into the buffer, never growing the buffer
    /// past `limit` bytes, and never waiting past the request's deadline.
    fn fill_up_to(&mut self, limit: usize) -> Result<(), RequestError> {
        let mut chunk = [0u8; READ_CHUNK_BYTES];
        let wanted = limit
            .saturating_sub(self.buffer.len())
            .clamp(1, chunk.len());
        loop {
            let remaining = self.deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(RequestError::TimedOut);
            }
            self.stream
                .set_read_timeout(Some(remaining))
                .map_err(RequestError::Io)?;
            match self.stream.read(&mut chunk[..wanted]) {
                Ok(0) => return Err(RequestError::ClosedEarly),
                Ok(received) => {
                    self.buffer.extend_from_slice(&chunk[..received]);
                    return Ok(());
                }
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                // A read timeout shows up as one of these two, by platform.
                Err(error)
                    if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    return Err(RequestError::TimedOut)
                }
                Err(error) => return Err(RequestError::Io(error)),
            }
        }
    }
    // ANCHOR_END: fill_up_to
}

/// Parses a chunk-size line: hexadecimal digits, then optionally `;` and
/// extensions we ignore. At most 8 digits (4 GiB): far beyond any cap, and
/// no overflow possible.
///
/// Why not `httparse::parse_chunk_size`? It accepts a size line with no
/// digits at all (an empty line reads as size 0, the last chunk), which
/// RFC 9112 (section 7.1: `chunk-size = 1*HEXDIG`) forbids. Two servers that
/// disagree about where a body ends is exactly what request smuggling
/// feeds on, so we parse strictly, and the test
/// `an_empty_chunk_size_line_is_refused` holds us to it.
fn parse_chunk_size(line: &[u8]) -> Option<usize> {
    let digits_end = line
        .iter()
        .position(|byte| !byte.is_ascii_hexdigit())
        .unwrap_or(line.len());
    let (digits, rest) = line.split_at(digits_end);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    // After the digits: nothing, or (after optional blanks) a `;`.
    let rest_is_extension =
        rest.is_empty() || rest.iter().find(|&&byte| byte != b' ' && byte != b'\t') == Some(&b';');
    if !rest_is_extension {
        return None;
    }
    let digits = std::str::from_utf8(digits).ok()?;
    usize::from_str_radix(digits, 16).ok()
}

// ANCHOR: check_head
/// Turns a complete head into a [`Request`], refusing what HTTP/1.1 forbids.
fn check_head(parsed: &httparse::Request) -> Result<Request, RequestError> {
    // `Complete` guarantees these three are present.
    let method = parsed.method.unwrap_or_default();
    let target = parsed.path.unwrap_or_default();
    let minor_version = parsed.version.unwrap_or_default();

    if target.len() > MAX_TARGET_BYTES {
        return Err(RequestError::Reject(Status::UriTooLong));
    }
    // `OPTIONS *` asks about the server as a whole (the asterisk form, RFC
    // 9112, section 3.2.4); an asterisk with any other method means nothing.
    let (path, query) = if target == "*" && method == "OPTIONS" {
        ("*", None)
    } else {
        split_target(target).ok_or(RequestError::Reject(Status::BadRequest))?
    };

    let headers: Vec<(String, String)> = parsed
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();

    // HTTP/1.1 requires exactly one Host header (RFC 9112, section 3.2): it
    // is how one server can host many sites. HTTP/1.0 predates it, but two
    // Host headers are refused in any version: which one would we believe?
    let hosts = headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("host"))
        .count();
    if hosts > 1 || (minor_version == 1 && hosts == 0) {
        return Err(RequestError::Reject(Status::BadRequest));
    }

    Ok(Request {
        method: method.to_string(),
        path: path.to_string(),
        query: query.map(str::to_string),
        minor_version,
        headers,
        body: Vec::new(),
    })
}
// ANCHOR_END: check_head

// ANCHOR: split_target
/// Splits a request target into path and query.
///
/// Clients talking to a server directly send the *origin form*
/// (`/api/status?verbose`); clients talking to a proxy send the *absolute
/// form* (`http://example.com/api/status`), and servers must accept both. We
/// drop the scheme and authority of the absolute form and keep its path.
/// Anything else (`*`, which [`check_head`] allows for `OPTIONS` only, or a
/// bare `example.com:443`) is not a path: `None`.
fn split_target(target: &str) -> Option<(&str, Option<&str>)> {
    let origin_form = if target.starts_with('/') {
        target
    } else {
        // Schemes are case-insensitive: `HTTP://` is `http://`.
        let (scheme, rest) = target.split_once("://")?;
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return None;
        }
        match rest.find(['/', '?']) {
            Some(start) if rest[start..].starts_with('/') => &rest[start..],
            // `http://example.com` or `http://example.com?x`: the path is `/`.
            _ => "/",
        }
    };
    Some(match origin_form.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (origin_form, None),
    })
}
// ANCHOR_END: split_target

// ANCHOR: body_framing
/// How the body of `request` is framed, or why we refuse it.
///
/// - `Transfer-Encoding: chunked` (and nothing else): chunks.
/// - `Transfer-Encoding` *and* `Content-Length`: 400. This is request
///   smuggling's front door. If a proxy in front of us believes one header
///   and we believe the other, the two of us disagree about where this
///   request ends, and the attacker's leftover bytes become a "second
///   request" that the proxy never checked. RFC 9112 lets a server refuse
///   the combination; we do, and close the connection.
/// - Codings that do not end with `chunked` (`gzip`, `chunked, gzip`): the
///   body's end cannot be known, 400; `chunked` twice: 400; `chunked` after
///   another coding (`gzip, chunked`): 501 Not Implemented;
///   `Transfer-Encoding` in HTTP/1.0 (which has none): 400.
/// - Otherwise `Content-Length` as in stage 03: no length is no body, except
///   that we insist on one for methods that carry a body (411); a value that
///   is not a plain decimal number, or several that disagree: 400; more than
///   [`MAX_BODY_BYTES`]: 413, before reading a byte of it.
fn body_framing(request: &Request) -> Result<BodyFraming, RequestError> {
    let codings: Vec<String> = request
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("transfer-encoding"))
        .flat_map(|(_, value)| value.split(','))
        .map(|coding| coding.trim().to_ascii_lowercase())
        .collect();
    if !codings.is_empty() {
        if request.header("content-length").is_some() || request.minor_version == 0 {
            return Err(RequestError::Reject(Status::BadRequest));
        }
        // Only `chunked` as the last coding tells us where the body ends
        // (RFC 9112, section 6.3): otherwise 400 and close. `chunked` last
        // with other codings before it (`gzip, chunked`) is well-framed
        // but uses a coding we do not implement: 501.
        let Some((last, earlier)) = codings.split_last() else {
            unreachable!("checked above: there is at least one coding");
        };
        if last != "chunked" {
            return Err(RequestError::Reject(Status::BadRequest));
        }
        // `chunked, chunked` is not a coding we lack but broken framing: a
        // sender must not apply chunked more than once (RFC 9112, 6.1).
        if earlier.iter().any(|coding| coding == "chunked") {
            return Err(RequestError::Reject(Status::BadRequest));
        }
        if !earlier.is_empty() {
            return Err(RequestError::Reject(Status::NotImplemented));
        }
        return Ok(BodyFraming::Chunked);
    }

    let mut announced: Option<u64> = None;
    for (_, value) in request
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("content-length"))
    {
        // `Content-Length: 5, 5` is legal and means 5.
        for item in value.split(',') {
            let length =
                parse_decimal(item.trim()).ok_or(RequestError::Reject(Status::BadRequest))?;
            if announced.is_some_and(|earlier| earlier != length) {
                return Err(RequestError::Reject(Status::BadRequest));
            }
            announced = Some(length);
        }
    }
    match announced {
        None if matches!(request.method.as_str(), "POST" | "PUT" | "PATCH") => {
            Err(RequestError::Reject(Status::LengthRequired))
        }
        None => Ok(BodyFraming::Length(0)),
        Some(length) if length > MAX_BODY_BYTES as u64 => {
            Err(RequestError::Reject(Status::ContentTooLarge))
        }
        Some(length) => Ok(BodyFraming::Length(length as usize)),
    }
}
// ANCHOR_END: body_framing

/// Parses a `Content-Length` value: ASCII digits only. Rust's `parse` would
/// also accept `+5`, which HTTP does not.
fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

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

    impl Source for Interrupting<'_> {
        fn set_read_timeout(&mut self, _timeout: Option<Duration>) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_read_interrupted_by_a_signal_is_tried_again_and_other_errors_end_it() {
        let request = b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
        let read =
            RequestReader::new(Interrupting::new(request)).read_request(Duration::from_secs(5));
        assert_eq!(
            read.map(|request| request.body).ok(),
            Some(b"hello".to_vec())
        );
        let mut reset = Interrupting::new(b"GET / HT");
        reset.then_fail_with = Some(io::ErrorKind::ConnectionReset);
        assert!(matches!(
            RequestReader::new(reset).read_request(Duration::from_secs(5)),
            Err(RequestError::Io(_))
        ));
    }

    #[test]
    fn an_origin_form_target_splits_into_path_and_query() {
        assert_eq!(split_target("/a/b?x=1"), Some(("/a/b", Some("x=1"))));
        assert_eq!(split_target("/"), Some(("/", None)));
    }

    #[test]
    fn an_absolute_form_target_keeps_only_its_path_and_query() {
        assert_eq!(
            split_target("http://example.com/health?x"),
            Some(("/health", Some("x")))
        );
        assert_eq!(split_target("https://example.com"), Some(("/", None)));
        assert_eq!(split_target("HTTP://example.com/a"), Some(("/a", None)));
        assert_eq!(split_target("http://example.com?q"), Some(("/", None)));
    }

    #[test]
    fn targets_in_other_forms_are_refused() {
        assert_eq!(split_target("*"), None);
        assert_eq!(split_target("example.com:443"), None);
        assert_eq!(split_target("ftp://example.com/"), None);
    }

    /// A source of bytes for unit tests; it never times out.
    impl Source for &[u8] {
        fn set_read_timeout(&mut self, _timeout: Option<Duration>) -> io::Result<()> {
            Ok(())
        }
    }

    fn read_one(bytes: &[u8]) -> Result<Request, RequestError> {
        RequestReader::new(bytes).read_request(Duration::from_secs(5))
    }

    fn rejection(bytes: &[u8]) -> Option<u16> {
        match read_one(bytes) {
            Err(RequestError::Reject(status)) => Some(status.code()),
            _ => None,
        }
    }

    /// A request with one header, `X-Pad`, long enough that the whole head
    /// is `length` bytes.
    fn head_of(length: usize) -> Vec<u8> {
        let start = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ";
        let end = b"\r\n\r\n";
        let mut head = start.to_vec();
        head.resize(length - end.len(), b'p');
        head.extend_from_slice(end);
        head
    }

    #[test]
    fn what_real_clients_send_fits_the_caps() {
        // A browser with big cookies sends an 8 KiB head; links with
        // tracking parameters run to 2 KiB; a form post to tens of KiB.
        assert!(read_one(&head_of(8 * 1024)).is_ok());
        let long_url = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "q".repeat(2048));
        assert!(read_one(long_url.as_bytes()).is_ok());
        let mut form =
            b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 40000\r\n\r\n".to_vec();
        form.resize(form.len() + 40_000, b'f');
        assert_eq!(read_one(&form).map(|r| r.body.len()).ok(), Some(40_000));
    }

    #[test]
    fn a_head_of_exactly_the_cap_is_read_and_one_byte_more_gets_431() {
        assert!(read_one(&head_of(MAX_HEAD_BYTES)).is_ok());
        assert_eq!(rejection(&head_of(MAX_HEAD_BYTES + 1)), Some(431));
    }

    #[test]
    fn a_body_of_exactly_the_cap_is_read_and_one_byte_more_gets_413() {
        let post = |length: usize| {
            let mut request =
                format!("POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n")
                    .into_bytes();
            request.resize(request.len() + length, b'b');
            request
        };
        let at_cap = read_one(&post(MAX_BODY_BYTES));
        assert_eq!(at_cap.map(|r| r.body.len()).ok(), Some(MAX_BODY_BYTES));
        assert_eq!(rejection(&post(MAX_BODY_BYTES + 1)), Some(413));
    }

    #[test]
    fn a_target_of_exactly_the_cap_is_accepted_and_one_byte_more_gets_414() {
        let target_of = |length: usize| format!("/{}", "a".repeat(length - 1));
        let request =
            |target: String| format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes();
        let at_cap = read_one(&request(target_of(MAX_TARGET_BYTES)));
        assert_eq!(
            at_cap.map(|request| request.path.len()).ok(),
            Some(MAX_TARGET_BYTES)
        );
        assert_eq!(
            rejection(&request(target_of(MAX_TARGET_BYTES + 1))),
            Some(414)
        );
    }

    #[test]
    fn a_chunked_body_is_decoded_and_extensions_and_trailers_are_ignored() {
        let request = read_one(
            b"POST /api/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
              5;note=first\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: yes\r\n\r\n",
        )
        .expect("a valid chunked request");
        assert_eq!(request.body, b"hello, world");
    }

    #[test]
    fn transfer_encoding_with_content_length_is_refused() {
        let request = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\
                        Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        assert_eq!(rejection(request), Some(400));
    }

    #[test]
    fn codings_that_do_not_end_with_chunked_get_400_and_other_codings_501() {
        for (coding, status) in [
            ("gzip", 400),
            ("chunked, gzip", 400),
            ("identity", 400),
            ("chunked, chunked", 400),
            ("gzip, chunked", 501),
        ] {
            let request =
                format!("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: {coding}\r\n\r\n");
            assert_eq!(rejection(request.as_bytes()), Some(status), "{coding}");
        }
    }

    #[test]
    fn trailers_larger_than_the_head_cap_get_431() {
        // A trailer line of exactly the room left, then one more line: the
        // running total must stop at the cap, never wrap around below zero.
        let mut request =
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n"
                .to_vec();
        request.extend(std::iter::repeat_n(b'X', MAX_HEAD_BYTES));
        request.extend_from_slice(b"\r\nY: z\r\n\r\n");
        assert_eq!(rejection(&request), Some(431));
    }

    #[test]
    fn chunks_that_add_up_past_the_cap_get_413() {
        let mut request =
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        let chunk = vec![b'x'; 0x8000];
        for _ in 0..3 {
            request.extend_from_slice(b"8000\r\n");
            request.extend_from_slice(&chunk);
            request.extend_from_slice(b"\r\n");
        }
        assert_eq!(rejection(&request), Some(413));
    }

    #[test]
    fn malformed_chunks_get_400() {
        for body in [
            "zz\r\nhello\r\n0\r\n\r\n",  // not hexadecimal
            "5\r\nhelloXX0\r\n\r\n",     // no CRLF after the data
            "-5\r\nhello\r\n0\r\n\r\n",  // a sign
            "123456789\r\n",             // nine digits
            "5 x\r\nhello\r\n0\r\n\r\n", // junk after the size
        ] {
            let request =
                format!("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{body}");
            assert_eq!(rejection(request.as_bytes()), Some(400), "{body:?}");
        }
    }

    /// A chunked request whose body is `chunks` (each a size line and data).
    fn chunked(chunks: &[(String, Vec<u8>)]) -> Vec<u8> {
        let mut request =
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for (size_line, data) in chunks {
            request.extend_from_slice(size_line.as_bytes());
            request.extend_from_slice(b"\r\n");
            request.extend_from_slice(data);
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"0\r\n\r\n");
        request
    }

    #[test]
    fn chunks_adding_up_to_exactly_the_cap_are_accepted_and_one_byte_more_gets_413() {
        let half = MAX_BODY_BYTES / 2;
        let exactly = chunked(&[
            (format!("{half:x}"), vec![b'a'; half]),
            (
                format!("{:x}", MAX_BODY_BYTES - half),
                vec![b'b'; MAX_BODY_BYTES - half],
            ),
        ]);
        let body = read_one(&exactly).map(|request| request.body.len());
        assert_eq!(body.ok(), Some(MAX_BODY_BYTES));
        let one_more = chunked(&[
            (format!("{half:x}"), vec![b'a'; half]),
            (
                format!("{:x}", MAX_BODY_BYTES - half + 1),
                vec![b'b'; MAX_BODY_BYTES - half + 1],
            ),
        ]);
        assert_eq!(rejection(&one_more), Some(413));
    }

    #[test]
    fn a_chunk_size_line_of_exactly_its_cap_is_accepted_and_one_byte_more_gets_400() {
        let line_of = |length: usize| format!("5;{}", "e".repeat(length - 2));
        let exactly = chunked(&[(line_of(MAX_CHUNK_LINE_BYTES), b"hello".to_vec())]);
        assert_eq!(
            read_one(&exactly).map(|request| request.body).ok(),
            Some(b"hello".to_vec())
        );
        // The same, a byte at a time: the cap must also hold while the line
        // is still arriving and its end is not in the buffer yet.
        let trickled =
            RequestReader::new(Interrupting::new(&exactly)).read_request(Duration::from_secs(5));
        assert_eq!(
            trickled.map(|request| request.body).ok(),
            Some(b"hello".to_vec())
        );
        let one_more = chunked(&[(line_of(MAX_CHUNK_LINE_BYTES + 1), b"hello".to_vec())]);
        assert_eq!(rejection(&one_more), Some(400));
    }

    #[test]
    fn one_byte_chunks_eight_digit_sizes_and_blanks_before_an_extension_are_read() {
        for body in [
            "1\r\nh\r\n1\r\ni\r\n0\r\n\r\n",  // one byte at a time
            "00000002\r\nhi\r\n0\r\n\r\n",    // eight digits, the most we take
            "2 \t;note=x\r\nhi\r\n0\r\n\r\n", // blanks before the `;`
        ] {
            let request =
                format!("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{body}");
            let read = read_one(request.as_bytes()).map(|request| request.body);
            assert_eq!(read.ok(), Some(b"hi".to_vec()), "{body:?}");
            // And a byte at a time, so every "read more" path runs.
            let trickled = RequestReader::new(Interrupting::new(request.as_bytes()))
                .read_request(Duration::from_secs(5))
                .map(|request| request.body);
            assert_eq!(trickled.ok(), Some(b"hi".to_vec()), "{body:?}");
        }
    }

    #[test]
    fn trailers_up_to_the_head_cap_are_read_and_one_byte_more_gets_431() {
        // A trailer line and its CRLF, leaving `room` bytes of the cap for
        // the empty line that ends the trailers.
        let with_trailer = |room: usize| {
            let mut request =
                b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n"
                    .to_vec();
            request.extend(std::iter::repeat_n(b'T', MAX_HEAD_BYTES - 2 - room));
            request.extend_from_slice(b"\r\n\r\n");
            request
        };
        let with_room = read_one(&with_trailer(1)).map(|request| request.body);
        assert_eq!(with_room.ok(), Some(b"hi".to_vec()));
        let trickled = RequestReader::new(Interrupting::new(&with_trailer(1)))
            .read_request(Duration::from_secs(5))
            .map(|request| request.body);
        assert_eq!(trickled.ok(), Some(b"hi".to_vec()));
        assert_eq!(rejection(&with_trailer(0)), Some(431));
    }

    #[test]
    fn an_empty_chunk_size_line_is_refused() {
        assert_eq!(parse_chunk_size(b""), None);
        assert_eq!(parse_chunk_size(b";ext"), None);
        let request = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\r\n\r\n";
        assert_eq!(rejection(request), Some(400));
    }

    #[test]
    fn a_chunk_size_line_longer_than_its_cap_gets_400() {
        let long_extension = "a".repeat(MAX_CHUNK_LINE_BYTES);
        let request = format!(
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;{long_extension}\r\nhello\r\n0\r\n\r\n"
        );
        assert_eq!(rejection(request.as_bytes()), Some(400));
    }

    #[test]
    fn transfer_encoding_in_http_1_0_is_refused() {
        let request = b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        assert_eq!(rejection(request), Some(400));
    }

    #[test]
    fn content_length_accepts_only_plain_digits() {
        assert_eq!(parse_decimal("42"), Some(42));
        for bad in ["", "+5", "-1", "0x10", "1 2", "99999999999999999999999"] {
            assert_eq!(parse_decimal(bad), None, "{bad:?}");
        }
    }
}
