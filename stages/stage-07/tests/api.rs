//! Stage 07 on the wire: the user API, driven through the real binary. Each
//! test starts its own server process, so each starts with no users.
//!
//! Every response of the contract (the book's API appendix) is a snapshot of
//! the bytes on the wire, with the `Date` header and `created_at` redacted.

use std::thread;
use std::time::{Duration, SystemTime};

use wire::{Reply, StageProcess};

/// Starts stage 07 with these extra environment variables.
fn server(variables: &[(&str, &str)]) -> StageProcess {
    StageProcess::start("stage-07", variables)
}

/// A `POST /api/users` with this body, declared as JSON.
fn sign_up_request(body: &str) -> Vec<u8> {
    wire::post_json_request("/api/users", body)
}

fn sign_up(server: &StageProcess, username: &str, password: &str) -> Reply {
    let body = serde_json::json!({ "username": username, "password": password }).to_string();
    wire::exchange(server.addr(), &sign_up_request(&body))
}

/// Checks that `created_at` is an RFC 3339 time within a minute of now, and
/// replaces it for the snapshot.
fn redact_created_at(reply: &Reply) -> String {
    let body = reply.json();
    let created_at = body["created_at"].as_str().expect("created_at is a string");
    let when = humantime::parse_rfc3339(created_at).expect("created_at is RFC 3339");
    let age = SystemTime::now()
        .duration_since(when)
        .unwrap_or(Duration::ZERO);
    assert!(age < Duration::from_secs(60), "created_at {created_at}");
    reply.show().replace(created_at, "<created_at>")
}

#[test]
fn signing_up_answers_201_with_the_user_and_where_to_find_it() {
    let server = server(&[]);
    let created = sign_up(&server, "alice", "correct horse");
    insta::assert_snapshot!("sign_up_created", created.show());
    let location = created.header("Location").expect("a Location header");
    let found = wire::exchange(server.addr(), &wire::get_request(&location, ""));
    assert_eq!(found.status(), Some(200));
    insta::assert_snapshot!("get_user_found", redact_created_at(&found));
}

#[test]
fn no_response_ever_contains_the_password_or_its_hash() {
    let server = server(&[]);
    let password = "correct horse battery";
    let replies = [
        sign_up(&server, "alice", password),
        wire::exchange(server.addr(), &wire::get_request("/api/users/1", "")),
        sign_up(&server, "alice", password),
    ];
    for reply in &replies {
        for secret in [password.as_bytes(), b"argon2", b"$", b"hash"] {
            assert!(!reply.contains(secret), "{}", reply.show());
        }
    }
    assert_eq!(
        replies.map(|reply| reply.status()),
        [Some(201), Some(200), Some(409)]
    );
    // Nor does anything the server logs. (The third request is the last
    // line it logs.)
    let log = server.stderr_once_it_says("GET /api/users/1");
    assert!(log.contains("POST /api/users"), "the log: {log}");
    assert!(!log.contains(password), "the log: {log}");
    assert!(!log.contains("argon2"), "the log: {log}");
}

#[test]
fn usernames_are_case_folded_so_alice_and_alice_in_capitals_conflict() {
    let server = server(&[]);
    let created = sign_up(&server, "Alice", "correct horse");
    assert_eq!(created.json()["username"], "alice");
    let taken = sign_up(&server, "ALICE", "another password");
    assert_eq!(taken.status(), Some(409));
    insta::assert_snapshot!(taken.show());
}

/// Each body that `POST /api/users` refuses, with the status it gets. Each
/// reply is also a snapshot, named after the case.
const REFUSED_SIGN_UPS: &[(&str, &str, u16)] = &[
    (
        "malformed_json",
        r#"{"username": "alice", "password": "#,
        400,
    ),
    ("not_an_object", r#"["alice", "correct horse"]"#, 400),
    (
        "wrong_type",
        r#"{"username": "alice", "password": 12345678}"#,
        400,
    ),
    (
        "unknown_field",
        r#"{"username": "alice", "pasword": "x"}"#,
        400,
    ),
    (
        "duplicate_field",
        r#"{"username": "alice", "password": "correct horse", "password": "other one"}"#,
        400,
    ),
    ("missing_username", r#"{"password": "correct horse"}"#, 422),
    ("missing_password", r#"{"username": "alice"}"#, 422),
    (
        "short_username",
        r#"{"username": "al", "password": "correct horse"}"#,
        422,
    ),
    (
        "username_with_a_space",
        r#"{"username": "al ice", "password": "correct horse"}"#,
        422,
    ),
    (
        "injection_as_a_username",
        r#"{"username": "x'); DROP TABLE users;--", "password": "correct horse"}"#,
        422,
    ),
    (
        "short_password",
        r#"{"username": "alice", "password": "1234567"}"#,
        422,
    ),
];

#[test]
fn every_refused_sign_up_gets_a_json_error_that_says_why() {
    let server = server(&[]);
    for (name, body, status) in REFUSED_SIGN_UPS {
        let reply = wire::exchange(server.addr(), &sign_up_request(body));
        assert_eq!(reply.status(), Some(*status), "{name}:\n{}", reply.show());
        assert_eq!(
            reply.header("Content-Type").as_deref(),
            Some("application/json"),
            "{name}"
        );
        let error = reply.json();
        assert!(error["error"].is_string(), "{name}: {error}");
        if *status == 422 {
            assert!(error["field"].is_string(), "{name}: a 422 names the field");
        }
        insta::assert_snapshot!(*name, reply.show());
    }
    // None of them created a user.
    let reply = wire::exchange(server.addr(), &wire::get_request("/api/users/1", ""));
    assert_eq!(reply.status(), Some(404));
}

#[test]
fn a_password_of_the_wrong_type_is_not_echoed_in_the_error() {
    let server = server(&[]);
    let reply = wire::exchange(
        server.addr(),
        &sign_up_request(r#"{"username": "alice", "password": 31415926535}"#),
    );
    assert_eq!(reply.status(), Some(400));
    assert!(!reply.contains(b"31415926535"), "{}", reply.show());
}

#[test]
fn a_long_password_and_a_long_username_are_refused_by_the_caps() {
    let server = server(&[]);
    let long_password = sign_up(&server, "alice", &"x".repeat(129));
    assert_eq!(long_password.status(), Some(422));
    assert_eq!(long_password.json()["field"], "password");
    let at_the_cap = sign_up(&server, &"a".repeat(32), &"x".repeat(128));
    assert_eq!(at_the_cap.status(), Some(201));
    let long_name = sign_up(&server, &"a".repeat(33), "correct horse");
    assert_eq!(long_name.json()["field"], "username");
}

#[test]
fn a_body_that_is_not_declared_as_json_gets_415() {
    let server = server(&[]);
    let body = br#"{"username": "alice", "password": "correct horse"}"#;
    let form = wire::exchange(
        server.addr(),
        &wire::post_request("/api/users", "application/x-www-form-urlencoded", body),
    );
    insta::assert_snapshot!(form.show());
    let with_charset = wire::exchange(
        server.addr(),
        &wire::post_request("/api/users", "application/json; charset=utf-8", body),
    );
    assert_eq!(with_charset.status(), Some(201));
}

#[test]
fn client_text_in_an_error_is_escaped_as_json() {
    // The message for an unknown field quotes the field's name, which the
    // client chose: here it contains a quote and a backslash. Written by
    // hand, the response would be broken JSON (see `json.rs`); serde
    // escapes it.
    let server = server(&[]);
    let reply = wire::exchange(
        server.addr(),
        &sign_up_request(r#"{"user\"name\\": "alice"}"#),
    );
    assert_eq!(reply.status(), Some(400));
    let error = reply.json();
    let message = error["error"].as_str().expect("a message");
    assert!(message.contains(r#"user"name\"#), "{message}");
}

#[test]
fn a_body_over_the_cap_gets_a_json_413_before_it_is_read() {
    let server = server(&[]);
    let mut client = wire::connect(server.addr());
    let head = "POST /api/users HTTP/1.1\r\nHost: localhost\r\n\
                Content-Type: application/json\r\nContent-Length: 65537\r\n\r\n";
    wire::send(&mut client, head.as_bytes());
    let reply = wire::read_reply(&mut client);
    insta::assert_snapshot!(reply.show());
}

#[test]
fn an_api_request_that_stops_halfway_through_its_body_gets_a_json_408() {
    let server = server(&[("REQUEST_TIMEOUT_SECS", "0.3")]);
    let mut client = wire::connect(server.addr());
    let head = "POST /api/users HTTP/1.1\r\nHost: localhost\r\n\
                Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"user";
    wire::send(&mut client, head.as_bytes());
    let reply = wire::read_reply(&mut client);
    assert_eq!(reply.status(), Some(408));
    assert_eq!(reply.json()["error"], "Request Timeout");
    // Outside the API, the same refusal stays plain text.
    let mut client = wire::connect(server.addr());
    wire::send(
        &mut client,
        b"POST /index.html HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{",
    );
    let reply = wire::read_reply(&mut client);
    assert_eq!(reply.status(), Some(408));
    assert_eq!(reply.body(), b"Request Timeout\n");
}

#[test]
fn unknown_users_and_ids_that_are_not_numbers_get_404() {
    let server = server(&[]);
    sign_up(&server, "alice", "correct horse");
    let unknown = wire::exchange(server.addr(), &wire::get_request("/api/users/2", ""));
    insta::assert_snapshot!(unknown.show());
    for path in [
        "/api/users/0",
        "/api/users/abc",
        "/api/users/01",
        "/api/users/+1",
        "/api/users/",
        "/api/users/1/",
        "/api/users/99999999999999999999",
    ] {
        let reply = wire::exchange(server.addr(), &wire::get_request(path, ""));
        assert_eq!(reply.status(), Some(404), "{path}");
        assert_eq!(reply.json()["error"], "no such user", "{path}");
    }
}

#[test]
fn api_paths_and_methods_we_do_not_serve_get_json_errors() {
    let server = server(&[]);
    let not_found = wire::exchange(server.addr(), &wire::get_request("/api/nothing-here", ""));
    insta::assert_snapshot!("unknown_api_path", not_found.show());
    let wrong_method = wire::exchange(server.addr(), &wire::get_request("/api/users", ""));
    insta::assert_snapshot!("get_on_the_users_collection", wrong_method.show());
    let delete = wire::exchange(
        server.addr(),
        b"DELETE /api/users/1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(delete.status(), Some(405));
    assert_eq!(delete.header("Allow").as_deref(), Some("GET, HEAD"));
    assert!(delete.json()["error"].is_string());
    let post_status = wire::exchange(
        server.addr(),
        &wire::post_request("/api/status", "application/json", b"{}"),
    );
    assert_eq!(post_status.status(), Some(405));
    assert_eq!(post_status.header("Allow").as_deref(), Some("GET, HEAD"));
    assert!(post_status.json()["error"].is_string());
    // `/health` is not the API: its 405 stays plain text.
    let health = wire::exchange(
        server.addr(),
        &wire::post_request("/health", "text/plain", b""),
    );
    assert_eq!(health.status(), Some(405));
    assert_eq!(health.body(), b"Method Not Allowed\n");
}

/// Starts `count` sign-ups at the same moment, each on its own connection,
/// and returns their replies.
fn sign_up_all_at_once(server: &StageProcess, usernames: &[String]) -> Vec<Reply> {
    let barrier = std::sync::Barrier::new(usernames.len());
    thread::scope(|scope| {
        let handles: Vec<_> = usernames
            .iter()
            .map(|username| {
                let barrier = &barrier;
                scope.spawn(move || {
                    let body =
                        serde_json::json!({ "username": username, "password": "correct horse" });
                    let request = sign_up_request(&body.to_string());
                    let mut client = wire::connect(server.addr());
                    barrier.wait();
                    wire::send(&mut client, &request);
                    wire::read_reply(&mut client)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("the client thread does not panic"))
            .collect()
    })
}

#[test]
fn a_burst_beyond_the_hash_cap_is_turned_away_with_503_and_retry_after() {
    // One hash at a time, nobody waits: of 16 sign-ups arriving together
    // (one hash takes milliseconds), some must find the slot taken.
    let server = server(&[
        ("WORKERS", "16"),
        ("MAX_CONCURRENT_HASHES", "1"),
        ("MAX_WAITING_HASHES", "0"),
    ]);
    let usernames: Vec<String> = (0..16).map(|n| format!("user{n}")).collect();
    let replies = sign_up_all_at_once(&server, &usernames);
    let busy: Vec<&Reply> = replies
        .iter()
        .filter(|reply| reply.status() == Some(503))
        .collect();
    assert!(!busy.is_empty(), "no sign-up was turned away");
    for reply in &busy {
        assert_eq!(reply.header("Retry-After").as_deref(), Some("1"));
        assert!(reply.json()["error"].is_string());
    }
    // The others got their user, and nobody got anything else (a 500, say).
    let created = replies
        .iter()
        .filter(|reply| reply.status() == Some(201))
        .count();
    assert_eq!(created + busy.len(), replies.len());
    assert!(created >= 1);
    insta::assert_snapshot!(busy[0].show());
}

#[test]
fn with_room_to_wait_the_same_burst_is_served_one_hash_at_a_time() {
    let server = server(&[
        ("WORKERS", "16"),
        ("MAX_CONCURRENT_HASHES", "1"),
        ("MAX_WAITING_HASHES", "16"),
    ]);
    let usernames: Vec<String> = (0..16).map(|n| format!("user{n}")).collect();
    let replies = sign_up_all_at_once(&server, &usernames);
    let statuses: Vec<Option<u16>> = replies.iter().map(Reply::status).collect();
    assert_eq!(statuses, vec![Some(201); 16]);
}

// Racing sign-ups for one name (exactly one 201, the rest 409, never a 500)
// is the conformance case `sign-up-race`: every stage with the user API must
// pass it, whatever keeps its users.

/// The process's resident memory (`VmRSS` in `/proc/PID/status`), in KiB.
fn resident_kib(server: &StageProcess) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid()))
        .expect("read /proc/PID/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line")
}

#[test]
fn memory_goes_back_to_the_os_after_each_sign_up() {
    // Each hash takes 7 MiB and gives it back. Without `main`'s mallopt,
    // glibc kept the blocks: 30 sign-ups left the server above 120 MiB.
    let server = server(&[]);
    for n in 0..30 {
        let reply = sign_up(&server, &format!("user{n}"), "correct horse");
        assert_eq!(reply.status(), Some(201));
    }
    let resident = resident_kib(&server);
    assert!(
        resident < 48 * 1024,
        "{resident} KiB resident after 30 sign-ups"
    );
}
