//! Checked transcripts: the console sessions at the end of each chapter
//! ("try it"), run for real against the stage they describe.
//!
//! A transcript, `book/src/transcripts/stage-NN.txt`, looks like a terminal:
//!
//! ```text
//! $ curl -i http://127.0.0.1:8080/health
//! HTTP/1.1 200 OK
//! Content-Length: 3
//!
//! ok
//!
//! $ next command
//! …
//! ```
//!
//! A line starting with `$ ` is a command; the lines up to the next command
//! are its output, followed by one empty line that separates it from the
//! next command. The test (`tests/transcripts.rs`) starts the stage on a
//! free port, runs every command with `sh -c` from the repository root (the
//! stage's address put in place of `127.0.0.1:8080`), and compares what comes
//! out with what the book says, so the book cannot promise output that the
//! code no longer produces.
//!
//! What is compared, precisely:
//!
//! - stdout and stderr, merged in the order they were written;
//! - a nonzero exit status, as a last line `[exit status N]`, so a reader who
//!   sees it in their terminal is not surprised;
//! - line endings: HTTP's `\r\n` is shown as `\n` (a `.txt` file full of
//!   carriage returns is miserable to edit; the wire-level tests check the
//!   real bytes);
//! - output that does not end with a newline (`curl` prints a body as it
//!   is, and `{"status":"ok"}` has none) gets a `%` at the end of its last
//!   line, as zsh marks it. A terminal cannot start the next prompt on a
//!   fresh line by itself: zsh shows that `%` and moves on, bash prints the
//!   next `$ ` right after the body. Either way the reader sees that the
//!   output stopped mid-line, so the transcript shows it too, rather than a
//!   newline that was never sent. (To avoid the mark, end the command with
//!   curl's `-w '\n'`, as the book does where the body is the point.)
//! - the real port is shown as `8080`, so the text reads like the reader's;
//! - the value of `Date:` headers, the version in `User-Agent: curl/…`,
//!   RFC 3339 times in UTC (`"created_at":"2026-12-01T16:48:28Z"`, from
//!   stage 07) and JSON Web Tokens (`eyJ….….…`, from stage 09) are ignored,
//!   because they change from one run or machine to the next.
//!
//! curl reads its configuration from `xtask/transcript-curl/.curlrc`, which
//! turns off the progress meter that curl shows only when its output is not
//! a terminal (the reader, at a terminal, never sees it), and ignores any
//! proxy and any personal `~/.curlrc`.
//!
//! With `INSTA_UPDATE=always`, outputs are rewritten from the real run; the
//! commands are kept as written.

use std::io::Read;
use std::net::SocketAddr;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::repo_root;

/// The address transcripts are written with, as in the book's prose.
pub const PLACEHOLDER_ADDRESS: &str = "127.0.0.1:8080";

/// The port of [`PLACEHOLDER_ADDRESS`], shown instead of the real one.
pub const PLACEHOLDER_PORT: u16 = 8080;

/// How long one command may take. Generous, because a loaded CI machine is
/// slow; a command that needs longer is a bad example for a book anyway.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// The folder with the `.curlrc` used while transcripts run, relative to
/// the repository root.
pub const CURL_HOME: &str = "xtask/transcript-curl";

/// The line that starts a command.
const PROMPT: &str = "$ ";

/// What marks output that ends without a newline: zsh's mark.
pub const NO_NEWLINE_MARK: &str = "%";

/// One command of a transcript and what it printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The command as written, without the `$ `.
    pub command: String,
    /// Its output: empty, or lines that each end with `\n`.
    pub output: String,
}

/// Reads a transcript. Anything but blank lines before the first command is
/// a mistake (there is no command it could be the output of).
pub fn parse(transcript: &str) -> Result<Vec<Step>, String> {
    let mut steps: Vec<Step> = Vec::new();
    for (index, line) in transcript.lines().enumerate() {
        if let Some(command) = line.strip_prefix(PROMPT) {
            steps.push(Step {
                command: command.to_string(),
                output: String::new(),
            });
        } else if let Some(step) = steps.last_mut() {
            step.output.push_str(line);
            step.output.push('\n');
        } else if !line.trim().is_empty() {
            return Err(format!(
                "line {}: output before the first `$ ` command",
                index + 1
            ));
        }
    }
    // The empty line after each output separates it from the next command;
    // it is not part of the output.
    for step in &mut steps {
        if step.output == "\n" {
            step.output.clear();
        } else if step.output.ends_with("\n\n") {
            step.output.pop();
        }
    }
    Ok(steps)
}

/// Writes a transcript: each command, its output, an empty line.
pub fn render(steps: &[Step]) -> String {
    let mut transcript = String::new();
    for step in steps {
        transcript.push_str(PROMPT);
        transcript.push_str(&step.command);
        transcript.push('\n');
        transcript.push_str(&step.output);
        transcript.push('\n');
    }
    transcript
}

/// Runs every command of `committed` against a server at `address`, from
/// `working_dir`, and returns the transcript as it should be.
///
/// If the fresh run matches the committed text (ignoring dates and curl's
/// version) the committed text is returned unchanged, so a check passes and
/// an update does not rewrite the file for nothing; otherwise the fresh text.
pub fn rerun(committed: &str, address: SocketAddr, working_dir: &Path) -> Result<String, String> {
    let steps = parse(committed)?;
    let mut fresh = Vec::new();
    for step in &steps {
        let command = step
            .command
            .replace(PLACEHOLDER_ADDRESS, &address.to_string());
        let output = run_command(&command, working_dir, COMMAND_TIMEOUT)
            .map_err(|problem| format!("`{}`: {problem}", step.command))?;
        fresh.push(Step {
            command: step.command.clone(),
            output: replace_number(&output, address.port(), PLACEHOLDER_PORT),
        });
    }
    let fresh = render(&fresh);
    if comparable(&render(&steps)) == comparable(&fresh) {
        Ok(committed.to_string())
    } else {
        Ok(fresh)
    }
}

/// Runs `command` with `sh -c` and returns its merged output, normalised as
/// described at the top of this file. Fails if it runs out of time.
pub fn run_command(command: &str, working_dir: &Path, timeout: Duration) -> Result<String, String> {
    // `exec 2>&1` points the shell's stderr at its stdout before the command
    // runs, so both go down one pipe in the order they were written: two
    // pipes read separately would make the order depend on timing.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("exec 2>&1\n{command}"))
        .current_dir(working_dir)
        .env("CURL_HOME", repo_root().join(CURL_HOME))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        // Its own process group, so a timeout can stop the whole pipeline
        // (`echo | curl` is two processes), not just `sh`.
        .process_group(0)
        .spawn()
        .map_err(|error| format!("cannot start sh: {error}"))?;
    let deadline = Instant::now() + timeout;

    // Read on another thread, so we can stop waiting when time is up.
    let mut stdout = child.stdout.take().expect("stdout was piped");
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let result = stdout.read_to_end(&mut bytes).map(|_| bytes);
        // The receiver is gone only if we already gave up on this command.
        let _ = sender.send(result);
    });

    let remaining = deadline.saturating_duration_since(Instant::now());
    let bytes = match receiver.recv_timeout(remaining) {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(error)) => return Err(format!("cannot read its output: {error}")),
        Err(_) => return Err(stop_after_timeout(&mut child, timeout)),
    };
    let status =
        wait_until(&mut child, deadline).ok_or_else(|| stop_after_timeout(&mut child, timeout))?;

    let mut output = String::from_utf8_lossy(&bytes).replace("\r\n", "\n");
    if !output.is_empty() && !output.ends_with('\n') {
        output.push_str(NO_NEWLINE_MARK);
        output.push('\n');
    }
    if let Some(status_line) = unusual_status(status) {
        output.push_str(&status_line);
        output.push('\n');
    }
    Ok(output)
}

/// Waits for `child` to exit, polling, until `deadline`.
fn wait_until(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
            Ok(None) | Err(_) => return None,
        }
    }
}

/// Kills the command's whole process group and says why.
fn stop_after_timeout(child: &mut Child, timeout: Duration) -> String {
    let group = i32::try_from(child.id()).expect("process ids fit in an i32");
    // SAFETY: `kill` takes plain integers and touches no memory of ours. A
    // negative pid means "every process in this group", which is the group
    // we created for this command with `process_group(0)`.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
    // Reap `sh` so it does not linger as a zombie; it was just killed.
    let _ = child.wait();
    format!("did not finish within {} s", timeout.as_secs())
}

/// The last line for an exit that was not a success, if it was not.
fn unusual_status(status: ExitStatus) -> Option<String> {
    match (status.code(), status.signal()) {
        (Some(0), _) => None,
        (Some(code), _) => Some(format!("[exit status {code}]")),
        (None, Some(signal)) => Some(format!("[killed by signal {signal}]")),
        (None, None) => Some("[exited abnormally]".to_string()),
    }
}

/// Replaces the number `from` with `to` wherever it stands alone (not as
/// part of a longer number), e.g. the port in `127.0.0.1:41234` or in curl's
/// `port 41234`.
pub fn replace_number(text: &str, from: u16, to: u16) -> String {
    let from = from.to_string();
    let mut replaced = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(&from) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + from.len()..].chars().next();
        let stands_alone = !before.is_some_and(|c| c.is_ascii_digit())
            && !after.is_some_and(|c| c.is_ascii_digit());
        replaced.push_str(&rest[..at]);
        if stands_alone {
            replaced.push_str(&to.to_string());
        } else {
            replaced.push_str(&from);
        }
        rest = &rest[at + from.len()..];
    }
    replaced.push_str(rest);
    replaced
}

/// The transcript with what may differ between runs blanked out: the value
/// of `Date:` headers (`^(< )?[Dd]ate: `, `< ` being curl's verbose marker),
/// the version in `User-Agent: curl/X.Y.Z`, and RFC 3339 times in UTC
/// (`2026-12-01T16:48:28Z`).
pub fn comparable(transcript: &str) -> String {
    transcript
        .lines()
        .map(|line| {
            let header = line.strip_prefix("< ").unwrap_or(line);
            if header.starts_with("Date: ") || header.starts_with("date: ") {
                let prefix_length = line.len() - header.len() + "Date: ".len();
                format!("{}<any date>", &line[..prefix_length])
            } else {
                without_tokens(&without_rfc3339_times(&without_curl_version(line)))
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `line` with every JSON Web Token replaced by `<any token>`: a token
/// holds the time it was issued, so it changes every second. A JWT is
/// three base64url parts joined by dots, and its first part, a JSON object,
/// always starts `eyJ` (base64 of `{"`).
fn without_tokens(line: &str) -> String {
    let is_token_char = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    let mut kept = String::new();
    let mut rest = line;
    while let Some(at) = rest.find("eyJ") {
        let length = rest[at..]
            .find(|c: char| !is_token_char(c))
            .unwrap_or(rest.len() - at);
        let candidate = &rest[at..at + length];
        kept.push_str(&rest[..at]);
        if candidate.split('.').count() == 3 {
            kept.push_str("<any token>");
        } else {
            kept.push_str(candidate);
        }
        rest = &rest[at + length..];
    }
    kept.push_str(rest);
    kept
}

/// `line` with every `YYYY-MM-DDTHH:MM:SSZ` replaced by `<any time>`.
fn without_rfc3339_times(line: &str) -> String {
    const SHAPE: &[u8] = b"dddd-dd-ddTdd:dd:ddZ";
    let fits = |window: &[u8]| {
        window.iter().zip(SHAPE).all(|(&byte, &shape)| match shape {
            b'd' => byte.is_ascii_digit(),
            _ => byte == shape,
        })
    };
    let bytes = line.as_bytes();
    let mut kept = String::new();
    let mut start = 0;
    let mut at = 0;
    while at + SHAPE.len() <= bytes.len() {
        if fits(&bytes[at..at + SHAPE.len()]) {
            // The shape is ASCII, so `at` and its end are char boundaries.
            kept.push_str(&line[start..at]);
            kept.push_str("<any time>");
            at += SHAPE.len();
            start = at;
        } else {
            at += 1;
        }
    }
    kept.push_str(&line[start..]);
    kept
}

fn without_curl_version(line: &str) -> String {
    const USER_AGENT: &str = "user-agent: curl/";
    // ASCII lowercasing keeps byte positions, so `at` is valid in `line`.
    let Some(at) = line.to_ascii_lowercase().find(USER_AGENT) else {
        return line.to_string();
    };
    let version_start = at + USER_AGENT.len();
    let version_length = line[version_start..]
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
        .unwrap_or(line.len() - version_start);
    format!(
        "{}<any version>{}",
        &line[..version_start],
        &line[version_start + version_length..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transcript_is_commands_each_followed_by_its_output_and_an_empty_line() {
        let transcript = "$ first\none\n\ntwo\n\n$ second\n\n$ third\nthree\n";

        let steps = parse(transcript).expect("parse");

        assert_eq!(
            steps,
            [
                Step {
                    command: "first".into(),
                    output: "one\n\ntwo\n".into()
                },
                Step {
                    command: "second".into(),
                    output: "".into()
                },
                Step {
                    command: "third".into(),
                    output: "three\n".into()
                },
            ]
        );
        assert_eq!(
            render(&steps),
            "$ first\none\n\ntwo\n\n$ second\n\n$ third\nthree\n\n"
        );
    }

    #[test]
    fn output_that_ends_in_an_empty_line_survives_a_round_trip() {
        let steps = vec![Step {
            command: "curl -i http://127.0.0.1:8080/empty".into(),
            output: "HTTP/1.1 204 No Content\n\n".into(),
        }];

        assert_eq!(parse(&render(&steps)).expect("parse"), steps);
    }

    #[test]
    fn text_before_the_first_command_is_refused() {
        assert!(parse("stray output\n$ command\n").is_err());
    }

    #[test]
    fn stderr_and_stdout_are_merged_in_order_and_a_failure_shows_its_status() {
        let output = run_command(
            "echo out; echo err >&2; echo out again; exit 3",
            Path::new("."),
            COMMAND_TIMEOUT,
        )
        .expect("run");

        assert_eq!(output, "out\nerr\nout again\n[exit status 3]\n");
    }

    #[test]
    fn crlf_becomes_lf() {
        let output =
            run_command(r"printf 'a\r\nb\r\n'", Path::new("."), COMMAND_TIMEOUT).expect("run");

        assert_eq!(output, "a\nb\n");
    }

    #[test]
    fn output_without_a_final_newline_ends_with_zshs_mark_as_in_a_terminal() {
        let run = |command| run_command(command, Path::new("."), COMMAND_TIMEOUT).expect("run");

        assert_eq!(run(r#"printf '{"status":"ok"}'"#), "{\"status\":\"ok\"}%\n");
        assert_eq!(run(r"printf 'a\r\nb'"), "a\nb%\n");
        assert_eq!(run("printf 'done\\n'"), "done\n");
        assert_eq!(run("printf ''"), "");
        assert_eq!(run("printf x; exit 2"), "x%\n[exit status 2]\n");
    }

    #[test]
    fn a_command_that_outlives_its_timeout_is_stopped_and_reported() {
        let started = Instant::now();

        let problem = run_command(
            "echo | sleep 30",
            Path::new("."),
            Duration::from_millis(300),
        )
        .expect_err("it must time out");

        assert!(problem.contains("did not finish"), "{problem}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn curl_shows_no_progress_meter_even_though_its_output_is_a_pipe() {
        let some_file = repo_root().join("Cargo.toml");
        let command = format!("curl -o /dev/null file://{}", some_file.display());

        let output = run_command(&command, Path::new("."), COMMAND_TIMEOUT).expect("run");

        assert_eq!(output, "");
    }

    #[test]
    fn the_real_port_is_shown_as_8080_but_longer_numbers_are_left_alone() {
        let shown = replace_number(
            "Connected to 127.0.0.1 port 41234\nhttp://127.0.0.1:41234/\n141234 412345\n",
            41234,
            8080,
        );

        assert_eq!(
            shown,
            "Connected to 127.0.0.1 port 8080\nhttp://127.0.0.1:8080/\n141234 412345\n"
        );
    }

    #[test]
    fn dates_and_curl_versions_are_ignored_but_nothing_else_is() {
        let recorded = "date: Mon, 01 Jan 2024 00:00:00 GMT\n< Date: Tue, 02 Jan 2024\n\
                        > User-Agent: curl/7.88.1\nbody";
        let fresh = "date: Sat, 21 Nov 2026 10:00:00 GMT\n< Date: Sat, 21 Nov 2026\n\
                     > User-Agent: curl/8.10.0\nbody";
        let different_body = "date: Sat\n< Date: Sat\n> User-Agent: curl/8.10.0\nbody!";

        assert_eq!(comparable(recorded), comparable(fresh));
        assert_ne!(comparable(recorded), comparable(different_body));
        assert_ne!(comparable("X-Date: 1"), comparable("X-Date: 2"));
    }

    #[test]
    fn json_web_tokens_are_ignored_but_other_text_is_not() {
        let recorded =
            r#"{"token":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln","token_type":"Bearer"}"#;
        let fresh =
            r#"{"token":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIyIn0.b3RoZXI","token_type":"Bearer"}"#;
        assert_eq!(comparable(recorded), comparable(fresh));
        assert_eq!(
            comparable("Bearer eyJa.eyJb.c"),
            "Bearer <any token>".to_string()
        );
        // Not three parts: compared as it is.
        assert_ne!(comparable("eyJa.eyJb"), comparable("eyJa.eyJc"));
        assert_ne!(
            comparable(r#"{"token":"eyJa.b.c","token_type":"Bearer"}"#),
            comparable(r#"{"token":"eyJa.b.c","token_type":"Basic"}"#)
        );
    }

    #[test]
    fn rfc3339_times_are_ignored_but_other_numbers_are_not() {
        let recorded = r#"{"id":1,"created_at":"2026-12-01T16:48:28Z"} 2026-12-01T16:48:29Z"#;
        let fresh = r#"{"id":1,"created_at":"2027-01-02T03:04:05Z"} 2027-01-02T03:04:06Z"#;
        assert_eq!(comparable(recorded), comparable(fresh));
        assert_eq!(
            comparable("é 2026-12-01T16:48:28Z"),
            "é <any time>".to_string()
        );
        assert_ne!(
            comparable(r#"{"id":1,"created_at":"2026-12-01T16:48:28Z"}"#),
            comparable(r#"{"id":2,"created_at":"2026-12-01T16:48:28Z"}"#)
        );
        // Not quite the shape: compared as it is.
        assert_ne!(
            comparable("2026-12-01 16:48:28Z"),
            comparable("2027-12-01 16:48:28Z")
        );
    }
}
