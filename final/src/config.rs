//! [`Config`]: everything the server can be told from outside, read from
//! the environment by [`Config::from_env`].
//!
//! [`Config::from_variables`] checks every variable and reports *every*
//! problem, one line each, not just the first (`main` then exits with
//! status 2); [`Config::describe`] says what is in effect, for the start-up
//! log. Reading the environment is `main`'s business, not the server's: the
//! library takes a `Config` as a parameter, so a test builds one in code.
//! Chapter 10 explains why the configuration is checked all at once.

use std::ffi::OsString;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::OnceLock;
use std::thread;
use std::time::Duration;

/// What we serve unless `STATIC_DIR` says otherwise: this crate's own
/// `frontend/`, as an absolute path fixed at compile time, so that
/// `cargo run -p backend` works from any directory. It is a path in the
/// source tree: a binary copied to another machine must set `STATIC_DIR`.
pub const DEFAULT_STATIC_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/frontend");

/// Where the database lives unless `DATABASE_PATH` says otherwise: relative
/// to the folder the server is started from, so each checkout (and each
/// test, which starts the server in a folder of its own) has its own.
pub const DEFAULT_DATABASE_PATH: &str = "data/backend.sqlite3";

/// Why a build without `--features postgres` refuses a `DATABASE_URL`.
pub const BUILT_WITHOUT_POSTGRES: &str = "this backend was built without PostgreSQL \
     (cargo build --features postgres); unset DATABASE_URL to use the SQLite file (DATABASE_PATH)";

/// Where we listen unless `ADDR` says otherwise: loopback only, so a server
/// started by hand is not reachable from the network by accident.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";

// ANCHOR: config
// ANCHOR: config_fields
/// Everything the server can be told from outside, with the attack each
/// limit stops. All of them can be set from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Where to listen (`ADDR`): an IP address and a port, `0` for any
    /// free port.
    pub addr: SocketAddr,
    /// The proxies in front of us (`TRUSTED_PROXIES`, comma-separated IP
    /// addresses, none by default) whose `X-Real-IP` header names the real
    /// client in the access log. From anyone else the header is ignored.
    pub trusted_proxies: Vec<IpAddr>,
    /// The folder of static files (`STATIC_DIR`).
    pub static_dir: PathBuf,
    /// The SQLite database file (`DATABASE_PATH`). Its folder is created
    /// if missing. The development JWT secret lives beside it, even when
    /// the users are in PostgreSQL.
    pub database_path: PathBuf,
    /// A PostgreSQL server to keep the users in instead of the SQLite file
    /// (`DATABASE_URL=postgres://user:password@host:port/database`), for a
    /// binary built with `--features postgres`. Unset: SQLite.
    pub database_url: Option<DatabaseUrl>,
    /// Event-loop threads (`EVENT_LOOPS`), which own every connection
    /// between them.
    pub event_loops: usize,
    /// Worker threads (`WORKERS`): at most this many blocking jobs
    /// (password hashes, database queries, file opens) run at the same time.
    pub workers: usize,
    /// Open connections (`MAX_CONNECTIONS`). Beyond it: a fast `503` and
    /// close. Stops a flood of connections from using up memory and file
    /// descriptors. An idle connection costs a few hundred bytes (it holds
    /// no buffer), so the default is 16 384: room for 10 000 idle clients
    /// and then some. Each holds one file descriptor, and `main` raises the
    /// soft `ulimit -n` to make room for them, as far as the hard limit
    /// allows.
    pub max_connections: usize,
    /// Requests on one connection (`MAX_REQUESTS_PER_CONNECTION`), then we
    /// close it. Stops one client from keeping a connection for ever by
    /// keeping it busy, and spreads clients over restarts.
    pub max_requests_per_connection: usize,
    /// How long a keep-alive connection may sit idle between requests
    /// (`IDLE_TIMEOUT_SECS`). Stops idle clients from holding a descriptor
    /// and a place under `MAX_CONNECTIONS` for ever.
    pub idle_timeout: Duration,
    /// How long one request may take to arrive, head and body, from its
    /// first byte (`REQUEST_TIMEOUT_SECS`). Beyond it: `408`. Stops
    /// slowloris, the client that sends its request a byte at a time.
    pub request_timeout: Duration,
    /// How long a response may wait for the client to read any of it
    /// (`WRITE_TIMEOUT_SECS`). Stops a client that asks and never reads.
    pub write_timeout: Duration,
    /// At shutdown, how long requests in flight may take to finish
    /// (`DRAIN_TIMEOUT_SECS`). Keep it below systemd's `TimeoutStopSec`.
    pub drain_timeout: Duration,
    /// Password hashes computed at the same time
    /// (`MAX_CONCURRENT_HASHES`). Each holds 7 MiB and a core while it
    /// runs: stops a burst of sign-ups from taking all the memory.
    pub max_concurrent_hashes: usize,
    /// The file holding the JWT signing secret (`JWT_SECRET_FILE`), if
    /// named. The secret itself is never a setting: it is read at the start
    /// and never printed.
    pub jwt_secret_file: Option<PathBuf>,
    /// Where systemd put the service's credentials
    /// (`CREDENTIALS_DIRECTORY`, set by `LoadCredential=`): the secret is
    /// its `jwt-secret` when no file is named. With neither, a development
    /// secret is made beside the database, with a warning.
    pub credentials_directory: Option<PathBuf>,
    /// Sign-ups that may wait for a hash to finish (`MAX_WAITING_HASHES`).
    /// Beyond it: `503` with `Retry-After`. Stops a burst of sign-ups from
    /// holding every worker, which would leave none for anything else.
    pub max_waiting_hashes: usize,
}

impl Config {
    /// The defaults.
    pub fn new() -> Config {
        Config {
            addr: DEFAULT_ADDR.parse().expect("the default address parses"),
            trusted_proxies: Vec::new(),
            static_dir: PathBuf::from(DEFAULT_STATIC_DIR),
            database_path: PathBuf::from(DEFAULT_DATABASE_PATH),
            database_url: None,
            event_loops: cores(),
            workers: default_workers(),
            max_connections: 16_384,
            max_requests_per_connection: 1000,
            idle_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(10),
            max_concurrent_hashes: cores(),
            max_waiting_hashes: 2 * cores(),
            jwt_secret_file: None,
            credentials_directory: None,
        }
    }
    // ANCHOR_END: config_fields

    // ANCHOR: from_variables
    /// The defaults, overridden by any of the environment variables named
    /// above; or every problem with them, one line each.
    pub fn from_env() -> Result<Config, Vec<String>> {
        Config::from_variables(|name| std::env::var_os(name))
    }

    /// [`Config::from_env`], with the variables looked up by `variable`:
    /// tests pass a closure over a list instead of changing the environment
    /// of a process whose other threads may be reading it.
    ///
    /// It goes on after a problem, so that whoever fixes the configuration
    /// sees every mistake at once instead of one per restart.
    pub fn from_variables(
        variable: impl Fn(&str) -> Option<OsString>,
    ) -> Result<Config, Vec<String>> {
        let text = |name: &str| -> Option<String> {
            variable(name).map(|value| value.to_string_lossy().into_owned())
        };
        let mut config = Config::new();
        let mut problems = Vec::new();
        let mut check = |result: Result<(), String>| {
            if let Err(problem) = result {
                problems.push(problem);
            }
        };
        if let Some(value) = text("ADDR") {
            check(parse_addr(&value).map(|addr| config.addr = addr));
        }
        if let Some(value) = text("TRUSTED_PROXIES") {
            check(parse_ip_list("TRUSTED_PROXIES", &value).map(|ips| config.trusted_proxies = ips));
        }
        if let Some(dir) = variable("STATIC_DIR") {
            config.static_dir = PathBuf::from(dir);
        }
        if let Some(path) = variable("DATABASE_PATH").filter(|path| !path.is_empty()) {
            config.database_path = PathBuf::from(path);
        }
        if let Some(url) = text("DATABASE_URL").filter(|url| !url.is_empty()) {
            check(parse_database_url(&url).map(|url| config.database_url = Some(url)));
        }
        config.jwt_secret_file = variable("JWT_SECRET_FILE")
            .filter(|path| !path.is_empty())
            .map(PathBuf::from);
        config.credentials_directory = variable("CREDENTIALS_DIRECTORY")
            .filter(|path| !path.is_empty())
            .map(PathBuf::from);
        for (name, field, min, max) in [
            ("EVENT_LOOPS", &mut config.event_loops, 1, 64),
            ("WORKERS", &mut config.workers, 1, 1024),
            ("MAX_CONNECTIONS", &mut config.max_connections, 1, 100_000),
            (
                "MAX_REQUESTS_PER_CONNECTION",
                &mut config.max_requests_per_connection,
                1,
                1_000_000,
            ),
            (
                "MAX_CONCURRENT_HASHES",
                &mut config.max_concurrent_hashes,
                1,
                1024,
            ),
            (
                "MAX_WAITING_HASHES",
                &mut config.max_waiting_hashes,
                0,
                16_384,
            ),
        ] {
            if let Some(value) = text(name) {
                check(parse_in_range(name, &value, min, max).map(|number| *field = number));
            }
        }
        for (name, field) in [
            ("IDLE_TIMEOUT_SECS", &mut config.idle_timeout),
            ("REQUEST_TIMEOUT_SECS", &mut config.request_timeout),
            ("WRITE_TIMEOUT_SECS", &mut config.write_timeout),
            ("DRAIN_TIMEOUT_SECS", &mut config.drain_timeout),
        ] {
            if let Some(value) = text(name) {
                check(
                    parse_in_range(name, &value, 0.001, 3600.0)
                        .map(|seconds| *field = Duration::from_secs_f64(seconds)),
                );
            }
        }
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(problems)
        }
    }
    // ANCHOR_END: from_variables

    // ANCHOR: describe
    /// What is in effect, as `NAME=value` lines for the start-up log. Every
    /// setting is here and none is secret: the JWT secret is not a setting,
    /// only the file it is read from ([`crate::Server::open`] says only
    /// where it came from), and `DATABASE_URL` is shown without its
    /// password ([`DatabaseUrl`]).
    pub fn describe(&self) -> Vec<String> {
        let proxies: Vec<String> = self.trusted_proxies.iter().map(IpAddr::to_string).collect();
        let seconds = |duration: Duration| duration.as_secs_f64().to_string();
        vec![
            format!("ADDR={}", self.addr),
            format!("TRUSTED_PROXIES={}", proxies.join(",")),
            format!("STATIC_DIR={}", self.static_dir.display()),
            format!("DATABASE_PATH={}", self.database_path.display()),
            format!(
                "DATABASE_URL={}",
                self.database_url
                    .as_ref()
                    .map(DatabaseUrl::to_string)
                    .unwrap_or_default()
            ),
            format!("EVENT_LOOPS={}", self.event_loops),
            format!("WORKERS={}", self.workers),
            format!("MAX_CONNECTIONS={}", self.max_connections),
            format!(
                "MAX_REQUESTS_PER_CONNECTION={}",
                self.max_requests_per_connection
            ),
            format!("IDLE_TIMEOUT_SECS={}", seconds(self.idle_timeout)),
            format!("REQUEST_TIMEOUT_SECS={}", seconds(self.request_timeout)),
            format!("WRITE_TIMEOUT_SECS={}", seconds(self.write_timeout)),
            format!("DRAIN_TIMEOUT_SECS={}", seconds(self.drain_timeout)),
            format!("MAX_CONCURRENT_HASHES={}", self.max_concurrent_hashes),
            format!("MAX_WAITING_HASHES={}", self.max_waiting_hashes),
            format!("JWT_SECRET_FILE={}", optional_path(&self.jwt_secret_file)),
            format!(
                "CREDENTIALS_DIRECTORY={}",
                optional_path(&self.credentials_directory)
            ),
        ]
    }
    // ANCHOR_END: describe
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}

// ANCHOR: database_url
/// `DATABASE_URL`, which holds a password: `Display` and `Debug` show it
/// with the password replaced by `***` ([`redact_url`]), so that no log
/// line, message or `{:?}` of a [`Config`] can print it. Only
/// [`DatabaseUrl::reveal`] gives the URL as it was set, for the driver.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The URL as it was set, password included: for the database driver,
    /// never for a log.
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&redact_url(&self.0))
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_tuple("DatabaseUrl")
            .field(&redact_url(&self.0))
            .finish()
    }
}

/// `DATABASE_URL`: a `postgres://` or `postgresql://` URL, which the
/// driver can read, if PostgreSQL is built in. Every message shows the URL
/// without its password.
fn parse_database_url(text: &str) -> Result<DatabaseUrl, String> {
    let url = DatabaseUrl(text.trim().to_string());
    if !["postgres://", "postgresql://"]
        .iter()
        .any(|scheme| url.0.starts_with(scheme))
    {
        return Err(format!(
            "DATABASE_URL={url}: expected postgres://user:password@host:port/database \
             (unset, the users are in the SQLite file DATABASE_PATH)"
        ));
    }
    #[cfg(feature = "postgres")]
    {
        crate::store::postgres::check_url(url.reveal())
            .map_err(|problem| format!("DATABASE_URL={url}: {problem}"))?;
        Ok(url)
    }
    #[cfg(not(feature = "postgres"))]
    Err(format!("DATABASE_URL={url}: {BUILT_WITHOUT_POSTGRES}"))
}

/// `url` with its password replaced by `***`: the one after the user's
/// name (`postgres://alice:secret@host/db`) and any `password=` parameter.
/// When in doubt it hides more, never less: everything between the user's
/// name and the *last* `@` (a password may hold an `@` its owner forgot to
/// encode as `%40`), and the whole of anything that is not a URL.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "***".to_string();
    };
    let rest = match rest.rsplit_once('@') {
        Some((credentials, server)) if credentials.contains(':') => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{user}:***@{server}")
        }
        _ => rest.to_string(),
    };
    // `?password=…&…`, in any case: each `password=` up to the next `&`.
    let mut redacted = format!("{scheme}://");
    let mut remaining = rest.as_str();
    while let Some(at) = remaining.to_ascii_lowercase().find("password=") {
        let value_start = at + "password=".len();
        redacted.push_str(&remaining[..value_start]);
        redacted.push_str("***");
        remaining = &remaining[value_start..];
        remaining = &remaining[remaining.find('&').unwrap_or(remaining.len())..];
    }
    redacted.push_str(remaining);
    redacted
}
// ANCHOR_END: database_url

/// A path for [`Config::describe`], or nothing if unset.
fn optional_path(path: &Option<PathBuf>) -> String {
    path.as_ref()
        .map(|path| path.display().to_string())
        .unwrap_or_default()
}

/// `ADDR`: an IP address and a port (`127.0.0.1:8080`, `[::]:80`).
fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    text.trim().parse().map_err(|_| {
        format!("ADDR={text:?}: expected an IP address and a port, such as 127.0.0.1:8080")
    })
}

/// A comma-separated list of IP addresses; empty is an empty list.
fn parse_ip_list(name: &str, text: &str) -> Result<Vec<IpAddr>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse()
                .map_err(|_| format!("{name}={text:?}: {item:?} is not an IP address"))
        })
        .collect()
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

/// Four workers per CPU core. Our workers run the jobs that *wait* (for
/// the disk, for the database's write lock), so more workers than cores
/// keeps the cores busy. Why not a thousand? Each thread costs memory for
/// its stack and time to start, and all of them start before we accept the
/// first connection: a pool of hundreds makes every start-up slower.
pub fn default_workers() -> usize {
    cores() * 4
}

/// The CPU cores we may use (1 if the OS will not say). Hashing keeps a core
/// busy, so by default as many hashes run as there are cores, and twice as
/// many wait: a burst of sign-ups is served at full speed, and the workers
/// it does not hold stay free for everyone else.
///
/// Asked once and remembered: `available_parallelism` reads the cgroup's
/// CPU quota from `/sys` and `/proc` each time (a dozen system calls), and
/// the defaults ask for it several times during the start.
pub fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| thread::available_parallelism().map_or(1, NonZeroUsize::get))
}
// ANCHOR_END: config

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Config` from these variables only.
    fn config_from(variables: &[(&str, &str)]) -> Result<Config, Vec<String>> {
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
            ("ADDR", "[::]:80"),
            ("TRUSTED_PROXIES", "127.0.0.1, ::1"),
            ("STATIC_DIR", "/srv/www"),
            ("DATABASE_PATH", "/var/lib/backend/users.sqlite3"),
            ("EVENT_LOOPS", "2"),
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
                addr: "[::]:80".parse().expect("an address"),
                trusted_proxies: vec![
                    "127.0.0.1".parse().expect("an IP"),
                    "::1".parse().expect("an IP")
                ],
                static_dir: PathBuf::from("/srv/www"),
                database_path: PathBuf::from("/var/lib/backend/users.sqlite3"),
                database_url: None,
                event_loops: 2,
                workers: 3,
                max_connections: 7,
                max_requests_per_connection: 9,
                idle_timeout: Duration::from_millis(1500),
                request_timeout: Duration::from_secs(2),
                write_timeout: Duration::from_secs(3),
                drain_timeout: Duration::from_millis(250),
                max_concurrent_hashes: 5,
                max_waiting_hashes: 0,
                jwt_secret_file: None,
                credentials_directory: None,
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
    fn every_bad_value_is_reported_on_its_own_line_naming_the_variable() {
        let problems = config_from(&[
            ("ADDR", "localhost:80"),
            ("TRUSTED_PROXIES", "127.0.0.1,nginx"),
            ("WORKERS", "many"),
            ("IDLE_TIMEOUT_SECS", "0"),
            ("MAX_CONNECTIONS", "-1"),
            ("MAX_WAITING_HASHES", "16385"),
        ])
        .expect_err("six bad values");
        assert_eq!(
            problems,
            [
                r#"ADDR="localhost:80": expected an IP address and a port, such as 127.0.0.1:8080"#,
                r#"TRUSTED_PROXIES="127.0.0.1,nginx": "nginx" is not an IP address"#,
                r#"WORKERS="many": expected a number from 1 to 1024"#,
                r#"MAX_CONNECTIONS="-1": expected a number from 1 to 100000"#,
                r#"MAX_WAITING_HASHES="16385": expected a number from 0 to 16384"#,
                r#"IDLE_TIMEOUT_SECS="0": expected a number from 0.001 to 3600"#,
            ]
        );
    }

    #[test]
    fn an_empty_proxy_list_is_no_proxies() {
        let config = config_from(&[("TRUSTED_PROXIES", "")]).expect("valid");
        assert!(config.trusted_proxies.is_empty());
    }

    #[test]
    fn the_description_names_every_setting_once_and_reads_back_the_same() {
        let config = Config {
            trusted_proxies: vec!["10.0.0.1".parse().expect("an IP")],
            ..Config::new()
        };
        let lines = config.describe();
        let pairs: Vec<(String, String)> = lines
            .iter()
            .map(|line| {
                let (name, value) = line.split_once('=').expect("NAME=value");
                (name.to_string(), value.to_string())
            })
            .collect();
        // Feeding the description back in gives the same configuration.
        let again = Config::from_variables(|name| {
            pairs
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| OsString::from(value))
        });
        assert_eq!(again, Ok(config));
        assert_eq!(lines.len(), 17);
    }

    #[test]
    fn passwords_in_a_database_url_are_redacted_and_nothing_else_is() {
        for (url, shown) in [
            (
                "postgres://backend:s3cret@127.0.0.1:5432/backend",
                "postgres://backend:***@127.0.0.1:5432/backend",
            ),
            // An `@` in the password, not encoded: hide up to the last one.
            (
                "postgresql://backend:p@ss/w?rd@db.internal/backend",
                "postgresql://backend:***@db.internal/backend",
            ),
            (
                "postgres://db.internal/backend?user=backend&password=s3cret&sslmode=disable",
                "postgres://db.internal/backend?user=backend&password=***&sslmode=disable",
            ),
            (
                "postgres://backend:s3cret@db/backend?Password=s3cret",
                "postgres://backend:***@db/backend?Password=***",
            ),
            (
                "postgres://backend@127.0.0.1/backend",
                "postgres://backend@127.0.0.1/backend",
            ),
            ("host=db password=s3cret", "***"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn a_database_url_that_is_not_postgres_is_refused_without_its_password() {
        for url in [
            "mysql://backend:s3cret@db/backend",
            "host=db password=s3cret",
        ] {
            let problems = config_from(&[("DATABASE_URL", url)]).expect_err(url);
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert!(problems[0].contains("expected postgres://"), "{problems:?}");
            assert!(!problems[0].contains("s3cret"), "{problems:?}");
        }
        assert_eq!(config_from(&[("DATABASE_URL", "")]), Ok(Config::new()));
    }

    #[cfg(not(feature = "postgres"))]
    #[test]
    fn without_postgres_built_in_a_postgres_url_is_refused_without_its_password() {
        for url in [
            "postgres://backend:s3cret@127.0.0.1/backend",
            "postgresql://backend:s3cret@127.0.0.1/backend",
        ] {
            let problems = config_from(&[("DATABASE_URL", url)]).expect_err(url);
            assert_eq!(
                problems,
                [format!(
                    "DATABASE_URL={}: {BUILT_WITHOUT_POSTGRES}",
                    url.replace("s3cret", "***")
                )]
            );
        }
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn with_postgres_built_in_a_postgres_url_is_used_and_never_shown_with_its_password() {
        let url = "postgres://backend:s3cret@127.0.0.1:5432/backend";
        let config = config_from(&[("DATABASE_URL", url)]).expect("a valid URL");
        let database_url = config.database_url.as_ref().expect("set");
        assert_eq!(database_url.reveal(), url);
        let described = config.describe().join("\n");
        assert!(
            described.contains("DATABASE_URL=postgres://backend:***@127.0.0.1:5432/backend"),
            "{described}"
        );
        for shown in [described, format!("{config:?}"), database_url.to_string()] {
            assert!(!shown.contains("s3cret"), "{shown}");
        }
        // A URL the driver cannot read is a configuration problem, found
        // before anything starts.
        let problems = config_from(&[("DATABASE_URL", "postgres://backend:s3cret@db:port/x")])
            .expect_err("a port must be a number");
        assert!(problems[0].contains("port"), "{problems:?}");
        assert!(!problems[0].contains("s3cret"), "{problems:?}");
    }
}
