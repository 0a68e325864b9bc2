//! The real binary as a process. Graceful shutdown, with real signals: a
//! request in flight when SIGTERM arrives still gets its full response, a new
//! connection after it is refused, idle keep-alive connections do not hold
//! the exit up, and the process exits 0 within its drain deadline. And the
//! errors of the accept loop: running out of file descriptors, which a
//! library test cannot do to its own process, and a listening socket that
//! breaks under the server.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

/// The real `stage-06` binary, running on a free port.
struct Server {
    child: Child,
    addr: SocketAddr,
    /// Lines the server prints on stderr, as they arrive.
    log: Receiver<String>,
}

impl Server {
    /// Starts the binary with extra environment variables, and waits for its
    /// `listening on http://ADDR` line.
    fn start(env: &[(&str, &str)]) -> Server {
        Server::spawn(Command::new(env!("CARGO_BIN_EXE_stage-06")), env)
    }

    /// Starts the binary allowed at most `limit` open file descriptors
    /// (`ulimit -n`), so a test can run it out of them.
    fn start_with_descriptor_limit(env: &[(&str, &str)], limit: u32) -> Server {
        Server::try_start_with_descriptor_limit(env, limit)
            .unwrap_or_else(|| panic!("stage-06 did not start under ulimit -n {limit}"))
    }

    /// Like [`Server::start_with_descriptor_limit`], but `None` if the
    /// binary exits before it listens (too few descriptors to start).
    fn try_start_with_descriptor_limit(env: &[(&str, &str)], limit: u32) -> Option<Server> {
        let mut shell = Command::new("sh");
        shell.args([
            "-c",
            &format!("ulimit -n {limit} && exec \"$0\""),
            env!("CARGO_BIN_EXE_stage-06"),
        ]);
        Server::try_spawn(shell, env)
    }

    fn spawn(command: Command, env: &[(&str, &str)]) -> Server {
        Server::try_spawn(command, env).expect("the stage-06 binary starts and listens")
    }

    /// Starts `command` and waits for its `listening on http://ADDR` line;
    /// `None` if it ends its output without one.
    fn try_spawn(mut command: Command, env: &[(&str, &str)]) -> Option<Server> {
        let mut child = command
            .env("ADDR", "127.0.0.1:0")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the stage-06 binary");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut first_line = String::new();
        BufReader::new(stdout)
            .read_line(&mut first_line)
            .expect("read the first line");
        if first_line.is_empty() {
            let _ = child.wait();
            return None;
        }
        let addr = first_line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {first_line:?}"))
            .parse()
            .expect("an address");
        let stderr = child.stderr.take().expect("piped stderr");
        let (lines, log) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        Some(Server { child, addr, log })
    }

    fn send_signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} failed");
    }

    /// Waits until the server logs a line containing `text`.
    fn wait_for_log(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(text) => return,
                Ok(_) => continue,
                Err(_) => break,
            }
        }
        panic!("the server never logged {text:?}");
    }

    /// The lines the server logs within `window` that contain `text`.
    fn log_lines_within(&self, text: &str, window: Duration) -> Vec<String> {
        let deadline = Instant::now() + window;
        let mut found = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(text) => found.push(line),
                Ok(_) => continue,
                Err(_) => break,
            }
        }
        found
    }

    /// Waits for the process to exit, for at most `patience`.
    fn wait_for_exit(&mut self, patience: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + patience;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("poll the child") {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_request_in_flight_at_sigterm_gets_its_full_response_and_the_process_exits_0() {
    let mut server = Server::start(&[("DRAIN_TIMEOUT_SECS", "10")]);
    // Half a request: the server is reading it when the signal arrives.
    let mut in_flight = wire::connect(server.addr);
    wire::send(
        &mut in_flight,
        b"POST /api/echo HTTP/1.1\r\nHost: localhost\r\nContent-",
    );
    thread::sleep(Duration::from_millis(100));

    server.send_signal("-TERM");
    server.wait_for_log("SIGTERM: shutting down gracefully");
    server.wait_for_log("stopped accepting");

    // New connections are refused now that the listener is closed.
    let refused = TcpStream::connect(server.addr)
        .map(|_| ())
        .map_err(|e| e.kind());
    assert_eq!(refused, Err(ErrorKind::ConnectionRefused));

    // The request in flight completes, and is answered in full, with the
    // connection closed after it.
    wire::send(&mut in_flight, b"Length: 8\r\n\r\nfinished");
    let reply = wire::read_reply(&mut in_flight);
    assert_eq!(reply.status(), Some(200));
    assert_eq!(reply.body(), b"finished");
    assert_eq!(reply.header("connection").as_deref(), Some("close"));

    let status = server
        .wait_for_exit(Duration::from_secs(10))
        .expect("the process exits once the last request is done");
    assert!(status.success(), "{status}");
}

#[test]
fn idle_keep_alive_connections_do_not_hold_up_the_exit() {
    // The idle timeout (60 s) and drain timeout (60 s) are long: if the
    // server waited for the idle client, this test would take a minute.
    let mut server = Server::start(&[("IDLE_TIMEOUT_SECS", "60"), ("DRAIN_TIMEOUT_SECS", "60")]);
    let mut idle = wire::connect(server.addr);
    wire::send(
        &mut idle,
        b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert_eq!(wire::read_response(&mut idle).status(), Some(200));

    server.send_signal("-INT");
    let status = server
        .wait_for_exit(Duration::from_secs(10))
        .expect("the process exits without waiting for the idle client");
    assert!(status.success(), "{status}");
    // The idle client sees the connection closed, not a reset.
    let mut rest = Vec::new();
    assert_eq!(idle.read_to_end(&mut rest).map_err(|e| e.kind()), Ok(0));
}

#[test]
fn a_request_that_never_completes_cannot_delay_the_exit_past_the_drain_deadline() {
    let mut server = Server::start(&[("REQUEST_TIMEOUT_SECS", "60"), ("DRAIN_TIMEOUT_SECS", "1")]);
    let mut stuck = wire::connect(server.addr);
    wire::send(&mut stuck, b"GET /health HTTP/1.1\r\nHo");
    thread::sleep(Duration::from_millis(100));

    server.send_signal("-TERM");
    let status = server
        .wait_for_exit(Duration::from_secs(10))
        .expect("the process exits at the drain deadline");
    assert!(status.success(), "{status}");
    server.wait_for_log("drain timeout");
    drop(stuck.write_all(b"st: late\r\n\r\n"));
}

#[test]
fn a_second_signal_exits_at_once() {
    let mut server = Server::start(&[("REQUEST_TIMEOUT_SECS", "60"), ("DRAIN_TIMEOUT_SECS", "60")]);
    let mut stuck = wire::connect(server.addr);
    wire::send(&mut stuck, b"GET /health HTTP/1.1\r\nHo");
    thread::sleep(Duration::from_millis(100));

    server.send_signal("-INT");
    server.wait_for_log("SIGINT: shutting down gracefully");
    server.wait_for_log("stopped accepting");
    server.send_signal("-INT");
    let status = server
        .wait_for_exit(Duration::from_secs(10))
        .expect("the second signal ends the process");
    assert_eq!(status.code(), Some(130), "128 + SIGINT");
}

#[test]
fn running_out_of_file_descriptors_gets_503s_and_the_server_recovers() {
    // 40 and 41 descriptors: a few for the process itself, and two for each
    // open connection (the socket and the register's copy). Once they run
    // out, either `accept` fails (and the server spends its spare
    // descriptor to take the connection anyway) or the register cannot copy
    // the new socket. Which one happens depends on whether the free
    // descriptors are odd or even in number, so the two limits take the two
    // paths, however many descriptors the process inherited.
    for limit in [40, 41] {
        let server = Server::start_with_descriptor_limit(&[("MAX_CONNECTIONS", "1000")], limit);
        // More connections than that, all idle. Both paths end in the same
        // fast 503 as a connection beyond MAX_CONNECTIONS: the server is
        // busy, not broken.
        let mut hogs: Vec<TcpStream> = (0..40)
            .map(|_| wire::connect_with_timeout(server.addr, Duration::from_millis(300)))
            .collect();
        let refused = hogs
            .iter_mut()
            .map(wire::read_reply)
            .filter(|reply| reply.status() == Some(503))
            .count();
        assert!(
            refused > 0,
            "ulimit -n {limit}: no connection was refused with 503"
        );
        // The descriptors come back as the workers notice the hogs have
        // left, which takes a moment: until then a client may still get a
        // 503 (and should try again, as Retry-After says). Within five
        // seconds, the server must serve again.
        drop(hogs);
        let mut statuses = Vec::new();
        for _ in 0..50 {
            let mut client = wire::connect_with_timeout(server.addr, Duration::from_secs(5));
            wire::send(
                &mut client,
                b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n",
            );
            statuses.push(wire::read_response(&mut client).status());
            if statuses.last() == Some(&Some(200)) {
                break;
            }
            thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(
            statuses.last(),
            Some(&Some(200)),
            "ulimit -n {limit}: the server did not recover: {statuses:?}"
        );
    }
}

#[test]
fn out_of_descriptors_with_no_spare_the_server_says_so_and_backs_off() {
    // The smallest limit the binary starts under: what it opens to start
    // (its listening socket, then signal-hook's pair of sockets) takes the
    // last descriptors, so not even the spare can be reserved. Found by
    // trying, since how many descriptors the process inherits depends on
    // who runs the test.
    let server = (3..=64)
        .find_map(|limit| Server::try_start_with_descriptor_limit(&[], limit))
        .expect("stage-06 starts under some ulimit -n up to 64");
    // A client waits in the queue, and every `accept` fails with EMFILE.
    // With no spare to spend, the server cannot answer it. It must say so
    // and pause before trying again, twice as long each time (10 ms, 20 ms,
    // … at most 1 s): about eight lines in two seconds. Spending a spare it
    // does not have, or not doubling the pause, would spin at 100% CPU: in
    // silence, or with thousands of lines.
    let _waiting = wire::connect_with_timeout(server.addr, Duration::from_secs(1));
    let failures = server.log_lines_within("accept failed", Duration::from_secs(2));
    assert!(
        !failures.is_empty(),
        "out of descriptors with no spare, the server never said `accept failed`"
    );
    assert!(
        failures.len() <= 12,
        "{} `accept failed` lines in 2 s: the server is not backing off (first: {:?})",
        failures.len(),
        failures[0]
    );
    assert!(
        failures[0].contains("Too many open files"),
        "the failure is not EMFILE: {:?}",
        failures[0]
    );
}

#[test]
fn a_listening_socket_that_breaks_stops_the_server_with_its_error() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free loopback port");
    let same_socket = listener.try_clone().expect("a second handle on the socket");
    let shutdown = stage_06::Shutdown::for_listener(&listener).expect("a shutdown");
    let (done, served) = mpsc::channel();
    thread::spawn(move || {
        let _ = done.send(stage_06::serve(listener, stage_06::Config::new(), shutdown));
    });
    // Let `serve` block in `accept`, then break the socket under it: on
    // Linux, shutdown(2) on a listening socket stops it listening, and
    // `accept` fails with EINVAL, now and every time after. Trying again can
    // never work, so `serve` must give up and say why, not retry for ever.
    thread::sleep(Duration::from_millis(200));
    // SAFETY: shutdown(2) on a descriptor we own; it touches no memory.
    let status = unsafe { libc::shutdown(same_socket.as_raw_fd(), libc::SHUT_RDWR) };
    assert_eq!(
        status,
        0,
        "shutdown(2): {}",
        std::io::Error::last_os_error()
    );
    let result = served
        .recv_timeout(Duration::from_secs(5))
        .expect("serve returns once its listening socket is broken");
    let error = result.expect_err("serve returns the error that stopped it");
    assert_eq!(error.raw_os_error(), Some(libc::EINVAL), "{error}");
}
