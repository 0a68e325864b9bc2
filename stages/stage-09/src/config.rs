//! [`Config`]: everything the server can be told from outside, read from
//! the environment by [`Config::from_env`].
//!
//! Reading the environment is `main`'s business, not the server's: the
//! library takes a `Config` as a parameter, so a test builds one in code.

use std::ffi::OsString;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::str::FromStr;
use std::thread;
use std::time::Duration;

/// What we serve unless `STATIC_DIR` says otherwise: this crate's own
/// `frontend/`, as an absolute path fixed at compile time, so that
/// `cargo run -p stage-09` works from any directory.
pub const DEFAULT_STATIC_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/frontend");

/// Where the database lives unless `DATABASE_PATH` says otherwise: relative
/// to the folder the server is started from, so each checkout (and each
/// test, which starts the server in a folder of its own) has its own.
pub const DEFAULT_DATABASE_PATH: &str = "data/backend.sqlite3";

// ANCHOR: config
// ANCHOR: config_fields
/// Everything the server can be told from outside, with the attack each
/// limit stops. All of them can be set from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The folder of static files (`STATIC_DIR`).
    pub static_dir: PathBuf,
    /// The SQLite database file (`DATABASE_PATH`). Its folder is created
    /// if missing.
    pub database_path: PathBuf,
    /// Worker threads (`WORKERS`): at most this many connections are being
    /// served at the same time.
    pub workers: usize,
    /// Open connections (`MAX_CONNECTIONS`), counting those waiting for a
    /// worker. Beyond it: a fast `503` and close. Stops a flood of
    /// connections from using up memory and file descriptors. Each open
    /// connection holds two descriptors (the socket and the register's
    /// copy), so keep it below half of `ulimit -n` (1024 by default).
    pub max_connections: usize,
    /// Requests on one connection (`MAX_REQUESTS_PER_CONNECTION`), then we
    /// close it. Stops one client from holding a worker forever by keeping
    /// it busy, and spreads clients over restarts.
    pub max_requests_per_connection: usize,
    /// How long a keep-alive connection may sit idle between requests
    /// (`IDLE_TIMEOUT_SECS`). Stops idle clients from holding workers.
    pub idle_timeout: Duration,
    /// How long one request may take to arrive, head and body, from its
    /// first byte (`REQUEST_TIMEOUT_SECS`). Beyond it: `408`. Stops
    /// slowloris, the client that sends its request a byte at a time.
    pub request_timeout: Duration,
    /// How long one write may wait for the client to read
    /// (`WRITE_TIMEOUT_SECS`). Stops a client that asks and never reads.
    pub write_timeout: Duration,
    /// At shutdown, how long requests in flight may take to finish
    /// (`DRAIN_TIMEOUT_SECS`). Keep it below systemd's `TimeoutStopSec`.
    pub drain_timeout: Duration,
    /// Password hashes computed at the same time
    /// (`MAX_CONCURRENT_HASHES`). Each holds 7 MiB and a core while it
    /// runs: stops a burst of sign-ups from taking all the memory.
    pub max_concurrent_hashes: usize,
    /// Sign-ups that may wait for a hash to finish (`MAX_WAITING_HASHES`).
    /// Beyond it: `503` with `Retry-After`. Stops a burst of sign-ups from
    /// holding every worker, which would leave none for anything else.
    pub max_waiting_hashes: usize,
}

impl Config {
    /// The defaults.
    pub fn new() -> Config {
        Config {
            static_dir: PathBuf::from(DEFAULT_STATIC_DIR),
            database_path: PathBuf::from(DEFAULT_DATABASE_PATH),
            workers: default_workers(),
            max_connections: 256,
            max_requests_per_connection: 1000,
            idle_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(10),
            max_concurrent_hashes: cores(),
            max_waiting_hashes: 2 * cores(),
        }
    }
    // ANCHOR_END: config_fields

    /// The defaults, overridden by any of the environment variables named
    /// above. A value that does not parse, or is out of range, is an error.
    pub fn from_env() -> Result<Config, String> {
        Config::from_variables(|name| std::env::var_os(name))
    }

    /// [`Config::from_env`], with the variables looked up by `variable`:
    /// tests pass a closure over a list instead of changing the environment
    /// of a process whose other threads may be reading it.
    pub fn from_variables(variable: impl Fn(&str) -> Option<OsString>) -> Result<Config, String> {
        let number = |name: &str| -> Option<String> {
            variable(name).map(|value| value.to_string_lossy().into_owned())
        };
        let mut config = Config::new();
        if let Some(dir) = variable("STATIC_DIR") {
            config.static_dir = PathBuf::from(dir);
        }
        if let Some(path) = variable("DATABASE_PATH").filter(|path| !path.is_empty()) {
            config.database_path = PathBuf::from(path);
        }
        if let Some(text) = number("WORKERS") {
            config.workers = parse_in_range("WORKERS", &text, 1, 1024)?;
        }
        if let Some(text) = number("MAX_CONNECTIONS") {
            config.max_connections = parse_in_range("MAX_CONNECTIONS", &text, 1, 16_384)?;
        }
        if let Some(text) = number("MAX_REQUESTS_PER_CONNECTION") {
            config.max_requests_per_connection =
                parse_in_range("MAX_REQUESTS_PER_CONNECTION", &text, 1, 1_000_000)?;
        }
        if let Some(text) = number("MAX_CONCURRENT_HASHES") {
            config.max_concurrent_hashes = parse_in_range("MAX_CONCURRENT_HASHES", &text, 1, 1024)?;
        }
        if let Some(text) = number("MAX_WAITING_HASHES") {
            config.max_waiting_hashes = parse_in_range("MAX_WAITING_HASHES", &text, 0, 16_384)?;
        }
        for (name, field) in [
            ("IDLE_TIMEOUT_SECS", &mut config.idle_timeout),
            ("REQUEST_TIMEOUT_SECS", &mut config.request_timeout),
            ("WRITE_TIMEOUT_SECS", &mut config.write_timeout),
            ("DRAIN_TIMEOUT_SECS", &mut config.drain_timeout),
        ] {
            if let Some(text) = number(name) {
                let seconds: f64 = parse_in_range(name, &text, 0.001, 3600.0)?;
                *field = Duration::from_secs_f64(seconds);
            }
        }
        Ok(config)
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}

/// Parses the value `text` of the variable `name` as a number in
/// `min..=max` (both ends allowed), or says what was expected.
fn parse_in_range<T>(name: &str, text: &str, min: T, max: T) -> Result<T, String>
where
    T: FromStr + PartialOrd + std::fmt::Display + Copy,
{
    match text.trim().parse::<T>() {
        Ok(value) if value >= min && value <= max => Ok(value),
        _ => Err(format!(
            "{name}={text:?}: expected a number from {min} to {max}"
        )),
    }
}

/// Four workers per CPU core. Our workers mostly *wait*
/// (for the network, for the disk), so more workers than cores keeps the
/// cores busy. Why not a thousand? Each thread costs memory for its stack
/// and time to start, and all of them start before we accept the first
/// connection: a pool of hundreds makes every start-up slower.
pub fn default_workers() -> usize {
    cores() * 4
}

/// The CPU cores we may use (1 if the OS will not say). Hashing keeps a core
/// busy, so by default as many hashes run as there are cores, and twice as
/// many wait: a burst of sign-ups is served at full speed, and the workers
/// it does not hold stay free for everyone else.
pub fn cores() -> usize {
    thread::available_parallelism().map_or(1, NonZeroUsize::get)
}
// ANCHOR_END: config

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Config` from these variables only.
    fn config_from(variables: &[(&str, &str)]) -> Result<Config, String> {
        Config::from_variables(|name| {
            variables
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| OsString::from(value))
        })
    }

    #[test]
    fn the_default_is_four_workers_per_core() {
        let cores = thread::available_parallelism().map_or(1, NonZeroUsize::get);
        assert_eq!(default_workers(), 4 * cores);
        assert_eq!(Config::new().max_concurrent_hashes, cores);
        assert_eq!(Config::new().max_waiting_hashes, 2 * cores);
    }

    #[test]
    fn no_variables_give_the_defaults() {
        assert_eq!(config_from(&[]), Ok(Config::new()));
    }

    #[test]
    fn each_variable_sets_its_field() {
        let config = config_from(&[
            ("STATIC_DIR", "/srv/www"),
            ("DATABASE_PATH", "/var/lib/backend/users.sqlite3"),
            ("WORKERS", "3"),
            ("MAX_CONNECTIONS", "7"),
            ("MAX_REQUESTS_PER_CONNECTION", "9"),
            ("IDLE_TIMEOUT_SECS", "1.5"),
            ("REQUEST_TIMEOUT_SECS", "2"),
            ("WRITE_TIMEOUT_SECS", "3"),
            ("DRAIN_TIMEOUT_SECS", "0.25"),
            ("MAX_CONCURRENT_HASHES", "5"),
            ("MAX_WAITING_HASHES", "0"),
        ])
        .expect("valid values");
        assert_eq!(
            config,
            Config {
                static_dir: PathBuf::from("/srv/www"),
                database_path: PathBuf::from("/var/lib/backend/users.sqlite3"),
                workers: 3,
                max_connections: 7,
                max_requests_per_connection: 9,
                idle_timeout: Duration::from_millis(1500),
                request_timeout: Duration::from_secs(2),
                write_timeout: Duration::from_secs(3),
                drain_timeout: Duration::from_millis(250),
                max_concurrent_hashes: 5,
                max_waiting_hashes: 0,
            }
        );
    }

    #[test]
    fn both_ends_of_a_range_are_allowed_and_one_step_beyond_is_not() {
        assert_eq!(parse_in_range("N", "1", 1, 1024), Ok(1));
        assert_eq!(parse_in_range("N", " 1024 ", 1, 1024), Ok(1024));
        assert!(parse_in_range("N", "0", 1, 1024).is_err());
        assert!(parse_in_range("N", "1025", 1, 1024).is_err());
        assert_eq!(parse_in_range("T", "0.001", 0.001, 3600.0), Ok(0.001));
        assert!(parse_in_range("T", "3600.5", 0.001, 3600.0).is_err());
    }

    #[test]
    fn a_bad_value_is_an_error_that_names_the_variable() {
        assert_eq!(
            config_from(&[("WORKERS", "many")]),
            Err(r#"WORKERS="many": expected a number from 1 to 1024"#.to_string())
        );
        assert!(config_from(&[("IDLE_TIMEOUT_SECS", "0")]).is_err());
        assert!(config_from(&[("MAX_CONNECTIONS", "-1")]).is_err());
    }
}
