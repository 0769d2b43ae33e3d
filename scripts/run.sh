#!/usr/bin/env bash
# Start Redis if none answers, migrate, print the URL and a token, then run web + worker + beat
# from the Procfile. On exit (Ctrl-C, or any process ending) everything stops, and so does
# Redis if this script started it; a Redis that was already running is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
export OCELOT_BIND="${OCELOT_BIND:-127.0.0.1:5000}"
home="${OCELOT_HOME:-$HOME/.ocelot}"

redis_pidfile=""
stop_redis() {
  [ -n "$redis_pidfile" ] && [ -s "$redis_pidfile" ] || return 0
  local pid
  pid="$(cat "$redis_pidfile")"
  # Only the server this script started, named by its pid file; it saves and exits on TERM.
  if kill -0 "$pid" 2>/dev/null && [ "$(ps -o comm= -p "$pid")" = "redis-server" ]; then
    echo "ocelot: stopping the redis-server this run started (pid $pid)" >&2
    kill -TERM "$pid"
    for _ in $(seq 1 40); do
      kill -0 "$pid" 2>/dev/null || return 0
      sleep 0.25
    done
    echo "ocelot: redis-server (pid $pid) is still running" >&2
  fi
}
trap stop_redis EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

redis_pidfile="$(scripts/start-redis.sh)"

if [ -z "${OCELOT_SECRET_KEY:-}" ]; then
  # One key per installation for credentials stored in the database, made once, kept private.
  keyfile="$home/secret-key"
  if [ ! -s "$keyfile" ]; then
    mkdir -p "$home"
    (umask 077 && python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())' >"$keyfile")
  fi
  OCELOT_SECRET_KEY="$(cat "$keyfile")"
  export OCELOT_SECRET_KEY
fi
python -m ocelot.bootstrap
# Not exec: this shell stays, to stop Redis once honcho has stopped the processes.
honcho start -f Procfile web worker beat
