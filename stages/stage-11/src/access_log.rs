//! The access log: one line per request on stdout. (New in stage 10; since
//! stage 11 written by a thread of its own, see [`Writer`].)
//!
//! ```text
//! access peer=203.0.113.7 method=GET path=/api/me status=200 bytes=63 duration_ms=0.412
//! ```
//!
//! One line, `key=value` pairs in a fixed order, no spaces inside a value:
//! `grep status=5`, `awk`, and journald (which keeps whatever a service
//! writes to stdout, with a timestamp) all handle it without a parser. The
//! path is logged without its query string, which may carry secrets; and
//! the password, the token and the body are never logged at all.

use std::convert::Infallible;
use std::io::{self, Write};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

// ANCHOR: entry
/// What one line of the log says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Who asked: the client's address (see [`client_address`]).
    pub peer: IpAddr,
    /// `-` when the request was refused before its head could be trusted
    /// (or read at all).
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
    pub duration: Duration,
}

impl Entry<'_> {
    /// The line, without its line break.
    pub fn line(&self) -> String {
        format!(
            "access peer={} method={} path={} status={} bytes={} duration_ms={:.3}",
            self.peer,
            escape(self.method),
            escape(self.path),
            self.status,
            self.bytes,
            self.duration.as_secs_f64() * 1000.0
        )
    }
}
// ANCHOR_END: entry

// ANCHOR: writer
/// How often the writing thread writes out what the loops have queued: a
/// line reaches stdout at most this late.
const WRITE_EVERY: Duration = Duration::from_millis(20);
/// How much may wait to be written before we drop lines (stdout is stuck).
const MAX_QUEUED_BYTES: usize = 4 * 1024 * 1024;

/// Writes access lines to stdout on a thread of its own. (New in stage 11.)
///
/// A write to stdout can wait: for journald, or for whoever reads the pipe.
/// In stage 10 a worker waited, and only its own client with it. An event
/// loop that waits stops every connection it owns, so the loop only hands
/// the line over, and never waits: if the writing thread is that far
/// behind, the line is dropped and counted, and the count is written once
/// the thread catches up. Losing a log line beats stopping the server.
///
/// The loops append lines to one shared buffer, in the order they answer,
/// and never wake the writing thread: it wakes by itself every
/// [`WRITE_EVERY`] and writes whatever is there. Waking it for each line
/// would cost more than answering `/health` (measured with `perf`: a third
/// of the server's time went to it).
#[derive(Debug)]
pub struct Writer {
    queue: Arc<Queue>,
    /// The writing thread, to wake it when the `Writer` is dropped.
    thread: Thread,
}

/// What the loops and the writing thread share.
#[derive(Debug, Default)]
struct Queue {
    text: Mutex<String>,
    dropped: AtomicU64,
    /// Set when the `Writer` is dropped: write what is left, and end.
    closed: AtomicBool,
}

impl Writer {
    /// Starts the writing thread. It ends when the `Writer` is dropped and
    /// every queued line is written: [`Written::within`] waits for that.
    pub fn start() -> io::Result<(Writer, Written)> {
        let queue = Arc::new(Queue::default());
        let theirs = Arc::clone(&queue);
        // Never sent on: the thread drops it when it ends.
        let (done, written) = mpsc::channel::<Infallible>();
        let thread = thread::Builder::new()
            .name("access-log".to_string())
            .spawn(move || {
                let _done = done;
                let mut out = io::stdout();
                loop {
                    let closed = theirs.closed.load(Ordering::Acquire);
                    let text = std::mem::take(&mut *lock(&theirs.text));
                    // Errors are ignored: a full disk or a closed pipe must
                    // not take the server down with it.
                    let _ = out.write_all(text.as_bytes());
                    let lost = theirs.dropped.swap(0, Ordering::Relaxed);
                    if lost > 0 {
                        let _ = writeln!(out, "access-log dropped={lost}");
                    }
                    let _ = out.flush();
                    if closed {
                        return;
                    }
                    thread::park_timeout(WRITE_EVERY);
                }
            })?;
        let thread = thread.thread().clone();
        Ok((Writer { queue, thread }, Written(written)))
    }

    /// Queues the entry's line; never waits (but for the lock, held by
    /// another loop for the time of one `push_str`, or by the writing
    /// thread for the time of one `take`).
    pub fn write(&self, entry: &Entry) {
        let line = entry.line();
        let mut text = lock(&self.queue.text);
        if text.len() + line.len() >= MAX_QUEUED_BYTES {
            drop(text);
            self.queue.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        text.push_str(&line);
        text.push('\n');
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.queue.closed.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// The queue's text, even if a thread panicked holding the lock (a log
/// line is never half-written into it).
fn lock(text: &Mutex<String>) -> MutexGuard<'_, String> {
    text.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Learns when the writing thread has written everything and ended.
#[derive(Debug)]
pub struct Written(Receiver<Infallible>);

impl Written {
    /// Waits until every queued line is written, or until `deadline`:
    /// `false` if stdout is stuck (nobody reads it). A stuck log must not
    /// keep a stopping server alive.
    pub fn within(self, deadline: Instant) -> bool {
        let patience = deadline.saturating_duration_since(Instant::now());
        matches!(
            self.0.recv_timeout(patience),
            Err(RecvTimeoutError::Disconnected)
        )
    }
}
// ANCHOR_END: writer

// ANCHOR: escape
/// `text`, with every byte that could break the line or the `key=value`
/// format (a space, `=`, `"`, `\`, a control or non-ASCII byte) written as
/// `%XX`, the way URLs escape: a client chooses the path, and must not be
/// able to write lines of its own into our log.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'!'..=b'~' if !matches!(byte, b'=' | b'"' | b'\\' | b'%') => {
                escaped.push(char::from(byte));
            }
            _ => escaped.push_str(&format!("%{byte:02X}")),
        }
    }
    if escaped.is_empty() {
        escaped.push('-');
    }
    escaped
}
// ANCHOR_END: escape

// ANCHOR: client_address
/// The address of the client: the connection's peer, unless the peer is one
/// of our `trusted_proxies` (nginx, in Part II) and says in `X-Real-IP` who
/// it is forwarding for. Anyone else can send `X-Real-IP` too, so from
/// anyone else it is ignored.
pub fn client_address(peer: IpAddr, real_ip: Option<&str>, trusted_proxies: &[IpAddr]) -> IpAddr {
    if !trusted_proxies.contains(&peer) {
        return peer;
    }
    real_ip
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(peer)
}
// ANCHOR_END: client_address

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an IP address")
    }

    // ANCHOR: line_tests
    #[test]
    fn a_line_is_key_value_pairs_in_a_fixed_order() {
        let entry = Entry {
            peer: ip("203.0.113.7"),
            method: "GET",
            path: "/api/me",
            status: 200,
            bytes: 63,
            duration: Duration::from_micros(412),
        };
        assert_eq!(
            entry.line(),
            "access peer=203.0.113.7 method=GET path=/api/me status=200 bytes=63 duration_ms=0.412"
        );
    }

    #[test]
    fn what_a_client_chooses_cannot_break_the_line() {
        let entry = Entry {
            peer: ip("::1"),
            method: "-",
            path: "/a b\"c\\d=e%f\r\nfake status=200 é",
            status: 400,
            bytes: 0,
            duration: Duration::ZERO,
        };
        assert_eq!(
            entry.line(),
            "access peer=::1 method=- path=/a%20b%22c%5Cd%3De%25f%0D%0Afake%20status%3D200%20%C3%A9 \
             status=400 bytes=0 duration_ms=0.000"
        );
        assert_eq!(escape(""), "-");
    }
    // ANCHOR_END: line_tests

    #[test]
    fn x_real_ip_counts_only_from_a_trusted_proxy() {
        let nginx = [ip("127.0.0.1")];
        let client = Some("198.51.100.9");
        assert_eq!(
            client_address(ip("127.0.0.1"), client, &nginx),
            ip("198.51.100.9")
        );
        // From anyone else, the header is a lie we ignore.
        assert_eq!(
            client_address(ip("192.0.2.1"), client, &nginx),
            ip("192.0.2.1")
        );
        assert_eq!(
            client_address(ip("127.0.0.1"), client, &[]),
            ip("127.0.0.1")
        );
        // A header that is not an address is ignored too.
        assert_eq!(
            client_address(ip("127.0.0.1"), Some("a, b"), &nginx),
            ip("127.0.0.1")
        );
        assert_eq!(
            client_address(ip("127.0.0.1"), None, &nginx),
            ip("127.0.0.1")
        );
    }
}
