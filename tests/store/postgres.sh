#!/usr/bin/env bash
# The PostgreSQL store (`backend --features postgres`), against a real
# PostgreSQL server (Debian's `postgresql` package): a throwaway one, on a
# temporary data folder and a free port on 127.0.0.1, stopped and deleted
# when the script exits, whatever happens.
#
#   tests/store/postgres.sh
#
# 1. The store suite (final/tests/store.rs), every case against SQLite and
#    PostgreSQL, and backend's unit tests, all with the feature built in.
#    BACKEND_TEST_DATABASE_URL tells the suite where the server is (the
#    suite fails, rather than skips, without it).
# 2. The real binary on PostgreSQL: --check-config shows DATABASE_URL
#    without its password; sign-up, the same name again (409), log in,
#    /api/me; then PostgreSQL crashes (`pg_ctl stop -m immediate`: no
#    shutdown checkpoint, so the restart replays the write-ahead log), and
#    once it is back, /ready answers at once and the user logs in. The
#    password never appears in anything the server printed.
# 3. The move from SQLite: users sign up on the binary with SQLite; it is
#    stopped; `backend --copy-users-to-postgres` copies them into an empty
#    database (and refuses a second time); on PostgreSQL the same users
#    log in, a token from before the copy still works, and the next
#    sign-up gets the next id.
# 4. A backup: pg_dump of that database, restored with pg_restore into a
#    new one; backend on it serves the same users, and the next sign-up
#    gets the next id (the sequence came back too).
#
# Run as root (as CI does), PostgreSQL runs as `nobody`: it refuses to run
# as root. Traffic stays on 127.0.0.1; every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source-path=SCRIPTDIR/../..
source tests/lib.sh

pg_bin=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
[ -x "$pg_bin/initdb" ] || { echo "PostgreSQL not found: apt-get install postgresql" >&2; exit 1; }
require_command psql postgresql-client
require_command curl curl
require_command python3 python3

# The server's files: a folder of its own that its user (nobody, under root)
# owns, since the server refuses a data folder others can read.
make_work_folder
pg_dir=$(mktemp -d)
as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then
    (cd "$pg_dir" && runuser -u nobody -- "$@")
  else
    (cd "$pg_dir" && "$@")
  fi
}
stop_postgres() {
  [ -f "$pg_dir/data/postmaster.pid" ] || return 0
  as_postgres "$pg_bin/pg_ctl" -D "$pg_dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 && return 0
  # It did not stop in 30 s: end it, by its own process id.
  kill -KILL "$(head -n 1 "$pg_dir/data/postmaster.pid")" 2>/dev/null || true
}
trap 'stop_stage; stop_postgres; rm -rf "$work" "$pg_dir"' EXIT
[ "$(id -u)" -ne 0 ] || chown nobody "$pg_dir"

# A free port on 127.0.0.1 (the kernel's pick; nothing else takes it in
# the moment before PostgreSQL does, on a machine running only tests).
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
password=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
# Local (Unix socket) connections, for this script only, need no password;
# over TCP, the only way the backend and the tests connect, one is required.
as_postgres "$pg_bin/initdb" -D "$pg_dir/data" -U postgres --auth-local=trust \
  --auth-host=scram-sha-256 --no-sync >/dev/null
start_postgres() {
  as_postgres "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w -t 30 \
    -o "-k $pg_dir -h 127.0.0.1 -p $port" start >/dev/null ||
    { echo "PostgreSQL did not start:" >&2; cat "$pg_dir/log" >&2; exit 1; }
}
start_postgres
psql_admin() {
  timeout 30 psql -X -q -h "$pg_dir" -p "$port" -U postgres -v ON_ERROR_STOP=1 "$@"
}
psql_admin -d postgres -c "CREATE ROLE backend LOGIN PASSWORD '$password'" \
  -c "CREATE DATABASE backend OWNER backend" -c "CREATE DATABASE suite OWNER backend" \
  -c "CREATE DATABASE moved OWNER backend"
database_url() { echo "postgres://backend:$password@127.0.0.1:$port/$1"; }

echo "1. the store suite and backend's unit tests, on PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') at 127.0.0.1:$port"
BACKEND_TEST_DATABASE_URL=$(database_url suite) \
  timeout 1800 cargo test --locked -p backend --features postgres --lib --test store

echo "2. the real binary on PostgreSQL"
timeout 1800 cargo build --quiet --locked -p backend --features postgres
binary=${CARGO_TARGET_DIR:-target}/debug/backend
write_jwt_secret "$work/jwt-secret"
url=$(database_url backend)

fail() { echo "$*" >&2; [ -f "$work/err" ] && { echo "backend said:" >&2; cat "$work/err" >&2; }; exit 1; }
# expect STATUS WHAT CURL-ARGUMENTS...: one request; fails unless it is STATUS.
expect() {
  local status=$1 what=$2 got
  shift 2
  got=$(curl -s -o "$work/body" -w '%{http_code}' --max-time 10 "$@") || got="no answer"
  [ "$got" = "$status" ] || fail "$what: expected $status, got $got: $(cat "$work/body" 2>/dev/null)"
}
sign_up() {
  curl -s -o "$work/body" -w '%{http_code}' --max-time 10 -H 'Content-Type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"correct horse\"}" "http://$addr/api/$2"
}

checked=$(DATABASE_URL=$url timeout 10 "$binary" --check-config 2>&1) || fail "--check-config refused: $checked"
grep -qx "config: DATABASE_URL=postgres://backend:\*\*\*@127.0.0.1:$port/backend" <<<"$checked" ||
  fail "--check-config does not show DATABASE_URL with its password hidden: $checked"
if grep -qF "$password" <<<"$checked"; then fail "--check-config printed the password"; fi

start_stage backend 120 DATABASE_URL="$url" JWT_SECRET_FILE="$work/jwt-secret"
addr=$(wait_for_address)
[ "$(sign_up Alice users)" = 201 ] || fail "sign-up: $(cat "$work/body")"
[ "$(sign_up alice users)" = 409 ] || fail "the same name again: $(cat "$work/body")"
[ "$(sign_up ALICE login)" = 200 ] || fail "log in: $(cat "$work/body")"
token=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["token"])' "$work/body")
expect 200 "/api/me" -H "Authorization: Bearer $token" "http://$addr/api/me"
grep -q '"username":"alice"' "$work/body" || fail "/api/me: $(cat "$work/body")"

# PostgreSQL crashes and comes back; the backend keeps running.
crash_postgres() { as_postgres "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate -w -t 30 stop >/dev/null; }
crash_postgres
start_postgres
grep -q "database system was not properly shut down" "$pg_dir/log" ||
  fail "PostgreSQL did not recover from a crash (was it one?): $(cat "$pg_dir/log")"
# The backend's pooled connections all died with the server: a read
# notices, and asks again on a new connection, so the first request after
# the restart succeeds already.
expect 200 "/ready right after PostgreSQL's restart" "http://$addr/ready"
[ "$(sign_up alice login)" = 200 ] || fail "log in after PostgreSQL's crash: $(cat "$work/body")"
# And while it is down, the backend is alive but not ready.
crash_postgres
expect 503 "/ready while PostgreSQL is down" "http://$addr/ready"
expect 200 "/health while PostgreSQL is down" "http://$addr/health"
if grep -qF "$password" "$work/err" "$work/out"; then fail "the backend printed the password"; fi
stop_stage
start_postgres

echo "3. users signed up on SQLite, copied with --copy-users-to-postgres, log in on PostgreSQL"
sqlite_file=$work/users.sqlite3
# start_stage runs each binary in a folder of its own name; this is the
# second run of backend.
rm -rf "$work/run-backend"
start_stage backend 120 DATABASE_PATH="$sqlite_file" JWT_SECRET_FILE="$work/jwt-secret"
addr=$(wait_for_address)
moved_names=(Carol dave.2 e-f_g)
for name in "${moved_names[@]}"; do
  [ "$(sign_up "$name" users)" = 201 ] || fail "sign-up of $name on SQLite: $(cat "$work/body")"
done
[ "$(sign_up carol login)" = 200 ] || fail "log in on SQLite: $(cat "$work/body")"
token=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["token"])' "$work/body")
# As --help asks: the service is stopped before the copy, so nobody signs
# up on SQLite after the copy has read it.
stop_stage
moved_url=$(database_url moved)
copy_users() {
  DATABASE_PATH="$sqlite_file" DATABASE_URL="$moved_url" JWT_SECRET_FILE="$work/jwt-secret" \
    timeout 60 "$binary" --copy-users-to-postgres >"$work/copy-out" 2>"$work/copy-err"
}
copy_users || fail "the copy failed: $(cat "$work/copy-out" "$work/copy-err")"
grep -qx "copied ${#moved_names[@]} users; verified" "$work/copy-out" ||
  fail "the copy said: $(cat "$work/copy-out" "$work/copy-err")"
if copy_users; then fail "a second copy into the same database was not refused"; fi
grep -q "users already" "$work/copy-err" || fail "the second copy said: $(cat "$work/copy-err")"
if grep -qF "$password" "$work/copy-out" "$work/copy-err"; then fail "the copy printed the password"; fi

rm -rf "$work/run-backend"
start_stage backend 120 DATABASE_URL="$moved_url" JWT_SECRET_FILE="$work/jwt-secret"
addr=$(wait_for_address)
for name in "${moved_names[@]}"; do
  [ "$(sign_up "$name" login)" = 200 ] || fail "log in as $name after the copy: $(cat "$work/body")"
done
# The token names carol by id, signed with the same secret: same id, same user.
expect 200 "/api/me with a token from before the copy" -H "Authorization: Bearer $token" "http://$addr/api/me"
grep -q '"username":"carol"' "$work/body" || fail "/api/me after the copy: $(cat "$work/body")"
# The sequence was moved past the copied ids: the next sign-up is user 4.
[ "$(sign_up frank users)" = 201 ] || fail "a sign-up after the copy: $(cat "$work/body")"
grep -q '"id":4[,}]' "$work/body" || fail "the first sign-up after the copy: $(cat "$work/body")"
if grep -qF "$password" "$work/err" "$work/out"; then fail "the backend printed the password"; fi
stop_stage

echo "4. a pg_dump of that database, restored into a new one, serves the same users"
# pg_dump takes a consistent snapshot of a database in use (one
# transaction), in its own format (-Fc); pg_restore makes the tables, rows
# and the id sequence again, owned by the role the service logs in as.
timeout 60 pg_dump -h "$pg_dir" -p "$port" -U postgres -Fc moved >"$work/moved.dump" ||
  fail "pg_dump failed"
psql_admin -d postgres -c "CREATE DATABASE restored OWNER backend"
timeout 60 pg_restore -h "$pg_dir" -p "$port" -U postgres --no-owner --role=backend \
  -d restored "$work/moved.dump" || fail "pg_restore failed"
rm -rf "$work/run-backend"
start_stage backend 120 DATABASE_URL="$(database_url restored)" JWT_SECRET_FILE="$work/jwt-secret"
addr=$(wait_for_address)
for name in "${moved_names[@]}" frank; do
  [ "$(sign_up "$name" login)" = 200 ] || fail "log in as $name after the restore: $(cat "$work/body")"
done
# The sequence came back too: the next sign-up is user 5, not a clash.
[ "$(sign_up grace users)" = 201 ] || fail "a sign-up after the restore: $(cat "$work/body")"
grep -q '"id":5[,}]' "$work/body" || fail "the first sign-up after the restore: $(cat "$work/body")"
echo "PostgreSQL store: suite, binary, crash and restart, the copy from SQLite and a pg_dump restore all pass"
