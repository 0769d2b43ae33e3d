#!/usr/bin/env bash
# Migrate, print the URL and a token, then run web + worker + beat from the Procfile.
set -euo pipefail
cd "$(dirname "$0")/.."
export OCELOT_BIND="${OCELOT_BIND:-127.0.0.1:5000}"
home="${OCELOT_HOME:-$HOME/.ocelot}"
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
exec honcho start -f Procfile web worker beat
