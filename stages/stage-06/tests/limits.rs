//! Stage 06 on the wire: timeouts, caps, chunked bodies and the refusals that
//! stop request smuggling. Servers here run with short timeouts so the tests
//! are quick; the defaults are in `Config::new`.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use stage_06::{Config, Drained, Shutdown};
use wire::Ending;

const GET_HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n";

/// A config with short timeouts, so that each test takes a second at most.
fn quick_config() -> Config {
    Config {
        workers: 2,
        idle_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_millis(500),
        write_timeout: Duration::from_millis(300),
        drain_timeout: Duration::from_secs(1),
        ..Config::new()
    }
}

/// A server on a thread of this test, with the shutdown only the test holds.
/// Dropping it requests shutdown and waits for `serve` to return, so no
/// test leaves a server running behind it.
struct TestServer {
    addr: SocketAddr,
    shutdown: Shutdown,
    thread: Option<JoinHandle<io::Result<Drained>>>,
}

impl TestServer {
    fn start(config: Config) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free loopback port");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let shutdown = Shutdown::for_listener(&listener).expect("a shutdown for the listener");
        let for_server = shutdown.clone();
        let thread = thread::spawn(move || stage_06::serve(listener, config, for_server));
        TestServer {
            addr,
            shutdown,
            thread: Some(thread),
        }
    }

    /// Requests shutdown and returns how the drain went.
    fn stop(mut self) -> Drained {
        self.shutdown.request();
        let thread = self.thread.take().expect("stopped only once");
        thread
            .join()
            .expect("serve does not panic")
            .expect("serve returns Ok after a shutdown")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.shutdown.request();
            let _ = thread.join();
        }
    }
}

/// Starts a server and returns its address; the server stops when the test
/// thread's `TestServer` guard (kept in a thread-local) is dropped.
fn start(config: Config) -> SocketAddr {
    let server = TestServer::start(config);
    let addr = server.addr;
    RUNNING.with(|running| running.borrow_mut().push(server));
    addr
}

thread_local! {
    /// The servers this test thread started; dropped (stopped) with the thread.
    static RUNNING: std::cell::RefCell<Vec<TestServer>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn health_is_answered_within(addr: SocketAddr, patience: Duration) -> bool {
    let mut client = wire::connect_with_timeout(addr, patience);
    wire::send(&mut client, GET_HEALTH);
    wire::read_response(&mut client).status() == Some(200)
}

#[test]
fn a_slowloris_client_gets_408_while_others_are_served() {
    let addr = start(quick_config());
    let mut slow = wire::connect(addr);
    let started = Instant::now();
    // One byte every 100 ms: each read succeeds, but the request as a whole
    // is not complete after 500 ms, so the deadline fires.
    for byte in b"GET /health HTTP/1.1\r\nHost: localhost\r\n" {
        if slow.write_all(&[*byte]).is_err() {
            break;
        }
        // Meanwhile, another client is served as usual.
        if started.elapsed() < Duration::from_millis(150) {
            assert!(health_is_answered_within(addr, Duration::from_secs(2)));
        }
        thread::sleep(Duration::from_millis(100));
        if started.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    let reply = wire::read_reply(&mut slow);
    assert_eq!(reply.status(), Some(408));
    insta::assert_snapshot!(reply.show());
}

#[test]
fn a_client_that_stops_halfway_through_its_head_gets_408() {
    // Not a trickle: nothing more comes at all. The socket's read timeout,
    // set to what is left of the request's deadline, must wake the worker
    // up. (A long idle timeout, so that the read timeout the idle wait left
    // on the socket cannot do it instead.)
    let config = Config {
        idle_timeout: Duration::from_secs(30),
        ..quick_config()
    };
    let mut stalled = wire::connect(start(config));
    wire::send(&mut stalled, b"GET /health HTTP/1.1\r\nHost: local");
    assert_eq!(wire::read_reply(&mut stalled).status(), Some(408));
}

#[test]
fn an_idle_keep_alive_connection_is_closed_and_frees_its_worker() {
    let config = Config {
        workers: 1,
        ..quick_config()
    };
    let addr = start(config);
    let mut idle = wire::connect(addr);
    wire::send(&mut idle, GET_HEALTH);
    assert_eq!(wire::read_response(&mut idle).status(), Some(200));
    // The only worker now waits for this client's next request. After the
    // idle timeout the server closes quietly: we read end of file, no bytes.
    let reply = wire::read_reply(&mut idle);
    assert_eq!((reply.bytes.len(), reply.ending), (0, Ending::Closed));
    // And the worker is free for somebody else.
    assert!(health_is_answered_within(addr, Duration::from_secs(2)));
}

#[test]
fn connections_beyond_the_cap_get_a_fast_503_with_retry_after() {
    let config = Config {
        max_connections: 2,
        idle_timeout: Duration::from_secs(30),
        ..quick_config()
    };
    let addr = start(config);
    // Two connections that hold their places (served once, then idle).
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut holder = wire::connect(addr);
        wire::send(&mut holder, GET_HEALTH);
        assert_eq!(wire::read_response(&mut holder).status(), Some(200));
        holders.push(holder);
    }
    let mut third = wire::connect(addr);
    let reply = wire::read_reply(&mut third);
    assert_eq!(reply.ending, Ending::Closed);
    insta::assert_snapshot!(reply.show());

    // A place frees up when a holder leaves.
    drop(holders.pop());
    thread::sleep(Duration::from_millis(100));
    assert!(health_is_answered_within(addr, Duration::from_secs(2)));
}

#[test]
fn a_connection_closes_after_its_request_cap() {
    let config = Config {
        max_requests_per_connection: 3,
        ..quick_config()
    };
    let mut stream = wire::connect(start(config));
    let mut connection_headers = Vec::new();
    for _ in 0..3 {
        wire::send(&mut stream, GET_HEALTH);
        let reply = wire::read_response(&mut stream);
        connection_headers.push(reply.header("connection").unwrap_or_default());
    }
    assert_eq!(connection_headers, ["keep-alive", "keep-alive", "close"]);
    assert_eq!(wire::read_reply(&mut stream).ending, Ending::Closed);
}

#[test]
fn a_chunked_body_is_decoded_and_echoed() {
    let reply = wire::exchange_one(
        start(quick_config()),
        b"POST /api/echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n\
          7\r\nhello, \r\n6;ext=1\r\nchunks\r\n0\r\n\r\n",
    );
    insta::assert_snapshot!(reply.show());
}

#[test]
fn a_chunked_body_split_across_writes_is_decoded() {
    let reply = wire::exchange_in_pieces(
        start(quick_config()),
        &[
            b"POST /api/echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r",
            b"\nhel",
            b"lo\r\n0\r\n",
            b"\r\n",
        ],
        Duration::from_millis(30),
    );
    assert_eq!(reply.body(), b"hello");
}

#[test]
fn transfer_encoding_with_content_length_gets_400_and_a_close() {
    // The classic smuggling shape (CL.TE). A front proxy that trusts
    // Content-Length sees one request whose body is everything after the
    // head, `GET /admin` included, and forwards it unchecked. A server that
    // trusts Transfer-Encoding sees the body end at `0\r\n\r\n`, and then a
    // second request, `GET /admin`, that the proxy never inspected. We trust
    // neither: one 400, the connection closed, and `/admin` never answered.
    let body = "0\r\n\r\nGET /admin HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let request = format!(
        "POST /api/echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\
         Transfer-Encoding: chunked\r\n\r\n{body}",
        body.len()
    );
    let reply = wire::exchange(start(quick_config()), request.as_bytes());
    assert_eq!(reply.ending, Ending::Closed);
    let responses = reply.bytes.windows(9).filter(|w| w == b"HTTP/1.1 ").count();
    assert_eq!(responses, 1);
    insta::assert_snapshot!(reply.show());
}

#[test]
fn an_unknown_transfer_coding_gets_501() {
    let reply = wire::exchange(
        start(quick_config()),
        b"POST /api/echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    );
    insta::assert_snapshot!(reply.show());
}

#[test]
fn a_client_that_resets_mid_body_frees_its_worker() {
    // One worker: if the reset left it stuck, nobody else could be served.
    // (With two, the other worker would answer and hide the bug.)
    let config = Config {
        workers: 1,
        request_timeout: Duration::from_secs(30),
        ..quick_config()
    };
    let addr = start(config);
    let mut rude = TcpStream::connect(addr).expect("connect");
    rude.write_all(
        b"POST /api/echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\nonly a little",
    )
    .expect("send half a request");
    // Let the worker start reading the body, then vanish with a reset (RST),
    // not a polite FIN.
    thread::sleep(Duration::from_millis(100));
    wire::reset(rude);
    // Long before the 30 s request timeout could free it.
    assert!(health_is_answered_within(addr, Duration::from_secs(2)));
}

#[test]
fn serve_returns_when_shutdown_is_requested_and_reports_a_complete_drain() {
    let server = TestServer::start(quick_config());
    assert!(health_is_answered_within(
        server.addr,
        Duration::from_secs(2)
    ));
    assert_eq!(server.stop(), Drained::Completely);
}

#[test]
fn a_request_stuck_at_shutdown_is_cut_off_at_the_drain_deadline() {
    let config = Config {
        request_timeout: Duration::from_secs(30),
        ..quick_config()
    };
    let server = TestServer::start(config);
    // Two half requests: their workers wait for the rest until the request
    // timeout.
    let mut stuck = [wire::connect(server.addr), wire::connect(server.addr)];
    for client in &mut stuck {
        wire::send(client, b"GET /health HTTP/1.1\r\n");
    }
    thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    assert_eq!(
        server.stop(),
        Drained::CutOff {
            open_connections: 2
        }
    );
    // The drain deadline (1 s), not the request timeout (30 s), ended it.
    assert!(started.elapsed() < Duration::from_secs(10));
}

// ANCHOR: never_reads
#[test]
fn a_client_that_never_reads_its_response_frees_the_worker_after_the_write_timeout() {
    // Removed when the test ends (the server thread outlives it, idle).
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("big.bin"), vec![b'x'; 32 << 20]).expect("write a 32 MiB file");
    let config = Config {
        workers: 1,
        static_dir: dir.path().to_path_buf(),
        ..quick_config()
    };
    let addr = start(config);
    let mut greedy = wire::connect(addr);
    wire::send(
        &mut greedy,
        b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    // We never read: the kernel buffers fill up, the server's write waits,
    // and after the write timeout the worker gives up on us.
    assert!(health_is_answered_within(addr, Duration::from_secs(5)));
    drop(greedy);
}
// ANCHOR_END: never_reads
