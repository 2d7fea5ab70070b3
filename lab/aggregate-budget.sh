#!/bin/sh
# Measures `mptcp-probe aggregate` against its budget: --duration plus one
# --timeout at most, however many WANs (their probes wait in parallel). Runs
# the lab's two-WAN scenarios (a clean path, MP_JOIN dropped on one ISP, the
# server refusing joins) for a few settings and prints each run's wall time
# next to its budget. A benchmark, not a test: timings depend on the machine.
#
#   cargo build -p lab -p probe-client -p probe-server && sudo lab/aggregate-budget.sh
set -eu
bin=${BIN_DIR:-target/debug}
status=0
for setting in "0.5 1.5" "2 3" "2 1" "5 3"; do
    set -- $setting
    budget=$(echo "$1 + $2" | bc)
    "$bin/lab" --bin-dir "$bin" --duration "$1" --timeout "$2" \
        agg-clean agg-drop-join agg-server-limit |
        awk -v d="$1" -v t="$2" -v b="$budget" '
            /^agg-/ && $(NF-1) == "s" {
                took = $(NF-2)
                over = (took > b) ? "OVER BUDGET" : "within"
                printf "--duration %-4s --timeout %-4s %-18s %6.2f s of %5.2f s  %s\n", d, t, $1, took, b, over
                if (took > b) bad = 1
            }
            END { exit bad }' || status=1
done
exit $status
