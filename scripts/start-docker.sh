#!/usr/bin/env bash
# Start the Docker daemon if it is not answering, and wait until it does.
set -euo pipefail
if docker info >/dev/null 2>&1; then exit 0; fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
if command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
  $SUDO systemctl start docker || true
fi
if ! docker info >/dev/null 2>&1; then
  log="${OCELOT_HOME:-$HOME/.ocelot}/dockerd.log"
  mkdir -p "$(dirname "$log")"
  echo "ocelot: starting dockerd (log: $log)" >&2
  $SUDO sh -c "nohup dockerd >'$log' 2>&1 &"
fi
for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 0.5
done
echo "ocelot: the Docker daemon did not come up; see ${log:-the docker service log}" >&2
exit 1
