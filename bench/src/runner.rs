//! Phases: run every worker through one task at once, with a shared stop signal, and hand
//! the workers and their recorders back.
//!
//! Owns: `Worker` (connection, signer, random source, key prefix and the keys it created),
//! `Phase` (what to do, deadline, stop flag, warm gate, progress slots), and `run_phase`,
//! which spawns one task per worker plus the progress monitor and joins them.
//! Must not: interpret results (the caller builds reports). Invariants: workers own all their
//! state and move into their task and back out, so nothing is shared mutably between them;
//! the only cross-worker writes are the stop flag, the write-once warm gate and each worker's
//! own progress slot.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;

use crate::autoterm::Stable;
use crate::cpu::CpuTime;
use crate::progress::{self, MonitorOptions};
use crate::record::{Epoch, ProgressSlot, Recorder, WarmGate};
use crate::rng::Rng;
use crate::s3::S3Client;
use crate::workload::{self, Task};

pub struct Worker {
    pub index: usize,
    pub client: S3Client,
    pub rng: Rng,
    pub prefix: String,
    /// Objects this worker created that should still exist.
    pub keys: Vec<String>,
    /// Objects whose deletion failed; cleanup tries them again.
    pub undeleted: Vec<String>,
    /// (part number, ETag) of the multipart parts this worker uploaded.
    pub parts: Vec<(u32, String)>,
}

pub struct Phase {
    pub label: String,
    pub task: Task,
    pub deadline: Option<Instant>,
    pub stop: AtomicBool,
    /// Set when Ctrl-C stopped the phase (the stop flag is raised too).
    pub interrupted: AtomicBool,
    pub warm: WarmGate,
    pub slots: Box<[ProgressSlot]>,
    pub epoch: Epoch,
    pub keep_log: bool,
    /// Stop every worker at the first error (used while preparing: a benchmark on a
    /// half-prepared bucket would measure the wrong thing).
    pub stop_on_error: bool,
}

impl Phase {
    pub fn new(label: &str, task: Task, workers: usize, epoch: Epoch) -> Phase {
        Phase {
            label: label.to_string(),
            task,
            deadline: None,
            stop: AtomicBool::new(false),
            interrupted: AtomicBool::new(false),
            warm: WarmGate::new(workers),
            slots: (0..workers).map(|_| ProgressSlot::default()).collect(),
            epoch,
            keep_log: false,
            stop_on_error: false,
        }
    }

    pub fn should_stop(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
            || self
                .deadline
                .is_some_and(|deadline| Instant::now() >= deadline)
    }
}

pub struct PhaseResult {
    pub workers: Vec<Worker>,
    pub recorders: Vec<Recorder>,
    pub cpu: CpuTime,
    pub wall: Duration,
    pub autoterm: Option<Stable>,
    pub interrupted: bool,
    /// Workers that took part.
    pub active: usize,
}

impl PhaseResult {
    pub fn error_count(&self) -> u64 {
        self.recorders
            .iter()
            .map(|recorder| recorder.error_count)
            .sum()
    }

    pub fn first_errors(&self, limit: usize) -> Vec<String> {
        let mut errors: Vec<String> = Vec::new();
        for error in self
            .recorders
            .iter()
            .flat_map(|recorder| recorder.errors_kept.iter())
        {
            if errors.len() == limit {
                break;
            }
            if !errors.contains(error) {
                errors.push(error.clone());
            }
        }
        errors
    }
}

/// Runs `phase` on the first `active` workers (the rest sit it out) and returns all workers.
pub fn run_phase(
    runtime: &Runtime,
    mut workers: Vec<Worker>,
    active: usize,
    phase: Phase,
    monitor: MonitorOptions,
) -> PhaseResult {
    assert!(
        (1..=workers.len()).contains(&active),
        "active workers out of range"
    );
    assert_eq!(
        phase.slots.len(),
        active,
        "one progress slot per active worker"
    );
    let idle = workers.split_off(active);
    let phase = Arc::new(phase);
    let cpu_before = CpuTime::now();
    let started = Instant::now();
    let (mut workers, recorders, autoterm) = runtime.block_on(async {
        let done = Arc::new(AtomicBool::new(false));
        let monitor_task = tokio::spawn(progress::monitor(
            Arc::clone(&phase),
            Arc::clone(&done),
            monitor,
        ));
        let interrupt_task = tokio::spawn(stop_on_ctrl_c(Arc::clone(&phase)));
        let tasks: Vec<_> = workers
            .into_iter()
            .map(|worker| {
                let recorder = Recorder::new(worker.index as u16, phase.epoch, phase.keep_log);
                tokio::spawn(workload::run(worker, recorder, Arc::clone(&phase)))
            })
            .collect();
        let mut workers = Vec::with_capacity(tasks.len());
        let mut recorders = Vec::with_capacity(tasks.len());
        for task in tasks {
            // A worker task only ends by returning; a panic inside one is a bug, and
            // re-raising it here keeps the failure loud.
            let (worker, recorder) = task
                .await
                .unwrap_or_else(|err| std::panic::resume_unwind(err.into_panic()));
            workers.push(worker);
            recorders.push(recorder);
        }
        done.store(true, Ordering::Release);
        interrupt_task.abort();
        let autoterm = monitor_task.await.unwrap_or(None);
        (workers, recorders, autoterm)
    });
    let wall = started.elapsed();
    let cpu = CpuTime::now().since(&cpu_before);
    workers.extend(idle);
    PhaseResult {
        workers,
        recorders,
        cpu,
        wall,
        autoterm,
        interrupted: phase.interrupted.load(Ordering::Relaxed),
        active,
    }
}

/// Ctrl-C stops the phase the way the deadline does, so a run still reports what it
/// measured and cleans up. The task is aborted when the phase ends.
async fn stop_on_ctrl_c(phase: Arc<Phase>) {
    if tokio::signal::ctrl_c().await.is_ok() {
        phase.interrupted.store(true, Ordering::Relaxed);
        phase.stop.store(true, Ordering::Relaxed);
        eprintln!("\ninterrupted: stopping {}", phase.label.to_lowercase());
    }
}
