#!/bin/sh
# Builds the Debian package of the server (cargo deb -p probe-server),
# lists it, unpacks it into a scratch root (dpkg -x) and checks what an
# administrator gets: the binary at the unit's ExecStart path, the unit,
# the man page, the default configuration (a conffile), the systemd
# maintainer scripts; then runs `systemd-analyze verify` on the unit.
#
#   packaging/test-deb.sh                 # for this host (glibc)
#   DEB_TARGET=x86_64-unknown-linux-musl packaging/test-deb.sh   # static
#
# Skips, saying why, without cargo-deb or dpkg-deb; without
# systemd-analyze only that step is skipped.
set -eu
cd "$(dirname "$0")/.."

if ! cargo deb --version >/dev/null 2>&1; then
    echo "skipping: cargo-deb not installed (cargo install cargo-deb --locked)"
    exit 0
fi
for tool in dpkg-deb dpkg; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "skipping: $tool not installed (Debian: apt-get install dpkg)"
        exit 0
    fi
done

fail() {
    echo "FAILED: $*"
    exit 1
}

set -- -p probe-server
if [ -n "${DEB_TARGET:-}" ]; then
    set -- "$@" --target "$DEB_TARGET"
fi
echo "== cargo deb $*"
deb=$(cargo deb "$@" | tail -n 1)
[ -f "$deb" ] || fail "cargo deb printed no package path (got: $deb)"
echo "$deb: $(wc -c < "$deb" | tr -d ' ') bytes"
dpkg-deb --info "$deb"
echo "== contents"
dpkg-deb --contents "$deb"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
dpkg -x "$deb" "$root"
dpkg-deb --control "$deb" "$root/DEBIAN"

unit="$root/usr/lib/systemd/system/mptcp-probe-server.service"
[ -f "$unit" ] || fail "no unit at /usr/lib/systemd/system/mptcp-probe-server.service"

# The unit starts the binary the package installs.
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
exec_path=${exec_start%% *}
[ "$exec_path" = /usr/bin/mptcp-probe-server ] || fail "ExecStart is $exec_start"
[ -x "$root$exec_path" ] || fail "ExecStart $exec_path is not in the package"
echo "ok: ExecStart=$exec_start is in the package"

# It reads the default file the package installs, as a conffile.
grep -qx 'EnvironmentFile=-/etc/default/mptcp-probe-server' "$unit" ||
    fail "the unit does not read /etc/default/mptcp-probe-server"
default="$root/etc/default/mptcp-probe-server"
[ -f "$default" ] || fail "no /etc/default/mptcp-probe-server"
grep -qx /etc/default/mptcp-probe-server "$root/DEBIAN/conffiles" ||
    fail "/etc/default/mptcp-probe-server is not a conffile"
echo "ok: /etc/default/mptcp-probe-server, a conffile, read by the unit"

# Maintainer scripts enable and start the unit (cargo-deb's systemd support).
grep -q 'deb-systemd-helper enable mptcp-probe-server.service' "$root/DEBIAN/postinst" ||
    fail "postinst does not enable the unit"
echo "ok: postinst enables and starts the unit"

man="$root/usr/share/man/man8/mptcp-probe-server.8.gz"
[ -f "$man" ] || fail "no man page mptcp-probe-server(8)"
gzip -dc "$man" | grep -q '^\.TH mptcp-probe-server 8' || fail "man page has no .TH line"
echo "ok: man page mptcp-probe-server(8)"

# What runs here can be asked: the packaged binary's version, its man page
# (identical to the packaged one), and every variable of the default file
# (all uncommented) must parse.
bin="$root/usr/bin/mptcp-probe-server"
if "$bin" --version >/dev/null 2>&1; then
    version=$("$bin" --version)
    case "$version" in
        "mptcp-probe-server "*) echo "ok: --version: $version" ;;
        *) fail "--version printed: $version" ;;
    esac
    gzip -dc "$man" > "$root/packaged.8"
    "$bin" --manpage > "$root/generated.8"
    cmp -s "$root/packaged.8" "$root/generated.8" ||
        fail "the packaged man page differs from the binary's --manpage"
    echo "ok: the packaged man page is the binary's own"
    vars=$(sed -n 's/^#\(MPTCP_PROBE_SERVER_[A-Z_]*=.*\)$/\1/p' "$default")
    [ -n "$vars" ] || fail "the default file shows no MPTCP_PROBE_SERVER_ variable"
    for v in $vars; do
        name=${v%%=*}
        grep -q "$name" "$root/packaged.8" || fail "$name is not in the man page"
    done
    # shellcheck disable=SC2086 # one word per assignment
    env $vars "$bin" --manpage >/dev/null || fail "the default file's values do not parse: $vars"
    echo "ok: every variable of the default file parses ($(echo "$vars" | wc -l | tr -d ' ') of them)"
else
    echo "skipping: the packaged binary does not run on this host (another architecture)"
fi

if command -v systemd-analyze >/dev/null 2>&1; then
    # verify checks that ExecStart exists on this host: check a copy that
    # points into the scratch root (the path itself was checked above).
    mkdir "$root/verify"
    sed "s#^ExecStart=/usr/bin/#ExecStart=$root/usr/bin/#" "$unit" \
        > "$root/verify/mptcp-probe-server.service"
    out=$(systemd-analyze verify "$root/verify/mptcp-probe-server.service" 2>&1) ||
        fail "systemd-analyze verify: $out"
    [ -z "$out" ] || fail "systemd-analyze verify is not clean: $out"
    echo "ok: systemd-analyze verify is clean"
else
    echo "skipping: systemd-analyze not installed, the unit is not verified"
fi
echo "test-deb: $deb ok"
