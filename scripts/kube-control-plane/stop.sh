#!/usr/bin/env bash
# stop.sh RUN_DIR: stops the control plane start.sh started in RUN_DIR, exactly the processes
# it recorded in RUN_DIR/pids (SIGTERM, then SIGKILL after 10 s). RUN_DIR itself is kept,
# with the logs; the Rust tests delete it.
set -Eeuo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR
. "$here/common.sh"

[[ $# -eq 1 ]] || fail "usage: $0 RUN_DIR"
if [[ ! -f $1/pids ]]; then
  say "no $1/pids: nothing runs there"
  exit 0
fi
stop_recorded "$1"
