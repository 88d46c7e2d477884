#!/usr/bin/env bash
# Reconfiguration under load: requests per second and failed requests while the canary
# weight changes 10 times a second for 30 s, against the same load with no changes; serin
# (new route table swapped in, no reload) side by side with nginx and HAProxy reloading their
# configuration at the same rate. Each proxy on core 0 under the same CPU quota as in
# bench/router.sh, wrk and the pods on core 1; per proxy four runs of one continuous load, cut
# into 3 s slices that alternate between steady and changing weights (30 s of changes per run),
# each changing slice compared with the steady ones beside it.
# Run from the repository root, no arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/prepare.sh
prepare nginx:nginx-light haproxy:haproxy wrk:wrk
exec python3 bench/reconfig.py
