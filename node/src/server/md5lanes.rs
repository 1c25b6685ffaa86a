//! MD5 of the concurrent uploads on one core, computed together in SIMD lanes.
//!
//! A PUT's ETag is the MD5 of its body, and MD5 is one dependent chain of 64-byte blocks: one
//! stream runs at ~0.6 GB/s on a core whatever the CPU, which made it half of the node's CPU
//! on large PUTs. The uploads in flight on a core are independent streams, so their blocks
//! can share SIMD lanes (8 with AVX2, 16 with AVX-512; `md5_many`). Each core has one worker
//! task; an upload hands it chunks (reference-counted `Bytes`, no copy) and goes on reading
//! its socket; the worker hashes the front chunk of every stream that has one in a single
//! `update_many` call. Narrow batches gain nothing (fewer than 8 lanes hash no faster than
//! one stream at a time), so the worker waits for a wide one: it runs when every open stream
//! (or `WIDE` of them) has a chunk queued, or `BATCH_WAIT` after the first chunk was queued —
//! a bound on the latency it adds (an upload alone on its core never waits). Nothing waits for an idle
//! client: one that stalls holds at most `MAX_QUEUED` chunks until its body times out.
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

use bytes::Bytes;
use md5_many::{Md5Many, Md5State};

/// Chunks that may wait per stream before its upload must wait (4 × 256 KiB: a 1 MiB PUT is
/// read whole before its upload waits on the worker).
const MAX_QUEUED: usize = 4;
/// How long queued chunks may wait for a wider batch.
const BATCH_WAIT: std::time::Duration = std::time::Duration::from_micros(1500);
/// The widest SIMD group `hash_batch` pads to (AVX-512: 16 lanes of 32 bits).
const MAX_LANES: usize = 16;
/// A batch this wide is run at once (the widest `md5_many` kernel).
const WIDE: usize = 16;
/// Streams hashed in one `update_many` call at most.
const MAX_BATCH: usize = 32;

#[derive(Default)]
struct Slot {
    state: Md5State,
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
            s.state = Md5State::new();
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

/// Hashes `inputs[n]` into `states[n]`. `md5_many` is fast only at its native width
/// (measured on AVX-512, 256 KiB chunks: one stream 0.92 GB/s, 16 lanes 6.4 GB/s, but 6 lanes
/// 0.26 GB/s through a generic path), so a group of 3 or more streams is padded to the native
/// width with throwaway lanes: one 16-lane call costs less than three streams one at a time.
/// Groups of 1 or 2 (or a CPU with fewer than 8 lanes) are hashed one stream at a time.
fn hash_batch(engine: Md5Many, states: &mut [Md5State], inputs: &[&[u8]]) {
    const PAD_MIN: usize = 3;
    debug_assert_eq!(states.len(), inputs.len());
    let lanes = engine.lanes().min(MAX_LANES);
    for (states, inputs) in states.chunks_mut(lanes).zip(inputs.chunks(lanes)) {
        let n = states.len();
        if lanes < 8 || n < PAD_MIN {
            for (state, input) in states.iter_mut().zip(inputs) {
                state.update(input);
            }
        } else if n == lanes {
            engine.update_many(states, inputs);
        } else {
            let mut padded_states = [Md5State::new(); MAX_LANES];
            let mut padded_inputs = [inputs[0]; MAX_LANES];
            padded_states[..n].copy_from_slice(states);
            padded_inputs[..n].copy_from_slice(inputs);
            engine.update_many(&mut padded_states[..lanes], &padded_inputs[..lanes]);
            states.copy_from_slice(&padded_states[..n]);
        }
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
    let engine = Md5Many::new();
    let mut ids: Vec<usize> = Vec::with_capacity(MAX_BATCH);
    let mut states: Vec<Md5State> = Vec::with_capacity(MAX_BATCH);
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
            hash_batch(engine, &mut states, &inputs);
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
    fn batches_of_every_width_hash_like_one_at_a_time() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let engine = Md5Many::new();
        for width in 1..=(2 * MAX_LANES + 3) {
            let mut states = vec![Md5State::new(); width];
            let mut wanted: Vec<Vec<Vec<u8>>> = vec![Vec::new(); width];
            for _round in 0..3 {
                let chunks: Vec<Vec<u8>> = (0..width)
                    .map(|_| {
                        let len = rng.gen_range(0..5000);
                        (0..len).map(|_| rng.gen()).collect()
                    })
                    .collect();
                let inputs: Vec<&[u8]> = chunks.iter().map(|c| c.as_slice()).collect();
                hash_batch(engine, &mut states, &inputs);
                for (w, c) in wanted.iter_mut().zip(chunks) {
                    w.push(c);
                }
            }
            for (state, parts) in states.iter().zip(&wanted) {
                assert_eq!(state.finalize(), reference(parts), "width {width}");
            }
        }
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
