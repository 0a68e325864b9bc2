#!/usr/bin/env bash
# The book's conformance tables, checked the way a reader sees them: the book
# is built (`cargo xtask book`, into book/build), stage 06 serves it on
# 127.0.0.1, and book-table.mjs has headless Chromium (Debian's, driven by
# playwright-core) open the conformance appendix and every chapter with a
# conformance table, at 1280×800 and 1920×1080. It checks that the last
# column can be reached without being cut, that no verdict cell wraps, that
# the marks are words drawn without an emoji font, and that all of this
# still holds with one more stage column than today. Screenshots go to
# target/book-table/ (or $CARGO_TARGET_DIR/book-table/).
#
#   tests/browser/book-table.sh  # needs chromium and node: apt-get install chromium nodejs npm
#
# CI runs it with the other browser tests. Like them it is a script, so that
# `cargo test --workspace` needs no browser, and it never skips: no Chromium
# or no Node.js is a failure. playwright-core downloads no browser. Traffic
# stays on 127.0.0.1; every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source-path=SCRIPTDIR/../..
source tests/lib.sh

require_playwright
cargo xtask book
build_stages stage-06

# A copy of the book is served, so that another `cargo xtask book` (which
# empties book/build first) cannot pull pages from under the browser.
make_work_folder
cp -r book/build "$work/book"

# The appendix, and each chapter whose page has a column headed stage-NN.
pages=()
for page in "$work"/book/*.html; do
  [ "$(basename "$page")" = print.html ] && continue
  grep -q '<th>stage-[0-9][0-9]</th>' "$page" && pages+=("$(basename "$page")")
done
[[ " ${pages[*]} " == *" conformance.html "* ]] || { echo "book/build/conformance.html has no stage columns" >&2; exit 1; }

screenshots=${CARGO_TARGET_DIR:-target}/book-table
rm -rf "$screenshots"

# Stage 06 serves the book: a pool of workers (Chromium opens several
# connections at once) with idle timeouts (and leaves some of them idle).
start_stage stage-06 180 STATIC_DIR="$work/book" WORKERS=16
addr=$(wait_for_address)
check_with "book table test" run_playwright tests/browser/book-table.mjs "http://$addr/" "$screenshots" "${pages[@]}"
