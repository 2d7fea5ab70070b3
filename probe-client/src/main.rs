fn main() {
    println!("mptcp-probe {}", env!("CARGO_PKG_VERSION"));
}
