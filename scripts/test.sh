#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, then runs the whole suite.
# This is the README's test command; .ci/run calls it after the format and lint checks.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the integration tests drive for real (none are needed by unit tests).
# git ships `git daemon` and `git http-backend`, the GitOps tests' git servers.
packages=(git curl prometheus)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}"
fi

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
