//! Bodies sent with `Transfer-Encoding: chunked`, decoded from bytes fed in,
//! without any I/O: [`ChunkedBody::feed`] says "the body" or "not yet"
//! (`Ok(None)`), like the request parser it belongs to.
//!
//! ```text
//! 5\r\n          a chunk of 5 bytes (the size is hexadecimal)
//! hello\r\n
//! 0\r\n          the last chunk has size 0
//! \r\n           then optional trailer lines, then an empty line
//! ```
//!
//! Every piece is capped: a size line by [`MAX_CHUNK_LINE_BYTES`], the sum
//! of the chunks by the body cap, the trailers by the head cap. Extensions
//! and trailers are read and ignored.

use super::Status;

/// The longest chunk-size line (`1a2b;name=value`) we accept; a longer one
/// gets `400 Bad Request`.
pub const MAX_CHUNK_LINE_BYTES: usize = 1024;

// ANCHOR: chunk_error
/// Why a chunked body is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkError {
    /// A size line that is not hexadecimal digits and an optional
    /// extension, or a chunk not followed by CRLF.
    Malformed,
    /// A size line longer than [`MAX_CHUNK_LINE_BYTES`].
    LineTooLong,
    /// The chunks add up to more than the body cap.
    TooLarge,
    /// The trailer lines add up to more than the head cap.
    TrailersTooLarge,
}

impl ChunkError {
    /// The status we answer with.
    pub fn status(self) -> Status {
        match self {
            ChunkError::Malformed | ChunkError::LineTooLong => Status::BadRequest,
            ChunkError::TooLarge => Status::ContentTooLarge,
            ChunkError::TrailersTooLarge => Status::RequestHeaderFieldsTooLarge,
        }
    }
}
// ANCHOR_END: chunk_error

/// A chunked body being decoded.
#[derive(Debug)]
pub struct ChunkedBody {
    max_body: usize,
    max_trailers: usize,
    state: State,
    body: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for a chunk-size line.
    Size,
    /// Waiting for this many bytes of chunk data and their CRLF.
    Data(usize),
    /// After the last chunk: trailer lines, this many bytes so far, until
    /// an empty line.
    Trailers(usize),
}

impl ChunkedBody {
    /// A decoder that refuses a body over `max_body` bytes, or trailers over
    /// `max_trailers`.
    pub fn new(max_body: usize, max_trailers: usize) -> Self {
        ChunkedBody {
            max_body,
            max_trailers,
            state: State::Size,
            body: Vec::new(),
        }
    }

    /// Decodes what it can from the front of `buffer`, taking what it has
    /// understood off it. `Ok(Some(body))` once the body is complete
    /// (whatever follows stays in `buffer`); `Ok(None)` until then.
    pub fn feed(&mut self, buffer: &mut Vec<u8>) -> Result<Option<Vec<u8>>, ChunkError> {
        loop {
            self.state = match self.state {
                State::Size => {
                    let Some(line) =
                        take_line(buffer, MAX_CHUNK_LINE_BYTES, ChunkError::LineTooLong)?
                    else {
                        return Ok(None);
                    };
                    let size = parse_chunk_size(&line).ok_or(ChunkError::Malformed)?;
                    if size == 0 {
                        State::Trailers(0)
                    } else if size > self.max_body - self.body.len() {
                        return Err(ChunkError::TooLarge);
                    } else {
                        State::Data(size)
                    }
                }
                State::Data(size) => {
                    // The chunk's bytes, then the CRLF that ends every chunk.
                    if buffer.len() < size + 2 {
                        return Ok(None);
                    }
                    if &buffer[size..size + 2] != b"\r\n" {
                        return Err(ChunkError::Malformed);
                    }
                    self.body.extend(buffer.drain(..size));
                    buffer.drain(..2);
                    State::Size
                }
                State::Trailers(so_far) => {
                    let room = self.max_trailers.saturating_sub(so_far);
                    if room == 0 {
                        return Err(ChunkError::TrailersTooLarge);
                    }
                    match take_line(buffer, room, ChunkError::TrailersTooLarge)? {
                        None => return Ok(None),
                        Some(line) if line.is_empty() => {
                            return Ok(Some(std::mem::take(&mut self.body)))
                        }
                        Some(line) => State::Trailers(so_far + line.len() + 2),
                    }
                }
            };
        }
    }
}

/// Takes one line ending in CRLF (without the CRLF) off the front of
/// `buffer`, or `None` if its end has not arrived yet. A line longer than
/// `max` bytes is refused with `too_long`.
fn take_line(
    buffer: &mut Vec<u8>,
    max: usize,
    too_long: ChunkError,
) -> Result<Option<Vec<u8>>, ChunkError> {
    if let Some(end) = buffer.windows(2).position(|pair| pair == b"\r\n") {
        if end > max {
            return Err(too_long);
        }
        let line = buffer[..end].to_vec();
        buffer.drain(..end + 2);
        return Ok(Some(line));
    }
    // No CRLF yet. `max` bytes and a CR may still be a line of exactly
    // `max` bytes whose LF is on its way; one byte more cannot be.
    if buffer.len() > max + 1 {
        return Err(too_long);
    }
    Ok(None)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_size_line_is_hex_digits_then_nothing_or_an_extension() {
        assert_eq!(parse_chunk_size(b"1a"), Some(26));
        assert_eq!(parse_chunk_size(b"00000002"), Some(2));
        assert_eq!(parse_chunk_size(b"2 \t;note=x"), Some(2));
        for bad in [&b""[..], b";ext", b"-5", b"123456789", b"5 x", b"zz"] {
            assert_eq!(parse_chunk_size(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_body_fed_a_byte_at_a_time_comes_out_whole_and_leaves_what_follows() {
        let encoded = b"5;x=y\r\nhello\r\n7\r\n, world\r\n0\r\nT: z\r\n\r\nNEXT";
        let mut decoder = ChunkedBody::new(100, 100);
        let mut buffer = Vec::new();
        let mut body = None;
        for &byte in encoded.iter() {
            buffer.push(byte);
            if let Some(done) = decoder.feed(&mut buffer).expect("valid") {
                body = Some(done);
                break;
            }
        }
        assert_eq!(body.as_deref(), Some(&b"hello, world"[..]));
        assert_eq!(buffer, b"", "nothing of the next request read yet");
    }

    #[test]
    fn each_cap_has_its_own_error_and_status() {
        let feed = |max_body, max_trailers, encoded: &[u8]| {
            ChunkedBody::new(max_body, max_trailers).feed(&mut encoded.to_vec())
        };
        assert_eq!(feed(4, 100, b"5\r\nhello\r\n"), Err(ChunkError::TooLarge));
        assert_eq!(
            feed(5, 100, b"5\r\nhello\r\n0\r\n\r\n"),
            Ok(Some(b"hello".to_vec()))
        );
        assert_eq!(
            feed(5, 4, b"0\r\nXYZ\r\n\r\n"),
            Err(ChunkError::TrailersTooLarge)
        );
        assert_eq!(feed(5, 100, b"5\r\nhelloXX"), Err(ChunkError::Malformed));
        let long = format!("5;{}\r\n", "e".repeat(MAX_CHUNK_LINE_BYTES));
        assert_eq!(feed(5, 100, long.as_bytes()), Err(ChunkError::LineTooLong));
        assert_eq!(ChunkError::TooLarge.status(), Status::ContentTooLarge);
        assert_eq!(
            ChunkError::TrailersTooLarge.status(),
            Status::RequestHeaderFieldsTooLarge
        );
        assert_eq!(ChunkError::LineTooLong.status(), Status::BadRequest);
        assert_eq!(ChunkError::Malformed.status(), Status::BadRequest);
    }
}
