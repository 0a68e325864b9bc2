//! The include checker: every `{{#include}}` in the book must point at a file
//! that exists and, if it names an anchor, at an anchor that exists; and the
//! book never pastes code.
//!
//! Why our own checker: when an include is broken, mdBook logs a warning and
//! carries on (a missing anchor even includes nothing, silently), so a
//! renamed function or a moved anchor would leave a hole in a chapter that no
//! build ever fails on. This check fails instead, and lists every problem as
//! `file:line: what is wrong`, so they can all be fixed in one go.
//!
//! The directives we understand are mdBook's own:
//!
//! ```text
//! {{#include PATH}}               the whole file
//! {{#include PATH:ANCHOR}}        the lines between `ANCHOR: name` and `ANCHOR_END: name`
//! {{#include PATH:N}}             line N
//! {{#include PATH:N:M}}           lines N to M (also `N:` and `:M`)
//! {{#rustdoc_include …}}          the same, for Rust that is shown in part
//! {{#playground PATH}}            a whole Rust file, runnable
//! ```
//!
//! `PATH` is relative to the Markdown file; `\{{#include …}}` (escaped) is
//! text about includes, not an include, and is left alone.

use std::fmt;
use std::fs;
use std::io;
use std::path::Path;

use crate::{display_relative, files_under};

/// A ```` ```rust ```` block longer than this must be an include: a few lines
/// to show a signature or a mistake are fine, a listing is not.
pub const MAX_PASTED_RUST_LINES: usize = 6;

/// The directives that read another file.
const FILE_DIRECTIVES: [&str; 3] = ["include", "rustdoc_include", "playground"];

/// One thing wrong with the book, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The Markdown file, as given to the checker (relative where possible).
    pub file: String,
    /// 1-based line number in that file.
    pub line: usize,
    /// What is wrong, in a sentence.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// Checks every `.md` file under `src_dir`; file names in the problems are
/// shown relative to `shown_relative_to` (the repository root, normally).
pub fn check_book(src_dir: &Path, shown_relative_to: &Path) -> io::Result<Vec<Problem>> {
    let mut problems = Vec::new();
    for path in files_under(src_dir)? {
        if path.extension().is_some_and(|extension| extension == "md") {
            let markdown = fs::read_to_string(&path)?;
            let shown_name = display_relative(&path, shown_relative_to);
            problems.extend(check_markdown(&path, &shown_name, &markdown));
        }
    }
    Ok(problems)
}

/// Checks one Markdown file: its includes, and its Rust code blocks.
pub fn check_markdown(path: &Path, shown_name: &str, markdown: &str) -> Vec<Problem> {
    let folder = path.parent().unwrap_or(Path::new("."));
    let mut problems = Vec::new();
    for (index, line) in markdown.lines().enumerate() {
        for directive in directives_in(line) {
            if let Some(message) = problem_with(&directive, folder) {
                problems.push(Problem {
                    file: shown_name.to_string(),
                    line: index + 1,
                    message,
                });
            }
        }
    }
    for block in pasted_rust_blocks(markdown) {
        problems.push(Problem {
            file: shown_name.to_string(),
            line: block.first_line,
            message: format!(
                "a ```rust block of {} lines is pasted code; the book never pastes code: \
                 put it in a stage's sources between `// ANCHOR: name` and \
                 `// ANCHOR_END: name` and `{{{{#include …:name}}}}` it",
                block.line_count
            ),
        });
    }
    problems
}

/// A `{{#name argument …}}` found in the Markdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// `include`, `rustdoc_include`, `playground`, `title`, …
    pub name: String,
    /// The first word after the name: for file directives, `PATH[:…]`.
    pub argument: String,
}

/// The directives on one line, as mdBook finds them: `{{`, optional spaces,
/// `#name`, at least one space, then anything but `}` up to `}}`.
pub fn directives_in(line: &str) -> Vec<Directive> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(start) = rest.find("{{") {
        let escaped = rest[..start].ends_with('\\');
        let after_braces = &rest[start + 2..];
        rest = after_braces;
        // mdBook's escape, `\{{#…}}`, runs (greedily) to the last `}}` on the
        // line, and everything in it is shown as text.
        if escaped && after_braces.starts_with('#') {
            if let Some(last_close) = after_braces.rfind("}}") {
                rest = &after_braces[last_close + 2..];
                continue;
            }
        }
        let Some(body) = after_braces.trim_start().strip_prefix('#') else {
            continue;
        };
        let name_length = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(body.len());
        let (name, after_name) = body.split_at(name_length);
        let Some(close) = after_name.find('}') else {
            continue;
        };
        let (arguments, after_close) = after_name.split_at(close);
        let separated = arguments.starts_with(char::is_whitespace);
        if name.is_empty() || !separated || !after_close.starts_with("}}") {
            continue;
        }
        if let Some(argument) = arguments.split_whitespace().next() {
            found.push(Directive {
                name: name.to_string(),
                argument: argument.to_string(),
            });
            rest = &after_close[2..];
        }
    }
    found
}

/// What a file directive asks for after the path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Selection {
    WholeFile,
    Anchor(String),
    /// 1-based line numbers, as written; either end may be open.
    Lines {
        first: Option<usize>,
        last: Option<usize>,
    },
}

/// Splits `PATH[:…]` the way mdBook does: after the path, a number starts a
/// line range, anything else is an anchor name.
fn parse_file_argument(argument: &str) -> (&str, Selection) {
    let Some((path, selector)) = argument.split_once(':') else {
        return (argument, Selection::WholeFile);
    };
    let mut parts = selector.splitn(3, ':');
    let first_part = parts.next().unwrap_or("");
    let first = match first_part.parse::<usize>() {
        Ok(number) => Some(number),
        Err(_) if first_part.is_empty() => None,
        Err(_) => return (path, Selection::Anchor(first_part.to_string())),
    };
    let last = match parts.next() {
        // `PATH:N` is the single line N.
        None => first,
        Some(number) => number.parse::<usize>().ok(),
    };
    (path, Selection::Lines { first, last })
}

/// What is wrong with one directive, if anything.
fn problem_with(directive: &Directive, folder: &Path) -> Option<String> {
    if !FILE_DIRECTIVES.contains(&directive.name.as_str()) {
        return None;
    }
    let (relative_path, selection) = parse_file_argument(&directive.argument);
    let target = folder.join(relative_path);
    let Ok(content) = fs::read_to_string(&target) else {
        return Some(format!(
            "{{{{#{} {}}}}}: cannot read {}",
            directive.name,
            directive.argument,
            target.display()
        ));
    };
    match selection {
        Selection::WholeFile => None,
        Selection::Anchor(anchor) => missing_anchor(&content, &anchor).map(|missing| {
            format!(
                "{{{{#{} {}}}}}: {relative_path} has no `{missing}`",
                directive.name, directive.argument
            )
        }),
        Selection::Lines { first, last } => {
            let line_count = content.lines().count();
            let beyond = [first, last]
                .into_iter()
                .flatten()
                .find(|&number| number > line_count);
            beyond.map(|number| {
                format!(
                    "{{{{#{} {}}}}}: line {number} is past the end of {relative_path} \
                     ({line_count} lines); an anchor would not drift like this",
                    directive.name, directive.argument
                )
            })
        }
    }
}

/// Which half of an anchor pair is missing from `content`, if any. The end
/// must come after the start: mdBook reads from the start to the end.
fn missing_anchor(content: &str, anchor: &str) -> Option<String> {
    let start = format!("ANCHOR: {anchor}");
    let end = format!("ANCHOR_END: {anchor}");
    let lines: Vec<&str> = content.lines().collect();
    let Some(start_line) = lines
        .iter()
        .position(|line| names_anchor(line, "ANCHOR:", anchor))
    else {
        return Some(start);
    };
    let has_end = lines[start_line + 1..]
        .iter()
        .any(|line| names_anchor(line, "ANCHOR_END:", anchor));
    if has_end {
        None
    } else {
        Some(end)
    }
}

/// Whether `line` holds `marker` followed by exactly the anchor `name` (so
/// `ANCHOR: serve` does not count as `ANCHOR: serve_static`).
fn names_anchor(line: &str, marker: &str, name: &str) -> bool {
    line.match_indices(marker).any(|(at, _)| {
        let named = line[at + marker.len()..].trim_start();
        named.strip_prefix(name).is_some_and(|after| {
            !after.starts_with(|c: char| c.is_alphanumeric() || c == '_' || c == '-')
        })
    })
}

/// A fenced ```` ```rust ```` block that is longer than
/// [`MAX_PASTED_RUST_LINES`] and is not just includes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastedBlock {
    /// 1-based line of the opening fence.
    pub first_line: usize,
    /// Lines between the fences.
    pub line_count: usize,
}

/// An open code fence: ```` ``` ```` or `~~~`, three or more long.
struct Fence {
    character: char,
    length: usize,
    is_rust: bool,
    first_line: usize,
    body: Vec<String>,
}

/// The Rust code blocks that paste code instead of including it.
pub fn pasted_rust_blocks(markdown: &str) -> Vec<PastedBlock> {
    let mut pasted = Vec::new();
    let mut open: Option<Fence> = None;
    for (index, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        match open.take() {
            None => open = opening_fence(trimmed, index + 1),
            Some(fence) if closes(&fence, trimmed) => {
                if fence.is_rust && fence.body.len() > MAX_PASTED_RUST_LINES {
                    let all_includes = fence
                        .body
                        .iter()
                        .filter(|line| !line.trim().is_empty())
                        .all(|line| is_only_an_include(line));
                    if !all_includes {
                        pasted.push(PastedBlock {
                            first_line: fence.first_line,
                            line_count: fence.body.len(),
                        });
                    }
                }
            }
            Some(mut fence) => {
                fence.body.push(line.to_string());
                open = Some(fence);
            }
        }
    }
    pasted
}

fn opening_fence(trimmed: &str, line_number: usize) -> Option<Fence> {
    let character = trimmed.chars().next().filter(|&c| c == '`' || c == '~')?;
    let length = trimmed.chars().take_while(|&c| c == character).count();
    if length < 3 {
        return None;
    }
    // The info string: `rust`, `rust,ignore`, `rust no_run`, `rust {.class}`.
    let info = trimmed[length..].trim();
    let language = info
        .split(|c: char| c == ',' || c == '{' || c.is_whitespace())
        .next()
        .unwrap_or("");
    Some(Fence {
        character,
        length,
        is_rust: language == "rust",
        first_line: line_number,
        body: Vec::new(),
    })
}

fn closes(fence: &Fence, trimmed: &str) -> bool {
    let run = trimmed
        .chars()
        .take_while(|&c| c == fence.character)
        .count();
    run >= fence.length && trimmed[run..].trim().is_empty()
}

fn is_only_an_include(line: &str) -> bool {
    let trimmed = line.trim();
    trimmed.starts_with("{{")
        && trimmed.ends_with("}}")
        && directives_in(trimmed)
            .iter()
            .any(|directive| FILE_DIRECTIVES.contains(&directive.name.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A book folder with one chapter and one source file to include.
    fn book_with(chapter: &str) -> tempfile::TempDir {
        let folder = tempfile::tempdir().expect("temp dir");
        let source = "fn before() {}\n// ANCHOR: serve\nfn serve() {}\n// ANCHOR_END: serve\n\
                      // ANCHOR: half\n";
        fs::create_dir_all(folder.path().join("src/code")).expect("mkdir");
        fs::write(folder.path().join("src/code/lib.rs"), source).expect("write");
        fs::write(folder.path().join("src/chapter.md"), chapter).expect("write");
        folder
    }

    fn problems_in(chapter: &str) -> Vec<String> {
        let book = book_with(chapter);
        check_book(&book.path().join("src"), book.path())
            .expect("check")
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn includes_of_files_anchors_and_lines_that_exist_pass() {
        let chapter = "# Chapter\n\
                       {{#include code/lib.rs}}\n\
                       {{#include code/lib.rs:serve}}\n\
                       {{ #rustdoc_include code/lib.rs:serve }}\n\
                       {{#include code/lib.rs:2}} and {{#include code/lib.rs:1:3}}\n\
                       {{#include code/lib.rs:2:}} {{#include code/lib.rs::3}}\n\
                       \\{{#include not/a/real/file.rs}} is how you write an include\n";

        assert_eq!(problems_in(chapter), Vec::<String>::new());
    }

    #[test]
    fn a_missing_file_is_reported_with_file_and_line() {
        let problems = problems_in("# Chapter\n\n{{#include code/gone.rs:serve}}\n");

        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0]
            .starts_with("src/chapter.md:3: {{#include code/gone.rs:serve}}: cannot read"));
    }

    #[test]
    fn a_missing_anchor_or_a_missing_anchor_end_is_reported() {
        let problems = problems_in(
            "{{#include code/lib.rs:serv}}\n{{#include code/lib.rs:half}}\n\
             {{#include code/lib.rs:serve_static}}\n",
        );

        assert_eq!(
            problems,
            [
                "src/chapter.md:1: {{#include code/lib.rs:serv}}: code/lib.rs has no `ANCHOR: serv`",
                "src/chapter.md:2: {{#include code/lib.rs:half}}: code/lib.rs has no `ANCHOR_END: half`",
                "src/chapter.md:3: {{#include code/lib.rs:serve_static}}: code/lib.rs has no `ANCHOR: serve_static`",
            ]
        );
    }

    #[test]
    fn a_line_range_past_the_end_of_the_file_is_reported() {
        let problems = problems_in("{{#include code/lib.rs:3:40}}\n");

        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("line 40 is past the end"),
            "{problems:?}"
        );
    }

    #[test]
    fn every_problem_is_listed_not_just_the_first() {
        let problems = problems_in("{{#include a.rs}}\n{{#include b.rs}}\n{{#include c.rs}}\n");

        assert_eq!(problems.len(), 3, "{problems:?}");
    }

    #[test]
    fn a_long_pasted_rust_block_is_reported_but_a_short_one_or_an_include_is_not() {
        let long_paste = format!("```rust\n{}```\n", "let x = 1;\n".repeat(7));
        let short_paste = format!("```rust,ignore\n{}```\n", "let x = 1;\n".repeat(6));
        let long_include = format!(
            "````rust\n{}\n````\n",
            "{{#include code/lib.rs:serve}}\n".repeat(7)
        );
        let long_console = format!("```console\n{}```\n", "$ echo\n".repeat(20));
        let chapter = format!("# C\n\n{long_paste}\n{short_paste}\n{long_include}\n{long_console}");

        let problems = problems_in(&chapter);

        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("src/chapter.md:3: a ```rust block of 7 lines is pasted code"),
            "{problems:?}"
        );
    }

    #[test]
    fn pasted_code_mixed_with_an_include_is_still_pasted_code() {
        let chapter = format!(
            "```rust\n{{{{#include code/lib.rs:serve}}}}\n{}```\n",
            "let x = 1;\n".repeat(6)
        );

        assert_eq!(pasted_rust_blocks(&chapter).len(), 1);
    }

    #[test]
    fn directives_are_found_the_way_mdbook_finds_them() {
        let found = directives_in(
            "a {{#include x.rs:anchor}} {{#include}} {{#include y.rs  }} \\{{#include no.rs}} {{#title Hi}}",
        );

        let found: Vec<(&str, &str)> = found
            .iter()
            .map(|directive| (directive.name.as_str(), directive.argument.as_str()))
            .collect();
        assert_eq!(found, [("include", "x.rs:anchor"), ("include", "y.rs")]);
    }
}
