#!/bin/sh
# The echo server under attack (issue 12): builds the client, the server
# and the bench (debug profile), then runs the full-size attacks in network
# namespaces and prints the figures: legitimate checks served during each
# attack, verdicts flipped, crafted probes the server still had, lines the
# server logged. Needs root, iproute2 and iptables; takes a few minutes;
# not run in CI. Every packet stays inside the namespaces it creates.
#
#   sudo bench/attack.sh                      # every scenario
#   sudo bench/attack.sh spoof-64 --pps 2000  # one, at another rate
set -eu
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
    echo "bench/attack.sh: run as root (network namespaces)" >&2
    exit 2
fi
cargo build --quiet -p probe-client -p probe-server -p lab --bins
case " $* " in
*" capture-flood "* | *" capture-rate "*)
    # The capture scenarios measure packet rates: the server as shipped
    # (release profile), and a sender fast enough for 80k pps.
    cargo build --quiet --release -p probe-server -p lab --bin mptcp-probe-server --bin attack-bench
    exec target/release/attack-bench "$@"
    ;;
esac
exec target/debug/attack-bench "$@"
