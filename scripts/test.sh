#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, then runs the whole suite.
# This is the README's test command; .ci/run calls it after the format and lint checks.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the integration tests drive for real (none are needed by unit tests).
# git ships `git daemon` and `git http-backend`, the GitOps tests' git servers; chromium is
# the browser the dashboard tests drive (with playwright-core from npm, below).
packages=(git curl prometheus chromium)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
# kubectl applies manifests in the Kubernetes tests (Debian's is the 1.20 of kube-testenv).
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
# Node runs the dashboard's browser script; an image may ship its own build of it.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}"
fi

# playwright-core, pinned by tests/dashboard/package-lock.json (it needs Node 20 or later).
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "warning: node $(node --version) is older than playwright-core needs (20); the dashboard tests may fail" >&2
fi
(cd tests/dashboard && npm ci --no-audit --no-fund --loglevel=error)

# A real Kubernetes control plane for the Kubernetes tests: kube-testenv builds etcd,
# kube-apiserver and kube-controller-manager 1.20 from Debian's packages once per machine
# (about 6 minutes cold, cached in /var/cache/serin-kube-testenv); each test starts its own.
if [ -z "${KUBE_TESTENV:-}" ]; then
  for dir in "$PWD/../shared/tools/kube-testenv" /work/shared/tools/kube-testenv; do
    if [ -x "$dir/start.sh" ]; then KUBE_TESTENV=$(cd "$dir" && pwd); break; fi
  done
fi
if [ -z "${KUBE_TESTENV:-}" ]; then
  echo "error: kube-testenv not found; set KUBE_TESTENV to the directory of its build.sh and start.sh" >&2
  exit 1
fi
export KUBE_TESTENV
"$KUBE_TESTENV/build.sh"

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
