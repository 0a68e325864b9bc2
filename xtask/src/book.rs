//! Building the book with mdBook, used as a library, and checking the result.
//!
//! Using the `mdbook-driver` crate (mdBook's library since 0.5; the `mdbook`
//! crate itself is only the command-line program) means nobody has to
//! `cargo install mdbook`, and the version is pinned by `Cargo.lock` like any
//! other dependency.
//!
//! mdBook only *logs* some mistakes and carries on: an `{{#include}}` of a
//! file that does not exist is left in the page as literal text. So after a
//! build we look for such leftovers in the HTML ([`unexpanded_directives`]).

use std::fs;
use std::path::{Path, PathBuf};

use mdbook_driver::config::Config;
use mdbook_driver::MDBook;

use crate::{display_relative, files_under, repo_root};

/// Directives that mdBook replaces when they work, and leaves when they fail.
const DIRECTIVE_OPENINGS: [&str; 2] = ["{{#include", "{{#rustdoc_include"];

/// The book's folder: `book.toml` and `src/`.
pub fn book_dir() -> PathBuf {
    repo_root().join("book")
}

/// Reads `book_dir/book.toml` alone, without loading any chapter.
pub fn load_config(book_dir: &Path) -> Result<Config, String> {
    let path = book_dir.join("book.toml");
    Config::from_disk(&path).map_err(|error| format!("cannot read {}: {error:#}", path.display()))
}

/// Loads the book at `book_dir` (reading its `book.toml`).
pub fn load(book_dir: &Path) -> Result<MDBook, String> {
    MDBook::load(book_dir)
        .map_err(|error| format!("cannot load the book in {}: {error:#}", book_dir.display()))
}

/// Builds the book at `book_dir` into `output_dir` (or into the `build-dir`
/// of its `book.toml` when `None`) and returns the folder with `index.html`.
pub fn build(book_dir: &Path, output_dir: Option<&Path>) -> Result<PathBuf, String> {
    let mut book = load(book_dir)?;
    if let Some(output_dir) = output_dir {
        // An absolute path replaces the root-relative one from book.toml.
        book.config.build.build_dir = output_dir.to_path_buf();
    }
    book.build()
        .map_err(|error| format!("the book does not build: {error:#}"))?;
    Ok(book.build_dir_for("html"))
}

/// Every place in the built HTML where an include was left unexpanded, as
/// `page.html:line: text`.
pub fn unexpanded_directives(html_dir: &Path) -> std::io::Result<Vec<String>> {
    let mut leftovers = Vec::new();
    for page in files_under(html_dir)? {
        if page.extension().is_none_or(|extension| extension != "html") {
            continue;
        }
        let html = fs::read_to_string(&page)?;
        for (index, line) in html.lines().enumerate() {
            if DIRECTIVE_OPENINGS
                .iter()
                .any(|opening| line.contains(opening))
            {
                leftovers.push(format!(
                    "{}:{}: {}",
                    display_relative(&page, html_dir),
                    index + 1,
                    line.trim()
                ));
            }
        }
    }
    Ok(leftovers)
}
