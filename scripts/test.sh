#!/usr/bin/env bash
# Install everything the test suite needs, then run the whole suite (slow tests included).
# Usage: bash scripts/test.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

# Fashion-MNIST comes from Debian's package (IDX files under /usr/share/datasets/fashion-mnist).
if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null
fi

python -m pip install --quiet --disable-pip-version-check -e ".[test]"
python -m pytest "$@"
