//! [`Tokens`]: JSON Web Tokens, issued at login and checked on every request
//! that needs to know who is asking. Chapter 9 explains them.
//!
//! A JWT is three base64url parts joined by dots: a header
//! (`{"alg":"HS256","typ":"JWT"}`), the claims (`{"sub":"1","iat":…,
//! "exp":…}`) and a signature: an HMAC-SHA256 of the first two, keyed with
//! a secret only the server knows. Anyone can *read* a token; only the
//! server can *make* one that verifies, so a valid signature means "we
//! issued this, and nobody changed a byte of it since".
//!
//! Most JWT disasters come from trusting the token to say how it should be
//! checked: `"alg": "none"` (no signature at all), or an RSA public key
//! used as an HMAC secret. So the algorithm is pinned here, not read from
//! the token; and a token must say when it expires.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::http::Request;

// ANCHOR: constants
/// How long a token is valid after login. Short, because a token cannot be
/// taken back: whoever holds it is the user until it expires.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// How far the clocks of the machines involved may disagree, in seconds:
/// a token expired 3 s ago by our clock still passes, one expired 10 s ago
/// does not. (The crate's default is 60 s.)
pub const LEEWAY_SECS: u64 = 5;
/// The shortest secret we accept: 32 bytes, the size of the SHA-256 output
/// HS256 uses (RFC 7518, section 3.2, requires at least that).
pub const MIN_SECRET_BYTES: usize = 32;
// ANCHOR_END: constants

// ANCHOR: claims
/// What our tokens say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The subject: the user's id (a string, as RFC 7519 wants).
    pub sub: String,
    /// Issued at, in seconds since 1970 (Unix time).
    pub iat: u64,
    /// Expires at. Required: a token without it would be valid for ever.
    pub exp: u64,
    /// Not valid before. We never set it, but if a token has it, it is
    /// checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
}
// ANCHOR_END: claims

/// A token, as `POST /api/login` hands it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

/// Why a token was refused: said in the log, never to the client (which
/// gets `invalid_token` whatever the reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidToken(pub String);

// ANCHOR: tokens
/// Issues and checks HS256 tokens with one secret.
pub struct Tokens {
    encoding_key: EncodingKey,
    decoding_key: DecodingKey,
    validation: Validation,
}

impl Tokens {
    /// `secret` must be at least [`MIN_SECRET_BYTES`] long.
    pub fn new(secret: &[u8]) -> Result<Tokens, String> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(format!(
                "the JWT secret is {} bytes; it must be at least {MIN_SECRET_BYTES}",
                secret.len()
            ));
        }
        // HS256 and nothing else, whatever the token's header says.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "iat", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        let key_error = |error: jsonwebtoken::errors::Error| format!("the JWT secret: {error}");
        Ok(Tokens {
            encoding_key: EncodingKey::from_secret(secret).map_err(key_error)?,
            decoding_key: DecodingKey::from_secret(secret).map_err(key_error)?,
            validation,
        })
    }

    /// A token for user `user_id`, valid for [`TOKEN_LIFETIME`] from now.
    pub fn issue(&self, user_id: u64) -> Result<IssuedToken, String> {
        let now = unix_time(SystemTime::now());
        let claims = Claims {
            sub: user_id.to_string(),
            iat: now,
            exp: now + TOKEN_LIFETIME.as_secs(),
            nbf: None,
        };
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding_key)
                .map_err(|error| error.to_string())?;
        Ok(IssuedToken {
            token,
            expires_in: TOKEN_LIFETIME.as_secs(),
        })
    }

    /// The user id in `token`, if its signature, algorithm and times are
    /// all right. Whether that user still exists is the caller's question.
    pub fn check(&self, token: &str) -> Result<u64, InvalidToken> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding_key, &self.validation)
            .map_err(|error| {
                InvalidToken(match error.kind() {
                    ErrorKind::ExpiredSignature => "expired".to_string(),
                    ErrorKind::ImmatureSignature => "not valid yet".to_string(),
                    ErrorKind::InvalidAlgorithm => "another algorithm".to_string(),
                    ErrorKind::InvalidSignature => "bad signature".to_string(),
                    ErrorKind::MissingRequiredClaim(claim) => format!("no `{claim}`"),
                    ErrorKind::InvalidToken => "not three base64url parts".to_string(),
                    ErrorKind::Base64(_) => "not base64url".to_string(),
                    // Our `Claims` needs `sub`, `iat` and `exp`, so a token
                    // without one fails here, before the crate's own check.
                    ErrorKind::Json(_) | ErrorKind::Utf8(_) => {
                        "a header or claims we cannot read (an unknown algorithm, or a claim \
                         missing or of the wrong type)"
                            .to_string()
                    }
                    other => format!("{other:?}"),
                })
            })?;
        // Our ids are written as `issue` writes them: `1`, never `01`.
        let sub = data.claims.sub;
        sub.parse()
            .ok()
            .filter(|id: &u64| id.to_string() == sub)
            .ok_or_else(|| InvalidToken("a subject that is not a user id".to_string()))
    }
}
// ANCHOR_END: tokens

/// Seconds since 1970, as JWTs count time.
pub fn unix_time(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

// ANCHOR: bearer_token
/// What a request's `Authorization` header holds, for us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presented<'a> {
    /// No `Authorization` header, or one with another scheme (`Basic …`):
    /// no token was sent at all.
    Nothing,
    /// `Authorization: Bearer <token>`: the token, still unchecked.
    Token(&'a str),
}

/// Reads `Authorization: Bearer <token>` (RFC 6750, section 2.1). The scheme
/// is case-insensitive; the token is what follows the spaces after it.
pub fn presented_token(request: &Request) -> Presented<'_> {
    let Some(value) = request.header("authorization") else {
        return Presented::Nothing;
    };
    // `Bearer` alone is a token scheme with an empty token: refused as an
    // invalid token, not taken for "no token at all".
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if scheme.eq_ignore_ascii_case("bearer") {
        Presented::Token(token.trim())
    } else {
        Presented::Nothing
    }
}
// ANCHOR_END: bearer_token

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"a test secret that is 32+ bytes long";

    #[test]
    fn a_token_we_issue_checks_out_with_its_user_id() {
        let tokens = Tokens::new(SECRET).expect("a long enough secret");
        let issued = tokens.issue(42).expect("issued");
        assert_eq!(issued.expires_in, 3600);
        assert_eq!(tokens.check(&issued.token), Ok(42));
        // Three base64url parts.
        assert_eq!(issued.token.split('.').count(), 3);
    }

    #[test]
    fn a_short_secret_is_refused() {
        assert!(Tokens::new(&SECRET[..31]).is_err());
        assert!(Tokens::new(&SECRET[..32]).is_ok());
    }

    #[test]
    fn a_token_from_another_secret_is_refused() {
        let ours = Tokens::new(SECRET).expect("secret");
        let theirs = Tokens::new(b"another secret, also 32+ bytes long").expect("secret");
        let token = theirs.issue(1).expect("issued").token;
        assert_eq!(
            ours.check(&token),
            Err(InvalidToken("bad signature".to_string()))
        );
    }

    fn request_with(authorization: Option<&str>) -> Request {
        Request {
            method: "GET".to_string(),
            path: "/api/me".to_string(),
            query: None,
            minor_version: 1,
            headers: authorization
                .map(|value| vec![("Authorization".to_string(), value.to_string())])
                .unwrap_or_default(),
            body: Vec::new(),
        }
    }

    #[test]
    fn only_a_bearer_authorization_presents_a_token() {
        let cases = [
            (Some("Bearer abc.def.ghi"), Some("abc.def.ghi")),
            (Some("bearer abc"), Some("abc")),
            (Some("Bearer "), Some("")),
            (Some("Basic YWxpY2U6cGFzcw=="), None),
            (Some("Bearer"), Some("")),
            (Some("BearerX abc"), None),
            (None, None),
        ];
        for (authorization, token) in cases {
            let request = request_with(authorization);
            let expected = token.map_or(Presented::Nothing, Presented::Token);
            assert_eq!(presented_token(&request), expected, "{authorization:?}");
        }
    }
}
