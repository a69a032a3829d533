#!/usr/bin/env bash
# Builds a throwaway project that depends on the published candle-core 0.11
# (which depends on safetensors 0.8.0) with this repository's compat crate
# patched in, and runs compat/candle-check/main.rs against the golden files.
#
#   compat/candle_check.sh [WORK_DIR]   (default: cargo's target directory)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
target=$(cd "$repo" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
work=${1:-$target}/candle-check
mkdir -p "$work/src"
cp "$repo/compat/candle-check/main.rs" "$work/src/main.rs"
cat > "$work/Cargo.toml" <<TOML
[package]
name = "candle-check"
version = "0.0.0"
edition = "2021"
publish = false

[workspace]

[dependencies]
candle-core = "0.11"
safetensors = "0.8"

[patch.crates-io]
safetensors = { path = "$repo/compat" }
TOML
cd "$work"
# The patch must be what candle-core resolves to, not the registry crate.
cargo generate-lockfile --quiet
source=$(cargo metadata --format-version 1 | python3 -c '
import json, sys
meta = json.load(sys.stdin)
print(" ".join(p["manifest_path"] for p in meta["packages"] if p["name"] == "safetensors"))')
case "$source" in
    "$repo/compat/Cargo.toml") echo "safetensors resolves to $source" ;;
    *) echo "safetensors resolves to '$source', not the compat crate" >&2; exit 1 ;;
esac
start=$(date +%s)
cargo build --quiet
echo "candle-check built in $(( $(date +%s) - start )) s"
cargo run --quiet -- "$repo/tests/data/golden" "$work/out"
