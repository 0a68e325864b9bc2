//! The schema, as the list of steps that built it ([`MIGRATIONS`]), each
//! written in both databases' SQL, side by side; and the SQLite side of it:
//! how we open its file ([`open`]) and bring its schema up to date at start
//! ([`migrate`]). Chapter 8 explains both. PostgreSQL runs the same steps
//! (`postgres.rs`), from the same list.
//!
//! SQLite is a library, not a server: the database is one file (plus two
//! helper files in WAL mode, `-wal` and `-shm`), and "connecting" opens it.
//! With the `bundled` feature, rusqlite compiles SQLite's C source into our
//! binary: nothing to install, and the same SQLite everywhere.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use super::DatabaseError;

/// How long a connection waits for another one's write to finish before it
/// gives up with "database is locked". SQLite lets one writer at a time;
/// sign-ups are short, so a wait this long means something is very wrong.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

// ANCHOR: migrations
/// One step of the schema, in the SQL of each database we support. Both
/// are written here, next to each other, so that a step cannot be added to
/// one database and forgotten in the other: there is only one list.
pub struct Migration {
    pub sqlite: &'static str,
    /// Compiled only with `--features postgres`, so that the default binary
    /// carries no SQL it never runs; written here all the same, next to
    /// SQLite's, so that the two are reviewed and changed together.
    #[cfg(feature = "postgres")]
    pub postgres: &'static str,
}

/// The schema, as the list of steps that built it: step `n` takes a
/// database from version `n` to `n + 1`. SQLite keeps the version in the
/// database file itself (`PRAGMA user_version`, a number SQLite stores in
/// the file's header for the application to use); PostgreSQL, which has no
/// such number, in a one-row table (`postgres.rs`). Steps are never edited
/// once released, only added: a database made by an older binary is
/// brought up to date by running the steps it has not seen yet.
pub const MIGRATIONS: &[Migration] = &[
    // 1: the users. `username` is UNIQUE: the database itself refuses a
    // second `alice`, however many sign-ups race.
    Migration {
        // `STRICT` makes SQLite refuse a value of the wrong type instead of
        // storing it anyway. An `INTEGER PRIMARY KEY` is the row's id:
        // SQLite gives the next one (the largest so far, plus one).
        sqlite: "CREATE TABLE users (
            id            INTEGER PRIMARY KEY,
            username      TEXT NOT NULL UNIQUE,
            password_hash TEXT NOT NULL,
            created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
        ) STRICT;",
        // The same table in PostgreSQL's words:
        // - ids come from a sequence (an identity column), which PostgreSQL
        //   does not roll back: a sign-up refused as a duplicate uses up an
        //   id, so ids count up with gaps, where SQLite's have none;
        // - `COLLATE "C"` compares names byte for byte, as SQLite does,
        //   whatever language the server was set up for;
        // - the time is a real timestamp; the store formats it as SQLite
        //   stores it (RFC 3339, UTC, to the second) when it reads it.
        #[cfg(feature = "postgres")]
        postgres: "CREATE TABLE users (
            id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            username      text COLLATE \"C\" NOT NULL UNIQUE,
            password_hash text NOT NULL,
            created_at    timestamptz NOT NULL DEFAULT now()
        );",
    },
];
// ANCHOR_END: migrations

// ANCHOR: open
/// Opens (creating it if needed) the database at `path`, set up the way this
/// server needs:
///
/// - `journal_mode = WAL`: writes go to a write-ahead log first, so readers
///   never wait for a writer and a writer never waits for readers. The mode
///   is stored in the file: set once, it stays.
/// - `synchronous = FULL`: a transaction is acknowledged only after its
///   log record has been flushed to the disk (`fsync`). Chapter 8 says
///   what `NORMAL` would lose, and when.
/// - a busy timeout ([`BUSY_TIMEOUT`]): wait for another writer instead of
///   failing at once.
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open(path)?;
    let mode: String = connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        // An in-memory database, say, answers "memory": WAL is for files.
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "journal_mode is {mode}, not wal"
        )));
    }
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    Ok(connection)
}
// ANCHOR_END: open

/// Why the schema could not be brought up to date.
#[derive(Debug)]
pub enum MigrationError {
    /// The file was made by a newer version of this program: we do not know
    /// its schema, and must not touch it.
    TooNew {
        found: usize,
        known: usize,
    },
    Database(DatabaseError),
}

impl fmt::Display for MigrationError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MigrationError::TooNew { found, known } => write!(
                formatter,
                "the database's schema is version {found}, newer than the {known} this program knows: \
                 was it made by a newer version?"
            ),
            MigrationError::Database(error) => write!(formatter, "{error}"),
        }
    }
}

impl From<rusqlite::Error> for MigrationError {
    fn from(error: rusqlite::Error) -> Self {
        MigrationError::Database(error.into())
    }
}

#[cfg(feature = "postgres")]
impl From<::postgres::Error> for MigrationError {
    fn from(error: ::postgres::Error) -> Self {
        MigrationError::Database(error.into())
    }
}

// ANCHOR: migrate
/// Runs the [`MIGRATIONS`] this database has not had yet, each in its own
/// transaction together with the new version number: a crash halfway leaves
/// the database at the previous version, never at half of one. Returns the
/// version the database is at now.
///
/// `IMMEDIATE` takes the write lock before reading the version, so two
/// processes starting at once cannot both run the same step: the second
/// waits, then finds the step done.
pub fn migrate(connection: &mut Connection) -> Result<usize, MigrationError> {
    loop {
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = transaction.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        // SQLite keeps it as a signed 32-bit number; ours are never negative.
        let version = usize::try_from(version).unwrap_or(usize::MAX);
        let Some(step) = next_step(version)? else {
            return Ok(version);
        };
        transaction.execute_batch(step.sqlite)?;
        transaction.pragma_update(None, "user_version", version as i64 + 1)?;
        transaction.commit()?;
    }
}
// ANCHOR_END: migrate

/// The step that takes a database at `version` further, or `None` when it
/// is up to date; an error when it is at a version we do not know. Both
/// databases' `migrate` ask this.
pub fn next_step(version: usize) -> Result<Option<&'static Migration>, MigrationError> {
    if version > MIGRATIONS.len() {
        return Err(MigrationError::TooNew {
            found: version,
            known: MIGRATIONS.len(),
        });
    }
    Ok(MIGRATIONS.get(version))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_version(connection: &Connection) -> usize {
        let version: i64 = connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .expect("read user_version");
        usize::try_from(version).expect("not negative")
    }

    #[test]
    fn a_new_database_is_migrated_to_the_latest_version_once() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let mut connection = open(&dir.path().join("test.sqlite3")).expect("open");
        assert_eq!(user_version(&connection), 0);
        assert_eq!(migrate(&mut connection).expect("migrate"), MIGRATIONS.len());
        assert_eq!(user_version(&connection), MIGRATIONS.len());
        // Again: nothing to do (a second CREATE TABLE would fail).
        assert_eq!(migrate(&mut connection).expect("migrate"), MIGRATIONS.len());
        let users: i64 = connection
            .query_row("SELECT count(*) FROM users", [], |row| row.get(0))
            .expect("the users table exists");
        assert_eq!(users, 0);
    }

    #[test]
    fn a_database_from_a_newer_program_is_refused_untouched() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let mut connection = open(&dir.path().join("test.sqlite3")).expect("open");
        let future = MIGRATIONS.len() + 1;
        connection
            .pragma_update(None, "user_version", future as i64)
            .expect("set user_version");
        let error = migrate(&mut connection).expect_err("too new");
        assert!(matches!(error, MigrationError::TooNew { found, .. } if found == future));
        assert!(error.to_string().contains("newer"), "{error}");
        assert_eq!(user_version(&connection), future);
    }

    #[test]
    fn the_database_is_in_wal_mode_with_full_sync_and_a_busy_timeout() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let connection = open(&dir.path().join("test.sqlite3")).expect("open");
        let mode: String = connection
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .expect("journal_mode");
        assert_eq!(mode, "wal");
        // synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA.
        let synchronous: i64 = connection
            .query_row("PRAGMA synchronous", [], |row| row.get(0))
            .expect("synchronous");
        assert_eq!(synchronous, 2);
        let busy_timeout: i64 = connection
            .query_row("PRAGMA busy_timeout", [], |row| row.get(0))
            .expect("busy_timeout");
        assert_eq!(busy_timeout, 5000);
    }

    #[test]
    fn a_database_that_cannot_be_in_wal_mode_is_refused() {
        assert!(open(Path::new(":memory:")).is_err());
    }
}
