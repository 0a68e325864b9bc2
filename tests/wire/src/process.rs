//! A stage's real binary, started as its own process on a free port: what
//! the conformance suite and the book's transcripts talk to.
//!
//! Running the binary rather than calling the library in-process means that
//! every stage is driven the same way, through `ADDR` and the environment
//! variables its `main` reads, and that a new stage (or a learner's copy of
//! one) needs no code here: its folder and its binary are enough.
//!
//! Each process runs in a fresh, empty working folder of its own, deleted
//! when it stops: whatever a stage writes relative to where it runs (from
//! stage 08, its database, `data/backend.sqlite3` by default) starts empty
//! for every test and never lands in the repository.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// A stage's server process. Killed (and reaped) when dropped.
pub struct StageProcess {
    child: Child,
    addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
    /// What it printed on stdout after the `listening on` line.
    stdout: Arc<Mutex<String>>,
    /// The process's working folder. Dropped (deleted) after the process
    /// is killed: the fields of a struct drop after its `Drop::drop`.
    working_dir: tempfile::TempDir,
}

impl StageProcess {
    /// Builds the workspace's binaries if that has not happened yet in this
    /// test process, starts `target/debug/<package>` with `ADDR=127.0.0.1:0`
    /// and `variables` in a fresh working folder, and waits for its
    /// `listening on http://ADDR` line.
    pub fn start(package: &str, variables: &[(&str, &str)]) -> StageProcess {
        let working_dir = tempfile::tempdir().expect("create a working folder");
        StageProcess::start_in(package, variables, working_dir)
    }

    /// [`StageProcess::start`] in this working folder, which the process
    /// owns from now on: a test that restarts a server on the same files
    /// takes it back with [`StageProcess::kill`].
    pub fn start_in(
        package: &str,
        variables: &[(&str, &str)],
        working_dir: tempfile::TempDir,
    ) -> StageProcess {
        let binary = binary_path(package);
        let mut child = Command::new(&binary)
            .current_dir(working_dir.path())
            .env("ADDR", "127.0.0.1:0")
            .envs(variables.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("start {}: {error}", binary.display()));
        let stderr = keep_stderr(&mut child);
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut stdout = BufReader::new(stdout);
        let mut first_line = String::new();
        let _ = stdout.read_line(&mut first_line);
        let addr = first_line
            .trim()
            .strip_prefix("listening on http://")
            .and_then(|addr| addr.parse().ok());
        let Some(addr) = addr else {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = stderr.lock().map(|text| text.clone()).unwrap_or_default();
            panic!("{package} did not say where it listens; it printed {first_line:?}, stderr: {stderr}");
        };
        // Keep reading stdout (from stage 10, the access log): a pipe nobody
        // reads fills up and blocks the server's next write.
        let stdout = keep_reading(stdout);
        StageProcess {
            child,
            addr,
            stderr,
            stdout,
            working_dir,
        }
    }

    /// The process id, to look the process up in `/proc`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The folder the process runs in.
    pub fn working_dir(&self) -> &Path {
        self.working_dir.path()
    }

    /// Kills the process at once with SIGKILL, as a crash or the OOM killer
    /// would (no signal handler runs, nothing is flushed), waits for it, and
    /// hands back its working folder with whatever it wrote.
    pub fn kill(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let placeholder = tempfile::tempdir().expect("create a placeholder folder");
        std::mem::replace(&mut self.working_dir, placeholder)
    }

    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What the server has written to stderr so far (its first 64 KiB).
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits up to 5 s until the server's stderr has a whole line that
    /// contains `needle`, and returns all of it: stderr is read on a thread
    /// of its own, and an unbuffered `eprintln!` may arrive in pieces, so
    /// what the server wrote a moment ago may not all be here yet.
    pub fn stderr_once_it_says(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let stderr = self.stderr();
            let whole_line = stderr
                .find(needle)
                .is_some_and(|at| stderr[at..].contains('\n'));
            if whole_line || Instant::now() > deadline {
                return stderr;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// What the server has written to stdout after its `listening on` line
    /// (its first 64 KiB).
    pub fn stdout(&self) -> String {
        self.stdout
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Sends a signal (`"TERM"`, `"INT"`) with `kill(1)`.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits up to `patience` for the process to exit, and says how it did.
    pub fn wait_for_exit(&mut self, patience: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + patience;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for StageProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads the child's stderr on a thread (a full pipe would block the server)
/// and keeps its first 64 KiB, for the message when it fails to start.
fn keep_stderr(child: &mut Child) -> Arc<Mutex<String>> {
    match child.stderr.take() {
        Some(stderr) => keep_reading(stderr),
        None => Arc::default(),
    }
}

/// Reads `pipe` to its end on a thread, keeping the first 64 KiB.
fn keep_reading(mut pipe: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let kept = Arc::new(Mutex::new(String::new()));
    let keeper = Arc::clone(&kept);
    thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(read @ 1..) = pipe.read(&mut chunk) {
            if let Ok(mut text) = keeper.lock() {
                if text.len() < 64 * 1024 {
                    text.push_str(&String::from_utf8_lossy(&chunk[..read]));
                }
            }
        }
    });
    kept
}

/// `target/debug/<package>`, built first (once per package and test
/// process) so that a test never talks to a stale binary. Under `cargo test
/// --workspace` it is built already and `cargo build` returns at once.
pub fn binary_path(package: &str) -> PathBuf {
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(PoisonError::into_inner);
    let debug_dir = target_debug_dir();
    if !built.iter().any(|name| name == package) {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        // Build the workspace this test runs in (cargo tells a running test
        // its package's folder), into the target folder we run binaries
        // from: a copy of the tree (cargo-mutants makes one) must test its
        // own sources, never a binary built from another copy.
        let package_dir = std::env::var_os("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
        let target_dir = debug_dir
            .parent()
            .expect("target/debug has a parent folder");
        let status = Command::new(cargo)
            .args(["build", "--quiet", "--package", package, "--bin", package])
            .arg("--target-dir")
            .arg(target_dir)
            .current_dir(package_dir)
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build --package {package} failed");
        built.push(package.to_string());
    }
    debug_dir.join(package)
}

/// The `target/debug` folder this test binary was built into: tests run
/// from `target/debug/deps/`.
fn target_debug_dir() -> PathBuf {
    let test_binary = std::env::current_exe().expect("the test knows its own path");
    test_binary
        .parent()
        .and_then(Path::parent)
        .expect("test binaries live in target/debug/deps")
        .to_path_buf()
}
