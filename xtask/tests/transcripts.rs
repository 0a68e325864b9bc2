//! The "try it" transcripts in the book (`book/src/transcripts/stage-NN.txt`)
//! are what the commands really print against the stage they describe.
//!
//! Each transcript gets its own server: the stage's real binary, started on
//! a free port with its defaults, so transcripts never share state and run
//! side by side, and a new stage needs nothing here but its transcript. Fails with a
//! diff for every stale transcript; `INSTA_UPDATE=always cargo test --workspace`
//! rewrites the outputs (the commands are kept as written).

use std::path::PathBuf;
use std::thread;

use wire::StageProcess;
use xtask::{compare_or_update, files_under, repo_root, stages, transcript};

fn transcripts_dir() -> PathBuf {
    repo_root().join("book/src/transcripts")
}

/// The transcripts in the book, as (stage name, path). Only the folder's
/// own files: its `deploy/` folder holds Part II's, which need a VPS and
/// are written and checked by `tests/deploy/system.sh`.
fn transcripts() -> Vec<(String, PathBuf)> {
    let dir = transcripts_dir();
    files_under(&dir)
        .expect("book/src/transcripts can be listed")
        .into_iter()
        .filter(|path| path.parent() == Some(dir.as_path()))
        .filter(|path| path.extension().is_some_and(|extension| extension == "txt"))
        .map(|path| {
            let stage = path
                .file_stem()
                .expect("a .txt file has a name")
                .to_string_lossy()
                .into_owned();
            (stage, path)
        })
        .collect()
}

#[test]
fn every_transcript_is_what_its_stage_really_prints() {
    let results: Vec<Result<(), String>> = thread::scope(|scope| {
        let runs: Vec<_> = transcripts()
            .into_iter()
            .map(|(stage, path)| {
                scope.spawn(move || {
                    let committed = std::fs::read_to_string(&path)
                        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
                    // The stage's real binary with its defaults: what
                    // `cargo run -p stage-NN` starts for the reader.
                    let server = StageProcess::start(&stage, &[]);
                    let expected = transcript::rerun(&committed, server.addr(), &repo_root())
                        .map_err(|problem| format!("{}: {problem}", path.display()))?;
                    compare_or_update(&path, &expected)
                })
            })
            .collect();
        runs.into_iter()
            .map(|run| run.join().expect("a transcript run does not panic"))
            .collect()
    });

    let problems: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn every_stage_has_a_transcript() {
    let transcripts: Vec<String> = transcripts().into_iter().map(|(stage, _)| stage).collect();
    // Each chapter ends with "try it", so each stage needs one.
    let missing: Vec<String> = stages()
        .into_iter()
        .filter(|stage| !transcripts.contains(&stage.name))
        .map(|stage| format!("{}: no book/src/transcripts/{}.txt", stage.name, stage.name))
        .collect();
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}
