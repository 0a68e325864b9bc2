//! What `backend` adds to stage 11 as a product: a command line (`--help`,
//! `--version`, `--check-config`), a fresh start with no setup, its API
//! description at `/api/openapi.json`, and a library that tests start and
//! stop in-process (`run(listener, config, shutdown)`).

use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output};
use std::thread;
use std::time::Duration;

use backend::{Config, Drained, Shutdown};
use wire::StageProcess;

const PRODUCT: &str = "backend";

/// Runs the binary with `arguments` and these variables only (plus PATH).
fn run_binary(arguments: &[&str], variables: &[(&str, &str)]) -> Output {
    Command::new(wire::binary_path(PRODUCT))
        .args(arguments)
        .env_clear()
        .envs(variables.iter().copied())
        .output()
        .expect("run the binary")
}

#[test]
fn help_lists_the_flags_and_settings_and_exits_0() {
    let output = run_binary(&["--help"], &[]);
    assert!(output.status.success());
    let usage = String::from_utf8_lossy(&output.stdout);
    for word in [
        "--check-config",
        "--version",
        "ADDR",
        "JWT_SECRET_FILE",
        "DATABASE_URL",
    ] {
        assert!(usage.contains(word), "{word} missing from:\n{usage}");
    }
}

#[test]
fn version_names_the_commit_the_binary_was_built_from() {
    let output = run_binary(&["--version"], &[]);
    assert!(output.status.success());
    let version = String::from_utf8_lossy(&output.stdout);
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .expect("git runs in a checkout");
    let commit = String::from_utf8_lossy(&head.stdout).trim().to_string();
    assert_eq!(
        version.trim(),
        format!("backend {} ({commit})", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn an_unknown_argument_is_refused_with_status_2() {
    let output = run_binary(&["--chek-config"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown argument"));
}

#[test]
fn check_config_says_valid_without_listening_or_touching_the_disk() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let database = folder.path().join("data/backend.sqlite3");
    let database = database.to_str().expect("UTF-8");
    // Port 1 would need root: a server that tried to listen would fail.
    let output = run_binary(
        &["--check-config"],
        &[("ADDR", "127.0.0.1:1"), ("DATABASE_PATH", database)],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("config: ADDR=127.0.0.1:1\n"), "{stderr}");
    assert!(stderr.ends_with("config: valid\n"), "{stderr}");
    assert!(
        !folder.path().join("data").exists(),
        "no database or secret made"
    );
}

#[test]
fn check_config_reports_every_problem_with_status_2() {
    let output = run_binary(
        &["--check-config"],
        &[("WORKERS", "0"), ("STATIC_DIR", "/nonexistent")],
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("configuration: WORKERS=\"0\""), "{stderr}");
    let output = run_binary(&["--check-config"], &[("STATIC_DIR", "/nonexistent")]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr)
        .contains("configuration: STATIC_DIR=/nonexistent: not a directory"),);
}

#[test]
fn the_default_build_refuses_a_postgres_url_with_status_2_without_showing_its_password() {
    // `wire::binary_path` builds the binary with default features: no
    // PostgreSQL, whatever features this test was built with.
    for command in [&["--check-config"][..], &[]] {
        let output = run_binary(
            command,
            &[(
                "DATABASE_URL",
                "postgres://backend:s3cret@127.0.0.1/backend",
            )],
        );
        assert_eq!(output.status.code(), Some(2), "{command:?}");
        assert!(output.stdout.is_empty(), "it never said it was listening");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(
                "configuration: DATABASE_URL=postgres://backend:***@127.0.0.1/backend: \
                 this backend was built without PostgreSQL (cargo build --features postgres)"
            ),
            "{stderr}"
        );
        assert!(!stderr.contains("s3cret"), "{stderr}");
    }
}

// ANCHOR: fresh_start
#[test]
fn a_fresh_start_needs_no_setup_and_serves_the_page() {
    // No settings at all, in an empty folder: what `cargo run -p backend`
    // does on a fresh clone.
    let server = StageProcess::start(PRODUCT, &[]);
    let log = server.stderr_once_it_says("development secret");
    assert!(log.contains("Never run like this in production"), "{log}");
    let page = wire::exchange(server.addr(), &wire::get_request("/", ""));
    assert_eq!(page.status(), Some(200));
    assert_eq!(
        page.header("content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    let served = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/frontend/index.html"))
        .expect("the page in the repository");
    assert_eq!(page.body(), served);
    let folder = server.kill();
    assert!(folder.path().join("data/backend.sqlite3").is_file());
    assert!(folder.path().join("data/jwt-secret").is_file());
}
// ANCHOR_END: fresh_start

#[test]
fn the_api_describes_itself_with_the_file_in_the_repository() {
    let server = StageProcess::start(PRODUCT, &[]);
    let reply = wire::exchange(server.addr(), &wire::get_request("/api/openapi.json", ""));
    assert_eq!(reply.status(), Some(200));
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/json")
    );
    let served = reply.json();
    assert_eq!(served["openapi"].as_str().map(|v| &v[..3]), Some("3.1"));
    let committed: serde_json::Value =
        serde_json::from_str(include_str!("../openapi.json")).expect("final/openapi.json is JSON");
    assert_eq!(served, committed);
    let status = wire::exchange(server.addr(), &wire::get_request("/api/status", ""));
    insta::assert_snapshot!(status.show());
}

// ANCHOR: run_test
#[test]
fn run_serves_until_its_shutdown_is_requested() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let secret = folder.path().join("jwt-secret");
    std::fs::write(&secret, [b'k'; 32]).expect("write the secret");
    let config = Config {
        database_path: folder.path().join("users.sqlite3"),
        jwt_secret_file: Some(secret),
        ..Config::new()
    };
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let addr = listener.local_addr().expect("an address");
    let shutdown = Shutdown::new();
    let server = {
        let shutdown = shutdown.clone();
        thread::spawn(move || backend::run(listener, config, shutdown))
    };
    let reply = wire::exchange(addr, &wire::get_request("/health", ""));
    assert_eq!(reply.status(), Some(200));
    shutdown.request();
    let drained = server.join().expect("no panic").expect("no error");
    assert_eq!(drained, Drained::Completely);
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
}
// ANCHOR_END: run_test

#[test]
fn a_static_dir_that_is_a_file_stops_the_start_with_status_2() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let file = folder.path().join("page.html");
    std::fs::write(&file, "<p>hi</p>").expect("write a file");
    let database = folder.path().join("users.sqlite3");
    let output = run_binary(
        &[],
        &[
            ("ADDR", "127.0.0.1:0"),
            ("STATIC_DIR", file.to_str().expect("UTF-8")),
            ("DATABASE_PATH", database.to_str().expect("UTF-8")),
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty(), "it never said it was listening");
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a directory"));
}

#[test]
fn a_secret_too_short_stops_the_start_with_status_2() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let secret = folder.path().join("jwt-secret");
    std::fs::write(&secret, "short").expect("write the secret");
    let database = folder.path().join("users.sqlite3");
    let output = run_binary(
        &[],
        &[
            ("ADDR", "127.0.0.1:0"),
            ("JWT_SECRET_FILE", secret.to_str().expect("UTF-8")),
            ("DATABASE_PATH", database.to_str().expect("UTF-8")),
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty(), "it never said it was listening");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("short"), "the secret is never printed");
}
