#!/usr/bin/env bash
# Install everything the test suite needs, then run the whole suite (slow tests included).
# Usage: bash scripts/test.sh [extra pytest arguments]
#
# Python packages go into the active virtual environment, or else into .venv/ in this
# repository (made when missing): never into the system's Python or whatever interpreter
# happens to be first on PATH. Debian packages the tests use are installed when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_env.sh

# Fashion-MNIST comes from Debian's package (IDX files under /usr/share/datasets/fashion-mnist).
[ -d /usr/share/datasets/fashion-mnist ] || apt_install dataset-fashion-mnist
# Graphviz's `dot` renders the network drawings (sn.plot.draw_network).
command -v dot >/dev/null || apt_install graphviz
# Chromium drives the playground's page in tests/test_playground_browser.py (Playwright, no download).
command -v chromium >/dev/null || apt_install chromium
# The fortunes texts are the corpus of the character models (docs/text.md, tests/test_text.py).
[ -d /usr/share/games/fortunes ] || apt_install fortunes
# Open MPI runs the distributed tests (mpirun); mpi4py links to it, and builds from source with
# mpicc and a C compiler where no wheel fits this Python.
command -v mpirun >/dev/null && command -v mpicc >/dev/null && command -v cc >/dev/null \
    || apt_install openmpi-bin libopenmpi-dev gcc
use_venv
python -m pip install --quiet --disable-pip-version-check -e ".[test]"
python -m pytest "$@"
