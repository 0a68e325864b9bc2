//! The "try it" transcripts in the book (`book/src/transcripts/stage-NN.txt`)
//! are what the commands really print against the stage they describe.
//!
//! Each transcript gets its own server, started in this process on a free
//! port, so transcripts never share state and run side by side. Fails with a
//! diff for every stale transcript; `UPDATE_GENERATED=1 cargo test --workspace`
//! rewrites the outputs (the commands are kept as written).

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::thread;

use xtask::{compare_or_update, files_under, repo_root, stages, transcript};

/// How to run a stage's server on a listener we bound.
type Serve = fn(TcpListener) -> io::Result<()>;

/// Every stage a transcript can run against. A new stage is one line here
/// (and one dev-dependency in xtask's Cargo.toml).
const STAGE_SERVERS: &[(&str, Serve)] = &[
    ("stage-01", stage_01::serve),
    ("stage-02", stage_02::serve),
    ("stage-03", stage_03::serve),
    // From stage 04 the server also needs the folder it serves files from.
    ("stage-04", |listener| {
        stage_04::serve(listener, &repo_root().join("stages/stage-04/frontend"))
    }),
    // From stage 05 the server takes a `Config`; its defaults are what
    // `cargo run -p stage-05` uses.
    ("stage-05", |listener| {
        stage_05::serve(listener, stage_05::Config::new())
    }),
    ("stage-06", |listener| {
        stage_06::serve(listener, stage_06::Config::new())
    }),
];

fn transcripts_dir() -> PathBuf {
    repo_root().join("book/src/transcripts")
}

/// The transcripts in the book, as (stage name, path).
fn transcripts() -> Vec<(String, PathBuf)> {
    files_under(&transcripts_dir())
        .expect("book/src/transcripts can be listed")
        .into_iter()
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

/// Binds a free port, serves `serve` on it in the background, returns where.
fn start(serve: Serve) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let address = listener
        .local_addr()
        .expect("a bound listener has an address");
    // The server runs until the test process ends; nothing to clean up.
    thread::spawn(move || serve(listener));
    address
}

#[test]
fn every_transcript_is_what_its_stage_really_prints() {
    let results: Vec<Result<(), String>> = thread::scope(|scope| {
        let runs: Vec<_> = transcripts()
            .into_iter()
            .map(|(stage, path)| {
                scope.spawn(move || {
                    let serve = STAGE_SERVERS
                        .iter()
                        .find(|(name, _)| *name == stage)
                        .map(|(_, serve)| *serve)
                        .ok_or_else(|| {
                            format!(
                                "{}: no stage server named {stage} in STAGE_SERVERS",
                                path.display()
                            )
                        })?;
                    let committed = std::fs::read_to_string(&path)
                        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
                    let expected = transcript::rerun(&committed, start(serve), &repo_root())
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
fn every_stage_has_a_transcript_and_a_server_to_run_it_against() {
    let transcripts: Vec<String> = transcripts().into_iter().map(|(stage, _)| stage).collect();

    // Each chapter ends with "try it", so each stage needs both.
    let problems: Vec<String> = stages()
        .into_iter()
        .flat_map(|stage| {
            let no_transcript = (!transcripts.contains(&stage.name))
                .then(|| format!("{}: no book/src/transcripts/{}.txt", stage.name, stage.name));
            let no_server = (!STAGE_SERVERS.iter().any(|(name, _)| *name == stage.name))
                .then(|| format!("{}: not in STAGE_SERVERS in {}", stage.name, file!()));
            no_transcript.into_iter().chain(no_server)
        })
        .collect();

    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
