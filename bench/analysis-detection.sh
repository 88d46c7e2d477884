#!/usr/bin/env bash
# How fast a failing canary is pulled out: serin's native analysis against Prometheus at
# common settings, side by side. Not part of .ci/run (it takes a few minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v prometheus >/dev/null || { sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"; $sudo_cmd apt-get install -y -qq prometheus; }
cargo build --release -q
python3 bench/analysis_detection.py
