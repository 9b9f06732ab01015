#!/usr/bin/env bash
# Fuzzes every property of tests/properties with cargo-fuzz (libFuzzer,
# AddressSanitizer) for FUZZ_SECONDS each (default 60), starting from the
# seeds. A crash is copied into fuzz/regressions/<property>/, where the test
# suite keeps checking it, and the run fails.
#
# Needs a nightly toolchain (`rustup toolchain install nightly`); cargo-fuzz
# is installed here when missing. Not part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-60}"
only="${FUZZ_TARGETS:-}"

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz: a nightly toolchain is needed: rustup toolchain install nightly" >&2
    exit 2
fi
if ! command -v cargo-fuzz >/dev/null; then
    echo "fuzz: installing cargo-fuzz"
    cargo install --locked cargo-fuzz
fi

scripts/cargo run --quiet -p inspraak-properties --bin write-seeds -- fuzz/corpus
targets="${only:-$(cargo +nightly fuzz list --fuzz-dir fuzz)}"
failed=()
for target in $targets; do
    echo "fuzz: $target for ${seconds}s"
    if ! cargo +nightly fuzz run --fuzz-dir fuzz "$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=4096 -print_final_stats=1; then
        mkdir -p "fuzz/regressions/$target"
        for crash in fuzz/artifacts/"$target"/*; do
            [ -f "$crash" ] && cp "$crash" "fuzz/regressions/$target/"
        done
        failed+=("$target")
    fi
done
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz: properties broken: ${failed[*]} (inputs in fuzz/regressions/)" >&2
    exit 1
fi
echo "fuzz: every property held for ${seconds}s each"
