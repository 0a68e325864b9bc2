//! The book builds with mdBook, with every include expanded, and a chapter
//! that is listed but missing is an error rather than an empty page.

#[cfg(not(feature = "book"))]
compile_error!("the book tests need xtask's `book` feature (on by default)");

use std::fs;
use std::path::Path;

use xtask::{book, display_relative, files_under};

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

#[test]
fn the_wide_table_stylesheet_is_wired_in_and_exists() {
    let config = book::load_config(&book::book_dir()).unwrap_or_else(|problem| panic!("{problem}"));
    let html = config
        .html_config()
        .expect("book.toml has an [output.html] table");

    // mdBook copies each `additional-css` file into the book; the wide
    // conformance table depends on this one to scroll instead of being cut.
    assert!(
        html.additional_css
            .iter()
            .any(|path| path == Path::new("theme/wide-tables.css")),
        "book.toml must list theme/wide-tables.css in additional-css: {:?}",
        html.additional_css
    );
    for path in &html.additional_css {
        assert!(
            book::book_dir().join(path).is_file(),
            "book.toml lists {}, which does not exist",
            path.display()
        );
    }
}

/// A copy of the real `book.toml` and `theme/` with a throwaway `src/`.
fn throwaway_book(summary: &str, chapters: &[(&str, &str)]) -> tempfile::TempDir {
    let folder = tempfile::tempdir().expect("temp dir");
    fs::copy(
        book::book_dir().join("book.toml"),
        folder.path().join("book.toml"),
    )
    .expect("copy book.toml");
    // book.toml names stylesheets in theme/; mdBook refuses to build without them.
    let theme = book::book_dir().join("theme");
    for file in files_under(&theme).expect("list book/theme") {
        let copy = folder
            .path()
            .join("theme")
            .join(display_relative(&file, &theme));
        fs::create_dir_all(copy.parent().expect("in theme/")).expect("mkdir");
        fs::copy(&file, &copy).expect("copy a theme file");
    }
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
