#!/usr/bin/env bash
# The quick start: install scratchnn with plots, progress bars and compiled kernels into the
# active virtual environment (or .venv/ here, made when missing), then train the blog's XOR
# network. Extra arguments go to `scratchnn xor` (e.g. --blog).
# Usage: bash scripts/quickstart.sh [scratchnn xor arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_env.sh

use_venv
python -m pip install --quiet --disable-pip-version-check ".[plot,progress,fast]"
scratchnn xor "$@"
echo "$0: scratchnn is installed in $VENV; to use it from your shell: source $VENV/bin/activate" >&2
