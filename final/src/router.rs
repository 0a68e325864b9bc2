//! [`Request`] → [`Response`]: the routing table, one `match`, and
//! [`blocks`], which says which requests the event loop hands to the pool.
//! Every answer under `/api/` is JSON, errors included; the API describes
//! itself at `/api/openapi.json` (OpenAPI 3.1, `final/openapi.json`).

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use crate::api::auth;
use crate::api::users;
use crate::api::ApiError;
use crate::event_loop::connections::Connections;
use crate::http::Request;
use crate::http::Response;
use crate::http::Status;
use crate::metrics::{Gauges, Metrics};
use crate::passwords::Passwords;
use crate::pool::QueueDepth;
use crate::static_files::serve_static;
use crate::store::Store;
use crate::tokens::Tokens;

/// Every method some route of ours answers, for `OPTIONS *`.
const ALL_METHODS: &str = "GET, HEAD, POST";

/// `/api/users/{id}`: this, then the id.
const USER_PATH_PREFIX: &str = "/api/users/";
/// The name of that route, in the metrics.
/// (`:id` rather than `{id}`: braces inside a label value are valid in
/// Prometheus's format, but some parsers of it choke on them.)
const USER_ROUTE: &str = "/api/users/:id";

/// The routes with a fixed path: the path is the route's name.
const FIXED_ROUTES: [&str; 9] = [
    "/health",
    "/ready",
    "/metrics",
    "/api/status",
    "/api/echo",
    "/api/users",
    "/api/login",
    "/api/me",
    "/api/openapi.json",
];

// ANCHOR: openapi
/// The API's description, OpenAPI 3.1, built into the binary: what the
/// running server serves is what its source says.
const OPENAPI: &str = include_str!("../openapi.json");
// ANCHOR_END: openapi

// ANCHOR: app
/// What the handlers share: the static files, the users, and the password
/// hasher with its cap.
pub struct App {
    /// The static root, absolute and without symlinks (see
    /// [`crate::Server::open`]).
    pub static_root: PathBuf,
    /// The users: SQLite or PostgreSQL, whichever the configuration named
    /// (see [`crate::store::open`]).
    pub users: Box<dyn Store>,
    pub passwords: Passwords,
    pub tokens: Tokens,
    /// The request counters, for `/metrics`.
    pub metrics: Metrics,
    /// How many connections are open, and how many jobs wait for the pool:
    /// read by `/metrics`.
    pub connections: Arc<Connections>,
    pub queue_depth: QueueDepth,
}
// ANCHOR_END: app

// ANCHOR: status_json
/// What `GET /api/status` answers, written by serde.
#[derive(Serialize)]
pub struct ServiceStatus {
    pub service: &'static str,
    pub stage: &'static str,
    pub status: &'static str,
}

pub const SERVICE_STATUS: ServiceStatus = ServiceStatus {
    service: "from-socket-to-ship",
    stage: "final",
    status: "ok",
};
// ANCHOR_END: status_json

// ANCHOR: route
/// Picks the handler for a request by its method and path, and names the
/// route it took, for the metrics: the route's pattern (`/api/users/:id`),
/// never the path itself, so there is one name per route, not one per user.
///
/// `HEAD` is routed exactly like `GET` (`Response::encode` drops the body),
/// so every `GET` route answers `HEAD` with identical headers for free.
pub fn route(request: &Request, app: &App) -> (&'static str, Response) {
    let method = match request.method.as_str() {
        "HEAD" => "GET",
        other => other,
    };
    match (method, request.path.as_str()) {
        // `OPTIONS *`: which methods does this server know at all?
        ("OPTIONS", "*") => (
            "*",
            Response::text(Status::Ok, "").with_header("Allow", ALL_METHODS),
        ),
        // Liveness: the process is up and answering. Touches nothing else,
        // so a slow database never makes a supervisor restart us.
        ("GET", "/health") => ("/health", Response::text(Status::Ok, "ok\n")),
        ("GET", "/ready") => ("/ready", api(ready(app))),
        ("GET", "/metrics") => ("/metrics", metrics_page(app)),
        ("GET", "/api/status") => ("/api/status", Response::json(Status::Ok, &SERVICE_STATUS)),
        ("GET", "/api/openapi.json") => (
            "/api/openapi.json",
            Response::new(Status::Ok, "application/json", OPENAPI),
        ),
        ("POST", "/api/echo") => ("/api/echo", echo(request)),
        ("POST", "/api/users") => ("/api/users", api(users::create_user(request, app))),
        ("GET", path) if path.starts_with(USER_PATH_PREFIX) => {
            let id = &path[USER_PATH_PREFIX.len()..];
            (USER_ROUTE, api(users::get_user(request, id, app)))
        }
        ("POST", "/api/login") => ("/api/login", api(auth::log_in(request, app))),
        ("GET", "/api/me") => ("/api/me", api(auth::me(request, app))),
        // The path exists, the method does not: 405, and `Allow` says which
        // methods would work (HTTP requires the header with a 405).
        (_, path @ ("/health" | "/ready" | "/metrics")) => (
            known_route(path),
            Response::error(Status::MethodNotAllowed).with_header("Allow", "GET, HEAD"),
        ),
        (_, path @ ("/api/status" | "/api/me" | "/api/openapi.json")) => {
            (known_route(path), api_method_not_allowed("GET, HEAD"))
        }
        (_, path @ ("/api/echo" | "/api/users" | "/api/login")) => {
            (known_route(path), api_method_not_allowed("POST"))
        }
        (_, path) if path.starts_with(USER_PATH_PREFIX) => {
            (USER_ROUTE, api_method_not_allowed("GET, HEAD"))
        }
        // No other API: a JSON 404, whatever the method.
        (_, path) if path.starts_with("/api/") => (
            "/api/*",
            api(Err(ApiError::new(Status::NotFound, "no such API endpoint"))),
        ),
        // Everything else is a file under the static root, or a 404. Files
        // can only be read: any other method is not allowed.
        ("GET", path) => ("static", serve_static(&app.static_root, path)),
        _ => (
            "static",
            Response::error(Status::MethodNotAllowed).with_header("Allow", "GET, HEAD"),
        ),
    }
}
// ANCHOR_END: route

// ANCHOR: blocks
/// Does answering `request` wait for something slower than the CPU: a
/// password hash (tens of milliseconds), the database (a lock, a disk
/// sync), or the file system (opening a file, which may read the disk)?
///
/// The event loop answers everything else itself, at once. What blocks
/// goes to the pool, because a loop that waits stops every connection it
/// owns. When in doubt a route belongs here: on the pool, a slow answer
/// costs one worker; on the loop, it costs everyone.
pub fn blocks(request: &Request) -> bool {
    let method = match request.method.as_str() {
        "HEAD" => "GET",
        other => other,
    };
    match (method, request.path.as_str()) {
        // In memory: the loop answers.
        ("GET", "/health" | "/metrics" | "/api/status" | "/api/openapi.json")
        | ("POST", "/api/echo") => false,
        // The database (readiness pings it), or argon2 and the database.
        ("GET", "/ready" | "/api/me") | ("POST", "/api/users" | "/api/login") => true,
        ("GET", path) if path.starts_with(USER_PATH_PREFIX) => true,
        // Every other API answer is an error made in memory (404, 405).
        (_, path) if path.starts_with("/api/") => false,
        // Any other GET is a file: the disk.
        ("GET", _) => true,
        // `OPTIONS *`, and 405 for other methods on files.
        _ => false,
    }
}
// ANCHOR_END: blocks

/// The `'static` name of a fixed route, from the request's path.
fn known_route(path: &str) -> &'static str {
    FIXED_ROUTES
        .into_iter()
        .find(|route| *route == path)
        .unwrap_or("static")
}

// ANCHOR: ready
/// `GET /ready`, readiness: can we serve real requests right now? Asks the
/// database for the simplest possible answer. A load balancer sends traffic
/// only to instances that are ready; unlike `/health`, a failing `/ready`
/// is a reason to wait, not to restart.
fn ready(app: &App) -> Result<Response, ApiError> {
    match app.users.ping() {
        Ok(()) => Ok(Response::json(Status::Ok, &Ready { status: "ready" })),
        Err(error) => {
            eprintln!("not ready: database error: {error}");
            Err(ApiError::new(
                Status::ServiceUnavailable,
                "the database is not answering",
            ))
        }
    }
}

#[derive(Serialize)]
struct Ready {
    status: &'static str,
}
// ANCHOR_END: ready

// ANCHOR: metrics_page
/// `GET /metrics`: the counters, and the gauges read right now.
fn metrics_page(app: &App) -> Response {
    let gauges = Gauges {
        open_connections: app.connections.count(),
        queued_jobs: app.queue_depth.get(),
        hashes_in_flight: app.passwords.running(),
    };
    let page = app.metrics.render(gauges, SERVICE_STATUS.stage);
    Response::new(Status::Ok, "text/plain; version=0.0.4; charset=utf-8", page)
}
// ANCHOR_END: metrics_page

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
