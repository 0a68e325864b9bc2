#!/usr/bin/env bash
# The frontend page, checked the way a person sees it: each stage that serves
# frontend/ is started, headless Chromium loads http://ADDR/, runs the page's
# script (which asks /api/status), and we check the DOM it ends up with.
#
#   tests/browser/frontend.sh            # needs chromium: apt-get install chromium
#
# CI runs it after installing Chromium. It is a script rather than a cargo
# test so that `cargo test --workspace` needs no browser; it never skips: no
# Chromium is a failure. Traffic stays on 127.0.0.1; every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source-path=SCRIPTDIR/../..
source tests/lib.sh

require_command chromium chromium

stages=()
for dir in stages/stage-*/; do
  [ -d "$dir/frontend" ] && stages+=("$(basename "$dir")")
done
[ ${#stages[@]} -gt 0 ] || { echo "no stage has a frontend/" >&2; exit 1; }
build_stages "${stages[@]}"

make_work_folder
failures=0
for stage in "${stages[@]}"; do
  # Each server runs in a fresh folder of its own: from stage 08 a stage
  # writes its database (and from 09 a development secret) under data/.
  start_stage "$stage" 60
  addr=$(wait_for_address)

  timeout 30 chromium --headless --no-sandbox --disable-gpu --disable-quic \
    --no-first-run --disable-background-networking --disable-component-update \
    --disable-sync --user-data-dir="$work/profile-$stage" \
    --virtual-time-budget=5000 --dump-dom "http://$addr/" >"$work/dom" 2>/dev/null || true

  number=${stage#stage-}
  if grep -q 'class="status status-ok"' "$work/dom" && grep -q 'up: "ok"' "$work/dom" &&
     grep -q "<dd>$number</dd>" "$work/dom"; then
    echo "$stage: the page shows the server up, stage $number"
  else
    echo "$stage: the page did not show the status; the DOM was:" >&2
    sed -n '/<main>/,/<\/main>/p' "$work/dom" >&2
    failures=$((failures + 1))
  fi
  stop_stage
done

echo "$((${#stages[@]} - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
