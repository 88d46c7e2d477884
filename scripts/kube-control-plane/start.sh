#!/usr/bin/env bash
# start.sh RUN_DIR: starts a fresh, empty Kubernetes 1.20 control plane (etcd, kube-apiserver,
# kube-controller-manager, as built by build.sh) listening on 127.0.0.1 only, on free ports,
# so that several can run side by side. Everything it makes is in RUN_DIR:
#   kubeconfig  an admin's kubeconfig (bearer token, group system:masters)
#   env         for `. RUN_DIR/env`: KUBECONFIG, SERIN_KUBE_SERVER (https://127.0.0.1:PORT),
#               SERIN_KUBE_TOKEN (the admin token), SERIN_KUBE_CA (the CA of the server's
#               certificate), SERIN_KUBE_ETCD; the Rust tests read this file
#   pids        the processes, "PID NAME TICKS" per line, for stop.sh
#   logs/ pki/ etcd/
# Messages go to stderr. A run directory of a stopped cluster can be started again (it starts
# empty); one whose cluster still runs is refused. On failure whatever was started is stopped.
#   SERIN_KUBE_START_TIMEOUT  seconds each program may take to come up (default 90)
#   SERIN_KUBE_CONTROLLERS    kube-controller-manager's --controllers (default below)
set -Eeuo pipefail
umask 077
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR
. "$here/common.sh"

[[ $# -eq 1 ]] || fail "usage: $0 RUN_DIR"
plane_built || fail "no control plane in $plane_bin: run $here/build.sh first"
for tool in openssl curl base64 tac; do
  command -v "$tool" >/dev/null || fail "'$tool' is needed to start the control plane and is not on PATH"
done
timeout=${SERIN_KUBE_START_TIMEOUT:-90}
# No scheduler and no kubelet: the tests play kubelet themselves. These controllers are what
# they rely on (ReplicaSets and Deployments make pods, Jobs finish, deletion cascades,
# namespaces get their default ServiceAccount).
controllers=${SERIN_KUBE_CONTROLLERS:-namespace,garbagecollector,serviceaccount,serviceaccount-token,root-ca-cert-publisher,replicaset,deployment,job,endpoint,endpointslice}

mkdir -p "$1" || fail "cannot create $1"
run=$(cd "$1" && pwd -P)
if [[ -f $run/pids ]]; then
  while read -r pid name ticks; do
    if still_ours "$pid" "$ticks"; then
      fail "a control plane already runs in $run ($name, pid $pid); stop it with $here/stop.sh $run"
    fi
  done <"$run/pids"
fi
rm -rf "$run/etcd" "$run/pki" "$run/logs" "$run/kubeconfig" "$run/controller-manager.kubeconfig" \
  "$run/env" "$run/pids" "$run/pids.stopped"
mkdir -p "$run/pki" "$run/logs"
begun=${EPOCHREALTIME//[!0-9]/}
seconds_since_start() {
  local us=$((${EPOCHREALTIME//[!0-9]/} - begun))
  echo "$((us / 1000000)).$((us / 100000 % 10))"
}

# Whatever fails from here on, the processes already started do not outlive this script.
finished=0
on_exit() { ((finished)) || stop_recorded "$run" >/dev/null 2>&1 || true; }
trap on_exit EXIT

# --- certificates and tokens ----------------------------------------------------------------------
# A CA of its own signs the API server's certificate (for 127.0.0.1 and the names pods would
# use); an RSA key signs ServiceAccount tokens. EC keys, because they take no time to make.
pki=$run/pki
cat >"$pki/openssl.cnf" <<'EOF'
[req]
distinguished_name = name
[name]
[authority]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
authorityKeyIdentifier = keyid
subjectAltName = IP:127.0.0.1, DNS:localhost, IP:10.0.0.1, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local
EOF
if ! {
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pki/ca.key" &&
    openssl req -x509 -new -key "$pki/ca.key" -subj /CN=serin-test-ca -days 365 \
      -config "$pki/openssl.cnf" -extensions authority -out "$pki/ca.crt" &&
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pki/server.key" &&
    openssl req -new -key "$pki/server.key" -subj /CN=kube-apiserver -config "$pki/openssl.cnf" |
    openssl x509 -req -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -set_serial "0x$(openssl rand -hex 12)" \
      -days 365 -extfile "$pki/openssl.cnf" -extensions server -out "$pki/server.crt" &&
    openssl genrsa -out "$pki/service-accounts.key" 2048 &&
    openssl rsa -in "$pki/service-accounts.key" -pubout -out "$pki/service-accounts.pub"
} >"$run/logs/openssl.log" 2>&1; then
  cat "$run/logs/openssl.log" >&2
  fail "openssl could not make the certificates (above)"
fi
admin_token=$(openssl rand -hex 24)
manager_token=$(openssl rand -hex 24)
# token,user,uid,"groups"
printf '%s,admin,admin,"system:masters"\n%s,system:kube-controller-manager,kube-controller-manager,"system:masters"\n' \
  "$admin_token" "$manager_token" >"$pki/tokens.csv"

# kubeconfig FILE PORT TOKEN
kubeconfig() {
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: serin-test
  cluster:
    server: https://127.0.0.1:$2
    certificate-authority-data: $(base64 -w 0 "$pki/ca.crt")
users:
- name: admin
  user:
    token: $3
contexts:
- name: serin-test
  context:
    cluster: serin-test
    user: admin
    namespace: default
current-context: serin-test
EOF
}

# --- starting and waiting -------------------------------------------------------------------------
# launch NAME PROGRAM ARGS...: starts PROGRAM in the background, output to logs/NAME.log, and
# records it in pids. It stays in the caller's process group, so interrupting a test run
# (Ctrl-C, or a test runner's timeout) stops the control plane with it.
launch() {
  local name=$1
  shift
  "$@" </dev/null >"$run/logs/$name.log" 2>&1 &
  launched="$! $name $(start_ticks $!)"
  echo "$launched" >>"$run/pids"
}

# await ENTRY WHAT CHECK...: polls CHECK until it succeeds. Returns 1 if the process of ENTRY
# ("PID NAME TICKS") exited first, with its log's end shown; fails after the timeout.
await() {
  local pid name ticks what=$2 deadline=$((SECONDS + timeout))
  read -r pid name ticks <<<"$1"
  shift 2
  until "$@" >/dev/null 2>&1; do
    if ! still_ours "$pid" "$ticks"; then
      say "$name exited before $what; the end of $run/logs/$name.log:"
      tail -n 20 "$run/logs/$name.log" >&2
      return 1
    fi
    ((SECONDS < deadline)) || fail "$name did not reach '$what' within $timeout s (log: $run/logs/$name.log)"
    sleep 0.1
  done
}

# Ports below the kernel's range for outgoing connections (32768 and up by default), not
# listened on now. Another cluster starting at the same moment may still take one; the
# caller then tries again.
listening_ports() {
  local _ local_address state
  for table in /proc/net/tcp /proc/net/tcp6; do
    [[ -r $table ]] || continue
    while read -r _ local_address _ state _; do
      if [[ $state == 0A ]]; then echo "$((16#${local_address##*:}))"; fi
    done < <(tail -n +2 "$table")
  done
}
free_ports() {
  local taken chosen=() port
  taken=" $(listening_ports | tr '\n' ' ') "
  while ((${#chosen[@]} < $1)); do
    port=$((20000 + RANDOM % 12000))
    [[ $taken == *" $port "* ]] && continue
    chosen+=("$port")
    taken+="$port "
  done
  echo "${chosen[@]}"
}
port_taken() { grep -qi 'address already in use' "$run/logs/$1.log"; }

etcd_healthy() { curl -fsS --max-time 2 "http://127.0.0.1:$etcd_port/health" | grep -q '"health":"true"'; }
api() { curl -fsS --max-time 2 --cacert "$pki/ca.crt" -H "Authorization: Bearer $admin_token" "https://127.0.0.1:$api_port$1"; }
api_ready() { [[ $(api /readyz) == ok ]]; }

# --- etcd and kube-apiserver, on new ports if one was taken meanwhile -------------------------------
for attempt in 1 2 3; do
  read -r etcd_port peer_port api_port <<<"$(free_ports 3)"
  launch etcd "$plane_bin/etcd" --name=serin-test --data-dir="$run/etcd" \
    --listen-client-urls="http://127.0.0.1:$etcd_port" --advertise-client-urls="http://127.0.0.1:$etcd_port" \
    --listen-peer-urls="http://127.0.0.1:$peer_port" --initial-advertise-peer-urls="http://127.0.0.1:$peer_port" \
    --initial-cluster="serin-test=http://127.0.0.1:$peer_port" --initial-cluster-state=new \
    --logger=zap --log-level=warn
  etcd=$launched
  if ! await "$etcd" "healthy on port $etcd_port" etcd_healthy; then
    if port_taken etcd && ((attempt < 3)); then stop_recorded "$run" && rm -rf "$run/etcd" && continue; fi
    fail "etcd did not start"
  fi
  say "etcd healthy on 127.0.0.1:$etcd_port after $(seconds_since_start) s"

  # No ServiceAccount admission (pods need no token volume); no endpoint reconciler (the
  # kubernetes Service would point at 127.0.0.1, which the API refuses as an endpoint).
  launch kube-apiserver "$plane_bin/kube-apiserver" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$api_port" --insecure-port=0 \
    --etcd-servers="http://127.0.0.1:$etcd_port" \
    --cert-dir="$pki/apiserver" --tls-cert-file="$pki/server.crt" --tls-private-key-file="$pki/server.key" \
    --client-ca-file="$pki/ca.crt" --token-auth-file="$pki/tokens.csv" --authorization-mode=RBAC \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --api-audiences=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$pki/service-accounts.pub" \
    --service-account-signing-key-file="$pki/service-accounts.key" \
    --service-cluster-ip-range=10.0.0.0/24 --endpoint-reconciler-type=none \
    --disable-admission-plugins=ServiceAccount --allow-privileged=true --profiling=false --v=1
  apiserver=$launched
  if ! await "$apiserver" "ready on port $api_port" api_ready; then
    if port_taken kube-apiserver && ((attempt < 3)); then stop_recorded "$run" && rm -rf "$run/etcd" && continue; fi
    fail "kube-apiserver did not start"
  fi
  break
done
say "kube-apiserver ready on https://127.0.0.1:$api_port after $(seconds_since_start) s"
kubeconfig "$run/kubeconfig" "$api_port" "$admin_token"
kubeconfig "$run/controller-manager.kubeconfig" "$api_port" "$manager_token"

# --- kube-controller-manager, serving nothing -----------------------------------------------------
launch kube-controller-manager "$plane_bin/kube-controller-manager" \
  --kubeconfig="$run/controller-manager.kubeconfig" --controllers="$controllers" \
  --leader-elect=false --port=0 --secure-port=0 \
  --service-account-private-key-file="$pki/service-accounts.key" --root-ca-file="$pki/ca.crt" \
  --use-service-account-credentials=false --kube-api-qps=100 --kube-api-burst=200 --profiling=false --v=1
# Its ServiceAccount controller making default/default shows its controllers are at work.
await "$launched" "its first ServiceAccount" api /api/v1/namespaces/default/serviceaccounts/default ||
  fail "kube-controller-manager did not start"

cat >"$run/env" <<EOF
export KUBECONFIG=$run/kubeconfig
export SERIN_KUBE_SERVER=https://127.0.0.1:$api_port
export SERIN_KUBE_TOKEN=$admin_token
export SERIN_KUBE_CA=$pki/ca.crt
export SERIN_KUBE_ETCD=http://127.0.0.1:$etcd_port
EOF
finished=1
say "ready after $(seconds_since_start) s; stop it with $here/stop.sh $run"
