//! Stage 08 on the wire: users outlive the process. Every test drives the
//! real binary, in a working folder of its own (where the default
//! `data/backend.sqlite3` lands), and some start it twice on the same files.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use wire::{Reply, StageProcess};

const STAGE: &str = "stage-08";

/// A sign-up for `username`, or `None` if the server could not be reached
/// or vanished before it answered (which is what we expect once we kill it).
fn try_sign_up(addr: SocketAddr, username: &str) -> Option<Reply> {
    let body = format!(r#"{{"username":"{username}","password":"correct horse"}}"#);
    let request = wire::post_json_request("/api/users", &body);
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream.write_all(&request).ok()?;
    let reply = wire::read_reply(&mut stream);
    reply.status().is_some().then_some(reply)
}

fn get(addr: SocketAddr, path: &str) -> Reply {
    wire::exchange(addr, &wire::get_request(path, ""))
}

#[test]
fn users_survive_a_restart_in_the_default_database_file() {
    let server = StageProcess::start(STAGE, &[]);
    let created = try_sign_up(server.addr(), "alice").expect("an answer");
    assert_eq!(created.status(), Some(201), "{}", created.show());
    let before = get(server.addr(), "/api/users/1");
    // With no DATABASE_PATH, the file is data/backend.sqlite3 under the
    // folder the server was started in.
    assert!(server.working_dir().join("data/backend.sqlite3").is_file());

    let folder = server.kill();
    let server = StageProcess::start_in(STAGE, &[], folder);
    let after = get(server.addr(), "/api/users/1");
    assert_eq!(after.status(), Some(200));
    // The same user, the same creation time: the same bytes.
    assert_eq!(after.body(), before.body());
    let body = after.json();
    assert_eq!(body["username"], "alice");
    let created_at = body["created_at"].as_str().expect("created_at");
    humantime::parse_rfc3339(created_at).expect("RFC 3339");
    insta::assert_snapshot!(
        "read_back_after_a_restart",
        after.show().replace(created_at, "<created_at>")
    );
    // And the name is still taken.
    let again = try_sign_up(server.addr(), "alice").expect("an answer");
    assert_eq!(again.status(), Some(409));
}

// ANCHOR: kill_9
#[test]
fn a_kill_9_loses_no_acknowledged_sign_up() {
    let server = StageProcess::start(STAGE, &[("WORKERS", "8"), ("MAX_WAITING_HASHES", "16")]);
    let addr = server.addr();
    // (id, username) of every sign-up the server answered with 201.
    let acknowledged = Mutex::new(Vec::new());
    let killed = AtomicBool::new(false);
    let folder = thread::scope(|scope| {
        // Four clients sign up users one after another, as fast as the
        // server answers, until it stops answering.
        for client in 0..4 {
            let (acknowledged, killed) = (&acknowledged, &killed);
            scope.spawn(move || {
                for n in 0..1000 {
                    let username = format!("client{client}-user{n}");
                    match try_sign_up(addr, &username) {
                        Some(reply) if reply.status() == Some(201) => {
                            let id = reply.json()["id"].as_u64().expect("an id");
                            acknowledged.lock().expect("lock").push((id, username));
                        }
                        Some(reply) => panic!("{username}: {}", reply.show()),
                        // No answer: only once the server is dead.
                        None => {
                            assert!(killed.load(Ordering::SeqCst), "{username}: no answer");
                            return;
                        }
                    }
                }
            });
        }
        // Once 40 sign-ups are answered, with more on the way, kill the
        // server without warning: no signal handler, no clean close.
        let started = Instant::now();
        while acknowledged.lock().expect("lock").len() < 40 {
            assert!(started.elapsed() < Duration::from_secs(60), "too slow");
            thread::sleep(Duration::from_millis(5));
        }
        killed.store(true, Ordering::SeqCst);
        server.kill()
    });

    // Start again on the same files: every acknowledged user is there.
    let server = StageProcess::start_in(STAGE, &[], folder);
    let acknowledged = acknowledged.into_inner().expect("lock");
    assert!(acknowledged.len() >= 40);
    for (id, username) in &acknowledged {
        let reply = get(server.addr(), &format!("/api/users/{id}"));
        assert_eq!(reply.status(), Some(200), "user {id} ({username}) is lost");
        assert_eq!(reply.json()["username"], username.as_str());
    }
}
// ANCHOR_END: kill_9

#[test]
fn a_database_from_a_newer_version_stops_the_start_with_a_clear_error() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let path = folder.path().join("future.sqlite3");
    // A database whose schema claims version 99, as a newer binary would
    // leave it.
    rusqlite::Connection::open(&path)
        .and_then(|connection| connection.pragma_update(None, "user_version", 99))
        .expect("make the database");
    let output = Command::new(wire::binary_path(STAGE))
        .env("ADDR", "127.0.0.1:0")
        .env("DATABASE_PATH", &path)
        .output()
        .expect("run the binary");
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty(), "it never said it was listening");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("future.sqlite3"), "{stderr}");
    assert!(stderr.contains("version 99"), "{stderr}");
}
