#!/usr/bin/env bash
# The server half of deploy/provision.sh: runs as root on the VPS, from the
# folder provision.sh uploaded (the kit). Never run by hand.
#
# Every step looks before it acts and says which it did: "ok" (already as
# wanted) or "changed". A second run over a provisioned server prints no
# "changed" at all, and the last line counts them.
#
# Settings come from provision.sh, in the environment: DOMAIN, EMAIL,
# ACME_SERVER, SSH_PORT, CLOUDFLARE, SESSION_PORT (the port this ssh session came in on)
# and, in the kit: authorized_keys, the rendered nginx site, the units.
set -euo pipefail
kit=$(cd "$(dirname "$0")/.." && pwd)
: "${DOMAIN:?}" "${EMAIL:?}" "${ACME_SERVER:?}" "${SSH_PORT:?}"

changes=0
ok() { printf 'ok       %s\n' "$*"; }
changed() { printf 'changed  %s\n' "$*"; changes=$((changes + 1)); }
fail() { printf 'FAILED   %s\n' "$*" >&2; exit 1; }
trap 'printf "FAILED   line %s: %s\n" "$LINENO" "$BASH_COMMAND" >&2' ERR

# install_file SOURCE TARGET MODE: copies SOURCE to TARGET unless it is
# already there, the same. Returns 0 when it changed something, 1 when not.
install_file() {
  if [ -f "$2" ] && cmp -s "$1" "$2" && [ "$(stat -c %a "$2")" = "$3" ]; then
    ok "$2"
    return 1
  fi
  install -D -m "$3" "$1" "$2"
  changed "$2"
}

# ANCHOR: packages
# 1. Packages. On a fresh Ubuntu 24.04 these come from its archive; where
# they are all installed already, nothing is fetched.
packages=(nginx ufw certbot sqlite3 curl rsync)
missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  ok "packages: ${packages[*]}"
else
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  changed "packages installed: ${missing[*]}"
fi
# ANCHOR_END: packages

# ANCHOR: deploy_user
# 2. The deploy user: logs in with your key (and only with a key: '*' is
# "no password can match", where useradd's '!' would make sshd refuse the
# account altogether), and may use sudo without a password, which is as
# much as root: guard the key accordingly.
if id deploy >/dev/null 2>&1; then
  ok "user deploy"
else
  useradd --create-home --shell /bin/bash deploy
  changed "user deploy created"
fi
if [ "$(getent shadow deploy | cut -d: -f2)" = '*' ]; then
  ok "deploy: no password, key only"
else
  usermod -p '*' deploy
  changed "deploy: password login impossible (key only)"
fi
install -d -m 700 -o deploy -g deploy /home/deploy/.ssh
if install_file "$kit/authorized_keys" /home/deploy/.ssh/authorized_keys 600; then
  chown deploy:deploy /home/deploy/.ssh/authorized_keys
fi
echo 'deploy ALL=(ALL) NOPASSWD:ALL' >"$kit/sudoers"
visudo -c -q -f "$kit/sudoers"
install_file "$kit/sudoers" /etc/sudoers.d/deploy 440 || true
# ANCHOR_END: deploy_user

# ANCHOR: firewall
# 3. The firewall: deny what comes in, except SSH, HTTP and HTTPS. The seed
# story's lockout was `ufw enable` with no rule for SSH: the open session
# lives on, and no new one ever gets in. So before enabling, check that the
# rules let in the port this very session came through, and that sshd
# listens on SSH_PORT; if not, refuse, and leave the firewall off. (This
# comes before sshd's step: a refused run leaves root's login as it was.)
rules_before=$(ufw show added 2>/dev/null || true)
ufw default deny incoming >/dev/null
ufw default allow outgoing >/dev/null
ufw allow "$SSH_PORT/tcp" >/dev/null
ufw allow 80/tcp >/dev/null
ufw allow 443/tcp >/dev/null
if [ "$(ufw show added)" = "$rules_before" ]; then
  ok "ufw rules: $SSH_PORT/tcp (ssh), 80/tcp, 443/tcp"
else
  changed "ufw rules: $SSH_PORT/tcp (ssh), 80/tcp, 443/tcp"
fi
if ufw status | grep -q '^Status: active'; then
  ok "ufw active"
else
  if [ -n "${SESSION_PORT:-}" ] && ! ufw show added | grep -Eq "^ufw allow $SESSION_PORT(/tcp)?\$"; then
    fail "refusing to enable ufw: this session came in on port $SESSION_PORT, which the rules do not allow (SSH_PORT=$SSH_PORT): enabling would lock you out"
  fi
  if ! ss -H -ltn "sport = :$SSH_PORT" | grep -q .; then
    fail "refusing to enable ufw: sshd does not listen on SSH_PORT=$SSH_PORT"
  fi
  ufw --force enable >/dev/null
  changed "ufw enabled"
fi
# ANCHOR_END: firewall

# ANCHOR: sshd
# 4. sshd: keys only, and no root login, now that deploy can log in. sshd
# takes the first value it reads for each setting, and Ubuntu's
# sshd_config reads sshd_config.d/*.conf first, in name order: 10- comes
# before the cloud image's 50-cloud-init.conf.
[ -s /home/deploy/.ssh/authorized_keys ] || fail "deploy has no key: root login stays on"
printf '%s\n' '# From deploy/provision.sh: keys only, no root.' \
  'PasswordAuthentication no' 'KbdInteractiveAuthentication no' 'PermitRootLogin no' \
  >"$kit/sshd.conf"
if install_file "$kit/sshd.conf" /etc/ssh/sshd_config.d/10-backend.conf 644; then
  sshd -t || fail "sshd -t refused the new settings"
  # The session we are in survives a reload; new logins get the new rules.
  systemctl try-reload-or-restart ssh.service
fi
# ANCHOR_END: sshd

# ANCHOR: secret
# 5. The JWT secret, made here and never anywhere else: it is not in the
# repository, not on your laptop, not in the binary. Only root reads it;
# systemd hands it to the service (LoadCredential=).
if [ -s /etc/backend/jwt-secret ]; then
  ok "/etc/backend/jwt-secret (kept)"
else
  install -d -m 700 /etc/backend
  (umask 077 && head -c 48 /dev/urandom | base64 -w 0 >/etc/backend/jwt-secret)
  changed "/etc/backend/jwt-secret made"
fi
# ANCHOR_END: secret

# ANCHOR: nginx
# 6. nginx and the certificate. nginx will not start with a TLS server
# whose certificate does not exist yet, and certbot needs nginx to answer
# the challenge: so the first time, serve the challenge over plain HTTP
# (acme-only.conf), get the certificate, then serve the whole site.
certificate=/etc/letsencrypt/live/$DOMAIN/fullchain.pem
site=/etc/nginx/sites-available/backend
install -d -m 755 /var/www/acme
install_file "$kit/nginx/backend-proxy.conf" /etc/nginx/snippets/backend-proxy.conf 644 || true
if [ -L /etc/nginx/sites-enabled/default ]; then
  rm /etc/nginx/sites-enabled/default
  changed "nginx: the default site disabled"
fi
if [ "$(readlink /etc/nginx/sites-enabled/backend 2>/dev/null)" != "$site" ]; then
  ln -sfn "$site" /etc/nginx/sites-enabled/backend
  changed "nginx: site enabled"
fi
reload_nginx() {
  nginx -t -q || fail "nginx -t refused the site"
  if systemctl is-active --quiet nginx; then
    systemctl reload nginx
  else
    systemctl start nginx
  fi
}
if [ ! -f "$certificate" ]; then
  install -m 644 "$kit/nginx/acme-only.conf" "$site"
  reload_nginx
  acme_env=()
  [ -f "$kit/acme-ca.pem" ] && acme_env=(REQUESTS_CA_BUNDLE="$kit/acme-ca.pem")
  env "${acme_env[@]}" certbot certonly --non-interactive --agree-tos --no-eff-email \
    -m "$EMAIL" --server "$ACME_SERVER" --webroot -w /var/www/acme -d "$DOMAIN" \
    || fail "certbot could not get a certificate for $DOMAIN (is DNS pointing here, and port 80 open?)"
  changed "certificate for $DOMAIN issued"
fi
if install_file "$kit/nginx/backend.conf" "$site" 644; then
  reload_nginx
fi
# Behind Cloudflare: believe CF-Connecting-IP from Cloudflare's ranges.
cloudflare_conf=/etc/nginx/conf.d/cloudflare-real-ip.conf
if [ "${CLOUDFLARE:-no}" = yes ]; then
  if install_file "$kit/nginx/cloudflare-real-ip.conf" "$cloudflare_conf" 644; then
    reload_nginx
  fi
elif [ -f "$cloudflare_conf" ]; then
  rm "$cloudflare_conf"
  reload_nginx
  changed "$cloudflare_conf removed (CLOUDFLARE=$CLOUDFLARE)"
fi
if systemctl is-enabled --quiet nginx && systemctl is-active --quiet nginx; then
  ok "nginx enabled and running"
else
  systemctl enable --now nginx
  changed "nginx enabled and running"
fi
# ANCHOR_END: nginx

# ANCHOR: renewals
# 7. Renewals: certbot's timer (twice a day) renews what expires within 30
# days; nginx must then reload to serve the new certificate.
printf '%s\n' '#!/bin/sh' '# From deploy/provision.sh: serve a renewed certificate.' \
  'exec systemctl reload nginx' >"$kit/reload-nginx"
install_file "$kit/reload-nginx" /etc/letsencrypt/renewal-hooks/deploy/reload-nginx 755 || true
if [ -f "$kit/acme-ca.pem" ]; then
  # Only for a test ACME server whose API certificate is not publicly
  # trusted (pebble in the system test): the renewals must trust it too.
  install_file "$kit/acme-ca.pem" /etc/backend/acme-ca.pem 644 || true
  printf '%s\n' '[Service]' 'Environment=REQUESTS_CA_BUNDLE=/etc/backend/acme-ca.pem' >"$kit/certbot-ca.conf"
  if install_file "$kit/certbot-ca.conf" /etc/systemd/system/certbot.service.d/acme-ca.conf 644; then
    systemctl daemon-reload
  fi
fi
if systemctl is-enabled --quiet certbot.timer && systemctl is-active --quiet certbot.timer; then
  ok "certbot.timer"
else
  systemctl enable --now certbot.timer
  changed "certbot.timer enabled"
fi
# ANCHOR_END: renewals

# ANCHOR: service
# 8. The service, and where deploy.sh puts releases: /opt/backend belongs
# to deploy, who uploads there; the service only reads it.
install -d -m 755 -o deploy -g deploy /opt/backend /opt/backend/releases
units_changed=
install_file "$kit/backend.service" /etc/systemd/system/backend.service 644 && units_changed=1
install_file "$kit/backend-backup.service" /etc/systemd/system/backend-backup.service 644 && units_changed=1
install_file "$kit/backend-backup.timer" /etc/systemd/system/backend-backup.timer 644 && units_changed=1
install_file "$kit/backup-database" /usr/local/lib/backend/backup-database 755 && units_changed=1
[ -n "$units_changed" ] && systemctl daemon-reload
if systemctl is-enabled --quiet backend; then
  ok "backend.service enabled"
else
  systemctl enable backend
  changed "backend.service enabled (it starts with the first release: deploy.sh)"
fi
if [ -n "$units_changed" ] && systemctl is-active --quiet backend; then
  systemctl restart backend
  changed "backend restarted with its new unit"
fi
if systemctl is-enabled --quiet backend-backup.timer && systemctl is-active --quiet backend-backup.timer; then
  ok "backend-backup.timer"
else
  systemctl enable --now backend-backup.timer
  changed "backend-backup.timer enabled"
fi
# ANCHOR_END: service

echo "provisioned $DOMAIN: $changes changed"
