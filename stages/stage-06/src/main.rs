//! Stage 06 — Limits, timeouts, shutdown: a server that survives slow and
//! hostile clients, and stops cleanly.
//!
//! New since stage 05: idle, request and write timeouts (slowloris gets a
//! `408`), a cap on open connections (a fast `503` beyond it), a cap on
//! requests per connection, chunked request bodies, refusal of request
//! smuggling attempts (`400`/`501`), and graceful shutdown on SIGTERM and
//! SIGINT: stop accepting, finish what is in flight within a deadline, exit 0.
//! `main` now installs the signal handling and reads the limits from the
//! environment (see `Config` in lib.rs for the names).
//!
//! Run it with `cargo run -p stage-06`, then press Ctrl-C to watch it drain.

use std::net::TcpListener;
use std::{env, process};

use stage_06::{Config, Shutdown};

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
    // SIGTERM (systemd, `kill`) and SIGINT (Ctrl-C) start a graceful stop.
    let shutdown = Shutdown::for_listener(&listener)
        .and_then(|shutdown| shutdown.request_on_signals().map(|()| shutdown));
    let shutdown = match shutdown {
        Ok(shutdown) => shutdown,
        Err(error) => {
            eprintln!("cannot install signal handlers: {error}");
            process::exit(1);
        }
    };
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
    if let Err(error) = stage_06::serve_until(listener, config, shutdown) {
        eprintln!("server stopped: {error}");
        process::exit(1);
    }
}
// ANCHOR_END: main
