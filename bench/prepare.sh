# Sourced by the bench/*.sh scripts: installs the Debian packages named as COMMAND:PACKAGE
# when the command is missing, and builds serin in release mode.
prepare() {
  local missing=() tool
  for tool in "$@"; do
    command -v "${tool%%:*}" >/dev/null || [ -x "/usr/sbin/${tool%%:*}" ] || missing+=("${tool#*:}")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    local sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}"
  fi
  cargo build --release -q
  export PATH="$PATH:/usr/sbin"
}
