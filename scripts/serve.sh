#!/usr/bin/env bash
# Installs what is missing, then starts the server with working defaults (see README: Settings).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
. .venv/bin/activate
# Avatars render in one worker process per core: the renderers hold the GIL, so in threads every
# stream shares one core (benchmarks/stream_capacity.py: 8-9 streams of 512x512 instead of 4).
export DH_RENDER_PROCESSES="${DH_RENDER_PROCESSES:-auto}"
exec python server.py "$@"
