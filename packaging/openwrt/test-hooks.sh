#!/bin/sh
# The OpenMPTCProuter hooks shipped in the OpenWrt package
# (mptcp-probe/files/omr-status, tracebox), run against stubs of
# mptcp-probe (prints its arguments), uci, ifstatus and jsonfilter: which
# arguments reach mptcp-probe, where the server comes from, what stdout
# shows. Runs under every POSIX shell found here (dash, busybox ash,
# bash --posix); OpenWrt uses busybox ash. The real binary against real
# kernels: probe-client/tests/omr_netns.rs.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
files="$here/mptcp-probe/files"

stubs=$(mktemp -d)
trap 'rm -rf "$stubs"' EXIT
cat > "$stubs/mptcp-probe" <<'STUB'
#!/bin/sh
# Prints its arguments, one per line; says "error" on stderr (the hooks
# must keep it off omr-status's stdout); exits with $STUB_EXIT.
for a in "$@"; do echo "arg: $a"; done
echo "some error on stderr" >&2
exit "${STUB_EXIT:-0}"
STUB
cat > "$stubs/uci" <<'STUB'
#!/bin/sh
# uci -q get KEY, answered from $STUB_UCI ("key=value;key=a,b"); a list
# prints its items space-separated, as uci does.
[ "$1" = -q ] && shift
[ "$1" = get ] || exit 1
echo "${STUB_UCI:-}" | tr ';' '\n' | sed -n "s/^$2=//p" | tr ',' ' ' | grep . || exit 1
STUB
cat > "$stubs/ifstatus" <<'STUB'
#!/bin/sh
[ "$1" = wan2 ] && echo '{"l3_device":"eth2"}'
STUB
cat > "$stubs/jsonfilter" <<'STUB'
#!/bin/sh
sed -n 's/.*"l3_device":"\([^"]*\)".*/\1/p'
STUB
chmod +x "$stubs"/*

failures=0
ran=0
check() {
    # check NAME EXPECTED_STDOUT EXPECTED_EXIT -- COMMAND...
    name=$1 want=$2 want_code=$3
    shift 4
    code=0
    got=$("$@" 2>/dev/null) || code=$?
    ran=$((ran + 1))
    if [ "$got" != "$want" ] || [ "$code" != "$want_code" ]; then
        failures=$((failures + 1))
        printf 'FAILED (%s): %s\n--- want (exit %s)\n%s\n--- got (exit %s)\n%s\n' \
            "$shell" "$name" "$want_code" "$want" "$code" "$got"
    fi
}

shells=""
for s in dash "busybox sh" "bash --posix" sh; do
    set -- $s
    command -v "$1" >/dev/null 2>&1 && shells="$shells|$s"
done

IFS_SAVE=$IFS
IFS='|'
for shell in ${shells#|}; do
    IFS=$IFS_SAVE
    # hook [VAR=VALUE...] SCRIPT ARGS: the hook under $shell, with the stubs.
    # shellcheck disable=SC2086 # "busybox sh" is two words
    hook() {
        _vars=""
        while [ $# -gt 0 ]; do
            case "$1" in *=*) _vars="$_vars $1"; shift ;; *) break ;; esac
        done
        env PATH="$stubs:$PATH" MPTCP_PROBE_BIN="$stubs/mptcp-probe" $_vars $shell "$@"
    }

    check "omr-status: device, server from mptcp-probe's config" \
        "$(printf 'arg: check\narg: vps.example\narg: --port\narg: 6101\narg: -i\narg: lo\narg: --format\narg: omr-status')" 0 -- \
        hook STUB_UCI="mptcp-probe.omr.server=vps.example" "$files/omr-status" lo
    check "omr-status: logical interface, OpenMPTCProuter's VPS list, port" \
        "$(printf 'arg: check\narg: 192.0.2.1\narg: --port\narg: 65500\narg: -i\narg: eth2\narg: --format\narg: omr-status')" 0 -- \
        hook STUB_UCI="openmptcprouter.vps.ip=192.0.2.1,192.0.2.2;mptcp-probe.omr.port=65500" \
        "$files/omr-status" wan2
    check "omr-status: server argument wins, exit code passes through" \
        "$(printf 'arg: check\narg: other.example\narg: --port\narg: 6101\narg: -i\narg: lo\narg: --format\narg: omr-status')" 1 -- \
        hook STUB_EXIT=1 STUB_UCI="mptcp-probe.omr.server=vps.example" \
        "$files/omr-status" lo other.example
    check "omr-status: no server anywhere prints nothing" "" 2 -- \
        hook STUB_UCI= "$files/omr-status" lo
    check "omr-status: stderr never reaches stdout" \
        "" 0 -- sh -c "env PATH='$stubs:$PATH' MPTCP_PROBE_BIN='$stubs/mptcp-probe' \
            MPTCP_PROBE_OMR_SERVER=h $shell '$files/omr-status' lo 2>&1 | grep -i error || true"

    check "tracebox: OMR's command line" \
        "$(printf 'arg: trace\narg: vps.example\narg: --port\narg: 6101\narg: --format\narg: tracebox\narg: -i\narg: lo\nsome error on stderr')" 0 -- \
        hook "$files/tracebox" -s /usr/share/tracebox/omr-mptcp-trace.lua -i lo vps.example
    check "tracebox: -m, -6, ignored options, server from OpenMPTCProuter" \
        "$(printf 'arg: trace\narg: 192.0.2.1\narg: --port\narg: 6101\narg: --format\narg: tracebox\narg: -m\narg: 8\narg: -6\nsome error on stderr')" 0 -- \
        hook STUB_UCI="openmptcprouter.vps.ip=192.0.2.1" \
        "$files/tracebox" -n -v -p IP/TCP -t 0.5 -m 8 -6
    check "tracebox: through a symlink (/usr/bin/tracebox)" \
        "$(printf 'arg: trace\narg: h\narg: --port\narg: 6101\narg: --format\narg: tracebox\nsome error on stderr')" 0 -- \
        sh -c "ln -sf '$files/tracebox' '$stubs/tracebox' && env PATH='$stubs:$PATH' \
            MPTCP_PROBE_BIN='$stubs/mptcp-probe' $shell '$stubs/tracebox' h 2>/dev/null"
    check "tracebox: no server says so" \
        "mptcp-probe: no server given and none configured (uci set mptcp-probe.omr.server=HOST)" 2 -- \
        hook STUB_UCI= "$files/tracebox" -i lo
    IFS='|'
done
IFS=$IFS_SAVE
echo "test-hooks: $ran checks under $(echo "${shells#|}" | sed "s/|/, /g"), $failures failed"
[ "$failures" -eq 0 ]
