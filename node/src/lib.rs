//! Tessera node library: the pure core (`proto`, engine pure modules) and the shell
//! (`server`, engine I/O) behind the `tessera` binary.

pub mod constants;
pub mod engine;
pub mod proto;
pub mod server;
