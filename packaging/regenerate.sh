#!/bin/sh
# Regenerates the man pages and shell completions committed for packagers
# who cannot run the binary they build (cross builds: OpenWrt, cargo-deb).
# Tests fail when a committed copy differs from what the code generates.
set -eu
cd "$(dirname "$0")/.."
cargo build -q -p probe-client -p probe-server
rm -f probe-client/man/*.1
mkdir -p probe-client/man probe-client/completions probe-server/man
target/debug/mptcp-probe manpage --dir probe-client/man
target/debug/mptcp-probe completions bash > probe-client/completions/mptcp-probe.bash
target/debug/mptcp-probe completions zsh > probe-client/completions/_mptcp-probe
target/debug/mptcp-probe completions fish > probe-client/completions/mptcp-probe.fish
target/debug/mptcp-probe-server --manpage > probe-server/man/mptcp-probe-server.8
echo "regenerated: probe-client/man/ probe-client/completions/ probe-server/man/"
