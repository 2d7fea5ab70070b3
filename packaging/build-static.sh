#!/bin/sh
# Static release builds of mptcp-probe and mptcp-probe-server for musl
# targets (routers: OpenWrt is musl; VPSs: any distribution, old glibc or
# none). Prints each binary's size and linkage; fails when a build fails,
# a binary is dynamically linked, or one is bigger than 2 MiB.
#
#   packaging/build-static.sh                 # both targets, both binaries
#   TARGETS=aarch64-unknown-linux-musl packaging/build-static.sh
#   PACKAGES=probe-client packaging/build-static.sh
#
# A target that rustup cannot install is skipped, saying so (exit 0 for
# it). aarch64 links with rust-lld, which ships with Rust: no cross gcc.
# The binaries end up in target/<target>/release/.
set -eu
cd "$(dirname "$0")/.."

TARGETS="${TARGETS:-x86_64-unknown-linux-musl aarch64-unknown-linux-musl}"
PACKAGES="${PACKAGES:-probe-client probe-server}"
# The budget of a router's flash: 2 MiB per binary.
MAX_BYTES=$((2 * 1024 * 1024))

binary_of() {
    case "$1" in
        probe-client) echo mptcp-probe ;;
        probe-server) echo mptcp-probe-server ;;
        *) echo "build-static: unknown package $1" >&2; return 1 ;;
    esac
}

# The linker a target needs when the environment names none. Exported per
# target (CARGO_TARGET_<TRIPLE>_LINKER) so the other targets keep theirs.
linker_env() {
    case "$1" in
        aarch64-unknown-linux-musl)
            # rust-lld (shipped in Rust's sysroot, which rustc puts on the
            # linker's PATH) with Rust's own musl crt objects and libc.a.
            : "${CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER:=rust-lld}"
            export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER
            ;;
    esac
}

target_installed() {
    rustup target list --installed 2>/dev/null | grep -qx "$1"
}

failed=0
for target in $TARGETS; do
    if ! target_installed "$target"; then
        if ! rustup target add "$target" >/dev/null 2>&1; then
            echo "skipping: $target: the Rust target is not installed and \`rustup target add $target\` failed"
            continue
        fi
    fi
    linker_env "$target"
    for package in $PACKAGES; do
        bin="$(binary_of "$package")"
        echo "== $bin for $target"
        if ! cargo build --release --locked --target "$target" -p "$package"; then
            echo "FAILED: cargo build --release --target $target -p $package"
            failed=1
            continue
        fi
        path="target/$target/release/$bin"
        size=$(wc -c < "$path" | tr -d ' ')
        mib=$(awk "BEGIN { printf \"%.2f\", $size / 1048576 }")
        if command -v file >/dev/null 2>&1; then
            kind=$(file -b "$path")
            case "$kind" in
                *"statically linked"* | *"static-pie linked"*) ;;
                *) echo "FAILED: $path is not static: $kind"; failed=1 ;;
            esac
        else
            kind="(linkage not checked: no \`file\` command)"
        fi
        echo "$path: $size bytes ($mib MiB); $kind"
        if [ "$size" -gt "$MAX_BYTES" ]; then
            echo "FAILED: $path is bigger than 2 MiB"
            failed=1
        fi
    done
done
exit "$failed"
