//! `backend`: parses the command line, checks the configuration, owns the
//! process (signals, limits, exit statuses) and hands the rest to the
//! library: `Server::open`, then `Server::run`.
//!
//! `cargo run -p backend` serves the page and the API on
//! http://127.0.0.1:8080 with an SQLite database under `./data` and a
//! development secret (with a warning). `backend --help` lists the settings.

use std::net::TcpListener;
use std::{env, io, process, thread};

use backend::cli::{self, Command};
use backend::{Config, Drained, Server, Shutdown, VERSION};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

// ANCHOR: main
/// The exit status for a configuration we refuse: 2, as command-line tools
/// use for "you called me wrong", so that systemd
/// (`RestartPreventExitStatus=2`) and a person can tell it from a failure
/// at run time (1).
const EXIT_BAD_CONFIGURATION: i32 = 2;

fn main() {
    return_large_blocks_to_the_os();
    let arguments: Vec<String> = env::args().skip(1).collect();
    let command = cli::parse(&arguments).unwrap_or_else(|problem| {
        eprintln!("{problem}");
        process::exit(EXIT_BAD_CONFIGURATION);
    });
    match command {
        Command::Help => {
            print!("{}", cli::USAGE);
            #[cfg(feature = "postgres")]
            print!("{}", cli::POSTGRES_USAGE);
            return;
        }
        Command::Version => {
            println!("backend {VERSION}");
            return;
        }
        Command::CheckConfig | Command::Serve => {}
        #[cfg(feature = "postgres")]
        Command::CopyUsersToPostgres => {}
    }
    // Everything we are told from outside is checked before anything else
    // happens, and every problem is reported, one line each.
    let config = Config::from_env().unwrap_or_else(|problems| refuse_configuration(&problems));
    // One write for all of it: stderr is unbuffered, and a line at a time
    // is a system call per line, which shows in the start-up time.
    let described: String = config
        .describe()
        .iter()
        .map(|line| format!("config: {line}\n"))
        .collect();
    eprint!("{described}");
    if command == Command::CheckConfig {
        if !config.static_dir.is_dir() {
            refuse_configuration(&[format!(
                "STATIC_DIR={}: not a directory",
                config.static_dir.display()
            )]);
        }
        eprintln!("config: valid");
        return;
    }
    #[cfg(feature = "postgres")]
    if command == Command::CopyUsersToPostgres {
        copy_users_to_postgres(&config);
    }
    make_room_for_connections(config.max_connections);
    let listener = TcpListener::bind(config.addr)
        .unwrap_or_else(|error| fail(1, &format!("cannot listen on {}", config.addr), error));
    // With port 0 the kernel picks a free port, so print the one we really got.
    let local = listener
        .local_addr()
        .expect("a bound listener has a local address");
    // SIGTERM (systemd, `kill`) and SIGINT (Ctrl-C) start a graceful stop.
    let shutdown = Shutdown::new();
    request_on_signals(&shutdown)
        .unwrap_or_else(|error| fail(1, "cannot install signal handlers", error));
    let server = Server::open(config)
        .unwrap_or_else(|error| fail(error.exit_status(), "cannot start", &error));
    println!("listening on http://{local}");
    match server.run(listener, shutdown) {
        Ok(Drained::Completely) => eprintln!("every connection finished; exiting"),
        Ok(Drained::CutOff { open_connections }) => {
            eprintln!("drain timeout: exiting with open connections: {open_connections}")
        }
        Err(error) => fail(error.exit_status(), "server stopped", &error),
    }
}

/// `--copy-users-to-postgres`: copies, says how it went, and exits (0 when
/// the copy is verified, 1 when it is not). Every message shows the
/// PostgreSQL URL with its password as `***`.
#[cfg(feature = "postgres")]
fn copy_users_to_postgres(config: &Config) -> ! {
    let Some(url) = &config.database_url else {
        refuse_configuration(&[
            "--copy-users-to-postgres needs DATABASE_URL: the PostgreSQL database to copy into"
                .to_string(),
        ]);
    };
    match backend::store::copy::copy_users(&config.database_path, url) {
        Ok(copied) => {
            println!("copied {copied} users; verified");
            process::exit(0);
        }
        Err(problem) => fail(1, "cannot copy the users", problem),
    }
}

/// Says what is wrong with the configuration, one line per problem, and
/// exits with status 2.
fn refuse_configuration(problems: &[String]) -> ! {
    for problem in problems {
        eprintln!("configuration: {problem}");
    }
    process::exit(EXIT_BAD_CONFIGURATION);
}

/// Says what went wrong and exits with `status`.
fn fail(status: i32, what: &str, error: impl std::fmt::Display) -> ! {
    eprintln!("{what}: {error}");
    process::exit(status);
}
// ANCHOR_END: main

// ANCHOR: open_files
/// How many file descriptors we keep beyond one per connection: the
/// listening socket and each loop's copy, `epoll` and its waker, the
/// database and its journal, the files being sent, stdin/stdout/stderr.
const SPARE_DESCRIPTORS: u64 = 256;

/// Raises the soft limit on open files (`ulimit -n`, 1024 by default) to
/// what `max_connections` needs, as far as the hard limit allows.
///
/// Each connection is a file descriptor. The soft limit is the one that
/// applies, and a process may raise it up to the hard limit (getrlimit(2));
/// systemd sets both with `LimitNOFILE=`. When we cannot reach the target we
/// say so: connections beyond the limit are then refused with a 503.
fn make_room_for_connections(max_connections: usize) {
    let wanted = max_connections as u64 + SPARE_DESCRIPTORS;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we pass, which lives on our
    // stack for the whole call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return;
    }
    if limit.rlim_cur >= wanted {
        return;
    }
    let raised = wanted.min(limit.rlim_max);
    let new_limit = libc::rlimit {
        rlim_cur: raised,
        rlim_max: limit.rlim_max,
    };
    // SAFETY: setrlimit only reads the struct we pass, which lives on our
    // stack for the whole call.
    let accepted = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new_limit) } == 0;
    if !accepted || raised < wanted {
        eprintln!(
            "warning: open files limited to {} (hard limit {}); MAX_CONNECTIONS={} needs {wanted}",
            if accepted { raised } else { limit.rlim_cur },
            limit.rlim_max,
            max_connections
        );
    }
}
// ANCHOR_END: open_files

// ANCHOR: large_blocks
/// Makes the C allocator give every large block (1 MiB or more: each
/// argon2 hash asks for 7 MiB) back to the OS when it is freed.
///
/// glibc's `malloc` serves large blocks with `mmap` and returns them with
/// `munmap`, but after the first such block is freed it raises that size
/// limit to the block's size, and from then on serves 7 MiB blocks from its
/// heaps, which it is slow to shrink: without this call, 30 sign-ups one
/// after another leave stage 07 above 120 MiB (its test
/// `memory_goes_back_to_the_os_after_each_sign_up` shows it). Setting the limit
/// ourselves turns the raising off (mallopt(3)). Other C libraries (musl)
/// always return large blocks, and have no `mallopt`.
fn return_large_blocks_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const ONE_MIB: libc::c_int = 1024 * 1024;
        // SAFETY: mallopt only sets a number inside glibc's allocator; we
        // call it first thing in `main`, before any other thread exists, as
        // glibc's manual asks (it marks mallopt MT-Unsafe).
        let accepted = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, ONE_MIB) };
        if accepted != 1 {
            eprintln!(
                "warning: mallopt(M_MMAP_THRESHOLD) refused; memory may grow with each sign-up"
            );
        }
    }
}
// ANCHOR_END: large_blocks

// ANCHOR: on_signals
/// Requests `shutdown` on the first SIGTERM or SIGINT. A second one means
/// "now": the process exits at once, with status 130 (128 + SIGINT, what
/// shells report for Ctrl-C) or 143 (128 + SIGTERM).
///
/// A signal can arrive at any instant, in the middle of any code, and a
/// signal handler may do almost nothing safely (signal-safety(7)).
/// `signal-hook` does the delicate part: its handler only writes to a pipe,
/// and this ordinary thread reads the signals from it.
fn request_on_signals(shutdown: &Shutdown) -> io::Result<()> {
    let mut signals = Signals::new([SIGTERM, SIGINT])?;
    let shutdown = shutdown.clone();
    thread::Builder::new()
        .name("signals".to_string())
        .spawn(move || {
            for signal in signals.forever() {
                let name = if signal == SIGTERM {
                    "SIGTERM"
                } else {
                    "SIGINT"
                };
                if shutdown.is_requested() {
                    eprintln!("{name} again: exiting without waiting");
                    process::exit(128 + signal);
                }
                eprintln!("{name}: shutting down gracefully (send it again to stop at once)");
                shutdown.request();
            }
        })?;
    Ok(())
}
// ANCHOR_END: on_signals
