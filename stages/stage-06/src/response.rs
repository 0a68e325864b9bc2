//! [`Response`] → bytes out: a status line, headers, a blank line, a body.
//!
//! New since stage 05: only the reason phrases for 408, 501 and 503.

use std::fs::File;
use std::io::{self, Read, Write};
use std::time::SystemTime;

// ANCHOR: response
/// One HTTP response. `Content-Length`, `Date` and `Connection` are added by
/// [`Response::write_to`], so a handler cannot get them wrong.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
}

/// What follows the head: bytes we already have, or a file to stream.
#[derive(Debug)]
pub enum Body {
    Bytes(Vec<u8>),
    /// An open file and how many bytes of it we announced. A 1 GiB file
    /// costs us a file descriptor and a small copy buffer, not 1 GiB of RAM.
    File {
        file: File,
        length: u64,
    },
}
// ANCHOR_END: response

impl Body {
    /// The number of bytes this body will send: its `Content-Length`.
    pub fn length(&self) -> u64 {
        match self {
            Body::Bytes(bytes) => bytes.len() as u64,
            Body::File { length, .. } => *length,
        }
    }
}

impl Response {
    /// A response with a body of the given media type.
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            headers: vec![("Content-Type", content_type.to_string())],
            body: Body::Bytes(body.into()),
        }
    }

    /// A response that streams `length` bytes of `file`.
    pub fn file(status: u16, content_type: &str, file: File, length: u64) -> Self {
        Response {
            status,
            headers: vec![("Content-Type", content_type.to_string())],
            body: Body::File { file, length },
        }
    }

    /// A plain-text response.
    pub fn text(status: u16, body: &str) -> Self {
        Response::new(status, "text/plain; charset=utf-8", body)
    }

    /// A JSON response. (We write JSON by hand until stage 07 adds serde.)
    pub fn json(status: u16, body: &str) -> Self {
        Response::new(status, "application/json", body)
    }

    /// An error response whose body is the status's reason phrase.
    pub fn error(status: u16) -> Self {
        Response::text(status, &format!("{}\n", reason_phrase(status)))
    }

    /// The same response with one more header.
    pub fn with_header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_string()));
        self
    }

    // ANCHOR: write_to
    /// Writes the response in HTTP/1.1 wire format. With `send_body` false
    /// (a `HEAD` request) the headers are identical, `Content-Length`
    /// included, but the body is left out. `keep_alive` says whether the
    /// connection stays open for another request.
    pub fn write_to(
        self,
        out: &mut impl Write,
        send_body: bool,
        keep_alive: bool,
    ) -> io::Result<()> {
        let mut head = Vec::with_capacity(256);
        let reason = reason_phrase(self.status);
        write!(head, "HTTP/1.1 {} {reason}\r\n", self.status)?;
        // Servers with a clock must send Date (RFC 9110, section 6.6.1).
        write!(
            head,
            "Date: {}\r\n",
            httpdate::fmt_http_date(SystemTime::now())
        )?;
        for (name, value) in &self.headers {
            write!(head, "{name}: {value}\r\n")?;
        }
        write!(head, "Content-Length: {}\r\n", self.body.length())?;
        // With keep-alive, `Content-Length` is the only way the client can
        // tell where this response ends and the next one begins.
        let connection = if keep_alive { "keep-alive" } else { "close" };
        write!(head, "Connection: {connection}\r\n\r\n")?;
        match self.body {
            // Small bodies: head and body in one write, so one TCP packet.
            Body::Bytes(mut bytes) if send_body => {
                head.append(&mut bytes);
                out.write_all(&head)?;
            }
            // Files: the head, then the file in chunks. `take` stops at the
            // length we announced even if the file grew meanwhile: sending
            // more than `Content-Length` would corrupt the conversation.
            // `io::copy` moves the file through one small buffer (8 KiB at a
            // time), so memory stays flat whatever the file's size.
            Body::File { file, length } if send_body => {
                out.write_all(&head)?;
                let copied = io::copy(&mut file.take(length), out)?;
                if copied < length {
                    // The file shrank after we announced its length. The
                    // client will see a short body and a closed connection,
                    // which is the only honest thing left to do.
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file shrank while it was being sent",
                    ));
                }
            }
            _ => out.write_all(&head)?,
        }
        out.flush()
    }
    // ANCHOR_END: write_to
}

/// The standard reason phrase for the status codes this server uses.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}
