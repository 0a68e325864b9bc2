//! [`Config`]: what the server can be told from outside, and
//! [`Config::from_env`], which reads it from the environment.
//!
//! Reading the environment is `main`'s business, not the server's: the
//! library takes a `Config` as a parameter, so a test builds one in code.

use std::ffi::OsString;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::thread;

/// What we serve unless `STATIC_DIR` says otherwise: this crate's own
/// `frontend/`, as an absolute path fixed at compile time, so that
/// `cargo run -p stage-05` works from any directory.
pub const DEFAULT_STATIC_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/frontend");

// ANCHOR: config
/// Everything the server can be told from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The folder of static files (`STATIC_DIR`).
    pub static_dir: PathBuf,
    /// How many worker threads (`WORKERS`): at most this many connections
    /// are served at the same time.
    pub workers: usize,
}

impl Config {
    /// The defaults: this crate's `frontend/`, and [`default_workers`].
    pub fn new() -> Config {
        Config {
            static_dir: PathBuf::from(DEFAULT_STATIC_DIR),
            workers: default_workers(),
        }
    }

    /// The defaults, overridden by `STATIC_DIR` and `WORKERS` if set.
    pub fn from_env() -> Result<Config, String> {
        Config::from_variables(|name| std::env::var_os(name))
    }

    /// [`Config::from_env`], with the variables looked up by `variable`:
    /// tests pass a closure over a list instead of changing the environment
    /// of a process whose other threads may be reading it.
    pub fn from_variables(variable: impl Fn(&str) -> Option<OsString>) -> Result<Config, String> {
        let mut config = Config::new();
        if let Some(dir) = variable("STATIC_DIR") {
            config.static_dir = PathBuf::from(dir);
        }
        if let Some(text) = variable("WORKERS") {
            let text = text.to_string_lossy();
            config.workers = match text.trim().parse::<usize>() {
                Ok(workers @ 1..=1024) => workers,
                _ => {
                    return Err(format!(
                        "WORKERS={text:?}: expected a number from 1 to 1024"
                    ))
                }
            };
        }
        Ok(config)
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}

// ANCHOR: default_workers
/// Four workers per CPU core. Our workers mostly *wait*
/// (for the network, for the disk), so more workers than cores keeps the
/// cores busy. Why not a thousand? Each thread costs memory for its stack
/// and time to start, and all of them start before we accept the first
/// connection: a pool of hundreds makes every start-up slower, and each
/// idle keep-alive client still ties up one of them (see the chapter).
pub fn default_workers() -> usize {
    let cores = thread::available_parallelism().map_or(1, NonZeroUsize::get);
    cores * 4
}
// ANCHOR_END: default_workers
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
    }

    #[test]
    fn no_variables_give_the_defaults() {
        assert_eq!(config_from(&[]), Ok(Config::new()));
    }

    #[test]
    fn each_variable_sets_its_field() {
        let config = config_from(&[("STATIC_DIR", "/srv/www"), ("WORKERS", "3")]);
        assert_eq!(
            config,
            Ok(Config {
                static_dir: PathBuf::from("/srv/www"),
                workers: 3,
            })
        );
    }

    #[test]
    fn workers_from_1_to_1024_are_allowed_and_nothing_else() {
        assert_eq!(config_from(&[("WORKERS", "1")]).map(|c| c.workers), Ok(1));
        assert_eq!(
            config_from(&[("WORKERS", "1024")]).map(|c| c.workers),
            Ok(1024)
        );
        for bad in ["0", "1025", "-1", "many", ""] {
            assert_eq!(
                config_from(&[("WORKERS", bad)]),
                Err(format!("WORKERS={bad:?}: expected a number from 1 to 1024")),
            );
        }
    }
}
