//! [`Request`] → [`Response`]: the routing table of this stage, one `match`.
//! New since stage 03: whatever no API route claims is a static file.

use std::path::Path;

use crate::request::Request;
use crate::response::Response;
use crate::static_files::serve_static;
use crate::status::Status;

/// What `GET /api/status` answers. Hand-written JSON until stage 07.
pub const STATUS_JSON: &str = r#"{"service":"from-socket-to-ship","stage":"04","status":"ok"}"#;

/// Every method some route of ours answers, for `OPTIONS *`.
const ALL_METHODS: &str = "GET, HEAD, POST";

// ANCHOR: route
/// Picks the handler for a request by its method and path.
///
/// `HEAD` is routed exactly like `GET` (the connection code drops the body),
/// so every `GET` route answers `HEAD` with identical headers for free.
pub fn route(request: &Request, static_root: &Path) -> Response {
    let method = match request.method.as_str() {
        "HEAD" => "GET",
        other => other,
    };
    match (method, request.path.as_str()) {
        // `OPTIONS *`: which methods does this server know at all?
        ("OPTIONS", "*") => Response::text(Status::Ok, "").with_header("Allow", ALL_METHODS),
        ("GET", "/health") => Response::text(Status::Ok, "ok\n"),
        ("GET", "/api/status") => Response::json(Status::Ok, STATUS_JSON),
        ("POST", "/api/echo") => echo(request),
        // The path exists, the method does not: 405, and `Allow` says which
        // methods would work (HTTP requires the header with a 405).
        (_, "/health" | "/api/status") => method_not_allowed("GET, HEAD"),
        (_, "/api/echo") => method_not_allowed("POST"),
        // Everything else is a file under the static root, or a 404. Files
        // can only be read: any other method is not allowed.
        ("GET", path) => serve_static(static_root, path),
        _ => method_not_allowed("GET, HEAD"),
    }
}
// ANCHOR_END: route

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

fn method_not_allowed(allow: &str) -> Response {
    Response::error(Status::MethodNotAllowed).with_header("Allow", allow)
}
