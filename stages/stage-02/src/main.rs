//! Stage 02 — Speaking HTTP: read a whole request head, answer with HTTP.
//!
//! New since stage 01: instead of echoing bytes we read them into a growing,
//! capped buffer until `httparse` says the request head is complete, then
//! answer one fixed `200 OK` (with `Content-Length` and `Connection: close`).
//! Garbage gets `400 Bad Request`; a head larger than the cap gets
//! `431 Request Header Fields Too Large`. `main` is unchanged.
//!
//! Run it with `cargo run -p stage-02`, then `curl -i http://127.0.0.1:8080/`.

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
    if let Err(error) = stage_02::serve(listener) {
        eprintln!("server stopped: {error}");
        process::exit(1);
    }
}
// ANCHOR_END: main
