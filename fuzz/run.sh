#!/usr/bin/env bash
# Builds the fuzz targets on the stable toolchain (no sanitizer) and runs each for a
# bounded time on its committed seed corpus; inputs the fuzzer finds go to a scratch
# directory, crashes to artifacts/<target>/ (and fail this script).
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
# FUZZ_DEV=1 builds without optimisations (much faster to build; CI's smoke run uses it).
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-10}
shift || true
if ! command -v cargo-fuzz >/dev/null; then
    cargo install cargo-fuzz --locked
fi
mode=()
if [ -n "${FUZZ_DEV:-}" ]; then
    mode=(--dev)
fi
cargo fuzz build -s none "${mode[@]}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi
for t in "${targets[@]}"; do
    scratch=$(mktemp -d)
    log="$scratch.log"
    echo "== fuzz $t: ${secs}s"
    set +e
    cargo fuzz run -s none "${mode[@]}" "$t" "$scratch" "corpus/$t" -- \
        -max_total_time="$secs" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 >"$log" 2>&1
    status=$?
    set -e
    grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" || true
    rm -rf "$scratch"
    if [ "$status" -ne 0 ]; then
        tail -n 60 "$log" >&2
        rm -f "$log"
        echo "fuzz target $t failed (exit $status); the input is in fuzz/artifacts/$t/" >&2
        exit 1
    fi
    rm -f "$log"
done
