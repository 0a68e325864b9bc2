//! [`Response`] → bytes out: a status line, headers, a blank line, a body.

use std::fs::File;
use std::io::{self, Read, Write};
use std::time::SystemTime;

use serde::Serialize;

use crate::status::Status;

// ANCHOR: response
/// One HTTP response. `Content-Length`, `Date` and `Connection` are added by
/// [`Response::write_to`], so a handler cannot get them wrong.
#[derive(Debug)]
pub struct Response {
    pub status: Status,
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

// ANCHOR: connection
/// What happens to the connection after a response, as its `Connection`
/// header tells the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    /// It stays open for another request.
    KeepAlive,
    /// We close it after this response.
    Close,
}

impl Connection {
    /// The value of the `Connection` header.
    pub fn header_value(self) -> &'static str {
        match self {
            Connection::KeepAlive => "keep-alive",
            Connection::Close => "close",
        }
    }
}
// ANCHOR_END: connection

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
    pub fn new(status: Status, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            headers: vec![("Content-Type", content_type.to_string())],
            body: Body::Bytes(body.into()),
        }
    }

    /// A response that streams `length` bytes of `file`.
    pub fn file(status: Status, content_type: &str, file: File, length: u64) -> Self {
        Response {
            status,
            headers: vec![("Content-Type", content_type.to_string())],
            body: Body::File { file, length },
        }
    }

    /// A plain-text response.
    pub fn text(status: Status, body: &str) -> Self {
        Response::new(status, "text/plain; charset=utf-8", body)
    }

    // ANCHOR: json
    /// A JSON response: `body`, written by serde, which escapes every string
    /// it writes.
    pub fn json(status: Status, body: &impl Serialize) -> Self {
        let bytes = serde_json::to_vec(body).expect(
            "our response types are structs of strings and numbers, which always serialize",
        );
        Response::new(status, "application/json", bytes)
    }
    // ANCHOR_END: json

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
    /// head for a `HEAD` request ([`Sending`]), and a `Connection` header that
    /// says whether the connection stays open ([`Connection`]).
    pub fn write_to(
        self,
        out: &mut impl Write,
        sending: Sending,
        connection: Connection,
    ) -> io::Result<()> {
        let mut head = Vec::with_capacity(256);
        write!(
            head,
            "HTTP/1.1 {} {}\r\n",
            self.status.code(),
            self.status.reason()
        )?;
        // A server with a clock must send Date in 2xx, 3xx and 4xx responses
        // and may in the others (RFC 9110, section 6.6.1): we always do.
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
        write!(head, "Connection: {}\r\n\r\n", connection.header_value())?;
        match self.body {
            // Small bodies: head and body in one write, so one TCP packet.
            Body::Bytes(mut bytes) if sending == Sending::HeadAndBody => {
                head.append(&mut bytes);
                out.write_all(&head)?;
            }
            // Files: the head, then the file in chunks. `take` stops at the
            // length we announced even if the file grew meanwhile: sending
            // more than `Content-Length` would corrupt the conversation.
            // `io::copy` moves the file through one small buffer (8 KiB at a
            // time), so memory stays flat whatever the file's size.
            Body::File { file, length } if sending == Sending::HeadAndBody => {
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
