//! The mistake of chapter 11, kept compiling: an event loop that reads once
//! per readiness event instead of until `WouldBlock`. The server runs in
//! this process, so that a test can pick how it reads
//! ([`stage_11::Reading`]), and can stop it ([`Shutdown`]).

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use stage_11::{Config, Reading, Shutdown, Tokens, UserStore};

/// A server in this process, reading the way `reading` says; stopped when
/// the returned guard is dropped.
struct InProcess {
    addr: SocketAddr,
    shutdown: Shutdown,
    thread: Option<thread::JoinHandle<io::Result<stage_11::Drained>>>,
    _folder: tempfile::TempDir,
}

impl InProcess {
    fn start(reading: Reading) -> InProcess {
        let folder = tempfile::tempdir().expect("a temporary folder");
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let addr = listener.local_addr().expect("an address");
        let config = Config {
            event_loops: 1,
            drain_timeout: Duration::from_millis(200),
            ..Config::new()
        };
        let users = UserStore::open(&folder.path().join("users.sqlite3"), 1).expect("a database");
        let tokens = Tokens::new(&[7u8; 32]).expect("a 32-byte secret");
        let shutdown = Shutdown::new();
        let stop = shutdown.clone();
        let thread = thread::spawn(move || {
            stage_11::serve_reading(listener, config, users, tokens, stop, reading)
        });
        InProcess {
            addr,
            shutdown,
            thread: Some(thread),
            _folder: folder,
        }
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        self.shutdown.request();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

// ANCHOR: pipelined_burst
/// Sends three pipelined requests in one write, each with a 10 KiB header:
/// 30 KiB, more than one 16 KiB read takes. Returns how many answers came
/// back within a second.
fn answers_to_a_pipelined_burst(addr: SocketAddr) -> usize {
    let mut client = wire::connect_with_timeout(addr, Duration::from_secs(1));
    wire::send(&mut client, &wire::pipelined_burst(3, 10 * 1024));
    wire::count_answers(&mut client, 3)
}
// ANCHOR_END: pipelined_burst

// ANCHOR: wrong_variant_test
#[test]
fn reading_until_would_block_answers_a_pipelined_burst() {
    let server = InProcess::start(Reading::UntilWouldBlock);
    assert_eq!(answers_to_a_pipelined_burst(server.addr), 3);
}

/// The mistake this stage is about, kept compiling (as the Rust book keeps
/// its listings that do not do what we want): one `read` per readiness
/// event. The first read takes 16 KiB, the first request is answered, and
/// the rest stays in the kernel, announced by no new event. The client
/// waits for ever (here: until its one-second timeout).
#[test]
fn one_read_per_event_hangs_a_pipelining_client() {
    let server = InProcess::start(Reading::OncePerEvent);
    assert_eq!(answers_to_a_pipelined_burst(server.addr), 1);
}
// ANCHOR_END: wrong_variant_test

#[test]
fn serve_returns_when_its_shutdown_is_requested() {
    let mut server = InProcess::start(Reading::UntilWouldBlock);
    let reply = wire::exchange(server.addr, &wire::get_request("/health", ""));
    assert_eq!(reply.status(), Some(200));
    server.shutdown.request();
    let thread = server.thread.take().expect("running");
    let drained = thread.join().expect("no panic").expect("no error");
    assert_eq!(drained, stage_11::Drained::Completely);
    assert!(TcpStream::connect(server.addr).is_err(), "still listening");
}
