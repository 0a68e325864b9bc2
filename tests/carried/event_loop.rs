// What the event loop of stage 11 brought, on the wire: thousands of idle
// connections cost little and starve nobody; a client that does not read
// stops being read from; slow work runs on the pool while the loop answers
// everyone else.
//
// Carried forward: this one file is included by the `tests/event_loop.rs`
// of stage 11 and of `final/`, which set `STAGE` first.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use wire::StageProcess;

/// The server's resident memory, in KiB (`VmRSS` in `/proc/PID/status`).
fn resident_kib(pid: u32) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the server's status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line")
}

/// Raises this test process's soft limit on open files to `wanted` (the
/// hard limit permitting), so that it can hold thousands of connections.
fn allow_open_files(wanted: u64) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read or write the struct we pass,
    // which lives on our stack for the whole call.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = wanted.min(limit.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
    limit.rlim_cur
}

/// A keep-alive connection that has had one answer, and now sits idle.
fn idle_connection(addr: SocketAddr) -> TcpStream {
    let mut stream = wire::connect(addr);
    wire::send(
        &mut stream,
        b"GET /api/status HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert_eq!(wire::read_response(&mut stream).status(), Some(200));
    stream
}

// ANCHOR: idle_connections_test
#[test]
fn thousands_of_idle_connections_cost_little_and_starve_nobody() {
    let idle = 3_000;
    let room = allow_open_files(idle as u64 + 200);
    assert!(room >= idle as u64 + 100, "ulimit -n is too low: {room}");
    let server = StageProcess::start(STAGE, &[("IDLE_TIMEOUT_SECS", "60"), ("EVENT_LOOPS", "1")]);
    // Warm up (the first answers allocate what every answer reuses).
    let warm: Vec<TcpStream> = (0..50).map(|_| idle_connection(server.addr())).collect();
    let before = resident_kib(server.pid());
    let held: Vec<TcpStream> = (0..idle).map(|_| idle_connection(server.addr())).collect();
    let after = resident_kib(server.pid());
    // A new client is answered with every other connection held open: one
    // thread per connection (stage 10) would leave it waiting.
    let fresh = wire::exchange(server.addr(), &wire::get_request("/health", ""));
    assert_eq!(fresh.status(), Some(200));
    // An idle connection keeps no buffer: 16 KiB each would be 48 MiB.
    // What is left is the connection's own state and the kernel's socket,
    // well under 2 KiB each.
    let per_connection = (after.saturating_sub(before) * 1024) / idle as u64;
    assert!(
        per_connection < 2048,
        "{per_connection} bytes per idle connection ({before} KiB → {after} KiB)"
    );
    drop((warm, held));
}
// ANCHOR_END: idle_connections_test

#[test]
fn a_pipelined_burst_larger_than_one_read_is_answered_whole() {
    // 30 KiB in one write: the loop must read until `WouldBlock`, or the
    // bytes after its first read wait in the kernel with no event to
    // announce them (stage 11's `tests/one_read_per_event.rs` shows it).
    let server = StageProcess::start(STAGE, &[]);
    let mut client = wire::connect_with_timeout(server.addr(), Duration::from_secs(2));
    wire::send(&mut client, &wire::pipelined_burst(3, 10 * 1024));
    assert_eq!(wire::count_answers(&mut client, 3), 3);
}

/// How many `200 OK` answers are in `bytes`.
fn answers_in(bytes: &[u8]) -> usize {
    bytes
        .windows(b"HTTP/1.1 200 OK".len())
        .filter(|window| window == b"HTTP/1.1 200 OK")
        .count()
}

// ANCHOR: backpressure_test
#[test]
fn a_client_that_does_not_read_stops_being_read_and_costs_no_memory() {
    let requests = 400;
    let body = vec![b'x'; 60 * 1024];
    let server = StageProcess::start(STAGE, &[("WRITE_TIMEOUT_SECS", "60"), ("EVENT_LOOPS", "1")]);
    let before = resident_kib(server.pid());
    // 400 pipelined echoes of 60 KiB: 24 MiB each way, far more than the
    // kernel's buffers hold (a few MiB per socket and direction). The
    // client writes them all and reads nothing yet.
    let mut one = format!(
        "POST /api/echo HTTP/1.1\r\nHost: localhost\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    one.extend_from_slice(&body);
    let burst = one.repeat(requests);
    let mut client = TcpStream::connect(server.addr()).expect("connect");
    let writer = {
        let mut client = client.try_clone().expect("a second handle");
        thread::spawn(move || client.write_all(&burst))
    };
    // Give the server time to fill every buffer between us and stop.
    thread::sleep(Duration::from_millis(500));
    let during = resident_kib(server.pid());
    assert!(
        !writer.is_finished(),
        "the server read everything: no backpressure"
    );
    // The server still serves others.
    let fresh = wire::exchange(server.addr(), &wire::get_request("/health", ""));
    assert_eq!(fresh.status(), Some(200));
    // It did not keep what the client would not take: the answers it made
    // wait in the kernel's buffers, not in ours.
    assert!(
        during < before + 4 * 1024,
        "memory grew from {before} KiB to {during} KiB"
    );
    // Now read: every request gets its answer, none lost.
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a read timeout");
    let mut received = Vec::new();
    let mut chunk = vec![0u8; 256 * 1024];
    while received.len() < requests * body.len() || answers_in(&received) < requests {
        let read = client.read(&mut chunk).expect("answers keep coming");
        assert!(read > 0, "closed after {} answers", answers_in(&received));
        received.extend_from_slice(&chunk[..read]);
    }
    assert_eq!(answers_in(&received), requests);
    writer
        .join()
        .expect("no panic")
        .expect("every request was sent");
}
// ANCHOR_END: backpressure_test

// ANCHOR: pool_test
#[test]
fn slow_work_runs_on_the_pool_while_the_loop_answers_everyone_else() {
    // One loop, and one password hash at a time: eight sign-ups take eight
    // hashes' time, one after another.
    let server = StageProcess::start(
        STAGE,
        &[
            ("EVENT_LOOPS", "1"),
            ("WORKERS", "10"),
            ("MAX_CONCURRENT_HASHES", "1"),
            ("MAX_WAITING_HASHES", "8"),
        ],
    );
    let addr = server.addr();
    let answered = AtomicUsize::new(0);
    thread::scope(|scope| {
        let mut clients: Vec<TcpStream> = (0..8)
            .map(|n| {
                let body = format!(r#"{{"username":"user{n}","password":"correct horse"}}"#);
                let mut client = wire::connect(addr);
                wire::send(&mut client, &wire::post_json_request("/api/users", &body));
                client
            })
            .collect();
        let readers: Vec<_> = clients
            .drain(..)
            .map(|mut client| {
                let answered = &answered;
                scope.spawn(move || {
                    let reply = wire::read_reply(&mut client);
                    answered.fetch_add(1, Ordering::SeqCst);
                    reply.status()
                })
            })
            .collect();
        // Wait until the first sign-up is answered: by then every one of
        // them has been read and handed to the pool.
        let deadline = Instant::now() + Duration::from_secs(10);
        while answered.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(1));
        }
        // The loop answers while seven hashes are still to run. Had it
        // hashed itself, this would come after all of them.
        let health = wire::exchange(addr, &wire::get_request("/health", ""));
        let done_by_then = answered.load(Ordering::SeqCst);
        assert_eq!(health.status(), Some(200));
        assert!(
            done_by_then < 8,
            "every sign-up was answered before /health"
        );
        for reader in readers {
            assert_eq!(reader.join().expect("no panic"), Some(201));
        }
    });
}
// ANCHOR_END: pool_test

