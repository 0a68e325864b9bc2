//! [`UserStore`]: the users, in SQLite: sign-ups, lookups by id and by
//! name, and [`UserStore::ping`] for `/ready`. How the file is opened and
//! its schema migrated is in `migrations.rs`.
//!
//! Every query is parameterised: the SQL is a constant, and the values
//! travel separately (`?1`, `?2`), so no username can ever be read as SQL.
//! `x'); DROP TABLE users;--` is just an odd name (and fails validation in
//! `api/users.rs` long before it gets here).

use std::fmt;
use std::fs::{DirBuilder, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use rusqlite::{params, Connection, OptionalExtension};

mod migrations;

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
    /// RFC 3339 in UTC (`2026-12-01T16:48:28Z`), written by SQLite.
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

// ANCHOR: store_error
/// Why the store could not do what was asked.
#[derive(Debug)]
pub enum StoreError {
    /// The username belongs to someone already (`409 Conflict`).
    UsernameTaken,
    /// The database failed: a full disk, a broken file (`500`).
    Database(rusqlite::Error),
}
// ANCHOR_END: store_error

// ANCHOR: store
/// The users table, and a few open connections to it.
///
/// A SQLite connection must not be used by two threads at once, and opening
/// one for every request would cost a file open and three pragmas each
/// time. So workers borrow a connection from `idle` and put it back: at
/// most one per worker is ever open, since a worker serves one request at a
/// time, and we keep at most `max_idle` of them.
pub struct UserStore {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    max_idle: usize,
}

impl UserStore {
    /// Opens the database at `path` (creating its folder and the file,
    /// readable only by us: it holds password hashes) and brings its schema
    /// up to date.
    /// Called by [`crate::Server::open`], before `main` says it is
    /// listening, so a bad path or a database from a newer version stops
    /// the start, not the first request.
    pub fn open(path: &Path, max_idle: usize) -> Result<UserStore, String> {
        if let Some(folder) = path
            .parent()
            .filter(|folder| !folder.as_os_str().is_empty())
        {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(folder)
                .map_err(|error| format!("cannot create {}: {error}", folder.display()))?;
        }
        create_private_file(path)
            .map_err(|error| format!("cannot create {}: {error}", path.display()))?;
        let mut connection = migrations::open(path).map_err(|error| error.to_string())?;
        migrations::migrate(&mut connection).map_err(|error| error.to_string())?;
        Ok(UserStore {
            path: path.to_path_buf(),
            idle: Mutex::new(vec![connection]),
            max_idle,
        })
    }

    /// Adds a user with the next id, unless the name is taken. `username`
    /// must already be validated and lowercase.
    ///
    /// There is no "is the name free?" query first: between that check and
    /// the insert, another sign-up could take the name. The `UNIQUE`
    /// constraint decides, atomically, inside the database.
    pub fn insert(&self, username: &str, password_hash: &str) -> Result<User, StoreError> {
        let inserted = self.with_connection(|connection| {
            connection
                .prepare_cached(
                    "INSERT INTO users (username, password_hash) VALUES (?1, ?2)
                     RETURNING id, created_at",
                )?
                .query_row(params![username, password_hash], |row| {
                    Ok(User {
                        id: row_id(row.get(0)?)?,
                        username: username.to_string(),
                        password_hash: password_hash.to_string(),
                        created_at: row.get(1)?,
                    })
                })
        });
        inserted.map_err(|error| {
            if is_unique_violation(&error) {
                StoreError::UsernameTaken
            } else {
                StoreError::Database(error)
            }
        })
    }

    /// The user with this id, if there is one.
    pub fn get(&self, id: u64) -> rusqlite::Result<Option<User>> {
        // SQLite's integers are signed: an id beyond i64::MAX names nobody.
        let Ok(id) = i64::try_from(id) else {
            return Ok(None);
        };
        self.find(
            "SELECT id, username, password_hash, created_at FROM users WHERE id = ?1",
            id,
        )
    }

    /// The user with this (lowercase) name, if there is one: for logins.
    pub fn find_by_name(&self, username: &str) -> rusqlite::Result<Option<User>> {
        self.find(
            "SELECT id, username, password_hash, created_at FROM users WHERE username = ?1",
            username,
        )
    }

    /// The one user that `query` (which selects the four columns of a
    /// [`User`]) finds with `parameter`, if any.
    fn find(&self, query: &str, parameter: impl rusqlite::ToSql) -> rusqlite::Result<Option<User>> {
        self.with_connection(|connection| {
            connection
                .prepare_cached(query)?
                .query_row(params![parameter], |row| {
                    Ok(User {
                        id: row_id(row.get(0)?)?,
                        username: row.get(1)?,
                        password_hash: row.get(2)?,
                        created_at: row.get(3)?,
                    })
                })
                .optional()
        })
    }

    // ANCHOR: ping
    /// Does the database answer? A query that touches the users table but
    /// reads no row (there is no user 0), on a pooled connection, for
    /// `/ready`.
    pub fn ping(&self) -> rusqlite::Result<()> {
        self.with_connection(|connection| {
            connection.query_row("SELECT count(*) FROM users WHERE id = 0", [], |_| Ok(()))
        })
    }
    // ANCHOR_END: ping

    /// Runs `work` on an idle connection (or a new one), then keeps the
    /// connection for the next caller.
    fn with_connection<T>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let idle = self.lock().pop();
        let connection = match idle {
            Some(connection) => connection,
            None => migrations::open(&self.path)?,
        };
        let result = work(&connection);
        let mut idle = self.lock();
        if idle.len() < self.max_idle {
            idle.push(connection);
        }
        result
    }

    /// Nothing panics while holding the lock, so even a poisoned lock holds
    /// a usable list.
    fn lock(&self) -> MutexGuard<'_, Vec<Connection>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
// ANCHOR_END: store

/// An id as SQLite stores it (signed) to ours. `INTEGER PRIMARY KEY` ids
/// start at 1 and count up; a negative one means a damaged file: an error,
/// not a panic.
fn row_id(id: i64) -> rusqlite::Result<u64> {
    u64::try_from(id).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(0, id))
}

/// Creates `path` as an empty file only we can read and write (mode 0600),
/// unless it exists already. SQLite makes its `-wal` and `-shm` files with
/// the database file's mode, so they are private too; without this, all
/// three would get the default mode (often 0644: anyone on the machine could
/// read the password hashes).
fn create_private_file(path: &Path) -> std::io::Result<()> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
    }
}

/// Did this statement break a `UNIQUE` constraint?
fn is_unique_violation(error: &rusqlite::Error) -> bool {
    matches!(
        error,
        rusqlite::Error::SqliteFailure(failure, _)
            if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
    )
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

    fn store_in(dir: &tempfile::TempDir) -> UserStore {
        UserStore::open(&dir.path().join("data/users.sqlite3"), 2).expect("open the store")
    }

    #[test]
    fn users_get_ids_from_1_in_order_and_can_be_found_by_id() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let store = store_in(&dir);
        let alice = store.insert("alice", "hash-a").expect("new");
        let bob = store.insert("bob", "hash-b").expect("new");
        assert_eq!((alice.id, bob.id), (1, 2));
        assert_eq!(store.get(1).expect("read"), Some(alice));
        assert_eq!(store.get(2).expect("read"), Some(bob));
        for nobody in [0, 3, i64::MAX as u64, u64::MAX] {
            assert_eq!(store.get(nobody).expect("read"), None, "{nobody}");
        }
    }

    #[test]
    fn users_can_be_found_by_their_lowercase_name() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let store = store_in(&dir);
        let alice = store.insert("alice", "hash").expect("new");
        assert_eq!(store.find_by_name("alice").expect("read"), Some(alice));
        assert_eq!(store.find_by_name("bob").expect("read"), None);
    }

    #[test]
    fn ping_answers_while_the_database_works_and_fails_when_it_does_not() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let store = store_in(&dir);
        assert!(store.ping().is_ok());
        // Break it behind the store's back: the pooled connection goes on
        // working, but the table it needs is gone.
        let other = Connection::open(dir.path().join("data/users.sqlite3")).expect("open");
        other.execute_batch("DROP TABLE users").expect("drop");
        assert!(store.ping().is_err());
    }

    #[test]
    fn a_failing_database_is_an_error_not_a_taken_name() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let store = store_in(&dir);
        let other = Connection::open(dir.path().join("data/users.sqlite3")).expect("open");
        other.execute_batch("DROP TABLE users").expect("drop");
        assert!(matches!(
            store.insert("alice", "hash"),
            Err(StoreError::Database(_))
        ));
    }

    #[test]
    fn at_most_max_idle_connections_are_kept() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let store = UserStore::open(&dir.path().join("users.sqlite3"), 1).expect("open");
        // Two connections in use at once (the inner call finds none idle and
        // opens one); afterwards only one is kept.
        store
            .with_connection(|_| store.with_connection(|_| Ok(())))
            .expect("both work");
        assert_eq!(store.lock().len(), 1);
    }

    #[test]
    fn a_taken_username_is_refused() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let store = store_in(&dir);
        store.insert("alice", "hash").expect("new");
        assert!(matches!(
            store.insert("alice", "other"),
            Err(StoreError::UsernameTaken)
        ));
        assert_eq!(
            store.get(1).expect("read").map(|user| user.password_hash),
            Some("hash".to_string())
        );
    }

    #[test]
    fn users_survive_closing_and_reopening_the_database() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let alice = store_in(&dir).insert("alice", "hash").expect("new");
        // The first store is dropped: its connections are closed.
        assert_eq!(store_in(&dir).get(alice.id).expect("read"), Some(alice));
    }

    #[test]
    fn sql_in_a_username_is_stored_as_a_plain_string() {
        // Validation would refuse this name; the store must be safe anyway.
        let dir = tempfile::tempdir().expect("a temporary folder");
        let store = store_in(&dir);
        let name = "x'); DROP TABLE users;--";
        let user = store.insert(name, "hash").expect("stored");
        assert_eq!(
            store.get(user.id).expect("read").map(|user| user.username),
            Some(name.to_string())
        );
        // The table is still there, and still works.
        assert_eq!(store.insert("bob", "hash").expect("new").id, 2);
    }

    #[test]
    fn created_at_is_rfc3339_in_utc() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let user = store_in(&dir).insert("alice", "hash").expect("new");
        let when = humantime::parse_rfc3339(&user.created_at).expect("RFC 3339");
        let age = std::time::SystemTime::now()
            .duration_since(when)
            .unwrap_or_default();
        assert!(age.as_secs() < 60, "{}", user.created_at);
    }

    #[test]
    fn the_data_folder_is_created_readable_only_by_us() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("a temporary folder");
        store_in(&dir);
        let mode = std::fs::metadata(dir.path().join("data"))
            .expect("the folder exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn the_database_and_its_wal_files_are_readable_only_by_us() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("users.sqlite3");
        let store = UserStore::open(&path, 1).expect("open");
        store
            .insert("alice", "hash")
            .expect("a write makes the -wal file");
        for name in ["users.sqlite3", "users.sqlite3-wal", "users.sqlite3-shm"] {
            let mode = std::fs::metadata(dir.path().join(name))
                .unwrap_or_else(|error| panic!("{name}: {error}"))
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
    }

    #[test]
    fn a_database_path_that_cannot_be_created_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let file = dir.path().join("a-file");
        std::fs::write(&file, "").expect("write");
        let error = UserStore::open(&file.join("users.sqlite3"), 1)
            .err()
            .expect("a file is not a folder");
        assert!(error.contains("a-file"), "{error}");
    }
}
