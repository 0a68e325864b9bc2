//! The book's "what changed" diffs (`book/src/generated/stage-NN.diff`) are
//! exactly what the stage sources give today.
//!
//! Fails when a stage's code changed and its diff (or the next stage's) was
//! not regenerated: `INSTA_UPDATE=always cargo test --workspace` fixes that.

use xtask::{compare_or_update, stage_diff, stages};

#[test]
fn every_stage_diff_in_the_book_is_up_to_date() {
    let expected = stage_diff::expected_diffs(&stages()).expect("the stage sources can be read");

    // Check them all before failing, so one run lists every stale diff.
    let problems: Vec<String> = expected
        .iter()
        .filter_map(|(path, diff)| compare_or_update(path, diff).err())
        .collect();

    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
