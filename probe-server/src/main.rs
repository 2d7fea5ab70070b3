//! mptcp-probe-server: the echo server (see the probe-server issue). Until it
//! lands this binary only reports its version.
fn main() {
    println!("mptcp-probe-server {}", env!("CARGO_PKG_VERSION"));
}
