#!/usr/bin/env bash
# How evenly serin, nginx and HAProxy split traffic: 10,000 sequential requests at canary
# weights 1, 5, 10, 33 and 50, and the largest deviation of the canary count from the weight
# in any window of 100 consecutive requests; plus a simulation of ingress-nginx's random
# per-request canary rule for comparison. Run from the repository root, no arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/prepare.sh
prepare nginx:nginx-light haproxy:haproxy
exec python3 bench/split.py
