# shellcheck shell=bash
# Sourced by build.sh, start.sh and stop.sh: where the binaries live, messages, and how a
# process recorded in a run directory is recognised again.

# One cache per machine for everything the test suite builds or unpacks; this folder's part
# of it holds the control plane's binaries.
SERIN_TEST_CACHE=${SERIN_TEST_CACHE:-/var/cache/serin-tests}
plane_cache=$SERIN_TEST_CACHE/kube-control-plane
plane_bin=$plane_cache/bin
plane_programs=(etcd kube-apiserver kube-controller-manager)

# Messages go to stderr, prefixed with the script's name, so a test's failure output says
# which step of which script went wrong.
script_name="kube-control-plane/$(basename "$0")"
say() { printf '%s [%s] %s\n' "$script_name" "$(date +%T)" "$*" >&2; }
fail() {
  printf '%s: error: %s\n' "$script_name" "$*" >&2
  exit 1
}
# A failing command the scripts do not check themselves still says where it failed.
trap 'fail "line $LINENO: \"$BASH_COMMAND\" failed"' ERR

# The start time of a process in clock ticks since boot (field 22 of /proc/PID/stat). Kept
# next to each PID, it tells our process apart from a later one that reused the number.
start_ticks() {
  local stat fields
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }            # the fields after the command name, which may hold spaces
  read -r -a fields <<<"$stat" # fields[0] is field 3 (the state)
  echo "${fields[19]}"
}

# Whether PID still runs (not a zombie) and is the process that was started at TICKS.
still_ours() {
  local stat ticks
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z ]] || return 1
  ticks=$(start_ticks "$1") || return 1
  [[ $ticks == "$2" ]]
}

# Whether all three programs are in the cache and the API server runs.
plane_built() {
  local program
  for program in "${plane_programs[@]}"; do
    [[ -x $plane_bin/$program ]] || return 1
  done
  "$plane_bin/kube-apiserver" --version 2>/dev/null | grep -q '^Kubernetes v1\.'
}

# Waits up to SECONDS until none of the processes ENTRY... ("PID NAME TICKS") runs any more.
wait_gone() {
  local deadline=$((SECONDS + $1)) entry pid name ticks left
  shift
  while :; do
    left=0
    for entry in "$@"; do
      read -r pid name ticks <<<"$entry"
      if still_ours "$pid" "$ticks"; then left=1; fi
    done
    ((left)) || return 0
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

# Stops the processes listed in RUN_DIR/pids ("PID NAME TICKS" per line), newest first:
# SIGTERM, SIGKILL to those still there after 10 s, then waits until they are gone. A PID
# that now belongs to another process is left alone. Nothing is looked up by name.
stop_recorded() {
  local run=$1 entry pid name ticks
  local -a entries=() signalled=()
  [[ -f $run/pids ]] || return 0
  mapfile -t entries < <(tac "$run/pids")
  for entry in "${entries[@]}"; do
    read -r pid name ticks <<<"$entry"
    if still_ours "$pid" "$ticks" && kill -TERM "$pid" 2>/dev/null; then
      signalled+=("$entry")
    fi
  done
  if ! wait_gone 10 "${signalled[@]}"; then
    for entry in "${signalled[@]}"; do
      read -r pid name ticks <<<"$entry"
      if still_ours "$pid" "$ticks"; then
        say "$name (pid $pid) did not stop within 10 s of SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
      fi
    done
    wait_gone 5 "${signalled[@]}" || fail "processes of $run outlived SIGKILL (see $run/pids)"
  fi
  mv -f "$run/pids" "$run/pids.stopped"
  say "stopped ${#signalled[@]} process(es) of $run"
}
