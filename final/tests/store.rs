//! The store suite: one list of cases ([`CASES`]), each run against every
//! store this build has. What the API relies on, whatever the database:
//! a sign-up gets a new id, a taken name is refused in any case, lookups
//! find what is there and nothing else, one sign-up wins a race for a
//! name, and an acknowledged sign-up survives a restart and a kill -9.
//!
//! - `cargo test -p backend --test store` runs it against SQLite, each case
//!   on a file in a fresh temporary folder.
//! - Built with `--features postgres`, it also runs every case against
//!   PostgreSQL, each in a fresh schema of the database that
//!   `BACKEND_TEST_DATABASE_URL` names (`tests/store/postgres.sh` starts a
//!   server and sets it). Without that variable every PostgreSQL case
//!   fails, and says why: skipping them would report success for a store
//!   that was never tested.
//!
//! Each store is opened the way the server opens it, from a [`Config`]
//! (`DATABASE_PATH` or `DATABASE_URL`) through `backend::store::open`.
//!
//! The kill -9 case needs a second process to kill: it runs this same test
//! binary again, as a child ([`CHILD_MODE`]) that signs users up and
//! prints a line as each one is acknowledged. That is why this file has
//! its own `main` (`harness = false`, with libtest-mimic for the usual
//! test-runner command line).

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use backend::config::Config;
use backend::store::{self, Store, StoreError, User, Username};
use libtest_mimic::{Arguments, Trial};

/// Set in the environment of the kill -9 case's child: this binary then
/// signs users up instead of running tests.
const CHILD_MODE: &str = "STORE_SUITE_CHILD";

/// A case: it gets a fresh, empty place to keep a store, and panics (an
/// `assert!`) if the store does not behave.
type Case = fn(&Backing);

const CASES: &[(&str, Case)] = &[
    ("a_new_user_is_stored_as_given_with_a_new_id", create),
    ("a_taken_name_is_refused_in_any_case", conflict),
    ("users_are_found_by_id_and_name_and_nobody_else_is", get),
    (
        "a_name_full_of_sql_is_stored_as_a_plain_string",
        sql_in_a_name,
    ),
    ("a_working_database_answers_the_ping", ping),
    (
        "of_many_concurrent_sign_ups_for_one_name_exactly_one_wins",
        concurrent_sign_ups,
    ),
    ("users_survive_closing_and_reopening_the_store", restart),
    ("every_acknowledged_sign_up_survives_a_kill_9", kill_9),
];

fn main() {
    if std::env::var_os(CHILD_MODE).is_some() {
        sign_up_until_killed();
        return;
    }
    let arguments = Arguments::from_args();
    let mut trials = Vec::new();
    for kind in STORES {
        for &(name, case) in CASES {
            trials.push(Trial::test(format!("{}::{name}", kind.name()), move || {
                let backing = Backing::new(*kind);
                case(&backing);
                Ok(())
            }));
        }
    }
    // The copy from SQLite to PostgreSQL: one pair of stores per case.
    #[cfg(feature = "postgres")]
    for &(name, case) in copy::CASES {
        trials.push(Trial::test(format!("copy::{name}"), move || {
            case();
            Ok(())
        }));
    }
    libtest_mimic::run(&arguments, trials).exit();
}

// ANCHOR: stores
/// The stores this build has.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Sqlite,
    #[cfg(feature = "postgres")]
    Postgres,
}

const STORES: &[Kind] = &[
    Kind::Sqlite,
    #[cfg(feature = "postgres")]
    Kind::Postgres,
];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Sqlite => "sqlite",
            #[cfg(feature = "postgres")]
            Kind::Postgres => "postgres",
        }
    }
}

/// Where one case's store keeps its data, for as long as the case runs: it
/// can be opened again (the restart case), and by another process (the
/// kill -9 case).
enum Backing {
    Sqlite {
        path: PathBuf,
        _folder: tempfile::TempDir,
    },
    #[cfg(feature = "postgres")]
    Postgres(postgres::Schema),
}

impl Backing {
    fn new(kind: Kind) -> Backing {
        match kind {
            Kind::Sqlite => {
                let folder = tempfile::tempdir().expect("a temporary folder");
                Backing::Sqlite {
                    path: folder.path().join("data/users.sqlite3"),
                    _folder: folder,
                }
            }
            #[cfg(feature = "postgres")]
            Kind::Postgres => Backing::Postgres(postgres::Schema::create()),
        }
    }

    /// The setting that names this store: `DATABASE_PATH` or `DATABASE_URL`.
    fn variable(&self) -> (&'static str, OsString) {
        match self {
            Backing::Sqlite { path, .. } => ("DATABASE_PATH", path.clone().into_os_string()),
            #[cfg(feature = "postgres")]
            Backing::Postgres(schema) => ("DATABASE_URL", schema.url().into()),
        }
    }

    /// Opens the store as the server does: a [`Config`] from the
    /// variables, then `store::open`, which migrates.
    fn open(&self) -> Box<dyn Store> {
        let (name, value) = self.variable();
        open_from(|wanted| (wanted == name).then(|| value.clone()))
    }
}
// ANCHOR_END: stores

/// The store that these variables configure.
fn open_from(variable: impl Fn(&str) -> Option<OsString>) -> Box<dyn Store> {
    let config = Config::from_variables(variable).unwrap_or_else(|problems| {
        panic!("the store's configuration is refused: {problems:?}");
    });
    store::open(&config).unwrap_or_else(|problem| panic!("cannot open the store: {problem}"))
}

fn name(text: &str) -> Username {
    Username::fold(text)
}

// ANCHOR: cases
fn create(backing: &Backing) {
    let store = backing.open();
    let alice = store.insert(&name("alice"), "hash-a").expect("a new name");
    assert_eq!(alice.username, "alice");
    assert_eq!(alice.password_hash, "hash-a");
    assert!(alice.id >= 1, "{alice:?}");
    // RFC 3339, in UTC, to the second: `2026-12-01T16:48:28Z`.
    assert_eq!(alice.created_at.len(), 20, "{alice:?}");
    assert!(alice.created_at.ends_with('Z'), "{alice:?}");
    let when = humantime::parse_rfc3339(&alice.created_at).expect("RFC 3339");
    let age = SystemTime::now().duration_since(when).unwrap_or_default();
    assert!(age < Duration::from_secs(60), "{alice:?}");
    // The next user gets a larger id. (Not always the next number: a
    // PostgreSQL sequence skips the ids of refused sign-ups.)
    let bob = store.insert(&name("bob"), "hash-b").expect("a new name");
    assert!(bob.id > alice.id, "{alice:?} {bob:?}");
}

fn conflict(backing: &Backing) {
    let store = backing.open();
    let alice = store.insert(&name("alice"), "first").expect("a new name");
    for taken in ["alice", "ALICE", "Alice"] {
        assert!(
            matches!(
                store.insert(&name(taken), "second"),
                Err(StoreError::UsernameTaken)
            ),
            "{taken} was not refused"
        );
    }
    // The first sign-up's user is untouched, and others can still sign up.
    assert_eq!(store.get(alice.id).expect("read"), Some(alice.clone()));
    let bob = store.insert(&name("bob"), "hash").expect("a new name");
    assert!(bob.id > alice.id);
}

fn get(backing: &Backing) {
    let store = backing.open();
    let alice = store.insert(&name("alice"), "hash-a").expect("a new name");
    let bob = store.insert(&name("bob"), "hash-b").expect("a new name");
    assert_eq!(store.get(alice.id).expect("read"), Some(alice.clone()));
    assert_eq!(store.get(bob.id).expect("read"), Some(bob.clone()));
    assert_eq!(
        store.find_by_name(&name("alice")).expect("read"),
        Some(alice)
    );
    assert_eq!(
        store.find_by_name(&name("BOB")).expect("read"),
        Some(bob.clone())
    );
    for nobody in [
        0,
        bob.id + 1,
        i64::MAX as u64,
        i64::MAX as u64 + 1,
        u64::MAX,
    ] {
        assert_eq!(store.get(nobody).expect("read"), None, "{nobody}");
    }
    for nobody in ["carol", "alic", "alice "] {
        assert_eq!(
            store.find_by_name(&name(nobody)).expect("read"),
            None,
            "{nobody}"
        );
    }
}

fn sql_in_a_name(backing: &Backing) {
    // Validation would refuse this name; the store must be safe anyway.
    let store = backing.open();
    let odd = "x'); drop table users;--";
    let user = store.insert(&name(odd), "hash").expect("stored");
    assert_eq!(user.username, odd);
    assert_eq!(store.get(user.id).expect("read"), Some(user.clone()));
    // The table is still there, and still works.
    assert!(store.insert(&name("bob"), "hash").expect("new").id > user.id);
}

fn ping(backing: &Backing) {
    backing.open().ping().expect("the database answers");
}

// ANCHOR: race
/// Threads that sign up for the same name at the same moment, round after
/// round: in each round the database lets exactly one in, and every other
/// one hears that the name is taken (not a database error).
fn concurrent_sign_ups(backing: &Backing) {
    const THREADS: usize = 16;
    const ROUNDS: usize = 5;
    let store = backing.open();
    let store = store.as_ref();
    for round in 0..ROUNDS {
        let racer = name(&format!("racer{round}"));
        let start = Barrier::new(THREADS);
        let results: Vec<Result<User, StoreError>> = thread::scope(|scope| {
            let threads: Vec<_> = (0..THREADS)
                .map(|thread| {
                    let (start, racer) = (&start, &racer);
                    scope.spawn(move || {
                        start.wait();
                        store.insert(racer, &format!("hash-of-thread-{thread}"))
                    })
                })
                .collect();
            threads
                .into_iter()
                .map(|thread| thread.join().expect("no panic"))
                .collect()
        });
        // One word per thread, for a message that fits on a screen.
        let outcomes: Vec<String> = results
            .iter()
            .map(|result| match result {
                Ok(user) => format!("won as user {}", user.id),
                Err(StoreError::UsernameTaken) => "taken".to_string(),
                Err(StoreError::Database(error)) => format!("database error: {error}"),
            })
            .collect();
        let winners: Vec<&User> = results
            .iter()
            .filter_map(|result| result.as_ref().ok())
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {outcomes:?}");
        let refused = outcomes
            .iter()
            .filter(|outcome| *outcome == "taken")
            .count();
        assert_eq!(refused, THREADS - 1, "round {round}: {outcomes:?}");
        // What is stored is the winner's, and nobody else's.
        let stored = store.find_by_name(&racer).expect("read");
        assert_eq!(stored.as_ref(), Some(winners[0]), "round {round}");
    }
}
// ANCHOR_END: race

fn restart(backing: &Backing) {
    let store = backing.open();
    let alice = store.insert(&name("alice"), "hash-a").expect("a new name");
    let bob = store.insert(&name("bob"), "hash-b").expect("a new name");
    // Every connection is closed; then the store is opened again, as after
    // a restart (its migrations run again, and must find nothing to do).
    drop(store);
    let store = backing.open();
    assert_eq!(store.get(alice.id).expect("read"), Some(alice.clone()));
    assert_eq!(
        store.find_by_name(&name("bob")).expect("read"),
        Some(bob.clone())
    );
    assert!(matches!(
        store.insert(&name("alice"), "again"),
        Err(StoreError::UsernameTaken)
    ));
    let carol = store.insert(&name("carol"), "hash-c").expect("a new name");
    assert!(carol.id > bob.id, "ids go on after a restart: {carol:?}");
}
// ANCHOR_END: cases

// ANCHOR: kill_9
/// How many acknowledgements the parent waits for before it kills the
/// child, and how long it waits for them at most.
const ACKNOWLEDGED_BEFORE_THE_KILL: usize = 20;
const KILL_9_PATIENCE: Duration = Duration::from_secs(30);

/// The most sign-ups a child makes: it is killed long before (each one
/// waits for a commit), but no loop runs for ever.
const CHILD_MAX_SIGN_UPS: usize = 100_000;

/// A child process signs users up, one after another, and prints a line
/// as each is acknowledged (`insert` returned `Ok`). After a few of them
/// it is killed with SIGKILL, in the middle of its next sign-ups: nothing
/// of it runs after that, no destructor, no flush. Every user it printed
/// must then be in the database, with the id it was given.
///
/// This shows that `Ok` means "committed", not "on its way": a store that
/// buffered writes in its process, or committed every so often, would
/// lose the last ones. It cannot show that a commit reached the disk
/// itself: the kernel keeps what a killed process wrote. That takes a
/// power cut, or (for PostgreSQL) a crash of the server, which
/// `tests/store/postgres.sh` adds.
fn kill_9(backing: &Backing) {
    let (variable, value) = backing.variable();
    let mut child = Command::new(std::env::current_exe().expect("this binary's path"))
        .env(CHILD_MODE, "sign up")
        .env_remove("DATABASE_PATH")
        .env_remove("DATABASE_URL")
        .env(variable, value)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the child");
    // Read the child's lines on a thread, so that waiting for them has a
    // deadline (a read from a pipe has none).
    let stdout = child.stdout.take().expect("stdout is piped");
    let (lines, received) = mpsc::channel();
    let reader = thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + KILL_9_PATIENCE;
    let mut acknowledged = Vec::new();
    while acknowledged.len() < ACKNOWLEDGED_BEFORE_THE_KILL {
        let left = deadline.saturating_duration_since(Instant::now());
        match received.recv_timeout(left) {
            Ok(line) => acknowledged.push(line),
            Err(error) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the child stopped acknowledging ({error}) after {acknowledged:?}");
            }
        }
    }
    child.kill().expect("SIGKILL the child");
    let status = child.wait().expect("reap the child");
    assert_eq!(
        status.signal(),
        Some(9),
        "killed in the middle, not finished"
    );
    // What it printed before it died was acknowledged too: read to the end.
    reader.join().expect("the reader ends with the pipe");
    acknowledged.extend(received.try_iter());

    let store = backing.open();
    for line in &acknowledged {
        let (id, username) = parse_acknowledgement(line);
        let found = store.get(id).expect("read");
        assert_eq!(
            found.map(|user| user.username),
            Some(username.clone()),
            "acknowledged but lost: {line}"
        );
    }
}

/// The child: signs up `durable0`, `durable1`, … until it is killed,
/// printing `acknowledged <id> <name>` as each insert returns, flushed at
/// once (a line still in our buffer was never acknowledged to anyone).
fn sign_up_until_killed() {
    let store = open_from(|name| match name {
        "DATABASE_PATH" | "DATABASE_URL" => std::env::var_os(name),
        _ => None,
    });
    let mut stdout = std::io::stdout().lock();
    for n in 0..CHILD_MAX_SIGN_UPS {
        let username = name(&format!("durable{n}"));
        let user = store
            .insert(&username, "hash")
            .unwrap_or_else(|error| panic!("child: sign-up {n} failed: {error:?}"));
        writeln!(stdout, "acknowledged {} {}", user.id, user.username)
            .and_then(|()| stdout.flush())
            .expect("child: tell the parent");
    }
}

fn parse_acknowledgement(line: &str) -> (u64, String) {
    let mut words = line.split(' ');
    match (words.next(), words.next(), words.next()) {
        (Some("acknowledged"), Some(id), Some(username)) => (
            id.parse().unwrap_or_else(|_| panic!("not an id: {line}")),
            username.to_string(),
        ),
        _ => panic!("not an acknowledgement: {line:?}"),
    }
}
// ANCHOR_END: kill_9

/// PostgreSQL: each case in a schema of its own, in the database named by
/// `BACKEND_TEST_DATABASE_URL`, so cases can run at the same time without seeing
/// each other's users, and the database can hold other data.
#[cfg(feature = "postgres")]
mod postgres {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use backend::store::postgres_driver::{Client, Config, NoTls};

    /// The PostgreSQL database the suite may use (it makes and drops
    /// schemas of its own in it), as a `postgres://` URL.
    const TEST_DATABASE_URL: &str = "BACKEND_TEST_DATABASE_URL";

    /// A schema, dropped with everything in it when the case ends (passed
    /// or failed).
    pub struct Schema {
        database_url: String,
        name: String,
    }

    impl Schema {
        pub fn create() -> Schema {
            let database_url = std::env::var(TEST_DATABASE_URL).unwrap_or_else(|_| {
                panic!(
                    "{TEST_DATABASE_URL} is not set, so the PostgreSQL store cannot be tested. \
                     Run tests/store/postgres.sh, which starts a server and sets it, or set it \
                     to postgres://user:password@127.0.0.1:port/database yourself"
                )
            });
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let name = format!(
                "store_suite_{}_{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            admin(&database_url)
                .batch_execute(&format!("CREATE SCHEMA {name}"))
                .unwrap_or_else(|error| panic!("create the schema {name}: {error}"));
            Schema { database_url, name }
        }

        /// The test database's URL, with every connection's `search_path`
        /// set to this schema: the store's tables are made, and found, in
        /// it.
        pub fn url(&self) -> String {
            let separator = if self.database_url.contains('?') {
                '&'
            } else {
                '?'
            };
            // `-c search_path=NAME`, percent-encoded.
            format!(
                "{}{separator}options=-c%20search_path%3D{}",
                self.database_url, self.name
            )
        }
    }

    impl Drop for Schema {
        fn drop(&mut self) {
            // Best effort: the script's server is thrown away anyway.
            let dropped = admin(&self.database_url)
                .batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name));
            if let Err(error) = dropped {
                eprintln!("could not drop the schema {}: {error}", self.name);
            }
        }
    }

    /// A connection of our own, to make and drop schemas.
    fn admin(database_url: &str) -> Client {
        let mut config: Config = database_url
            .parse()
            .unwrap_or_else(|error| panic!("{TEST_DATABASE_URL}: {error}"));
        config
            .connect_timeout(Duration::from_secs(5))
            .connect(NoTls)
            .unwrap_or_else(|error| panic!("connect to {TEST_DATABASE_URL}: {error}"))
    }
}

// ANCHOR: copy
/// `backend --copy-users-to-postgres` (`store/copy.rs`), from an SQLite
/// file to an empty PostgreSQL schema, each case with a fresh pair.
#[cfg(feature = "postgres")]
mod copy {
    use super::*;
    use backend::passwords::Passwords;
    use backend::store::postgres::PostgresStore;
    use backend::tokens::Tokens;

    type CopyCase = fn();

    pub const CASES: &[(&str, CopyCase)] = &[
        (
            "every_user_is_copied_exactly_and_new_sign_ups_get_new_ids",
            every_user_is_copied_exactly,
        ),
        (
            "a_second_copy_into_a_table_with_users_is_refused_and_changes_nothing",
            a_second_copy_is_refused,
        ),
        (
            "a_user_postgresql_cannot_hold_rolls_the_whole_copy_back",
            all_or_nothing,
        ),
        (
            "an_sqlite_file_at_another_schema_version_or_none_is_refused",
            other_schema_versions,
        ),
    ];

    /// The names a copy could get wrong: quotes, SQL, a backslash, letters
    /// beyond ASCII (which the fold leaves alone), a wildcard of `LIKE`, a
    /// long one.
    const TRICKY_NAMES: &[&str] = &[
        "alice",
        "x'); drop table users;--",
        "o'brien",
        "back\\slash\"quote",
        "İx",
        "名前",
        "100%_sure",
    ];

    const PASSWORD: &str = "correct horse";

    struct Pair {
        sqlite: Backing,
        postgres: Backing,
    }

    impl Pair {
        fn new() -> Pair {
            Pair {
                sqlite: Backing::new(Kind::Sqlite),
                postgres: Backing::new(Kind::Postgres),
            }
        }

        /// The configuration the binary would read: both stores named.
        fn config(&self) -> Config {
            let variables = [self.sqlite.variable(), self.postgres.variable()];
            Config::from_variables(|wanted| {
                variables
                    .iter()
                    .find(|(name, _)| *name == wanted)
                    .map(|(_, value)| value.clone())
            })
            .expect("a valid configuration")
        }

        fn copy(&self) -> Result<usize, String> {
            let config = self.config();
            store::copy::copy_users(
                &config.database_path,
                config.database_url.as_ref().expect("DATABASE_URL is set"),
            )
        }

        /// The PostgreSQL store itself, for what only it has (a count).
        fn postgres_store(&self) -> PostgresStore {
            let config = self.config();
            PostgresStore::open(config.database_url.as_ref().expect("set"), 1)
                .expect("open PostgreSQL")
        }

        /// The SQLite file, behind the store's back.
        fn sqlite_file(&self) -> rusqlite::Connection {
            let (_, path) = self.sqlite.variable();
            rusqlite::Connection::open(path).expect("open the SQLite file")
        }

        /// Signs up every tricky name in SQLite, two with hashes as real
        /// sign-ups make them (argon2id), and returns the users as SQLite
        /// has them. One is given an old sign-up time (a copy that let
        /// PostgreSQL write `now()` would show), and one is deleted, so the
        /// ids have a gap (a copy that numbered users afresh would show).
        fn fill_sqlite(&self, passwords: &Passwords) -> Vec<User> {
            let sqlite = self.sqlite.open();
            let mut users: Vec<User> = TRICKY_NAMES
                .iter()
                .enumerate()
                .map(|(n, text)| {
                    let hash = if n < 2 {
                        passwords.hash(PASSWORD).expect("hash")
                    } else {
                        format!("hash-{n}")
                    };
                    sqlite.insert(&name(text), &hash).expect("a new name")
                })
                .collect();
            let file = self.sqlite_file();
            file.execute(
                "UPDATE users SET created_at = '2001-02-03T04:05:06Z' WHERE id = ?1",
                [users[0].id as i64],
            )
            .expect("an old sign-up");
            users[0].created_at = "2001-02-03T04:05:06Z".to_string();
            let gone = users.remove(2);
            file.execute("DELETE FROM users WHERE id = ?1", [gone.id as i64])
                .expect("a gap");
            users
        }
    }

    fn every_user_is_copied_exactly() {
        let pair = Pair::new();
        let passwords = Passwords::new(1, 1);
        let users = pair.fill_sqlite(&passwords);
        let tokens = Tokens::new(&[7; 32]).expect("a secret");
        let token = tokens.issue(users[0].id).expect("a token").token;
        let (_, path) = pair.sqlite.variable();
        assert_eq!(
            store::sqlite::read_all(std::path::Path::new(&path))
                .expect("read SQLite")
                .1,
            users,
            "SQLite lists its users as they are"
        );

        assert_eq!(pair.copy(), Ok(users.len()));

        let postgres = pair.postgres.open();
        for user in &users {
            assert_eq!(postgres.get(user.id).expect("read"), Some(user.clone()));
            assert_eq!(
                postgres.find_by_name(&name(&user.username)).expect("read"),
                Some(user.clone())
            );
        }
        assert_eq!(
            pair.postgres_store().count_users().expect("count"),
            users.len()
        );
        // The gap stays a gap.
        assert_eq!(postgres.get(3).expect("read"), None);
        // The password still logs alice in, and her token still names her.
        let alice = postgres.find_by_name(&name("alice")).expect("read");
        let hash = alice.as_ref().map(|user| user.password_hash.as_str());
        assert_eq!(passwords.verify(PASSWORD, hash), Ok(true));
        let id = tokens.check(&token).expect("the token is still valid");
        assert_eq!(postgres.get(id).expect("read"), alice);
        // The sequence was moved past the copied ids: a new sign-up neither
        // collides with one nor reuses the gap.
        let largest = users.iter().map(|user| user.id).max().expect("users");
        let new = postgres
            .insert(&name("newcomer"), "hash")
            .expect("a sign-up");
        assert!(new.id > largest, "{new:?} after {largest}");
    }

    fn a_second_copy_is_refused() {
        let pair = Pair::new();
        let users = pair.fill_sqlite(&Passwords::new(1, 1));
        assert_eq!(pair.copy(), Ok(users.len()));
        // Someone signs up in SQLite after the copy; a second copy must
        // not merge them in (nor fail halfway with duplicates).
        let late = pair
            .sqlite
            .open()
            .insert(&name("late"), "hash")
            .expect("new");
        let problem = pair.copy().expect_err("the table has users");
        assert!(problem.contains("already"), "{problem}");
        let postgres = pair.postgres.open();
        assert_eq!(postgres.find_by_name(&name("late")).expect("read"), None);
        assert_eq!(
            pair.postgres_store().count_users().expect("count"),
            users.len()
        );
        for user in &users {
            assert_eq!(postgres.get(user.id).expect("read"), Some(user.clone()));
        }
        assert!(late.id > 0);
    }

    fn all_or_nothing() {
        let pair = Pair::new();
        let users = pair.fill_sqlite(&Passwords::new(1, 1));
        // SQLite stores a NUL character in a text; PostgreSQL refuses one.
        // This user comes last, after every other one was inserted.
        pair.sqlite_file()
            .execute(
                "INSERT INTO users (username, password_hash) VALUES ('nul' || char(0), 'h')",
                [],
            )
            .expect("an odd user");
        let problem = pair.copy().expect_err("PostgreSQL refuses the NUL");
        assert!(problem.contains("nul"), "{problem}");
        let postgres = pair.postgres.open();
        assert_eq!(
            pair.postgres_store().count_users().expect("count"),
            0,
            "{problem}"
        );
        for user in &users {
            assert_eq!(postgres.get(user.id).expect("read"), None, "{user:?}");
        }
        // Nothing is left half-done: once the file is fixed, the copy works.
        pair.sqlite_file()
            .execute("DELETE FROM users WHERE username = 'nul' || char(0)", [])
            .expect("fix the file");
        assert_eq!(pair.copy(), Ok(users.len()));
    }

    fn other_schema_versions() {
        let pair = Pair::new();
        pair.sqlite.open().insert(&name("alice"), "h").expect("new");
        let newer = store_version_count() + 1;
        pair.sqlite_file()
            .pragma_update(None, "user_version", newer as i64)
            .expect("a newer schema");
        let problem = pair.copy().expect_err("a newer SQLite");
        assert!(problem.contains("schema version"), "{problem}");
        assert_eq!(pair.postgres_store().count_users().expect("count"), 0);
        // A path with no file at all: refused, and no empty file is made
        // (a read-write open would make one, and "copy" nobody).
        let folder = tempfile::tempdir().expect("a temporary folder");
        let missing = folder.path().join("missing.sqlite3");
        let config = pair.config();
        let problem = store::copy::copy_users(&missing, config.database_url.as_ref().expect("set"))
            .expect_err("no file");
        assert!(problem.contains("missing.sqlite3"), "{problem}");
        assert!(!missing.exists());
    }

    /// This program's schema version: what a migrated SQLite file has.
    fn store_version_count() -> usize {
        let folder = tempfile::tempdir().expect("a temporary folder");
        let path = folder.path().join("fresh.sqlite3");
        store::sqlite::SqliteStore::open(&path, 1).expect("open");
        store::sqlite::read_all(&path).expect("read").0
    }
}
// ANCHOR_END: copy
