//! Records the git commit the binary is built from, for `backend --version`:
//! `BACKEND_COMMIT`, or `unknown` when the source is not a git checkout (a
//! tarball, a vendored copy).

use std::path::Path;
use std::process::Command;

// ANCHOR: build_script
fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .map(|text| text.trim().to_string())
        .filter(|commit| !commit.is_empty())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=BACKEND_COMMIT={commit}");
    // Build again when HEAD moves: another branch checked out (HEAD), or a
    // new commit on this one (its ref file; or packed-refs, where `git gc`
    // moves refs). Only files that exist are watched: cargo treats a
    // watched file that is missing as changed, and would rebuild every time.
    let git = Path::new("../.git");
    let mut watched = vec![git.join("HEAD")];
    if let Ok(head) = std::fs::read_to_string(git.join("HEAD")) {
        if let Some(reference) = head.trim().strip_prefix("ref: ") {
            watched.push(git.join(reference));
        }
    }
    watched.push(git.join("packed-refs"));
    for path in watched.iter().filter(|path| path.is_file()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}
// ANCHOR_END: build_script
