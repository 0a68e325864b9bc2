//! The JSON API: [`users`] (sign up, read a user) and [`auth`] (log in, "who
//! am I", the bearer check). Here, what they share: [`read_json`] turns a
//! request body into a typed value, and [`ApiError`], the API's one error
//! type, turns any failure into its status code and a JSON body (with a
//! `WWW-Authenticate` challenge for a `401`).

pub mod auth;
pub mod users;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::error::Category;

use crate::http::{Request, Response, Status};

// ANCHOR: api_error
/// An error answered as `{"error": "...", "field": "..."}`: every error
/// under `/api/` is JSON, so a client can always parse what it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: Status,
    pub message: String,
    /// Which field of the request body the error is about, if any.
    pub field: Option<&'static str>,
    /// For a `401`: the `WWW-Authenticate` challenge, which tells the
    /// client how to authenticate (HTTP requires one with every 401).
    pub challenge: Option<&'static str>,
}

/// The body of an error response.
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ApiError {
    pub fn new(status: Status, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            field: None,
            challenge: None,
        }
    }

    /// `401`, with this challenge: `Bearer`, or `Bearer
    /// error="invalid_token"` when the token sent was not good (RFC 6750).
    pub fn unauthorized(message: impl Into<String>, challenge: &'static str) -> ApiError {
        ApiError {
            challenge: Some(challenge),
            ..ApiError::new(Status::Unauthorized, message)
        }
    }

    /// `422`: the body was well-formed, but this field's value is refused.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            field: Some(field),
            ..ApiError::new(Status::UnprocessableContent, message)
        }
    }

    pub fn into_response(self) -> Response {
        let body = ErrorBody {
            error: &self.message,
            field: self.field,
        };
        let response = Response::json(self.status, &body);
        // A 503 says when to come back; a 401 says how to authenticate.
        let response = if self.status == Status::ServiceUnavailable {
            response.with_header("Retry-After", "1")
        } else {
            response
        };
        match self.challenge {
            Some(challenge) => response.with_header("WWW-Authenticate", challenge),
            None => response,
        }
    }
}
// ANCHOR_END: api_error

// ANCHOR: read_json
/// Reads the body of `request` as a `T`, or says why it cannot:
///
/// - `415` if the body is not declared as `application/json`;
/// - `400` if it is not a JSON object of the right shape: malformed JSON,
///   another JSON value, a field of the wrong type, an unknown field, or
///   the same field twice;
///
/// The body's size was capped when it was read (`MAX_BODY_BYTES`, `413`).
/// Checking the values (`422`) is the caller's job.
pub fn read_json<T: DeserializeOwned>(request: &Request) -> Result<T, ApiError> {
    if !declares_json(request.header("content-type")) {
        return Err(ApiError::new(
            Status::UnsupportedMediaType,
            "the body must be JSON, sent with Content-Type: application/json",
        ));
    }
    // serde would also fill a struct from an array of its fields in order
    // (`["alice", "secret"]`). We want objects with named fields only.
    let first_byte = request
        .body
        .iter()
        .find(|byte| !matches!(byte, b' ' | b'\t' | b'\r' | b'\n'));
    if first_byte != Some(&b'{') {
        return Err(ApiError::new(
            Status::BadRequest,
            "the body must be a JSON object",
        ));
    }
    serde_json::from_slice(&request.body).map_err(|error| {
        let message = match error.classify() {
            // serde's messages for a value of the wrong type quote the
            // value, and the value may be a password: never echo it.
            Category::Data if error.to_string().starts_with("invalid") => format!(
                "a value has the wrong type at line {} column {}",
                error.line(),
                error.column()
            ),
            // "unknown field `usrname`", "duplicate field `password`".
            Category::Data => error.to_string(),
            // "expected `,` or `}` at line 1 column 12", "EOF while parsing
            // an object", "recursion limit exceeded": about the syntax,
            // never a value.
            Category::Syntax | Category::Eof | Category::Io => {
                format!("malformed JSON: {error}")
            }
        };
        ApiError::new(Status::BadRequest, message)
    })
}
// ANCHOR_END: read_json

/// Is this `Content-Type` JSON? `application/json`, in any case, with or
/// without parameters such as `; charset=utf-8`.
fn declares_json(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|value| {
        let media_type = value.split(';').next().unwrap_or_default();
        media_type.trim().eq_ignore_ascii_case("application/json")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Body;

    // ANCHOR: by_hand
    /// The trap, kept compiling to show it: JSON written with `format!`, by
    /// hand. Fine for `{"error":"no such user"}`; broken the
    /// moment the message holds a `"`, and our messages quote what the
    /// client sent (`unknown field `...``).
    fn error_json_by_hand(message: &str) -> String {
        format!(r#"{{"error":"{message}"}}"#)
    }

    #[test]
    fn json_written_by_hand_breaks_on_a_quote_and_serde_does_not() {
        let message = r#"unknown field `x","admin":true,"y":"`"#;
        // By hand: the client's quote ends our string early, and the rest
        // of what it sent becomes JSON of its own, an `admin` field.
        let by_hand: serde_json::Value =
            serde_json::from_str(&error_json_by_hand(message)).expect("valid JSON, sadly");
        assert_eq!(by_hand["admin"], true);
        // With serde: one string, exactly the message, escaped.
        let response = ApiError::new(Status::BadRequest, message).into_response();
        let Body::Bytes(bytes) = response.body else {
            panic!("an error body is bytes");
        };
        let with_serde: serde_json::Value = serde_json::from_slice(&bytes).expect("valid JSON");
        assert_eq!(with_serde["error"], message);
        assert_eq!(with_serde.get("admin"), None);
    }
    // ANCHOR_END: by_hand

    #[test]
    fn json_is_recognised_with_parameters_and_in_any_case() {
        assert!(declares_json(Some("application/json")));
        assert!(declares_json(Some("Application/JSON; charset=utf-8")));
        assert!(declares_json(Some(" application/json ;charset=utf-8")));
        assert!(!declares_json(None));
        assert!(!declares_json(Some("")));
        assert!(!declares_json(Some("text/plain")));
        assert!(!declares_json(Some("application/jsonx")));
        assert!(!declares_json(Some("application/x-www-form-urlencoded")));
    }
}
