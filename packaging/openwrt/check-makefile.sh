#!/bin/sh
# Checks mptcp-probe/Makefile as far as this machine allows without an
# OpenWrt SDK: GNU make parses it against stand-ins of the three files it
# includes (check-stubs/: rules.mk, include/package.mk, the packages
# feed's lang/rust/rust-package.mk, defining the same macros and
# variables), with undefined variables reported as errors; then
#   - the metadata (name, version = the workspace's, rust/host build
#     dependency, section, category, title, architectures, conffiles);
#   - the compile step's cargo command (cargo replaced by echo);
#   - the install recipe, run for real into a scratch root with a stand-in
#     binary: every file, its mode, the gzipped man pages identical to
#     the committed ones, the hooks' shell syntax.
# What it cannot check: the real SDK's macros (only our stand-ins of
# them), cross-compiling with OpenWrt's Rust toolchain, the .ipk itself.
#   CHECK_CARGO_INSTALL=1 also runs the compile step's cargo install for
#   this host (a release build, a few minutes) to prove the command works.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() {
    echo "FAILED: $*" >&2
    exit 1
}

if ! command -v make >/dev/null 2>&1; then
    echo "skipping: make not installed"
    exit 0
fi

mkdir -p "$work/pkg-install/bin"
run_make() {
    make --no-print-directory --warn-undefined-variables \
        -C "$here/mptcp-probe" -f Makefile \
        TOPDIR="$here/check-stubs" PKG_BUILD_DIR="$repo" \
        PKG_INSTALL_DIR="$work/pkg-install" "$@" 2> "$work/stderr" || {
        cat "$work/stderr" >&2
        fail "make $*"
    }
    # make's own warnings (FILE:LINE: warning: ...), not cargo's.
    if grep -Eq '^[^ ]+:[0-9]+: warning' "$work/stderr"; then
        cat "$work/stderr" >&2
        fail "make $* warns"
    fi
}

# Metadata.
run_make info > "$work/info"
field() { sed -n "s/^$1=//p" "$work/info"; }
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -n 1)
[ "$(field PKG_NAME)" = mptcp-probe ] || fail "PKG_NAME is $(field PKG_NAME)"
[ "$(field PKG_VERSION)" = "$version" ] ||
    fail "PKG_VERSION $(field PKG_VERSION) is not the workspace's $version"
case " $(field PKG_BUILD_DEPENDS) " in *" rust/host "*) ;; *) fail "no rust/host build dependency" ;; esac
for f in PKG_RELEASE PKG_LICENSE PKG_MAINTAINER SECTION CATEGORY TITLE; do
    [ -n "$(field "$f")" ] || fail "$f is empty"
done
case "$(field DEPENDS)" in @\(*aarch64*x86_64*\)) ;; *) fail "DEPENDS is not RUST_ARCH_DEPENDS: $(field DEPENDS)" ;; esac
[ "$(field CONFFILES)" = /etc/config/mptcp-probe ] || fail "conffiles: $(field CONFFILES)"
[ "$(field DESCRIPTION_WORDS)" -gt 20 ] || fail "description too short"
echo "ok: metadata: mptcp-probe $version-$(field PKG_RELEASE), $(field SECTION)/$(field CATEGORY), builds with rust/host"

# Compile: cargo install of the client, from its directory.
run_make compile CARGO="echo cargo" > "$work/compile"
grep -q -- "cargo install -v --profile release --root $work/pkg-install --path probe-client --locked" "$work/compile" ||
    fail "unexpected compile command: $(cat "$work/compile")"
grep -q '^name = "mptcp-probe"' "$repo/probe-client/Cargo.toml" ||
    fail "probe-client/ has no binary mptcp-probe"
echo "ok: compile runs: $(tail -n 1 "$work/compile")"
if [ "${CHECK_CARGO_INSTALL:-0}" = 1 ]; then
    CARGO_TARGET_DIR="$repo/target" run_make compile > "$work/compile"
    [ -x "$work/pkg-install/bin/mptcp-probe" ] || fail "cargo install left no bin/mptcp-probe"
    echo "ok: cargo install built $(ls "$work/pkg-install/bin")"
else
    # A stand-in for the cross-compiled binary.
    printf '#!/bin/sh\n' > "$work/pkg-install/bin/mptcp-probe"
fi

# Install, for real, into a scratch root.
root="$work/root"
run_make install DESTDIR="$root" > "$work/install"
mode() { stat -c %a "$root/$1" 2>/dev/null || fail "/$1 not installed"; }
expect_mode() {
    [ "$(mode "$1")" = "$2" ] || fail "/$1 has mode $(mode "$1"), not $2"
}
expect_mode usr/bin/mptcp-probe 755
expect_mode usr/libexec/mptcp-probe/omr-status 755
expect_mode usr/libexec/mptcp-probe/tracebox 755
expect_mode usr/libexec/mptcp-probe/omr-common.sh 644
expect_mode etc/config/mptcp-probe 600
expect_mode usr/share/bash-completion/completions/mptcp-probe 644
expect_mode usr/share/zsh/site-functions/_mptcp-probe 644
expect_mode usr/share/fish/vendor_completions.d/mptcp-probe.fish 644
pages=0
for page in "$repo"/probe-client/man/*.1; do
    name=$(basename "$page")
    gz="$root/usr/share/man/man1/$name.gz"
    [ -f "$gz" ] || fail "/usr/share/man/man1/$name.gz not installed"
    gzip -dc "$gz" | cmp -s - "$page" || fail "$name.gz is not the committed page"
    pages=$((pages + 1))
done
[ "$pages" -gt 1 ] || fail "no man pages in probe-client/man"
for hook in omr-status tracebox omr-common.sh; do
    sh -n "$root/usr/libexec/mptcp-probe/$hook" || fail "$hook: shell syntax"
done
echo "ok: install: $(cd "$root" && find . -type f | wc -l | tr -d ' ') files, $pages man pages, modes as OpenWrt's INSTALL_* give them"
( cd "$root" && find . -type f | sort | sed 's/^\./  /' )
echo "check-makefile: ok (against stand-ins of the SDK's includes, not the SDK)"
