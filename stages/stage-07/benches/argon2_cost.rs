//! What one password hash costs on this machine: the time of one argon2id
//! hash with our parameters (`m` = 7 MiB, `t` = 5, `p` = 1, from
//! [`stage_07::passwords`]) and with the `argon2` crate's defaults
//! (`m` = 19 MiB, `t` = 2, `p` = 1), and of one verification with ours,
//! which is what a login costs from stage 09 on.
//!
//! Run it with `cargo bench -p stage-07 --bench argon2_cost`; add
//! `-- --markdown` for a Markdown table (what `bench/login-storm.sh` puts in
//! the book) and `-- --runs N` to time N of each instead of 30.
//!
//! A plain `main` (`harness = false` in `Cargo.toml`) timed with
//! [`Instant`]: a hash takes milliseconds, so the clock's resolution and the
//! loop around it do not matter, and no benchmark crate is needed. Each hash
//! runs on this thread alone, as one sign-up does on a worker; the memory
//! column is argon2's `m`, what each hash in flight allocates and writes,
//! and what `bench/login-storm.sh` checks against the server's RSS.
//!
//! Like stage 07's `main`, we first tell glibc to give large blocks back to
//! the OS on free, so each hash gets fresh pages from the kernel, as in the
//! server. The last row shows what that costs: our hash once more, in a
//! child process left at glibc's default, which keeps freed blocks and
//! hands the same warm pages to the next hash.

use std::env;
use std::hint::black_box;
use std::process::{self, Command};
use std::time::{Duration, Instant};

use argon2::{Argon2, PasswordHasher};
use stage_07::passwords::{Passwords, ITERATIONS, LANES, MEMORY_KIB};

/// Timed runs of each measurement unless `--runs` says otherwise.
const DEFAULT_RUNS: usize = 30;
/// Untimed runs first: page faults on fresh memory, cold caches and a CPU
/// still at low frequency would otherwise land in the first samples.
const WARM_UP_RUNS: usize = 3;
/// The password hashed: as long as a typical passphrase. Argon2's time does
/// not depend on it (it is hashed once, up front, into the first blocks).
const PASSWORD: &str = "correct horse battery staple";

/// How to print the results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// Aligned columns, for a terminal.
    Text,
    /// A Markdown table, for the book.
    Markdown,
}

/// What the command line asked for.
struct Options {
    runs: usize,
    format: Format,
    /// Set only in the child process we start ourselves (see [`CHILD_FLAG`]).
    child: bool,
}

/// The child process: time our hash with glibc's default allocator and
/// print the sorted samples, in nanoseconds, one per line.
const CHILD_FLAG: &str = "--child-with-default-malloc";

/// One measured row: what was timed, its parameters, and the samples.
struct Row {
    what: &'static str,
    memory_kib: u32,
    iterations: u32,
    lanes: u32,
    samples: Vec<Duration>,
}

fn main() {
    let options = parse_options(env::args().skip(1)).unwrap_or_else(|error| {
        eprintln!("argon2_cost: {error}");
        eprintln!("usage: cargo bench -p stage-07 --bench argon2_cost -- [--markdown] [--runs N]");
        process::exit(2);
    });

    // Ours, through the same type the server uses. (1, 0): one hash at a
    // time and nobody waiting, which is all a single thread needs.
    let ours = Passwords::new(1, 0);
    let hash_ours = || ours.hash(PASSWORD).expect("the OS gives us a random salt");
    if options.child {
        for sample in time(options.runs, hash_ours) {
            println!("{}", sample.as_nanos());
        }
        return;
    }
    // Before the first hash, on the only thread: as stage 07's `main` does.
    return_large_blocks_to_the_os();
    // The crate's defaults: argon2id, version 0x13, m = 19 MiB, t = 2, p = 1.
    let defaults = Argon2::default();
    let hash_defaults = || {
        defaults
            .hash_password(PASSWORD.as_bytes())
            .expect("the OS gives us a random salt")
            .to_string()
    };
    // A login checks a stored hash: the same work as making it, plus parsing.
    let stored = hash_ours();
    let verify_ours = || assert!(ours.verify(PASSWORD, &stored), "the password matches");

    let default_params = defaults.params();
    let rows = [
        Row {
            what: "hash, our parameters",
            memory_kib: MEMORY_KIB,
            iterations: ITERATIONS,
            lanes: LANES,
            samples: time(options.runs, hash_ours),
        },
        Row {
            what: "hash, the crate's defaults",
            memory_kib: default_params.m_cost(),
            iterations: default_params.t_cost(),
            lanes: default_params.p_cost(),
            samples: time(options.runs, hash_defaults),
        },
        Row {
            what: "verify, our parameters",
            memory_kib: MEMORY_KIB,
            iterations: ITERATIONS,
            lanes: LANES,
            samples: time(options.runs, verify_ours),
        },
        Row {
            what: "hash, ours, glibc's default",
            memory_kib: MEMORY_KIB,
            iterations: ITERATIONS,
            lanes: LANES,
            samples: time_in_child_with_default_malloc(options.runs),
        },
    ];
    print_rows(&rows, options.format);
}

/// What stage 07's `main` does first (see `return_large_blocks_to_the_os`
/// there): a fixed mmap threshold of 1 MiB, so every 7 MiB block is mapped
/// fresh for its hash and unmapped after it.
fn return_large_blocks_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets a number inside glibc's allocator; we
        // call it from `main` before any other thread exists (mallopt(3)).
        let accepted = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 1024 * 1024) };
        assert_eq!(accepted, 1, "mallopt(M_MMAP_THRESHOLD) refused");
    }
}

/// Our hash timed in a fresh process of this same program that skips
/// [`return_large_blocks_to_the_os`]: the allocator setting is per process
/// and cannot be undone, so the comparison needs a process of its own.
fn time_in_child_with_default_malloc(runs: usize) -> Vec<Duration> {
    let program = env::current_exe().expect("a running program knows its own path");
    let output = Command::new(program)
        .args([CHILD_FLAG, "--runs", &runs.to_string()])
        .output()
        .expect("the bench can start itself again");
    assert!(
        output.status.success(),
        "the child bench failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| Duration::from_nanos(line.parse().expect("the child prints nanoseconds")))
        .collect()
}

/// Reads `--markdown` and `--runs N`. `cargo bench` adds `--bench` to the
/// arguments of every bench target; it means nothing here and is skipped.
fn parse_options(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        runs: DEFAULT_RUNS,
        format: Format::Text,
        child: false,
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bench" => {}
            "--markdown" => options.format = Format::Markdown,
            CHILD_FLAG => options.child = true,
            "--runs" => {
                let text = args.next().ok_or("--runs needs a number")?;
                options.runs = match text.parse() {
                    Ok(runs) if (1..=1000).contains(&runs) => runs,
                    _ => return Err(format!("--runs {text:?}: expected 1 to 1000")),
                };
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(options)
}

/// Runs `work` [`WARM_UP_RUNS`] times untimed, then `runs` times timed, and
/// returns the timed durations, sorted.
fn time<T>(runs: usize, mut work: impl FnMut() -> T) -> Vec<Duration> {
    for _ in 0..WARM_UP_RUNS {
        black_box(work());
    }
    let mut samples: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            black_box(work());
            start.elapsed()
        })
        .collect();
    samples.sort_unstable();
    samples
}

/// The median of sorted samples: the middle one, or the mean of the two
/// middle ones for an even count.
fn median(sorted: &[Duration]) -> Duration {
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[middle]
    } else {
        (sorted[middle - 1] + sorted[middle]) / 2
    }
}

fn milliseconds(duration: Duration) -> String {
    format!("{:.1}", duration.as_secs_f64() * 1000.0)
}

fn print_rows(rows: &[Row], format: Format) {
    let runs = rows.first().map_or(0, |row| row.samples.len());
    match format {
        Format::Markdown => {
            println!("| what | m (KiB) | t | p | median | min | max |");
            println!("|---|---:|---:|---:|---:|---:|---:|");
        }
        Format::Text => {
            println!(
                "argon2id, version 0x13: {runs} timed runs each, after {WARM_UP_RUNS} untimed"
            );
            println!(
                "{:<29} {:>8} {:>3} {:>3} {:>10} {:>8} {:>8}",
                "what", "m (KiB)", "t", "p", "median ms", "min ms", "max ms"
            );
        }
    }
    for row in rows {
        let (min, max) = (row.samples[0], row.samples[row.samples.len() - 1]);
        let (median, min, max) = (
            milliseconds(median(&row.samples)),
            milliseconds(min),
            milliseconds(max),
        );
        let Row {
            what,
            memory_kib,
            iterations,
            lanes,
            ..
        } = row;
        match format {
            Format::Markdown => println!(
                "| {what} | {memory_kib} | {iterations} | {lanes} | {median} ms | {min} ms | {max} ms |"
            ),
            Format::Text => println!(
                "{what:<29} {memory_kib:>8} {iterations:>3} {lanes:>3} {median:>10} {min:>8} {max:>8}"
            ),
        }
    }
}
