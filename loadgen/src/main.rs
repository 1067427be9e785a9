fn main() {
    println!("loadgen {}", env!("CARGO_PKG_VERSION"));
}
