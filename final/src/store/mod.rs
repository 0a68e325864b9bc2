//! The users' store: [`Store`], what the API asks of a database (sign-ups,
//! lookups by id and by name, and [`Store::ping`] for `/ready`), and
//! [`open`], which opens the one the configuration names:
//!
//! - [`sqlite::SqliteStore`], the default: one file on this machine, no
//!   server to run (chapter 8);
//! - `postgres::PostgresStore`, built in with `--features postgres` and
//!   chosen by `DATABASE_URL=postgres://…`: a database server that several
//!   instances of the backend can share (chapter "Outgrowing one VPS").
//!
//! Both build the same schema from the same list of steps, written side by
//! side in each one's SQL (`migrations.rs`), and both pass one suite of
//! tests (`final/tests/store.rs`).
//!
//! Every query is parameterised: the SQL is a constant, and the values
//! travel separately (`?1` in SQLite, `$1` in PostgreSQL), so no username
//! can ever be read as SQL. `x'); DROP TABLE users;--` is just an odd name
//! (and fails validation in `api/users.rs` long before it gets here).

use std::error::Error;
use std::fmt;

use crate::config::Config;

#[cfg(feature = "postgres")]
pub mod copy;
mod idle;
mod migrations;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod sqlite;

/// The PostgreSQL driver itself, for tests that set a server up by hand
/// (each test gets a schema of its own). The application never needs it.
#[cfg(feature = "postgres")]
pub use ::postgres as postgres_driver;

// ANCHOR: user
/// A user as we store it. Only the hash of the password, never the
/// password; and the hash never leaves the server (the JSON views of a
/// user in `api/users.rs` have no field for it).
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub id: u64,
    /// Lowercase: usernames are compared case-folded.
    pub username: String,
    /// A PHC string (`$argon2id$v=19$...`), see `passwords.rs`.
    pub password_hash: String,
    /// RFC 3339 in UTC, to the second (`2026-12-01T16:48:28Z`), written by
    /// the database when the user signs up.
    pub created_at: String,
}
// ANCHOR_END: user

/// Written by hand, not derived, so that logging a user with `{:?}` can
/// never print the password hash.
impl fmt::Debug for User {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("password_hash", &"<not shown>")
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// A username as every store keeps and compares it: case-folded (ASCII
/// lowercase), so `Alice` and `alice` are one name.
///
/// [`Username::fold`] is the only way to make one, so no store can be
/// handed `Alice` and `alice` as two different names: the folding happens
/// once, here, and not in each store (where one of them could forget it).
/// The stores then compare names byte for byte, which SQLite and
/// PostgreSQL agree on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    /// `name`, case-folded. Only ASCII letters change: the API accepts no
    /// other letters in a name (`api/users.rs`).
    pub fn fold(name: &str) -> Username {
        Username(name.to_ascii_lowercase())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

// ANCHOR: store_error
/// Why the store could not do what was asked.
#[derive(Debug)]
pub enum StoreError {
    /// The username belongs to someone already (`409 Conflict`).
    UsernameTaken,
    /// The database failed (`500`).
    Database(DatabaseError),
}

/// The database failed: a full disk, a broken file, a server that does not
/// answer. What exactly failed is for the log (`{}` prints it), never for
/// the client. It holds the driver's own error, whichever driver it was.
#[derive(Debug)]
pub struct DatabaseError(Box<dyn Error + Send + Sync>);
// ANCHOR_END: store_error

impl DatabaseError {
    /// A failure we found ourselves, not the driver: a value no schema of
    /// ours could have stored, say.
    pub fn other(message: impl Into<String>) -> DatabaseError {
        DatabaseError(message.into().into())
    }
}

impl fmt::Display for DatabaseError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.0)
    }
}

impl From<rusqlite::Error> for DatabaseError {
    fn from(error: rusqlite::Error) -> Self {
        DatabaseError(Box::new(error))
    }
}

#[cfg(feature = "postgres")]
impl From<::postgres::Error> for DatabaseError {
    fn from(error: ::postgres::Error) -> Self {
        DatabaseError(Box::new(error))
    }
}

impl From<DatabaseError> for StoreError {
    fn from(error: DatabaseError) -> Self {
        StoreError::Database(error)
    }
}

// ANCHOR: store_trait
/// What the API needs from a database. Every method blocks until the
/// database has answered, so it is only ever called on a pool worker,
/// never on an event loop (`router::blocks` sends these requests there).
///
/// The server holds its store as a `Box<dyn Store>`, a trait object,
/// rather than as a generic parameter or an enum:
///
/// - a type parameter (`App<S: Store>`) would spread through the router,
///   the event loop and the server, for the sake of one field;
/// - an enum would need a `match`, with a `#[cfg]` on an arm, in every
///   method, and a new store would edit all of them;
/// - the price of `dyn`, one indirect call per query, is nanoseconds next
///   to a query's microseconds (SQLite) or a network round trip (PostgreSQL).
///
/// A `Box` and not an `Arc`: the whole `App` is already shared between
/// threads behind one `Arc`. The trait is object-safe (no generic methods,
/// nothing returns `Self`), and `Send + Sync` because every worker thread
/// calls it at once.
pub trait Store: Send + Sync {
    /// Adds a user with a new id, unless the name is taken
    /// ([`StoreError::UsernameTaken`]).
    ///
    /// There is no "is the name free?" query first: between that check and
    /// the insert, another sign-up could take the name. The `UNIQUE`
    /// constraint decides, atomically, inside the database.
    ///
    /// When this returns `Ok`, the user is committed: a crash of this
    /// process a moment later does not lose them.
    fn insert(&self, username: &Username, password_hash: &str) -> Result<User, StoreError>;

    /// The user with this id, if there is one.
    fn get(&self, id: u64) -> Result<Option<User>, DatabaseError>;

    /// The user with this name, if there is one: for logins.
    fn find_by_name(&self, username: &Username) -> Result<Option<User>, DatabaseError>;

    /// Does the database answer? For `/ready`: a query that touches the
    /// users table but reads no row, on a pooled connection.
    fn ping(&self) -> Result<(), DatabaseError>;
}
// ANCHOR_END: store_trait

// ANCHOR: open
/// Opens the store the configuration names, and brings its schema up to
/// date: PostgreSQL if `DATABASE_URL` is set, otherwise the SQLite file at
/// `DATABASE_PATH`. Each keeps at most one idle connection per worker
/// (`WORKERS`).
///
/// Called by [`crate::Server::open`], before `main` says it is listening,
/// so a bad path, a server that does not answer, or a database from a
/// newer version stops the start, not the first request.
pub fn open(config: &Config) -> Result<Box<dyn Store>, String> {
    match &config.database_url {
        None => Ok(Box::new(sqlite::SqliteStore::open(
            &config.database_path,
            config.workers,
        )?)),
        #[cfg(feature = "postgres")]
        Some(url) => Ok(Box::new(postgres::PostgresStore::open(
            url,
            config.workers,
        )?)),
        // `Config::from_variables` refuses such a URL already; this arm is
        // for a `Config` built in code.
        #[cfg(not(feature = "postgres"))]
        Some(url) => Err(format!(
            "DATABASE_URL={url}: {}",
            crate::config::BUILT_WITHOUT_POSTGRES
        )),
    }
}
// ANCHOR_END: open

/// An id as the databases store it (a signed 64-bit integer) to ours. Ids
/// start at 1 and count up; a negative one means a damaged database: an
/// error, not a panic.
fn row_id(id: i64) -> Result<u64, DatabaseError> {
    u64::try_from(id).map_err(|_| DatabaseError::other(format!("a user with the id {id}")))
}

/// An id of ours as the databases store it: `None` for one beyond
/// `i64::MAX`, which names nobody.
fn stored_id(id: u64) -> Option<i64> {
    i64::try_from(id).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_password_hash() {
        let user = User {
            id: 1,
            username: "alice".to_string(),
            password_hash: "$argon2id$v=19$secret".to_string(),
            created_at: Default::default(),
        };
        let shown = format!("{user:?}");
        assert!(shown.contains("alice"), "{shown}");
        assert!(!shown.contains("argon2id"), "{shown}");
    }

    #[test]
    fn usernames_are_folded_to_ascii_lowercase() {
        assert_eq!(Username::fold("Alice_1.X-y").as_str(), "alice_1.x-y");
        // Only ASCII letters: `İ` (Turkish dotted capital I) is left as it
        // is, so the fold can never make two different names one.
        assert_eq!(Username::fold("İx").as_str(), "İx");
    }

    #[test]
    fn ids_beyond_the_signed_range_name_nobody_and_negative_ones_are_errors() {
        assert_eq!(stored_id(1), Some(1));
        assert_eq!(stored_id(i64::MAX as u64), Some(i64::MAX));
        assert_eq!(stored_id(i64::MAX as u64 + 1), None);
        assert_eq!(row_id(7).ok(), Some(7));
        assert!(row_id(-1).is_err());
    }
}
