//! [`Status`]: the status codes this server sends, as a type.
//!
//! A status code is not just any number. If it were a `u16`, a typo such as
//! `Response::error(4040)` would compile and go out on the wire with a made-up
//! reason phrase. As an enum, only the codes listed here exist, and the
//! compiler checks that each one has its reason phrase. (httparse does the
//! same on the reading side: its `Status` and `Error` are types, not numbers.)
//!
//! `InternalServerError` is for the failures that are ours: the OS gives us
//! no random bytes for a salt, or the database fails. `Unauthorized` (401)
//! is for a wrong password and for a request without a valid token.

// ANCHOR: status
/// Every status code this server sends. `Status::NotFound.code()` is `404`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Created,
    MovedPermanently,
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    Conflict,
    LengthRequired,
    ContentTooLarge,
    UriTooLong,
    UnsupportedMediaType,
    UnprocessableContent,
    RequestHeaderFieldsTooLarge,
    InternalServerError,
    NotImplemented,
    ServiceUnavailable,
}

impl Status {
    /// The number on the wire: `404`.
    pub fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::Created => 201,
            Status::MovedPermanently => 301,
            Status::BadRequest => 400,
            Status::Unauthorized => 401,
            Status::Forbidden => 403,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::RequestTimeout => 408,
            Status::Conflict => 409,
            Status::LengthRequired => 411,
            Status::ContentTooLarge => 413,
            Status::UriTooLong => 414,
            Status::UnsupportedMediaType => 415,
            Status::UnprocessableContent => 422,
            Status::RequestHeaderFieldsTooLarge => 431,
            Status::InternalServerError => 500,
            Status::NotImplemented => 501,
            Status::ServiceUnavailable => 503,
        }
    }

    /// The reason phrase that follows the number: `Not Found`.
    pub fn reason(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Created => "Created",
            Status::MovedPermanently => "Moved Permanently",
            Status::BadRequest => "Bad Request",
            Status::Unauthorized => "Unauthorized",
            Status::Forbidden => "Forbidden",
            Status::NotFound => "Not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::RequestTimeout => "Request Timeout",
            Status::Conflict => "Conflict",
            Status::LengthRequired => "Length Required",
            Status::ContentTooLarge => "Content Too Large",
            Status::UriTooLong => "URI Too Long",
            Status::UnsupportedMediaType => "Unsupported Media Type",
            // RFC 9110's name for what RFC 4918 called "Unprocessable Entity".
            Status::UnprocessableContent => "Unprocessable Content",
            Status::RequestHeaderFieldsTooLarge => "Request Header Fields Too Large",
            Status::InternalServerError => "Internal Server Error",
            Status::NotImplemented => "Not Implemented",
            Status::ServiceUnavailable => "Service Unavailable",
        }
    }
}
// ANCHOR_END: status
