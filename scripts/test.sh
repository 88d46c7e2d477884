#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, then runs the whole suite.
# This is the README's test command; .ci/run calls it after the format and lint checks. It
# needs nothing outside the repository, and a second run finds everything in place.
#
# The Kubernetes control plane it builds is cached in $SERIN_TEST_CACHE (default
# /var/cache/serin-tests) by scripts/kube-control-plane/build.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
  echo "scripts/test.sh: error: $*" >&2
  exit 1
}
sudo=()
if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
apt_updated=
apt_get() {
  if [ "$1" = update ]; then
    [ -z "$apt_updated" ] || return 0
    apt_updated=1
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -qq "$@"
}

# System packages the integration tests drive for real (none are needed by unit tests). git
# ships `git daemon` and `git http-backend`, the GitOps tests' git servers; chromium is the
# browser the dashboard tests drive (with playwright-core from npm, below); openssl, make and
# xz-utils are for the Kubernetes control plane (its certificates, and its build).
packages=(git curl prometheus openssl make xz-utils chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
# kubectl applies manifests in the Kubernetes tests (Debian's is 1.20, as the control plane).
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
# Node runs the dashboard's browser script; an image may ship its own build of it.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  apt_get update
  apt_get install -y "${missing[@]}" || fail "apt-get could not install ${missing[*]}"
fi

# playwright-core, pinned by tests/dashboard/package-lock.json (it needs Node 20 or later).
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "warning: node $(node --version) is older than playwright-core needs (20); the dashboard tests may fail" >&2
fi
(cd tests/dashboard && npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci in tests/dashboard failed"

# The cache for the control plane, writable by whoever runs the tests.
export SERIN_TEST_CACHE=${SERIN_TEST_CACHE:-/var/cache/serin-tests}
if ! mkdir -p "$SERIN_TEST_CACHE" 2>/dev/null || [ ! -w "$SERIN_TEST_CACHE" ]; then
  "${sudo[@]}" install -d -o "$(id -u)" -g "$(id -g)" "$SERIN_TEST_CACHE" ||
    fail "cannot create $SERIN_TEST_CACHE; set SERIN_TEST_CACHE to a directory you can write to"
fi

# A real Kubernetes control plane for the Kubernetes tests: etcd, kube-apiserver and
# kube-controller-manager 1.20, built from Debian's packages once per machine (6 to 14
# minutes of two cores, cold); each test starts its own with scripts/kube-control-plane/start.sh.
bash scripts/kube-control-plane/build.sh || fail "the Kubernetes control plane could not be built (above)"

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
