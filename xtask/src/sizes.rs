//! Binary sizes: how big each stage's release binary is, written to
//! `book/src/generated/sizes.md`, and a check that keeps the numbers honest.
//!
//! The story this book starts from boasted a server binary under 500 KB. We
//! hold stage 04 (the first stage that does the same job: HTTP, routes,
//! static files) to that, and keep the committed table within 2% of what a
//! fresh build gives, so the book never quotes numbers the code has outgrown.
//!
//! - `cargo xtask sizes` builds every stage in release and rewrites the page.
//! - `cargo xtask sizes --check` builds and compares (CI runs this).
//!
//! Sizes depend on the compiler and target, so the page says which were used.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::{repo_root, Stage};

/// The generated page, relative to the repository root.
pub const SIZES_PAGE: &str = "book/src/generated/sizes.md";

/// The product, held to its own limit: under the size of a hello-world
/// actix-web server (issue #11), with SQLite, argon2 and JWT inside.
pub const PRODUCT: &str = "backend";
pub const PRODUCT_LIMIT_BYTES: u64 = 2_730_000;

/// The stage held to the size limit: the first with the C++ server's features.
pub const LIMITED_STAGE: &str = "stage-04";

/// The C++ server we compare with was under 500 KB; so must we be.
pub const SIZE_LIMIT_BYTES: u64 = 500_000;

/// How far a committed number may be from a fresh build, in percent: small
/// differences come and go with compiler and dependency patch releases.
pub const TOLERANCE_PERCENT: f64 = 2.0;

/// The command that regenerates the page.
pub const REGENERATE_COMMAND: &str = "cargo xtask sizes";

/// The size of one stage's release binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageSize {
    /// `stage-01`, …
    pub stage: String,
    /// Size of the stripped release binary.
    pub bytes: u64,
}

/// The compiler that produced the binaries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toolchain {
    /// `rustc 1.95.0 (59807616e 2026-04-14)`
    pub rustc_version: String,
    /// `x86_64-unknown-linux-gnu`
    pub target: String,
}

/// Builds each stage in release and measures its binary.
///
/// One `cargo build` per stage, not one for all: cargo unifies the features
/// of shared dependencies across the packages it builds together, so a joint
/// build could make a stage's binary bigger than the stage on its own.
pub fn measure(stages: &[Stage]) -> Result<Vec<StageSize>, String> {
    let mut sizes = Vec::new();
    for stage in stages {
        let binary = build_release(stage)?;
        let bytes = std::fs::metadata(&binary)
            .map_err(|error| format!("cannot read {}: {error}", binary.display()))?
            .len();
        sizes.push(StageSize {
            stage: stage.name.clone(),
            bytes,
        });
    }
    Ok(sizes)
}

/// Runs `cargo build --release -p <stage>` and returns the binary's path.
pub fn build_release(stage: &Stage) -> Result<PathBuf, String> {
    eprintln!("building {} in release…", stage.name);
    // `CARGO` is set when we run under cargo (`cargo xtask`): use the same one.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--package",
            &stage.name,
            "--manifest-path",
        ])
        .arg(repo_root().join("Cargo.toml"))
        .status()
        .map_err(|error| format!("cannot run cargo: {error}"))?;
    if !status.success() {
        return Err(format!("`cargo build --release -p {}` failed", stage.name));
    }
    // A stage's binary is named after its package.
    Ok(target_dir().join("release").join(&stage.name))
}

/// Where cargo puts build output: `CARGO_TARGET_DIR` if set (relative to the
/// current folder, as cargo reads it), otherwise `target/` in the workspace.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => std::env::current_dir()
            .map(|current| current.join(&dir))
            .unwrap_or_else(|_| PathBuf::from(dir)),
        None => repo_root().join("target"),
    }
}

/// Asks `rustc` for its version and the target it builds for.
pub fn toolchain() -> Result<Toolchain, String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let output = Command::new(rustc)
        .arg("-vV")
        .output()
        .map_err(|error| format!("cannot run rustc: {error}"))?;
    let verbose = String::from_utf8_lossy(&output.stdout);
    let rustc_version = verbose
        .lines()
        .next()
        .unwrap_or("rustc (unknown)")
        .to_string();
    let target = verbose
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .unwrap_or("unknown target")
        .to_string();
    Ok(Toolchain {
        rustc_version,
        target,
    })
}

/// The Markdown page: a table, then how and when it was measured.
pub fn render_page(sizes: &[StageSize], toolchain: &Toolchain, date: &str) -> String {
    let mut page = format!(
        "<!-- Generated by `{REGENERATE_COMMAND}`; do not edit by hand. -->\n\n\
         | stage | bytes | KiB |\n|---|---:|---:|\n"
    );
    for size in sizes {
        // Lossless for any real binary size (under 2^53 bytes).
        let kibibytes = size.bytes as f64 / 1024.0;
        page.push_str(&format!(
            "| {} | {} | {kibibytes:.1} |\n",
            size.stage, size.bytes
        ));
    }
    page.push_str(&format!(
        "\nRelease builds (stripped, LTO) measured on {date} with {} for {}; \
         regenerate with `{REGENERATE_COMMAND}`.\n",
        toolchain.rustc_version, toolchain.target
    ));
    page
}

/// The sizes in a page written by [`render_page`].
pub fn parse_page(page: &str) -> Vec<StageSize> {
    page.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line
                .trim()
                .trim_matches('|')
                .split('|')
                .map(str::trim)
                .collect();
            match cells.as_slice() {
                [stage, bytes, _kibibytes] if stage.starts_with("stage-") || *stage == PRODUCT => {
                    Some(StageSize {
                        stage: stage.to_string(),
                        bytes: bytes.parse().ok()?,
                    })
                }
                _ => None,
            }
        })
        .collect()
}

/// Everything wrong with the committed sizes, given a fresh measurement.
pub fn problems(committed: &[StageSize], fresh: &[StageSize]) -> Vec<String> {
    let mut problems = Vec::new();
    for size in fresh {
        if size.stage == PRODUCT && size.bytes >= PRODUCT_LIMIT_BYTES {
            problems.push(format!(
                "{PRODUCT} is {} bytes; it must stay under {PRODUCT_LIMIT_BYTES} \
                 (a hello-world actix-web server)",
                size.bytes
            ));
        }
        if size.stage == LIMITED_STAGE && size.bytes >= SIZE_LIMIT_BYTES {
            problems.push(format!(
                "{} is {} bytes; it must stay under {SIZE_LIMIT_BYTES} \
                 (the C++ server we compare with was under 500 KB)",
                size.stage, size.bytes
            ));
        }
        match committed.iter().find(|old| old.stage == size.stage) {
            None => problems.push(format!(
                "{SIZES_PAGE} has no row for {}; rerun `{REGENERATE_COMMAND}`",
                size.stage
            )),
            Some(old) => {
                let change = percent_change(old.bytes, size.bytes);
                if change.abs() > TOLERANCE_PERCENT {
                    problems.push(format!(
                        "{} is {} bytes, but {SIZES_PAGE} says {} ({change:+.1}%, more than \
                         {TOLERANCE_PERCENT}%); rerun `{REGENERATE_COMMAND}`",
                        size.stage, size.bytes, old.bytes
                    ));
                }
            }
        }
    }
    for old in committed {
        if !fresh.iter().any(|size| size.stage == old.stage) {
            problems.push(format!(
                "{SIZES_PAGE} lists {}, which no longer exists; rerun `{REGENERATE_COMMAND}`",
                old.stage
            ));
        }
    }
    problems
}

/// One line per stage for a check that passed: the measured size, and the
/// committed one beside it when they differ (within the tolerance, or the
/// check would have failed), so no line claims a number it did not compare.
pub fn passed_lines(committed: &[StageSize], fresh: &[StageSize]) -> Vec<String> {
    fresh
        .iter()
        .map(
            |size| match committed.iter().find(|old| old.stage == size.stage) {
                Some(old) if old.bytes == size.bytes => {
                    format!("{}: {} bytes, as committed", size.stage, size.bytes)
                }
                Some(old) => format!(
                    "{}: {} bytes measured, {} committed ({:+.1}%, within {TOLERANCE_PERCENT}%)",
                    size.stage,
                    size.bytes,
                    old.bytes,
                    percent_change(old.bytes, size.bytes)
                ),
                None => format!("{}: {} bytes, not in {SIZES_PAGE}", size.stage, size.bytes),
            },
        )
        .collect()
}

fn percent_change(old: u64, new: u64) -> f64 {
    if old == 0 {
        return if new == 0 { 0.0 } else { f64::INFINITY };
    }
    (new as f64 - old as f64) / old as f64 * 100.0
}

/// The page's path in this repository.
pub fn page_path() -> PathBuf {
    repo_root().join(SIZES_PAGE)
}

/// Reads the committed page, if there is one.
pub fn read_page(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// Today's date in UTC, `YYYY-MM-DD`, from the system clock.
pub fn today() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_secs())
        .unwrap_or(0);
    let days = i64::try_from(seconds / 86_400).expect("days since 1970 fit in an i64");
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}")
}

/// The calendar date `days` after 1970-01-01 (Howard Hinnant's algorithm for
/// the proleptic Gregorian calendar), to avoid a date crate for one line.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468; // count from 0000-03-01: leap days fall last
    let era = shifted.div_euclid(146_097); // 400-year cycles
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (
        year,
        u32::try_from(month).expect("a month is 1 to 12"),
        u32::try_from(day).expect("a day is 1 to 31"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(stage: &str, bytes: u64) -> StageSize {
        StageSize {
            stage: stage.to_string(),
            bytes,
        }
    }

    #[test]
    fn the_page_is_a_table_that_reads_back_as_the_same_sizes() {
        let sizes = [size("stage-01", 400_000), size("stage-04", 480_123)];
        let toolchain = Toolchain {
            rustc_version: "rustc 1.95.0".into(),
            target: "x86_64-unknown-linux-gnu".into(),
        };

        let page = render_page(&sizes, &toolchain, "2026-11-21");

        assert!(page.contains("| stage-01 | 400000 | 390.6 |\n"), "{page}");
        assert!(page.contains("2026-11-21 with rustc 1.95.0 for x86_64-unknown-linux-gnu"));
        assert!(page.contains("`cargo xtask sizes`"));
        assert_eq!(parse_page(&page), sizes);
    }

    #[test]
    fn sizes_within_two_percent_pass() {
        let committed = [size("stage-01", 100_000), size("stage-04", 400_000)];
        let fresh = [size("stage-01", 101_999), size("stage-04", 392_000)];

        assert_eq!(problems(&committed, &fresh), Vec::<String>::new());
    }

    #[test]
    fn a_size_more_than_two_percent_off_fails_and_says_to_rerun() {
        let problems = problems(&[size("stage-01", 100_000)], &[size("stage-01", 102_001)]);

        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("rerun `cargo xtask sizes`"),
            "{problems:?}"
        );
    }

    #[test]
    fn stage_04_at_500_000_bytes_or_more_fails_even_when_the_page_agrees() {
        let at_limit = [size("stage-04", 500_000)];

        let problems = problems(&at_limit, &at_limit);

        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("must stay under 500000"),
            "{problems:?}"
        );
    }

    #[test]
    fn the_product_at_2_73_mb_or_more_fails_and_a_row_for_it_reads_back() {
        let at_limit = [size("backend", 2_730_000)];
        let problems = problems(&at_limit, &at_limit);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("backend is 2730000"), "{problems:?}");
        let under = [size("backend", 2_729_999)];
        assert!(super::problems(&under, &under).is_empty());
        let toolchain = Toolchain {
            rustc_version: "rustc".into(),
            target: "target".into(),
        };
        assert_eq!(parse_page(&render_page(&under, &toolchain, "today")), under);
    }

    #[test]
    fn the_limit_is_for_stage_04_only() {
        let big_stage_01 = [size("stage-01", 900_000)];

        assert!(problems(&big_stage_01, &big_stage_01).is_empty());
    }

    #[test]
    fn a_stage_missing_from_the_page_or_gone_from_the_repository_fails() {
        let problems = problems(&[size("stage-09", 1)], &[size("stage-01", 1)]);

        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn a_passing_check_prints_the_measured_size_and_the_committed_one_when_they_differ() {
        let committed = [size("stage-01", 100_000), size("stage-04", 400_000)];
        let fresh = [size("stage-01", 100_000), size("stage-04", 401_000)];

        assert_eq!(
            passed_lines(&committed, &fresh),
            [
                "stage-01: 100000 bytes, as committed",
                "stage-04: 401000 bytes measured, 400000 committed (+0.2%, within 2%)",
            ]
        );
    }

    #[test]
    fn days_since_1970_become_calendar_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(59), (1970, 3, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_778), (2026, 11, 21));
    }
}
