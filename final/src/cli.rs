//! The command line: `backend` takes no arguments to run (its settings come
//! from the environment, as systemd and containers pass them), and three
//! flags to ask it something instead.

// ANCHOR: cli
/// What the command line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// No arguments: serve.
    Serve,
    /// `--help` (or `-h`): print the usage and the settings, exit 0.
    Help,
    /// `--version` (or `-V`): print the version and commit, exit 0.
    Version,
    /// `--check-config`: check the settings, print what is in effect, open
    /// nothing, listen on nothing; exit 0 if they are valid, 2 if not.
    CheckConfig,
    /// `--copy-users-to-postgres` (a build with `--features postgres`
    /// only): copy every user from the SQLite file (`DATABASE_PATH`) into
    /// the empty PostgreSQL database `DATABASE_URL` names, check the copy,
    /// and exit: 0 if it is done and verified, 1 if not.
    ///
    /// The PostgreSQL URL comes from the environment, like every other
    /// setting, and not from the command line: a command line is visible to
    /// every user of the machine (`ps`, `/proc/PID/cmdline`), and this URL
    /// holds a password.
    #[cfg(feature = "postgres")]
    CopyUsersToPostgres,
}

/// Reads the arguments after the program's name. An unknown argument is an
/// error, with the message to print: a typo must not start a server.
pub fn parse(arguments: &[String]) -> Result<Command, String> {
    match arguments {
        [] => Ok(Command::Serve),
        [one] => match one.as_str() {
            "--help" | "-h" => Ok(Command::Help),
            "--version" | "-V" => Ok(Command::Version),
            "--check-config" => Ok(Command::CheckConfig),
            #[cfg(feature = "postgres")]
            "--copy-users-to-postgres" => Ok(Command::CopyUsersToPostgres),
            other => Err(format!("unknown argument {other:?}; see --help")),
        },
        _ => Err("at most one argument; see --help".to_string()),
    }
}
// ANCHOR_END: cli

/// What `--help` prints after [`USAGE`] in a build with PostgreSQL.
#[cfg(feature = "postgres")]
pub const POSTGRES_USAGE: &str = "
This build has PostgreSQL, and one more flag:
  --copy-users-to-postgres
                   copy every user (id, name, password hash, sign-up time)
                   from the SQLite file DATABASE_PATH into the PostgreSQL
                   database DATABASE_URL, whose users table must be empty;
                   all or nothing, then read back and compared. Stop the
                   service first, or copy from a backup of the file: a copy
                   of a database in use misses whoever signs up meanwhile.
                   Exit 0: copied and verified; 1: not (see the message).
";

/// What `--help` prints.
pub const USAGE: &str = "\
backend: the HTTP server of From Socket to Ship

Usage: backend [--help | --version | --check-config]

With no argument it serves. Settings come from the environment:
  ADDR                      where to listen (127.0.0.1:8080)
  STATIC_DIR                the page's folder (this crate's frontend/)
  DATABASE_PATH             the SQLite file (data/backend.sqlite3)
  DATABASE_URL              postgres://user:password@host:port/database: keep the
                            users in PostgreSQL instead (a build with --features
                            postgres only); shown with its password as ***
  JWT_SECRET_FILE           the token secret (or $CREDENTIALS_DIRECTORY/jwt-secret;
                            without either, a development secret beside the database)
  TRUSTED_PROXIES           proxies whose X-Real-IP is believed (none)
  EVENT_LOOPS, WORKERS      threads for connections and for blocking work
  MAX_CONNECTIONS, MAX_REQUESTS_PER_CONNECTION
  IDLE_TIMEOUT_SECS, REQUEST_TIMEOUT_SECS, WRITE_TIMEOUT_SECS, DRAIN_TIMEOUT_SECS
  MAX_CONCURRENT_HASHES, MAX_WAITING_HASHES

  --check-config   check the settings, print what is in effect, and exit
                   (0: valid, 2: not)
  --version        print the version and the git commit it was built from

SIGTERM or Ctrl-C stops it gracefully; a second one stops it at once.
";

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_words(words: &[&str]) -> Result<Command, String> {
        let arguments: Vec<String> = words.iter().map(|word| word.to_string()).collect();
        parse(&arguments)
    }

    #[test]
    fn each_flag_has_its_command_and_nothing_else_is_accepted() {
        assert_eq!(parse_words(&[]), Ok(Command::Serve));
        assert_eq!(parse_words(&["--help"]), Ok(Command::Help));
        assert_eq!(parse_words(&["-h"]), Ok(Command::Help));
        assert_eq!(parse_words(&["--version"]), Ok(Command::Version));
        assert_eq!(parse_words(&["-V"]), Ok(Command::Version));
        assert_eq!(parse_words(&["--check-config"]), Ok(Command::CheckConfig));
        assert!(parse_words(&["--chek-config"]).is_err());
        assert!(parse_words(&["--help", "--version"]).is_err());
        // Only a build with PostgreSQL knows it.
        #[cfg(feature = "postgres")]
        assert_eq!(
            parse_words(&["--copy-users-to-postgres"]),
            Ok(Command::CopyUsersToPostgres)
        );
        #[cfg(not(feature = "postgres"))]
        assert!(parse_words(&["--copy-users-to-postgres"]).is_err());
    }

    #[test]
    fn the_usage_names_every_setting() {
        for setting in crate::config::Config::new().describe() {
            let (name, _) = setting.split_once('=').expect("NAME=value");
            if name == "CREDENTIALS_DIRECTORY" {
                continue; // set by systemd, not by a person
            }
            assert!(USAGE.contains(name), "--help does not mention {name}");
        }
    }
}
