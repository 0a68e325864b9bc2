//! [`Request`] → [`Response`]: the routing table of this stage, one `match`.
//! The user API (`users.rs`) gets the [`App`] state it needs, and every
//! answer under `/api/` is JSON, errors included.
//!
//! New since stage 08: `POST /api/login` and `GET /api/me` (`auth.rs`), and
//! the token keys in [`App`].

use std::path::PathBuf;

use serde::Serialize;

use crate::auth;
use crate::json::ApiError;
use crate::passwords::Passwords;
use crate::request::Request;
use crate::response::Response;
use crate::static_files::serve_static;
use crate::status::Status;
use crate::store::UserStore;
use crate::tokens::Tokens;
use crate::users;

/// Every method some route of ours answers, for `OPTIONS *`.
const ALL_METHODS: &str = "GET, HEAD, POST";

/// `/api/users/{id}`: this, then the id.
const USER_PATH_PREFIX: &str = "/api/users/";

// ANCHOR: app
/// What the handlers share: the static files, the users, and the password
/// hasher with its cap.
pub struct App {
    /// The static root, absolute and without symlinks (see `serve`).
    pub static_root: PathBuf,
    pub users: UserStore,
    pub passwords: Passwords,
    pub tokens: Tokens,
}
// ANCHOR_END: app

// ANCHOR: status_json
/// What `GET /api/status` answers, now written by serde instead of by hand.
#[derive(Serialize)]
pub struct ServiceStatus {
    pub service: &'static str,
    pub stage: &'static str,
    pub status: &'static str,
}

pub const SERVICE_STATUS: ServiceStatus = ServiceStatus {
    service: "from-socket-to-ship",
    stage: "09",
    status: "ok",
};
// ANCHOR_END: status_json

// ANCHOR: route
/// Picks the handler for a request by its method and path.
///
/// `HEAD` is routed exactly like `GET` (the connection code drops the body),
/// so every `GET` route answers `HEAD` with identical headers for free.
pub fn route(request: &Request, app: &App) -> Response {
    let method = match request.method.as_str() {
        "HEAD" => "GET",
        other => other,
    };
    match (method, request.path.as_str()) {
        // `OPTIONS *`: which methods does this server know at all?
        ("OPTIONS", "*") => Response::text(Status::Ok, "").with_header("Allow", ALL_METHODS),
        ("GET", "/health") => Response::text(Status::Ok, "ok\n"),
        ("GET", "/api/status") => Response::json(Status::Ok, &SERVICE_STATUS),
        ("POST", "/api/echo") => echo(request),
        ("POST", "/api/users") => api(users::create_user(request, app)),
        ("GET", path) if path.starts_with(USER_PATH_PREFIX) => api(users::get_user(
            request,
            &path[USER_PATH_PREFIX.len()..],
            app,
        )),
        ("POST", "/api/login") => api(auth::log_in(request, app)),
        ("GET", "/api/me") => api(auth::me(request, app)),
        // The path exists, the method does not: 405, and `Allow` says which
        // methods would work (HTTP requires the header with a 405).
        (_, "/health") => {
            Response::error(Status::MethodNotAllowed).with_header("Allow", "GET, HEAD")
        }
        (_, "/api/status") => api_method_not_allowed("GET, HEAD"),
        (_, "/api/echo" | "/api/users" | "/api/login") => api_method_not_allowed("POST"),
        (_, "/api/me") => api_method_not_allowed("GET, HEAD"),
        (_, path) if path.starts_with(USER_PATH_PREFIX) => api_method_not_allowed("GET, HEAD"),
        // No other API: a JSON 404, whatever the method.
        (_, path) if path.starts_with("/api/") => {
            api(Err(ApiError::new(Status::NotFound, "no such API endpoint")))
        }
        // Everything else is a file under the static root, or a 404. Files
        // can only be read: any other method is not allowed.
        ("GET", path) => serve_static(&app.static_root, path),
        _ => Response::error(Status::MethodNotAllowed).with_header("Allow", "GET, HEAD"),
    }
}
// ANCHOR_END: route

/// An API handler's answer: its response, or its error as JSON.
fn api(result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(ApiError::into_response)
}

/// `405` as JSON, with the `Allow` header.
fn api_method_not_allowed(allow: &str) -> Response {
    ApiError::new(Status::MethodNotAllowed, "method not allowed")
        .into_response()
        .with_header("Allow", allow)
}

// ANCHOR: echo
/// `POST /api/echo`: sends the request body back, to show bodies arriving.
///
/// Sent as `application/octet-stream` with `nosniff`, so a browser never
/// renders what someone else posted as a page (that would be an XSS hole).
fn echo(request: &Request) -> Response {
    Response::new(Status::Ok, "application/octet-stream", request.body.clone())
        .with_header("X-Content-Type-Options", "nosniff")
}
// ANCHOR_END: echo
