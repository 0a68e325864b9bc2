//! [`Response`] → bytes out: a status line, headers, a blank line, a body.

use std::io::{self, Write};
use std::time::SystemTime;

use crate::status::Status;

// ANCHOR: response
/// One HTTP response. `Content-Length`, `Date` and `Connection` are added by
/// [`Response::write_to`], so a handler cannot get them wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: Status,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}
// ANCHOR_END: response

// ANCHOR: sending
/// How much of a response goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sending {
    /// The head and the body: the answer to every method but `HEAD`.
    HeadAndBody,
    /// The head only, `Content-Length` included: the answer to `HEAD`, which
    /// gets exactly the headers a `GET` would get, without the body.
    HeadOnly,
}

impl Sending {
    /// What a request with this method gets.
    pub fn for_method(method: &str) -> Sending {
        if method == "HEAD" {
            Sending::HeadOnly
        } else {
            Sending::HeadAndBody
        }
    }
}
// ANCHOR_END: sending

impl Response {
    /// A response with a body of the given media type.
    pub fn new(status: Status, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            headers: vec![("Content-Type", content_type.to_string())],
            body: body.into(),
        }
    }

    /// A plain-text response.
    pub fn text(status: Status, body: &str) -> Self {
        Response::new(status, "text/plain; charset=utf-8", body)
    }

    /// A JSON response. (We write JSON by hand until stage 07 adds serde.)
    pub fn json(status: Status, body: &str) -> Self {
        Response::new(status, "application/json", body)
    }

    /// An error response whose body is the status's reason phrase.
    pub fn error(status: Status) -> Self {
        Response::text(status, &format!("{}\n", status.reason()))
    }

    /// The same response with one more header.
    pub fn with_header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_string()));
        self
    }

    // ANCHOR: write_to
    /// Writes the response in HTTP/1.1 wire format: all of it, or only the
    /// head for a `HEAD` request ([`Sending`]).
    pub fn write_to(&self, out: &mut impl Write, sending: Sending) -> io::Result<()> {
        // Build the head in memory and send head and body in one write: many
        // small writes would mean many small TCP packets.
        let mut bytes = Vec::with_capacity(256 + self.body.len());
        write!(
            bytes,
            "HTTP/1.1 {} {}\r\n",
            self.status.code(),
            self.status.reason()
        )?;
        // A server with a clock must send Date in 2xx, 3xx and 4xx responses
        // and may in the others (RFC 9110, section 6.6.1): we always do.
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
        if sending == Sending::HeadAndBody {
            bytes.extend_from_slice(&self.body);
        }
        out.write_all(&bytes)?;
        out.flush()
    }
    // ANCHOR_END: write_to
}
