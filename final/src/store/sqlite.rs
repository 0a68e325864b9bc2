//! [`SqliteStore`]: the users in an SQLite file, the default store. How
//! the file is opened and its schema migrated is in `migrations.rs`.

use std::fs::{DirBuilder, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};

use super::idle::Idle;
use super::{migrations, row_id, stored_id, DatabaseError, Store, StoreError, User, Username};

// ANCHOR: store
/// The users table, and a few open connections to it ([`Idle`]): at most
/// one per worker is ever open, since a worker serves one request at a
/// time, and we keep at most `max_idle` of them.
pub struct SqliteStore {
    path: PathBuf,
    idle: Idle<Connection>,
}

impl SqliteStore {
    /// Opens the database at `path` (creating its folder and the file,
    /// readable only by us: it holds password hashes) and brings its schema
    /// up to date.
    pub fn open(path: &Path, max_idle: usize) -> Result<SqliteStore, String> {
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
        Ok(SqliteStore {
            path: path.to_path_buf(),
            idle: Idle::new(connection, max_idle),
        })
    }

    /// The one user that `query` (which selects the four columns of a
    /// [`User`]) finds with `parameter`, if any.
    fn find(
        &self,
        query: &str,
        parameter: impl rusqlite::ToSql,
    ) -> Result<Option<User>, DatabaseError> {
        let found = self.with_connection(|connection| {
            connection
                .prepare_cached(query)?
                .query_row(params![parameter], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                })
                .optional()
        })?;
        found
            .map(|(id, username, password_hash, created_at)| {
                Ok(User {
                    id: row_id(id)?,
                    username,
                    password_hash,
                    created_at,
                })
            })
            .transpose()
    }

    /// Runs `work` on an idle connection (or a new one), then keeps the
    /// connection for the next caller.
    fn with_connection<T>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let connection = match self.idle.take() {
            Some(connection) => connection,
            None => migrations::open(&self.path)?,
        };
        let result = work(&connection);
        self.idle.put_back(connection);
        result
    }
}

impl Store for SqliteStore {
    fn insert(&self, username: &Username, password_hash: &str) -> Result<User, StoreError> {
        let inserted = self.with_connection(|connection| {
            connection
                .prepare_cached(
                    "INSERT INTO users (username, password_hash) VALUES (?1, ?2)
                     RETURNING id, created_at",
                )?
                .query_row(params![username.as_str(), password_hash], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
        });
        match inserted {
            Ok((id, created_at)) => Ok(User {
                id: row_id(id)?,
                username: username.as_str().to_string(),
                password_hash: password_hash.to_string(),
                created_at,
            }),
            Err(error) if is_unique_violation(&error) => Err(StoreError::UsernameTaken),
            Err(error) => Err(StoreError::Database(error.into())),
        }
    }

    fn get(&self, id: u64) -> Result<Option<User>, DatabaseError> {
        let Some(id) = stored_id(id) else {
            return Ok(None);
        };
        self.find(
            "SELECT id, username, password_hash, created_at FROM users WHERE id = ?1",
            id,
        )
    }

    fn find_by_name(&self, username: &Username) -> Result<Option<User>, DatabaseError> {
        self.find(
            "SELECT id, username, password_hash, created_at FROM users WHERE username = ?1",
            username.as_str(),
        )
    }

    // ANCHOR: ping
    /// There is no user 0: the query touches the table and reads no row.
    fn ping(&self) -> Result<(), DatabaseError> {
        self.with_connection(|connection| {
            connection.query_row("SELECT count(*) FROM users WHERE id = 0", [], |_| Ok(()))
        })?;
        Ok(())
    }
    // ANCHOR_END: ping
}
// ANCHOR_END: store

// ANCHOR: read_all
/// Every user in the SQLite file at `path`, by id, and the schema version
/// the file is at: what `backend --copy-users-to-postgres` copies
/// (`copy.rs`). Not a [`Store`] method: the API never lists all users.
///
/// The file is opened read-only, so the copy can never change the data it
/// copies from, and it is not migrated: a file at another version than
/// this program's is the caller's to refuse. A file that does not exist is
/// an error (a read-write open would quietly create an empty one, and we
/// would "copy" nobody). Both are read in one read transaction, so they are
/// one moment's state, even if something wrote to the file meanwhile.
#[cfg(feature = "postgres")]
pub fn read_all(path: &Path) -> Result<(usize, Vec<User>), String> {
    use rusqlite::OpenFlags;
    let problem = |error: rusqlite::Error| format!("SQLite at {}: {error}", path.display());
    let mut connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(problem)?;
    connection
        .busy_timeout(migrations::BUSY_TIMEOUT)
        .map_err(problem)?;
    // A deferred transaction takes its snapshot at the first read; both
    // reads below then see the same one.
    let transaction = connection.transaction().map_err(problem)?;
    let version: i64 = transaction
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(problem)?;
    let version = usize::try_from(version).unwrap_or(usize::MAX);
    if version == 0 {
        // An empty file, or one that is not ours: there is no users table.
        return Ok((version, Vec::new()));
    }
    let mut statement = transaction
        .prepare("SELECT id, username, password_hash, created_at FROM users ORDER BY id")
        .map_err(problem)?;
    let rows = statement
        .query_map([], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })
        .map_err(problem)?;
    let mut users = Vec::new();
    for row in rows {
        let (id, username, password_hash, created_at) = row.map_err(problem)?;
        users.push(User {
            id: row_id(id).map_err(|error| error.to_string())?,
            username,
            password_hash,
            created_at,
        });
    }
    Ok((version, users))
}
// ANCHOR_END: read_all

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

/// What only SQLite has: files, their modes, and a database broken behind
/// the store's back. What every store must do is in `tests/store.rs`.
#[cfg(test)]
mod tests {
    use super::*;

    fn store_in(dir: &tempfile::TempDir) -> SqliteStore {
        SqliteStore::open(&dir.path().join("data/users.sqlite3"), 2).expect("open the store")
    }

    fn name(text: &str) -> Username {
        Username::fold(text)
    }

    #[test]
    fn users_get_ids_from_1_in_order() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let store = store_in(&dir);
        let alice = store.insert(&name("alice"), "hash-a").expect("new");
        let bob = store.insert(&name("bob"), "hash-b").expect("new");
        assert_eq!((alice.id, bob.id), (1, 2));
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
            store.insert(&name("alice"), "hash"),
            Err(StoreError::Database(_))
        ));
    }

    #[test]
    fn at_most_max_idle_connections_are_kept() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let store = SqliteStore::open(&dir.path().join("users.sqlite3"), 1).expect("open");
        // Two connections in use at once (the inner call finds none idle and
        // opens one); afterwards only one is kept.
        store
            .with_connection(|_| store.with_connection(|_| Ok(())))
            .expect("both work");
        assert_eq!(store.idle.len(), 1);
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
        let store = SqliteStore::open(&path, 1).expect("open");
        store
            .insert(&name("alice"), "hash")
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
        let error = SqliteStore::open(&file.join("users.sqlite3"), 1)
            .err()
            .expect("a file is not a folder");
        assert!(error.contains("a-file"), "{error}");
    }
}
