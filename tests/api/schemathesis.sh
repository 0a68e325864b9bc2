#!/usr/bin/env bash
# The API description, final/openapi.json, checked against a running server
# by a property-based API tester, schemathesis (from PyPI, pinned in
# tests/api/requirements.txt; its settings in tests/api/schemathesis.toml). A
# fresh server is started in a scratch folder with a signing secret of our
# own (JWT_SECRET_FILE), and one user signs up and logs in with curl. Then
# schemathesis sends every operation of the description generated requests,
# valid and invalid, with that user's token where the operation asks for one,
# and runs all its checks on every answer: no 5xx; only the status codes,
# content types and headers documented; bodies that match their schemas;
# invalid requests refused and valid ones accepted; 405 with `Allow` for the
# methods a path does not serve; 401 without a token or with a wrong one.
# A second, shorter run sends the operations that need a token a refused one,
# so that those 401s are checked against the description too. Any failure,
# or any warning (a token that did not work, say), fails the script.
#
#   tests/api/schemathesis.sh              # stage-10, the newest stage
#   tests/api/schemathesis.sh backend      # another package of the workspace
#
# Needs python3 with venv and pip (Debian: apt-get install python3-venv) and
# curl; the first run installs schemathesis into
# ${CARGO_TARGET_DIR:-target}/schemathesis-venv, and again whenever
# requirements.txt changes. SCHEMATHESIS_MAX_EXAMPLES (50) bounds the
# examples per operation in each phase, SCHEMATHESIS_SECONDS (900) each of
# the two runs; SCHEMATHESIS_SEED=N repeats a run (each prints its seed).
# Traffic stays on 127.0.0.1; every wait is bounded.
#
# The stages predate the description's own route, /api/openapi.json: for a
# stage-NN package that path is left out (and the stage must answer it with
# 404); any other package must serve it, byte for byte final/openapi.json.
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source-path=SCRIPTDIR/../..
source tests/lib.sh

package=${1:-stage-10}
max_examples=${SCHEMATHESIS_MAX_EXAMPLES:-50}
max_seconds=${SCHEMATHESIS_SECONDS:-900}
venv=${CARGO_TARGET_DIR:-target}/schemathesis-venv

require_command python3 python3
require_command curl curl
python3 -c 'import ensurepip, venv' 2>/dev/null ||
  { echo "python3 cannot make a virtual environment: apt-get install python3-venv" >&2; exit 1; }

# install_schemathesis: the pinned schemathesis in its own virtual
# environment, made again when requirements.txt is newer than the last install.
install_schemathesis() {
  if [ "$venv/.installed" -nt tests/api/requirements.txt ] &&
    "$venv/bin/schemathesis" --version >/dev/null 2>&1; then
    return
  fi
  rm -rf "$venv"
  python3 -m venv "$venv"
  timeout 600 "$venv/bin/pip" install --quiet --disable-pip-version-check \
    --requirement tests/api/requirements.txt
  touch "$venv/.installed"
}

install_schemathesis
"$venv/bin/schemathesis" --version
build_stages "$package"

make_work_folder
write_jwt_secret "$work/jwt-secret"
start_stage "$package" $((2 * max_seconds + 60)) JWT_SECRET_FILE="$work/jwt-secret"
addr=$(wait_for_address)
base=http://$addr

# fail MESSAGE: says what went wrong and what the server said last, and stops.
fail() {
  echo "$1" >&2
  echo "the last lines $server_stage wrote on stderr:" >&2
  tail -n 40 "$work/err" >&2
  exit 1
}

# post_json PATH BODY OUT: POSTs BODY as JSON, the answer's body to OUT;
# prints the status code.
post_json() {
  curl --silent --show-error --max-time 10 --output "$3" --write-out '%{http_code}' \
    --header 'Content-Type: application/json' --data-binary "$2" "$base$1"
}

# One user, and a token for it, for the operations that need one.
password=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
credentials="{\"username\":\"schemathesis\",\"password\":\"$password\"}"
status=$(post_json /api/users "$credentials" "$work/signed-up.json")
[ "$status" = 201 ] || fail "signing up answered $status: $(cat "$work/signed-up.json")"
status=$(post_json /api/login "$credentials" "$work/logged-in.json")
[ "$status" = 200 ] || fail "logging in answered $status: $(cat "$work/logged-in.json")"
SCHEMATHESIS_TOKEN=$("$venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["token"])' \
  <"$work/logged-in.json")
export SCHEMATHESIS_TOKEN

# The description's own route: absent from the stages, served verbatim by the rest.
leave_out=()
status=$(curl --silent --show-error --max-time 10 --output "$work/openapi.json" \
  --write-out '%{http_code}' "$base/api/openapi.json")
case $package in
  stage-*)
    [ "$status" = 404 ] || fail "$package answered GET /api/openapi.json with $status, not 404"
    echo "$package does not serve /api/openapi.json: that path is left out"
    leave_out=(--exclude-path /api/openapi.json)
    ;;
  *)
    [ "$status" = 200 ] || fail "$package answered GET /api/openapi.json with $status, not 200"
    cmp --silent "$work/openapi.json" final/openapi.json ||
      fail "$package serves an /api/openapi.json that is not final/openapi.json"
    ;;
esac

seed=()
[ -z "${SCHEMATHESIS_SEED:-}" ] || seed=(--seed "$SCHEMATHESIS_SEED")

# run_schemathesis WHAT ARGUMENTS...: one run of schemathesis over the
# description, with every check, at most max_examples examples per operation
# and phase, and whatever ARGUMENTS add; stops the script if it finds
# anything. Nothing is kept between runs, and nothing is written into the
# work tree: no example database (--generation-database none), hypothesis's
# other files in the scratch folder. One worker: the other core is the
# server's.
run_schemathesis() {
  local what=$1
  shift
  echo "==> schemathesis: $what"
  HYPOTHESIS_STORAGE_DIRECTORY=$work/hypothesis timeout "$max_seconds" \
    "$venv/bin/schemathesis" --config-file tests/api/schemathesis.toml \
    run final/openapi.json --url "$base" \
    --checks all --max-examples "$max_examples" --workers 1 \
    --generation-database none --no-color "${seed[@]}" "$@" ||
    fail "schemathesis found failures in $what (or ran out of its $max_seconds s: exit status 124)"
}

run_schemathesis "every operation, with a valid token" "${leave_out[@]}"

# The same operations that need a token, with one the server must refuse (its
# signature is changed): every answer is then a 401 with
# `WWW-Authenticate: Bearer error="invalid_token"`, which the first run only
# sees in the probes of its `ignored_auth` check, whose answers it does not
# check against the description.
signature=${SCHEMATHESIS_TOKEN##*.}
case $signature in
  A*) SCHEMATHESIS_TOKEN=${SCHEMATHESIS_TOKEN%.*}.B${signature#?} ;;
  *) SCHEMATHESIS_TOKEN=${SCHEMATHESIS_TOKEN%.*}.A${signature#?} ;;
esac
# (--warnings off: here, that every answer is a 401 is the point, and the
# warning that says so, `missing_auth`, would fail the run.)
run_schemathesis "the operations that need a token, with a refused one" \
  --include-path-regex '^/api/(me|users/[{]id[}])$' --warnings off

# A handler that panicked is answered with a closed connection, which
# schemathesis reports; say so here too, whatever it made of it.
if grep -n 'panicked' "$work/err" >&2; then
  fail "$package panicked while schemathesis ran"
fi
curl --silent --fail --max-time 5 --output /dev/null "$base/health" ||
  fail "$package no longer answers GET /health"
echo "schemathesis: $package matches final/openapi.json"
