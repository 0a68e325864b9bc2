#!/usr/bin/env bash
# Sets up a fresh Ubuntu 24.04 VPS to serve `backend`, over ssh, from your
# laptop. Safe to run again: each step checks before it acts, and a second
# run changes nothing (its last line says "0 changed").
#
#   DOMAIN=example.com EMAIL=you@example.com deploy/provision.sh root@203.0.113.7
#   DOMAIN=example.com EMAIL=you@example.com deploy/provision.sh deploy@203.0.113.7
#
# The first run logs in as root (the VPS was made with your SSH key), makes
# the `deploy` user with that same key, and turns root's SSH login off:
# every later run, and deploy.sh, log in as deploy. What it sets up, in
# order (deploy/remote/provision.sh does it, on the server):
#   packages; the deploy user; sshd (keys only); UFW (22, 80, 443, with a
#   guard against locking yourself out); the JWT secret, made on the server;
#   nginx serving HTTP for the first certificate, certbot, then the TLS site;
#   certbot's renewal timer; the systemd units (backend, backups).
#
# Settings (environment):
#   DOMAIN        the site's name; its DNS A record must point at the VPS
#   EMAIL         the contact address of your Let's Encrypt account
#   ACME_SERVER   default: Let's Encrypt (https://acme-v02.api.letsencrypt.org/directory)
#   ACME_CA_BUNDLE  a CA file to trust for ACME_SERVER's own HTTPS (test servers only)
#   SSH_PORT      the port sshd listens on, to allow in UFW (default 22)
#   SSH_KEY       the public key for deploy (default: ~/.ssh/id_ed25519.pub)
#   CLOUDFLARE    yes: the site is proxied by Cloudflare, so nginx believes
#                 CF-Connecting-IP from Cloudflare's addresses (nginx/cloudflare-real-ip.conf)
set -euo pipefail
kit=$(cd "$(dirname "$0")" && pwd)

if [ $# -ne 1 ] || [[ "$1" == -* ]]; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
fi
host=$1
: "${DOMAIN:?set DOMAIN (the site name, e.g. example.com)}"
: "${EMAIL:?set EMAIL (the contact address of your Let\'s Encrypt account)}"
ACME_SERVER=${ACME_SERVER:-https://acme-v02.api.letsencrypt.org/directory}
SSH_PORT=${SSH_PORT:-22}
SSH_KEY=${SSH_KEY:-$HOME/.ssh/id_ed25519.pub}
CLOUDFLARE=${CLOUDFLARE:-no}
[ -f "$SSH_KEY" ] || { echo "no public key at $SSH_KEY: set SSH_KEY" >&2; exit 2; }
for command in ssh envsubst tar; do
  command -v "$command" >/dev/null || { echo "$command not found (apt-get install openssh-client gettext-base tar)" >&2; exit 2; }
done

# The kit, as the server will read it: the units, the nginx site rendered
# for this DOMAIN, the key, and the server-side script.
staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
mkdir -p "$staging/kit/nginx" "$staging/kit/remote"
cp "$kit/backend.service" "$kit/backend-backup.service" "$kit/backend-backup.timer" \
  "$kit/remote/backup-database" "$staging/kit/"
cp "$kit/remote/provision.sh" "$staging/kit/remote/"
cp "$kit/nginx/backend-proxy.conf" "$kit/nginx/cloudflare-real-ip.conf" "$staging/kit/nginx/"
cp "$SSH_KEY" "$staging/kit/authorized_keys"
[ -n "${ACME_CA_BUNDLE:-}" ] && cp "$ACME_CA_BUNDLE" "$staging/kit/acme-ca.pem"
# ANCHOR: render
# shellcheck disable=SC2016 # the names are for envsubst, not for the shell
template_variables='${DOMAIN} ${HTTP_PORT} ${HTTPS_PORT} ${CERT_DIR} ${ACME_ROOT} ${BACKEND} ${SITE_DIR}'
for site in backend.conf acme-only.conf; do
  env DOMAIN="$DOMAIN" HTTP_PORT=80 HTTPS_PORT=443 CERT_DIR="/etc/letsencrypt/live/$DOMAIN" \
    ACME_ROOT=/var/www/acme BACKEND=127.0.0.1:8080 SITE_DIR=/etc/nginx/snippets \
    envsubst "$template_variables" <"$kit/nginx/$site" >"$staging/kit/nginx/$site"
done
# ANCHOR_END: render

# ANCHOR: run
# One ssh session: unpack the kit in a scratch folder, run it as root (sudo
# when we are deploy), clean up. SSH_CONNECTION's last field is the port
# this session came in on: the firewall step checks it stays open.
# shellcheck disable=SC2016 # expanded on the server
remote='set -e
dir=$(mktemp -d)
trap "rm -rf \"\$dir\"" EXIT
tar -x -C "$dir"
session_port=${SSH_CONNECTION##* }
sudo=; [ "$(id -u)" = 0 ] || sudo="sudo -n"
$sudo env DOMAIN="$1" EMAIL="$2" ACME_SERVER="$3" SSH_PORT="$4" CLOUDFLARE="$5" SESSION_PORT="$session_port" \
  bash "$dir/kit/remote/provision.sh"'
tar -C "$staging" -c kit | ssh "$host" bash -c "$(printf '%q' "$remote")" provision \
  "$(printf '%q' "$DOMAIN")" "$(printf '%q' "$EMAIL")" "$(printf '%q' "$ACME_SERVER")" "$SSH_PORT" "$(printf '%q' "$CLOUDFLARE")"
# ANCHOR_END: run
