//! Stage 04 on the wire: files from the static root, with the right types,
//! and every attempt to read a file outside the root refused.
//!
//! The traversal tests run against `wire::StaticFixture`, the project's one
//! fixture, laid out so that each attack has a real target: a vulnerable
//! server *would* leak `wire::SECRET`.
//!
//! Only this stage, which introduces static files, tests them here. Later
//! stages answer the same requests with the same bytes, and the conformance
//! suite checks that (`tests/conformance`: traversal cases, and exchanges
//! `since: "stage-04"`).

use std::fs;
use std::net::SocketAddr;
use std::path::Path;

use wire::{StaticFixture, SECRET};

/// Starts a server on a fresh fixture. Keep the returned fixture alive for
/// the length of the test: dropping it deletes the folder.
fn start_server_on_fixture() -> (SocketAddr, StaticFixture) {
    let fixture = StaticFixture::create();
    let root = fixture.root();
    (
        wire::start(move |listener| stage_04::serve(listener, &root)),
        fixture,
    )
}

fn get(addr: SocketAddr, path: &str) -> wire::Reply {
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    wire::exchange(addr, request.as_bytes())
}

#[test]
fn the_root_path_serves_index_html() {
    let (addr, _fixture) = start_server_on_fixture();
    let reply = get(addr, "/");
    insta::assert_snapshot!(reply.show());
}

#[test]
fn a_css_file_is_served_as_css() {
    let (addr, _fixture) = start_server_on_fixture();
    let reply = get(addr, "/static/app.css");
    insta::assert_snapshot!(reply.show());
}

#[test]
fn head_of_a_file_has_its_length_and_no_body() {
    let (addr, _fixture) = start_server_on_fixture();
    let reply = wire::exchange(
        addr,
        b"HEAD /static/app.css HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert_eq!(reply.header("content-length").as_deref(), Some("22"));
    assert_eq!(reply.body(), b"");
}

#[test]
fn a_directory_without_a_slash_redirects_to_the_slash() {
    let (addr, _fixture) = start_server_on_fixture();
    let reply = get(addr, "/docs");
    insta::assert_snapshot!(reply.show());
}

#[test]
fn a_directory_with_a_slash_serves_its_index() {
    let (addr, _fixture) = start_server_on_fixture();
    let reply = get(addr, "/docs/");
    assert_eq!(reply.body(), b"<h1>docs</h1>\n");
}

#[test]
fn a_percent_encoded_name_is_decoded() {
    let (addr, _fixture) = start_server_on_fixture();
    let reply = get(addr, "/static/app%2Ecss");
    assert_eq!(reply.status(), Some(200));
    assert_eq!(reply.body(), b"body { color: teal; }\n");
}

#[test]
fn a_symlink_that_stays_inside_the_root_is_served() {
    let (addr, _fixture) = start_server_on_fixture();
    let reply = get(addr, "/inside.css");
    assert_eq!(reply.body(), b"body { color: teal; }\n");
}

#[test]
fn a_named_pipe_gets_404_instead_of_hanging_the_server() {
    let (addr, fixture) = start_server_on_fixture();
    let fifo = fixture.root().join("pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("run mkfifo");
    assert!(made.success(), "mkfifo {}", fifo.display());
    // Opening a FIFO for reading waits for a writer that never comes: a
    // server that opened it would never answer (wire gives up after 5 s).
    assert_eq!(get(addr, "/pipe").status(), Some(404));
}

#[test]
fn a_missing_file_gets_404() {
    let (addr, _fixture) = start_server_on_fixture();
    let reply = get(addr, "/missing.html");
    assert_eq!(reply.status(), Some(404));
}

// ANCHOR: traversals
/// Every attempt to read outside the root, and what the server answers.
const TRAVERSALS: &[(&str, u16)] = &[
    ("/../secret.txt", 403),
    ("/%2e%2e/secret.txt", 403),
    ("/%2E%2E/secret.txt", 403),
    ("/..%2fsecret.txt", 403),
    ("/static/../../secret.txt", 403),
    ("/static/../../etc/passwd", 403),
    ("/static/%2e%2e/%2e%2e/etc/passwd", 403),
    ("/..%5csecret.txt", 403),
    ("/index.html%00.css", 403),
    ("/.env", 403),
    ("/leak.txt", 403),
    ("/%zz", 400),
];
// ANCHOR_END: traversals

#[test]
fn every_traversal_attempt_is_refused_without_a_byte_of_the_file() {
    let (addr, _fixture) = start_server_on_fixture();
    for &(path, expected_status) in TRAVERSALS {
        let reply = get(addr, path);
        assert_eq!(reply.status(), Some(expected_status), "GET {path}");
        assert!(
            !reply.contains(SECRET.as_bytes()),
            "GET {path} leaked the secret"
        );
    }
}

#[test]
fn a_refused_traversal_looks_like_this_on_the_wire() {
    let (addr, _fixture) = start_server_on_fixture();
    let reply = get(addr, "/%2e%2e/secret.txt");
    insta::assert_snapshot!(reply.show());
}

#[test]
fn the_real_frontend_is_served_with_its_media_types() {
    let frontend = Path::new(env!("CARGO_MANIFEST_DIR")).join("frontend");
    let addr = wire::start(move |listener| stage_04::serve(listener, &frontend));
    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/script.js", "text/javascript; charset=utf-8"),
    ] {
        let reply = get(addr, path);
        assert_eq!(reply.status(), Some(200), "GET {path}");
        assert_eq!(reply.header("content-type").as_deref(), Some(content_type));
    }
}

#[test]
fn a_file_larger_than_any_buffer_arrives_whole() {
    // Removed when the test ends (the server thread outlives it, idle).
    let tmp = tempfile::tempdir().expect("create a temporary directory");
    let root = tmp.path().to_path_buf();
    let big: Vec<u8> = (0..3_000_000u32).map(|n| (n % 251) as u8).collect();
    fs::write(root.join("big.bin"), &big).expect("write big.bin");
    let addr = wire::start(move |listener| stage_04::serve(listener, &root));
    let reply = get(addr, "/big.bin");
    assert_eq!(reply.header("content-length").as_deref(), Some("3000000"));
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/octet-stream")
    );
    assert!(
        reply.body() == big.as_slice(),
        "the body differs from the file"
    );
}

#[test]
fn a_missing_static_directory_is_a_clear_startup_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let error = stage_04::serve(listener, Path::new("/no/such/dir")).expect_err("must fail");
    assert!(error.to_string().contains("/no/such/dir"), "{error}");
}
