#!/usr/bin/env bash
# deploy/backend.service and deploy/backend-backup.service (with its timer),
# checked without a running systemd:
#
# - `systemd-analyze verify` must print nothing. It exits non-zero on a
#   missing ExecStart binary or a misspelled section, but only *warns* on a
#   misspelled directive (`ProtectSytem=`) or a bad value, so any output at
#   all fails the check.
# - `systemd-analyze security` must score each unit's exposure 2.5 or lower
#   (0 is the safest; a unit with no hardening scores about 9.6).
#
# Both read the unit from a scratch root: systemd's own units (for the
# targets ours names) and an executable at ExecStart's path.
#
#   tests/deploy/unit.sh        # needs systemd-analyze (Debian: systemd)
set -euo pipefail
cd "$(dirname "$0")/../.."

readonly UNITS="deploy/backend.service deploy/backend-backup.service deploy/backend-backup.timer"
readonly MAX_EXPOSURE=2.5

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/lib/systemd" "$root/etc/systemd/system"
cp -a /lib/systemd/system "$root/usr/lib/systemd/"
for unit in $UNITS; do
  cp "$unit" "$root/etc/systemd/system/"
  exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
  [ -n "$exec_start" ] || continue
  mkdir -p "$root$(dirname "$exec_start")"
  cp /bin/true "$root$exec_start"
done

for unit in $UNITS; do
  said=$(systemd-analyze verify --root="$root" "$root/etc/systemd/system/$(basename "$unit")" 2>&1) || {
    echo "systemd-analyze verify refused $unit:" >&2
    echo "$said" >&2
    exit 1
  }
  if [ -n "$said" ]; then
    echo "systemd-analyze verify has something to say about $unit:" >&2
    echo "$said" >&2
    exit 1
  fi
  echo "ok: systemd-analyze verify prints nothing for $unit"
done

for unit in $UNITS; do
  [[ $unit == *.service ]] || continue
  report=$(systemd-analyze security --offline=yes --root="$root" "$(basename "$unit")" 2>&1)
  exposure=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$report")
  if [ -z "$exposure" ]; then
    echo "no exposure level in systemd-analyze security's report:" >&2
    echo "$report" >&2
    exit 1
  fi
  if awk -v got="$exposure" -v max="$MAX_EXPOSURE" 'BEGIN { exit !(got > max) }'; then
    echo "$report" >&2
    echo "$unit: exposure $exposure, above $MAX_EXPOSURE" >&2
    exit 1
  fi
  echo "ok: systemd-analyze security: $unit: exposure $exposure (at most $MAX_EXPOSURE)"
done
