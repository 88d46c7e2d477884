#!/usr/bin/env bash
# TLS termination: serin's router against nginx and HAProxy on the same certificate (ECDSA
# P-256), the same pods (the seed at step 1, 90/10) and the same CPU quota as bench/router.sh
# (each proxy alone on core 0 under half a core; wrk and the pods on core 1). Two loads:
# keep-alive (wrk -c64 over TLS: the cost of TLS records) and a new connection per request
# (`Connection: close`: the cost of a full handshake each time). Prints req/s and p99 per proxy
# and load, and last `tls ratio serin/nginx=X (keep-alive) Y (handshakes) serin/haproxy=...`.
# Run from the repository root, no arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/prepare.sh
prepare nginx:nginx-light haproxy:haproxy wrk:wrk openssl:openssl
exec python3 bench/tls.py
