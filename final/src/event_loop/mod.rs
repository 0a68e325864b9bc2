//! The event loop: one thread that owns many connections, and serves each
//! whenever it can make progress.
//!
//! A thread that owns a connection from `accept` to close spends most of
//! that time waiting: for the next request of a keep-alive client, for a
//! slow upload, for a client that reads slowly. With as many idle clients
//! as threads, nobody else is served (chapter 11 shows it happen).
//!
//! Here no thread waits on a connection. Every socket is non-blocking, and
//! the loop asks the kernel (`epoll`, through `mio`) one question: "which
//! of my sockets can I read or write right now?" It then does, for each of
//! them, as much as it can without waiting, and asks again. A connection
//! is not a thread's position in its code, but a value: a
//! `Connection` with its buffers and its `Phase`.
//!
//! Three rules keep one thread fast for thousands of connections:
//! 1. Never wait. What would block (a password hash, the database, opening
//!    a file) goes to the pool ([`crate::router::blocks`]), and the worker
//!    wakes the loop (`mio::Waker`) when the answer is ready.
//! 2. Read and write until the kernel says `WouldBlock`. Readiness is
//!    edge-triggered: `epoll` reports a socket when it *becomes* readable,
//!    not while it *is*. Stop early and you never hear of it again. (A
//!    read that returns less than it asked for counts: the kernel gave all
//!    it had, see `advance`.)
//! 3. Keep time yourself. No read waits, so no read can time out: every
//!    deadline is in [`Timers`], and `poll` sleeps only until the next one.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, Shutdown as Direction, SocketAddr};
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};

pub mod connections;
pub mod timers;

use connections::OpenConnection;
use timers::Timers;

use crate::access_log::{self, Entry};
use crate::api::ApiError;
use crate::config::Config;
use crate::http::Status;
use crate::http::{Connection as After, FileBody, Response, Sending};
use crate::http::{Request, RequestParser};
use crate::pool::PoolHandle;
use crate::router::{self, route, App};
use crate::shutdown::Shutdown;

/// The listening socket's token; connections count up from [`FIRST_CONNECTION`].
const LISTENER: Token = Token(0);
/// The token of the waker: a pool job finished, or shutdown was requested.
const WAKER: Token = Token(1);
const FIRST_CONNECTION: usize = 2;

// ANCHOR: limits
/// How many bytes one `read` asks for. One buffer of this size per loop
/// (not per connection): bytes are copied from it to the connection's own
/// buffer only while a request is incomplete.
const READ_CHUNK_BYTES: usize = 16 * 1024;
/// How much of a file is read at a time into a connection's write buffer.
/// The write buffer never holds more than this, or one response made in
/// memory: we read the next request only once the answer is sent, so a
/// client that does not read stops being read from (backpressure).
const FILE_CHUNK_BYTES: usize = 64 * 1024;
/// The interim answer to `Expect: 100-continue`: "send the body".
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
/// How many readiness events one `poll` returns at most.
const EVENTS_PER_POLL: usize = 1024;
// ANCHOR_END: limits

/// After answering with `Connection: close`, how long we keep reading (and
/// discarding) what the client still sends before we close: see
/// [`Phase::Lingering`].
const LINGER_TIMEOUT: Duration = Duration::from_secs(1);
/// And how much of it we are willing to read and throw away.
const LINGER_MAX_BYTES: usize = 64 * 1024;
/// How much [`refuse_busy`] reads (and throws away) at a time.
const DISCARD_CHUNK_BYTES: usize = 4096;
/// During shutdown, how long an idle keep-alive connection may still take to
/// deliver a request that is already on its way.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(50);
/// After a failed `accept`, how long we pause before trying again; the
/// pause doubles while the failures go on, up to [`MAX_ACCEPT_PAUSE`].
const FIRST_ACCEPT_PAUSE: Duration = Duration::from_millis(10);
const MAX_ACCEPT_PAUSE: Duration = Duration::from_secs(1);

/// What every event loop and every pool job shares.
pub struct Shared {
    pub app: App,
    pub config: Config,
    pub shutdown: Shutdown,
    pub log: access_log::Writer,
}

// ANCHOR: connection
/// One client connection, as the loop keeps it between events.
struct Connection {
    token: Token,
    stream: TcpStream,
    /// Who is at the other end, asked at `accept`.
    peer: IpAddr,
    /// Our place under `MAX_CONNECTIONS`, given back when this is dropped.
    _place: OpenConnection,
    parser: RequestParser,
    /// Bytes read and not parsed yet. Empty, with no memory behind it,
    /// while the connection is idle: 10 000 idle connections cost 10 000
    /// of these structs, not 10 000 buffers.
    input: Vec<u8>,
    /// What is left to send of the current answer.
    output: Output,
    phase: Phase,
    /// The socket may have bytes for us: set by a readable event, cleared
    /// only when a read says `WouldBlock` (rule 2 above).
    readable: bool,
    /// The socket may take bytes: set by a writable event, cleared only
    /// when a write says `WouldBlock`.
    writable: bool,
    /// Requests answered on this connection.
    served: usize,
    /// When the connection last became idle (accepted, or answered).
    idle_since: Instant,
    /// When the first byte of the request being read arrived.
    request_started: Option<Instant>,
    /// When the last write made progress.
    last_progress: Instant,
    /// The deadline registered in [`Timers`], if any.
    deadline: Option<Instant>,
}

/// Where a connection is in its conversation.
enum Phase {
    /// Reading a request (or waiting, idle, for the next one).
    Reading,
    /// A pool worker is answering the request.
    Waiting(Facts),
    /// Sending the answer.
    Writing(Answered),
    /// The answer was the last one: we said "no more from us"
    /// (`shutdown(Write)`, a FIN), and now read and discard whatever the
    /// client still sends until it closes too. Closing with unread bytes
    /// would send a reset (RST) instead, and a client that receives a reset
    /// may throw our answer away before reading it.
    Lingering { until: Instant, discarded: usize },
}
// ANCHOR_END: connection

impl Connection {
    /// Can this event move the connection forward? A readable event can
    /// (bytes, or the end); a writable one only while there is something
    /// to write.
    fn cares_about(&self, event: &mio::event::Event) -> bool {
        let has_output = self.output.sent < self.output.bytes.len() || self.output.file.is_some();
        event.is_readable() || event.is_read_closed() || event.is_error() || has_output
    }
}

/// What we know of a request, for its answer and its access-log line.
struct Facts {
    method: String,
    path: String,
    /// The client, as the access log names it.
    client: IpAddr,
    started: Instant,
    sending: Sending,
    after: After,
}

/// A request being answered: its facts, and what the answer was.
struct Answered {
    facts: Facts,
    route: &'static str,
    status: Status,
    /// Body bytes we are sending.
    bytes: u64,
}

/// The bytes still to send: `bytes[sent..]`, then `file`.
#[derive(Default)]
struct Output {
    bytes: Vec<u8>,
    sent: usize,
    file: Option<FileBody>,
}

/// An answer a pool worker made, on its way back to the loop.
struct Finished {
    token: Token,
    route: &'static str,
    response: Response,
}

/// Whether a connection lives on after being driven.
#[derive(Debug, PartialEq, Eq)]
enum Fate {
    Keep,
    Close,
}

// ANCHOR: event_loop
/// One event-loop thread: its `poll`, its share of the listening socket,
/// and the connections it accepted.
pub struct EventLoop {
    poll: Poll,
    /// `None` once shutdown has begun: we accept no more.
    listener: Option<TcpListener>,
    waker: Arc<Waker>,
    /// Answers made by pool workers, waiting for this loop to send them.
    finished: Arc<Mutex<Vec<Finished>>>,
    connections: HashMap<Token, Connection>,
    next_token: usize,
    timers: Timers,
    /// The one read buffer of this loop (see [`READ_CHUNK_BYTES`]).
    scratch: Vec<u8>,
    shared: Arc<Shared>,
    pool: PoolHandle,
    /// A file descriptor held in reserve (an open `/dev/null`), so that
    /// when the process runs out, we can still accept and answer 503.
    spare_descriptor: Option<File>,
    accept_pause: Duration,
    /// After a failed `accept`: when to try again.
    accept_again_at: Option<Instant>,
    /// When shutdown began, and when the drain must end.
    drain: Option<(Instant, Instant)>,
}
// ANCHOR_END: event_loop

impl EventLoop {
    /// A loop that accepts from its own copy of the listening socket.
    pub fn new(
        listener: std::net::TcpListener,
        shared: Arc<Shared>,
        pool: PoolHandle,
    ) -> io::Result<EventLoop> {
        let poll = Poll::new()?;
        listener.set_nonblocking(true)?;
        let mut listener = TcpListener::from_std(listener);
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        shared.shutdown.wake_on_request(Arc::clone(&waker));
        Ok(EventLoop {
            poll,
            listener: Some(listener),
            waker,
            finished: Arc::default(),
            connections: HashMap::new(),
            next_token: FIRST_CONNECTION,
            timers: Timers::default(),
            scratch: vec![0; READ_CHUNK_BYTES],
            shared,
            pool,
            spare_descriptor: reserve_descriptor(),
            accept_pause: FIRST_ACCEPT_PAUSE,
            accept_again_at: None,
            drain: None,
        })
    }

    // ANCHOR: run
    /// Serves until shutdown is requested and every connection has
    /// finished, or the drain timeout has run out. Returns how many
    /// connections were still open then (cut off).
    pub fn run(mut self) -> io::Result<usize> {
        let mut events = Events::with_capacity(EVENTS_PER_POLL);
        loop {
            let now = Instant::now();
            if let Some((_, drain_end)) = self.drain {
                if self.connections.is_empty() || now >= drain_end {
                    return Ok(self.connections.len());
                }
            }
            // Sleep until something happens, or the next deadline.
            let timeout = [
                self.timers.next(now),
                self.accept_again_at
                    .map(|at| at.saturating_duration_since(now)),
                self.drain
                    .map(|(_, end)| end.saturating_duration_since(now)),
            ]
            .into_iter()
            .flatten()
            .min();
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_all()?,
                    // Handled below, whatever woke us.
                    WAKER => {}
                    token => {
                        let Some(connection) = self.connections.get_mut(&token) else {
                            continue;
                        };
                        // Errors and hang-ups show up as readable (and
                        // writable): the next read or write says what.
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            connection.readable = true;
                        }
                        if event.is_writable() || event.is_write_closed() || event.is_error() {
                            connection.writable = true;
                        }
                        // A socket becomes writable again every time the
                        // client acknowledges our bytes: after nearly every
                        // answer. Only a connection with bytes to send cares.
                        if connection.cares_about(event) {
                            self.drive(token);
                        }
                    }
                }
            }
            self.take_finished_answers();
            if self.shared.shutdown.is_requested() && self.drain.is_none() {
                self.begin_drain();
            }
            let now = Instant::now();
            if self.accept_again_at.is_some_and(|at| at <= now) {
                self.accept_again_at = None;
                self.accept_all()?;
            }
            for token in self.timers.expired(now) {
                self.on_deadline(token);
            }
        }
    }
    // ANCHOR_END: run

    // ANCHOR: accept_all
    /// Accepts every connection waiting in the listening socket's queue
    /// (until `WouldBlock`: the listener is edge-triggered too).
    fn accept_all(&mut self) -> io::Result<()> {
        loop {
            let Some(listener) = &self.listener else {
                return Ok(());
            };
            if self.accept_again_at.is_some() {
                return Ok(());
            }
            match listener.accept() {
                Ok((stream, addr)) => {
                    self.accept_pause = FIRST_ACCEPT_PAUSE;
                    self.welcome(stream, addr)?;
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) if listener_is_broken(&error) => return Err(error),
                Err(error) if is_out_of_descriptors(&error) && self.spare_descriptor.is_some() => {
                    // Free the spare so `accept` can take it, answer 503
                    // like any connection beyond the cap, take it back.
                    drop(self.spare_descriptor.take());
                    if let Ok((stream, _)) = listener.accept() {
                        refuse_busy(&stream, &self.shared);
                    }
                    self.spare_descriptor = reserve_descriptor();
                }
                Err(error) => {
                    // Out of memory, or out of descriptors with no spare:
                    // pause (without blocking the loop), longer each time.
                    eprintln!(
                        "accept failed: {error}; trying again in {:?}",
                        self.accept_pause
                    );
                    self.accept_again_at = Some(Instant::now() + self.accept_pause);
                    self.accept_pause = (self.accept_pause * 2).min(MAX_ACCEPT_PAUSE);
                    return Ok(());
                }
            }
        }
    }
    // ANCHOR_END: accept_all

    /// Registers a new connection with this loop, or refuses it beyond the
    /// cap.
    fn welcome(&mut self, mut stream: TcpStream, addr: SocketAddr) -> io::Result<()> {
        let connections = &self.shared.app.connections;
        let Some(place) = connections.try_open(self.shared.config.max_connections) else {
            refuse_busy(&stream, &self.shared);
            return Ok(());
        };
        // Small answers go out at once, not after the kernel waits (Nagle)
        // for more bytes to fill a packet.
        let _ = stream.set_nodelay(true);
        let token = Token(self.next_token);
        self.next_token += 1;
        self.poll.registry().register(
            &mut stream,
            token,
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let now = Instant::now();
        let connection = Connection {
            token,
            stream,
            peer: addr.ip(),
            _place: place,
            parser: RequestParser::new(),
            input: Vec::new(),
            output: Output::default(),
            phase: Phase::Reading,
            readable: false,
            writable: false,
            served: 0,
            idle_since: now,
            request_started: None,
            last_progress: now,
            deadline: None,
        };
        self.connections.insert(token, connection);
        self.schedule(token);
        Ok(())
    }

    // ANCHOR: drive
    /// Moves one connection forward as far as it can go without waiting,
    /// then registers its next deadline (or closes it).
    fn drive(&mut self, token: Token) {
        let Some(mut connection) = self.connections.remove(&token) else {
            return;
        };
        match self.advance(&mut connection) {
            Fate::Keep => {
                self.connections.insert(token, connection);
                self.schedule(token);
            }
            Fate::Close => self.timers.change(token, connection.deadline, None),
            // Dropping the stream closes the socket, which also removes it
            // from `epoll`.
        }
    }

    /// The state machine: each phase does what it can, then either moves
    /// to the next phase (and goes round again) or has to wait for the
    /// socket, the pool or a deadline (and returns).
    fn advance(&mut self, connection: &mut Connection) -> Fate {
        loop {
            match connection.phase {
                Phase::Reading => {
                    // Parse first: the buffer may already hold a whole
                    // pipelined request, and no event will announce it.
                    match connection.parser.parse(&mut connection.input) {
                        Ok(Some(request)) => {
                            self.dispatch(connection, request);
                            continue;
                        }
                        Err(error) => {
                            self.refuse(connection, error.status());
                            continue;
                        }
                        Ok(None) => {
                            if connection.parser.take_continue() {
                                connection.output.bytes.extend_from_slice(CONTINUE);
                            }
                        }
                    }
                    // An interim `100 Continue` to send first, if any.
                    if connection.output.sent < connection.output.bytes.len() {
                        match self.write_output(connection) {
                            Ok(true) => connection.output = Output::default(),
                            Ok(false) => return Fate::Keep,
                            Err(_) => return Fate::Close,
                        }
                    }
                    if !connection.readable {
                        return Fate::Keep;
                    }
                    match (&connection.stream).read(&mut self.scratch) {
                        // The client closed: nobody to answer.
                        Ok(0) => return Fate::Close,
                        Ok(received) => {
                            connection.request_started.get_or_insert_with(Instant::now);
                            connection
                                .input
                                .extend_from_slice(&self.scratch[..received]);
                            // A read that did not fill the buffer took all
                            // the kernel had: had there been more, it would
                            // have been returned too. Bytes that arrive later
                            // bring a new event. So this counts as reaching
                            // `WouldBlock`, and saves the read that would say
                            // so (a system call per request).
                            if received < self.scratch.len() {
                                connection.readable = false;
                            }
                        }
                        Err(error) if error.kind() == ErrorKind::WouldBlock => {
                            connection.readable = false;
                        }
                        Err(error) if error.kind() == ErrorKind::Interrupted => {}
                        // A reset: nobody to answer.
                        Err(_) => return Fate::Close,
                    }
                }
                // The pool has the request; `take_finished_answers` will
                // bring the answer back.
                Phase::Waiting(_) => return Fate::Keep,
                Phase::Writing(_) => match self.write_output(connection) {
                    Ok(true) => self.answered(connection),
                    Ok(false) => return Fate::Keep,
                    Err(error) => {
                        // The client left, or the file shrank: log what we
                        // tried to send, and close without ceremony.
                        if error.kind() == ErrorKind::UnexpectedEof {
                            eprintln!("connection ended with an error: {error}");
                        }
                        self.log_answer(connection);
                        return Fate::Close;
                    }
                },
                Phase::Lingering { until, discarded } => {
                    if !connection.readable {
                        return Fate::Keep;
                    }
                    match (&connection.stream).read(&mut self.scratch) {
                        Ok(0) => return Fate::Close,
                        Ok(received) if discarded + received >= LINGER_MAX_BYTES => {
                            return Fate::Close
                        }
                        Ok(received) => {
                            connection.phase = Phase::Lingering {
                                until,
                                discarded: discarded + received,
                            };
                        }
                        Err(error) if error.kind() == ErrorKind::WouldBlock => {
                            connection.readable = false;
                        }
                        Err(error) if error.kind() == ErrorKind::Interrupted => {}
                        Err(_) => return Fate::Close,
                    }
                }
            }
        }
    }
    // ANCHOR_END: drive

    // ANCHOR: dispatch
    /// A whole request has arrived: answer it here, or hand it to the pool.
    fn dispatch(&mut self, connection: &mut Connection, request: Request) {
        let config = &self.shared.config;
        connection.served += 1;
        let after = if request.wants_keep_alive()
            && connection.served < config.max_requests_per_connection
            && !self.shared.shutdown.is_requested()
        {
            After::KeepAlive
        } else {
            After::Close
        };
        let facts = Facts {
            method: request.method.clone(),
            path: request.path.clone(),
            client: access_log::client_address(
                connection.peer,
                request.header("x-real-ip"),
                &config.trusted_proxies,
            ),
            // The request's clock started with its first byte.
            started: connection
                .request_started
                .take()
                .unwrap_or_else(Instant::now),
            sending: Sending::for_method(&request.method),
            after,
        };
        if !router::blocks(&request) {
            let (route_name, response) = route(&request, &self.shared.app);
            self.start_answer(connection, facts, route_name, response);
            return;
        }
        connection.phase = Phase::Waiting(facts);
        let token = connection.token;
        let shared = Arc::clone(&self.shared);
        let finished = Arc::clone(&self.finished);
        let waker = Arc::clone(&self.waker);
        self.pool.execute(move || {
            // A handler that panics must still answer, or the connection
            // would wait for ever.
            let (route, response) =
                panic::catch_unwind(AssertUnwindSafe(|| route(&request, &shared.app)))
                    .unwrap_or_else(|_| {
                        eprintln!("a handler panicked; answering 500");
                        ("panic", Response::error(Status::InternalServerError))
                    });
            finished
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Finished {
                    token,
                    route,
                    response,
                });
            // If this fails the loop is gone, and nobody waits for us.
            let _ = waker.wake();
        });
    }
    // ANCHOR_END: dispatch

    /// The answers the pool has finished since we last looked: send them.
    fn take_finished_answers(&mut self) {
        let finished =
            std::mem::take(&mut *self.finished.lock().unwrap_or_else(PoisonError::into_inner));
        for Finished {
            token,
            route,
            response,
        } in finished
        {
            let Some(mut connection) = self.connections.remove(&token) else {
                continue;
            };
            let phase = std::mem::replace(&mut connection.phase, Phase::Reading);
            if let Phase::Waiting(facts) = phase {
                self.start_answer(&mut connection, facts, route, response);
            } else {
                connection.phase = phase;
            }
            self.connections.insert(token, connection);
            self.drive(token);
        }
    }

    /// Turns the answer into bytes for the connection's write buffer.
    fn start_answer(
        &mut self,
        connection: &mut Connection,
        facts: Facts,
        route: &'static str,
        response: Response,
    ) {
        let status = response.status;
        let bytes = match facts.sending {
            Sending::HeadAndBody => response.body.length(),
            Sending::HeadOnly => 0,
        };
        let encoded = response.encode(facts.sending, facts.after);
        connection.output = Output {
            bytes: encoded.bytes,
            sent: 0,
            file: encoded.file,
        };
        connection.last_progress = Instant::now();
        connection.phase = Phase::Writing(Answered {
            facts,
            route,
            status,
            bytes,
        });
    }

    // ANCHOR: refuse
    /// Answers a request we could not read whole with an error status (and
    /// `Connection: close`: after a bad request we cannot know where the
    /// next one starts). JSON if the request was for the API.
    fn refuse(&mut self, connection: &mut Connection, status: Status) {
        let path = connection.parser.path_being_read().map(str::to_string);
        let response = match &path {
            Some(path) if path.starts_with("/api/") => {
                ApiError::new(status, status.reason()).into_response()
            }
            _ => Response::error(status),
        };
        let facts = Facts {
            // No head we could trust: no method, and the peer it is.
            method: "-".to_string(),
            path: path.unwrap_or_else(|| "-".to_string()),
            client: connection.peer,
            started: connection
                .request_started
                .take()
                .unwrap_or_else(Instant::now),
            sending: Sending::HeadAndBody,
            after: After::Close,
        };
        self.start_answer(connection, facts, "refused", response);
    }
    // ANCHOR_END: refuse

    // ANCHOR: write_output
    /// Writes as much of the answer as the socket takes. `Ok(true)`: all of
    /// it is sent; `Ok(false)`: the socket is full, wait to be writable.
    fn write_output(&self, connection: &mut Connection) -> io::Result<bool> {
        let output = &mut connection.output;
        loop {
            if output.sent == output.bytes.len() {
                // The buffer is sent: refill it from the file, if any.
                let Some(body) = &mut output.file else {
                    return Ok(true);
                };
                if body.length == 0 {
                    output.file = None;
                    continue;
                }
                output.bytes.clear();
                output.sent = 0;
                let chunk = body.length.min(FILE_CHUNK_BYTES as u64);
                let read = (&body.file).take(chunk).read_to_end(&mut output.bytes)?;
                if read == 0 {
                    // The file shrank after we announced its length. The
                    // client will see a short body and a closed connection,
                    // which is the only honest thing left to do.
                    return Err(io::Error::new(
                        ErrorKind::UnexpectedEof,
                        "file shrank while it was being sent",
                    ));
                }
                body.length -= read as u64;
            }
            if !connection.writable {
                return Ok(false);
            }
            match (&connection.stream).write(&output.bytes[output.sent..]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(written) => {
                    output.sent += written;
                    connection.last_progress = Instant::now();
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => {
                    connection.writable = false;
                    return Ok(false);
                }
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }
    // ANCHOR_END: write_output

    // ANCHOR: answered
    /// The answer is sent: count and log it, then read the next request or
    /// close.
    fn answered(&mut self, connection: &mut Connection) {
        self.log_answer(connection);
        let Phase::Writing(answered) = std::mem::replace(&mut connection.phase, Phase::Reading)
        else {
            unreachable!("called after writing an answer");
        };
        // Give the write buffer's memory back: an idle connection holds none.
        connection.output = Output::default();
        match answered.facts.after {
            After::KeepAlive => {
                let now = Instant::now();
                connection.idle_since = now;
                if connection.input.is_empty() {
                    connection.input = Vec::new();
                } else {
                    // A pipelined request is already here: its clock runs.
                    connection.request_started = Some(now);
                }
            }
            After::Close => {
                connection.input = Vec::new();
                // "No more from us": a FIN after the answer. If that fails
                // the client is gone, and lingering finds out at once.
                let _ = connection.stream.shutdown(Direction::Write);
                connection.readable = true;
                connection.phase = Phase::Lingering {
                    until: Instant::now() + LINGER_TIMEOUT,
                    discarded: 0,
                };
            }
        }
    }
    // ANCHOR_END: answered

    /// Counts and logs the answer being written (even if the client left
    /// before the end: we answered, and how long it took is part of the
    /// story).
    fn log_answer(&self, connection: &Connection) {
        let Phase::Writing(answered) = &connection.phase else {
            return;
        };
        let facts = &answered.facts;
        let duration = facts.started.elapsed();
        self.shared
            .app
            .metrics
            .record(answered.route, answered.status.code(), duration);
        self.shared.log.write(&Entry {
            peer: facts.client,
            method: &facts.method,
            path: &facts.path,
            status: answered.status.code(),
            bytes: answered.bytes,
            duration,
        });
    }

    // ANCHOR: deadlines
    /// When this connection must next be looked at, whatever happens.
    fn deadline_of(&self, connection: &Connection) -> Option<Instant> {
        let config = &self.shared.config;
        match connection.phase {
            Phase::Reading => match connection.request_started {
                // The whole request must arrive in time, from its first byte.
                Some(started) => Some(started + config.request_timeout),
                None => {
                    let idle_end = connection.idle_since + config.idle_timeout;
                    match self.drain {
                        Some((began, _)) => Some(idle_end.min(began + SHUTDOWN_GRACE)),
                        None => Some(idle_end),
                    }
                }
            },
            // The pool answers; its jobs have limits of their own.
            Phase::Waiting(_) => None,
            // The client must take some of our bytes every so often.
            Phase::Writing(_) => Some(connection.last_progress + config.write_timeout),
            Phase::Lingering { until, .. } => Some(until),
        }
    }

    /// Makes sure the connection's alarm rings no later than its deadline.
    ///
    /// Deadlines move at every step of every request (idle, reading,
    /// writing, idle again), and almost always *later*. Moving an entry in
    /// the timers each time would cost a removal and an insertion in the
    /// ordered set per step. So the alarm (`connection.deadline`, the entry
    /// in [`Timers`]) is moved only when the deadline comes *earlier*; when
    /// it is later, the alarm stays, and when it rings early,
    /// [`EventLoop::on_deadline`] looks at the real deadline and sets the
    /// alarm again. (nginx skips such updates too: `NGX_TIMER_LAZY_DELAY`.)
    fn schedule(&mut self, token: Token) {
        let Some(connection) = self.connections.get(&token) else {
            return;
        };
        let Some(due) = self.deadline_of(connection) else {
            return;
        };
        if connection.deadline.is_none_or(|alarm| due < alarm) {
            let alarm = connection.deadline;
            self.timers.change(token, alarm, Some(due));
            if let Some(connection) = self.connections.get_mut(&token) {
                connection.deadline = Some(due);
            }
        }
    }

    /// A connection's alarm has rung (the timers have already forgotten it).
    fn on_deadline(&mut self, token: Token) {
        let Some(mut connection) = self.connections.remove(&token) else {
            return;
        };
        connection.deadline = None;
        // The alarm may ring before the real deadline (see `schedule`), or
        // when there is none any more: then set it again, and wait.
        let due = self.deadline_of(&connection);
        if due.is_none_or(|due| due > Instant::now()) {
            self.connections.insert(token, connection);
            self.schedule(token);
            return;
        }
        match connection.phase {
            // Bytes of a request came, but not all of them in time: 408
            // (the slowloris defence), then close.
            Phase::Reading if connection.request_started.is_some() => {
                self.refuse(&mut connection, Status::RequestTimeout);
                self.connections.insert(token, connection);
                self.drive(token);
            }
            // Idle for too long, or shutting down: close quietly. (A 408
            // here could cross a request the client is sending right now.)
            Phase::Reading => {}
            // The client stopped reading our answer.
            Phase::Writing(_) => self.log_answer(&connection),
            Phase::Lingering { .. } => {}
            Phase::Waiting(_) => {
                self.connections.insert(token, connection);
            }
        }
    }
    // ANCHOR_END: deadlines

    // ANCHOR: begin_drain
    /// Shutdown: stop accepting, give idle connections a moment, let the
    /// others finish within the drain timeout.
    fn begin_drain(&mut self) {
        let now = Instant::now();
        // Closing our copy of the listening socket; once every loop (and
        // `Server::run`) has closed theirs, new connections are refused at
        // once.
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        self.drain = Some((now, now + self.shared.config.drain_timeout));
        let tokens: Vec<Token> = self.connections.keys().copied().collect();
        for token in tokens {
            self.schedule(token);
        }
    }
    // ANCHOR_END: begin_drain
}

/// Is this `accept` error about the listening socket itself (closed, not a
/// socket, not listening), so that trying again can never work? Every other
/// error (out of file descriptors or memory, a connection that was reset
/// while it waited in the queue) is about one connection or passes.
fn listener_is_broken(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EBADF | libc::EINVAL | libc::ENOTSOCK | libc::EFAULT)
    )
}

/// Is this `accept` error "the process (or the whole system) has no file
/// descriptor left for the new connection"?
fn is_out_of_descriptors(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// Holds one file descriptor in reserve (an open `/dev/null`), so that when
/// the process runs out, the loop can free it, take the waiting connection
/// and answer 503 instead of leaving the client hanging. `None` if even
/// this one descriptor is not available.
fn reserve_descriptor() -> Option<File> {
    File::open("/dev/null").ok()
}

// ANCHOR: refuse_busy
/// Answers a connection beyond the cap with `503 Service Unavailable` and
/// `Retry-After`, and closes it, without registering it: the socket is
/// non-blocking, and an answer this small fits in the kernel's send buffer
/// at once.
fn refuse_busy(stream: &TcpStream, shared: &Shared) {
    let started = Instant::now();
    // Read what the client has sent so far (at most LINGER_MAX_BYTES):
    // closing with unread bytes would send a reset, which can destroy our
    // answer before it is read.
    let mut discard = [0u8; DISCARD_CHUNK_BYTES];
    let mut discarded = 0;
    while discarded < LINGER_MAX_BYTES {
        match (&*stream).read(&mut discard) {
            Ok(received) if received > 0 => discarded += received,
            // Nothing more for now (`WouldBlock`), the end, or an error.
            _ => break,
        }
    }
    let response = Response::error(Status::ServiceUnavailable).with_header("Retry-After", "1");
    // Counted (before the answer goes out, so that a client who asks
    // `/metrics` next sees it), because a burst of these is what an
    // overloaded server looks like from the outside. Not logged.
    shared
        .app
        .metrics
        .record("busy", Status::ServiceUnavailable.code(), started.elapsed());
    let encoded = response.encode(Sending::HeadAndBody, After::Close);
    let _ = (&*stream).write(&encoded.bytes);
    let _ = stream.shutdown(Direction::Write);
}
// ANCHOR_END: refuse_busy

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_errors_about_the_listener_itself_stop_the_accept_loop() {
        for broken in [libc::EBADF, libc::EINVAL, libc::ENOTSOCK, libc::EFAULT] {
            assert!(listener_is_broken(&io::Error::from_raw_os_error(broken)));
        }
        // Out of descriptors, memory or buffers, or one connection that died
        // in the queue: pause and try again.
        for passing in [
            libc::EMFILE,
            libc::ENFILE,
            libc::ENOBUFS,
            libc::ENOMEM,
            libc::ECONNABORTED,
        ] {
            assert!(!listener_is_broken(&io::Error::from_raw_os_error(passing)));
        }
    }

    #[test]
    fn only_running_out_of_descriptors_spends_the_spare_one() {
        for out_of_descriptors in [libc::EMFILE, libc::ENFILE] {
            assert!(is_out_of_descriptors(&io::Error::from_raw_os_error(
                out_of_descriptors
            )));
        }
        for other in [libc::ENOBUFS, libc::ENOMEM, libc::ECONNABORTED] {
            assert!(!is_out_of_descriptors(&io::Error::from_raw_os_error(other)));
        }
    }
}
