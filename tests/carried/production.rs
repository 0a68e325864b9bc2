// Stage 10's production habits on the wire: the configuration check, the
// access log, the metrics page, readiness, and a shutdown that loses no
// acknowledged sign-up. Every test drives the real binary.
//
// Carried forward: this one file is included by the `tests/production.rs`
// of stage 10 and of every later stage, which sets `STAGE` first. (The
// conformance suite only talks to a server; these also read its stdout and
// its exit status.)

use std::collections::HashMap;
use std::process::Command;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use wire::{Reply, StageProcess};

/// `insta::assert_snapshot!`, with the snapshot kept beside the stage that
/// runs the test (its `tests/snapshots`), not beside this shared file: each
/// stage's folder shows the bytes it puts on the wire.
macro_rules! assert_stage_snapshot {
    ($value:expr) => {
        insta::with_settings!(
            { snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots") },
            { insta::assert_snapshot!($value) }
        )
    };
}

const SECRET: &str = "a test secret that is longer than 32 bytes";

/// A secret file in a folder that lives as long as the test needs it.
fn secret_file() -> (tempfile::TempDir, String) {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let path = folder.path().join("jwt-secret");
    std::fs::write(&path, SECRET).expect("write the secret");
    let path = path.to_str().expect("UTF-8").to_string();
    (folder, path)
}

fn get(server: &StageProcess, path: &str, headers: &str) -> Reply {
    wire::exchange(server.addr(), &wire::get_request(path, headers))
}

fn post_json(server: &StageProcess, path: &str, body: &str) -> Reply {
    wire::exchange(server.addr(), &wire::post_json_request(path, body))
}

/// Waits (up to 5 s) until the server's stdout has `count` access lines.
fn access_lines(server: &StageProcess, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let lines: Vec<String> = server
            .stdout()
            .lines()
            .filter(|line| line.starts_with("access "))
            .map(str::to_string)
            .collect();
        if lines.len() >= count || Instant::now() > deadline {
            return lines;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// One access line as its `key=value` pairs.
fn fields(line: &str) -> HashMap<&str, &str> {
    line.split(' ')
        .skip(1)
        .map(|pair| pair.split_once('=').expect("key=value"))
        .collect()
}

#[test]
fn every_configuration_problem_gets_one_line_and_exit_status_2() {
    let output = Command::new(wire::binary_path(STAGE))
        .env("ADDR", "localhost:http")
        .env("WORKERS", "many")
        .env("IDLE_TIMEOUT_SECS", "0")
        .env("TRUSTED_PROXIES", "nginx")
        .output()
        .expect("run the binary");
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty(), "it never said it was listening");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_stage_snapshot!(stderr);
}

#[test]
fn the_configuration_in_effect_is_printed_once_without_the_secret() {
    let (_folder, secret) = secret_file();
    let server = StageProcess::start(STAGE, &[("JWT_SECRET_FILE", &secret), ("WORKERS", "3")]);
    let log = server.stderr_once_it_says("config: JWT secret from");
    assert_eq!(log.matches("config: WORKERS=3\n").count(), 1, "{log}");
    assert!(
        log.contains(&format!("config: JWT secret from {secret}\n")),
        "{log}"
    );
    assert!(!log.contains(SECRET), "the secret is never printed: {log}");
}

#[test]
fn each_request_gets_one_access_line_with_no_query_password_or_token() {
    let (_folder, secret) = secret_file();
    let server = StageProcess::start(STAGE, &[("JWT_SECRET_FILE", &secret)]);
    let credentials = r#"{"username":"alice","password":"correct horse"}"#;
    assert_eq!(
        post_json(&server, "/api/users", credentials).status(),
        Some(201)
    );
    let login = post_json(&server, "/api/login", credentials);
    let token: serde_json::Value = serde_json::from_slice(login.body()).expect("JSON");
    let token = token["token"].as_str().expect("a token");
    let me = get(
        &server,
        "/api/me?debug=secret-in-query",
        &format!("Authorization: Bearer {token}\r\n"),
    );
    assert_eq!(me.status(), Some(200));
    let head = wire::exchange(
        server.addr(),
        b"HEAD /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(head.status(), Some(200));

    let lines = access_lines(&server, 4);
    assert_eq!(lines.len(), 4, "{lines:#?}");
    let parsed: Vec<HashMap<&str, &str>> = lines.iter().map(|line| fields(line)).collect();
    let summary: Vec<(&str, &str, &str, &str)> = parsed
        .iter()
        .map(|f| (f["method"], f["path"], f["status"], f["bytes"]))
        .collect();
    assert_eq!(
        summary,
        [
            ("POST", "/api/users", "201", "27"),
            (
                "POST",
                "/api/login",
                "200",
                &*login.body().len().to_string()
            ),
            ("GET", "/api/me", "200", &*me.body().len().to_string()),
            ("HEAD", "/health", "200", "0"),
        ]
    );
    for line in &parsed {
        assert_eq!(line["peer"], "127.0.0.1");
        let milliseconds: f64 = line["duration_ms"].parse().expect("a number");
        // Three decimals, and less than the test itself has run.
        assert_eq!(line["duration_ms"].split('.').nth(1).map(str::len), Some(3));
        assert!(milliseconds < 60_000.0, "{milliseconds}");
    }
    let log = server.stdout();
    for secret in ["correct horse", token, "secret-in-query", "argon2"] {
        assert!(!log.contains(secret), "{secret:?} in the log:\n{log}");
    }
}

#[test]
fn a_refused_request_is_logged_too() {
    let server = StageProcess::start(STAGE, &[]);
    let reply = wire::exchange(server.addr(), b"HELLO\r\n\r\n");
    assert_eq!(reply.status(), Some(400));
    let lines = access_lines(&server, 1);
    assert_eq!(lines.len(), 1);
    let line = fields(&lines[0]);
    assert_eq!(
        (line["method"], line["path"], line["status"]),
        ("-", "-", "400")
    );
}

#[test]
fn a_connection_turned_away_at_the_cap_is_counted_but_not_logged() {
    let server = StageProcess::start(
        STAGE,
        &[("MAX_CONNECTIONS", "1"), ("IDLE_TIMEOUT_SECS", "10")],
    );
    // One keep-alive connection holds the only place.
    let mut holder = wire::connect(server.addr());
    wire::send(
        &mut holder,
        b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert_eq!(wire::read_response(&mut holder).status(), Some(200));
    let turned_away = get(&server, "/health", "");
    assert_eq!(turned_away.status(), Some(503));
    // Ask for the metrics on the connection that holds the place.
    wire::send(
        &mut holder,
        b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    let metrics = wire::read_response(&mut holder);
    let page = String::from_utf8_lossy(metrics.body());
    assert!(
        page.contains("http_requests_total{route=\"busy\",status=\"503\"} 1\n"),
        "{page}"
    );
    // The accepting thread never writes to stdout: only the first /health
    // and the /metrics request are in the log.
    let lines = access_lines(&server, 2);
    let statuses: Vec<&str> = lines.iter().map(|line| fields(line)["status"]).collect();
    assert_eq!(statuses, ["200", "200"]);
}

#[test]
fn x_real_ip_names_the_client_only_when_a_trusted_proxy_sends_it() {
    let header = "X-Real-IP: 198.51.100.9\r\n";
    let trusting = StageProcess::start(STAGE, &[("TRUSTED_PROXIES", "127.0.0.1")]);
    get(&trusting, "/health", header);
    let untrusting = StageProcess::start(STAGE, &[("TRUSTED_PROXIES", "192.0.2.1")]);
    get(&untrusting, "/health", header);
    assert_eq!(
        fields(&access_lines(&trusting, 1)[0])["peer"],
        "198.51.100.9"
    );
    assert_eq!(
        fields(&access_lines(&untrusting, 1)[0])["peer"],
        "127.0.0.1"
    );
}

// ANCHOR: metrics_test
#[test]
fn metrics_parse_as_prometheus_text_and_count_what_happened() {
    let server = StageProcess::start(STAGE, &[]);
    for _ in 0..3 {
        assert_eq!(get(&server, "/health", "").status(), Some(200));
    }
    assert_eq!(get(&server, "/api/users/1", "").status(), Some(401));
    assert_eq!(get(&server, "/api/users/2", "").status(), Some(401));
    // A wrong method still names the route it was for.
    for (method, path) in [("DELETE", "/metrics"), ("PUT", "/api/status")] {
        let request =
            format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        assert_eq!(
            wire::exchange(server.addr(), request.as_bytes()).status(),
            Some(405)
        );
    }
    let reply = get(&server, "/metrics", "");
    assert_eq!(
        reply.header("Content-Type").as_deref(),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = String::from_utf8(reply.body().to_vec()).expect("UTF-8");
    // A real parser of the format, not string matching.
    let lines = text.lines().map(|line| Ok(line.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text");
    let value = |name: &str, labels: &[(&str, &str)]| -> Option<f64> {
        scrape
            .samples
            .iter()
            .find(|sample| {
                sample.metric == name
                    && labels
                        .iter()
                        .all(|(key, value)| sample.labels.get(key) == Some(*value))
            })
            .map(|sample| match sample.value {
                prometheus_parse::Value::Counter(value)
                | prometheus_parse::Value::Gauge(value)
                | prometheus_parse::Value::Untyped(value) => value,
                _ => f64::NAN,
            })
    };
    let requests = "http_requests_total";
    assert_eq!(
        value(requests, &[("route", "/health"), ("status", "200")]),
        Some(3.0)
    );
    assert_eq!(
        value(requests, &[("route", "/metrics"), ("status", "405")]),
        Some(1.0)
    );
    assert_eq!(
        value(requests, &[("route", "/api/status"), ("status", "405")]),
        Some(1.0)
    );
    // Two paths, one route: the id is not a label.
    assert_eq!(
        value(requests, &[("route", "/api/users/:id"), ("status", "401")]),
        Some(2.0)
    );
    // The page itself is counted after it is written, so it is not in it.
    assert_eq!(
        value(requests, &[("route", "/metrics"), ("status", "200")]),
        None
    );
    // At least this one; earlier ones may still be closing.
    let open = value("http_open_connections", &[]).expect("open connections");
    assert!(open >= 1.0, "{open}");
    // Stage 10 queued connections for its workers; from stage 11 the pool
    // queues jobs (password hashes, database queries, file opens).
    let queue = if STAGE == "stage-10" {
        "http_queued_connections"
    } else {
        "pool_queued_jobs"
    };
    assert_eq!(value(queue, &[]), Some(0.0));
    assert_eq!(value("password_hashes_in_flight", &[]), Some(0.0));
    let stage = match STAGE {
        "backend" => "final",
        stage => stage.trim_start_matches("stage-"),
    };
    assert_eq!(value("backend_build_info", &[("stage", stage)]), Some(1.0));
    let histogram = scrape
        .samples
        .iter()
        .find(|sample| sample.metric == "http_request_duration_seconds")
        .expect("the latency histogram");
    let prometheus_parse::Value::Histogram(buckets) = &histogram.value else {
        panic!("not a histogram: {:?}", histogram.value);
    };
    let last = buckets.last().expect("buckets");
    assert!(last.less_than.is_infinite());
    assert_eq!(last.count, 7.0, "every request so far is in +Inf");
}
// ANCHOR_END: metrics_test

#[test]
fn health_touches_nothing_and_ready_asks_the_database() {
    let server = StageProcess::start(STAGE, &[]);
    let health = get(&server, "/health", "");
    assert_eq!((health.status(), health.body()), (Some(200), &b"ok\n"[..]));
    let ready = get(&server, "/ready", "");
    assert_stage_snapshot!(ready.show());
}

// ANCHOR: drain_test
#[test]
fn sign_ups_in_flight_at_sigterm_are_finished_and_kept() {
    let (_folder, secret) = secret_file();
    // One hash at a time: sixteen sign-ups take a while (about 16 hashes'
    // time), and most are still in the server when SIGTERM comes.
    let settings = [
        ("JWT_SECRET_FILE", secret.as_str()),
        ("WORKERS", "20"),
        ("MAX_CONCURRENT_HASHES", "1"),
        ("MAX_WAITING_HASHES", "16"),
    ];
    let mut server = StageProcess::start(STAGE, &settings);
    let addr = server.addr();
    let barrier = Barrier::new(17);
    let (replies, in_flight) = thread::scope(|scope| {
        let clients: Vec<_> = (0..16)
            .map(|n| {
                let barrier = &barrier;
                scope.spawn(move || {
                    let body = format!(r#"{{"username":"user{n}","password":"correct horse"}}"#);
                    let request = wire::post_json_request("/api/users", &body);
                    let mut client = wire::connect(addr);
                    wire::send(&mut client, &request);
                    barrier.wait();
                    wire::read_reply(&mut client)
                })
            })
            .collect();
        // Every sign-up is connected and sent. The server accepts in order,
        // so once it answers a later connection, it has accepted them all:
        // none is left in the kernel's queue for the shutdown to drop.
        barrier.wait();
        let metrics = get(&server, "/metrics", "");
        server.signal("TERM");
        let replies: Vec<Reply> = clients
            .into_iter()
            .map(|client| client.join().expect("no panic"))
            .collect();
        (replies, open_connections(&metrics) - 1)
    });
    assert!(
        in_flight >= 1,
        "every sign-up finished before SIGTERM: nothing was tested"
    );
    let status = server
        .wait_for_exit(Duration::from_secs(15))
        .expect("it exits");
    assert!(status.success(), "{status}");
    // Every sign-up in flight was finished, and acknowledged.
    let statuses: Vec<Option<u16>> = replies.iter().map(Reply::status).collect();
    assert_eq!(statuses, vec![Some(201); 16]);
    // After SIGTERM nothing more is acknowledged: nobody is listening.
    assert!(std::net::TcpStream::connect(addr).is_err());

    // And every acknowledged user is in the database.
    let folder = server.kill();
    let server = StageProcess::start_in(STAGE, &settings, folder);
    for n in 0..16 {
        let body = format!(r#"{{"username":"user{n}","password":"correct horse"}}"#);
        let login = post_json(&server, "/api/login", &body);
        assert_eq!(login.status(), Some(200), "user{n} is lost");
    }
}

/// `http_open_connections` on a `/metrics` page.
fn open_connections(metrics: &Reply) -> u32 {
    String::from_utf8_lossy(metrics.body())
        .lines()
        .find_map(|line| line.strip_prefix("http_open_connections "))
        .and_then(|value| value.parse().ok())
        .expect("http_open_connections on the page")
}
// ANCHOR_END: drain_test
