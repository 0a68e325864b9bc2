//! Stage 07 — A JSON API: users sign up with a username and a password, and
//! can be read back by id.
//!
//! New since stage 06: `POST /api/users` (`201`, or `400`, `409`, `413`,
//! `415`, `422` as JSON errors) and `GET /api/users/{id}`; request and
//! response bodies are typed structs that serde reads and writes; passwords
//! are stored only as argon2id hashes, computed a few at a time (a `503`
//! with `Retry-After` when too many wait). Users live in memory until stage
//! 08. `main` is as in stage 06: it reads the configuration (now also
//! `MAX_CONCURRENT_HASHES` and `MAX_WAITING_HASHES`), handles signals and
//! picks the exit status; and first of all it tells the C allocator to give
//! large blocks (a hash's 7 MiB) back to the OS when they are freed.
//!
//! Run it with `cargo run -p stage-07`, then sign up:
//! `curl -i localhost:8080/api/users -H 'Content-Type: application/json' -d '{"username":"alice","password":"correct horse"}'`

use std::net::TcpListener;
use std::{env, io, process, thread};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use stage_07::{Config, Drained, Shutdown};

// ANCHOR: main
/// Where we listen unless the `ADDR` environment variable says otherwise.
const DEFAULT_ADDR: &str = "127.0.0.1:8080";

fn main() {
    return_large_blocks_to_the_os();
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
    match stage_07::serve(listener, config, shutdown) {
        Ok(Drained::Completely) => eprintln!("every connection finished; exiting"),
        Ok(Drained::CutOff { open_connections }) => {
            eprintln!("drain timeout: exiting with open connections: {open_connections}")
        }
        Err(error) => fail("server stopped", error),
    }
}

// ANCHOR: large_blocks
/// Makes the C allocator give every large block (1 MiB or more: each
/// argon2 hash asks for 7 MiB) back to the OS when it is freed.
///
/// glibc's `malloc` serves large blocks with `mmap` and returns them with
/// `munmap`, but after the first such block is freed it raises that size
/// limit to the block's size, and from then on serves 7 MiB blocks from its
/// heaps, which it is slow to shrink: without this call, 30 sign-ups one
/// after another leave stage 07 above 120 MiB (its test
/// `memory_goes_back_to_the_os_after_each_sign_up` shows it). Setting the limit
/// ourselves turns the raising off (mallopt(3)). Other C libraries (musl)
/// always return large blocks, and have no `mallopt`.
fn return_large_blocks_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const ONE_MIB: libc::c_int = 1024 * 1024;
        // SAFETY: mallopt only sets a number inside glibc's allocator; we
        // call it first thing in `main`, before any other thread exists, as
        // glibc's manual asks (it marks mallopt MT-Unsafe).
        let accepted = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, ONE_MIB) };
        if accepted != 1 {
            eprintln!(
                "warning: mallopt(M_MMAP_THRESHOLD) refused; memory may grow with each sign-up"
            );
        }
    }
}
// ANCHOR_END: large_blocks

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
