#!/bin/sh
# Runs fuzz targets for SECONDS each (default 600), two at a time at low
# priority, with AddressSanitizer, on the stable toolchain (RUSTC_BOOTSTRAP
# lets cargo-fuzz pass its nightly-only flags). Seeds the corpora first.
# Logs go to fuzz/logs/TARGET.log; the last line of each is libFuzzer's
# "Done N runs in S second(s)". Debug assertions (overflow checks) stay on.
# Usage: fuzz/run.sh [SECONDS] [TARGET...]
set -eu
cd "$(dirname "$0")"
secs=${1:-600}
[ $# -gt 0 ] && shift
targets=${*:-$(RUSTC_BOOTSTRAP=1 cargo fuzz list)}
python3 seed.py
RUSTC_BOOTSTRAP=1 nice -n 10 cargo fuzz build
mkdir -p logs
set -- $targets
while [ $# -gt 0 ]; do
    for t in "$1" "${2:-}"; do
        [ -n "$t" ] || continue
        # The binaries built above, not `cargo fuzz run` (which rebuilds
        # from whatever the sources are by then).
        mkdir -p "corpus/$t" "artifacts/$t"
        nice -n 10 "target/$(uname -m)-unknown-linux-gnu/release/$t" \
            -artifact_prefix="artifacts/$t/" -max_total_time="$secs" \
            -timeout=10 -print_final_stats=1 "corpus/$t" >"logs/$t.log" 2>&1 &
    done
    wait
    shift; [ $# -gt 0 ] && shift
    true
done
for t in $targets; do
    printf '%s: %s corpus %s crashes %s\n' "$t" \
        "$(grep -h '^Done' "logs/$t.log" || echo 'no Done line (crash?)')" \
        "$(ls "corpus/$t" | wc -l)" "$(ls "artifacts/$t" 2>/dev/null | wc -l)"
done
