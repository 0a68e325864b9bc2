//! The one mechanism for generated files: compare, or regenerate on request.
//!
//! Generated files (the stage diffs, the "try it" transcripts, snapshots of
//! other suites) are committed, so the book can include them and a reviewer
//! can read them. The danger is that they silently go stale. So a test
//! computes what the file should contain and calls [`check_or_update`]:
//!
//! - normally it compares, and fails with a short diff when the file differs;
//! - with `INSTA_UPDATE=always` in the environment it writes the file instead.
//!
//! That is insta's own switch for rewriting snapshots, so one switch
//! regenerates everything, insta snapshots and these pages alike, and there
//! is one habit to learn: after a change, run
//! `INSTA_UPDATE=always cargo test --workspace`, then review `git diff`.
//! Any other value (CI sets `INSTA_UPDATE=no`), or none, means check.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use similar::TextDiff;

use crate::{display_relative, repo_root};

/// The environment variable that turns checking into regenerating: insta's.
pub const UPDATE_VARIABLE: &str = "INSTA_UPDATE";

/// The value of [`UPDATE_VARIABLE`] that means "rewrite": insta's `always`.
pub const UPDATE_VALUE: &str = "always";

/// What to tell someone whose generated file is stale.
pub const HOW_TO_REGENERATE: &str =
    "run `INSTA_UPDATE=always cargo test --workspace` to regenerate, then review `git diff`";

/// How many diff lines a failure shows: enough to see what is wrong, not so
/// many that the test output becomes a wall.
const MAX_DIFF_LINES: usize = 40;

/// Whether we check generated files or rewrite them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Compare, and report a stale or missing file.
    Check,
    /// Write the file (creating folders) if its content differs.
    Update,
}

impl Mode {
    /// `Update` when `INSTA_UPDATE=always` is set, otherwise `Check`.
    pub fn from_environment() -> Mode {
        Mode::from_update_variable(std::env::var(UPDATE_VARIABLE).ok().as_deref())
    }

    /// The mode for a value of `INSTA_UPDATE` (`None`: not set). Only
    /// `always` rewrites; insta's other values (`auto`, `new`, `unseen`,
    /// `no`) write `.snap.new` files or nothing, never the snapshot itself,
    /// so for a generated page they mean check.
    pub fn from_update_variable(value: Option<&str>) -> Mode {
        match value {
            Some(UPDATE_VALUE) => Mode::Update,
            _ => Mode::Check,
        }
    }
}

/// Checks that `path` holds exactly `expected`, or writes it when
/// `INSTA_UPDATE=always` is set. Panics (this is for tests) with a short diff
/// and the command that regenerates the file.
pub fn check_or_update(path: &Path, expected: &str) {
    if let Err(problem) = compare_or_update(path, expected) {
        panic!("{problem}");
    }
}

/// Like [`check_or_update`], but returns the problem instead of panicking, so
/// a test that checks many files can report all of them at once.
pub fn compare_or_update(path: &Path, expected: &str) -> Result<(), String> {
    compare_or_update_in(Mode::from_environment(), path, expected)
}

/// [`compare_or_update`] with the mode given explicitly (the environment is
/// shared by every test in a process, so our own tests must not set it).
pub fn compare_or_update_in(mode: Mode, path: &Path, expected: &str) -> Result<(), String> {
    let on_disk = match fs::read_to_string(path) {
        Ok(content) => Some(content),
        Err(error) if error.kind() == ErrorKind::NotFound => None,
        Err(error) => return Err(format!("cannot read {}: {error}", path.display())),
    };
    if on_disk.as_deref() == Some(expected) {
        // Up to date: never rewrite, so timestamps and editors stay calm.
        return Ok(());
    }
    match (mode, on_disk) {
        (Mode::Update, _) => write_creating_folders(path, expected),
        (Mode::Check, None) => Err(format!(
            "generated file {} does not exist\n{HOW_TO_REGENERATE}",
            display_relative(path, &repo_root())
        )),
        (Mode::Check, Some(on_disk)) => Err(format!(
            "generated file {} is stale (`-` is on disk, `+` is expected):\n{}\n{HOW_TO_REGENERATE}",
            display_relative(path, &repo_root()),
            short_line_diff(&on_disk, expected)
        )),
    }
}

fn write_creating_folders(path: &Path, content: &str) -> Result<(), String> {
    if let Some(folder) = path.parent() {
        fs::create_dir_all(folder)
            .map_err(|error| format!("cannot create {}: {error}", folder.display()))?;
    }
    fs::write(path, content).map_err(|error| format!("cannot write {}: {error}", path.display()))
}

/// A unified diff with one line of context, cut after [`MAX_DIFF_LINES`].
fn short_line_diff(old: &str, new: &str) -> String {
    let diff = TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(1)
        .to_string();
    let lines: Vec<&str> = diff.lines().collect();
    if lines.len() <= MAX_DIFF_LINES {
        return diff;
    }
    let mut shown = lines[..MAX_DIFF_LINES].join("\n");
    shown.push_str(&format!(
        "\n… and {} more diff lines",
        lines.len() - MAX_DIFF_LINES
    ));
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insta_update_always_regenerates_and_anything_else_checks() {
        assert_eq!(Mode::from_update_variable(Some("always")), Mode::Update);
        // CI sets `no`; insta's default is `auto`; unset is a developer's run.
        for value in [
            Some("no"),
            Some("auto"),
            Some("new"),
            Some("1"),
            Some(""),
            None,
        ] {
            assert_eq!(Mode::from_update_variable(value), Mode::Check, "{value:?}");
        }
    }

    #[test]
    fn an_up_to_date_file_passes_the_check() {
        let folder = tempfile::tempdir().expect("temp dir");
        let path = folder.path().join("page.md");
        fs::write(&path, "same\n").expect("write");

        assert_eq!(compare_or_update_in(Mode::Check, &path, "same\n"), Ok(()));
    }

    #[test]
    fn a_stale_file_fails_with_a_diff_and_the_command_that_regenerates_it() {
        let folder = tempfile::tempdir().expect("temp dir");
        let path = folder.path().join("page.md");
        fs::write(&path, "one\ntwo\n").expect("write");

        let problem = compare_or_update_in(Mode::Check, &path, "one\nthree\n")
            .expect_err("a stale file must fail");

        assert!(problem.contains("-two"), "{problem}");
        assert!(problem.contains("+three"), "{problem}");
        assert!(problem.contains(HOW_TO_REGENERATE), "{problem}");
        assert_eq!(fs::read_to_string(&path).expect("read"), "one\ntwo\n");
    }

    #[test]
    fn a_missing_file_fails_the_check() {
        let folder = tempfile::tempdir().expect("temp dir");
        let path = folder.path().join("missing.md");

        let problem = compare_or_update_in(Mode::Check, &path, "content\n")
            .expect_err("a missing file must fail");

        assert!(problem.contains("does not exist"), "{problem}");
        assert!(!path.exists());
    }

    #[test]
    fn updating_writes_the_file_and_creates_its_folders() {
        let folder = tempfile::tempdir().expect("temp dir");
        let path = folder.path().join("new/folder/page.md");

        compare_or_update_in(Mode::Update, &path, "fresh\n").expect("update");

        assert_eq!(fs::read_to_string(&path).expect("read"), "fresh\n");
    }

    #[test]
    fn a_long_diff_is_cut_short() {
        let old: String = (0..200).map(|n| format!("old {n}\n")).collect();
        let new: String = (0..200).map(|n| format!("new {n}\n")).collect();

        let diff = short_line_diff(&old, &new);

        assert_eq!(diff.lines().count(), MAX_DIFF_LINES + 1);
        assert!(diff.ends_with("more diff lines"), "{diff}");
    }
}
