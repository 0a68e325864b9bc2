//! Stage 01 on the wire: what the echo server sends back, and how it survives
//! peers that hang up early.

use std::io::Write;
use std::time::Duration;

fn start_server() -> std::net::SocketAddr {
    wire::start(stage_01::serve)
}

#[test]
fn bytes_sent_are_echoed_back_until_the_peer_hangs_up() {
    let addr = start_server();
    let reply = wire::exchange_then_half_close(addr, b"hello\r\nthis is not HTTP yet\n");
    assert_eq!(reply.ending, wire::Ending::Closed);
    insta::assert_snapshot!(reply.show());
}

#[test]
fn a_message_split_over_several_writes_comes_back_whole() {
    let addr = start_server();
    let mut stream = wire::connect(addr);
    for piece in [b"one ".as_slice(), b"two ", b"three\n"] {
        wire::send(&mut stream, piece);
        std::thread::sleep(Duration::from_millis(20));
    }
    stream
        .shutdown(std::net::Shutdown::Write)
        .expect("half-close");
    let reply = wire::read_reply(&mut stream);
    insta::assert_snapshot!(reply.show());
}

#[test]
fn a_peer_that_sends_nothing_and_closes_does_not_stop_the_server() {
    let addr = start_server();
    drop(wire::connect(addr));
    let reply = wire::exchange_then_half_close(addr, b"still here?\n");
    assert_eq!(reply.bytes, b"still here?\n");
}

#[test]
fn a_peer_that_hangs_up_while_we_are_still_writing_does_not_stop_the_server() {
    let addr = start_server();
    // Send a lot and never read the echo: the server is still writing when we
    // close, so its writes fail (the kernel answers our close with a reset
    // because we left unread bytes behind). The server must shrug that off.
    let mut rude = wire::connect(addr);
    let megabyte = vec![b'x'; 1 << 20];
    let _ = rude.write_all(&megabyte);
    drop(rude);

    let reply = wire::exchange_then_half_close(addr, b"next, please\n");
    assert_eq!(reply.bytes, b"next, please\n");
    assert_eq!(reply.ending, wire::Ending::Closed);
}

#[test]
fn the_binary_says_where_it_listens_and_echoes() {
    // What `cargo run -p stage-01` starts: the real `main`, with `ADDR`.
    let server = wire::StageProcess::start("stage-01", &[]);
    let reply = wire::exchange_then_half_close(server.addr(), b"hi\n");
    assert_eq!(reply.bytes, b"hi\n");
}
