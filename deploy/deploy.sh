#!/usr/bin/env bash
# Ships `backend` to a VPS that deploy/provision.sh has set up.
#
#   DOMAIN=example.com deploy/deploy.sh deploy@203.0.113.7            # build, upload, switch, check
#   DOMAIN=example.com deploy/deploy.sh rollback deploy@203.0.113.7   # back to the previous release
#   DOMAIN=example.com deploy/deploy.sh backup deploy@203.0.113.7     # take a backup now, download it
#   DOMAIN=example.com deploy/deploy.sh restore deploy@203.0.113.7 FILE  # put a backup back
#
# A deploy builds the release binary here, uploads it with the page to
# /opt/backend/releases/<time>-<commit>/, points the `current` symlink at it
# in one atomic step, restarts the service (which drains the old process
# first), and checks the site through nginx. If the new release is not
# healthy within HEALTH_TIMEOUT seconds, it switches back to the previous
# one, says so, and exits 1. The newest KEEP_RELEASES releases are kept.
#
# Settings (environment):
#   DOMAIN          the site's name (the health check asks nginx for it)
#   KEEP_RELEASES   how many releases to keep on the server (default 5)
#   HEALTH_TIMEOUT  seconds a new release has to become healthy (default 20)
#   BACKEND_BINARY  a binary to ship instead of building one (the system
#                   test uses it to ship a deliberately broken release)
#   BACKUP_TO       where `backup` saves the file (default: ~/backend-backups)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
command=deploy
case "${1:-}" in
  rollback | backup | restore) command=$1; shift ;;
  '' | -*) usage ;;
esac
[ $# -ge 1 ] || usage
host=$1
: "${DOMAIN:?set DOMAIN (the site name, e.g. example.com)}"

# on_server ARGS...: runs deploy/remote/release.sh ARGS as root on the VPS.
on_server() {
  # shellcheck disable=SC2029 # the settings are meant to expand here
  ssh "$host" sudo -n env DOMAIN="$(printf '%q' "$DOMAIN")" KEEP_RELEASES="${KEEP_RELEASES:-5}" \
    HEALTH_TIMEOUT="${HEALTH_TIMEOUT:-20}" bash -s -- "$@" <"$repo/deploy/remote/release.sh"
}

case $command in
  rollback)
    on_server rollback
    exit
    ;;
  backup)
    # shellcheck disable=SC2016 # expanded on the server
    newest='ls -1 /var/lib/private/backend-backups | grep "^backend-.*\.sqlite3$" | sort | tail -n 1'
    ssh "$host" sudo -n systemctl start backend-backup.service
    name=$(ssh "$host" sudo -n sh -c "$(printf '%q' "$newest")")
    backup_to=${BACKUP_TO:-$HOME/backend-backups}
    mkdir -p "$backup_to"
    ssh "$host" sudo -n cat "/var/lib/private/backend-backups/$name" >"$backup_to/$name"
    echo "backup: $backup_to/$name"
    exit
    ;;
  restore)
    if [ $# -ne 2 ] || [ ! -f "$2" ]; then usage; fi
    upload=/tmp/restore-$(basename "$2")
    scp -q "$2" "$host:$upload"
    on_server restore "$upload"
    # shellcheck disable=SC2029 # the name is ours, expanded here
    ssh "$host" rm -f "$upload"
    exit
    ;;
esac

# ANCHOR: build
# 1. Build. The release profile is the one the size and speed figures were
# measured with. The binary links glibc dynamically: build on a system no
# newer than the server's (Debian 12 or Ubuntu 24.04 here both work).
if [ -n "${BACKEND_BINARY:-}" ]; then
  binary=$BACKEND_BINARY
else
  (cd "$repo" && cargo build --release --locked --quiet -p backend)
  binary=${CARGO_TARGET_DIR:-$repo/target}/release/backend
fi
commit=$(git -C "$repo" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
git -C "$repo" diff --quiet HEAD 2>/dev/null || commit=$commit-dirty
release=$(date -u +%Y%m%dT%H%M%SZ)-$commit
# ANCHOR_END: build

# ANCHOR: upload
# 2. Upload into a folder of its own. Nothing serves from it yet, so a slow
# or broken upload harms nobody.
echo "deploy: uploading $release"
staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
mkdir -p "$staging/$release"
cp "$binary" "$staging/$release/backend"
cp -r "$repo/final/frontend" "$staging/$release/frontend"
rsync -a --chmod=D755,F644 "$staging/$release" "$host:/opt/backend/releases/"
# ANCHOR_END: upload

# ANCHOR: activate
# 3. Switch, restart, check; roll back on failure (deploy/remote/release.sh).
on_server activate "$release"
# ANCHOR_END: activate
