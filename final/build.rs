//! Records the git commit the binary is built from, for `backend --version`
//! and the `/metrics` build info: `BACKEND_COMMIT`, or `unknown` when the
//! source is not a git checkout (a tarball, a vendored copy).

use std::path::Path;
use std::process::Command;

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
    // Build again when HEAD moves: a new commit on the branch (its ref
    // file, or packed-refs after `git gc`), or another branch checked out.
    let git = Path::new("../.git");
    println!("cargo:rerun-if-changed=../.git/HEAD");
    println!("cargo:rerun-if-changed=../.git/packed-refs");
    if let Ok(head) = std::fs::read_to_string(git.join("HEAD")) {
        if let Some(reference) = head.trim().strip_prefix("ref: ") {
            println!("cargo:rerun-if-changed=../.git/{reference}");
        }
    }
}
