#!/usr/bin/env bash
# Installs what is missing, then starts the server with working defaults (see README: Settings).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
. .venv/bin/activate
exec python server.py "$@"
