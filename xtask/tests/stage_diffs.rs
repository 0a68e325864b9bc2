//! The book's "what changed" diffs (`book/src/generated/stage-NN.diff`, or
//! `stage-NN-PART.diff` for a chapter taught in parts) are exactly what the
//! stage sources give today, and a split diff shares out the whole diff.
//!
//! Fails when a stage's code changed and its diff (or the next stage's) was
//! not regenerated: `INSTA_UPDATE=always cargo test --workspace` fixes that.
//! A hunk that no rule of `xtask/src/diff_parts.rs` assigns to a part fails
//! in either mode: which sub-chapter teaches it is a decision for a person.

use xtask::generated::Mode;
use xtask::stage_diff::{self, diffs_dir};
use xtask::{compare_or_update, diff_parts, display_relative, repo_root, stages};

#[test]
fn every_stage_diff_in_the_book_is_up_to_date() {
    let expected =
        stage_diff::expected_diffs(&stages()).unwrap_or_else(|problems| panic!("\n{problems}"));

    // Check them all before failing, so one run lists every stale diff.
    let mut problems: Vec<String> = expected
        .iter()
        .filter_map(|(path, diff)| compare_or_update(path, diff).err())
        .collect();

    // A diff nobody generates any more (a renamed stage, a diff since split
    // into parts) would still be included by the book, and silently rot.
    let paths: Vec<_> = expected.iter().map(|(path, _)| path.clone()).collect();
    let stale = stage_diff::stale_diff_files(&diffs_dir(), &paths).expect("list the diffs");
    for path in stale {
        let shown = display_relative(&path, &repo_root());
        if Mode::from_environment() == Mode::Update {
            std::fs::remove_file(&path).unwrap_or_else(|error| panic!("remove {shown}: {error}"));
        } else {
            problems.push(format!(
                "{shown} is no longer generated; delete it (and any include of it)"
            ));
        }
    }

    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn every_hunk_of_a_split_diff_lands_in_exactly_one_part_and_the_parts_make_the_whole() {
    let stages = stages();
    for split in diff_parts::SPLITS {
        let position = stages
            .iter()
            .position(|stage| stage.name == split.stage)
            .unwrap_or_else(|| {
                panic!(
                    "{} splits {}, which does not exist",
                    diff_parts::RULES_FILE,
                    split.stage
                )
            });
        assert!(
            position > 0,
            "{} has no stage before it to diff against",
            split.stage
        );
        let whole = stage_diff::file_diffs(&stages[position - 1], &stages[position])
            .expect("the stage sources can be read");

        let parts = diff_parts::split_diff(split, &whole)
            .unwrap_or_else(|problems| panic!("\n{}", problems.join("\n")));

        let problems = diff_parts::partition_problems(&whole, &parts);
        assert!(
            problems.is_empty(),
            "{}:\n{}",
            split.stage,
            problems.join("\n")
        );
    }
}
