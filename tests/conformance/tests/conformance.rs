//! Runs every conformance case against every stage and checks the result
//! against the stage's table, then checks the book's copy of the table.

use conformance::{render_table, STAGES};

/// Runs one stage's cases and fails with every disagreement at once.
fn check_stage(name: &str) {
    let stage = STAGES
        .iter()
        .find(|stage| stage.name == name)
        .unwrap_or_else(|| panic!("{name} is not in conformance::STAGES"));
    let problems = stage.disagreements();
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

#[test]
fn stage_02_behaves_as_the_table_says() {
    check_stage("stage-02");
}

#[test]
fn stage_03_behaves_as_the_table_says() {
    check_stage("stage-03");
}

#[test]
fn stage_04_behaves_as_the_table_says() {
    check_stage("stage-04");
}

#[test]
fn stage_05_behaves_as_the_table_says() {
    check_stage("stage-05");
}

#[test]
fn stage_06_behaves_as_the_table_says() {
    check_stage("stage-06");
}

#[test]
fn every_stage_in_the_table_has_a_test_above() {
    let source = include_str!("conformance.rs");
    for stage in STAGES {
        let test_name = format!(
            "fn {}_behaves_as_the_table_says",
            stage.name.replace('-', "_")
        );
        assert!(source.contains(&test_name), "add a test `{test_name}`");
    }
}

#[test]
fn the_book_prints_the_current_table() {
    let path = xtask::repo_root().join("book/src/generated/conformance.md");
    xtask::check_or_update(&path, &render_table());
}
