# Installs Debian packages when the machine has apt and this runs as root;
# otherwise says what to install and fails. Sourced by the scripts that set
# up what DTMA needs: `. scripts/apt-install.sh; dtma_apt_install pkg...`.
dtma_apt_install() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "dtma: missing $*; install it (Debian: apt-get install $*)" >&2
    return 1
  fi
  echo "dtma: installing Debian's $*"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
