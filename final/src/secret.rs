//! Where the JWT signing secret comes from: [`load_secret`].
//!
//! The secret signs every token: whoever has it can log in as anyone. So it
//! is never a constant in the source (it would be in every copy of the
//! binary, and in the repository for ever), and never printed. In order:
//!
//! 1. `JWT_SECRET_FILE`: a file that holds it;
//! 2. `$CREDENTIALS_DIRECTORY/jwt-secret`: where systemd puts a file it was
//!    told to pass us with `LoadCredential=jwt-secret:/etc/…` (Part II);
//! 3. for development only, with neither set: a random secret made once
//!    and kept in `jwt-secret` beside the database, readable only by us,
//!    with a warning.

use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::tokens::MIN_SECRET_BYTES;

/// The secret, and where it came from (for the start-up message).
#[derive(Debug, PartialEq, Eq)]
pub struct Secret {
    pub bytes: Vec<u8>,
    pub source: SecretSource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `JWT_SECRET_FILE` or systemd's credential.
    Configured(PathBuf),
    /// The development secret, found beside the database or just made.
    Development { path: PathBuf, created: bool },
}

// ANCHOR: load_secret
/// Finds the secret as described above, with the environment read through
/// `variable` (tests pass a closure). `database_path` says where the
/// development secret lives.
pub fn load_secret(
    variable: impl Fn(&str) -> Option<OsString>,
    database_path: &Path,
) -> Result<Secret, String> {
    let configured = variable("JWT_SECRET_FILE")
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            variable("CREDENTIALS_DIRECTORY")
                .filter(|dir| !dir.is_empty())
                .map(|dir| PathBuf::from(dir).join("jwt-secret"))
        });
    if let Some(path) = configured {
        let bytes = read_secret(&path)?;
        return Ok(Secret {
            bytes,
            source: SecretSource::Configured(path),
        });
    }
    let path = database_path.with_file_name("jwt-secret");
    let created = create_development_secret(&path)?;
    Ok(Secret {
        bytes: read_secret(&path)?,
        source: SecretSource::Development { path, created },
    })
}
// ANCHOR_END: load_secret

/// The file's bytes, without the one line break an editor or `echo` adds
/// at the end (`\n` or `\r\n`), if there are at least [`MIN_SECRET_BYTES`]
/// of them. Only that one: a secret of raw random bytes may well end in a
/// byte that looks like a space, and must not lose it.
fn read_secret(path: &Path) -> Result<Vec<u8>, String> {
    let mut bytes =
        fs::read(path).map_err(|error| format!("JWT secret {}: {error}", path.display()))?;
    if bytes.ends_with(b"\r\n") {
        bytes.truncate(bytes.len() - 2);
    } else if bytes.ends_with(b"\n") {
        bytes.pop();
    }
    if bytes.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "JWT secret {}: {} bytes, at least {MIN_SECRET_BYTES} needed \
             (make one with: (umask 077 && head -c 48 /dev/urandom | base64 > {}))",
            path.display(),
            bytes.len(),
            path.display()
        ));
    }
    Ok(bytes)
}

/// Makes a random development secret at `path` unless one is there already
/// (so tokens survive a restart): 32 random bytes from the OS, written as 64
/// hexadecimal characters, in a file only we can read. Returns whether it
/// made one.
fn create_development_secret(path: &Path) -> Result<bool, String> {
    let mut random = [0u8; 32];
    getrandom::fill(&mut random).map_err(|error| format!("no random bytes: {error}"))?;
    let hex: String = random.iter().map(|byte| format!("{byte:02x}")).collect();
    let failed = |error: std::io::Error| format!("JWT secret {}: {error}", path.display());
    // Written whole to a file of our own first, then linked into place:
    // `hard_link` never replaces an existing secret, and a second process
    // starting at the same moment sees either no secret or all of it, never
    // an empty file.
    let draft = path.with_file_name(format!("jwt-secret.{}.new", std::process::id()));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&draft)
        .map_err(failed)?;
    let written = file
        .write_all(hex.as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| fs::hard_link(&draft, path));
    let _ = fs::remove_file(&draft);
    match written {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == ErrorKind::AlreadyExists => Ok(false),
        Err(error) => Err(failed(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn load(variables: &[(&str, &Path)], database: &Path) -> Result<Secret, String> {
        load_secret(
            |name| {
                variables
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| value.as_os_str().to_owned())
            },
            database,
        )
    }

    #[test]
    fn a_configured_file_is_read_without_its_final_line_break() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("secret");
        fs::write(&path, "0123456789abcdef0123456789abcdef\n").expect("write");
        let secret = load(&[("JWT_SECRET_FILE", &path)], &dir.path().join("db")).expect("read");
        assert_eq!(secret.bytes, b"0123456789abcdef0123456789abcdef");
        assert_eq!(secret.source, SecretSource::Configured(path));
        assert!(
            !dir.path().join("jwt-secret").exists(),
            "no development secret"
        );
    }

    #[test]
    fn only_one_final_line_break_is_dropped() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("secret");
        let raw = b"0123456789abcdef0123456789abcdef \t";
        for (written, kept) in [
            (&b"0123456789abcdef0123456789abcdef\r\n"[..], &raw[..32]),
            (&raw[..], &raw[..]),
            (
                &b"0123456789abcdef0123456789abcdef \t\n\n"[..],
                &b"0123456789abcdef0123456789abcdef \t\n"[..],
            ),
        ] {
            fs::write(&path, written).expect("write");
            let secret = load(&[("JWT_SECRET_FILE", &path)], &dir.path().join("db")).expect("read");
            assert_eq!(secret.bytes, kept);
        }
    }

    #[test]
    fn systemd_credentials_are_used_when_no_file_is_named() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        fs::write(dir.path().join("jwt-secret"), "x".repeat(40)).expect("write");
        let secret = load(
            &[("CREDENTIALS_DIRECTORY", dir.path())],
            &dir.path().join("db"),
        )
        .expect("read");
        assert_eq!(secret.bytes.len(), 40);
        assert_eq!(
            secret.source,
            SecretSource::Configured(dir.path().join("jwt-secret"))
        );
    }

    #[test]
    fn a_short_or_missing_secret_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("secret");
        fs::write(&path, "too short\n").expect("write");
        let error = load(&[("JWT_SECRET_FILE", &path)], &dir.path().join("db")).expect_err("short");
        assert!(error.contains("9 bytes, at least 32"), "{error}");
        let missing = dir.path().join("nope");
        let error =
            load(&[("JWT_SECRET_FILE", &missing)], &dir.path().join("db")).expect_err("missing");
        assert!(error.contains("nope"), "{error}");
    }

    #[test]
    fn without_configuration_a_private_development_secret_is_made_once_and_kept() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let database = dir.path().join("backend.sqlite3");
        let first = load(&[], &database).expect("made");
        let path = dir.path().join("jwt-secret");
        assert_eq!(
            first.source,
            SecretSource::Development {
                path: path.clone(),
                created: true
            }
        );
        assert_eq!(first.bytes.len(), 64);
        let mode = fs::metadata(&path).expect("exists").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // The next start finds it and keeps it: tokens survive a restart.
        let second = load(&[], &database).expect("found");
        assert_eq!(second.bytes, first.bytes);
        assert_eq!(
            second.source,
            SecretSource::Development {
                path,
                created: false
            }
        );
    }
}
