//! `StorageError`: what the engine reports, and its mapping to S3 errors (the only place
//! where engine failures meet S3 codes).

use std::fmt;

use crate::proto::error::{S3Error, S3ErrorCode};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageError {
    NoSuchKey,
    NoSuchBucket,
    NoSuchUpload,
    PreconditionFailed,
    InvalidPart(String),
    InvalidPartOrder,
    EntityTooSmall,
    EntityTooLarge,
    /// Fewer than k devices can take a write.
    InsufficientDevices {
        up: usize,
        needed: usize,
    },
    /// Fewer than k shards of a stripe could be read intact: the data cannot be served.
    Unrecoverable(String),
    /// Not enough free space for a new stripe: device `dev` (a raw block device, whose data
    /// region has a fixed size) is full. Nothing was written.
    DeviceFull {
        dev: u16,
    },
    /// The journal slot of a raw block device cannot take this batch's frame (its checkpoint
    /// slot is too small for the index to rotate). Nothing was written.
    MetadataFull(String),
    NoJournalMirror,
    Io(String),
    Corrupt(String),
    /// The request body ended early, or the client sent something the front end refused
    /// (bad digest, bad chunk signature): carried through unchanged.
    Client(S3Error),
    /// The core is shutting down or its queues are full.
    Busy,
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for StorageError {}

impl From<StorageError> for S3Error {
    fn from(e: StorageError) -> S3Error {
        use StorageError::*;
        match e {
            NoSuchKey => S3ErrorCode::NoSuchKey.into(),
            NoSuchBucket => S3ErrorCode::NoSuchBucket.into(),
            NoSuchUpload => S3ErrorCode::NoSuchUpload.into(),
            PreconditionFailed => S3ErrorCode::PreconditionFailed.into(),
            InvalidPart(msg) => S3Error::with_message(S3ErrorCode::InvalidPart, msg),
            InvalidPartOrder => S3ErrorCode::InvalidPartOrder.into(),
            EntityTooSmall => S3ErrorCode::EntityTooSmall.into(),
            EntityTooLarge => S3ErrorCode::EntityTooLarge.into(),
            InsufficientDevices { up, needed } => S3Error::with_message(
                S3ErrorCode::ServiceUnavailable,
                format!("only {up} data devices are up, {needed} are needed to write"),
            ),
            DeviceFull { dev } => S3Error::with_message(
                S3ErrorCode::InsufficientStorage,
                format!("data device {dev} is full: delete objects or add capacity"),
            ),
            MetadataFull(_) => S3Error::with_message(
                S3ErrorCode::InsufficientStorage,
                "the metadata area of the devices is full: delete objects or use larger devices",
            ),
            Unrecoverable(_) | NoJournalMirror | Io(_) | Corrupt(_) => {
                S3ErrorCode::InternalError.into()
            }
            Client(err) => err,
            Busy => S3ErrorCode::SlowDown.into(),
        }
    }
}
