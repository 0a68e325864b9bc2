//! The helpers of `bench/peers.sh`, two subcommands:
//!
//! ```text
//! peer-tools hold ADDR CONNECTIONS READY_AFTER SECONDS
//! peer-tools cold-start ADDR PATH -- [NAME=VALUE...] COMMAND [ARGUMENT...]
//! ```
//!
//! `hold` opens CONNECTIONS connections to ADDR (at most 128 on their way
//! at a time: being made, or waiting for their answer, for less than 1 s),
//! sends `GET /api/status` on each and reads the answer, so that
//! each is a keep-alive connection that has served one request, and then
//! holds them all open, idle, until SECONDS after its start. Once every
//! connection has its answer, or READY_AFTER seconds after the start (a
//! server that never answers some), it prints one line, `ready: ...`, with
//! what happened to them (answered, by status; closed by the server; no
//! answer yet; could not connect); at the end it prints `end: ...` with the
//! same counts. Only loopback addresses are accepted.
//!
//! `cold-start` starts COMMAND, with the variables NAME=VALUE added to its
//! environment, its stdout going to /dev/null, then connects to ADDR again and again (every
//! 100 µs) and sends `GET PATH` until an answer's status is 200, and prints
//! the time from just before the start to that answer, in microseconds. Then
//! it sends the command SIGTERM (with `kill`: nginx's master stops its
//! workers then), and SIGKILL if it is still there 5 s later. It gives up
//! after 10 s.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::process::{self, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

fn main() {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    match arguments
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["hold", addr, connections, ready_after, seconds] => hold(
            loopback(addr),
            number(connections),
            Duration::from_secs(number(ready_after) as u64),
            Duration::from_secs(number(seconds) as u64),
        ),
        ["cold-start", addr, path, "--", command @ ..] => {
            let variables: Vec<(&str, &str)> = command
                .iter()
                .map_while(|argument| argument.split_once('='))
                .collect();
            match &command[variables.len()..] {
                [] => usage(),
                command => cold_start(loopback(addr), path, &variables, command),
            }
        }
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!("usage: peer-tools hold ADDR CONNECTIONS READY_AFTER SECONDS");
    eprintln!("       peer-tools cold-start ADDR PATH -- [NAME=VALUE...] COMMAND [ARGUMENT...]");
    process::exit(2);
}

fn loopback(text: &str) -> SocketAddr {
    match text.parse::<SocketAddr>() {
        Ok(addr) if addr.ip().is_loopback() => addr,
        _ => fail(&format!(
            "{text}: expected a loopback address and port, such as 127.0.0.1:8090"
        )),
    }
}

fn number(text: &str) -> usize {
    text.parse()
        .unwrap_or_else(|_| fail(&format!("{text}: expected a number")))
}

fn fail(message: &str) -> ! {
    eprintln!("peer-tools: {message}");
    process::exit(2);
}

// ------------------------------------------------------------------ hold --

const REQUEST: &[u8] = b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
const OPENING_AT_ONCE: usize = 128;
/// A connection still without an answer this long after it was started no
/// longer holds up the others: a server that leaves some connections
/// unanswered still gets all of them.
const STUCK_AFTER: Duration = Duration::from_secs(1);

enum State {
    /// The connection is being made, since then.
    Connecting(Instant),
    /// The request is sent (at that time); what has come of the answer so far.
    Waiting(Instant, Vec<u8>),
    /// Answered with this status, and held.
    Held(u16),
    /// Closed by the server (after an answer with this status, if any).
    Closed(Option<u16>),
    /// The connection could not be made, or the request not sent.
    Failed,
}

impl State {
    /// Being opened, and not for long: such connections count towards
    /// OPENING_AT_ONCE.
    fn opening(&self) -> bool {
        match self {
            State::Connecting(since) | State::Waiting(since, _) => since.elapsed() < STUCK_AFTER,
            _ => false,
        }
    }

    fn unanswered(&self) -> bool {
        matches!(self, State::Connecting(_) | State::Waiting(..))
    }
}

fn hold(addr: SocketAddr, wanted: usize, ready_after: Duration, seconds: Duration) {
    let started = Instant::now();
    let mut poll = Poll::new().unwrap_or_else(|error| fail(&format!("epoll: {error}")));
    let mut events = Events::with_capacity(1024);
    // Connection i is sockets[i], states[i] and Token(i).
    let mut sockets: Vec<TcpStream> = Vec::with_capacity(wanted);
    let mut states: Vec<State> = Vec::with_capacity(wanted);
    let mut can_open = true;
    let mut ready_said = false;
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        // Open more while fewer than OPENING_AT_ONCE are on their way.
        let mut opening = states.iter().filter(|state| state.opening()).count();
        while can_open && sockets.len() < wanted && opening < OPENING_AT_ONCE {
            let token = Token(sockets.len());
            let opened = TcpStream::connect(addr).and_then(|mut socket| {
                let interest = Interest::READABLE | Interest::WRITABLE;
                poll.registry().register(&mut socket, token, interest)?;
                Ok(socket)
            });
            match opened {
                Ok(socket) => {
                    sockets.push(socket);
                    states.push(State::Connecting(Instant::now()));
                    opening += 1;
                }
                Err(error) => {
                    // Out of file descriptors or ports: open no more.
                    eprintln!("peer-tools: connection {}: {error}", token.0 + 1);
                    can_open = false;
                }
            }
        }
        let elapsed = started.elapsed();
        let all_opened = !can_open || sockets.len() == wanted;
        let all_answered = !states.iter().any(State::unanswered);
        if !ready_said && (all_opened && all_answered || elapsed >= ready_after) {
            println!("ready: {}", summary(&states, wanted, started));
            ready_said = true;
        }
        if elapsed >= seconds {
            println!("end: {}", summary(&states, wanted, started));
            return;
        }
        let wait = if ready_said {
            Duration::from_millis(200)
        } else {
            Duration::from_millis(20)
        };
        if let Err(error) = poll.poll(&mut events, Some(wait)) {
            if error.kind() != ErrorKind::Interrupted {
                fail(&format!("poll: {error}"));
            }
        }
        for event in events.iter() {
            let i = event.token().0;
            let state = std::mem::replace(&mut states[i], State::Failed);
            states[i] = step(&mut sockets[i], state, &mut buffer);
        }
    }
}

/// What one readiness event does to one connection.
fn step(socket: &mut TcpStream, state: State, buffer: &mut [u8]) -> State {
    match state {
        State::Connecting(since) => {
            if let Ok(Some(_)) | Err(_) = socket.take_error() {
                return State::Failed;
            }
            match socket.peer_addr() {
                // Connected: send the request (it fits in any socket
                // buffer, so one write does), then look for the answer.
                Ok(_) => match socket.write(REQUEST) {
                    Ok(n) if n == REQUEST.len() => {
                        step(socket, State::Waiting(Instant::now(), Vec::new()), buffer)
                    }
                    Err(error) if error.kind() == ErrorKind::WouldBlock => State::Connecting(since),
                    _ => State::Failed,
                },
                Err(error) if error.kind() == ErrorKind::NotConnected => State::Connecting(since),
                Err(_) => State::Failed,
            }
        }
        State::Waiting(since, mut received) => {
            let open = loop {
                match socket.read(buffer) {
                    Ok(0) => break false,
                    Ok(n) => received.extend_from_slice(&buffer[..n]),
                    Err(error) if error.kind() == ErrorKind::WouldBlock => break true,
                    Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                    Err(_) => break false,
                }
            };
            // An answer and then the end (a 503 "too many connections")
            // is an answer, then a close.
            match (complete_answer(&received), open) {
                (Some(status), true) => State::Held(status),
                (status, false) => State::Closed(status),
                (None, true) => State::Waiting(since, received),
            }
        }
        State::Held(status) => {
            // An idle connection is readable only if the server closed it
            // (or sent something it should not have).
            loop {
                match socket.read(buffer) {
                    Ok(0) => return State::Closed(Some(status)),
                    Ok(_) => continue,
                    Err(error) if error.kind() == ErrorKind::WouldBlock => {
                        return State::Held(status)
                    }
                    Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                    Err(_) => return State::Closed(Some(status)),
                }
            }
        }
        other => other,
    }
}

/// The status of the answer in `received`, once all of it (head and
/// `Content-Length` bytes of body) has arrived.
fn complete_answer(received: &[u8]) -> Option<u16> {
    let end = received.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&received[..end]);
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let length: usize = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0);
    (received.len() >= end + length).then_some(status)
}

fn summary(states: &[State], wanted: usize, started: Instant) -> String {
    let mut held: BTreeMap<u16, usize> = BTreeMap::new();
    let mut closed: BTreeMap<u16, usize> = BTreeMap::new();
    let (mut unanswered, mut closed_unanswered, mut failed) = (0, 0, 0);
    for state in states {
        match state {
            State::Held(status) => *held.entry(*status).or_default() += 1,
            State::Connecting(_) | State::Waiting(..) => unanswered += 1,
            State::Closed(Some(status)) => *closed.entry(*status).or_default() += 1,
            State::Closed(None) => closed_unanswered += 1,
            State::Failed => failed += 1,
        }
    }
    let by_status = |counts: &BTreeMap<u16, usize>| {
        let text: Vec<String> = counts
            .iter()
            .map(|(status, n)| format!("{status}:{n}"))
            .collect();
        if text.is_empty() {
            "-".to_string()
        } else {
            text.join(",")
        }
    };
    format!(
        "wanted={wanted} held={} held_by_status={} unanswered={unanswered} \
         closed_after_answer={} closed_by_status={} closed_unanswered={closed_unanswered} \
         failed={failed} not_opened={} seconds={:.2}",
        held.values().sum::<usize>(),
        by_status(&held),
        closed.values().sum::<usize>(),
        by_status(&closed),
        wanted - states.len(),
        started.elapsed().as_secs_f64(),
    )
}

// ------------------------------------------------------------ cold start --

fn cold_start(addr: SocketAddr, path: &str, variables: &[(&str, &str)], command: &[&str]) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let started = Instant::now();
    let mut child = Command::new(command[0])
        .args(&command[1..])
        .envs(variables.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| fail(&format!("cannot start {}: {error}", command[0])));
    let answered = loop {
        if started.elapsed() > Duration::from_secs(10) {
            break None;
        }
        if let Ok(Some(status)) = child.try_wait() {
            eprintln!("peer-tools: {} exited first ({status})", command[0]);
            break None;
        }
        if get_status(addr, &request) == Some(200) {
            break Some(started.elapsed());
        }
        thread::sleep(Duration::from_micros(100));
    };
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let stopping = Instant::now();
    while child.try_wait().ok().flatten().is_none() {
        if stopping.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            let _ = child.wait();
            break;
        }
        thread::sleep(Duration::from_millis(5));
    }
    match answered {
        Some(time) => println!("{}", time.as_micros()),
        None => fail(&format!("no 200 from {addr}{path} within 10 s")),
    }
}

/// One request on a new connection: the answer's status, or None.
fn get_status(addr: SocketAddr, request: &str) -> Option<u16> {
    let mut socket = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    socket.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    socket.write_all(request.as_bytes()).ok()?;
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    while !head.windows(2).any(|w| w == b"\r\n") {
        let n = socket.read(&mut buffer).ok()?;
        if n == 0 {
            return None;
        }
        head.extend_from_slice(&buffer[..n]);
    }
    String::from_utf8_lossy(&head)
        .split(' ')
        .nth(1)?
        .parse()
        .ok()
}
