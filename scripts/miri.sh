#!/usr/bin/env bash
# Runs the tests that exercise unsafe code (typed casts, slicing, the
# writers, the aligned owned buffer) under Miri. Needs a nightly toolchain
# with the miri component:
#   rustup toolchain install nightly --component miri
# Memory-mapping is outside what Miri models (and SafeTensorsFile::open
# reads into an anonymous map): those tests carry #[cfg_attr(miri, ignore)]. Proptest cases run slowly under Miri; expect
# minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo +nightly miri --version >/dev/null 2>&1; then
    echo "miri.sh: no nightly toolchain with miri here; install it with" >&2
    echo "  rustup toolchain install nightly --component miri" >&2
    exit 2
fi
export MIRIFLAGS="${MIRIFLAGS:--Zmiri-disable-isolation}"
cargo +nightly miri test --lib
cargo +nightly miri test --test views --test slice --test stream --test golden --test rules
