//! Runs the conformance suite: every case against every stage that speaks
//! HTTP and the product (`final/`), every carried-forward exchange against every later stage, and the
//! checks that the book prints the current tables.
//!
//! The tests are made at run time from what is on disk (libtest-mimic), one
//! per stage and case, so a new stage or case needs no new code here, and
//! `cargo test -p conformance -- stage-05` runs everything about stage 05.

use conformance::exchanges::{self, EXCHANGES};
use conformance::{render_changes, render_table, servers, Stage, CASES};
use libtest_mimic::{Arguments, Failed, Trial};

fn main() {
    let arguments = Arguments::from_args();
    let stages = servers();
    let mut trials = Vec::new();
    for stage in &stages {
        for case in CASES {
            let stage = stage.clone();
            trials.push(Trial::test(
                format!("{}::case::{}", stage.name, case.id),
                move || stage.check(case).map_err(Failed::from),
            ));
        }
        for exchange in EXCHANGES {
            if exchange.reference_for(&stage.name).is_none() {
                continue;
            }
            let (stage, all) = (stage.clone(), stages.clone());
            trials.push(Trial::test(
                format!("{}::exchange::{}", stage.name, exchange.id),
                move || exchanges::check(exchange, &stage, &all).map_err(Failed::from),
            ));
        }
    }
    trials.push(book_tables_trial(stages));
    libtest_mimic::run(&arguments, trials).exit();
}

/// The book's appendix prints the whole table, and each chapter the rows its
/// stage changes (`book/src/generated/conformance*.md`).
fn book_tables_trial(stages: Vec<Stage>) -> Trial {
    Trial::test("the_book_prints_the_current_tables", move || {
        let generated = xtask::repo_root().join("book/src/generated");
        let mut problems = Vec::new();
        let mut check = |name: String, content: String| {
            if let Err(problem) = xtask::compare_or_update(&generated.join(name), &content) {
                problems.push(problem);
            }
        };
        check("conformance.md".to_string(), render_table(&stages));
        for (index, stage) in stages.iter().enumerate() {
            check(
                format!("conformance-{}.md", stage.name),
                render_changes(&stages, index),
            );
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n").into())
        }
    })
}
