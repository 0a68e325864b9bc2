//! Bytes in → [`Request`]: parse the head (`httparse` tokenises it), check
//! it the way HTTP/1.1 requires, then take the body, framed by
//! `Content-Length` or sent in chunks ([`super::chunked`]).
//!
//! This module does no I/O. A [`RequestParser`] is fed the bytes the event
//! loop has read, and says "a request", "not yet" (`Ok(None)`) or "refused"
//! ([`ParseError`], which knows its status code). `Transfer-Encoding`
//! together with `Content-Length`, or a coding we do not know, is refused
//! (that is where request smuggling lives), and
//! [`RequestParser::path_being_read`] lets an error about a request for the
//! API be answered as JSON. The deadline that stops a slowloris client is
//! the event loop's ([`crate::event_loop::timers`]).
//!
//! Everything a client controls is capped here, before it costs us memory:
//! the head ([`MAX_HEAD_BYTES`], [`MAX_HEADERS`]), the target
//! ([`MAX_TARGET_BYTES`]), the body ([`MAX_BODY_BYTES`]) and each chunk-size
//! line ([`super::chunked::MAX_CHUNK_LINE_BYTES`]). Chapters 2, 3 and 6
//! explain the rules; chapter 11, a parser that does no I/O.

use super::chunked::{ChunkError, ChunkedBody};
use super::{Request, Status};

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
// ANCHOR_END: limits

// ANCHOR: parse_error
/// Why a request is refused. Each reason has its status code; after any of
/// them we close the connection (we cannot know where the next request
/// would start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Not a request as RFC 9112 writes one, or no single `Host` (400).
    Malformed,
    /// A head over [`MAX_HEAD_BYTES`] or [`MAX_HEADERS`] lines (431).
    HeadTooLarge,
    /// A target over [`MAX_TARGET_BYTES`] (414).
    TargetTooLong,
    /// A body whose end two parsers could disagree about: `Transfer-Encoding`
    /// with `Content-Length`, or in HTTP/1.0, codings not ending in
    /// `chunked`, lengths that are not plain numbers or that differ (400).
    BadFraming,
    /// A coding before `chunked` that we do not implement (501).
    UnknownCoding,
    /// `POST`, `PUT` or `PATCH` with no length (411).
    LengthRequired,
    /// An announced body over [`MAX_BODY_BYTES`] (413).
    BodyTooLarge,
    /// A chunked body we refuse.
    Chunked(ChunkError),
}

impl ParseError {
    /// The status we answer with.
    pub fn status(self) -> Status {
        match self {
            ParseError::Malformed | ParseError::BadFraming => Status::BadRequest,
            ParseError::HeadTooLarge => Status::RequestHeaderFieldsTooLarge,
            ParseError::TargetTooLong => Status::UriTooLong,
            ParseError::UnknownCoding => Status::NotImplemented,
            ParseError::LengthRequired => Status::LengthRequired,
            ParseError::BodyTooLarge => Status::ContentTooLarge,
            ParseError::Chunked(error) => error.status(),
        }
    }
}

impl From<ChunkError> for ParseError {
    fn from(error: ChunkError) -> Self {
        ParseError::Chunked(error)
    }
}
// ANCHOR_END: parse_error

// ANCHOR: parser
/// Turns the bytes of one connection into requests, one after another,
/// without doing any I/O itself: the event loop reads whatever the socket
/// has, appends it to the connection's buffer, and asks
/// [`RequestParser::parse`] whether a whole request is there yet.
///
/// "Not enough bytes yet" is an ordinary answer, `Ok(None)`, as in
/// mini-redis's `Connection::parse_frame`. The parser takes what it has
/// understood off the front of the buffer, so the buffer never holds much
/// more than the piece being waited for: a head, a body or one chunk, a
/// line. Whatever follows a request (the next, pipelined one) stays in the
/// buffer for the next call.
#[derive(Debug, Default)]
pub struct RequestParser {
    state: State,
    /// The path of the request being parsed, once its head has arrived.
    path_being_read: Option<String>,
    /// The request's client waits for `100 Continue` before it sends the
    /// body (see [`RequestParser::take_continue`]).
    continue_wanted: bool,
}

/// Where in a request the parser is.
#[derive(Debug, Default)]
enum State {
    /// Waiting for a complete head.
    #[default]
    Head,
    /// The head is parsed; waiting for `length` body bytes.
    Body { request: Request, length: usize },
    /// The head is parsed; decoding a chunked body.
    Chunked { request: Request, body: ChunkedBody },
}

/// How a request says where its body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyFraming {
    Length(usize),
    Chunked,
}

impl RequestParser {
    pub fn new() -> Self {
        RequestParser::default()
    }

    /// True between requests: no part of a next request has been parsed
    /// yet (its first bytes may already be in the caller's buffer).
    pub fn is_between_requests(&self) -> bool {
        matches!(self.state, State::Head)
    }

    /// Once a request's head has been parsed and until the request is
    /// complete, the path it is for: if the request is then refused, the
    /// caller answers as JSON when the path is under `/api/`.
    pub fn path_being_read(&self) -> Option<&str> {
        self.path_being_read.as_deref()
    }

    /// Takes one whole request off the front of `buffer`, if it is there:
    /// `Ok(Some(request))`; `Ok(None)`: not yet, call again when more bytes
    /// arrive; `Err(reason)`: refused.
    pub fn parse(&mut self, buffer: &mut Vec<u8>) -> Result<Option<Request>, ParseError> {
        loop {
            // Take the state out (leaving `Head`) and put back the next one.
            // After an error the state does not matter: we close.
            self.state = match std::mem::take(&mut self.state) {
                State::Head => match parse_head(buffer)? {
                    None => return Ok(None),
                    Some((request, head_length)) => {
                        self.path_being_read = Some(request.path.clone());
                        let framing = body_framing(&request)?;
                        buffer.drain(..head_length);
                        self.continue_wanted =
                            framing != BodyFraming::Length(0) && request.expects_continue();
                        match framing {
                            BodyFraming::Length(length) => State::Body { request, length },
                            BodyFraming::Chunked => State::Chunked {
                                request,
                                // Trailers share the head's cap.
                                body: ChunkedBody::new(MAX_BODY_BYTES, MAX_HEAD_BYTES),
                            },
                        }
                    }
                },
                State::Body {
                    mut request,
                    length,
                } => {
                    if buffer.len() < length {
                        self.state = State::Body { request, length };
                        return Ok(None);
                    }
                    request.body = buffer.drain(..length).collect();
                    return Ok(Some(self.finish(request)));
                }
                State::Chunked {
                    mut request,
                    mut body,
                } => match body.feed(buffer)? {
                    None => {
                        self.state = State::Chunked { request, body };
                        return Ok(None);
                    }
                    Some(decoded) => {
                        request.body = decoded;
                        return Ok(Some(self.finish(request)));
                    }
                },
            };
        }
    }

    // ANCHOR: take_continue
    /// True once, if the request whose head was just parsed said
    /// `Expect: 100-continue` and its body has not arrived: its client
    /// waits for an interim `100 Continue` before sending the body (curl
    /// does for bodies over 1 KiB, for up to a second). RFC 9110, section
    /// 10.1.1: a server must then answer at once, with `100 Continue` or a
    /// final status. A refusal we can make from the head alone (413, 411,
    /// 400) comes out of [`RequestParser::parse`] as an error instead, and
    /// the client never sends the body.
    pub fn take_continue(&mut self) -> bool {
        std::mem::take(&mut self.continue_wanted)
    }
    // ANCHOR_END: take_continue

    /// A request is complete: the next one starts from scratch.
    fn finish(&mut self, request: Request) -> Request {
        self.path_being_read = None;
        // The body is here: whatever the client waited for, it stopped.
        self.continue_wanted = false;
        request
    }
}
// ANCHOR_END: parser

/// Parses a complete head at the front of `buffer`: the request (with an
/// empty body) and the head's length, or `None` while it is incomplete.
fn parse_head(buffer: &[u8]) -> Result<Option<(Request, usize)>, ParseError> {
    if buffer.is_empty() {
        return Ok(None);
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(buffer) {
        // One read can bring a whole head longer than the cap at once.
        Ok(httparse::Status::Complete(head_length)) if head_length > MAX_HEAD_BYTES => {
            Err(ParseError::HeadTooLarge)
        }
        Ok(httparse::Status::Complete(head_length)) => {
            Ok(Some((check_head(&parsed)?, head_length)))
        }
        // Incomplete, and already as long as a head may be: it never will be.
        Ok(httparse::Status::Partial) if buffer.len() >= MAX_HEAD_BYTES => {
            Err(ParseError::HeadTooLarge)
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(ParseError::HeadTooLarge),
        Err(_) => Err(ParseError::Malformed),
    }
}

// ANCHOR: check_head
/// Turns a complete head into a [`Request`], refusing what HTTP/1.1 forbids.
fn check_head(parsed: &httparse::Request) -> Result<Request, ParseError> {
    // `Complete` guarantees these three are present.
    let method = parsed.method.unwrap_or_default();
    let target = parsed.path.unwrap_or_default();
    let minor_version = parsed.version.unwrap_or_default();

    if target.len() > MAX_TARGET_BYTES {
        return Err(ParseError::TargetTooLong);
    }
    // `OPTIONS *` asks about the server as a whole (the asterisk form, RFC
    // 9112, section 3.2.4); an asterisk with any other method means nothing.
    let (path, query) = if target == "*" && method == "OPTIONS" {
        ("*", None)
    } else {
        split_target(target).ok_or(ParseError::Malformed)?
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
        return Err(ParseError::Malformed);
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
/// - Otherwise `Content-Length`: no length is no body, except that we
///   insist on one for methods that carry a body (411); a value that is not
///   a plain decimal number, or several that disagree: 400; more than
///   [`MAX_BODY_BYTES`]: 413, before reading a byte of it.
fn body_framing(request: &Request) -> Result<BodyFraming, ParseError> {
    let codings: Vec<String> = request
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("transfer-encoding"))
        .flat_map(|(_, value)| value.split(','))
        .map(|coding| coding.trim().to_ascii_lowercase())
        .collect();
    if !codings.is_empty() {
        if request.header("content-length").is_some() || request.minor_version == 0 {
            return Err(ParseError::BadFraming);
        }
        // Only `chunked` as the last coding tells us where the body ends
        // (RFC 9112, section 6.3): otherwise 400 and close. `chunked` last
        // with other codings before it (`gzip, chunked`) is well-framed
        // but uses a coding we do not implement: 501.
        let Some((last, earlier)) = codings.split_last() else {
            unreachable!("checked above: there is at least one coding");
        };
        if last != "chunked" {
            return Err(ParseError::BadFraming);
        }
        // `chunked, chunked` is not a coding we lack but broken framing: a
        // sender must not apply chunked more than once (RFC 9112, 6.1).
        if earlier.iter().any(|coding| coding == "chunked") {
            return Err(ParseError::BadFraming);
        }
        if !earlier.is_empty() {
            return Err(ParseError::UnknownCoding);
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
            let length = parse_decimal(item.trim()).ok_or(ParseError::BadFraming)?;
            if announced.is_some_and(|earlier| earlier != length) {
                return Err(ParseError::BadFraming);
            }
            announced = Some(length);
        }
    }
    match announced {
        None if matches!(request.method.as_str(), "POST" | "PUT" | "PATCH") => {
            Err(ParseError::LengthRequired)
        }
        None => Ok(BodyFraming::Length(0)),
        Some(length) if length > MAX_BODY_BYTES as u64 => Err(ParseError::BodyTooLarge),
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
    use crate::http::chunked::MAX_CHUNK_LINE_BYTES;

    /// Feeds `bytes` one at a time, as the slowest client would send them,
    /// asking for a request after each: every "not yet" path runs.
    fn trickle(bytes: &[u8]) -> Result<Request, Status> {
        let mut parser = RequestParser::new();
        let mut buffer = Vec::new();
        for &byte in bytes {
            buffer.push(byte);
            if let Some(request) = parser.parse(&mut buffer).map_err(ParseError::status)? {
                return Ok(request);
            }
        }
        // Everything sent and still no request: it would time out.
        Err(Status::RequestTimeout)
    }

    #[test]
    fn incomplete_is_not_an_error_and_what_follows_a_request_is_kept() {
        let mut parser = RequestParser::new();
        let mut buffer = b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Len".to_vec();
        assert_eq!(parser.parse(&mut buffer), Ok(None));
        assert!(parser.is_between_requests(), "no head yet");
        buffer.extend_from_slice(b"gth: 5\r\n\r\nhel");
        assert_eq!(parser.parse(&mut buffer), Ok(None));
        assert_eq!(parser.path_being_read(), Some("/api/echo"));
        assert!(!parser.is_between_requests(), "in the body");
        buffer.extend_from_slice(b"loGET / HTTP/1.1\r\n");
        let request = parser.parse(&mut buffer).expect("valid").expect("complete");
        assert_eq!(request.body, b"hello");
        assert_eq!(
            buffer, b"GET / HTTP/1.1\r\n",
            "the next request's start is kept"
        );
        assert_eq!(parser.path_being_read(), None);
        assert!(parser.is_between_requests());
    }

    #[test]
    fn expect_100_continue_is_announced_once_and_only_while_the_body_is_missing() {
        let head = |version: &str, expect: &str| {
            format!(
                "POST /api/echo HTTP/1.{version}\r\nHost: x\r\nContent-Length: 5\r\n{expect}\r\n"
            )
            .into_bytes()
        };
        let mut parser = RequestParser::new();
        let mut buffer = head("1", "Expect: 100-Continue\r\n");
        assert_eq!(parser.parse(&mut buffer), Ok(None));
        assert!(parser.take_continue(), "the client waits: tell it to send");
        assert!(!parser.take_continue(), "once");
        buffer.extend_from_slice(b"hello");
        assert!(matches!(parser.parse(&mut buffer), Ok(Some(_))));
        // The body came with the head: nobody is waiting.
        let mut parser = RequestParser::new();
        let mut buffer = head("1", "Expect: 100-continue\r\n");
        buffer.extend_from_slice(b"hello");
        assert!(matches!(parser.parse(&mut buffer), Ok(Some(_))));
        assert!(!parser.take_continue());
        // HTTP/1.0 has no interim answers; no Expect, no 100.
        for (version, expect) in [("0", "Expect: 100-continue\r\n"), ("1", "")] {
            let mut parser = RequestParser::new();
            assert_eq!(parser.parse(&mut head(version, expect)), Ok(None));
            assert!(!parser.take_continue(), "HTTP/1.{version} {expect:?}");
        }
    }

    #[test]
    fn a_request_fed_a_byte_at_a_time_is_the_same_request() {
        let request = b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
        assert_eq!(trickle(request), read_one(request));
        assert_eq!(
            trickle(request).map(|request| request.body),
            Ok(b"hello".to_vec())
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

    /// Parses `bytes` given all at once.
    fn read_one(bytes: &[u8]) -> Result<Request, Status> {
        let mut buffer = bytes.to_vec();
        let parsed = RequestParser::new()
            .parse(&mut buffer)
            .map_err(ParseError::status)?;
        // Everything sent and still no request: it would time out.
        parsed.ok_or(Status::RequestTimeout)
    }

    fn rejection(bytes: &[u8]) -> Option<u16> {
        read_one(bytes).err().map(Status::code)
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
        let trickled = trickle(&exactly);
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
            let trickled = trickle(request.as_bytes()).map(|request| request.body);
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
        let trickled = trickle(&with_trailer(1)).map(|request| request.body);
        assert_eq!(trickled.ok(), Some(b"hi".to_vec()));
        assert_eq!(rejection(&with_trailer(0)), Some(431));
    }

    #[test]
    fn an_empty_chunk_size_line_is_refused() {
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
