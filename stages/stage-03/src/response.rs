//! [`Response`] → bytes out: a status line, headers, a blank line, a body.

use std::io::{self, Write};
use std::time::SystemTime;

// ANCHOR: response
/// One HTTP response. `Content-Length`, `Date` and `Connection` are added by
/// [`Response::write_to`], so a handler cannot get them wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}
// ANCHOR_END: response

impl Response {
    /// A response with a body of the given media type.
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            headers: vec![("Content-Type", content_type.to_string())],
            body: body.into(),
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
    /// included, but the body is left out.
    pub fn write_to(&self, out: &mut impl Write, send_body: bool) -> io::Result<()> {
        // Build the head in memory and send head and body in one write: many
        // small writes would mean many small TCP packets.
        let mut bytes = Vec::with_capacity(256 + self.body.len());
        let reason = reason_phrase(self.status);
        write!(bytes, "HTTP/1.1 {} {reason}\r\n", self.status)?;
        // Servers with a clock must send Date (RFC 9110, section 6.6.1).
        write!(
            bytes,
            "Date: {}\r\n",
            httpdate::fmt_http_date(SystemTime::now())
        )?;
        for (name, value) in &self.headers {
            write!(bytes, "{name}: {value}\r\n")?;
        }
        write!(bytes, "Content-Length: {}\r\n", self.body.len())?;
        // Shortcut: one request per connection; stage 05 adds keep-alive.
        write!(bytes, "Connection: close\r\n\r\n")?;
        if send_body {
            bytes.extend_from_slice(&self.body);
        }
        out.write_all(&bytes)?;
        out.flush()
    }
    // ANCHOR_END: write_to
}

/// The standard reason phrase for the status codes this server uses.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        _ => "Unknown",
    }
}
