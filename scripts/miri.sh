#!/usr/bin/env bash
# Runs the library's whole test suite under Miri (undefined behaviour,
# out-of-bounds and uninitialised reads, leaks). Needs a nightly toolchain
# with the miri component:
#   rustup toolchain install nightly --component miri
# Memory maps and the Linux calls of atomic writes are outside what Miri
# models: tests that need them carry #[cfg_attr(miri, ignore)] (scripts/asan.sh
# covers them). Property tests run PROPTEST_CASES cases (default 4 here);
# expect tens of minutes on two cores.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo +nightly miri --version >/dev/null 2>&1; then
    echo "miri.sh: no nightly toolchain with miri here; install it with" >&2
    echo "  rustup toolchain install nightly --component miri" >&2
    exit 2
fi
export MIRIFLAGS="${MIRIFLAGS:--Zmiri-disable-isolation}"
export PROPTEST_CASES="${PROPTEST_CASES:-4}"
cargo +nightly miri test -p tensorsafe --no-fail-fast "$@"
