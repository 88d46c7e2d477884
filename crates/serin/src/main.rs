//! The `serin` binary: a thin command-line layer over the engine and its platforms.

fn main() {}
