//! Stage 05 — A thread pool: many clients at once, and keep-alive.
//!
//! New since stage 04: connections are handed to a fixed pool of worker
//! threads (written by hand in `pool.rs`), so one slow client no longer
//! blocks everybody. A connection now carries many requests one after the
//! other (HTTP/1.1 keep-alive), including requests a client sends without
//! waiting for the answers (pipelining). `main` also reads `WORKERS`.
//!
//! Run it with `cargo run -p stage-05` and open <http://127.0.0.1:8080/>;
//! `WORKERS=2 cargo run -p stage-05` runs two workers.

use std::net::TcpListener;
use std::{env, process};

use stage_05::Config;

// ANCHOR: main
/// Where we listen unless the `ADDR` environment variable says otherwise.
const DEFAULT_ADDR: &str = "127.0.0.1:8080";

fn main() {
    let addr = env::var("ADDR").unwrap_or_else(|_| DEFAULT_ADDR.to_string());
    // Read the configuration before binding: a typo should fail fast.
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("bad configuration: {error}");
            process::exit(1);
        }
    };
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
    // Check the folder before we say we are ready: whoever waits for the
    // "listening" line should not then see us exit.
    if !config.static_dir.is_dir() {
        eprintln!(
            "static directory {}: not a directory",
            config.static_dir.display()
        );
        process::exit(1);
    }
    println!("listening on http://{local}");
    if let Err(error) = stage_05::serve(listener, config) {
        eprintln!("server stopped: {error}");
        process::exit(1);
    }
}
// ANCHOR_END: main
