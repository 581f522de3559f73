//! Link the `danegate` binary with packed relative relocations (DT_RELR) on GNU/Linux:
//! a short-lived CLI process (`daneverify`, `lookup`, the admin commands) spends a good
//! part of its start in the dynamic loader applying ~15,000 relative relocations of a
//! position-independent executable; packed, they take a fraction of the pages and time.
//! Needs GNU ld ≥ 2.38 or lld and glibc ≥ 2.36 at run time (Debian 12 has both); an older
//! ld ignores the unknown `-z` option with a warning. Benchmarks: bench/README.md.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
