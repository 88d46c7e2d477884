#!/usr/bin/env bash
# serin's control plane on the local platform: from `serin set image` to the first canary
# pod ready and to the 10% weight served, for one rollout and for one of 500; the time to
# apply and bring up 500 rollouts (each with its Services, TraefikService and IngressRoute);
# the server's memory and idle CPU with 500 rollouts. Run from the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/prepare.sh
prepare
exec python3 bench/control_plane.py
