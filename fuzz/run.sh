#!/usr/bin/env bash
# Runs fuzz targets on the stable toolchain (no sanitizer) with debug
# assertions and overflow checks on (`-a`: in a release build an overflowing
# sum wraps silently), seeded from tests/data.
# Usage: fuzz/run.sh SECONDS [TARGET...]   (default: every target)
#
# Fails (exit 1) if the targets do not build, if a run exits non-zero, or if
# a run leaves an artifact: crash-*, oom-* (over -rss_limit_mb), timeout-*
# (one input over -timeout seconds) or leak-*. Every target runs even after
# one fails; the failures are listed at the end.
#
# AddressSanitizer needs nightly, or RUSTC_BOOTSTRAP=1 on stable:
#   RUSTC_BOOTSTRAP=1 cargo fuzz run -a TARGET   (from fuzz/, default -s address)
# A crash leaves its input in fuzz/artifacts/TARGET/; add it (for the
# `structured` target, the file it renders) to tests/data/fuzz-regressions/
# and a test in tests/fuzz_regressions.rs.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 SECONDS [TARGET...]   (SECONDS: a whole number, at least 1)" >&2
    exit 2
fi
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    listed=$(cargo fuzz list)
    mapfile -t targets <<<"$listed"
fi
if [ ${#targets[@]} -eq 0 ] || [ -z "${targets[0]}" ]; then
    echo "no fuzz targets to run" >&2
    exit 1
fi
flags=(-s none -a)
if ! cargo fuzz build "${flags[@]}"; then
    echo "fuzz targets failed to build" >&2
    exit 1
fi
failed=()
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target" "artifacts/$target"
    seeds=()
    case "$target" in
        header|deserialize|differential) seeds=(../tests/data/golden ../tests/data/broken) ;;
    esac
    log=$(mktemp)
    stamp=$(mktemp)
    echo "== $target for ${seconds}s"
    status=0
    started=$SECONDS
    cargo fuzz run "${flags[@]}" "$target" "corpus/$target" "${seeds[@]}" -- \
        -max_total_time="$seconds" -print_final_stats=1 -max_len=65536 \
        -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 \
        -artifact_prefix="artifacts/$target/" >"$log" 2>&1 || status=$?
    grep -E "^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb|#[0-9]+.DONE|==[0-9]+==|SUMMARY|thread '.*panicked|attempt to|artifact_prefix|Test unit written)" "$log" || true
    echo "$target: $((SECONDS - started)) s"
    # Artifacts this run wrote (the stamp is older than any of them).
    artifacts=$(find "artifacts/$target" -maxdepth 1 -type f -newer "$stamp" \
        \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' \) | sort)
    if [ "$status" -ne 0 ] || [ -n "$artifacts" ]; then
        if [ "$status" -ne 0 ]; then
            echo "-- what the $target run said (exit status $status):" >&2
            grep -E -m 8 -A 2 "panicked at|^error|ERROR|^Error" "$log" >&2 || tail -n 20 "$log" >&2
        fi
        echo "$target failed (exit status $status); artifacts:" ${artifacts:-none} >&2
        failed+=("$target")
    fi
    rm -f "$log" "$stamp"
done
if [ ${#failed[@]} -ne 0 ]; then
    echo "fuzzing failed: ${failed[*]} ($SECONDS s)" >&2
    exit 1
fi
echo "fuzzing passed: ${targets[*]} ($SECONDS s)"
