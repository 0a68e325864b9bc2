//! The book builds with mdBook, with every include expanded, and a chapter
//! that is listed but missing is an error rather than an empty page.

#[cfg(not(feature = "book"))]
compile_error!("the book tests need xtask's `book` feature (on by default)");

use std::fs;
use std::path::Path;

use xtask::book;

#[test]
fn the_book_builds_with_every_include_expanded() {
    let output = tempfile::tempdir().expect("temp dir");

    let html_dir = book::build(&book::book_dir(), Some(output.path()))
        .unwrap_or_else(|problem| panic!("{problem}"));

    assert!(
        html_dir.join("index.html").is_file(),
        "no index.html in {}",
        html_dir.display()
    );
    let leftovers = book::unexpanded_directives(&html_dir).expect("the built book can be read");
    assert!(
        leftovers.is_empty(),
        "mdBook left these includes unexpanded (it only warns):\n{}",
        leftovers.join("\n")
    );
}

#[test]
fn book_toml_builds_into_book_build_and_never_creates_missing_chapters() {
    let config = book::load_config(&book::book_dir()).unwrap_or_else(|problem| panic!("{problem}"));

    assert!(
        !config.build.create_missing,
        "book.toml must say `create-missing = false`"
    );
    assert_eq!(config.build.build_dir, Path::new("build"));
}

/// A copy of the real `book.toml` with a throwaway `src/`.
fn throwaway_book(summary: &str, chapters: &[(&str, &str)]) -> tempfile::TempDir {
    let folder = tempfile::tempdir().expect("temp dir");
    fs::copy(
        book::book_dir().join("book.toml"),
        folder.path().join("book.toml"),
    )
    .expect("copy book.toml");
    fs::create_dir_all(folder.path().join("src")).expect("mkdir");
    fs::write(folder.path().join("src/SUMMARY.md"), summary).expect("write SUMMARY.md");
    for (name, content) in chapters {
        fs::write(folder.path().join("src").join(name), content).expect("write chapter");
    }
    folder
}

#[test]
fn a_chapter_listed_in_the_summary_but_missing_fails_the_build() {
    let summary = "# Summary\n\n[Introduction](introduction.md)\n- [Sockets](sockets.md)\n";
    let book_dir = throwaway_book(summary, &[("introduction.md", "# Introduction\n")]);
    let output = tempfile::tempdir().expect("temp dir");

    let result = book::build(book_dir.path(), Some(output.path()));

    let problem = result.expect_err("a missing chapter must fail the build");
    assert!(problem.contains("sockets.md"), "{problem}");
    assert!(
        !book_dir.path().join("src/sockets.md").exists(),
        "mdBook created the missing chapter"
    );
}

#[test]
fn an_include_of_a_missing_file_is_left_in_the_html_and_found() {
    let summary = "# Summary\n\n[Introduction](introduction.md)\n";
    let chapter = "# Introduction\n\n```rust\n{{#include ../no/such/file.rs:serve}}\n```\n";
    let book_dir = throwaway_book(summary, &[("introduction.md", chapter)]);
    let output = tempfile::tempdir().expect("temp dir");

    let html_dir = book::build(book_dir.path(), Some(output.path()))
        .expect("mdBook only warns about a broken include");

    let leftovers = book::unexpanded_directives(&html_dir).expect("the built book can be read");
    assert!(
        leftovers
            .iter()
            .any(|leftover| leftover.starts_with("introduction.html:")),
        "{leftovers:?}"
    );
}
