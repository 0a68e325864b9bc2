//! JSON Web Tokens made by hand, for the tests of stages 09 and later:
//! base64url, HMAC-SHA2, and nothing from the JWT crate the server uses, so
//! a mistake in how the server uses that crate cannot hide in both places.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};

/// The signing secret tests give the server (`JWT_SECRET_FILE`).
pub const JWT_SECRET: &str = "a test secret that is longer than 32 bytes";

/// Seconds since 1970, as JWTs count time.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// HMAC of `input` keyed with `secret`, with the SHA-2 variant `$digest`.
macro_rules! hmac {
    ($digest:ty, $secret:expr, $input:expr) => {{
        let mut mac = Hmac::<$digest>::new_from_slice($secret).expect("HMAC takes any key");
        mac.update($input.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }};
}

/// HMAC-SHA256 of `input` with `secret`: an HS256 signature.
pub fn hs256_signature(secret: &[u8], input: &str) -> Vec<u8> {
    hmac!(sha2::Sha256, secret, input)
}

// ANCHOR: forge
/// A token made by hand: base64url of the header, a dot, base64url of the
/// claims, a dot, and the signature over the first two parts: HMAC with
/// SHA-256, -384 or -512 as `alg` says; nothing for `none`; made-up bytes
/// for an algorithm we do not compute (RS256).
pub fn forge(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = match header["alg"].as_str() {
        Some("none") => return format!("{signing_input}."),
        Some("HS256") => hs256_signature(secret, &signing_input),
        Some("HS384") => hmac!(sha2::Sha384, secret, signing_input),
        Some("HS512") => hmac!(sha2::Sha512, secret, signing_input),
        _ => b"not a real signature".to_vec(),
    };
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}
// ANCHOR_END: forge

/// The header of our tokens.
pub fn hs256() -> Value {
    json!({ "alg": "HS256", "typ": "JWT" })
}

/// Claims for user `sub`, valid now for ten minutes.
pub fn valid_claims(sub: &str) -> Value {
    json!({ "sub": sub, "iat": now(), "exp": now() + 600 })
}

// ANCHOR: refused_tokens
/// Tokens a server must refuse, each with why. User 1 exists; 99 does not.
pub fn refused_tokens() -> Vec<(&'static str, String)> {
    let secret = JWT_SECRET.as_bytes();
    let claims = valid_claims("1");
    let with = |changes: Value| {
        let mut claims = valid_claims("1");
        for (key, value) in changes.as_object().expect("an object") {
            claims[key] = value.clone();
        }
        claims
    };
    let without = |key: &str| {
        let mut claims = valid_claims("1");
        claims.as_object_mut().expect("an object").remove(key);
        claims
    };
    let good = forge(&hs256(), &claims, secret);
    let parts: Vec<&str> = good.split('.').collect();
    let someone_else = URL_SAFE_NO_PAD.encode(with(json!({ "sub": "2" })).to_string());
    vec![
        (
            "alg none",
            forge(&json!({ "alg": "none", "typ": "JWT" }), &claims, secret),
        ),
        (
            "HS384",
            forge(&json!({ "alg": "HS384", "typ": "JWT" }), &claims, secret),
        ),
        (
            "HS512",
            forge(&json!({ "alg": "HS512", "typ": "JWT" }), &claims, secret),
        ),
        (
            "RS256",
            forge(&json!({ "alg": "RS256", "typ": "JWT" }), &claims, secret),
        ),
        (
            "another key",
            forge(&hs256(), &claims, b"another secret, also 32+ bytes long"),
        ),
        (
            "edited payload",
            format!("{}.{someone_else}.{}", parts[0], parts[2]),
        ),
        (
            "expired",
            forge(&hs256(), &with(json!({ "exp": now() - 60 })), secret),
        ),
        (
            "not yet valid",
            forge(&hs256(), &with(json!({ "nbf": now() + 600 })), secret),
        ),
        ("no exp", forge(&hs256(), &without("exp"), secret)),
        ("no sub", forge(&hs256(), &without("sub"), secret)),
        ("no iat", forge(&hs256(), &without("iat"), secret)),
        (
            "a user who does not exist",
            forge(&hs256(), &valid_claims("99"), secret),
        ),
        (
            "user 1 written as 01",
            forge(&hs256(), &valid_claims("01"), secret),
        ),
        ("garbage", "garbage".to_string()),
        ("empty", String::new()),
        ("two parts", format!("{}.{}", parts[0], parts[2])),
    ]
}
// ANCHOR_END: refused_tokens

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forged_hs256_token_has_three_parts_and_the_rfc_7515_signature() {
        // RFC 7515, appendix A.1: the example key and signing input.
        let key = URL_SAFE_NO_PAD
            .decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow")
            .expect("base64url");
        let input = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
        assert_eq!(
            URL_SAFE_NO_PAD.encode(hs256_signature(&key, input)),
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        );
        let token = forge(&hs256(), &valid_claims("1"), b"key");
        assert_eq!(token.split('.').count(), 3);
        assert!(forge(&json!({ "alg": "none" }), &valid_claims("1"), b"key").ends_with('.'));
    }
}
