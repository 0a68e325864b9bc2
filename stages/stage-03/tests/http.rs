//! Stage 03 on the wire: routes, methods, `HEAD`, bodies and the ways a
//! request can be refused, each as the exact bytes the server sends.
//!
//! Only this stage, which introduces routing, tests it here. Every later
//! stage must answer these requests with the same bytes: the conformance
//! suite checks that (`tests/conformance/src/exchanges.rs`), so these tests
//! are not copied forward.

use std::net::SocketAddr;
use std::time::Duration;

fn start_server() -> SocketAddr {
    wire::start(stage_03::serve)
}

/// Sends one request to a fresh server and returns the reply.
fn ask(request: &[u8]) -> wire::Reply {
    wire::exchange(start_server(), request)
}

#[test]
fn get_api_status_answers_json() {
    let reply = ask(b"GET /api/status HTTP/1.1\r\nHost: localhost\r\n\r\n");
    insta::assert_snapshot!(reply.show());
}

#[test]
fn get_health_answers_ok() {
    let reply = ask(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n");
    insta::assert_snapshot!(reply.show());
}

#[test]
fn head_gets_the_headers_of_get_and_no_body() {
    let get = ask(b"GET /api/status HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let head = ask(b"HEAD /api/status HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(head.body(), b"");
    assert_eq!(wire::show(head.head()), wire::show(get.head()));
    insta::assert_snapshot!(head.show());
}

#[test]
fn an_unknown_path_gets_404() {
    let reply = ask(b"GET /nope HTTP/1.1\r\nHost: localhost\r\n\r\n");
    insta::assert_snapshot!(reply.show());
}

#[test]
fn a_known_path_with_the_wrong_method_gets_405_with_allow() {
    let reply = ask(b"DELETE /health HTTP/1.1\r\nHost: localhost\r\n\r\n");
    insta::assert_snapshot!(reply.show());
}

#[test]
fn an_unknown_method_gets_405_with_allow() {
    let reply = ask(b"BREW /api/status HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(reply.status(), Some(405));
    assert_eq!(reply.header("allow").as_deref(), Some("GET, HEAD"));
}

#[test]
fn get_on_the_echo_route_gets_405_allowing_post() {
    let reply = ask(b"GET /api/echo HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(reply.status(), Some(405));
    assert_eq!(reply.header("allow").as_deref(), Some("POST"));
}

#[test]
fn a_body_is_read_by_content_length_and_echoed() {
    let reply = ask(
        b"POST /api/echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 12\r\n\r\nhello, body!",
    );
    insta::assert_snapshot!(reply.show());
}

#[test]
fn a_body_that_arrives_after_a_pause_is_read_whole() {
    let reply = wire::exchange_in_pieces(
        start_server(),
        &[
            b"POST /api/echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nfirst",
            b"-last",
        ],
        Duration::from_millis(100),
    );
    assert_eq!(reply.body(), b"first-last");
}

#[test]
fn identical_repeated_content_lengths_are_accepted() {
    let reply = ask(b"POST /api/echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nContent-Length: 2, 2\r\n\r\nok");
    assert_eq!(reply.status(), Some(200));
    assert_eq!(reply.body(), b"ok");
}

#[test]
fn a_post_without_content_length_gets_411() {
    let reply = ask(b"POST /api/echo HTTP/1.1\r\nHost: localhost\r\n\r\n");
    insta::assert_snapshot!(reply.show());
}

#[test]
fn a_chunked_body_gets_411_until_stage_06() {
    let reply = ask(b"POST /api/echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    assert_eq!(reply.status(), Some(411));
}

#[test]
fn a_body_over_the_cap_gets_413_before_it_is_sent() {
    let request = format!(
        "POST /api/echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
        stage_03::request::MAX_BODY_BYTES + 1
    );
    // We send only the head: the server must refuse on the announced length
    // alone, without waiting for a body it would not accept anyway.
    let reply = ask(request.as_bytes());
    insta::assert_snapshot!(reply.show());
}

#[test]
fn a_content_length_that_is_not_a_number_gets_400() {
    for value in ["abc", "+5", "-1", "", "5 5"] {
        let request = format!(
            "POST /api/echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: {value}\r\n\r\n"
        );
        assert_eq!(
            ask(request.as_bytes()).status(),
            Some(400),
            "Content-Length: {value}"
        );
    }
}

#[test]
fn conflicting_content_lengths_get_400() {
    let reply = ask(b"POST /api/echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc");
    insta::assert_snapshot!(reply.show());
}

#[test]
fn a_10_000_byte_target_gets_414() {
    let request = format!(
        "GET /{} HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "a".repeat(10_000)
    );
    let reply = ask(request.as_bytes());
    insta::assert_snapshot!(reply.show());
}

#[test]
fn an_absolute_form_target_is_routed_by_its_path() {
    let reply = ask(b"GET http://example.com/health HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert_eq!(reply.status(), Some(200));
    assert_eq!(reply.body(), b"ok\n");
}

#[test]
fn a_query_string_does_not_change_the_route() {
    let reply = ask(b"GET /health?verbose=1 HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(reply.body(), b"ok\n");
}

#[test]
fn http_1_1_without_host_gets_400() {
    let reply = ask(b"GET /health HTTP/1.1\r\n\r\n");
    insta::assert_snapshot!(reply.show());
}

#[test]
fn http_1_1_with_two_hosts_gets_400() {
    let reply = ask(b"GET /health HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n");
    assert_eq!(reply.status(), Some(400));
}

#[test]
fn http_1_0_without_host_is_answered() {
    let reply = ask(b"GET /health HTTP/1.0\r\n\r\n");
    assert_eq!(reply.status(), Some(200));
}

#[test]
fn options_asterisk_asks_about_the_whole_server() {
    let reply = ask(b"OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(reply.status(), Some(200));
    assert_eq!(reply.header("allow").as_deref(), Some("GET, HEAD, POST"));
}

#[test]
fn an_asterisk_target_with_another_method_gets_400() {
    let reply = ask(b"GET * HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(reply.status(), Some(400));
}

#[test]
fn garbage_gets_400() {
    let reply = ask(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03");
    assert_eq!(reply.status(), Some(400));
}

#[test]
fn a_client_that_hangs_up_mid_body_gets_nothing_and_the_server_carries_on() {
    let addr = start_server();
    let reply = wire::exchange_then_half_close(
        addr,
        b"POST /api/echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\nonly this",
    );
    assert_eq!(reply.bytes, b"");
    let reply = wire::exchange(addr, b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(reply.status(), Some(200));
}
