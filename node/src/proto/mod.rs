//! The S3 protocol, pure: no I/O, no `async`. HTTP head parsing, body decoders, routing, SigV4
//! and SigV2, XML, checksums, conditions. Everything here is unit-tested in isolation.

pub mod absent;
pub mod acl;
pub mod checksum;
pub mod chunked;
pub mod cond;
pub mod cors;
pub mod error;
pub mod features;
pub mod http;
pub mod postform;
pub mod route;
pub mod sigv2;
pub mod sigv4;
pub mod tagging;
pub mod time;
pub mod xml;
