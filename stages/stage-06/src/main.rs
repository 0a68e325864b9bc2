//! Stage 06 — Limits, timeouts, shutdown: a server that survives slow and
//! hostile clients, and stops cleanly.
//!
//! New since stage 05: idle, request and write timeouts (slowloris gets a
//! `408`), a cap on open connections (a fast `503` beyond it), a cap on
//! requests per connection, chunked request bodies, refusal of request
//! smuggling attempts (`400`/`501`), and graceful shutdown on SIGTERM and
//! SIGINT: stop accepting, finish what is in flight within a deadline, exit 0.
//! `main` now owns everything about the process: it reads the limits from
//! the environment (see `config.rs` for the names), turns signals into a
//! [`Shutdown`] request, and picks the exit status. The library only serves.
//!
//! Run it with `cargo run -p stage-06`, then press Ctrl-C to watch it drain.

use std::net::TcpListener;
use std::{env, io, process, thread};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use stage_06::{Config, Drained, Shutdown};

// ANCHOR: main
/// Where we listen unless the `ADDR` environment variable says otherwise.
const DEFAULT_ADDR: &str = "127.0.0.1:8080";

fn main() {
    let addr = env::var("ADDR").unwrap_or_else(|_| DEFAULT_ADDR.to_string());
    // Read the configuration before binding: a typo should fail fast.
    let config = Config::from_env().unwrap_or_else(|error| fail("bad configuration", error));
    let listener = TcpListener::bind(&addr)
        .unwrap_or_else(|error| fail(&format!("cannot listen on {addr}"), error));
    // With port 0 the kernel picks a free port, so print the one we really got.
    let local = listener
        .local_addr()
        .expect("a bound listener has a local address");
    // SIGTERM (systemd, `kill`) and SIGINT (Ctrl-C) start a graceful stop.
    let shutdown = Shutdown::for_listener(&listener)
        .and_then(|shutdown| request_on_signals(&shutdown).map(|()| shutdown))
        .unwrap_or_else(|error| fail("cannot install signal handlers", error));
    // Check the folder before we say we are ready: whoever waits for the
    // "listening" line should not then see us exit.
    if !config.static_dir.is_dir() {
        let folder = config.static_dir.display();
        fail(&format!("static directory {folder}"), "not a directory");
    }
    println!("listening on http://{local}");
    match stage_06::serve(listener, config, shutdown) {
        Ok(Drained::Completely) => eprintln!("every connection finished; exiting"),
        Ok(Drained::CutOff { open_connections }) => {
            eprintln!("drain timeout: exiting with open connections: {open_connections}")
        }
        Err(error) => fail("server stopped", error),
    }
}

/// Says what went wrong and exits with status 1.
fn fail(what: &str, error: impl std::fmt::Display) -> ! {
    eprintln!("{what}: {error}");
    process::exit(1);
}
// ANCHOR_END: main

// ANCHOR: on_signals
/// Requests `shutdown` on the first SIGTERM or SIGINT. A second one means
/// "now": the process exits at once, with status 130 (128 + SIGINT, what
/// shells report for Ctrl-C) or 143 (128 + SIGTERM).
///
/// A signal can arrive at any instant, in the middle of any code, and a
/// signal handler may do almost nothing safely (signal-safety(7)).
/// `signal-hook` does the delicate part: its handler only writes to a pipe,
/// and this ordinary thread reads the signals from it.
fn request_on_signals(shutdown: &Shutdown) -> io::Result<()> {
    let mut signals = Signals::new([SIGTERM, SIGINT])?;
    let shutdown = shutdown.clone();
    thread::Builder::new()
        .name("signals".to_string())
        .spawn(move || {
            for signal in signals.forever() {
                let name = if signal == SIGTERM {
                    "SIGTERM"
                } else {
                    "SIGINT"
                };
                if shutdown.is_requested() {
                    eprintln!("{name} again: exiting without waiting");
                    process::exit(128 + signal);
                }
                eprintln!("{name}: shutting down gracefully (send it again to stop at once)");
                shutdown.request();
            }
        })?;
    Ok(())
}
// ANCHOR_END: on_signals
