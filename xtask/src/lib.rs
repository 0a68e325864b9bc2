//! Project tooling for "From Socket to Ship": everything that generates or
//! checks the book's generated pages, used by `cargo xtask …` and by tests.
//!
//! - [`check_or_update`]: the one mechanism for generated files. Tests call it
//!   with what a file *should* contain; it fails on a stale file, or rewrites
//!   it when `INSTA_UPDATE=always` is set. Other crates (the conformance suite)
//!   use it too, which is why this library's dependencies are kept light.
//! - [`stage_diff`]: the "what changed since the last chapter" diffs, and
//!   [`diff_parts`]: which part of a split chapter each hunk belongs to.
//! - [`includes`]: every `{{#include}}` in the book points at a real file and
//!   anchor, and the book never pastes code.
//! - [`transcript`]: the "try it" console sessions, run for real.
//! - [`sizes`]: release binary sizes of each stage.
//! - [`startup`]: cold start time and memory, few workers against many.
//! - [`book`] (feature `book`, on by default): builds the book with mdBook.

use std::path::{Path, PathBuf};

#[cfg(feature = "book")]
pub mod book;
pub mod diff_parts;
pub mod generated;
pub mod includes;
pub mod sizes;
pub mod stage_diff;
pub mod startup;
pub mod transcript;

pub use generated::{check_or_update, compare_or_update};

/// The repository root: the folder that holds `Cargo.toml`, `stages/`, `book/`.
///
/// Found from where this crate lives rather than from the current directory,
/// so it is right whether we run as `cargo xtask` or as a test of any crate.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one folder below the repository root")
        .to_path_buf()
}

/// A stage of the book's program: `stages/stage-NN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// The folder name, which is also the package name: `stage-01`.
    pub name: String,
    /// Where the stage lives on disk.
    pub dir: PathBuf,
}

/// Every stage folder under `stages_dir`, in chapter order.
///
/// We list the folder instead of keeping a list in code, so a new stage is
/// picked up by the diffs and the size table without anyone touching xtask.
pub fn stages_in(stages_dir: &Path) -> std::io::Result<Vec<Stage>> {
    let mut stages = Vec::new();
    for entry in std::fs::read_dir(stages_dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_stage_name = name
            .strip_prefix("stage-")
            .is_some_and(|number| !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()));
        // A folder without a Cargo.toml is a stage someone is still creating.
        if is_stage_name && entry.path().join("Cargo.toml").is_file() {
            stages.push(Stage {
                name,
                dir: entry.path(),
            });
        }
    }
    // Zero-padded numbers sort correctly as text: stage-02 before stage-10.
    stages.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(stages)
}

/// Every stage of this repository, in chapter order.
pub fn stages() -> Vec<Stage> {
    stages_in(&repo_root().join("stages")).expect("the stages/ folder can be listed")
}

/// The product, `final/` (package `backend`), if it exists: the last stage
/// laid out as a real crate.
pub fn product() -> Option<Stage> {
    let dir = repo_root().join("final");
    dir.join("Cargo.toml").is_file().then(|| Stage {
        name: "backend".to_string(),
        dir,
    })
}

/// Every stage, then the product.
pub fn stages_and_product() -> Vec<Stage> {
    let mut all = stages();
    all.extend(product());
    all
}

/// Every file under `dir` (recursively), sorted, so output never depends on
/// the order the file system happens to list things in.
pub fn files_under(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// `path` relative to `base`, with `/` separators, for messages and output.
pub fn display_relative(path: &Path, base: &Path) -> String {
    let relative = path.strip_prefix(base).unwrap_or(path);
    relative
        .components()
        .map(|part| part.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_are_listed_in_chapter_order_and_half_made_ones_are_ignored() {
        let root = tempfile::tempdir().expect("temp dir");
        for name in ["stage-10", "stage-02", "stage-01"] {
            std::fs::create_dir_all(root.path().join(name)).expect("mkdir");
            std::fs::write(root.path().join(name).join("Cargo.toml"), "").expect("write");
        }
        std::fs::create_dir_all(root.path().join("stage-03")).expect("mkdir"); // no Cargo.toml yet
        std::fs::create_dir_all(root.path().join("notes")).expect("mkdir");

        let names: Vec<_> = stages_in(root.path())
            .expect("list")
            .into_iter()
            .map(|stage| stage.name)
            .collect();
        assert_eq!(names, ["stage-01", "stage-02", "stage-10"]);
    }

    #[test]
    fn this_repository_has_at_least_the_first_stage() {
        let names: Vec<_> = stages().into_iter().map(|stage| stage.name).collect();
        assert_eq!(names.first().map(String::as_str), Some("stage-01"));
    }
}
