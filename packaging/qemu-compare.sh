#!/bin/sh
# The aarch64 build must say exactly what the x86_64 build says: runs both
# static clients (from packaging/build-static.sh) on every recorded capture
# in pcap-fixtures/, text and --json, the aarch64 one under qemu-aarch64
# (Debian: apt-get install qemu-user), and compares output and exit code
# byte for byte. Skips, saying why, when qemu or a binary is missing.
set -eu
cd "$(dirname "$0")/.."

X86=target/x86_64-unknown-linux-musl/release/mptcp-probe
ARM=target/aarch64-unknown-linux-musl/release/mptcp-probe

QEMU=""
for q in qemu-aarch64 qemu-aarch64-static; do
    if command -v "$q" >/dev/null 2>&1; then QEMU="$q"; break; fi
done
if [ -z "$QEMU" ]; then
    echo "skipping: qemu-aarch64 not installed (Debian: apt-get install qemu-user)"
    exit 0
fi
for b in "$X86" "$ARM"; do
    if [ ! -x "$b" ]; then
        echo "skipping: $b not built (packaging/build-static.sh)"
        exit 0
    fi
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
compared=0
differ=0
for capture in pcap-fixtures/*.pcap pcap-fixtures/*.pcapng; do
    [ -f "$capture" ] || continue
    for mode in text json; do
        set -- analyze "$capture"
        [ "$mode" = json ] && set -- --json "$@"
        x_code=0; a_code=0
        "$X86" "$@" > "$work/x86" 2>&1 || x_code=$?
        "$QEMU" "$ARM" "$@" > "$work/arm" 2>&1 || a_code=$?
        compared=$((compared + 1))
        if [ "$x_code" != "$a_code" ] || ! cmp -s "$work/x86" "$work/arm"; then
            differ=$((differ + 1))
            echo "DIFFERS: mptcp-probe $* (exit $x_code on x86_64, $a_code on aarch64)"
            diff "$work/x86" "$work/arm" | head -20 || true
        fi
    done
done
if [ "$compared" -eq 0 ]; then
    echo "FAILED: no capture found in pcap-fixtures/"
    exit 1
fi
echo "qemu-compare: $compared runs of analyze, $differ differing (aarch64 under $QEMU vs x86_64)"
[ "$differ" -eq 0 ]
