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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread;
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
/// How many batches of lines may wait for the writing thread before we drop
/// lines.
const QUEUED_BATCHES: usize = 1024;

/// Writes access lines to stdout on a thread of its own. (New in stage 11.)
///
/// A write to stdout can wait: for journald, or for whoever reads the pipe.
/// In stage 10 a worker waited, and only its own client with it. An event
/// loop that waits stops every connection it owns, so the loop only hands
/// the line over, and never waits: if the writing thread is that far
/// behind, the line is dropped and counted, and the count is written once
/// the thread catches up. Losing a log line beats stopping the server.
///
/// Lines travel in batches ([`Lines`]): each loop gathers the lines of
/// everything it answered between two `poll`s and sends them at once.
/// Handing over each line alone would wake the writing thread once per
/// request, and waking a thread costs more than answering `/health`
/// (measured with `perf`: a third of the server's time went to it).
#[derive(Debug, Clone)]
pub struct Writer {
    batches: SyncSender<String>,
    dropped: Arc<AtomicU64>,
}

impl Writer {
    /// Starts the writing thread. It ends when the last `Writer` is dropped
    /// and every queued line is written: [`Written::within`] waits for that.
    pub fn start() -> io::Result<(Writer, Written)> {
        let (batches, queue) = mpsc::sync_channel::<String>(QUEUED_BATCHES);
        let dropped = Arc::new(AtomicU64::new(0));
        let dropped_seen = Arc::clone(&dropped);
        // Never sent on: the thread drops it when it ends.
        let (done, written) = mpsc::channel::<Infallible>();
        thread::Builder::new()
            .name("access-log".to_string())
            .spawn(move || {
                let _done = done;
                let mut out = io::stdout();
                // Errors are ignored: a full disk or a closed pipe must not
                // take the server down with it.
                while let Ok(batch) = queue.recv() {
                    let _ = out.write_all(batch.as_bytes());
                    let lost = dropped_seen.swap(0, Ordering::Relaxed);
                    if lost > 0 {
                        let _ = writeln!(out, "access-log dropped={lost}");
                    }
                    let _ = out.flush();
                }
            })?;
        Ok((Writer { batches, dropped }, Written(written)))
    }

    /// Hands `lines` to the writing thread and empties it; never waits.
    pub fn send(&self, lines: &mut Lines) {
        if lines.count == 0 {
            return;
        }
        let count = std::mem::take(&mut lines.count);
        match self.batches.try_send(std::mem::take(&mut lines.text)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(count, Ordering::Relaxed);
            }
            // The writing thread is gone: only at the very end.
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
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

/// Access-log lines gathered by one event loop, not yet handed over.
#[derive(Debug, Default)]
pub struct Lines {
    text: String,
    count: u64,
}

impl Lines {
    /// Adds the entry's line.
    pub fn push(&mut self, entry: &Entry) {
        self.text.push_str(&entry.line());
        self.text.push('\n');
        self.count += 1;
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
