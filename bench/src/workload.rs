//! What one worker does in a phase: prepare uploads, each benchmark's operation, cleanup.
//!
//! Owns: the `Task` of a phase and the per-operation functions that issue S3 calls and
//! record them. Must not: print, or touch another worker's keys. Invariants: every issued
//! request is recorded exactly once (success or error); a worker checks the stop signal
//! before every operation and never starts one after it; object keys move between a
//! worker's `keys` and `undeleted` lists so that cleanup sees every object still present.

use std::sync::Arc;

use crate::constants::{DELETE_BATCH_MAX, LIST_PAGES_MAX, LIST_PAGE_KEYS_MAX};
use crate::payload::Payload;
use crate::record::{Finished, OpKind, Recorder};
use crate::runner::{Phase, Worker};
use crate::s3::Call;

pub enum Task {
    /// Upload `counts[worker]` new objects of `size` bytes.
    Upload {
        counts: Vec<usize>,
        size: u64,
        payload: Payload,
    },
    Put {
        size: u64,
        payload: Payload,
    },
    Get {
        pool: Arc<Vec<String>>,
        size: u64,
    },
    Stat {
        pool: Arc<Vec<String>>,
        size: u64,
    },
    Delete {
        batch: usize,
    },
    List,
    /// Weights of GET, STAT, PUT, DELETE.
    Mixed {
        weights: [f64; 4],
        size: u64,
        payload: Payload,
    },
    /// Upload parts `worker + 1, worker + 1 + workers, ...` up to `parts`.
    UploadParts {
        key: String,
        upload_id: String,
        parts: usize,
        workers: usize,
        size: u64,
        payload: Payload,
    },
    GetParts {
        key: String,
        parts: usize,
        size: u64,
    },
    /// Delete every object the worker still holds.
    Cleanup,
}

/// The body of a worker's task for one phase.
pub async fn run(
    mut worker: Worker,
    mut recorder: Recorder,
    phase: Arc<Phase>,
) -> (Worker, Recorder) {
    // Connect before the first operation so that its latency is a request, not a handshake;
    // a failure here shows up as the first operation's error.
    let _ = worker.client.connect().await;
    let mut ctx = Ctx {
        worker: &mut worker,
        recorder: &mut recorder,
        phase: &phase,
    };
    match &phase.task {
        Task::Upload {
            counts,
            size,
            payload,
        } => {
            let count = counts.get(ctx.worker.index).copied().unwrap_or(0);
            for _ in 0..count {
                if ctx.phase.should_stop() || !put_new(&mut ctx, *size, payload).await {
                    break;
                }
            }
        }
        Task::UploadParts {
            key,
            upload_id,
            parts,
            workers,
            size,
            payload,
        } => {
            let mut number = ctx.worker.index + 1;
            while number <= *parts && !ctx.phase.should_stop() {
                if !upload_part(&mut ctx, key, upload_id, number as u32, *size, payload).await {
                    break;
                }
                number += workers;
            }
        }
        Task::Cleanup => cleanup(&mut ctx).await,
        task => {
            while !ctx.phase.should_stop() {
                if !benchmark_op(&mut ctx, task).await {
                    break;
                }
            }
        }
    }
    (worker, recorder)
}

struct Ctx<'a> {
    worker: &'a mut Worker,
    recorder: &'a mut Recorder,
    phase: &'a Phase,
}

impl Ctx<'_> {
    /// Records one single-request operation; returns false when the phase must stop.
    fn record(
        &mut self,
        kind: OpKind,
        call: &Call,
        objects: u32,
        bytes: u64,
        file: &str,
        error: Option<String>,
    ) -> bool {
        let failed = error.is_some();
        self.recorder.record(
            Finished {
                kind,
                start: call.start,
                first_byte: call.first_byte,
                end: call.end,
                requests: 1,
                objects,
                bytes,
                file,
                endpoint: self.worker.client.endpoint_index,
                error,
            },
            &self.phase.warm,
            &self.phase.slots[self.worker.index],
        );
        if failed && self.phase.stop_on_error {
            self.phase
                .stop
                .store(true, std::sync::atomic::Ordering::Relaxed);
            return false;
        }
        true
    }
}

fn size_error(op: &str, key: &str, got: u64, want: u64) -> Option<String> {
    (got != want).then(|| format!("{op} {key}: got {got} bytes, want {want}"))
}

/// One benchmark operation; false when this worker has nothing left to do.
async fn benchmark_op(ctx: &mut Ctx<'_>, task: &Task) -> bool {
    match task {
        Task::Put { size, payload } => put_new(ctx, *size, payload).await,
        Task::Get { pool, size } => {
            let key = &pool[ctx.worker.rng.below(pool.len())];
            get(ctx, key, None, *size).await
        }
        Task::Stat { pool, size } => {
            let key = &pool[ctx.worker.rng.below(pool.len())];
            stat(ctx, key, *size).await
        }
        Task::Delete { batch } => delete_batch(ctx, *batch).await,
        Task::List => list_prefix(ctx).await,
        Task::Mixed {
            weights,
            size,
            payload,
        } => mixed_op(ctx, weights, *size, payload).await,
        Task::GetParts { key, parts, size } => {
            let part = ctx.worker.rng.below(*parts) as u32 + 1;
            get(ctx, key, Some(part), *size).await
        }
        Task::Upload { .. } | Task::UploadParts { .. } | Task::Cleanup => false,
    }
}

async fn put_new(ctx: &mut Ctx<'_>, size: u64, payload: &Payload) -> bool {
    let key = ctx.worker.rng.object_key(&ctx.worker.prefix);
    let body = payload.body(size, &mut ctx.worker.rng);
    let call = ctx.worker.client.put_object(&key, body).await;
    let error = call.error.clone();
    // A failed PUT may still have stored the object; cleanup tries it either way.
    if error.is_none() {
        ctx.worker.keys.push(key.clone());
    } else {
        ctx.worker.undeleted.push(key.clone());
    }
    ctx.record(OpKind::Put, &call, 1, size, &key, error)
}

async fn get(ctx: &mut Ctx<'_>, key: &str, part: Option<u32>, size: u64) -> bool {
    let call = ctx.worker.client.get_object(key, part).await;
    let error = call
        .error
        .clone()
        .or_else(|| size_error("GET", key, call.body_bytes, size));
    ctx.record(OpKind::Get, &call, 1, call.body_bytes, key, error)
}

async fn stat(ctx: &mut Ctx<'_>, key: &str, size: u64) -> bool {
    let call = ctx.worker.client.head_object(key).await;
    // HEAD carries no body; the size check is left to GET, as in warp.
    let _ = size;
    let error = call.error.clone();
    ctx.record(OpKind::Stat, &call, 1, 0, key, error)
}

async fn delete_batch(ctx: &mut Ctx<'_>, batch: usize) -> bool {
    let keep = ctx
        .worker
        .keys
        .len()
        .saturating_sub(batch.min(DELETE_BATCH_MAX));
    let keys = ctx.worker.keys.split_off(keep);
    if keys.is_empty() {
        return false;
    }
    let call = ctx.worker.client.delete_objects(&keys).await;
    let error = call.error.clone();
    let file = keys.first().cloned().unwrap_or_default();
    if error.is_some() {
        ctx.worker.undeleted.extend(keys.iter().cloned());
    }
    ctx.record(OpKind::Delete, &call, keys.len() as u32, 0, &file, error)
}

/// Lists this worker's prefix to the end; one operation, as many requests as pages.
async fn list_prefix(ctx: &mut Ctx<'_>) -> bool {
    let prefix = format!("{}/", ctx.worker.prefix);
    let mut token: Option<String> = None;
    let (mut pages, mut objects) = (0u32, 0usize);
    let mut first: Option<Call> = None;
    let mut last_end;
    let mut error = None;
    loop {
        let (call, page) = ctx
            .worker
            .client
            .list_page(&prefix, LIST_PAGE_KEYS_MAX, token.as_deref())
            .await;
        pages += 1;
        last_end = call.end;
        let failed = call.error.clone();
        if first.is_none() {
            first = Some(call);
        }
        if let Some(failed) = failed {
            error = Some(failed);
            break;
        }
        let Some(page) = page else { break };
        objects += page.objects;
        if !page.truncated {
            break;
        }
        match page.next_token {
            Some(next) if (pages as usize) < LIST_PAGES_MAX => token = Some(next),
            Some(_) => {
                error = Some(format!("LIST {prefix}: more than {LIST_PAGES_MAX} pages"));
                break;
            }
            None => {
                error = Some(format!(
                    "LIST {prefix}: truncated page without NextContinuationToken"
                ));
                break;
            }
        }
    }
    let want = ctx.worker.keys.len();
    let error = error.or_else(|| {
        (objects != want).then(|| format!("LIST {prefix}: listed {objects} objects, want {want}"))
    });
    let Some(mut call) = first else { return false };
    call.end = last_end;
    let failed = error.is_some();
    ctx.recorder.record(
        Finished {
            kind: OpKind::List,
            start: call.start,
            first_byte: call.first_byte,
            end: call.end,
            requests: pages,
            objects: objects as u32,
            bytes: 0,
            file: &prefix,
            endpoint: ctx.worker.client.endpoint_index,
            error,
        },
        &ctx.phase.warm,
        &ctx.phase.slots[ctx.worker.index],
    );
    !(failed && ctx.phase.stop_on_error)
}

async fn mixed_op(ctx: &mut Ctx<'_>, weights: &[f64; 4], size: u64, payload: &Payload) -> bool {
    let mut pick = ctx.worker.rng.unit_f64() * weights.iter().sum::<f64>();
    let mut choice = 0;
    while choice < 3 && pick >= weights[choice] {
        pick -= weights[choice];
        choice += 1;
    }
    // With no object of its own left, a worker uploads instead of reading or deleting.
    if ctx.worker.keys.is_empty() {
        choice = 2;
    }
    match choice {
        0 => {
            let key = ctx.worker.keys[ctx.worker.rng.below(ctx.worker.keys.len())].clone();
            get(ctx, &key, None, size).await
        }
        1 => {
            let key = ctx.worker.keys[ctx.worker.rng.below(ctx.worker.keys.len())].clone();
            stat(ctx, &key, size).await
        }
        2 => put_new(ctx, size, payload).await,
        _ => {
            let index = ctx.worker.rng.below(ctx.worker.keys.len());
            let key = ctx.worker.keys.swap_remove(index);
            let call = ctx.worker.client.delete_object(&key).await;
            let error = call.error.clone();
            if error.is_some() {
                ctx.worker.undeleted.push(key.clone());
            }
            ctx.record(OpKind::Delete, &call, 1, 0, &key, error)
        }
    }
}

async fn upload_part(
    ctx: &mut Ctx<'_>,
    key: &str,
    upload_id: &str,
    number: u32,
    size: u64,
    payload: &Payload,
) -> bool {
    let body = payload.body(size, &mut ctx.worker.rng);
    let call = ctx
        .worker
        .client
        .upload_part(key, upload_id, number, body)
        .await;
    let error = call.error.clone();
    if let (None, Some(etag)) = (&error, &call.etag) {
        ctx.worker.parts.push((number, etag.clone()));
    }
    ctx.record(OpKind::Put, &call, 1, size, key, error)
}

async fn cleanup(ctx: &mut Ctx<'_>) {
    let mut keys = std::mem::take(&mut ctx.worker.keys);
    keys.append(&mut ctx.worker.undeleted);
    let mut chunks = keys.chunks(DELETE_BATCH_MAX);
    for chunk in chunks.by_ref() {
        if ctx.phase.should_stop() {
            ctx.worker.undeleted.extend(chunk.iter().cloned());
            break;
        }
        let call = ctx.worker.client.delete_objects(chunk).await;
        let error = call.error.clone();
        if error.is_some() {
            ctx.worker.undeleted.extend(chunk.iter().cloned());
        }
        let file = chunk.first().map_or("", String::as_str);
        ctx.record(OpKind::Delete, &call, chunk.len() as u32, 0, file, error);
    }
    // Whatever an interrupted cleanup did not reach stays listed, so the warning counts it.
    for chunk in chunks {
        ctx.worker.undeleted.extend(chunk.iter().cloned());
    }
}
