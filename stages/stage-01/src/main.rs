//! Stage 01 — Sockets: a single-threaded TCP echo server.
//!
//! New in this stage: everything. We bind a `TcpListener`, accept one
//! connection at a time, and send back every byte the peer sends until it
//! hangs up. There is no HTTP yet: this is the layer HTTP is built on.
//!
//! Run it with `cargo run -p stage-01` (or `ADDR=127.0.0.1:0 cargo run -p
//! stage-01` for any free port), then talk to it:
//! `echo hello | curl -s -m 1 telnet://127.0.0.1:8080`.

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
    if let Err(error) = stage_01::serve(listener) {
        eprintln!("server stopped: {error}");
        process::exit(1);
    }
}
// ANCHOR_END: main
