//! Stage 04 — Static files: serve the `frontend/` directory, safely.
//!
//! New since stage 03: every `GET` that no API route claims is looked up as a
//! file under a static root directory and streamed to the client with the
//! right `Content-Type` (`/` means `/index.html`). The path is
//! percent-decoded, and every trick for escaping the root (`..`, `%2e%2e`,
//! encoded slashes, NUL bytes, symlinks pointing outside) is refused. `main`
//! now also reads `STATIC_DIR`.
//!
//! Run it with `cargo run -p stage-04` and open <http://127.0.0.1:8080/> in a
//! browser; `STATIC_DIR=/some/dir cargo run -p stage-04` serves another
//! directory.

use std::net::TcpListener;
use std::path::PathBuf;
use std::{env, process};

// ANCHOR: main
/// Where we listen unless the `ADDR` environment variable says otherwise.
const DEFAULT_ADDR: &str = "127.0.0.1:8080";

// ANCHOR: static_dir
/// What we serve unless `STATIC_DIR` says otherwise: this crate's own
/// `frontend/`, as an absolute path fixed at compile time, so that
/// `cargo run -p stage-04` works from any directory. (A binary copied to
/// another machine needs `STATIC_DIR`.)
const DEFAULT_STATIC_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/frontend");
// ANCHOR_END: static_dir

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
    let static_dir = env::var_os("STATIC_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STATIC_DIR));
    // Check the folder before we say we are ready: whoever waits for the
    // "listening" line should not then see us exit.
    if !static_dir.is_dir() {
        eprintln!("static directory {}: not a directory", static_dir.display());
        process::exit(1);
    }
    println!("listening on http://{local}");
    if let Err(error) = stage_04::serve(listener, &static_dir) {
        eprintln!("server stopped: {error}");
        process::exit(1);
    }
}
// ANCHOR_END: main
