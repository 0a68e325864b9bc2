//! [`PostgresStore`]: the users in a PostgreSQL server, built in with
//! `--features postgres` and chosen with `DATABASE_URL=postgres://…`.
//!
//! SQLite is a library inside our process; PostgreSQL is a server that
//! several backends, on one machine or several, can share: that is the
//! reason to move (chapter "Outgrowing one VPS"). What the API sees does
//! not change: the same [`Store`] methods, the same schema (built from the
//! same steps, `migrations.rs`), the same errors.
//!
//! The driver is the `postgres` crate: a synchronous client over
//! tokio-postgres. Each connection carries a small single-threaded tokio
//! runtime that only runs while we wait for an answer, so a call blocks its
//! thread the way a rusqlite call does, and starts no thread of its own. It
//! fits our design as it is: blocking work runs on the pool's workers,
//! never on an event loop (`router::blocks`), and the store is called only
//! from there.
//!
//! Shortcut: the connection is not encrypted (`NoTls`). That is fine for a
//! server on this machine or on a private network between machines of
//! ours; `sslmode=require` is refused at start rather than ignored. A
//! database across the internet would need TLS (`postgres-rustls`): a next
//! step the chapter discusses.

use std::time::Duration;

use postgres::config::{Host, SslMode};
use postgres::error::SqlState;
use postgres::{Client, Config as ClientConfig, NoTls, Row, Statement};

use super::idle::Idle;
use super::migrations::{self, next_step, MigrationError};
use super::{row_id, stored_id, DatabaseError, Store, StoreError, User, Username};
use crate::config::DatabaseUrl;

/// How long we wait for the server to accept a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one statement may run before the server cancels it, waiting
/// for a lock included (a sign-up waits for another one with the same name
/// to commit or roll back). The same bound as SQLite's busy timeout: a
/// sign-up is short, so a wait this long means something is very wrong.
pub const STATEMENT_TIMEOUT: Duration = migrations::BUSY_TIMEOUT;

/// How long the kernel keeps sending data the server does not acknowledge
/// before it gives up on the connection (`TCP_USER_TIMEOUT`), and how soon
/// an idle connection is probed (TCP keepalive). Without them, a server
/// machine that vanishes (a crash, a cable) would hold a worker for the
/// kernel's default of about 15 minutes of retransmissions.
pub const TCP_USER_TIMEOUT: Duration = Duration::from_secs(10);
pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(5);

/// The key of the advisory lock that migrations hold (any number agreed
/// on: this one is "backend" in ASCII), so that two instances starting at
/// once never run the same step twice.
const MIGRATION_LOCK: i64 = 0x0062_6163_6b65_6e64;

/// `created_at` as SQLite writes it: RFC 3339, UTC, to the second
/// (`to_char` drops the fraction, as SQLite's `strftime` does).
macro_rules! created_at {
    () => {
        r#"to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"#
    };
}

/// The four columns of a [`User`], in its order.
macro_rules! user_columns {
    () => {
        concat!("id, username, password_hash, ", created_at!())
    };
}

// ANCHOR: postgres_store
/// The users table on a PostgreSQL server, and a few open connections to
/// it ([`Idle`]): as with SQLite, at most one per worker is in use at
/// once, which bounds what we ask of the server (each connection is a
/// process there, and `max_connections` is 100 by default).
pub struct PostgresStore {
    config: ClientConfig,
    idle: Idle<Connection>,
}

/// What [`PostgresStore::with_connection`] does when it finds that the
/// connection it took from the idle list was closed by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IfClosed {
    /// Run the query again on a new connection: for reads, which can be
    /// asked twice without harm.
    AskAgain,
    /// Report the error.
    Fail,
}

/// A client, with our four statements prepared on it once: each query then
/// costs one round trip to the server instead of two (prepare, execute).
/// What `prepare_cached` does for SQLite.
struct Connection {
    client: Client,
    insert: Statement,
    by_id: Statement,
    by_name: Statement,
    ping: Statement,
}

impl PostgresStore {
    /// Connects to the server `url` names, and brings the schema up to
    /// date. The error says which server, never with the password.
    pub fn open(url: &DatabaseUrl, max_idle: usize) -> Result<PostgresStore, String> {
        let config = client_config(url.reveal())?;
        let server = describe_server(&config);
        let mut client = connect(&config)
            .map_err(|error| format!("cannot connect to PostgreSQL at {server}: {error}"))?;
        migrate(&mut client).map_err(|error| format!("PostgreSQL at {server}: {error}"))?;
        let connection =
            prepare(client).map_err(|error| format!("PostgreSQL at {server}: {error}"))?;
        Ok(PostgresStore {
            config,
            idle: Idle::new(connection, max_idle),
        })
    }

    /// Runs `work` on an idle connection (or a new one), then keeps the
    /// connection for the next caller, unless it is closed.
    ///
    /// A connection can be closed while it sits idle: a restart of
    /// PostgreSQL closes them all, and we learn it only when we next use
    /// one. With [`IfClosed::AskAgain`], `work` then runs once more, on a
    /// new connection.
    fn with_connection<T>(
        &self,
        if_closed: IfClosed,
        work: impl Fn(&mut Connection) -> Result<T, postgres::Error>,
    ) -> Result<T, postgres::Error> {
        let (mut connection, was_idle) = match self.idle.take() {
            Some(connection) => (connection, true),
            None => (prepare(connect(&self.config)?)?, false),
        };
        let mut result = work(&mut connection);
        if result.is_err()
            && was_idle
            && connection.client.is_closed()
            && if_closed == IfClosed::AskAgain
        {
            connection = prepare(connect(&self.config)?)?;
            result = work(&mut connection);
        }
        if !connection.client.is_closed() {
            self.idle.put_back(connection);
        }
        result
    }

    /// The one user that `statement` (which selects [`user_columns`]) finds
    /// with `parameter`, if any.
    fn find(
        &self,
        statement: impl Fn(&Connection) -> &Statement,
        parameter: &(dyn postgres::types::ToSql + Sync),
    ) -> Result<Option<User>, DatabaseError> {
        let row = self.with_connection(IfClosed::AskAgain, |connection| {
            let statement = statement(connection).clone();
            connection.client.query_opt(&statement, &[parameter])
        })?;
        row.map(|row| user_from(&row)).transpose()
    }
}

// ANCHOR: insert_with_ids
/// What `backend --copy-users-to-postgres` needs (`copy.rs`), and the API
/// never does: not [`Store`] methods.
impl PostgresStore {
    /// The schema version this database is at (the one row that `migrate`
    /// keeps).
    pub fn schema_version(&self) -> Result<usize, DatabaseError> {
        let version: i32 = self
            .with_connection(IfClosed::AskAgain, |connection| {
                connection
                    .client
                    .query_one("SELECT version FROM schema_version", &[])
            })?
            .try_get(0)?;
        Ok(usize::try_from(version).unwrap_or(usize::MAX))
    }

    /// How many users there are.
    pub fn count_users(&self) -> Result<usize, DatabaseError> {
        let count: i64 = self
            .with_connection(IfClosed::AskAgain, |connection| {
                connection
                    .client
                    .query_one("SELECT count(*) FROM users", &[])
            })?
            .try_get(0)?;
        Ok(usize::try_from(count).unwrap_or(usize::MAX))
    }

    /// Inserts `users` with their own ids and times, into an empty users
    /// table, all in one transaction: every one of them is stored, or (on
    /// any error) none is. Then moves the id sequence past the largest id,
    /// so that the next sign-up gets a new one instead of a duplicate key.
    /// Refuses, changing nothing, if the table has any user already: we
    /// never merge two sets of users (two `alice`s, two users 1).
    pub fn insert_with_ids(&self, users: &[User]) -> Result<(), String> {
        // A connection of its own, not a pooled one: this runs once, and
        // its transaction must not be left behind on a shared connection.
        let mut client = connect(&self.config).map_err(|error| with_causes(&error))?;
        let mut transaction = client.transaction().map_err(|error| with_causes(&error))?;
        // The lock lets others read but not write until we commit: a
        // sign-up arriving between our "is it empty?" and our inserts would
        // otherwise make the check a lie (and take an id we are copying).
        transaction
            .batch_execute("LOCK TABLE users IN EXCLUSIVE MODE")
            .map_err(|error| with_causes(&error))?;
        let present: i64 = transaction
            .query_one("SELECT count(*) FROM users", &[])
            .and_then(|row| row.try_get(0))
            .map_err(|error| with_causes(&error))?;
        if present != 0 {
            return Err(format!(
                "the PostgreSQL users table has {present} users already: \
                 copying only into an empty one, so nothing was changed"
            ));
        }
        // `OVERRIDING SYSTEM VALUE`: the id column is `GENERATED ALWAYS`,
        // which refuses an id from us unless we say we mean it. The time
        // travels as text (the driver has no time type without a feature
        // of its own) and PostgreSQL reads it: `2026-12-01T16:48:28Z`.
        let insert = transaction
            .prepare(
                "INSERT INTO users (id, username, password_hash, created_at)
                 OVERRIDING SYSTEM VALUE
                 VALUES ($1, $2, $3, $4::text::timestamptz)",
            )
            .map_err(|error| with_causes(&error))?;
        for user in users {
            let id = stored_id(user.id)
                .ok_or_else(|| format!("user {}: an id beyond PostgreSQL's bigint", user.id))?;
            transaction
                .execute(
                    &insert,
                    &[&id, &user.username, &user.password_hash, &user.created_at],
                )
                .map_err(|error| {
                    // `{:?}`: a name with a control character in it (the
                    // reason it failed, maybe) is shown escaped.
                    format!(
                        "user {} ({:?}): {}",
                        user.id,
                        user.username,
                        with_causes(&error)
                    )
                })?;
        }
        // Inserting our own ids does not move the sequence that hands out
        // new ones: without this, the first sign-up after the copy would get
        // id 1 and fail as a duplicate key. (`pg_get_serial_sequence` finds
        // an identity column's sequence too.) With no users there is no
        // largest id, and nothing to move.
        if !users.is_empty() {
            transaction
                .batch_execute(
                    "SELECT setval(pg_get_serial_sequence('users', 'id'), max(id)) FROM users",
                )
                .map_err(|error| with_causes(&error))?;
        }
        transaction.commit().map_err(|error| with_causes(&error))
    }
}
// ANCHOR_END: insert_with_ids

impl Store for PostgresStore {
    fn insert(&self, username: &Username, password_hash: &str) -> Result<User, StoreError> {
        // Not asked again on a closed connection: had the server committed
        // the insert before the connection broke? We cannot know, and a
        // second try could answer "taken" to the user who just took it.
        let inserted = self.with_connection(IfClosed::Fail, |connection| {
            connection
                .client
                .query_one(&connection.insert, &[&username.as_str(), &password_hash])
        });
        match inserted {
            Ok(row) => Ok(User {
                id: row_id(row.try_get(0).map_err(DatabaseError::from)?)?,
                username: username.as_str().to_string(),
                password_hash: password_hash.to_string(),
                created_at: row.try_get(1).map_err(DatabaseError::from)?,
            }),
            // 23505: the name is in the UNIQUE index already.
            Err(error) if error.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                Err(StoreError::UsernameTaken)
            }
            Err(error) => Err(StoreError::Database(error.into())),
        }
    }

    fn get(&self, id: u64) -> Result<Option<User>, DatabaseError> {
        let Some(id) = stored_id(id) else {
            return Ok(None);
        };
        self.find(|connection| &connection.by_id, &id)
    }

    fn find_by_name(&self, username: &Username) -> Result<Option<User>, DatabaseError> {
        self.find(|connection| &connection.by_name, &username.as_str())
    }

    /// There is no user 0: the query touches the table and reads no row.
    fn ping(&self) -> Result<(), DatabaseError> {
        self.with_connection(IfClosed::AskAgain, |connection| {
            connection.client.query(&connection.ping, &[])
        })?;
        Ok(())
    }
}
// ANCHOR_END: postgres_store

/// A [`User`] from a row of [`user_columns`]. `try_get`, not `get`: a
/// column of an unexpected type is an error, never a panic.
fn user_from(row: &Row) -> Result<User, DatabaseError> {
    Ok(User {
        id: row_id(row.try_get(0)?)?,
        username: row.try_get(1)?,
        password_hash: row.try_get(2)?,
        created_at: row.try_get(3)?,
    })
}

/// Checks a `DATABASE_URL` the way the driver will read it, for
/// `Config::from_variables`: a mistake in it is a configuration problem,
/// found before anything starts. The message never repeats the URL.
pub fn check_url(url: &str) -> Result<(), String> {
    client_config(url).map(|_| ())
}

/// The driver's configuration for `url`, with our timeouts added.
fn client_config(url: &str) -> Result<ClientConfig, String> {
    // The driver's messages name the option at fault, never its value.
    let mut config: ClientConfig = url.parse().map_err(|error| with_causes(&error))?;
    if config.get_ssl_mode() == SslMode::Require {
        return Err(
            "sslmode=require, but this build has no TLS for PostgreSQL: \
                    use a server on this machine or on a private network"
                .to_string(),
        );
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(TCP_USER_TIMEOUT);
    }
    config.keepalives(true).keepalives_idle(KEEPALIVE_IDLE);
    // Names us in the server's `pg_stat_activity`, for whoever looks.
    if config.get_application_name().is_none() {
        config.application_name("backend");
    }
    Ok(config)
}

/// `error`, followed by what caused it: the driver's "invalid connection
/// string" says which option only in its cause ("invalid value for option
/// `port`").
fn with_causes(error: &postgres::Error) -> String {
    let mut message = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(error) = cause {
        message.push_str(&format!(": {error}"));
        cause = error.source();
    }
    message
}

/// A new connection, with the statement timeout set for its whole life.
fn connect(config: &ClientConfig) -> Result<Client, postgres::Error> {
    let mut client = config.connect(NoTls)?;
    client.batch_execute(&format!(
        "SET statement_timeout = {}",
        STATEMENT_TIMEOUT.as_millis()
    ))?;
    Ok(client)
}

/// Prepares our statements on `client` (see [`Connection`]).
fn prepare(mut client: Client) -> Result<Connection, postgres::Error> {
    let insert = client.prepare(concat!(
        "INSERT INTO users (username, password_hash) VALUES ($1, $2) RETURNING id, ",
        created_at!()
    ))?;
    let by_id = client.prepare(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE id = $1"
    ))?;
    let by_name = client.prepare(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE username = $1"
    ))?;
    let ping = client.prepare("SELECT count(*) FROM users WHERE id = 0")?;
    Ok(Connection {
        client,
        insert,
        by_id,
        by_name,
        ping,
    })
}

/// `host:port/database as user`, for messages: everything that says which
/// server, and nothing secret.
fn describe_server(config: &ClientConfig) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|host| match host {
            Host::Tcp(name) => name.clone(),
            Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    format!(
        "{}:{}/{} as {}",
        hosts.join(","),
        ports.join(","),
        config.get_dbname().unwrap_or("(default database)"),
        config.get_user().unwrap_or("(default user)")
    )
}

// ANCHOR: migrate
/// Runs the [`migrations::MIGRATIONS`] this database has not had yet, in
/// PostgreSQL's SQL, each in its own transaction together with the new
/// version number, as SQLite's `migrate` does. (PostgreSQL, unlike SQLite,
/// can roll back a `CREATE TABLE`: a crash halfway leaves the previous
/// version, never half of one.) Returns the version the database is at now.
///
/// PostgreSQL has no `user_version`: the version is the one row of a table
/// of its own. The transaction first takes an advisory lock (a lock on a
/// number we choose, released at commit), so two instances starting at once
/// take turns: the second waits, then finds the step done.
pub fn migrate(client: &mut Client) -> Result<usize, MigrationError> {
    loop {
        let mut transaction = client.transaction()?;
        transaction.batch_execute(&format!(
            "SELECT pg_advisory_xact_lock({MIGRATION_LOCK});
             CREATE TABLE IF NOT EXISTS schema_version (
                 one_row boolean PRIMARY KEY DEFAULT true CHECK (one_row),
                 version integer NOT NULL
             );
             INSERT INTO schema_version (version) VALUES (0) ON CONFLICT DO NOTHING;"
        ))?;
        let version: i32 = transaction
            .query_one("SELECT version FROM schema_version", &[])?
            .try_get(0)?;
        // Ours are never negative.
        let version = usize::try_from(version).unwrap_or(usize::MAX);
        let Some(step) = next_step(version)? else {
            transaction.commit()?;
            return Ok(version);
        };
        transaction.batch_execute(step.postgres)?;
        let next = i32::try_from(version + 1).unwrap_or(i32::MAX);
        transaction.execute("UPDATE schema_version SET version = $1", &[&next])?;
        transaction.commit()?;
    }
}
// ANCHOR_END: migrate

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_timeouts_are_added_unless_the_url_sets_its_own() {
        let config =
            client_config("postgres://backend:secret@127.0.0.1:5432/backend").expect("a valid URL");
        assert_eq!(config.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
        assert_eq!(config.get_tcp_user_timeout(), Some(&TCP_USER_TIMEOUT));
        assert_eq!(config.get_keepalives_idle(), KEEPALIVE_IDLE);
        let config =
            client_config("postgres://localhost/backend?connect_timeout=2").expect("a valid URL");
        assert_eq!(config.get_connect_timeout(), Some(&Duration::from_secs(2)));
    }

    #[test]
    fn servers_are_described_without_the_password() {
        let config =
            client_config("postgres://backend:secret@127.0.0.1:5433/users").expect("a valid URL");
        assert_eq!(describe_server(&config), "127.0.0.1:5433/users as backend");
    }

    #[test]
    fn a_bad_url_is_refused_without_repeating_it() {
        for (url, expected) in [
            ("postgres://u:secret@host:port/db", "port"),
            ("postgres://u:secret@host/db?sslmode=require", "TLS"),
            ("postgres://u:secret@host/db?secret=1", "unknown option"),
        ] {
            let problem = check_url(url).expect_err(url);
            assert!(problem.contains(expected), "{url}: {problem}");
            assert!(!problem.contains("secret@"), "{url}: {problem}");
            assert!(!problem.contains(":secret"), "{url}: {problem}");
        }
    }
}
