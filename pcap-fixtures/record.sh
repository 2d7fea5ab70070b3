#!/bin/bash
# Re-records every capture in pcap-fixtures/ from real traffic between network
# namespaces on this machine (real kernel MPTCP, real iptables middleboxes).
#
#   sudo pcap-fixtures/record.sh            # all scenarios
#   sudo pcap-fixtures/record.sh join v1-clean   # only these
#
# Environment: OUT (output directory, default: this script's directory),
# PYTHON (default python3), PORT (server port, default 6101).
#
# Every scenario gets fresh namespaces named mpf<pid>-<scenario>-<role>, so
# parallel runs do not collide and MPTCP blackhole state (see `dropped`) never
# leaks into another scenario. Everything is torn down on exit, also on failure.
set -euo pipefail

if [[ ${EUID} -ne 0 ]]; then
    echo "record.sh: must run as root (network namespaces, iptables, tcpdump): sudo $0" >&2
    exit 1
fi
for tool in ip iptables tcpdump sysctl; do
    command -v "$tool" >/dev/null || { echo "record.sh: '$tool' not found" >&2; exit 1; }
done

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$HERE}
PYTHON=${PYTHON:-python3}
PORT=${PORT:-6101}
TAG=mpf$$
WORK=$(mktemp -d "/tmp/${TAG}.XXXXXX")

NAMESPACES=()
BG_PIDS=()

cleanup() {
    local pid ns
    for pid in "${BG_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${BG_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    # Whatever still runs inside our namespaces was started by this script
    # (a backgrounded client runs in a subshell whose pid is not its own).
    for ns in "${NAMESPACES[@]}"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do
            kill "$pid" 2>/dev/null || true
        done
    done
    for ns in "${NAMESPACES[@]}"; do
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() { echo "record.sh: $*" >&2; }

# --- building blocks --------------------------------------------------------

# new_ns NAME: a fresh namespace with loopback up and MPTCP on.
new_ns() {
    ip netns add "$1"
    NAMESPACES+=("$1")
    ip -n "$1" link set lo up
    ip netns exec "$1" sysctl -qw net.mptcp.enabled=1
    # Keep IPv6 quiet and immediate: no DAD delay, no router solicitations.
    ip netns exec "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
    ip netns exec "$1" sysctl -qw net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0
}

router_ns() {
    new_ns "$1"
    ip netns exec "$1" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
    ip netns exec "$1" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
}

# veth NS_A IF_A MAC_A NS_B IF_B MAC_B: a veth pair created straight inside
# the two namespaces, with fixed MACs so captures differ only where the
# protocol makes them differ. Checksum offload is switched off (when ethtool
# is there) so that captured packets carry real TCP checksums rather than the
# partial ones veth would otherwise pass along.
veth() {
    ip link add "$2" netns "$1" type veth peer name "$5" netns "$4"
    ip -n "$1" link set "$2" address "$3"
    ip -n "$4" link set "$5" address "$6"
    if command -v ethtool >/dev/null; then
        ip netns exec "$1" ethtool -K "$2" tx off rx off >/dev/null 2>&1 || true
        ip netns exec "$4" ethtool -K "$5" tx off rx off >/dev/null 2>&1 || true
    fi
    ip -n "$1" link set "$2" up
    ip -n "$4" link set "$5" up
}

# addr NS IF V4/LEN V6/LEN
addr() {
    ip -n "$1" addr add "$3" dev "$2"
    ip -n "$1" addr add "$4" dev "$2" nodad
}

# start_capture NS IF FILE [FILTER]: tcpdump in the background, returns once
# it listens. The default filter keeps TCP only (no ARP, ND or MLD noise).
start_capture() {
    local ns=$1 dev=$2 file=$3 filter=${4:-tcp} err
    err="$WORK/$(basename "$file").log"
    rm -f "$file"
    ip netns exec "$ns" tcpdump -i "$dev" -w "$file" -U -s 0 -B 8192 -n --immediate-mode "$filter" 2>"$err" &
    BG_PIDS+=($!)
    CAPTURE_PIDS+=($!)
    local tries=0
    until grep -q "listening on" "$err" 2>/dev/null; do
        tries=$((tries + 1))
        if ((tries > 100)); then
            log "tcpdump on $ns/$dev did not start:"; cat "$err" >&2; exit 1
        fi
        sleep 0.05
    done
}

# stop_captures: let the last packets (final ACKs) go through, then stop every
# tcpdump of this scenario with SIGINT and wait until it has closed its file.
stop_captures() {
    local pid
    sleep 0.5
    for pid in "${CAPTURE_PIDS[@]}"; do
        kill -INT "$pid" 2>/dev/null || true
    done
    for pid in "${CAPTURE_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    CAPTURE_PIDS=()
    # tcpdump's own summary: a capture that lost packets must not be committed.
    local errlog
    for errlog in "$WORK"/*.pcap.log; do
        if grep -qE "^[1-9][0-9]* packets dropped by kernel" "$errlog"; then
            log "$(basename "$errlog" .log): tcpdump reports dropped packets:"
            cat "$errlog" >&2
            exit 1
        fi
        rm -f "$errlog"
    done
}

# start_server NS PROTO BIND [BEHAVIOUR]: returns once the server listens.
start_server() {
    local ready="$WORK/ready.$RANDOM"
    ip netns exec "$1" "$PYTHON" "$HERE/peer.py" server --proto "$2" --bind "$3" \
        --port "$PORT" --behaviour "${4:-normal}" --ready "$ready" &
    SERVER_PID=$!
    BG_PIDS+=("$SERVER_PID")
    local tries=0
    until [[ -e $ready ]]; do
        tries=$((tries + 1))
        ((tries < 200)) || { log "server in $1 did not start"; exit 1; }
        sleep 0.05
    done
}

# run_client NS PROTO ADDR [BEHAVIOUR [GO_FILE]]: runs to completion.
run_client() {
    local extra=()
    [[ $# -ge 5 ]] && extra=(--go "$5")
    ip netns exec "$1" "$PYTHON" "$HERE/peer.py" client --proto "$2" --connect "$3" \
        --port "$PORT" --behaviour "${4:-normal}" "${extra[@]}"
}

wait_server() {
    wait "$SERVER_PID"
}

# line_topology SCENARIO: client -- router -- server, IPv4 and IPv6.
#   client c0 10.1.0.2 fd00:1::2   router r0 10.1.0.1 fd00:1::1
#   server s0 10.2.0.2 fd00:2::2   router r1 10.2.0.1 fd00:2::1
# Sets C, R, S to the namespace names.
line_topology() {
    C="$TAG-$1-c"; R="$TAG-$1-r"; S="$TAG-$1-s"
    new_ns "$C"; router_ns "$R"; new_ns "$S"
    veth "$C" c0 02:00:00:00:01:02 "$R" r0 02:00:00:00:01:01
    veth "$S" s0 02:00:00:00:02:02 "$R" r1 02:00:00:00:02:01
    addr "$C" c0 10.1.0.2/24 fd00:1::2/64
    addr "$R" r0 10.1.0.1/24 fd00:1::1/64
    addr "$R" r1 10.2.0.1/24 fd00:2::1/64
    addr "$S" s0 10.2.0.2/24 fd00:2::2/64
    ip -n "$C" route add default via 10.1.0.1
    ip -n "$C" -6 route add default via fd00:1::1
    ip -n "$S" route add default via 10.2.0.1
    ip -n "$S" -6 route add default via fd00:2::1
}

# line_exchange SCENARIO CLIENT_PROTO SERVER_PROTO SERVER_ADDR [CLIENT_BEHAVIOUR [SERVER_BEHAVIOUR]]
# Captures on the client's c0 and the server's s0 while the peers talk.
line_exchange() {
    local name=$1
    start_capture "$C" c0 "$OUT/$name.client.pcap"
    start_capture "$S" s0 "$OUT/$name.server.pcap"
    start_server "$S" "$3" "$4" "${6:-normal}"
    run_client "$C" "$2" "$4" "${5:-normal}"
    wait_server
    stop_captures
}

# --- scenarios --------------------------------------------------------------

scenario_v1-clean() {
    line_topology v1clean
    line_exchange v1-clean mptcp mptcp 10.2.0.2
}

scenario_tcp-plain() {
    line_topology tcpplain
    line_exchange tcp-plain tcp tcp 10.2.0.2
}

scenario_stripped-upstream() {
    line_topology strip
    ip netns exec "$R" iptables -t mangle -A FORWARD -p tcp --dport "$PORT" \
        -j TCPOPTSTRIP --strip-options 30
    line_exchange stripped-upstream mptcp mptcp 10.2.0.2
}

scenario_server-disabled() {
    line_topology srvoff
    ip netns exec "$S" sysctl -qw net.mptcp.enabled=0
    line_exchange server-disabled mptcp mptcp 10.2.0.2
}

scenario_v6-clean() {
    line_topology v6clean
    line_exchange v6-clean mptcp mptcp fd00:2::2
}

scenario_dropped() {
    line_topology dropped
    ip netns exec "$R" iptables -A FORWARD -p tcp --dport "$PORT" -m tcp --tcp-option 30 -j DROP
    line_exchange dropped mptcp mptcp 10.2.0.2
}

scenario_fastclose() {
    # The server closes its socket while received data is still unread.
    line_topology fclose
    line_exchange fastclose mptcp mptcp 10.2.0.2 unread unread
}

scenario_linger0() {
    # The client closes with SO_LINGER {on, 0 s}.
    line_topology linger
    line_exchange linger0 mptcp mptcp 10.2.0.2 linger0 normal
}

# Two paths between client and server through one router:
#   client c0 10.1.0.2 fd00:1::2 (initial subflow)
#          c1 10.3.0.2 fd00:3::2 (endpoint id 1, subflow)
#   server s0 10.2.0.2 fd00:2::2 (listener)
#          s1 10.4.0.2 fd00:4::2 (endpoint id 1, signal)
# Sets C, R, S.
two_path_topology() {
    C="$TAG-$1-c"; R="$TAG-$1-r"; S="$TAG-$1-s"
    new_ns "$C"; router_ns "$R"; new_ns "$S"
    veth "$C" c0 02:00:00:00:01:02 "$R" r0 02:00:00:00:01:01
    veth "$C" c1 02:00:00:00:03:02 "$R" r2 02:00:00:00:03:01
    veth "$S" s0 02:00:00:00:02:02 "$R" r1 02:00:00:00:02:01
    veth "$S" s1 02:00:00:00:04:02 "$R" r3 02:00:00:00:04:01
    addr "$C" c0 10.1.0.2/24 fd00:1::2/64
    addr "$C" c1 10.3.0.2/24 fd00:3::2/64
    addr "$R" r0 10.1.0.1/24 fd00:1::1/64
    addr "$R" r2 10.3.0.1/24 fd00:3::1/64
    addr "$R" r1 10.2.0.1/24 fd00:2::1/64
    addr "$R" r3 10.4.0.1/24 fd00:4::1/64
    addr "$S" s0 10.2.0.2/24 fd00:2::2/64
    addr "$S" s1 10.4.0.2/24 fd00:4::2/64
    ip -n "$C" route add default via 10.1.0.1
    ip -n "$C" -6 route add default via fd00:1::1
    ip -n "$S" route add default via 10.2.0.1
    ip -n "$S" -6 route add default via fd00:2::1
    # Source routing, so that a subflow from the second address leaves by the
    # second link.
    ip -n "$C" rule add from 10.3.0.2 table 100
    ip -n "$C" route add default via 10.3.0.1 table 100
    ip -n "$C" -6 rule add from fd00:3::2 table 100
    ip -n "$C" -6 route add default via fd00:3::1 table 100
    ip -n "$S" rule add from 10.4.0.2 table 100
    ip -n "$S" route add default via 10.4.0.1 table 100
    ip -n "$S" -6 rule add from fd00:4::2 table 100
    ip -n "$S" -6 route add default via fd00:4::1 table 100
    local ns
    for ns in "$C" "$S"; do
        ip -n "$ns" mptcp limits set subflows 2 add_addr_accepted 2
    done
}

# join_exchange NAME SERVER_ANY SERVER_ADDR: with the endpoints already set
# (id 1 on both sides), runs a 'hold' client and, while its connection
# lives, switches the client's endpoint to backup (MP_PRIO), deletes the
# server's endpoint (REMOVE_ADDR from the server), then the client's
# (REMOVE_ADDR from the client). Captured on every interface of the client
# (-i any: Linux cooked v2, whose interface index tells the paths apart).
join_exchange() {
    local go="$WORK/$1.go"
    start_capture "$C" any "$OUT/$1.client.pcap"
    start_server "$S" mptcp "$2" normal
    run_client "$C" mptcp "$3" hold "$go" &
    local client=$!
    BG_PIDS+=("$client")
    # Let the joins and the ADD_ADDR exchange finish.
    sleep 1
    ip -n "$C" mptcp endpoint change id 1 backup
    sleep 0.5
    ip -n "$S" mptcp endpoint delete id 1
    sleep 0.5
    ip -n "$C" mptcp endpoint delete id 1
    sleep 0.5
    touch "$go"
    wait "$client"
    wait_server
    stop_captures
}

scenario_join() {
    two_path_topology join
    ip -n "$C" mptcp endpoint add 10.3.0.2 dev c1 id 1 subflow
    ip -n "$S" mptcp endpoint add 10.4.0.2 dev s1 id 1 signal
    # The server listens on every address: joins also go to the announced 10.4.0.2.
    join_exchange join 0.0.0.0 10.2.0.2
}

scenario_join-v6() {
    two_path_topology joinv6
    ip -n "$C" mptcp endpoint add fd00:3::2 dev c1 id 1 subflow
    ip -n "$S" mptcp endpoint add fd00:4::2 dev s1 id 1 signal
    join_exchange join-v6 :: fd00:2::2
}

scenario_join-port() {
    two_path_topology joinport
    ip -n "$C" mptcp endpoint add 10.3.0.2 dev c1 id 1 subflow
    # An announced address with a port: ADD_ADDR carries it, and the kernel
    # opens its own listener there for the joins.
    ip -n "$S" mptcp endpoint add 10.4.0.2 dev s1 id 1 port 6102 signal
    join_exchange join-port 10.2.0.2 10.2.0.2
}

scenario_join-v6-port() {
    # ADD_ADDR for an IPv6 address with a port and its HMAC takes 30 bytes,
    # which does not fit next to TCP timestamps (12 bytes) in a 40-byte
    # option area, so Linux never sends it while timestamps are on. The
    # server therefore turns timestamps off (the SYN/ACK then omits them and
    # the connection runs without).
    two_path_topology joinv6port
    ip netns exec "$S" sysctl -qw net.ipv4.tcp_timestamps=0
    ip -n "$C" mptcp endpoint add fd00:3::2 dev c1 id 1 subflow
    ip -n "$S" mptcp endpoint add fd00:4::2 dev s1 id 1 port 6102 signal
    join_exchange join-v6-port fd00:2::2 fd00:2::2
}

scenario_join-rejected() {
    # The server accepts no additional subflow (limit 0): it refuses the
    # client's MP_JOIN SYN with a reset.
    two_path_topology joinrej
    ip -n "$S" mptcp limits set subflows 0 add_addr_accepted 0
    ip -n "$C" mptcp endpoint add 10.3.0.2 dev c1 id 1 subflow
    start_capture "$C" any "$OUT/join-rejected.client.pcap"
    start_server "$S" mptcp 10.2.0.2 normal
    run_client "$C" mptcp 10.2.0.2 normal
    wait_server
    stop_captures
}

# chain_topology SCENARIO: client -- router 1 -- router 2 -- server.
#   client c0 10.1.0.2 fd00:1::2   router 1 r0 10.1.0.1 fd00:1::1
#                                  router 1 r1 10.5.0.1 fd00:5::1
#                                  router 2 q0 10.5.0.2 fd00:5::2
#   server s0 10.2.0.2 fd00:2::2   router 2 q1 10.2.0.1 fd00:2::1
# Sets C, R (router 1), R2, S.
chain_topology() {
    C="$TAG-$1-c"; R="$TAG-$1-r"; R2="$TAG-$1-r2"; S="$TAG-$1-s"
    new_ns "$C"; router_ns "$R"; router_ns "$R2"; new_ns "$S"
    veth "$C" c0 02:00:00:00:01:02 "$R" r0 02:00:00:00:01:01
    veth "$R" r1 02:00:00:00:05:01 "$R2" q0 02:00:00:00:05:02
    veth "$S" s0 02:00:00:00:02:02 "$R2" q1 02:00:00:00:02:01
    addr "$C" c0 10.1.0.2/24 fd00:1::2/64
    addr "$R" r0 10.1.0.1/24 fd00:1::1/64
    addr "$R" r1 10.5.0.1/24 fd00:5::1/64
    addr "$R2" q0 10.5.0.2/24 fd00:5::2/64
    addr "$R2" q1 10.2.0.1/24 fd00:2::1/64
    addr "$S" s0 10.2.0.2/24 fd00:2::2/64
    ip -n "$C" route add default via 10.1.0.1
    ip -n "$C" -6 route add default via fd00:1::1
    ip -n "$R" route add 10.2.0.0/24 via 10.5.0.2
    ip -n "$R" -6 route add fd00:2::/64 via fd00:5::2
    ip -n "$R2" route add 10.1.0.0/24 via 10.5.0.1
    ip -n "$R2" -6 route add fd00:1::/64 via fd00:5::1
    ip -n "$S" route add default via 10.2.0.1
    ip -n "$S" -6 route add default via fd00:2::1
}

# ttl_exchange NAME SERVER_ADDR: one MP_CAPABLE SYN with TTL (hop limit) 1,
# one with 2 (each answered by a router's ICMP time exceeded that quotes it),
# then a normal connection. Captured on the client's c0, TCP and ICMP errors.
ttl_exchange() {
    local ttl
    start_capture "$C" c0 "$OUT/$1.client.pcap" "tcp or icmp or (icmp6 and ip6[40] < 128)"
    start_server "$S" mptcp "$2" normal
    for ttl in 1 2; do
        ip netns exec "$C" sysctl -qw net.ipv4.ip_default_ttl="$ttl" net.ipv6.conf.c0.hop_limit="$ttl"
        run_client "$C" mptcp "$2" syn-only
    done
    ip netns exec "$C" sysctl -qw net.ipv4.ip_default_ttl=64 net.ipv6.conf.c0.hop_limit=64
    run_client "$C" mptcp "$2" normal
    wait_server
    stop_captures
}

scenario_ttl-clean() {
    chain_topology ttlclean
    ttl_exchange ttl-clean 10.2.0.2
}

scenario_ttl-stripped() {
    # Router 1 strips option 30; its own ICMP quote still holds the option
    # (TTL expiry happens before the FORWARD chain), router 2's quote does not.
    chain_topology ttlstrip
    ip netns exec "$R" iptables -t mangle -A FORWARD -p tcp --dport "$PORT" \
        -j TCPOPTSTRIP --strip-options 30
    ttl_exchange ttl-stripped 10.2.0.2
}

scenario_ttl-stripped-v6() {
    chain_topology ttlstrip6
    ip netns exec "$R" ip6tables -t mangle -A FORWARD -p tcp --dport "$PORT" \
        -j TCPOPTSTRIP --strip-options 30
    ttl_exchange ttl-stripped-v6 fd00:2::2
}

scenario_v0-syn() {
    # A hand-made SYN with an RFC 6824 (v0) MP_CAPABLE, as tracebox sends it,
    # to an upstream (v1-only) kernel listening on an MPTCP socket: the server
    # ignores the v0 option and answers a plain SYN/ACK; the client kernel,
    # which owns no socket for that port, resets. Then the same with a v1
    # MP_CAPABLE (source port 40001) for contrast: that SYN/ACK carries
    # MP_CAPABLE. Neither connection reaches the python server's accept(), so
    # a normal connection follows to let it finish.
    line_topology v0syn
    start_capture "$C" c0 "$OUT/v0-syn.client.pcap"
    start_capture "$S" s0 "$OUT/v0-syn.server.pcap"
    start_server "$S" mptcp 10.2.0.2 normal
    ip netns exec "$C" "$PYTHON" "$HERE/peer.py" craft --source 10.1.0.2 --connect 10.2.0.2 \
        --port "$PORT" --sport 40000 --mptcp-version 0
    ip netns exec "$C" "$PYTHON" "$HERE/peer.py" craft --source 10.1.0.2 --connect 10.2.0.2 \
        --port "$PORT" --sport 40001 --mptcp-version 1
    run_client "$C" mptcp 10.2.0.2 normal
    wait_server
    stop_captures
}

scenario_checksum() {
    # DSS checksums negotiated (MP_CAPABLE flag A) on both ends.
    line_topology csum
    ip netns exec "$C" sysctl -qw net.mptcp.checksum_enabled=1
    ip netns exec "$S" sysctl -qw net.mptcp.checksum_enabled=1
    line_exchange checksum mptcp mptcp 10.2.0.2
}

ALL=(v1-clean tcp-plain stripped-upstream server-disabled join fastclose linger0 v6-clean dropped
     checksum join-v6 join-port join-v6-port join-rejected
     ttl-clean ttl-stripped ttl-stripped-v6 v0-syn)

main() {
    local list=("$@") s
    ((${#list[@]})) || list=("${ALL[@]}")
    CAPTURE_PIDS=()
    mkdir -p "$OUT"
    for s in "${list[@]}"; do
        declare -F "scenario_$s" >/dev/null || { log "unknown scenario '$s' (known: ${ALL[*]})"; exit 2; }
    done
    for s in "${list[@]}"; do
        log "recording $s"
        "scenario_$s"
    done
    # tcpdump drops root and writes its files as its own user; give them the
    # owner of the output directory (the checkout).
    chown --reference="$OUT" "$OUT"/*.pcap 2>/dev/null || true
    log "done: captures in $OUT"
}

main "$@"
