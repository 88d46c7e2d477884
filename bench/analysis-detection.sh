#!/usr/bin/env bash
# How fast a failing canary is pulled out: serin's native analysis against Prometheus at
# common settings, side by side. Not part of .ci/run (it takes a few minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/prepare.sh
prepare prometheus:prometheus
python3 bench/analysis_detection.py
