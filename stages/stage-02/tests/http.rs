//! Stage 02 on the wire: the exact bytes the server answers, for good
//! requests, requests that arrive in pieces, garbage and oversized heads.

use std::net::SocketAddr;
use std::time::Duration;

use wire::Ending;

fn start_server() -> SocketAddr {
    wire::start(stage_02::serve)
}

const GET_HELLO: &[u8] = b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n";

#[test]
fn a_get_request_gets_the_fixed_response() {
    let reply = wire::exchange(start_server(), GET_HELLO);
    assert_eq!(reply.ending, Ending::Closed);
    insta::assert_snapshot!(reply.show());
}

#[test]
fn a_request_split_into_single_bytes_is_answered() {
    let pieces: Vec<&[u8]> = GET_HELLO.chunks(1).collect();
    let reply = wire::exchange_in_pieces(start_server(), &pieces, Duration::from_millis(2));
    assert_eq!(reply.bytes, stage_02::HELLO_RESPONSE);
}

#[test]
fn a_request_in_two_writes_with_a_pause_is_answered() {
    let (first, second) = GET_HELLO.split_at(12);
    let reply =
        wire::exchange_in_pieces(start_server(), &[first, second], Duration::from_millis(200));
    assert_eq!(reply.bytes, stage_02::HELLO_RESPONSE);
}

#[test]
fn a_tls_handshake_sent_to_the_plain_http_port_gets_400() {
    // The first bytes of a TLS ClientHello: what `curl https://` sends to a
    // server that only speaks plain HTTP.
    let reply = wire::exchange(
        start_server(),
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    );
    insta::assert_snapshot!(reply.show());
}

#[test]
fn a_header_line_without_a_colon_gets_400() {
    let reply = wire::exchange(
        start_server(),
        b"GET / HTTP/1.1\r\nHost: localhost\r\nthis line has no colon\r\n\r\n",
    );
    insta::assert_snapshot!(reply.show());
}

#[test]
fn a_head_larger_than_the_cap_gets_431_without_a_connection_reset() {
    let mut request = b"GET / HTTP/1.1\r\nHost: localhost\r\n".to_vec();
    while request.len() < stage_02::MAX_HEAD_BYTES * 4 {
        request.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    request.extend_from_slice(b"\r\n");
    let reply = wire::exchange(start_server(), &request);
    // The server stopped reading at the cap but drained the rest before
    // closing, so we see its answer and a clean close, not a reset.
    assert_eq!(reply.ending, Ending::Closed);
    insta::assert_snapshot!(reply.show());
}

#[test]
fn more_header_lines_than_the_cap_get_431() {
    let mut request = b"GET / HTTP/1.1\r\nHost: localhost\r\n".to_vec();
    for n in 0..stage_02::MAX_HEADERS {
        request.extend_from_slice(format!("X-Header-{n}: {n}\r\n").as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    let reply = wire::exchange(start_server(), &request);
    assert_eq!(reply.status(), Some(431));
}

#[test]
fn a_client_that_hangs_up_mid_head_gets_nothing_and_the_server_carries_on() {
    let addr = start_server();
    let reply = wire::exchange_then_half_close(addr, b"GET /hello HTT");
    assert_eq!(reply.bytes, b"");
    assert_eq!(reply.ending, Ending::Closed);

    let reply = wire::exchange(addr, GET_HELLO);
    assert_eq!(reply.status(), Some(200));
}

#[test]
fn a_body_the_server_never_reads_does_not_reset_the_connection() {
    // Stage 02 ignores bodies. The unread bytes would make a plain close send
    // a TCP reset; the graceful close drains them so the answer arrives.
    let mut request =
        b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 200000\r\n\r\n".to_vec();
    request.extend(std::iter::repeat_n(b'x', 200_000));
    let reply = wire::exchange(start_server(), &request);
    assert_eq!(reply.ending, Ending::Closed);
    assert_eq!(reply.bytes, stage_02::HELLO_RESPONSE);
}
