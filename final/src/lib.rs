//! `backend`: the server of *From Socket to Ship*, as a product: an HTTP/1.1
//! server on an event loop (`mio`), with a JSON API, users in SQLite (or
//! PostgreSQL, with `--features postgres`), argon2id password hashes and
//! JWT logins, and a page at `/`. Its modules each own one concern
//! (chapter 12 explains the layout):
//!
//! - [`cli`] and [`config`]: the command line, and every setting, from the
//!   environment, checked at once;
//! - [`http`]: the protocol without the network (parser, chunked bodies,
//!   responses, status codes);
//! - [`event_loop`]: the network without the protocol (readiness, buffers,
//!   deadlines, backpressure);
//! - [`router`]: which handler answers, and which requests go to the pool;
//! - [`api`] (users, auth), [`static_files`], [`store`], [`passwords`],
//!   [`tokens`], [`secret`]: what the server does;
//! - [`pool`], [`metrics`], [`access_log`], [`shutdown`]: running it.
//!
//! `main` only parses the command line, owns signals and exit codes, and
//! calls [`Server::open`] and [`Server::run`] (or [`run`], both at once):
//! tests start and stop servers the same way.

pub mod access_log;
pub mod api;
pub mod cli;
pub mod config;
pub mod event_loop;
pub mod http;
pub mod metrics;
pub mod passwords;
pub mod pool;
pub mod router;
pub mod secret;
pub mod shutdown;
pub mod static_files;
pub mod store;
pub mod tokens;

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

pub use config::Config;
use event_loop::connections::Connections;
use event_loop::{EventLoop, Shared};
use metrics::Metrics;
use passwords::Passwords;
use pool::ThreadPool;
pub use router::App;
use secret::{load_secret, SecretSource};
pub use shutdown::Shutdown;
use tokens::Tokens;

// ANCHOR: version
/// The version and the commit it was built from, for `--version`
/// (`build.rs` asks git; `unknown` outside a git checkout).
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("BACKEND_COMMIT"), ")");
// ANCHOR_END: version

/// At the end of a shutdown, how long we wait for the access log to be
/// written if the drain timeout has run out already.
const LOG_GRACE: Duration = Duration::from_secs(1);

/// How a server's shutdown ended, for `main` to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    /// Every connection finished before the drain timeout.
    Completely,
    /// The drain timeout ran out with these connections still open; they are
    /// cut off when the process exits.
    CutOff { open_connections: usize },
}

// ANCHOR: run
// ANCHOR: run_error
/// Why the server could not start or keep running. `main` turns each into
/// an exit status: 2 for what a person must fix in the configuration, 1 for
/// everything else.
#[derive(Debug)]
pub enum RunError {
    /// `STATIC_DIR` cannot be used.
    StaticDir(PathBuf, io::Error),
    /// The JWT secret is missing, too short, or unreadable.
    Secret(String),
    /// The database cannot be opened or migrated.
    Database(String),
    /// The network failed: threads, `epoll`, the listening socket.
    Io(io::Error),
}

impl RunError {
    /// The process exit status `main` reports this with.
    pub fn exit_status(&self) -> i32 {
        match self {
            RunError::StaticDir(..) | RunError::Secret(_) => 2,
            RunError::Database(_) | RunError::Io(_) => 1,
        }
    }
}
// ANCHOR_END: run_error

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::StaticDir(path, error) => {
                write!(f, "STATIC_DIR={}: {error}", path.display())
            }
            RunError::Secret(problem) => write!(f, "{problem}"),
            RunError::Database(problem) => write!(f, "database: {problem}"),
            RunError::Io(error) => write!(f, "{error}"),
        }
    }
}

impl From<io::Error> for RunError {
    fn from(error: io::Error) -> Self {
        RunError::Io(error)
    }
}

// ANCHOR: run_fn
/// Opens everything the configuration names, then serves on `listener`
/// until `shutdown` is requested: [`Server::open`], then [`Server::run`].
pub fn run(listener: TcpListener, config: Config, shutdown: Shutdown) -> Result<Drained, RunError> {
    Server::open(config)?.run(listener, shutdown)
}

/// A server with its database open and its secret loaded, not yet serving.
pub struct Server {
    app: App,
    config: Config,
    pool: ThreadPool,
}
// ANCHOR_END: run_fn

impl Server {
    // ANCHOR: open
    /// Resolves the static folder, opens (and migrates) the database and
    /// loads the JWT secret: every way the start can fail, before `main`
    /// says it is listening.
    pub fn open(config: Config) -> Result<Server, RunError> {
        // Resolve the root once, to an absolute path without symlinks: every
        // file we serve must resolve to a path that starts with this one.
        let static_root = config
            .static_dir
            .canonicalize()
            .and_then(|root| {
                if root.is_dir() {
                    Ok(root)
                } else {
                    Err(io::Error::other("not a directory"))
                }
            })
            .map_err(|error| RunError::StaticDir(config.static_dir.clone(), error))?;
        let users = store::open(&config).map_err(RunError::Database)?;
        // After the database: the development secret lives in its folder.
        let tokens = load_tokens(&config)?;
        let pool = ThreadPool::new(config.workers);
        let app = App {
            static_root,
            users,
            tokens,
            passwords: Passwords::new(config.max_concurrent_hashes, config.max_waiting_hashes),
            metrics: Metrics::new(),
            connections: Connections::new(),
            queue_depth: pool.queue_depth(),
        };
        Ok(Server { app, config, pool })
    }
    // ANCHOR_END: open

    // ANCHOR: serve
    /// Serves on `listener` with `config.event_loops` event loops until
    /// `shutdown` is requested; then stops accepting, lets requests in
    /// flight finish within the drain timeout, and says how that went.
    pub fn run(self, listener: TcpListener, shutdown: Shutdown) -> Result<Drained, RunError> {
        let Server { app, config, pool } = self;
        let (log, log_written) = access_log::Writer::start()?;
        let shared = Arc::new(Shared {
            app,
            config,
            shutdown,
            log,
        });
        // Every loop polls its own copy of the one listening socket (`dup`):
        // the first idle loop to `accept` a client gets it, so the least
        // busy loop takes the most. Chapter 11 explains why not
        // `SO_REUSEPORT`.
        let mut loops = Vec::new();
        for id in 0..shared.config.event_loops.max(1) {
            let event_loop =
                EventLoop::new(listener.try_clone()?, Arc::clone(&shared), pool.handle())?;
            loops.push(
                thread::Builder::new()
                    .name(format!("loop-{id}"))
                    .spawn(move || event_loop.run())?,
            );
        }
        // Our own copy: once the loops close theirs at shutdown, the socket
        // is closed and new connections are refused at once.
        drop(listener);

        let mut cut_off = 0;
        let mut failure = None;
        for event_loop in loops {
            match event_loop.join() {
                Ok(Ok(open)) => cut_off += open,
                Ok(Err(error)) => failure = Some(error),
                Err(_) => failure = Some(io::Error::other("an event loop panicked")),
            }
        }
        if let Some(error) = failure {
            return Err(RunError::Io(error));
        }
        // The jobs still running belong to cut-off connections, and get what
        // is left of the drain timeout, which counts from the shutdown
        // request (not from now: the loops may have used all of it).
        let drain_end = shared.shutdown.requested_at().unwrap_or_else(Instant::now)
            + shared.config.drain_timeout;
        let pool_finished = pool.finish_within(drain_end);
        // Nothing else holds the access-log writer now: once we drop ours,
        // its thread writes what is queued and ends, unless stdout is stuck;
        // then we go without it, after a short grace.
        drop(shared);
        let log_written = log_written.within(drain_end.max(Instant::now() + LOG_GRACE));
        if cut_off == 0 && pool_finished && log_written {
            Ok(Drained::Completely)
        } else {
            Ok(Drained::CutOff {
                open_connections: cut_off,
            })
        }
    }
    // ANCHOR_END: serve
}

/// The token keys, from the secret [`load_secret`] finds. The secret itself
/// is never printed; where it came from is.
fn load_tokens(config: &Config) -> Result<Tokens, RunError> {
    let variable = |name: &str| -> Option<OsString> {
        match name {
            "JWT_SECRET_FILE" => config.jwt_secret_file.clone().map(OsString::from),
            "CREDENTIALS_DIRECTORY" => config.credentials_directory.clone().map(OsString::from),
            _ => None,
        }
    };
    let secret = load_secret(variable, &config.database_path).map_err(RunError::Secret)?;
    match &secret.source {
        SecretSource::Configured(path) => {
            eprintln!("config: JWT secret from {}", path.display());
        }
        SecretSource::Development { path, created } => {
            let made = if *created { "made a new" } else { "using the" };
            eprintln!(
                "warning: no JWT_SECRET_FILE or CREDENTIALS_DIRECTORY: {made} development \
                 secret in {}. Never run like this in production.",
                path.display()
            );
        }
    }
    Tokens::new(&secret.bytes).map_err(RunError::Secret)
}
// ANCHOR_END: run
