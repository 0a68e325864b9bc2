//! The user API: `POST /api/users` ([`create_user`]) signs up, and
//! `GET /api/users/{id}` ([`get_user`]) reads a user, for a client with a
//! valid token ([`super::auth`]). The sign-up body's type is shared with
//! the login's ([`Credentials`]).
//!
//! Each handler reads typed JSON, checks it, calls the store and the
//! password hasher, and answers typed JSON. The structs below *are* the API:
//! what a client may send, and everything we ever send back.

use serde::{Deserialize, Serialize};

use crate::api::auth::{authenticate, private};
use crate::api::{read_json, ApiError};
use crate::http::Request;
use crate::http::Response;
use crate::http::Status;
use crate::passwords::HashError;
use crate::router::App;
use crate::store::{DatabaseError, StoreError, User, Username};

/// Usernames: this many characters, at least and at most.
pub const USERNAME_LENGTH: std::ops::RangeInclusive<usize> = 3..=32;
/// Passwords: this many bytes. At least 8, because shorter ones fall to
/// guessing whatever the hash; at most 128, because every input gets a cap
/// (up to the 64 KiB body cap, a long "password" would still be read, kept
/// and hashed), and nobody needs more.
pub const PASSWORD_BYTES: std::ops::RangeInclusive<usize> = 8..=128;

// ANCHOR: types
/// What `POST /api/users` and `POST /api/login` accept:
/// `{"username": "...", "password": "..."}`.
///
/// Both fields are optional *here* so that a missing one is ours to report,
/// with a `422` that names it, instead of serde's `400`. Any other field, or
/// a field twice, is a `400` (`deny_unknown_fields`; serde refuses
/// duplicates by itself).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    pub username: Option<String>,
    pub password: Option<String>,
}

/// What `POST /api/users` answers: `{"id": 1, "username": "alice"}`.
#[derive(Serialize)]
struct CreatedUser<'a> {
    id: u64,
    username: &'a str,
}

/// What `GET /api/users/{id}` answers. There is no field for the password
/// hash, so no code path can send it.
#[derive(Serialize)]
pub struct UserView<'a> {
    id: u64,
    username: &'a str,
    /// RFC 3339, in UTC: `2026-12-01T16:48:28Z`.
    created_at: String,
}
// ANCHOR_END: types

// ANCHOR: create_user
/// `POST /api/users`: signs up a new user.
pub fn create_user(request: &Request, app: &App) -> Result<Response, ApiError> {
    let new_user: Credentials = read_json(request)?;
    let username = valid_username(new_user.username)?;
    let password = valid_password(new_user.password)?;
    // The slow part (milliseconds of CPU and 7 MiB of RAM), on a pool
    // worker, never on an event loop: `router::blocks` sends sign-ups to
    // the pool.
    let password_hash = app.passwords.hash(&password).map_err(|error| match error {
        HashError::Busy => ApiError::new(
            Status::ServiceUnavailable,
            "too many sign-ups at once; try again in a second",
        ),
        HashError::Failed(reason) => {
            eprintln!("hashing a password failed: {reason}");
            ApiError::new(Status::InternalServerError, "could not hash the password")
        }
    })?;
    let user = app
        .users
        .insert(&username, &password_hash)
        .map_err(|error| match error {
            StoreError::UsernameTaken => ApiError {
                field: Some("username"),
                ..ApiError::new(Status::Conflict, "username is taken")
            },
            StoreError::Database(error) => database_failed(&error),
        })?;
    let body = CreatedUser {
        id: user.id,
        username: &user.username,
    };
    Ok(Response::json(Status::Created, &body)
        .with_header("Location", &format!("/api/users/{}", user.id)))
}
// ANCHOR_END: create_user

// ANCHOR: get_user
/// `GET /api/users/{id}`: one user, by the id in the path, for anyone who
/// presents a valid token.
pub fn get_user(request: &Request, id: &str, app: &App) -> Result<Response, ApiError> {
    authenticate(request, app)?;
    let found = match parse_id(id) {
        Some(id) => app.users.get(id).map_err(|error| database_failed(&error))?,
        None => None,
    };
    let user = found.ok_or_else(|| ApiError::new(Status::NotFound, "no such user"))?;
    Ok(private(Response::json(Status::Ok, &view(&user))))
}

/// A `500` for a database failure. The details go to the log, for us; the
/// client learns only that it was our fault.
pub fn database_failed(error: &DatabaseError) -> ApiError {
    eprintln!("database error: {error}");
    ApiError::new(Status::InternalServerError, "database error")
}

/// The id in `/api/users/{id}`: decimal digits, as we write them (`7`, not
/// `007` or `+7`), so each user has one URL. Anything else names no user.
fn parse_id(text: &str) -> Option<u64> {
    let id: u64 = text.parse().ok()?;
    (id.to_string() == text).then_some(id)
}

pub fn view(user: &User) -> UserView<'_> {
    UserView {
        id: user.id,
        username: &user.username,
        created_at: user.created_at.clone(),
    }
}
// ANCHOR_END: get_user

// ANCHOR: validation
/// A username we accept, case-folded: 3 to 32 of `a-z`, `0-9`, `_`, `.`,
/// `-`. `Alice` signs up as `alice`, and then `ALICE` is taken. ASCII only,
/// so that no two different-looking names are the same to a human (`а`,
/// Cyrillic, looks like `a`).
fn valid_username(username: Option<String>) -> Result<Username, ApiError> {
    let username = username.ok_or_else(|| ApiError::invalid("username", "username is required"))?;
    let username = Username::fold(&username);
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c);
    if !username.as_str().chars().all(allowed) {
        return Err(ApiError::invalid(
            "username",
            "username may contain only a-z, 0-9, '_', '.' and '-'",
        ));
    }
    if !USERNAME_LENGTH.contains(&username.as_str().len()) {
        return Err(ApiError::invalid(
            "username",
            "username must be 3 to 32 characters long",
        ));
    }
    Ok(username)
}

/// A password we accept: 8 to 128 bytes of anything. The message never
/// repeats the password.
fn valid_password(password: Option<String>) -> Result<String, ApiError> {
    let password = password.ok_or_else(|| ApiError::invalid("password", "password is required"))?;
    if !PASSWORD_BYTES.contains(&password.len()) {
        return Err(ApiError::invalid(
            "password",
            "password must be 8 to 128 bytes long",
        ));
    }
    Ok(password)
}
// ANCHOR_END: validation

#[cfg(test)]
mod tests {
    use super::*;

    fn username(text: &str) -> Result<String, Option<&'static str>> {
        valid_username(Some(text.to_string()))
            .map(|username| username.as_str().to_string())
            .map_err(|error| {
                assert_eq!(error.status, Status::UnprocessableContent);
                error.field
            })
    }

    #[test]
    fn usernames_are_case_folded_and_limited_to_a_small_alphabet() {
        assert_eq!(username("Alice_1.x-y"), Ok("alice_1.x-y".to_string()));
        assert_eq!(username("abc"), Ok("abc".to_string()));
        assert_eq!(username(&"a".repeat(32)), Ok("a".repeat(32)));
        for refused in [
            "ab",
            &"a".repeat(33),
            "",
            "al ice",
            "alice!",
            "аlice",
            "ali\"ce",
        ] {
            assert_eq!(username(refused), Err(Some("username")), "{refused:?}");
        }
        assert_eq!(
            valid_username(None).map_err(|error| error.field),
            Err(Some("username"))
        );
    }

    #[test]
    fn passwords_are_8_to_128_bytes() {
        let password = |text: &str| valid_password(Some(text.to_string()));
        assert!(password("12345678").is_ok());
        assert!(password(&"x".repeat(128)).is_ok());
        // Bytes, not characters: 43 three-byte characters are 129 bytes.
        assert!(password(&"€".repeat(43)).is_err());
        assert!(password(&"€".repeat(42)).is_ok());
        for refused in ["", "1234567", &"x".repeat(129)] {
            let error = password(refused).expect_err("too short or too long");
            assert_eq!(
                (error.status, error.field),
                (Status::UnprocessableContent, Some("password"))
            );
            assert!(refused.is_empty() || !error.message.contains(refused));
        }
        assert_eq!(
            valid_password(None).map_err(|error| error.field),
            Err(Some("password"))
        );
    }

    #[test]
    fn ids_are_canonical_decimal_numbers() {
        assert_eq!(parse_id("7"), Some(7));
        assert_eq!(parse_id("18446744073709551615"), Some(u64::MAX));
        for refused in [
            "",
            "007",
            "+7",
            "-7",
            "7a",
            "abc",
            "18446744073709551616",
            " 7",
        ] {
            assert_eq!(parse_id(refused), None, "{refused:?}");
        }
    }
}
