#!/usr/bin/env bash
# Runs the library's whole test suite (unit, integration and doc tests, the
# memory-mapped and atomic-write paths included) under AddressSanitizer on
# the stable toolchain. RUSTC_BOOTSTRAP=1 unlocks the unstable
# -Zsanitizer flag; the explicit --target keeps build scripts and proc
# macros uninstrumented. Builds into its own target directory.
set -euo pipefail
cd "$(dirname "$0")/.."
host=$(rustc -vV | sed -n 's/^host: //p')
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
export RUSTC_BOOTSTRAP=1
export RUSTFLAGS="-Zsanitizer=address ${RUSTFLAGS:-}"
export RUSTDOCFLAGS="-Zsanitizer=address ${RUSTDOCFLAGS:-}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export CARGO_TARGET_DIR="$target/asan"
cargo test -p tensorsafe --target "$host" --no-fail-fast "$@"
