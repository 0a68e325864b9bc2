//! Stage diffs in parts, for a chapter taught in sub-chapters: each
//! sub-chapter ends with the share of the stage diff it taught, and the
//! shares together are the whole diff, every hunk in exactly one of them.
//!
//! The rule is the table [`SPLITS`] below, and nothing else. Each split
//! names its parts, in reading order, each with its vocabulary, and says for
//! every file of the diff where its hunks go:
//!
//! - `Whole(part)`: every hunk of the file goes to that part (`shutdown.rs`
//!   is all about shutdown);
//! - `ByWords(part)`: each hunk goes to the part whose words appear on the
//!   most of the hunk's changed lines (`+` or `-`; context lines do not
//!   count, a line counts once per part, words are compared exactly, case and
//!   all); a hunk with none of the words, or a tie, goes to `part`.
//!
//! Why words and files, rather than function names or line numbers: a hunk
//! of a Rust file often spans several items, and code moves between files
//! and gets renamed, but what a sub-chapter teaches shows in its vocabulary
//! (`chunked`, `Shutdown`, `timeout`), wherever the code goes. A hunk that
//! mixes parts goes where most of its changed lines belong.
//!
//! Mistakes are loud, never a silent drop: a changed file the table does not
//! list, a part left empty, or a row naming a part that does not exist each
//! fail the tests (`tests/stage_diffs.rs`) with a message that names this
//! file. (A row for a file the diff does not change is harmless, and lets
//! the table be ready for a file before it lands.)
//!
//! The parts are written to `book/src/generated/stage-NN-PART.diff`,
//! instead of `stage-NN.diff`.

use crate::stage_diff::FileDiff;

/// Where the rules live, for messages.
pub const RULES_FILE: &str = "xtask/src/diff_parts.rs";

/// Every stage whose diff the book shows in parts.
pub const SPLITS: &[Split] = &[STAGE_06, STAGE_11];

/// Chapter 6 in three sub-chapters: timeouts and caps; chunked bodies and
/// request smuggling; graceful shutdown.
#[rustfmt::skip]
const STAGE_06: Split = Split {
    stage: "stage-06",
    parts: &[
        ("limits", &[
            "timeout", "Timeout", "TimedOut", "deadline", "idle", "408",
            "max_connections", "max_requests", "MAX_CONNECTIONS", "Connections",
            "connections", "refuse_busy", "503",
        ]),
        ("chunked", &[
            "chunk", "Chunked", "Transfer-Encoding", "transfer-encoding", "smuggl",
            "trailer", "501",
        ]),
        ("shutdown", &[
            "shutdown", "Shutdown", "drain", "signal", "SIGTERM", "SIGINT", "finish_within",
        ]),
    ],
    files: &[
        ("Cargo.toml",         ByWords("limits")),  // the name; signal-hook
        ("src/config.rs",      ByWords("limits")),  // the limits, and the drain deadline
        ("src/connections.rs", Whole("limits")),
        ("src/lib.rs",         ByWords("limits")),
        ("src/main.rs",        ByWords("limits")),
        ("src/pool.rs",        Whole("shutdown")),  // finish_within: the drain
        ("src/request.rs",     ByWords("limits")),
        ("src/response.rs",    ByWords("limits")),
        ("src/routes.rs",      Whole("limits")),    // the stage number
        ("src/shutdown.rs",    Whole("shutdown")),
        ("src/status.rs",      ByWords("limits")),  // 408 and 503; 501
    ],
};

/// Chapter 11 in three sub-chapters: a parser that does not read; the loop;
/// never block the loop. Here the files themselves are the cut, so every
/// file goes whole and the parts need no words: the parser is `request.rs`
/// and `response.rs`; the loop is the new `event_loop.rs` and `timers.rs`
/// with what starts it and sizes it; and what the loop must not wait for
/// is the pool, the routes that choose it, the access log's own thread and
/// the wakers of shutdown. (`event_loop.rs` is new, so its diff is a
/// single hunk, which could not be shared out anyway.)
#[rustfmt::skip]
const STAGE_11: Split = Split {
    stage: "stage-11",
    parts: &[("parser", &[]), ("loop", &[]), ("blocking", &[])],
    files: &[
        ("Cargo.toml",         Whole("loop")),      // the name; mio
        ("src/access_log.rs",  Whole("blocking")),  // its own thread: stdout can wait
        ("src/config.rs",      Whole("loop")),      // EVENT_LOOPS, MAX_CONNECTIONS 10 000
        ("src/connections.rs", Whole("loop")),      // a count shared by the loops
        ("src/event_loop.rs",  Whole("loop")),
        ("src/lib.rs",         Whole("loop")),      // serve: a loop per core, one socket
        ("src/main.rs",        Whole("loop")),      // the open-files limit
        ("src/metrics.rs",     Whole("blocking")),  // pool_queued_jobs
        ("src/pool.rs",        Whole("blocking")),  // jobs, not connections
        ("src/request.rs",     Whole("parser")),
        ("src/response.rs",    Whole("parser")),    // encode, not write
        ("src/routes.rs",      Whole("blocking")),  // blocks: what goes to the pool
        ("src/shutdown.rs",    Whole("blocking")),  // wakers instead of a connection
        ("src/timers.rs",      Whole("loop")),
    ],
};

/// How one stage's diff is split.
#[derive(Debug, Clone, Copy)]
pub struct Split {
    /// The stage whose diff (from the stage before it) is split: `stage-06`.
    pub stage: &'static str,
    /// The parts in reading order, each with its words; each part becomes
    /// `stage-NN-PART.diff`.
    pub parts: &'static [(&'static str, &'static [&'static str])],
    /// Every file the diff changes, and where its hunks go.
    pub files: &'static [(&'static str, Assign)],
}

/// Where the hunks of one file go: see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assign {
    /// Every hunk to this part.
    Whole(&'static str),
    /// Each hunk to the part with the most words on its changed lines, or to
    /// this part when there are none or a tie.
    ByWords(&'static str),
}

use Assign::{ByWords, Whole};

impl Split {
    fn part_names(&self) -> Vec<&'static str> {
        self.parts.iter().map(|(name, _)| *name).collect()
    }
}

/// The split for the diff that leads up to `stage`, if it has one.
pub fn split_for(stage: &str) -> Option<&'static Split> {
    SPLITS.iter().find(|split| split.stage == stage)
}

/// One part of a split diff: its name and its share of every file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// `limits`, …
    pub name: &'static str,
    /// The files with at least one hunk in this part, with only those hunks.
    pub files: Vec<FileDiff>,
}

impl Part {
    /// The part as a diff file.
    pub fn text(&self) -> String {
        self.files.iter().map(FileDiff::text).collect()
    }
}

/// Splits `files` (the whole diff) into the parts of `split`, in reading
/// order, or says everything that keeps it from being split cleanly.
pub fn split_diff(split: &Split, files: &[FileDiff]) -> Result<Vec<Part>, Vec<String>> {
    let names = split.part_names();
    let mut problems = Vec::new();
    for (file, assign) in split.files {
        let (Whole(part) | ByWords(part)) = assign;
        if !names.contains(part) {
            problems.push(format!(
                "{}: {file} goes to `{part}`, which is not one of the parts {names:?}; \
                 fix it in {RULES_FILE}",
                split.stage
            ));
        }
    }
    let mut parts: Vec<Part> = names
        .iter()
        .map(|&name| Part {
            name,
            files: Vec::new(),
        })
        .collect();
    for file in files {
        let Some((_, assign)) = split.files.iter().find(|(name, _)| *name == file.file) else {
            problems.push(format!(
                "{}: {} changed, and {RULES_FILE} does not say which part ({}) its hunks \
                 go to; add it to the table there",
                split.stage,
                file.file,
                names.join(", ")
            ));
            continue;
        };
        // A file that is not text has no hunks: it moves as one piece.
        let pieces: Vec<Option<&String>> = if file.hunks.is_empty() {
            vec![None]
        } else {
            file.hunks.iter().map(Some).collect()
        };
        for hunk in pieces {
            let part_name = match (assign, hunk) {
                (Whole(part), _) | (ByWords(part), None) => *part,
                (ByWords(otherwise), Some(hunk)) => part_by_words(split, hunk).unwrap_or(otherwise),
            };
            let Some(part) = parts.iter_mut().find(|part| part.name == part_name) else {
                continue; // already reported: a row naming an unknown part
            };
            let share = match part.files.last_mut() {
                Some(share) if share.file == file.file => share,
                _ => {
                    part.files.push(FileDiff {
                        file: file.file.clone(),
                        header: file.header.clone(),
                        hunks: Vec::new(),
                    });
                    part.files.last_mut().expect("just pushed")
                }
            };
            share.hunks.extend(hunk.cloned());
        }
    }
    for part in &parts {
        if part.files.is_empty() {
            problems.push(format!(
                "{}: the part `{}` gets no hunk at all; check the table in {RULES_FILE}",
                split.stage, part.name
            ));
        }
    }
    if problems.is_empty() {
        Ok(parts)
    } else {
        Err(problems)
    }
}

/// The part whose words are on the most changed lines of `hunk`, if one
/// has strictly more than every other.
fn part_by_words(split: &Split, hunk: &str) -> Option<&'static str> {
    let counts: Vec<(&'static str, usize)> = split
        .parts
        .iter()
        .map(|(name, words)| {
            let lines = changed_lines(hunk)
                .filter(|line| words.iter().any(|word| line.contains(word)))
                .count();
            (*name, lines)
        })
        .collect();
    let most = counts.iter().map(|(_, lines)| *lines).max().unwrap_or(0);
    let mut leaders = counts.iter().filter(|(_, lines)| *lines == most);
    match (most, leaders.next(), leaders.next()) {
        (1.., Some((name, _)), None) => Some(name),
        _ => None,
    }
}

/// The lines a hunk adds or removes, without their `+` or `-`.
fn changed_lines(hunk: &str) -> impl Iterator<Item = &str> {
    hunk.lines()
        .filter(|line| !line.starts_with("@@"))
        .filter_map(|line| line.strip_prefix('+').or_else(|| line.strip_prefix('-')))
}

/// Checks that `parts` share out `whole` exactly: every hunk of every file in
/// exactly one part, nothing else in any part, and each part's hunks in the
/// order of the whole. Returns what is wrong, if anything.
pub fn partition_problems(whole: &[FileDiff], parts: &[Part]) -> Vec<String> {
    let mut problems = Vec::new();
    for file in whole {
        let shares: Vec<(&str, &FileDiff)> = parts
            .iter()
            .flat_map(|part| {
                part.files
                    .iter()
                    .filter(|share| share.file == file.file)
                    .map(move |share| (part.name, share))
            })
            .collect();
        for (part, share) in &shares {
            if share.header != file.header {
                problems.push(format!("{}: a different header in `{part}`", file.file));
            }
            let positions: Vec<Option<usize>> = share
                .hunks
                .iter()
                .map(|hunk| file.hunks.iter().position(|whole| whole == hunk))
                .collect();
            if positions.iter().any(Option::is_none) {
                problems.push(format!(
                    "{}: `{part}` has a hunk the whole diff does not have",
                    file.file
                ));
            }
            if !positions.is_sorted() {
                problems.push(format!(
                    "{}: `{part}` has its hunks out of order",
                    file.file
                ));
            }
        }
        if file.hunks.is_empty() && shares.len() != 1 {
            problems.push(format!(
                "{}: in {} parts, not exactly one",
                file.file,
                shares.len()
            ));
        }
        for hunk in &file.hunks {
            let holders: Vec<&str> = shares
                .iter()
                .filter(|(_, share)| share.hunks.contains(hunk))
                .map(|(part, _)| *part)
                .collect();
            if holders.len() != 1 {
                let header = hunk.lines().next().unwrap_or("");
                problems.push(format!(
                    "{}: the hunk `{header}` is in {} parts {holders:?}, not exactly one",
                    file.file,
                    holders.len()
                ));
            }
        }
    }
    for part in parts {
        for share in &part.files {
            if !whole.iter().any(|file| file.file == share.file) {
                problems.push(format!(
                    "`{}` has {}, which the whole diff does not change",
                    part.name, share.file
                ));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two parts; `a.rs` all goes to `one`, `b.rs` by words.
    const SPLIT: Split = Split {
        stage: "stage-09",
        parts: &[("one", &["alpha"]), ("two", &["beta", "gamma"])],
        files: &[
            ("a.rs", Whole("one")),
            ("b.rs", ByWords("one")),
            ("logo.png", Whole("two")),
        ],
    };

    fn file(name: &str, hunks: &[&str]) -> FileDiff {
        FileDiff {
            file: name.to_string(),
            header: format!("--- old/{name}\n+++ new/{name}\n"),
            hunks: hunks.iter().map(ToString::to_string).collect(),
        }
    }

    fn shares(parts: &[Part]) -> Vec<(&str, &str, usize)> {
        parts
            .iter()
            .flat_map(|part| {
                part.files
                    .iter()
                    .map(move |share| (part.name, share.file.as_str(), share.hunks.len()))
            })
            .collect()
    }

    #[test]
    fn a_hunk_goes_to_the_part_with_the_most_words_on_its_changed_lines() {
        let whole = [
            file("a.rs", &["@@ -1 +1 @@\n-beta\n+beta gamma\n"]),
            file(
                "b.rs",
                &[
                    // beta on two changed lines, alpha on one: two.
                    "@@ -1,3 +1,3 @@\n-alpha\n+beta\n+gamma beta\n",
                    // Words in context lines do not count: no word, so one.
                    "@@ -9,2 +9,2 @@\n beta\n-x\n+y\n",
                    // A tie goes to the file's part too.
                    "@@ -20 +20 @@\n-alpha\n+beta\n",
                ],
            ),
        ];

        let parts = split_diff(&SPLIT, &whole).expect("split");

        assert_eq!(
            shares(&parts),
            [("one", "a.rs", 1), ("one", "b.rs", 2), ("two", "b.rs", 1)]
        );
        assert!(parts[1].text().contains("+gamma beta\n"));
        assert_eq!(partition_problems(&whole, &parts), Vec::<String>::new());
    }

    #[test]
    fn a_part_is_a_diff_with_its_files_headers_and_only_its_hunks() {
        let whole = [
            file("a.rs", &["@@ -1 +1 @@\n-a\n+alpha\n"]),
            file("b.rs", &["@@ -1 +1 @@\n-b\n+beta\n"]),
            FileDiff {
                file: "logo.png".into(),
                header: "Binary files old/logo.png and new/logo.png differ\n".into(),
                hunks: Vec::new(),
            },
        ];

        let parts = split_diff(&SPLIT, &whole).expect("split");

        assert_eq!(
            parts[0].text(),
            "--- old/a.rs\n+++ new/a.rs\n@@ -1 +1 @@\n-a\n+alpha\n"
        );
        assert_eq!(
            parts[1].text(),
            "--- old/b.rs\n+++ new/b.rs\n@@ -1 +1 @@\n-b\n+beta\n\
             Binary files old/logo.png and new/logo.png differ\n"
        );
    }

    #[test]
    fn a_changed_file_the_table_does_not_list_fails_and_says_where_to_add_it() {
        let whole = [
            file("a.rs", &["@@ -1 +1 @@\n-a\n+alpha\n"]),
            file("b.rs", &["@@ -1 +1 @@\n-b\n+beta\n"]),
            file("new.rs", &["@@ -0,0 +1 @@\n+fresh\n"]),
        ];

        let problems = split_diff(&SPLIT, &whole).expect_err("new.rs has no row");

        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("new.rs"), "{problems:?}");
        assert!(problems[0].contains(RULES_FILE), "{problems:?}");
    }

    #[test]
    fn a_part_left_empty_or_a_row_naming_no_part_fails() {
        const TYPO: Split = Split {
            stage: "stage-09",
            parts: &[("one", &[]), ("two", &[])],
            files: &[("a.rs", Whole("one")), ("b.rs", Whole("three"))],
        };
        let whole = [file("a.rs", &["@@ -1 +1 @@\n-a\n+b\n"])];

        let problems = split_diff(&TYPO, &whole).expect_err("`three` is no part");

        assert!(
            problems.iter().any(|p| p.contains("`three`")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("`two` gets no hunk")),
            "{problems:?}"
        );
    }

    #[test]
    fn parts_that_drop_or_repeat_a_hunk_do_not_make_the_whole() {
        let whole = [file(
            "b.rs",
            &["@@ -1 +1 @@\n-1\n+beta\n", "@@ -9 +9 @@\n-9\n+x\n"],
        )];
        let good = split_diff(&SPLIT, &whole).expect("split");
        assert_eq!(partition_problems(&whole, &good), Vec::<String>::new());

        let mut dropped = good.clone();
        dropped[0].files.clear();
        let mut repeated = good.clone();
        repeated[0].files[0].hunks.extend(whole[0].hunks.clone());

        let dropped = partition_problems(&whole, &dropped);
        let repeated = partition_problems(&whole, &repeated);

        assert!(
            dropped.iter().any(|p| p.contains("in 0 parts")),
            "{dropped:?}"
        );
        assert!(
            repeated.iter().any(|p| p.contains("in 2 parts")),
            "{repeated:?}"
        );
    }

    #[test]
    fn the_real_table_names_only_its_own_parts() {
        for split in SPLITS {
            let names = split.part_names();
            for (file, assign) in split.files {
                let (Whole(part) | ByWords(part)) = assign;
                assert!(names.contains(part), "{}: {file} → {part}", split.stage);
            }
        }
    }
}
