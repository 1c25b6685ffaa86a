//! The live-node tests, one binary: every module drives a real `tessera` process over
//! real sockets with `aws-sdk-s3` (or raw HTTP where the SDK cannot send the bad input).
//! They share one node per binary (`Node::shared`), each test in buckets of its own.

#[path = "persistence.rs"]
mod persistence;
#[path = "s3_acl.rs"]
mod s3_acl;
#[path = "s3_auth.rs"]
mod s3_auth;
#[path = "s3_buckets.rs"]
mod s3_buckets;
#[path = "s3_cors.rs"]
mod s3_cors;
#[path = "s3_http.rs"]
mod s3_http;
#[path = "s3_listing.rs"]
mod s3_listing;
#[path = "s3_multipart.rs"]
mod s3_multipart;
#[path = "s3_objects.rs"]
mod s3_objects;
#[path = "s3_tagging.rs"]
mod s3_tagging;
