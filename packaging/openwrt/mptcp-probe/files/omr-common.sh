# Sourced by the OpenMPTCProuter hooks (omr-status, tracebox): where
# mptcp-probe and the echo server are. The environment overrides every
# setting (for tests and runs by hand): MPTCP_PROBE_BIN, MPTCP_PROBE_OMR_SERVER,
# MPTCP_PROBE_OMR_PORT. POSIX sh: OpenWrt runs these under busybox ash.

MPTCP_PROBE_BIN="${MPTCP_PROBE_BIN:-/usr/bin/mptcp-probe}"

uci_get() {
    command -v uci >/dev/null 2>&1 && uci -q get "$1" 2>/dev/null
}

# The echo server: /etc/config/mptcp-probe's omr.server, else the VPS
# OpenMPTCProuter itself is configured with (a list: its first entry).
omr_server() {
    _s="${MPTCP_PROBE_OMR_SERVER:-$(uci_get mptcp-probe.omr.server)}"
    [ -n "$_s" ] || _s="$(uci_get openmptcprouter.vps.ip)"
    # shellcheck disable=SC2086 # split the list on purpose
    set -- $_s
    echo "${1:-}"
}

omr_port() {
    _p="${MPTCP_PROBE_OMR_PORT:-$(uci_get mptcp-probe.omr.port)}"
    echo "${_p:-6101}"
}

# OpenMPTCProuter may name a WAN by its logical interface (wan1) rather
# than its device (eth1): -i needs the device.
omr_device() {
    if [ -z "$1" ] || [ -e "/sys/class/net/$1" ]; then
        echo "$1"
        return
    fi
    if command -v ifstatus >/dev/null 2>&1 && command -v jsonfilter >/dev/null 2>&1; then
        _d="$(ifstatus "$1" 2>/dev/null | jsonfilter -e '@.l3_device' 2>/dev/null)"
        if [ -n "$_d" ]; then
            echo "$_d"
            return
        fi
    fi
    echo "$1"
}
