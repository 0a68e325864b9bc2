//! [`Response`] → bytes out: a status line, headers, a blank line, a body.

use std::cell::RefCell;
use std::fs::File;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::http::Status;

// ANCHOR: response
/// One HTTP response. `Content-Length`, `Date` and `Connection` are added by
/// [`Response::encode`], so a handler cannot get them wrong.
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

    // ANCHOR: encode
    /// The response in HTTP/1.1 wire format: all of it, or only the head
    /// for a `HEAD` request ([`Sending`]), and a `Connection` header that
    /// says whether the connection stays open ([`Connection`]).
    ///
    /// The response is turned into bytes, not written: the event loop
    /// writes them when the socket has room, a piece at a time, and never
    /// waits for a slow client. A file body is not read here: the loop reads
    /// it a chunk at a time as the client takes the bytes.
    pub fn encode(self, sending: Sending, connection: Connection) -> Encoded {
        let mut head = Vec::with_capacity(256);
        // Writing to a Vec cannot fail.
        let _ = write!(
            head,
            "HTTP/1.1 {} {}\r\n",
            self.status.code(),
            self.status.reason()
        );
        // A server with a clock must send Date in 2xx, 3xx and 4xx responses
        // and may in the others (RFC 9110, section 6.6.1): we always do.
        head.extend_from_slice(b"Date: ");
        write_date(&mut head);
        head.extend_from_slice(b"\r\n");
        for (name, value) in &self.headers {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        let _ = write!(head, "Content-Length: {}\r\n", self.body.length());
        // With keep-alive, `Content-Length` is the only way the client can
        // tell where this response ends and the next one begins.
        let _ = write!(head, "Connection: {}\r\n\r\n", connection.header_value());
        match self.body {
            // Small bodies: head and body in one buffer, so one write.
            Body::Bytes(mut bytes) if sending == Sending::HeadAndBody => {
                head.append(&mut bytes);
                Encoded {
                    bytes: head,
                    file: None,
                }
            }
            Body::File { file, length } if sending == Sending::HeadAndBody => Encoded {
                bytes: head,
                file: Some(FileBody { file, length }),
            },
            _ => Encoded {
                bytes: head,
                file: None,
            },
        }
    }
    // ANCHOR_END: encode
}

/// A response as bytes: what to send now, then the file to send after them.
#[derive(Debug)]
pub struct Encoded {
    pub bytes: Vec<u8>,
    pub file: Option<FileBody>,
}

/// A file still to be sent: exactly `length` bytes of it (the length the
/// head announced, even if the file grows meanwhile).
#[derive(Debug)]
pub struct FileBody {
    pub file: File,
    pub length: u64,
}

/// Appends the current time in HTTP's date format
/// (`Tue, 01 Dec 2026 17:24:37 GMT`). It changes once a second, and a busy
/// server answers many times a second: each thread keeps the text of the
/// current second and formats a new one only when the second changes.
fn write_date(out: &mut Vec<u8>) {
    thread_local! {
        static CURRENT: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let now = SystemTime::now();
    let second = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    CURRENT.with(|current| {
        let mut current = current.borrow_mut();
        if current.0 != second {
            *current = (second, httpdate::fmt_http_date(now));
        }
        out.extend_from_slice(current.1.as_bytes());
    });
}
