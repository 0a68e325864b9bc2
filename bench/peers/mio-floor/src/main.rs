//! The floor: what an event loop costs when it does nothing else. One thread
//! per core, each with its own `mio::Poll`, all polling a copy of the same
//! listening socket (whichever thread is woken first accepts; the others find
//! `WouldBlock`). Each thread owns the connections it accepted. It parses
//! nothing: every `\r\n\r\n` it reads ends a request, and every request gets
//! the same bytes, the stages' `/api/status` answer, keep-alive. An idle
//! connection holds no buffer: only how much of `\r\n\r\n` it has seen, so
//! heads split across reads still count. Listens on `ADDR` (default
//! 127.0.0.1:8090).

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::{env, net, thread};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

const ANSWER: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 67\r\n\r\n\
{\"service\":\"from-socket-to-ship\",\"stage\":\"mio-floor\",\"status\":\"ok\"}";
const LISTENER: Token = Token(0);

/// One connection: the socket, how many bytes of `\r\n\r\n` end what it
/// has read so far, and the answers it could not take yet (empty, with no
/// allocation, unless the client stops reading).
struct Connection {
    socket: TcpStream,
    matched: usize,
    unsent: Vec<u8>,
}

fn main() {
    let addr = env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:8090".to_string());
    let listener = net::TcpListener::bind(&addr)
        .unwrap_or_else(|error| panic!("cannot listen on {addr}: {error}"));
    listener
        .set_nonblocking(true)
        .expect("a listener can be non-blocking");
    let threads = thread::available_parallelism().map_or(1, |n| n.get());
    let loops: Vec<_> = (0..threads)
        .map(|_| {
            let copy = listener.try_clone().expect("the listener can be shared");
            thread::spawn(move || event_loop(TcpListener::from_std(copy)))
        })
        .collect();
    println!(
        "listening on http://{}",
        listener.local_addr().expect("bound")
    );
    for handle in loops {
        handle.join().expect("an event loop panicked");
    }
}

fn event_loop(mut listener: TcpListener) {
    let mut poll = Poll::new().expect("epoll");
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .expect("register the listener");
    let mut events = Events::with_capacity(1024);
    let mut connections: HashMap<Token, Connection> = HashMap::new();
    let mut next = 1;
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        if let Err(error) = poll.poll(&mut events, None) {
            assert_eq!(error.kind(), ErrorKind::Interrupted, "poll: {error}");
            continue;
        }
        for event in events.iter() {
            if event.token() == LISTENER {
                // Edge-triggered: accept until the queue is empty.
                while let Ok((mut socket, _)) = listener.accept() {
                    let _ = socket.set_nodelay(true);
                    let token = Token(next);
                    next += 1;
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    if poll
                        .registry()
                        .register(&mut socket, token, interest)
                        .is_ok()
                    {
                        let connection = Connection {
                            socket,
                            matched: 0,
                            unsent: Vec::new(),
                        };
                        connections.insert(token, connection);
                    }
                }
            } else if let Some(connection) = connections.get_mut(&event.token()) {
                if !serve(connection, &mut buffer) {
                    connections.remove(&event.token());
                }
            }
        }
    }
}

/// Reads until `WouldBlock`, queues one answer per `\r\n\r\n`, writes what
/// the socket takes. False when the connection is finished.
fn serve(connection: &mut Connection, buffer: &mut [u8]) -> bool {
    loop {
        match connection.socket.read(buffer) {
            Ok(0) => return false,
            Ok(n) => {
                for &byte in &buffer[..n] {
                    connection.matched = match (connection.matched, byte) {
                        (0 | 2, b'\r') => connection.matched + 1,
                        (1 | 3, b'\n') => connection.matched + 1,
                        (_, b'\r') => 1,
                        _ => 0,
                    };
                    if connection.matched == 4 {
                        connection.unsent.extend_from_slice(ANSWER);
                        connection.matched = 0;
                    }
                }
            }
            Err(error) if error.kind() == ErrorKind::WouldBlock => break,
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
    while !connection.unsent.is_empty() {
        match connection.socket.write(&connection.unsent) {
            Ok(n) => drop(connection.unsent.drain(..n)),
            Err(error) if error.kind() == ErrorKind::WouldBlock => return true,
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
    // Everything sent: give the memory back, so an idle connection holds none.
    connection.unsent = Vec::new();
    true
}
