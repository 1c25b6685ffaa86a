//! Helpers for live-node tests: start the real binary, build S3 clients.
