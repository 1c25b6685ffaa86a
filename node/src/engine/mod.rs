//! The storage engine: erasure-coded stripes on O_DIRECT files driven by io_uring, a per-core
//! ordered index made durable by a mirrored journal, group commit, degraded reads and repair.
//!
//! Pure modules (no I/O): `erasure`, `format`, `codec`, `alloc`, `index`, `rangemap`,
//! `reclaim` (and `blockdev`'s label and layout). Shell: `device`, `blockdev`'s syscalls,
//! `mirror`, `journal`, `stage`, `stripes`, `commit`, `store`, `verify`.

pub mod aligned;
pub mod alloc;
pub mod blockdev;
pub mod codec;
pub mod commit;
pub mod compact;
pub mod device;
pub mod erasure;
pub mod error;
pub mod format;
pub mod index;
pub mod journal;
pub mod mirror;
pub mod rangemap;
pub mod reclaim;
pub mod scrub;
pub mod stage;
pub mod store;
pub mod stripes;
pub mod verify;
