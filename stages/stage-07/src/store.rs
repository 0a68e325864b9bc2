//! [`UserStore`]: the users, in memory, behind a lock. (New in stage 07.)
//!
//! Shortcut: everything here is lost when the process stops. Stage 08 keeps
//! the users in SQLite instead, behind the same two methods.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

// ANCHOR: user
/// A user as we store it. Only the hash of the password, never the
/// password; and the hash never leaves the server (the JSON views of a
/// user in `users.rs` have no field for it).
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub id: u64,
    /// Lowercase: usernames are compared case-folded.
    pub username: String,
    /// A PHC string (`$argon2id$v=19$...`), see `passwords.rs`.
    pub password_hash: String,
    pub created_at: SystemTime,
}
// ANCHOR_END: user

// ANCHOR: user_debug
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
// ANCHOR_END: user_debug

/// The username belongs to someone already (`409 Conflict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsernameTaken;

// ANCHOR: store
/// Every user, by id and by name. One lock around both, so a name and its id
/// are always added together: two sign-ups racing for the same name cannot
/// both win.
#[derive(Debug, Default)]
pub struct UserStore {
    users: Mutex<Users>,
}

#[derive(Debug, Default)]
struct Users {
    /// User `id` is at index `id - 1`: ids count up from 1, and users are
    /// never deleted (yet).
    by_id: Vec<User>,
    id_by_name: HashMap<String, u64>,
}

impl UserStore {
    pub fn new() -> UserStore {
        UserStore::default()
    }

    /// Adds a user with the next id, unless the name is taken. `username`
    /// must already be validated and lowercase.
    pub fn insert(&self, username: &str, password_hash: String) -> Result<User, UsernameTaken> {
        let mut users = self.lock();
        if users.id_by_name.contains_key(username) {
            return Err(UsernameTaken);
        }
        let user = User {
            id: users.by_id.len() as u64 + 1,
            username: username.to_string(),
            password_hash,
            created_at: SystemTime::now(),
        };
        users.id_by_name.insert(user.username.clone(), user.id);
        users.by_id.push(user.clone());
        Ok(user)
    }

    /// The user with this id, if there is one.
    pub fn get(&self, id: u64) -> Option<User> {
        let index = usize::try_from(id.checked_sub(1)?).ok()?;
        self.lock().by_id.get(index).cloned()
    }

    /// Nothing panics while holding the lock, so even a poisoned lock holds
    /// a consistent store.
    fn lock(&self) -> MutexGuard<'_, Users> {
        self.users.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
// ANCHOR_END: store

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_password_hash() {
        let user = User {
            id: 1,
            username: "alice".to_string(),
            password_hash: "$argon2id$v=19$secret".to_string(),
            created_at: SystemTime::UNIX_EPOCH,
        };
        let shown = format!("{user:?}");
        assert!(shown.contains("alice"), "{shown}");
        assert!(!shown.contains("argon2id"), "{shown}");
    }

    #[test]
    fn users_get_ids_from_1_in_order_and_can_be_found_by_id() {
        let store = UserStore::new();
        let alice = store.insert("alice", "hash-a".to_string()).expect("new");
        let bob = store.insert("bob", "hash-b".to_string()).expect("new");
        assert_eq!((alice.id, bob.id), (1, 2));
        assert_eq!(store.get(1), Some(alice));
        assert_eq!(store.get(2), Some(bob));
        assert_eq!(store.get(0), None);
        assert_eq!(store.get(3), None);
        assert_eq!(store.get(u64::MAX), None);
    }

    #[test]
    fn a_taken_username_is_refused_and_uses_no_id() {
        let store = UserStore::new();
        store.insert("alice", "hash".to_string()).expect("new");
        assert_eq!(
            store.insert("alice", "other".to_string()),
            Err(UsernameTaken)
        );
        assert_eq!(store.insert("bob", "hash".to_string()).map(|u| u.id), Ok(2));
    }
}
