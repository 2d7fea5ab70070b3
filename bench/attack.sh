#!/bin/sh
# The echo server under attack (issue 12): builds the client, the server
# and the bench (release profile, as shipped), then runs the full-size attacks in network
# namespaces and prints the figures: legitimate checks served during each
# attack, verdicts flipped, crafted probes the server still had, lines the
# server logged. Needs root, iproute2 and iptables; takes a few minutes;
# not run in CI. Every packet stays inside the namespaces it creates.
#
#   sudo bench/attack.sh                      # every scenario
#   sudo bench/attack.sh spoof-64 --pps 2000  # one, at another rate
#   sudo STOCK_RMEM=1 bench/attack.sh capture-flood capture-rate
#
# STOCK_RMEM=1 sets net.core.rmem_max (global, not per namespace) to the
# kernel's stock 212992 for the run and puts the old value back at the end,
# Ctrl-C included: the plain capture socket of a server holding
# CAP_NET_RAW only gets at most that buffer on a stock VPS, whatever this
# machine is tuned to.
set -eu
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
    echo "bench/attack.sh: run as root (network namespaces)" >&2
    exit 2
fi
# Release binaries, as shipped: the capture scenarios measure packet rates
# (and need a sender fast enough for 80k pps), and the others then run
# against the same server a VPS runs.
cargo build --quiet --release -p probe-client -p probe-server -p lab \
    --bin mptcp-probe --bin mptcp-probe-server --bin attack-bench
if [ -n "${STOCK_RMEM:-}" ]; then
    old_rmem=$(sysctl -n net.core.rmem_max)
    trap 'sysctl -qw net.core.rmem_max="$old_rmem"' EXIT
    trap 'exit 130' INT TERM
    sysctl -qw net.core.rmem_max=212992
    target/release/attack-bench --bin-dir target/release "$@"
else
    exec target/release/attack-bench --bin-dir target/release "$@"
fi
