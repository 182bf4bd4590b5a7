# Sourced by scripts/quickstart.sh and scripts/test.sh: Debian packages when missing, and the
# virtual environment that every pip install of this repository goes into.

SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
APT_UPDATED=""

apt_install() {                 # apt_install PACKAGE...: Debian packages, quietly
    command -v apt-get >/dev/null || { echo "$0: needs the Debian packages $* (no apt-get here)" >&2; return 1; }
    [ -n "$APT_UPDATED" ] || { $SUDO apt-get update -qq; APT_UPDATED=1; }
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

use_venv() {                    # the active virtual environment, or .venv/ here (made when missing)
    if [ -n "${VIRTUAL_ENV:-}" ]; then
        VENV="$VIRTUAL_ENV"
    else
        VENV="$PWD/.venv"
        if ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
            rm -rf "$VENV"
            # Debian's python3 makes virtual environments only with python3-venv installed
            python3 -m venv "$VENV" 2>/dev/null || { rm -rf "$VENV"; apt_install python3-venv; python3 -m venv "$VENV"; }
        fi
        echo "$0: using the virtual environment $VENV" >&2
    fi
    export VIRTUAL_ENV="$VENV" PATH="$VENV/bin:$PATH"
}
