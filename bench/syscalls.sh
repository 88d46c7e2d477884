#!/usr/bin/env bash
# System calls per proxied request, counted by strace, for serin's router, nginx and HAProxy
# in front of the same pods (the seed at step 1, 90/10): unlike req/s, a count that does not
# depend on how busy the machine is. Run from the repository root, no arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/prepare.sh
prepare nginx:nginx-light haproxy:haproxy wrk:wrk strace:strace
exec python3 bench/syscalls.py
