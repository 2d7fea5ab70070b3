#!/usr/bin/env bash
# mptcp-probe's benchmark (issue 13): prints, in one run, the ratios the
# performance targets are written against:
#   check / curl of the same report             target <= 2
#   trace / a bare TCP connect, every hop answers  (tracebox: ~1.8x connect)
#   analyze / TZ=UTC0 tcpdump -nr   (text)       target <= 0.5
#   analyze --json / TZ=UTC0 tcpdump -vnr        target <= 0.7
#   analyze's max RSS on a ~300 MB capture       target <= 64 MiB
#   decode per option / etherparse's option walk target <= 1.3 (criterion bench)
#
# Self-contained: it builds the release binaries, its own network namespaces
# (client - r1 - r2 - server, plus a second client link for MPTCP subflows),
# its own echo server and MPTCP traffic, records its own capture (deleted at
# the end, also on Ctrl-C), and removes everything it made. Run it as root
# from anywhere in the repository:
#     sudo bench/run.sh
# Needs iproute2, tcpdump, curl and GNU time (/usr/bin/time), e.g.
#     apt-get install iproute2 tcpdump curl time
# Timing is not a test: numbers vary with the machine and its load (medians
# of alternating runs are printed); nothing here fails on a slow run.
#
# Environment: RUNS (runs per timed command, default 15), CAPTURE_MB
# (capture size for the analyze figures, default 300), BIN_DIR (use these
# binaries instead of building), SKIP_DECODE=1 (leave the criterion bench out),
# KEEP_CAPTURE=FILE (move the capture there instead of deleting it, to time
# analyze against tcpdump again by hand).
set -euo pipefail

RUNS=${RUNS:-15}
CAPTURE_MB=${CAPTURE_MB:-300}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TAG="mpb$$"
C="$TAG-c" R1="$TAG-r1" R2="$TAG-r2" S="$TAG-s"
WORK=$(mktemp -d /tmp/mptcp-bench.XXXXXX)
PIDS=()

die() { echo "bench: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "run as root (sudo bench/run.sh): it makes network namespaces"
for tool in ip tcpdump curl /usr/bin/time; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install iproute2 tcpdump curl time)"
done

cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for ns in "$C" "$R1" "$R2" "$S"; do ip netns del "$ns" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- binaries -------------------------------------------------------------
if [ -n "${BIN_DIR:-}" ]; then
    BIN=$BIN_DIR
else
    echo "building release binaries ..." >&2
    # Built as the invoking user under sudo, so target/ stays theirs.
    as_user=()
    [ -n "${SUDO_USER:-}" ] && as_user=(sudo -u "$SUDO_USER" env "PATH=$PATH")
    (cd "$ROOT" && "${as_user[@]}" cargo build --release --quiet \
        -p probe-client -p probe-server -p lab \
        --bin mptcp-probe --bin mptcp-probe-server --bin mptcp-traffic)
    BIN=$ROOT/target/release
fi
for b in mptcp-probe mptcp-probe-server mptcp-traffic; do
    [ -x "$BIN/$b" ] || die "$BIN/$b missing"
done

# --- namespaces -----------------------------------------------------------
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
for ns in "$C" "$R1" "$R2" "$S"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
done
ip link add c0 netns "$C" type veth peer name r1a netns "$R1"
ip link add c1 netns "$C" type veth peer name r1c netns "$R1"
ip link add r1b netns "$R1" type veth peer name r2a netns "$R2"
ip link add r2b netns "$R2" type veth peer name s0 netns "$S"
addr() { ip -n "$1" addr add "$2" dev "$3" nodad 2>/dev/null || ip -n "$1" addr add "$2" dev "$3"; ip -n "$1" link set "$3" up; }
addr "$C" 10.1.0.1/24 c0;    addr "$R1" 10.1.0.254/24 r1a
addr "$C" 10.3.0.1/24 c1;    addr "$R1" 10.3.0.254/24 r1c
addr "$R1" 10.5.0.1/24 r1b;  addr "$R2" 10.5.0.2/24 r2a
addr "$R2" 10.2.0.254/24 r2b; addr "$S" 10.2.0.2/24 s0
ip -n "$C" route add default via 10.1.0.254
# The second link's subflows leave by their own source (policy routing).
ip -n "$C" rule add from 10.3.0.1 table 103
ip -n "$C" route add default via 10.3.0.254 table 103
ip -n "$R1" route add 10.2.0.0/24 via 10.5.0.2
ip -n "$R2" route add 10.1.0.0/24 via 10.5.0.1
ip -n "$R2" route add 10.3.0.0/24 via 10.5.0.1
ip -n "$S" route add default via 10.2.0.254
for r in "$R1" "$R2"; do
    in_ns "$r" sysctl -qw net.ipv4.ip_forward=1
    # Every hop answers every trace (no ICMP rate limit between runs).
    in_ns "$r" sysctl -qw net.ipv4.icmp_ratelimit=0
done
for ns in "$C" "$S"; do in_ns "$ns" sysctl -qw net.mptcp.enabled=1; done
ip -n "$C" mptcp limits set subflows 2 add_addr_accepted 0
ip -n "$C" mptcp endpoint add 10.3.0.1 dev c1 subflow
ip -n "$S" mptcp limits set subflows 2 add_addr_accepted 0

DST=10.2.0.2
# Started with `ip netns exec` itself (not the in_ns function, whose
# subshell would be what $! names): ip execs the program, so $! is its PID.
ip netns exec "$S" "$BIN/mptcp-probe-server" --rate 1000000 >"$WORK/server.log" 2>&1 &
PIDS+=($!)
ip netns exec "$S" "$BIN/mptcp-traffic" serve 5201 >/dev/null 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do
    in_ns "$C" curl -s -o /dev/null --max-time 1 "http://$DST:6101/" && break
    sleep 0.1
done

# --- timing helpers -------------------------------------------------------
# Microseconds one command takes (its output discarded).
micros() {
    local start end
    start=$(date +%s%N)
    "$@" >/dev/null 2>&1 || true
    end=$(date +%s%N)
    echo $(( (end - start) / 1000 ))
}
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
ms() { awk -v u="$1" 'BEGIN { printf "%.1f ms", u / 1000 }'; }

# Alternates two commands RUNS times (after one warm-up each); prints the
# two medians in microseconds.
race() {
    local a=$1 b=$2 ta=() tb=()
    eval "$a" >/dev/null 2>&1 || true
    eval "$b" >/dev/null 2>&1 || true
    for _ in $(seq "$RUNS"); do
        ta+=("$(micros bash -c "$a")")
        tb+=("$(micros bash -c "$b")")
    done
    printf '%s\n' "${ta[@]}" | median
    printf '%s\n' "${tb[@]}" | median
}

declare -A RESULT

echo "check against curl ($RUNS runs each) ..." >&2
mapfile -t m < <(race "ip netns exec $C $BIN/mptcp-probe check $DST" \
    "ip netns exec $C curl -s --max-time 5 http://$DST:6101/")
RESULT[check]="check $(ms "${m[0]}"), curl $(ms "${m[1]}"): $(ratio "${m[0]}" "${m[1]}")x (target <= 2)"

echo "trace against a bare connect ($RUNS runs each) ..." >&2
mapfile -t m < <(race "ip netns exec $C $BIN/mptcp-probe trace $DST" \
    "ip netns exec $C bash -c ': >/dev/tcp/$DST/6101'")
RESULT[trace]="trace $(ms "${m[0]}"), bare connect $(ms "${m[1]}"): $(ratio "${m[0]}" "${m[1]}")x"

# --- the capture ----------------------------------------------------------
echo "recording ~${CAPTURE_MB} MB of MPTCP traffic ..." >&2
CAP=$WORK/traffic.pcap
ip netns exec "$C" tcpdump -i c0 -s 0 -U -w "$CAP" "tcp port 5201" >/dev/null 2>&1 &
TCPDUMP=$!
PIDS+=($TCPDUMP)
sleep 0.5
ip netns exec "$C" "$BIN/mptcp-traffic" run "$DST" 5201 --conns 4 --size 64 --seconds 600 >/dev/null 2>&1 &
TRAFFIC=$!
PIDS+=($TRAFFIC)
while [ "$(stat -c %s "$CAP" 2>/dev/null || echo 0)" -lt $((CAPTURE_MB << 20)) ]; do
    kill -0 "$TRAFFIC" 2>/dev/null || die "the traffic generator stopped early"
    sleep 0.5
done
kill "$TRAFFIC" 2>/dev/null || true
wait "$TRAFFIC" 2>/dev/null || true
sleep 0.3
kill "$TCPDUMP" 2>/dev/null || true
wait "$TCPDUMP" 2>/dev/null || true
SIZE=$(stat -c %s "$CAP")
FRAMES=$("$BIN/mptcp-probe" analyze "$CAP" 2>/dev/null | tail -1 | sed -n 's/.*pcap, \([0-9]*\) frames.*/\1/p')

echo "analyze against tcpdump on it (3 runs each) ..." >&2
RUNS_SAVED=$RUNS
RUNS=3
mapfile -t m < <(race "$BIN/mptcp-probe analyze $CAP" "TZ=UTC0 tcpdump -nr $CAP")
RESULT[text]="analyze $(ms "${m[0]}"), tcpdump -nr $(ms "${m[1]}"): $(ratio "${m[0]}" "${m[1]}")x (target <= 0.5)"
mapfile -t m < <(race "$BIN/mptcp-probe --json analyze $CAP" "TZ=UTC0 tcpdump -vnr $CAP")
RESULT[json]="analyze --json $(ms "${m[0]}"), tcpdump -vnr $(ms "${m[1]}"): $(ratio "${m[0]}" "${m[1]}")x (target <= 0.7)"
RUNS=$RUNS_SAVED

rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
A_RSS=$(rss "$BIN/mptcp-probe" analyze "$CAP")
P_RSS=$(rss sh -c "cat '$CAP' | '$BIN/mptcp-probe' analyze -")
T_RSS=$(rss env TZ=UTC0 tcpdump -nr "$CAP")
RESULT[rss]="analyze $((A_RSS / 1024)) MiB (file), $((P_RSS / 1024)) MiB (pipe); tcpdump $((T_RSS / 1024)) MiB (target <= 64 MiB)"
if [ -n "${KEEP_CAPTURE:-}" ]; then
    mv "$CAP" "$KEEP_CAPTURE"
    echo "capture kept in $KEEP_CAPTURE" >&2
else
    rm -f "$CAP"
fi

# --- decode ---------------------------------------------------------------
if [ -z "${SKIP_DECODE:-}" ]; then
    # The bench profile (opt-level 3 for every crate): the packet crate
    # ships at opt-level 3 (its per-package override in Cargo.toml), so
    # this is our decode as shipped against etherparse at its best; with
    # the release profile etherparse would be built at "z" and look slow.
    echo "criterion decode bench (bench profile) ..." >&2
    as_user=()
    [ -n "${SUDO_USER:-}" ] && as_user=(sudo -u "$SUDO_USER" env "PATH=$PATH")
    DECODE=$(cd "$ROOT" && "${as_user[@]}" cargo bench --quiet -p mptcp-packet --bench decode -- \
        --warm-up-time 1 --measurement-time 2 2>/dev/null | grep -E "^per option|^decode ratio" | tr '\n' ';')
    RESULT[decode]="${DECODE%;}"
else
    RESULT[decode]="left out (SKIP_DECODE)"
fi

# --- report ---------------------------------------------------------------
echo
echo "mptcp-probe benchmark, $(date -u +%Y-%m-%d)"
echo "machine: $(nproc) CPU ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), $(awk '/MemTotal/ { printf "%d GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r)"
echo "capture: $((SIZE >> 20)) MiB, ${FRAMES:-?} frames of MPTCP traffic (Ethernet, 2 subflows per connection)"
echo "medians of $RUNS alternating runs (3 for analyze), ip netns exec included on both sides"
printf '  %-8s %s\n' \
    check "${RESULT[check]}" \
    trace "${RESULT[trace]}" \
    text "${RESULT[text]}" \
    json "${RESULT[json]}" \
    rss "${RESULT[rss]}" \
    decode "${RESULT[decode]}"
