//! Stage 03 — Routing: real `Request` and `Response` types and a `match`.
//!
//! New since stage 02: the request head becomes a [`Request`] (method, path,
//! query, headers, and a body read by `Content-Length`), and every answer is a
//! [`Response`] we serialise ourselves. A `match` on (method, path) picks the
//! handler: `GET /api/status` (JSON), `GET /health`, `POST /api/echo`; unknown
//! paths get 404, known paths with the wrong method 405 with `Allow`, and
//! `HEAD` works for every `GET` route. `main` is unchanged.
//!
//! Run it with `cargo run -p stage-03`, then
//! `curl -i http://127.0.0.1:8080/api/status`.
//!
//! [`Request`]: stage_03::request::Request
//! [`Response`]: stage_03::response::Response

use std::net::TcpListener;
use std::{env, process};

// ANCHOR: main
/// Where we listen unless the `ADDR` environment variable says otherwise.
const DEFAULT_ADDR: &str = "127.0.0.1:8080";

fn main() {
    let addr = env::var("ADDR").unwrap_or_else(|_| DEFAULT_ADDR.to_string());
    let listener = match TcpListener::bind(&addr) {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("cannot listen on {addr}: {error}");
            process::exit(1);
        }
    };
    // With port 0 the kernel picks a free port, so print the one we really got.
    let local = listener
        .local_addr()
        .expect("a bound listener has a local address");
    println!("listening on http://{local}");
    if let Err(error) = stage_03::serve(listener) {
        eprintln!("server stopped: {error}");
        process::exit(1);
    }
}
// ANCHOR_END: main
