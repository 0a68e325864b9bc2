//! Cold start: how long a stage takes from `exec` to its first answer, and
//! how much memory it holds by then, written to
//! `book/src/generated/bench-startup.md` by `cargo xtask startup`.
//!
//! Chapter 5 argues that a pool of a thousand threads is not "safe", because
//! every worker starts before the first request is served. This measures
//! it, side by side in one run: the same binary with a few workers and with
//! many, plus the stages before and after for comparison.
//!
//! One run: start the release binary with `ADDR=127.0.0.1:0`, read the
//! `listening on` line for the port, send `GET /health`, and stop the clock
//! when the whole response has arrived. Then read the peak resident memory
//! (`VmHWM` in `/proc/PID/status`) and stop the process. Each configuration
//! runs [`RUNS`] times, interleaved, and the page reports the median and the
//! range. Linux only (`/proc`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::sizes::{self, Toolchain};
use crate::{repo_root, Stage};

/// The generated page, relative to the repository root.
pub const STARTUP_PAGE: &str = "book/src/generated/bench-startup.md";

/// Runs per configuration. Odd, so the median is one real run.
pub const RUNS: usize = 21;

/// One configuration to measure: a stage and its environment.
#[derive(Debug, Clone)]
pub struct Setup {
    pub stage: &'static str,
    pub workers: Option<usize>,
}

/// What we compare: stage 04 (one thread), stage 05 with 4, 64 and 1024
/// workers, stage 06 with 4.
pub const SETUPS: &[Setup] = &[
    Setup {
        stage: "stage-04",
        workers: None,
    },
    Setup {
        stage: "stage-05",
        workers: Some(4),
    },
    Setup {
        stage: "stage-05",
        workers: Some(64),
    },
    Setup {
        stage: "stage-05",
        workers: Some(1024),
    },
    Setup {
        stage: "stage-06",
        workers: Some(4),
    },
];

/// One measured start.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub first_answer: Duration,
    pub peak_rss_kib: u64,
}

/// Starts `binary` once and measures it.
pub fn measure_once(binary: &Path, workers: Option<usize>) -> Result<Sample, String> {
    let mut command = Command::new(binary);
    command
        .env("ADDR", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(workers) = workers {
        command.env("WORKERS", workers.to_string());
    }
    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|error| format!("cannot start {}: {error}", binary.display()))?;
    let result = (|| {
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|error| format!("cannot read the first line: {error}"))?;
        let addr: SocketAddr = line
            .trim()
            .strip_prefix("listening on http://")
            .and_then(|addr| addr.parse().ok())
            .ok_or_else(|| format!("unexpected first line {line:?}"))?;
        fetch_health(addr)?;
        let first_answer = started.elapsed();
        let peak_rss_kib = peak_rss_kib(child.id())?;
        Ok(Sample {
            first_answer,
            peak_rss_kib,
        })
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// `GET /health` with `Connection: close`, read to the end.
fn fetch_health(addr: SocketAddr) -> Result<(), String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|error| format!("cannot connect to {addr}: {error}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|error| error.to_string())?;
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .map_err(|error| format!("cannot send: {error}"))?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|error| format!("no answer: {error}"))?;
    if !response.starts_with(b"HTTP/1.1 200 ") {
        return Err(format!(
            "unexpected answer {:?}",
            String::from_utf8_lossy(&response)
        ));
    }
    Ok(())
}

/// The peak resident set size of a process, from `/proc/PID/status`.
fn peak_rss_kib(pid: u32) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|error| format!("cannot read /proc/{pid}/status: {error}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmHWM line in /proc/PID/status".to_string())
}

/// Builds the stages, measures every setup [`RUNS`] times (interleaved, so a
/// burst of load elsewhere hits all setups alike), and renders the page.
pub fn run(stages: &[Stage]) -> Result<String, String> {
    let mut binaries = Vec::new();
    for setup in SETUPS {
        let stage = stages
            .iter()
            .find(|stage| stage.name == setup.stage)
            .ok_or_else(|| format!("no {} in stages/", setup.stage))?;
        binaries.push(sizes::build_release(stage)?);
    }
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); SETUPS.len()];
    for run in 0..RUNS {
        eprintln!("run {} of {RUNS}", run + 1);
        for (index, setup) in SETUPS.iter().enumerate() {
            samples[index].push(measure_once(&binaries[index], setup.workers)?);
        }
    }
    Ok(render_page(&samples, &sizes::toolchain()?, &sizes::today()))
}

/// The median (the middle value of an odd count) and the range.
fn summary(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let median = values[values.len() / 2];
    (median, values[0], values[values.len() - 1])
}

/// The Markdown page.
pub fn render_page(samples: &[Vec<Sample>], toolchain: &Toolchain, date: &str) -> String {
    let mut page = String::from(
        "<!-- Generated by `cargo xtask startup`; do not edit by hand. -->\n\n\
         | stage | workers | first answer, median (range) | peak memory, median (range) |\n\
         |---|---:|---:|---:|\n",
    );
    for (setup, samples) in SETUPS.iter().zip(samples) {
        let (ms, ms_min, ms_max) = summary(
            samples
                .iter()
                .map(|s| s.first_answer.as_secs_f64() * 1000.0)
                .collect(),
        );
        let (mib, mib_min, mib_max) = summary(
            samples
                .iter()
                .map(|s| s.peak_rss_kib as f64 / 1024.0)
                .collect(),
        );
        let workers = setup
            .workers
            .map_or("1 (no pool)".to_string(), |n| n.to_string());
        page.push_str(&format!(
            "| {} | {workers} | {ms:.1} ms ({ms_min:.1}–{ms_max:.1}) | {mib:.1} MiB ({mib_min:.1}–{mib_max:.1}) |\n",
            setup.stage
        ));
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    page.push_str(&format!(
        "\nFrom `exec` to the end of the first response to `GET /health`, and the \
         peak resident memory (`VmHWM`) at that moment; {RUNS} runs of each, \
         interleaved, release builds. Measured on {date} on a {cpus}-CPU machine \
         with {} for {}; regenerate with `cargo xtask startup`.\n",
        toolchain.rustc_version, toolchain.target
    ));
    page
}

/// Where the page goes.
pub fn page_path() -> std::path::PathBuf {
    repo_root().join(STARTUP_PAGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_is_the_middle_value_and_the_range_its_ends() {
        assert_eq!(summary(vec![5.0, 1.0, 3.0]), (3.0, 1.0, 5.0));
    }

    #[test]
    fn the_page_has_one_row_per_setup_and_says_how_to_regenerate_it() {
        let sample = Sample {
            first_answer: Duration::from_millis(5),
            peak_rss_kib: 2048,
        };
        let samples = vec![vec![sample; 3]; SETUPS.len()];
        let toolchain = Toolchain {
            rustc_version: "rustc 1.0".to_string(),
            target: "x".to_string(),
        };
        let page = render_page(&samples, &toolchain, "2026-01-01");
        assert_eq!(
            page.matches("| 5.0 ms (5.0–5.0) | 2.0 MiB (2.0–2.0) |")
                .count(),
            SETUPS.len()
        );
        assert!(page.contains("cargo xtask startup"));
    }
}
