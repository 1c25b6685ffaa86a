//! The mesh: how cores talk. Every core has one bounded inbox; any core can post an
//! `OwnerOp` to any core (itself included) and await the reply on a oneshot. A full inbox is
//! backpressure: the request is answered 503 SlowDown instead of queueing without bound.
//!
//! Calls are one hop and never nested: an owner never calls another core while serving.

use futures::channel::oneshot;

use super::owner::{OwnerOp, OwnerReply};
use crate::proto::error::{S3Error, S3ErrorCode};

pub struct Envelope {
    pub op: OwnerOp,
    pub reply: oneshot::Sender<OwnerReply>,
}

#[derive(Clone)]
pub struct Mesh {
    inboxes: Vec<async_channel::Sender<Envelope>>,
}

impl Mesh {
    pub fn new(inboxes: Vec<async_channel::Sender<Envelope>>) -> Mesh {
        Mesh { inboxes }
    }

    /// Messages waiting in a core's inbox.
    pub fn queue_depth(&self, core: usize) -> usize {
        self.inboxes[core].len()
    }

    pub fn cores(&self) -> usize {
        self.inboxes.len()
    }

    /// Posts `op` to core `core` without waiting; the reply arrives on the returned receiver.
    pub fn post(&self, core: usize, op: OwnerOp) -> Result<oneshot::Receiver<OwnerReply>, S3Error> {
        let (tx, rx) = oneshot::channel();
        match self.inboxes[core].try_send(Envelope { op, reply: tx }) {
            Ok(()) => Ok(rx),
            Err(async_channel::TrySendError::Full(_)) => Err(S3ErrorCode::SlowDown.into()),
            Err(async_channel::TrySendError::Closed(_)) => {
                Err(S3ErrorCode::ServiceUnavailable.into())
            }
        }
    }

    /// Posts and waits.
    pub async fn call(&self, core: usize, op: OwnerOp) -> Result<OwnerReply, S3Error> {
        let rx = self.post(core, op)?;
        rx.await
            .map_err(|_| S3Error::new(S3ErrorCode::InternalError))
    }

    /// Sends `make(core)` to every core and collects the replies in core order.
    pub async fn broadcast(
        &self,
        make: impl Fn(usize) -> OwnerOp,
    ) -> Result<Vec<OwnerReply>, S3Error> {
        let mut receivers = Vec::with_capacity(self.cores());
        for core in 0..self.cores() {
            receivers.push(self.post(core, make(core))?);
        }
        let mut replies = Vec::with_capacity(receivers.len());
        for rx in receivers {
            replies.push(
                rx.await
                    .map_err(|_| S3Error::new(S3ErrorCode::InternalError))?,
            );
        }
        Ok(replies)
    }
}
