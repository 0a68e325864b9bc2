//! Every `{{#include}}` in the book points at a file and anchor that exist,
//! and the book never pastes code (a ```rust block of more than a few lines
//! must be an include).
//!
//! Fails with one `file:line: problem` per line, for every problem at once.

use xtask::{includes, repo_root};

#[test]
fn every_include_in_the_book_points_at_a_real_file_and_anchor_and_no_code_is_pasted() {
    let root = repo_root();

    let problems = includes::check_book(&root.join("book/src"), &root)
        .expect("the book's sources can be read");

    let listed: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert!(listed.is_empty(), "\n{}", listed.join("\n"));
}
