//! MD5 of the concurrent uploads on one core, computed together.
//!
//! A PUT's ETag is the MD5 of its body, and MD5 is one dependent chain of 64-byte blocks: one
//! stream runs at ~0.8 GB/s on a core whatever the CPU, which made it half of the node's CPU
//! on large PUTs. The uploads in flight on a core are independent streams, so their blocks
//! are hashed together (`md5kernel`: 2–4 streams interleaved in scalar registers for about
//! the cost of one, 5 or more in AVX-512 lanes). Each core has one worker task; an upload
//! hands it chunks (reference-counted `Bytes`, no copy) and goes on reading its socket; the
//! worker hashes the front chunk of every stream that has one in a single `update_many`
//! call. It runs when every open stream (or `WIDE` of them) has a chunk queued, or
//! `BATCH_WAIT` after the first chunk was queued — a bound on the latency it adds (an upload
//! alone on its core never waits). Nothing waits for an idle client: one that stalls holds
//! at most `MAX_QUEUED` chunks until its body times out.
//!
//! Invariants: a stream's chunks are hashed in the order given; at most `MAX_QUEUED` chunks
//! wait per stream (the upload waits before queueing more, so memory stays bounded);
//! `finish` returns only after every chunk given was hashed; a stream dropped unfinished
//! (the client vanished) frees its slot and its queued chunks.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::md5kernel::{self, Md5};
use bytes::Bytes;

/// Chunks that may wait per stream before its upload must wait (4 × 256 KiB: a 1 MiB PUT is
/// read whole before its upload waits on the worker).
const MAX_QUEUED: usize = 4;
/// How long queued chunks may wait for a wider batch.
const BATCH_WAIT: std::time::Duration = std::time::Duration::from_micros(1500);
/// A batch this wide is run at once (the widest `md5kernel` kernel).
const WIDE: usize = 16;
/// Streams hashed in one `update_many` call at most.
const MAX_BATCH: usize = 32;

#[derive(Default)]
struct Slot {
    state: Md5,
    queue: VecDeque<Bytes>,
    /// The upload waiting for room in `queue` or for it to drain.
    waiter: Option<Waker>,
    /// Whether this slot's index is in `Inner::ready`. It belongs to the slot, not to the
    /// stream, so a reused slot is never queued twice.
    in_ready: bool,
    live: bool,
}

struct Inner {
    slots: Vec<Slot>,
    /// Open streams.
    live: usize,
    free: Vec<usize>,
    /// Slots with queued chunks, in the order they got them (round-robin fairness).
    ready: VecDeque<usize>,
    worker: Option<Waker>,
    worker_started: bool,
    /// Counters: batches run and chunks hashed (a test checks that batches form).
    batches: u64,
    chunks: u64,
}

thread_local! {
    static LANES: Rc<RefCell<Inner>> = Rc::new(RefCell::new(Inner {
        slots: Vec::new(),
        live: 0,
        free: Vec::new(),
        ready: VecDeque::new(),
        worker: None,
        worker_started: false,
        batches: 0,
        chunks: 0,
    }));
}

/// One upload's MD5, hashed by this core's worker. Must be used inside the core's runtime.
pub struct Stream {
    inner: Rc<RefCell<Inner>>,
    slot: usize,
}

impl Stream {
    pub fn new() -> Stream {
        let inner = LANES.with(Rc::clone);
        let slot = {
            let mut i = inner.borrow_mut();
            if !i.worker_started {
                i.worker_started = true;
                monoio::spawn(worker(Rc::clone(&inner)));
            }
            let slot = match i.free.pop() {
                Some(slot) => slot,
                None => {
                    i.slots.push(Slot::default());
                    i.slots.len() - 1
                }
            };
            let s = &mut i.slots[slot];
            debug_assert!(!s.live && s.queue.is_empty());
            s.state = Md5::new();
            s.live = true;
            i.live += 1;
            slot
        };
        Stream { inner, slot }
    }

    /// Queues `data` to be hashed after everything queued before; waits while the stream
    /// already has `MAX_QUEUED` chunks waiting.
    pub async fn update(&mut self, data: Bytes) {
        if data.is_empty() {
            return;
        }
        poll_fn(|cx| {
            let mut i = self.inner.borrow_mut();
            let s = &mut i.slots[self.slot];
            if s.queue.len() < MAX_QUEUED {
                Poll::Ready(())
            } else {
                s.waiter = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
        let mut i = self.inner.borrow_mut();
        let s = &mut i.slots[self.slot];
        s.queue.push_back(data);
        if !s.in_ready {
            s.in_ready = true;
            i.ready.push_back(self.slot);
        }
        i.wake_worker();
    }

    /// Waits until every queued chunk is hashed; returns the digest.
    pub async fn finish(self) -> [u8; 16] {
        poll_fn(|cx| {
            let mut i = self.inner.borrow_mut();
            let s = &mut i.slots[self.slot];
            if s.queue.is_empty() {
                Poll::Ready(s.state.finalize())
            } else {
                s.waiter = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

impl Default for Stream {
    fn default() -> Self {
        Stream::new()
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let mut i = self.inner.borrow_mut();
        let s = &mut i.slots[self.slot];
        s.queue.clear();
        s.waiter = None;
        s.live = false;
        i.free.push(self.slot);
        debug_assert!(i.live > 0);
        i.live -= 1;
        // One stream fewer may complete "every open stream has a chunk".
        i.wake_worker();
    }
}

impl Inner {
    fn wake_worker(&mut self) {
        if let Some(w) = self.worker.take() {
            w.wake();
        }
    }

    /// Whether a batch is as wide as it will get: every open stream has a chunk queued, or
    /// `WIDE` of them do.
    fn batch_due(&self) -> bool {
        if self.ready.is_empty() {
            return false;
        }
        self.ready.len() >= self.live.min(WIDE)
    }
}

/// This core's (batches, chunks) so far.
pub fn counters() -> (u64, u64) {
    LANES.with(|l| {
        let i = l.borrow();
        (i.batches, i.chunks)
    })
}

/// Yields once to the executor, so the uploads that are ready to run queue their chunks
/// before the worker takes a batch.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Marks the worker gone when its task is dropped (its runtime ended), so a later runtime on
/// the same thread starts a new one.
struct WorkerGuard(Rc<RefCell<Inner>>);

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        if let Ok(mut i) = self.0.try_borrow_mut() {
            i.worker_started = false;
            i.worker = None;
        }
    }
}

async fn worker(inner: Rc<RefCell<Inner>>) {
    let _guard = WorkerGuard(Rc::clone(&inner));
    let mut ids: Vec<usize> = Vec::with_capacity(MAX_BATCH);
    let mut states: Vec<Md5> = Vec::with_capacity(MAX_BATCH);
    let mut chunks: Vec<Bytes> = Vec::with_capacity(MAX_BATCH);
    loop {
        poll_fn(|cx| {
            let mut i = inner.borrow_mut();
            if !i.ready.is_empty() {
                Poll::Ready(())
            } else {
                i.worker = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
        let due = poll_fn(|cx| {
            let mut i = inner.borrow_mut();
            if i.batch_due() {
                Poll::Ready(())
            } else {
                i.worker = Some(cx.waker().clone());
                Poll::Pending
            }
        });
        // The runtime must have timers (the node's cores do).
        let _ = monoio::time::timeout(BATCH_WAIT, due).await;
        YieldNow(false).await;
        {
            let mut i = inner.borrow_mut();
            while ids.len() < MAX_BATCH {
                let Some(slot) = i.ready.pop_front() else {
                    break;
                };
                let s = &mut i.slots[slot];
                s.in_ready = false;
                // A stream dropped after queueing leaves an empty queue behind: skip it.
                if let Some(front) = s.queue.front() {
                    ids.push(slot);
                    states.push(s.state);
                    chunks.push(front.clone());
                }
            }
        }
        if ids.is_empty() {
            continue;
        }
        {
            let inputs: Vec<&[u8]> = chunks.iter().map(|c| c.as_ref()).collect();
            md5kernel::update_many(&mut states, &inputs);
        }
        let mut i = inner.borrow_mut();
        i.batches += 1;
        i.chunks += ids.len() as u64;
        for (n, &slot) in ids.iter().enumerate() {
            let s = &mut i.slots[slot];
            // No await separates taking the batch and this: no stream was dropped or queued
            // in between, so each front chunk is the one just hashed.
            let front = s.queue.pop_front();
            debug_assert!(front.is_some_and(|f| f.as_ptr() == chunks[n].as_ptr()));
            s.state = states[n];
            if let Some(w) = s.waiter.take() {
                w.wake();
            }
            if !s.queue.is_empty() && !s.in_ready {
                s.in_ready = true;
                i.ready.push_back(slot);
            }
        }
        ids.clear();
        states.clear();
        chunks.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::Digest;

    fn reference(parts: &[Vec<u8>]) -> [u8; 16] {
        let mut h = md5::Md5::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().into()
    }

    #[test]
    fn concurrent_streams_hash_like_one_at_a_time() {
        use rand::{Rng, SeedableRng};
        let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
            .enable_timer()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let mut rng = rand::rngs::StdRng::seed_from_u64(7);
            // 24 streams of different lengths and chunkings, some dropped half-way.
            let mut jobs = Vec::new();
            for n in 0..24usize {
                let parts: Vec<Vec<u8>> = (0..rng.gen_range(0..12))
                    .map(|_| {
                        let len = rng.gen_range(0..70_000);
                        (0..len).map(|_| rng.gen()).collect()
                    })
                    .collect();
                let abandon = n % 7 == 3;
                jobs.push(monoio::spawn(async move {
                    let mut s = Stream::new();
                    for (k, p) in parts.iter().enumerate() {
                        if abandon && k == 1 {
                            return None;
                        }
                        s.update(Bytes::from(p.clone())).await;
                    }
                    Some((s.finish().await, reference(&parts)))
                }));
            }
            let mut checked = 0;
            for job in jobs {
                if let Some((got, want)) = job.await {
                    assert_eq!(got, want);
                    checked += 1;
                }
            }
            assert!(checked >= 20);
            let (batches, chunks) = counters();
            assert!(
                chunks > batches,
                "no batch had two streams: {batches} {chunks}"
            );
        });
    }
}
