//! `backend --copy-users-to-postgres` (a build with `--features postgres`
//! only): moves the users from the SQLite file (`DATABASE_PATH`) into an
//! empty PostgreSQL database (`DATABASE_URL`), once, when a service
//! outgrows SQLite (chapter "Outgrowing one VPS").
//!
//! Every user keeps their id, name, password hash and sign-up time, so
//! nothing changes for them: their passwords still log them in, and the
//! tokens they hold (which name them by id, signed with a secret that does
//! not change) still work.
//!
//! The order matters, and each step can stop the copy:
//! 1. read every user from SQLite, read-only ([`sqlite::read_all`]);
//! 2. open PostgreSQL as the server does, which migrates it, and refuse
//!    unless both are at this program's schema version (a copy between two
//!    different schemas could lose or mangle a column);
//! 3. insert them all in one transaction, into an empty table only
//!    ([`PostgresStore::insert_with_ids`]);
//! 4. after the commit, read every user back through the store the server
//!    will use, and compare: the copy is only reported done once it is
//!    seen to be right.

use std::path::Path;

use super::postgres::PostgresStore;
use super::{migrations, sqlite, Store, Username};
use crate::config::DatabaseUrl;

/// Copies every user from the SQLite file at `sqlite_path` into the
/// PostgreSQL database at `url`, and checks the copy. Returns how many
/// users it copied. Every message names the PostgreSQL server without its
/// password (`DatabaseUrl` shows `***`).
pub fn copy_users(sqlite_path: &Path, url: &DatabaseUrl) -> Result<usize, String> {
    let (sqlite_version, users) = sqlite::read_all(sqlite_path)?;
    let known = migrations::MIGRATIONS.len();
    if sqlite_version != known {
        return Err(format!(
            "SQLite at {} is at schema version {sqlite_version}, this program's is {known}: \
             start this version of backend on it once (it migrates at start), then copy",
            sqlite_path.display()
        ));
    }
    // One idle connection is plenty: the copy asks one thing at a time.
    let postgres = PostgresStore::open(url, 1)?;
    let postgres_version = postgres
        .schema_version()
        .map_err(|error| format!("PostgreSQL at {url}: {error}"))?;
    if postgres_version != sqlite_version {
        return Err(format!(
            "PostgreSQL at {url} is at schema version {postgres_version}, \
             SQLite at {sqlite_version}: nothing was copied"
        ));
    }
    postgres
        .insert_with_ids(&users)
        .map_err(|problem| format!("PostgreSQL at {url}: {problem}"))?;
    verify(&postgres, &users)
        .map_err(|problem| format!("PostgreSQL at {url}: the copy was committed, but {problem}"))?;
    Ok(users.len())
}

/// Reads every copied user back, by id and by name, through the store the
/// server will use, and checks there is nobody else: what a login and a
/// token check will find is exactly what SQLite had.
fn verify(postgres: &PostgresStore, users: &[super::User]) -> Result<(), String> {
    let count = postgres
        .count_users()
        .map_err(|error| format!("counting its users failed: {error}"))?;
    if count != users.len() {
        return Err(format!(
            "it has {count} users where SQLite has {}",
            users.len()
        ));
    }
    for user in users {
        let by_id = postgres
            .get(user.id)
            .map_err(|error| format!("reading user {} failed: {error}", user.id))?;
        let by_name = postgres
            .find_by_name(&Username::fold(&user.username))
            .map_err(|error| format!("reading user {} failed: {error}", user.id))?;
        // `User`'s `Debug` never shows the hash, so these messages do not.
        if by_id.as_ref() != Some(user) || by_name.as_ref() != Some(user) {
            return Err(format!(
                "user {} reads back differently: SQLite has {user:?}, \
                 PostgreSQL has {by_id:?} by id and {by_name:?} by name",
                user.id
            ));
        }
    }
    Ok(())
}
