#!/usr/bin/env bash
# Migrate, print the URL and a token, then run web + worker + beat from the Procfile.
set -euo pipefail
cd "$(dirname "$0")/.."
export OCELOT_BIND="${OCELOT_BIND:-127.0.0.1:5000}"
python -m ocelot.bootstrap
exec honcho start -f Procfile web worker beat
