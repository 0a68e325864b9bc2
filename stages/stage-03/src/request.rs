//! Bytes in → [`Request`]: read the head (as in stage 02), check it the way
//! HTTP/1.1 requires, then read the body that `Content-Length` announces.
//!
//! Everything a client controls is capped here, before it costs us memory:
//! the head ([`MAX_HEAD_BYTES`], [`MAX_HEADERS`]), the target
//! ([`MAX_TARGET_BYTES`]) and the body ([`MAX_BODY_BYTES`]).

use std::io::{self, ErrorKind, Read};

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
/// `Content-Length` *before* reading, so an oversized body is never read.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
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
    /// The body, exactly `Content-Length` bytes (empty without one).
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
}
// ANCHOR_END: request

// ANCHOR: request_error
/// Why we have no request to route.
#[derive(Debug)]
pub enum RequestError {
    /// The client hung up before sending a whole request: nobody to answer.
    ClosedEarly,
    /// The request is not acceptable: answer with this status and close.
    Reject(Status),
    /// The socket itself failed (the peer reset the connection, say).
    Io(io::Error),
}
// ANCHOR_END: request_error

// ANCHOR: read_request
/// Reads one whole request from `stream`: head, checks, body.
pub fn read_request(stream: &mut impl Read) -> Result<Request, RequestError> {
    let (mut request, leftover) = read_request_head(stream)?;
    let body_length = body_length(&request)?;
    request.body = read_body(stream, leftover, body_length)?;
    Ok(request)
}
// ANCHOR_END: read_request

/// Reads until the buffered bytes form a complete head (the loop of stage
/// 02), then turns the head into a [`Request`] with an empty body. Also
/// returns the bytes that arrived after the head: the start of the body.
fn read_request_head(stream: &mut impl Read) -> Result<(Request, Vec<u8>), RequestError> {
    let mut buffer = Vec::with_capacity(READ_CHUNK_BYTES);
    let mut chunk = [0u8; READ_CHUNK_BYTES];
    loop {
        let room = MAX_HEAD_BYTES - buffer.len();
        if room == 0 {
            return Err(RequestError::Reject(Status::RequestHeaderFieldsTooLarge));
        }
        let wanted = room.min(chunk.len());
        let received = match stream.read(&mut chunk[..wanted]) {
            Ok(0) => return Err(RequestError::ClosedEarly),
            Ok(received) => received,
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) => return Err(RequestError::Io(error)),
        };
        buffer.extend_from_slice(&chunk[..received]);

        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut headers);
        match parsed.parse(&buffer) {
            Ok(httparse::Status::Complete(head_length)) => {
                let request = check_head(&parsed)?;
                return Ok((request, buffer[head_length..].to_vec()));
            }
            Ok(httparse::Status::Partial) => continue,
            Err(httparse::Error::TooManyHeaders) => {
                return Err(RequestError::Reject(Status::RequestHeaderFieldsTooLarge))
            }
            Err(_) => return Err(RequestError::Reject(Status::BadRequest)),
        }
    }
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

// ANCHOR: body_length
/// How many body bytes follow the head, from `Content-Length`.
///
/// - No `Content-Length`: no body, except that we insist on a length for
///   methods that carry one (`411 Length Required`), so a client cannot
///   leave us guessing.
/// - `Transfer-Encoding` (a body in chunks of unannounced total size): also
///   411. Shortcut: stage 06 decodes chunked bodies.
/// - A value that is not a plain decimal number, or several `Content-Length`
///   values that disagree: 400. Two different lengths is how request
///   smuggling starts (two servers reading the same bytes differently).
/// - More than [`MAX_BODY_BYTES`]: 413, before reading a byte of it.
fn body_length(request: &Request) -> Result<usize, RequestError> {
    if request.header("transfer-encoding").is_some() {
        return Err(RequestError::Reject(Status::LengthRequired));
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
        None => Ok(0),
        Some(length) if length > MAX_BODY_BYTES as u64 => {
            Err(RequestError::Reject(Status::ContentTooLarge))
        }
        Some(length) => Ok(length as usize),
    }
}
// ANCHOR_END: body_length

/// Parses a `Content-Length` value: ASCII digits only. Rust's `parse` would
/// also accept `+5`, which HTTP does not.
fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

// ANCHOR: read_body
/// Reads exactly `length` body bytes: first the ones that arrived with the
/// head, then the rest from the socket.
fn read_body(
    stream: &mut impl Read,
    mut leftover: Vec<u8>,
    length: usize,
) -> Result<Vec<u8>, RequestError> {
    // Bytes beyond the body would be the next request on this connection;
    // we close after one request (stage 05 keeps connections open).
    leftover.truncate(length);
    let already = leftover.len();
    leftover.resize(length, 0);
    match stream.read_exact(&mut leftover[already..]) {
        Ok(()) => Ok(leftover),
        Err(error) if error.kind() == ErrorKind::UnexpectedEof => Err(RequestError::ClosedEarly),
        Err(error) => Err(RequestError::Io(error)),
    }
}
// ANCHOR_END: read_body

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
        let request = b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
        let read = read_request(&mut Interrupting::new(request));
        assert_eq!(
            read.map(|request| request.body).ok(),
            Some(b"hello".to_vec())
        );
        let mut reset = Interrupting::new(b"GET / HT");
        reset.then_fail_with = Some(io::ErrorKind::ConnectionReset);
        assert!(matches!(read_request(&mut reset), Err(RequestError::Io(_))));
        // A reset inside the body is an error too, not a polite hang-up.
        let mut reset =
            Interrupting::new(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhe");
        reset.then_fail_with = Some(io::ErrorKind::ConnectionReset);
        assert!(matches!(read_request(&mut reset), Err(RequestError::Io(_))));
    }

    #[test]
    fn a_client_that_hangs_up_inside_the_body_closed_early() {
        let request = b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc";
        assert!(matches!(
            read_request(&mut &request[..]),
            Err(RequestError::ClosedEarly)
        ));
    }

    /// The status a request is refused with, if it is.
    fn rejection(bytes: &[u8]) -> Option<Status> {
        match read_request(&mut &bytes[..]) {
            Err(RequestError::Reject(status)) => Some(status),
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
        assert!(read_request(&mut &head_of(8 * 1024)[..]).is_ok());
        let long_url = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "q".repeat(2048));
        assert!(read_request(&mut long_url.as_bytes()).is_ok());
        let mut form =
            b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 40000\r\n\r\n".to_vec();
        form.resize(form.len() + 40_000, b'f');
        assert_eq!(
            read_request(&mut &form[..]).map(|r| r.body.len()).ok(),
            Some(40_000)
        );
    }

    #[test]
    fn a_head_of_exactly_the_cap_is_read_and_one_byte_more_gets_431() {
        assert!(read_request(&mut &head_of(MAX_HEAD_BYTES)[..]).is_ok());
        assert_eq!(
            rejection(&head_of(MAX_HEAD_BYTES + 1)),
            Some(Status::RequestHeaderFieldsTooLarge)
        );
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
        let at_cap = read_request(&mut &post(MAX_BODY_BYTES)[..]);
        assert_eq!(at_cap.map(|r| r.body.len()).ok(), Some(MAX_BODY_BYTES));
        assert_eq!(
            rejection(&post(MAX_BODY_BYTES + 1)),
            Some(Status::ContentTooLarge)
        );
    }

    #[test]
    fn a_target_of_exactly_the_cap_is_accepted_and_one_byte_more_gets_414() {
        let target_of = |length: usize| format!("/{}", "a".repeat(length - 1));
        let request =
            |target: String| format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes();
        let at_cap = read_request(&mut &request(target_of(MAX_TARGET_BYTES))[..]);
        assert_eq!(
            at_cap.map(|request| request.path.len()).ok(),
            Some(MAX_TARGET_BYTES)
        );
        assert_eq!(
            rejection(&request(target_of(MAX_TARGET_BYTES + 1))),
            Some(Status::UriTooLong)
        );
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

    #[test]
    fn content_length_accepts_only_plain_digits() {
        assert_eq!(parse_decimal("42"), Some(42));
        for bad in ["", "+5", "-1", "0x10", "1 2", "99999999999999999999999"] {
            assert_eq!(parse_decimal(bad), None, "{bad:?}");
        }
    }
}
