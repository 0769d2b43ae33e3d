#!/usr/bin/env bash
# Start a Redis server on 127.0.0.1:${OCELOT_REDIS_PORT:-6379} unless one already answers there.
# Prints the pid file of the server it started on stdout (nothing when one was already up), so
# the caller knows whether it owns it and can stop it: scripts/run.sh does, when it exits.
set -euo pipefail
port="${OCELOT_REDIS_PORT:-6379}"
home="${OCELOT_HOME:-$HOME/.ocelot}"
if redis-cli -p "$port" ping >/dev/null 2>&1; then exit 0; fi
mkdir -p "$home/redis"
pidfile="$home/redis/redis.pid"
echo "ocelot: starting redis-server on 127.0.0.1:$port (data: $home/redis)" >&2
redis-server --port "$port" --bind 127.0.0.1 --dir "$home/redis" --appendonly yes \
  --daemonize yes --pidfile "$pidfile" --logfile "$home/redis/redis.log"
for _ in $(seq 1 40); do
  if redis-cli -p "$port" ping >/dev/null 2>&1; then
    echo "$pidfile"
    exit 0
  fi
  sleep 0.25
done
echo "ocelot: redis did not start; see $home/redis/redis.log" >&2
exit 1
