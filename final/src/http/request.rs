//! [`Request`]: one HTTP request, as the rest of the server sees it, made
//! by the [parser](super::parser).

// ANCHOR: request
/// One HTTP request, as the rest of the server sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `POST`, … exactly as sent (methods are case-sensitive).
    pub method: String,
    /// The path part of the target, from the first `/`: `/api/status`.
    pub path: String,
    /// What came after `?`, if anything (not decoded).
    pub query: Option<String>,
    /// The `1` of `HTTP/1.1` (or `0` for `HTTP/1.0`).
    pub minor_version: u8,
    /// Header lines in the order they arrived. Values that are not UTF-8
    /// (rare, but legal) are converted lossily: we never route on them.
    pub headers: Vec<(String, String)>,
    /// The body: `Content-Length` bytes, or the chunks joined (empty
    /// without either).
    pub body: Vec<u8>,
}

impl Request {
    /// The value of the first header called `name`. Header names are
    /// case-insensitive: `content-length` and `Content-Length` are the same.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    // ANCHOR: wants_keep_alive
    /// Does the client want to send more requests on this connection?
    ///
    /// HTTP/1.1 connections stay open unless the client says
    /// `Connection: close`; HTTP/1.0 connections close unless it says
    /// `Connection: keep-alive`. The header is a comma-separated list of
    /// case-insensitive tokens (`Connection: keep-alive, Upgrade`).
    pub fn wants_keep_alive(&self) -> bool {
        let has_token = |wanted: &str| {
            self.headers
                .iter()
                .filter(|(name, _)| name.eq_ignore_ascii_case("connection"))
                .flat_map(|(_, value)| value.split(','))
                .any(|token| token.trim().eq_ignore_ascii_case(wanted))
        };
        if self.minor_version >= 1 {
            !has_token("close")
        } else {
            has_token("keep-alive")
        }
    }
    // ANCHOR_END: wants_keep_alive

    /// Does the client wait for `100 Continue` before sending the body?
    /// (`Expect: 100-continue`, case-insensitive, in HTTP/1.1 only: an
    /// HTTP/1.0 client cannot understand an interim answer.)
    pub fn expects_continue(&self) -> bool {
        self.minor_version >= 1
            && self.headers.iter().any(|(name, value)| {
                name.eq_ignore_ascii_case("expect")
                    && value.trim().eq_ignore_ascii_case("100-continue")
            })
    }
}
// ANCHOR_END: request
