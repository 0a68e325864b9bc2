//! The "what changed" diffs: one unified diff per chapter, from the previous
//! stage to this one, written to `book/src/generated/stage-NN.diff`.
//!
//! A chapter includes its diff so the reader sees every line the chapter
//! changed, and nothing else. The diffs are generated, never hand-edited; the
//! test `tests/stage_diffs.rs` fails when one is stale.
//!
//! A chapter taught in sub-chapters gets its diff in parts instead, one per
//! sub-chapter, by the rules in [`crate::diff_parts`].
//!
//! What is diffed: `Cargo.toml`, everything under `src/`, and `frontend/` if
//! the stage has one. Tests and snapshots are left out: they matter, but they
//! are not what a chapter teaches.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use similar::TextDiff;

use crate::{diff_parts, display_relative, files_under, repo_root, Stage};

/// Lines of unchanged context around each change, as `diff -u` and git use.
pub const CONTEXT_LINES: usize = 3;

/// The folders of a stage whose files are diffed (if they exist).
const DIFFED_FOLDERS: [&str; 2] = ["src", "frontend"];

/// What the header shows for the missing side of an added or removed file.
const NO_FILE: &str = "/dev/null";

/// The folder the diffs are written to.
pub fn diffs_dir() -> PathBuf {
    repo_root().join("book/src/generated")
}

/// Where the diff that leads up to `newer` is written.
pub fn diff_path(newer: &Stage) -> PathBuf {
    diffs_dir().join(format!("{}.diff", newer.name))
}

/// Where one part of a split diff is written: `stage-06-limits.diff`.
pub fn part_path(newer: &Stage, part: &str) -> PathBuf {
    diffs_dir().join(format!("{}-{part}.diff", newer.name))
}

/// Every diff the book should have, with the path it belongs at: one per
/// pair of consecutive stages, or one per part for a stage listed in
/// [`diff_parts::SPLITS`]. Fails with every problem found: a stage that
/// cannot be read, or a diff that does not split cleanly.
pub fn expected_diffs(stages: &[Stage]) -> Result<Vec<(PathBuf, String)>, String> {
    let mut expected = Vec::new();
    let mut problems = Vec::new();
    for pair in stages.windows(2) {
        let (older, newer) = (&pair[0], &pair[1]);
        let files = file_diffs(older, newer)
            .map_err(|error| format!("cannot diff {} and {}: {error}", older.name, newer.name))?;
        match diff_parts::split_for(&newer.name) {
            None => expected.push((diff_path(newer), files.iter().map(FileDiff::text).collect())),
            Some(split) => match diff_parts::split_diff(split, &files) {
                Ok(parts) => expected.extend(
                    parts
                        .iter()
                        .map(|part| (part_path(newer, part.name), part.text())),
                ),
                Err(found) => problems.extend(found),
            },
        }
    }
    if problems.is_empty() {
        Ok(expected)
    } else {
        Err(problems.join("\n"))
    }
}

/// The `.diff` files in `dir` that are not in `expected`: left over from a
/// stage that was renamed, or from before its diff was split.
pub fn stale_diff_files(dir: &Path, expected: &[PathBuf]) -> io::Result<Vec<PathBuf>> {
    Ok(files_under(dir)?
        .into_iter()
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "diff")
        })
        .filter(|path| !expected.contains(path))
        .collect())
}

/// The unified diff from `older` to `newer`, file by file, in path order.
///
/// Headers name the stage folder (`--- stage-01/src/lib.rs`), so the reader
/// sees which stage each side is. Added and removed files are shown whole,
/// against `/dev/null`.
pub fn stage_diff(older: &Stage, newer: &Stage) -> io::Result<String> {
    Ok(file_diffs(older, newer)?
        .iter()
        .map(FileDiff::text)
        .collect())
}

/// One file's share of a stage diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDiff {
    /// The file, relative to the stage folder: `src/lib.rs`.
    pub file: String,
    /// `--- stage-05/src/lib.rs` and `+++ stage-06/src/lib.rs`, or for a
    /// file that is not text, the one line `Binary files … differ`.
    pub header: String,
    /// Each hunk, from its `@@` line on (none for a binary file).
    pub hunks: Vec<String>,
}

impl FileDiff {
    /// The header and every hunk: this file's part of the diff.
    pub fn text(&self) -> String {
        let mut text = self.header.clone();
        text.extend(self.hunks.iter().map(String::as_str));
        text
    }
}

/// The diff from `older` to `newer`, one [`FileDiff`] per changed file, in
/// path order. [`stage_diff`] is these, one after the other.
pub fn file_diffs(older: &Stage, newer: &Stage) -> io::Result<Vec<FileDiff>> {
    let mut paths: BTreeSet<String> = diffed_files(&older.dir)?.into_iter().collect();
    paths.extend(diffed_files(&newer.dir)?);

    let mut diffs = Vec::new();
    for relative in &paths {
        let old = read_if_present(&older.dir.join(relative))?;
        let new = read_if_present(&newer.dir.join(relative))?;
        if old == new {
            continue;
        }
        let old_label = labelled(old.is_some(), &older.name, relative);
        let new_label = labelled(new.is_some(), &newer.name, relative);
        let old = old.unwrap_or_default();
        let new = new.unwrap_or_default();
        match (std::str::from_utf8(&old), std::str::from_utf8(&new)) {
            (Ok(old_text), Ok(new_text)) => {
                let (old_text, new_text) = (without_anchors(old_text), without_anchors(new_text));
                if old_text == new_text {
                    continue; // only anchors moved: nothing for the reader
                }
                let text_diff = TextDiff::from_lines(&old_text, &new_text);
                let hunks = text_diff
                    .unified_diff()
                    .context_radius(CONTEXT_LINES)
                    .iter_hunks()
                    .map(|hunk| hunk.to_string())
                    .collect();
                diffs.push(FileDiff {
                    file: relative.clone(),
                    header: format!("--- {old_label}\n+++ {new_label}\n"),
                    hunks,
                });
            }
            // An image in `frontend/`, say: a line diff would be noise.
            _ => diffs.push(FileDiff {
                file: relative.clone(),
                header: format!("Binary files {old_label} and {new_label} differ\n"),
                hunks: Vec::new(),
            }),
        }
    }
    Ok(diffs)
}

/// `text` without the mdBook anchor comments (`// ANCHOR: name`,
/// `// ANCHOR_END: name`): they are there for the book's includes, and in a
/// diff they would only be noise.
fn without_anchors(text: &str) -> String {
    text.split_inclusive('\n')
        .filter(|line| !line.contains("ANCHOR: ") && !line.contains("ANCHOR_END: "))
        .collect()
}

/// The files of one stage that the diff covers, relative to the stage folder
/// and with `/` separators.
pub fn diffed_files(stage_dir: &Path) -> io::Result<Vec<String>> {
    let mut files = Vec::new();
    if stage_dir.join("Cargo.toml").is_file() {
        files.push("Cargo.toml".to_string());
    }
    for folder in DIFFED_FOLDERS {
        let folder = stage_dir.join(folder);
        if folder.is_dir() {
            files.extend(
                files_under(&folder)?
                    .iter()
                    .map(|path| display_relative(path, stage_dir))
                    .filter(|relative| !is_test_material(relative)),
            );
        }
    }
    Ok(files)
}

/// Tests and insta snapshots, wherever they sit (`src/snapshots/` exists for
/// unit-test snapshots), and the temporary files insta leaves behind.
fn is_test_material(relative: &str) -> bool {
    relative
        .split('/')
        .any(|part| part == "tests" || part == "snapshots")
        || [".snap", ".snap.new", ".pending-snap"]
            .iter()
            .any(|extension| relative.ends_with(extension))
}

fn read_if_present(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

fn labelled(exists: bool, stage_name: &str, relative: &str) -> String {
    if exists {
        format!("{stage_name}/{relative}")
    } else {
        NO_FILE.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Makes a stage folder with the given files.
    fn stage_with(root: &Path, name: &str, files: &[(&str, &str)]) -> Stage {
        let dir = root.join(name);
        for (relative, content) in files {
            let path = dir.join(relative);
            fs::create_dir_all(path.parent().expect("has a folder")).expect("mkdir");
            fs::write(path, content).expect("write");
        }
        Stage {
            name: name.to_string(),
            dir,
        }
    }

    #[test]
    fn a_changed_file_is_shown_with_stage_names_and_three_lines_of_context() {
        let root = tempfile::tempdir().expect("temp dir");
        let old_lib = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
        let new_lib = "1\n2\n3\n4\nfive\n6\n7\n8\n9\n";
        let older = stage_with(root.path(), "stage-01", &[("src/lib.rs", old_lib)]);
        let newer = stage_with(root.path(), "stage-02", &[("src/lib.rs", new_lib)]);

        let diff = stage_diff(&older, &newer).expect("diff");

        assert_eq!(
            diff,
            "--- stage-01/src/lib.rs\n+++ stage-02/src/lib.rs\n\
             @@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"
        );
    }

    #[test]
    fn added_and_removed_files_are_shown_whole() {
        let root = tempfile::tempdir().expect("temp dir");
        let older = stage_with(root.path(), "stage-01", &[("src/old.rs", "gone\n")]);
        let newer = stage_with(
            root.path(),
            "stage-02",
            &[("frontend/index.html", "<h1>hi</h1>\n")],
        );

        let diff = stage_diff(&older, &newer).expect("diff");

        assert_eq!(
            diff,
            "--- /dev/null\n+++ stage-02/frontend/index.html\n@@ -0,0 +1 @@\n+<h1>hi</h1>\n\
             --- stage-01/src/old.rs\n+++ /dev/null\n@@ -1 +0,0 @@\n-gone\n"
        );
    }

    #[test]
    fn anchor_comments_are_left_out_of_the_diff() {
        let root = tempfile::tempdir().expect("temp dir");
        let older = stage_with(root.path(), "stage-01", &[("src/lib.rs", "a\nb\n")]);
        let newer = stage_with(
            root.path(),
            "stage-02",
            &[("src/lib.rs", "a\n// ANCHOR: b\nb\n// ANCHOR_END: b\nc\n")],
        );

        let diff = stage_diff(&older, &newer).expect("diff");

        assert!(diff.contains("+c"), "{diff}");
        assert!(!diff.contains("ANCHOR"), "{diff}");
    }

    #[test]
    fn tests_snapshots_and_unchanged_files_are_left_out() {
        let root = tempfile::tempdir().expect("temp dir");
        let older = stage_with(
            root.path(),
            "stage-01",
            &[("src/main.rs", "same\n"), ("tests/echo.rs", "old test\n")],
        );
        let newer = stage_with(
            root.path(),
            "stage-02",
            &[
                ("src/main.rs", "same\n"),
                ("tests/echo.rs", "new test\n"),
                ("src/snapshots/x.snap", "snapshot\n"),
                ("src/lib.rs.pending-snap", "pending\n"),
            ],
        );

        assert_eq!(stage_diff(&older, &newer).expect("diff"), "");
    }

    #[test]
    fn the_package_name_in_cargo_toml_shows_in_the_diff() {
        let root = tempfile::tempdir().expect("temp dir");
        let older = stage_with(
            root.path(),
            "stage-01",
            &[("Cargo.toml", "name = \"stage-01\"\n")],
        );
        let newer = stage_with(
            root.path(),
            "stage-02",
            &[("Cargo.toml", "name = \"stage-02\"\n")],
        );

        let diff = stage_diff(&older, &newer).expect("diff");

        assert!(diff.starts_with("--- stage-01/Cargo.toml\n+++ stage-02/Cargo.toml\n"));
        assert!(diff.contains("-name = \"stage-01\"\n+name = \"stage-02\"\n"));
    }

    #[test]
    fn one_diff_is_expected_per_pair_of_consecutive_stages_named_after_the_newer() {
        let root = tempfile::tempdir().expect("temp dir");
        let stages = [
            stage_with(root.path(), "stage-01", &[("src/lib.rs", "1\n")]),
            stage_with(root.path(), "stage-02", &[("src/lib.rs", "2\n")]),
            stage_with(root.path(), "stage-03", &[("src/lib.rs", "3\n")]),
        ];

        let names: Vec<String> = expected_diffs(&stages)
            .expect("diffs")
            .iter()
            .map(|(path, _)| display_relative(path, &repo_root()))
            .collect();

        assert_eq!(
            names,
            [
                "book/src/generated/stage-02.diff",
                "book/src/generated/stage-03.diff"
            ]
        );
    }
}
