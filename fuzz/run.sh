#!/usr/bin/env bash
# Runs fuzz targets on the stable toolchain (no sanitizer), seeded from
# tests/data. Usage: fuzz/run.sh SECONDS [TARGET...]   (default: every target)
#
# AddressSanitizer needs nightly, or RUSTC_BOOTSTRAP=1 on stable:
#   RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET      (from fuzz/, default -s address)
# A crash leaves its input in fuzz/artifacts/TARGET/; add it to
# tests/data/fuzz-regressions/ and a test in tests/fuzz_regressions.rs.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi
cargo fuzz build -s none
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    seeds=()
    case "$target" in
        header|deserialize|differential) seeds=(../tests/data/golden ../tests/data/broken) ;;
    esac
    echo "== $target for ${seconds}s"
    cargo fuzz run -s none "$target" "corpus/$target" "${seeds[@]}" -- \
        -max_total_time="$seconds" -print_final_stats=1 -max_len=65536 2>&1 |
        grep -E "^(stat::number_of_executed_units|stat::average_exec_per_sec|DONE|#[0-9]+.DONE|==[0-9]+==|SUMMARY|thread '.*' panicked|artifact_prefix|Test unit written)" || true
    if ls "artifacts/$target"/crash-* >/dev/null 2>&1; then
        echo "crash found in $target: see fuzz/artifacts/$target" >&2
        exit 1
    fi
done
