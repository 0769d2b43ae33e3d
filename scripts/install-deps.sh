#!/usr/bin/env bash
# Install the system packages Ocelot needs on Debian/Ubuntu, only those that are missing.
# Needs root (or sudo). Safe to run again.
set -euo pipefail

want=(git openssh-client redis-server docker.io busybox-static)
if [ "${OCELOT_WITH_POSTGRES:-0}" = 1 ]; then
  # test tier: PostgreSQL, a password-protected registry, an sshd on loopback, chromium
  # (headless, for the dashboard's browser tests) and redis-sentinel (the broker failover test)
  want+=(postgresql docker-registry apache2-utils openssh-server chromium redis-sentinel)
fi

missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "ocelot: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "ocelot: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Do not let the packages' own service units start daemons: Ocelot starts what it needs.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
