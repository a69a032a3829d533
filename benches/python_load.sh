#!/usr/bin/env bash
# Runs examples/load_speed.rs with Python safetensors 0.8.0 measured on the
# same file in the same run. Makes a private venv in cargo's target directory.
# Usage: benches/python_load.sh [GIB] [RUNS] [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
venv="$target/bench-venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check safetensors==0.8.0 numpy
LOAD_SPEED_PYTHON="$venv/bin/python" cargo run --release --example load_speed -- "$@"
