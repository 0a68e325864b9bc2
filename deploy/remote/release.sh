#!/usr/bin/env bash
# The server half of deploy/deploy.sh: runs as root on the VPS. Never run
# by hand; deploy.sh pipes it over ssh.
#
#   release.sh activate ID     switch to releases/ID, restart, check, roll back on failure
#   release.sh rollback        switch back to the release before the current one
#   release.sh restore FILE    replace the database with a backup (the service stops meanwhile)
#
# Settings (environment, from deploy.sh): DOMAIN, KEEP_RELEASES, HEALTH_TIMEOUT.
set -euo pipefail
: "${DOMAIN:?}"
base=/opt/backend
keep=${KEEP_RELEASES:-5}
health_timeout=${HEALTH_TIMEOUT:-20}

say() { printf 'deploy: %s\n' "$*"; }

current_release() { basename "$(readlink "$base/current" 2>/dev/null || echo none)"; }

# ANCHOR: switch
# switch_to ID: points `current` at releases/ID in one step. POSIX describes
# `ln -sf` as removing the old link, then making the new one: for a moment
# there would be no `current`, and a restart in that moment would fail.
# (GNU ln 9 happens to do better, but a script should not depend on which
# ln it meets.) Making the new link under another name and renaming it over
# the old one is atomic (rename(2)): `current` is always the old release or
# the new one, never missing.
switch_to() {
  ln -sfn "releases/$1" "$base/current.new"
  mv -T "$base/current.new" "$base/current"
}
# ANCHOR_END: switch

# ANCHOR: healthy
# healthy ID: the release ID is what runs and it answers, through nginx.
# Three checks, for up to HEALTH_TIMEOUT seconds:
#  - systemd says the service is active, and its process is ID's binary
#    (not the old process, still draining, nor a crash-looping new one);
#  - /api/status through nginx, over HTTPS, says "ok";
#  - the page (/) is served: a wrong STATIC_DIR shows up here, not in
#    /api/status.
# -k: this checks the service, not the certificate (doctor.sh does that).
healthy() {
  local deadline=$((SECONDS + health_timeout)) pid exe
  local site=(curl -sk --max-time 3 --resolve "$DOMAIN:443:127.0.0.1")
  while [ "$SECONDS" -lt "$deadline" ]; do
    if systemctl is-active --quiet backend; then
      pid=$(systemctl show -p MainPID --value backend)
      exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
      if [ "$exe" = "$base/releases/$1/backend" ] &&
        "${site[@]}" "https://$DOMAIN/api/status" | grep -q '"status":"ok"' &&
        [ "$("${site[@]}" -o /dev/null -w '%{http_code}' "https://$DOMAIN/")" = 200 ]; then
        # Still up a second later: not a process about to crash.
        sleep 1
        [ "$(systemctl show -p MainPID --value backend)" = "$pid" ] && return 0
      fi
    fi
    sleep 0.5
  done
  return 1
}
# ANCHOR_END: healthy

# ANCHOR: restart
# restart ID: the drain happens here. systemctl restart sends SIGTERM; the
# backend stops accepting, finishes the requests it has (DRAIN_TIMEOUT_SECS),
# and exits; only then does systemd start the new binary. Requests that
# arrive in that gap get nginx's 502: one process cannot hand its socket
# to the next (several instances can: "Outgrowing one VPS").
restart_into() {
  switch_to "$1"
  # A crash-looping release uses up systemd's start limit (5 starts in 10
  # s), after which it refuses to start anything: forget that first.
  systemctl reset-failed backend 2>/dev/null || true
  systemctl restart backend || true
  healthy "$1"
}
# ANCHOR_END: restart

# ANCHOR: activate
activate() {
  local release=$1 previous cursor
  [ -f "$base/releases/$release/backend" ] || { say "no release $release"; exit 1; }
  chmod 755 "$base/releases/$release/backend"
  previous=$(current_release)
  # Where the journal stands now: if the release fails, what it printed
  # (and only that) is shown.
  cursor=$(journalctl -u backend -n 1 --show-cursor -o cat 2>/dev/null | sed -n 's/^-- cursor: //p' || true)
  say "switching $previous -> $release"
  if restart_into "$release"; then
    say "$release is live and healthy"
    prune "$release" "$previous"
    return 0
  fi
  say "$release is NOT healthy; what the service printed since the switch:"
  journalctl _SYSTEMD_UNIT=backend.service ${cursor:+--after-cursor="$cursor"} --no-pager -o cat |
    tail -n 15 | sed 's/^/  log: /' || true
  say "and how it ended: $(systemctl show -p Result -p ExecMainStatus backend | paste -sd ' ' -)"
  # Kept for a look, under a name no rollback or prune takes for a release.
  mv "$base/releases/$release" "$base/releases/failed-$release"
  if [ "$previous" = none ]; then
    say "no previous release to go back to"
    exit 1
  fi
  say "rolling back to $previous"
  if restart_into "$previous"; then
    say "rolled back: $previous is live and healthy"
  else
    say "the rollback to $previous is not healthy either: run deploy/doctor.sh"
  fi
  exit 1
}
# ANCHOR_END: activate

# releases: the releases, oldest first (names start with their time). A
# release that failed its health check is failed-<name>, and not listed.
releases() {
  find "$base/releases" -mindepth 1 -maxdepth 1 -type d -name '[0-9]*' -printf '%f\n' | sort
}

# prune CURRENT PREVIOUS: keeps the newest KEEP_RELEASES releases, and
# always the current and previous ones, whatever their age; failed ones go
# once a release after them is healthy.
prune() {
  local release
  find "$base/releases" -mindepth 1 -maxdepth 1 -type d -name 'failed-*' -exec rm -rf {} +
  releases | sort -r | tail -n +"$((keep + 1))" | while read -r release; do
    if [ "$release" != "$1" ] && [ "$release" != "$2" ]; then
      rm -rf "${base:?}/releases/$release"
      say "removed old release $release"
    fi
  done
}

rollback() {
  local current previous
  current=$(current_release)
  previous=$(releases |
    awk -v current="$current" '$0 == current { print last; exit } { last = $0 }')
  [ -n "$previous" ] || { say "no release older than $current to roll back to"; exit 1; }
  say "rolling back $current -> $previous"
  restart_into "$previous" || { say "$previous is not healthy: run deploy/doctor.sh"; exit 1; }
  say "$previous is live and healthy"
}

# ANCHOR: restore
# restore FILE: the database from a backup. The service stops first (its
# open database must not change under it), the old database is kept beside
# it, the -wal and -shm files of the old one go (they belong to it, not to
# the backup), and the copy belongs to the service's user, as its folder does.
restore() {
  local backup=$1 state=/var/lib/private/backend kept
  sqlite3 "$backup" 'PRAGMA integrity_check' | grep -qx ok || { say "$backup is not a sound database"; exit 1; }
  kept=backend.sqlite3.before-restore-$(date -u +%Y%m%dT%H%M%SZ)
  systemctl stop backend
  if [ -f "$state/backend.sqlite3" ]; then
    mv "$state/backend.sqlite3" "$state/$kept"
  else
    kept=
  fi
  rm -f "$state/backend.sqlite3-wal" "$state/backend.sqlite3-shm"
  install -m 600 "$backup" "$state/backend.sqlite3"
  chown --reference="$state" "$state/backend.sqlite3"
  systemctl start backend
  healthy "$(current_release)" || { say "not healthy after the restore: run deploy/doctor.sh"; exit 1; }
  say "restored $(basename "$backup")${kept:+; the old database is $state/$kept}"
}
# ANCHOR_END: restore

case "${1:-}" in
  activate) activate "$2" ;;
  rollback) rollback ;;
  restore) restore "$2" ;;
  *) echo "usage: release.sh activate ID | rollback | restore FILE" >&2; exit 2 ;;
esac
