//! Logging in and proving who you are: `POST /api/login` ([`log_in`]) hands
//! out a token, `GET /api/me` ([`me`]) and every handler that calls
//! [`authenticate`] ask for it. Chapter 9 explains the choices.

use serde::Serialize;

use crate::api::users::{database_failed, view, Credentials, PASSWORD_BYTES};
use crate::api::{read_json, ApiError};
use crate::http::Request;
use crate::http::Response;
use crate::http::Status;
use crate::passwords::Busy;
use crate::router::App;
use crate::store::{User, Username};
use crate::tokens::{presented_token, Presented};

/// The challenge of a `401` when no token was sent: "this API wants a
/// bearer token".
const BEARER: &str = "Bearer";
/// The challenge when a token was sent and refused (RFC 6750, section 3.1).
const BEARER_INVALID_TOKEN: &str = r#"Bearer error="invalid_token""#;

// ANCHOR: login_types
/// What a successful login answers.
#[derive(Serialize)]
struct LoggedIn<'a> {
    token: &'a str,
    /// Always `Bearer`: how to present the token (RFC 6750).
    token_type: &'static str,
    /// Seconds until the token expires.
    expires_in: u64,
}
// ANCHOR_END: login_types

// ANCHOR: log_in
/// `POST /api/login`: checks a username and password, and answers with a
/// token for that user.
///
/// A wrong password and an unknown username get the same `401`, with the
/// same body, after the same work (one argon2 check, against a dummy hash
/// for an unknown name): nothing in the answer, not even its timing, says
/// which usernames exist.
pub fn log_in(request: &Request, app: &App) -> Result<Response, ApiError> {
    let credentials: Credentials = read_json(request)?;
    let username = credentials
        .username
        .ok_or_else(|| ApiError::invalid("username", "username is required"))?;
    let username = Username::fold(&username);
    let password = credentials
        .password
        .ok_or_else(|| ApiError::invalid("password", "password is required"))?;
    // No password we accepted at sign-up is longer than this, so a longer
    // one is wrong without a hash (and every input gets a cap).
    if password.len() > *PASSWORD_BYTES.end() {
        return Err(ApiError::unauthorized("wrong username or password", BEARER));
    }
    let user = app
        .users
        .find_by_name(&username)
        .map_err(|error| database_failed(&error))?;
    let hash = user.as_ref().map(|user| user.password_hash.as_str());
    let verified = app.passwords.verify(&password, hash).map_err(|Busy| {
        ApiError::new(
            Status::ServiceUnavailable,
            "too many logins at once; try again in a second",
        )
    })?;
    let (Some(user), true) = (user, verified) else {
        return Err(ApiError::unauthorized("wrong username or password", BEARER));
    };
    let issued = app.tokens.issue(user.id).map_err(|reason| {
        eprintln!("signing a token failed: {reason}");
        ApiError::new(Status::InternalServerError, "could not make a token")
    })?;
    let body = LoggedIn {
        token: &issued.token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
    };
    // A token is a password for an hour: no cache may keep a copy.
    Ok(private(Response::json(Status::Ok, &body)))
}
// ANCHOR_END: log_in

// ANCHOR: me
/// `GET /api/me`: the user the token belongs to.
pub fn me(request: &Request, app: &App) -> Result<Response, ApiError> {
    let user = authenticate(request, app)?;
    Ok(private(Response::json(Status::Ok, &view(&user))))
}
// ANCHOR_END: me

/// An answer for one user's eyes: no cache, not even the browser's, may
/// keep a copy of it.
pub fn private(response: Response) -> Response {
    response.with_header("Cache-Control", "no-store")
}

// ANCHOR: authenticate
/// The user who sent `request`, if it carries a valid token for a user
/// who still exists; otherwise the `401` to answer.
///
/// The client learns only "no token" or "invalid token"; why a token was
/// refused (expired, tampered with, another algorithm) goes to the log.
pub fn authenticate(request: &Request, app: &App) -> Result<User, ApiError> {
    let token = match presented_token(request) {
        Presented::Token(token) => token,
        Presented::Nothing => {
            return Err(ApiError::unauthorized("a bearer token is required", BEARER));
        }
    };
    let invalid = || ApiError::unauthorized("the token is not valid", BEARER_INVALID_TOKEN);
    let user_id = app.tokens.check(token).map_err(|refused| {
        eprintln!("token refused: {}", refused.0);
        invalid()
    })?;
    // A valid signature from a user who is gone (deleted, or a database
    // that was reset) proves nothing about anyone who exists now.
    app.users
        .get(user_id)
        .map_err(|error| database_failed(&error))?
        .ok_or_else(|| {
            eprintln!("token refused: user {user_id} does not exist");
            invalid()
        })
}
// ANCHOR_END: authenticate
