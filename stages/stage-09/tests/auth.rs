//! Stage 09 on the wire: logging in, and what a token must be. Each test
//! drives the real binary with a secret the test knows, so it can also forge
//! tokens (`wire::jwt`: base64url and HMAC-SHA2 by hand, not the server's JWT
//! crate, so a mistake in how we use that crate cannot hide in both places).
//!
//! Every way a token can be wrong (alg `none`, HS384, another key, an edited
//! payload, expired, …) is the conformance case `forged-tokens`, run against
//! this stage and every later one.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use wire::jwt::{forge, hs256, hs256_signature, now, valid_claims, JWT_SECRET as SECRET};
use wire::{Reply, StageProcess};

/// Stage 09 with `SECRET` in a file, and one user: alice.
struct Server {
    process: StageProcess,
    _secret_dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let secret_dir = tempfile::tempdir().expect("a temporary folder");
        let secret_file = secret_dir.path().join("jwt-secret");
        std::fs::write(&secret_file, format!("{SECRET}\n")).expect("write the secret");
        let process = StageProcess::start(
            "stage-09",
            &[("JWT_SECRET_FILE", secret_file.to_str().expect("UTF-8"))],
        );
        let server = Server {
            process,
            _secret_dir: secret_dir,
        };
        let created = server.post(
            "/api/users",
            r#"{"username":"alice","password":"correct horse"}"#,
        );
        assert_eq!(created.status(), Some(201), "{}", created.show());
        server
    }

    fn post(&self, path: &str, body: &str) -> Reply {
        wire::exchange(self.process.addr(), &wire::post_json_request(path, body))
    }

    fn log_in(&self, username: &str, password: &str) -> Reply {
        self.post(
            "/api/login",
            &json!({ "username": username, "password": password }).to_string(),
        )
    }

    /// `GET path` with this `Authorization` header, if any.
    fn get(&self, path: &str, authorization: Option<&str>) -> Reply {
        let header =
            authorization.map_or(String::new(), |value| format!("Authorization: {value}\r\n"));
        wire::exchange(self.process.addr(), &wire::get_request(path, &header))
    }

    fn me_with_token(&self, token: &str) -> Reply {
        self.get("/api/me", Some(&format!("Bearer {token}")))
    }
}

#[test]
fn logging_in_gives_a_token_that_shows_who_you_are() {
    let server = Server::start();
    let logged_in = server.log_in("Alice", "correct horse");
    let body = logged_in.json();
    let token = body["token"].as_str().expect("a token");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(
        logged_in.header("Cache-Control").as_deref(),
        Some("no-store")
    );
    insta::assert_snapshot!("login_ok", logged_in.show().replace(token, "<token>"));

    let me = server.me_with_token(token);
    assert_eq!(me.status(), Some(200));
    // One user's data: no cache may keep it.
    assert_eq!(me.header("Cache-Control").as_deref(), Some("no-store"));
    assert_eq!(me.json()["username"], "alice");
    let user = server.get("/api/users/1", Some(&format!("Bearer {token}")));
    assert_eq!(user.status(), Some(200));
    // The same user, and never a password or a hash.
    assert_eq!(user.body(), me.body());
    assert!(!me.contains(b"argon2") && !me.contains(b"correct horse"));
}

#[test]
fn the_token_is_an_hs256_jwt_that_a_hand_made_check_accepts() {
    // Cross-check, independently of the server's JWT crate: the signature
    // is HMAC-SHA256 of the first two parts with our secret, and the claims
    // are the ones the issue asks for.
    let server = Server::start();
    let token = server.log_in("alice", "correct horse").json()["token"]
        .as_str()
        .expect("a token")
        .to_string();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let decode = |part: &str| -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
    };
    assert_eq!(decode(parts[0])["alg"], "HS256");
    let claims = decode(parts[1]);
    assert_eq!(claims["sub"], "1");
    let (iat, exp) = (claims["iat"].as_u64(), claims["exp"].as_u64());
    let (iat, exp) = (iat.expect("iat"), exp.expect("exp"));
    assert_eq!(exp - iat, 3600);
    assert!(iat.abs_diff(now()) < 60);
    let signing_input = format!("{}.{}", parts[0], parts[1]);
    let expected = hs256_signature(SECRET.as_bytes(), &signing_input);
    assert_eq!(
        URL_SAFE_NO_PAD.decode(parts[2]).expect("base64url"),
        expected
    );
    // And a token we forge with the same secret is accepted.
    let forged = forge(&hs256(), &valid_claims("1"), SECRET.as_bytes());
    assert_eq!(server.me_with_token(&forged).status(), Some(200));
}

// ANCHOR: same_401
#[test]
fn a_wrong_password_and_an_unknown_user_get_the_same_401() {
    let server = Server::start();
    let wrong_password = server.log_in("alice", "wrong horse");
    let unknown_user = server.log_in("mallory", "correct horse");
    assert_eq!(wrong_password.status(), Some(401));
    insta::assert_snapshot!("login_refused", wrong_password.show());
    // Byte for byte the same answer, Date aside.
    assert_eq!(wrong_password.show(), unknown_user.show());
}
// ANCHOR_END: same_401

#[test]
fn a_login_without_a_field_or_with_the_wrong_type_is_refused_like_a_sign_up() {
    let server = Server::start();
    let missing = server.post("/api/login", r#"{"username":"alice"}"#);
    assert_eq!(missing.status(), Some(422));
    assert_eq!(missing.json()["field"], "password");
    let wrong_type = server.post("/api/login", r#"{"username":"alice","password":5}"#);
    assert_eq!(wrong_type.status(), Some(400));
    // Longer than any password sign-up accepts: wrong, without a hash. The
    // longest one sign-up accepts still logs in.
    let long = server.log_in("alice", &"x".repeat(129));
    assert_eq!(long.status(), Some(401));
    let longest = "x".repeat(128);
    let created = server.post(
        "/api/users",
        &json!({ "username": "bob", "password": longest }).to_string(),
    );
    assert_eq!(created.status(), Some(201));
    assert_eq!(server.log_in("bob", &longest).status(), Some(200));
}

#[test]
fn without_a_token_me_and_users_answer_401_with_a_bearer_challenge() {
    let server = Server::start();
    let me = server.get("/api/me", None);
    insta::assert_snapshot!("me_without_token", me.show());
    for authorization in [None, Some("Basic YWxpY2U6Y29ycmVjdCBob3JzZQ==")] {
        for path in ["/api/me", "/api/users/1"] {
            let reply = server.get(path, authorization);
            assert_eq!(reply.status(), Some(401), "{path} {authorization:?}");
            // No token was sent: no error code in the challenge.
            assert_eq!(reply.header("WWW-Authenticate").as_deref(), Some("Bearer"));
        }
    }
}

#[test]
fn a_bad_token_gets_401_with_invalid_token() {
    let server = Server::start();
    let reply = server.me_with_token("garbage");
    insta::assert_snapshot!("me_with_invalid_token", reply.show());
}

// ANCHOR: leeway
#[test]
fn a_token_just_past_its_expiry_passes_within_the_leeway_and_not_beyond() {
    let server = Server::start();
    let secret = SECRET.as_bytes();
    let at = |exp: u64| json!({ "sub": "1", "iat": now() - 3600, "exp": exp });
    // Expired 1 s ago: within the 5 s allowed for clocks that disagree.
    let just = forge(&hs256(), &at(now() - 1), secret);
    assert_eq!(server.me_with_token(&just).status(), Some(200));
    let beyond = forge(&hs256(), &at(now() - 30), secret);
    assert_eq!(server.me_with_token(&beyond).status(), Some(401));
}
// ANCHOR_END: leeway

#[test]
fn tokens_survive_a_restart_with_the_same_secret() {
    let server = Server::start();
    let token = server.log_in("alice", "correct horse").json()["token"]
        .as_str()
        .expect("a token")
        .to_string();
    let secret_file = server._secret_dir.path().join("jwt-secret");
    let folder = server.process.kill();
    let restarted = StageProcess::start_in(
        "stage-09",
        &[("JWT_SECRET_FILE", secret_file.to_str().expect("UTF-8"))],
        folder,
    );
    let request = format!(
        "GET /api/me HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
         Connection: close\r\n\r\n"
    );
    let me = wire::exchange(restarted.addr(), request.as_bytes());
    assert_eq!(me.status(), Some(200));
    drop(server._secret_dir);
}

#[test]
fn a_short_secret_stops_the_start_and_no_secret_makes_a_private_development_one() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let short = folder.path().join("short-secret");
    std::fs::write(&short, "only 20 bytes long..").expect("write");
    let output = std::process::Command::new(wire::binary_path("stage-09"))
        .current_dir(folder.path())
        .env("ADDR", "127.0.0.1:0")
        .env("JWT_SECRET_FILE", &short)
        .output()
        .expect("run the binary");
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty(), "it never said it was listening");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("20 bytes, at least 32"), "{stderr}");
    assert!(
        !stderr.contains("only 20 bytes long"),
        "the secret is never printed"
    );

    // No secret configured: one is made beside the database, with a warning.
    let server = StageProcess::start("stage-09", &[]);
    let made = server.working_dir().join("data/jwt-secret");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&made).expect("made").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let log = server.stderr_once_it_says("warning: no JWT_SECRET_FILE");
    assert!(log.contains("warning: no JWT_SECRET_FILE"), "{log}");
}
