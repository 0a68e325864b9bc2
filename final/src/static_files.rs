//! URL path → a file under the static root, or a refusal ([`PathRefusal`],
//! which knows its status code).
//!
//! [`serve_static`] is the most dangerous function in the server. The client
//! chooses the path, and the path becomes a file name on *our* disk. The
//! classic attack is `GET /../../etc/passwd`: if we simply joined the path to
//! the root, `..` would walk out of it and we would send any file the process
//! can read. Attackers also hide the dots (`%2e%2e`), hide the slash
//! (`..%2f`), append a NUL byte to cut a name short in C libraries, or plant
//! a symlink inside the root that points outside it.
//!
//! The defence has two layers. First we decode the path one segment at a
//! time and refuse any segment that is `.`, `..`, hidden (starts with `.`),
//! or that decodes to a slash, backslash or NUL. Then, after the operating
//! system has resolved every symlink (`canonicalize`), we check that the
//! file really is inside the root. Each layer catches what the other cannot:
//! the first never lets `..` or a dotfile name reach the disk at all; the
//! second catches a symlink that points out of the root.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use crate::http::Response;
use crate::http::Status;

// ANCHOR: serve_static
/// Answers `GET url_path` from the files under `static_root` (which must be
/// canonical: absolute, no symlinks; [`crate::Server::open`] makes it so).
pub fn serve_static(static_root: &Path, url_path: &str) -> Response {
    let relative = match decode_path(url_path) {
        Ok(relative) => relative,
        Err(refusal) => return Response::error(refusal.status()),
    };
    let mut candidate = static_root.join(&relative);
    if url_path.ends_with('/') {
        candidate.push("index.html");
    }

    // Resolve symlinks and `..` for real, then check where we ended up. A
    // path that does not exist fails here, which is a plain 404.
    let resolved = match candidate.canonicalize() {
        Ok(resolved) => resolved,
        Err(_) => return Response::error(Status::NotFound),
    };
    if !resolved.starts_with(static_root) {
        return Response::error(Status::Forbidden);
    }
    // Look before opening: opening a named pipe (FIFO) would block until
    // someone writes to it, and a device file is not a page.
    match fs::metadata(&resolved) {
        Ok(metadata) if metadata.is_dir() => {
            // `/docs` is a directory: send the browser to `/docs/`, so that
            // relative links inside `/docs/index.html` resolve correctly.
            return redirect_to_directory(url_path);
        }
        Ok(metadata) if metadata.is_file() => {}
        _ => return Response::error(Status::NotFound),
    }

    let file = match File::open(&resolved) {
        Ok(file) => file,
        Err(_) => return Response::error(Status::NotFound),
    };
    // The length we announce is the length of the file we opened.
    let length = match file.metadata() {
        Ok(metadata) => metadata.len(),
        Err(_) => return Response::error(Status::NotFound),
    };
    Response::file(Status::Ok, content_type(&resolved), file, length)
        .with_header("X-Content-Type-Options", "nosniff")
}
// ANCHOR_END: serve_static

// ANCHOR: path_refusal
/// Why a URL path was refused before we touched the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathRefusal {
    /// Not valid percent-encoding or not UTF-8: `400 Bad Request`.
    Malformed,
    /// An attempt to leave the root or reach a hidden file: `403 Forbidden`.
    Forbidden,
}

impl PathRefusal {
    pub fn status(self) -> Status {
        match self {
            PathRefusal::Malformed => Status::BadRequest,
            PathRefusal::Forbidden => Status::Forbidden,
        }
    }
}
// ANCHOR_END: path_refusal

// ANCHOR: decode_path
/// Turns a URL path into a relative file path, one segment at a time.
///
/// We split on `/` *before* decoding, so that `%2f` cannot create a segment
/// boundary: a segment that decodes to something containing `/` is refused,
/// never split. Empty segments (`//`) are skipped, as most servers do.
pub fn decode_path(url_path: &str) -> Result<PathBuf, PathRefusal> {
    let mut relative = PathBuf::new();
    for raw_segment in url_path.split('/') {
        if raw_segment.is_empty() {
            continue;
        }
        let bytes = percent_decode(raw_segment).ok_or(PathRefusal::Malformed)?;
        let segment = String::from_utf8(bytes).map_err(|_| PathRefusal::Malformed)?;
        if segment.starts_with('.') || segment.contains(['/', '\\', '\0']) {
            return Err(PathRefusal::Forbidden);
        }
        relative.push(segment);
    }
    Ok(relative)
}
// ANCHOR_END: decode_path

// ANCHOR: percent_decode
/// Decodes `%XX` escapes (`%20` → space). `None` for a `%` not followed by
/// two hex digits. (`+` means space only in query strings, not in paths.)
pub fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = bytes.get(index + 1..index + 3)?;
            // Exactly two hex digits: `from_str_radix` alone would also
            // accept a sign, as in `%+f`.
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            let hex = std::str::from_utf8(hex).ok()?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    Some(decoded)
}
// ANCHOR_END: percent_decode

// ANCHOR: redirect
/// `301 Moved Permanently` to the same path with a trailing slash. Built from
/// the path's non-empty segments, so it always starts with exactly one `/`
/// (a `Location` of `//evil.example/` would send the browser to another site).
fn redirect_to_directory(url_path: &str) -> Response {
    let segments: Vec<&str> = url_path.split('/').filter(|s| !s.is_empty()).collect();
    let location = format!("/{}/", segments.join("/"));
    Response::error(Status::MovedPermanently).with_header("Location", &location)
}
// ANCHOR_END: redirect

// ANCHOR: content_type
/// The media type for a file, from its extension. Text types say their
/// character set, or browsers may guess it wrong. Anything unknown is
/// `application/octet-stream`: "bytes; download, don't display".
pub fn content_type(path: &Path) -> &'static str {
    let extension = path
        .extension()
        .and_then(|extension| extension.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("json") => "application/json",
        Some("txt") => "text/plain; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("ico") => "image/x-icon",
        Some("wasm") => "application/wasm",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}
// ANCHOR_END: content_type

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_known_extension_has_its_media_type_whatever_its_case() {
        for (name, expected) in [
            ("a.html", "text/html; charset=utf-8"),
            ("a.HTM", "text/html; charset=utf-8"),
            ("a.css", "text/css; charset=utf-8"),
            ("a.mjs", "text/javascript; charset=utf-8"),
            ("a.json", "application/json"),
            ("a.txt", "text/plain; charset=utf-8"),
            ("a.svg", "image/svg+xml"),
            ("a.png", "image/png"),
            ("a.JPEG", "image/jpeg"),
            ("a.gif", "image/gif"),
            ("a.webp", "image/webp"),
            ("a.ico", "image/x-icon"),
            ("a.wasm", "application/wasm"),
            ("a.woff2", "font/woff2"),
            ("a.exe", "application/octet-stream"),
            ("no-extension", "application/octet-stream"),
        ] {
            assert_eq!(content_type(Path::new(name)), expected, "{name}");
        }
    }

    #[test]
    fn plain_segments_become_a_relative_path() {
        assert_eq!(
            decode_path("/css/site%20v2.css"),
            Ok(PathBuf::from("css/site v2.css"))
        );
        assert_eq!(decode_path("/"), Ok(PathBuf::new()));
        assert_eq!(decode_path("//a//b"), Ok(PathBuf::from("a/b")));
    }

    #[test]
    fn every_way_of_spelling_dot_dot_is_refused() {
        for path in [
            "/../x",
            "/%2e%2e/x",
            "/%2E%2e/x",
            "/a/../../x",
            "/.%2e/x",
            "/..%2fx",
            "/..%5cx",
        ] {
            assert_eq!(decode_path(path), Err(PathRefusal::Forbidden), "{path}");
        }
    }

    #[test]
    fn encoded_slashes_nul_bytes_and_hidden_files_are_refused() {
        for path in [
            "/a%2fb",
            "/a%2Fb",
            "/index.html%00.png",
            "/.env",
            "/.git/config",
        ] {
            assert_eq!(decode_path(path), Err(PathRefusal::Forbidden), "{path}");
        }
    }

    #[test]
    fn broken_percent_escapes_and_invalid_utf8_are_malformed() {
        for path in ["/%", "/%2", "/%zz", "/%ff", "/%+f"] {
            assert_eq!(decode_path(path), Err(PathRefusal::Malformed), "{path}");
        }
    }

    #[test]
    fn text_types_carry_a_charset_and_unknown_types_are_bytes() {
        assert_eq!(
            content_type(Path::new("a.HTML")),
            "text/html; charset=utf-8"
        );
        assert_eq!(
            content_type(Path::new("a.js")),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            content_type(Path::new("a.tar.gz")),
            "application/octet-stream"
        );
        assert_eq!(
            content_type(Path::new("Makefile")),
            "application/octet-stream"
        );
    }
}
