#!/usr/bin/env python3
"""Part II's transcripts: what the system test ran, as the book shows it.

Part I's transcripts (xtask/src/transcript.rs) are run by a test; Part II's
commands need a VPS, so tests/deploy/system.sh runs them on its simulated
one and records each here. The files are book/src/transcripts/deploy/NAME.txt,
in Part I's format: `$ command`, its output, an empty line.

  transcript.py add DIR NAME COMMAND OUTPUT_FILE [STATUS]
      Appends COMMAND and the contents of OUTPUT_FILE (and a last line
      `[exit status N]` when STATUS is given and not 0) to DIR/NAME.txt.
      The folder in TRANSCRIPT_HOME, if set, is shown as `~`.
  transcript.py finish DIR BOOK_DIR
      With INSTA_UPDATE=always, copies DIR's transcripts into BOOK_DIR.
      Otherwise compares them with BOOK_DIR's and exits 1, with a diff, on
      any difference, or on a transcript one side has and the other lacks.

What changes from run to run is replaced before anything is written or
compared: release names (`20261201T220314Z-fd6fcfd44ba3`) become
`<release 1>`, `<release 2>`… in the order a transcript first names them;
backup names, dates, times, durations and certificate serials become
`<time>`, `<date>`, `<ms>`, `<serial>`; and a run of the doctor's log lines
(`|       log: …`) becomes one line, `|       log: <the last lines of the
log>`.
"""

import difflib
import os
import re
import shutil
import sys

DOCTOR_LOG = re.compile(r"^(\|\s+)log: .*\n(?:\|\s+log: .*\n)*", re.MULTILINE)
RELEASE = re.compile(r"\b\d{8}T\d{6}Z-[0-9a-f]{12}(?:-dirty)?\b")
REPLACEMENTS = [
    (re.compile(r"\b[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT\b"), "<http date>"),
    (re.compile(r"\b[A-Z][a-z]{2} +\d{1,2} \d{2}:\d{2}:\d{2} \d{4} GMT\b"), "<openssl date>"),
    (re.compile(r"\b\d{8}T\d{6}Z\b"), "<time>"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}\b"), "<date>"),
    (re.compile(r"\b\d{2}:\d{2}:\d{2}\b"), "<clock>"),
    (re.compile(r"duration_ms=[0-9.]+"), "duration_ms=<ms>"),
    (re.compile(r"\b\d+(?:\.\d+)? ?ms\b"), "<ms>"),
    (re.compile(r"(?i)\bserial(?:=| number:? ?)[0-9a-f:]+"), "serial=<serial>"),
    (re.compile(r"\(ray [0-9a-f]+-LAB\)"), "(ray <ray>)"),
    (re.compile(r"\bpid \d+"), "pid <pid>"),
    (re.compile(r"\bPID: \d+"), "PID: <pid>"),
    (re.compile(r"\b\d+ restarts\b"), "<n> restarts"),
    (re.compile(r"\b\d+ days left\b"), "<n> days left"),
    (re.compile(r"\bsince [A-Z][a-z]{2} <date> <clock> UTC; [0-9a-z ]+ ago"), "since <time>; <duration> ago"),
    (re.compile(r"(Pebble (?:Root|Intermediate) CA) [0-9a-f]+"), r"\1 <id>"),
    (re.compile(r"restart counter is at \d+"), "restart counter is at <n>"),
]


def normalise(text):
    releases = {}

    def release_name(match):
        name = match.group(0)
        if name not in releases:
            releases[name] = f"<release {len(releases) + 1}>"
        return releases[name]

    text = RELEASE.sub(release_name, text)
    # The doctor's log lines (`|       log: …`) are the service's own last
    # lines, which depend on everything before: shown as one placeholder.
    text = DOCTOR_LOG.sub(r"\1log: <the last lines of the log>\n", text)
    for pattern, replacement in REPLACEMENTS:
        text = pattern.sub(replacement, text)
    return text


def add(directory, name, command, output_file, status="0"):
    with open(output_file, encoding="utf-8", errors="replace") as f:
        output = f.read()
    home = os.environ.get("TRANSCRIPT_HOME")
    if home:
        output = output.replace(home, "~")
    if output and not output.endswith("\n"):
        output += "%\n"
    if status != "0":
        output += f"[exit status {status}]\n"
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name + ".txt"), "a", encoding="utf-8") as f:
        f.write(normalise(f"$ {command}\n{output}\n"))
    return 0


def finish(directory, book_directory):
    ours = set(os.listdir(directory)) if os.path.isdir(directory) else set()
    book = set(os.listdir(book_directory)) if os.path.isdir(book_directory) else set()
    if os.environ.get("INSTA_UPDATE") == "always":
        os.makedirs(book_directory, exist_ok=True)
        for name in book - ours:
            os.remove(os.path.join(book_directory, name))
        for name in ours:
            shutil.copy(os.path.join(directory, name), os.path.join(book_directory, name))
        print(f"transcripts: wrote {len(ours)} into {book_directory}")
        return 0
    failed = False
    for name in sorted(ours | book):
        if name not in book or name not in ours:
            where = "the book lacks" if name not in book else "the test did not make"
            print(f"transcripts: {where} {name}", file=sys.stderr)
            failed = True
            continue
        with open(os.path.join(book_directory, name), encoding="utf-8") as f:
            expected = f.read()
        with open(os.path.join(directory, name), encoding="utf-8") as f:
            got = f.read()
        if expected != got:
            sys.stderr.writelines(difflib.unified_diff(
                expected.splitlines(True), got.splitlines(True),
                f"book/{name}", f"this run/{name}"))
            failed = True
    if failed:
        print("transcripts differ: if the change is meant, rerun with INSTA_UPDATE=always "
              "and review `git diff`", file=sys.stderr)
        return 1
    print(f"transcripts: all {len(ours)} match the book")
    return 0


def main(argv):
    if len(argv) in (6, 7) and argv[1] == "add":
        return add(*argv[2:])
    if len(argv) == 4 and argv[1] == "finish":
        return finish(argv[2], argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
