//! One benchmark run from start to end: preflight, bucket, prepare, measure, clean up.
//!
//! Owns: the order of phases for each subcommand and what counts as fatal. The order, and
//! why: (1) resolve and connect to every host before anything else, so a wrong `--host`
//! fails in a second with a clear message; (2) create the bucket, because every later
//! request needs it; (3) prepare objects with every worker, stopping at the first error —
//! benchmarking a half-prepared bucket would measure the wrong thing; (4) the measured
//! phase(s), with the client's CPU time read around them; (5) cleanup of exactly the objects
//! this run created, unless `--noclear`, even when an earlier phase failed.
//! Must not: print reports (main does that from the returned `RunReport`).
//! Invariant: every object this run created is either deleted by cleanup or named in a
//! warning.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Instant;

use tokio::runtime::Runtime;

use crate::cli::{RunConfig, Target, Workload};
use crate::constants::{CONNECT_TIMEOUT, ERRORS_PRINTED_MAX};
use crate::payload::Payload;
use crate::progress::MonitorOptions;
use crate::record::{Epoch, OpRecord};
use crate::report::{self, PhaseInput, PhaseReport};
use crate::rng::Rng;
use crate::runner::{run_phase, Phase, PhaseResult, Worker};
use crate::s3::{Endpoint, S3Client};
use crate::workload::Task;

/// A failure that ends the run before a report can be made.
#[derive(Debug)]
pub struct Fatal(pub String);

pub struct RunReport {
    pub phases: Vec<PhaseReport>,
    pub error_count: u64,
    pub errors: Vec<String>,
    pub log: Vec<OpRecord>,
    pub log_overflow: bool,
    pub epoch: Epoch,
    pub endpoints: Vec<String>,
    pub cleanup_failures: u64,
}

/// Resolves every host and opens (and closes) one TCP connection to each.
pub fn preflight(target: &Target) -> Result<Vec<Endpoint>, Fatal> {
    let mut endpoints = Vec::with_capacity(target.hosts.len());
    for authority in &target.hosts {
        let addr: SocketAddr = authority
            .to_socket_addrs()
            .map_err(|err| Fatal(format!("cannot resolve host {authority}: {err}")))?
            .next()
            .ok_or_else(|| Fatal(format!("host {authority} resolves to no address")))?;
        TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
            .map_err(|err| Fatal(format!("cannot connect to {authority} ({addr}): {err}")))?;
        endpoints.push(Endpoint {
            authority: authority.clone(),
            addr,
        });
    }
    Ok(endpoints)
}

pub fn runtime(concurrency: usize) -> Result<Runtime, Fatal> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores.min(concurrency).max(1))
        .enable_io()
        .enable_time()
        .build()
        .map_err(|err| Fatal(format!("cannot start the async runtime: {err}")))
}

pub fn make_workers(
    count: usize,
    endpoints: &[Endpoint],
    target: &Target,
    seed_rng: &mut Rng,
) -> Vec<Worker> {
    (0..count)
        .map(|index| {
            let endpoint_index = index % endpoints.len();
            let mut rng = Rng::from_seed(seed_rng.next_u64());
            Worker {
                index,
                client: S3Client::new(
                    &endpoints[endpoint_index],
                    endpoint_index as u16,
                    &target.bucket,
                    target.lookup,
                    &target.credentials,
                ),
                prefix: rng.key_prefix(),
                rng,
                keys: Vec::new(),
                undeleted: Vec::new(),
                parts: Vec::new(),
            }
        })
        .collect()
}

/// Creates the bucket unless it exists and is ours.
pub fn ensure_bucket(runtime: &Runtime, worker: &mut Worker, bucket: &str) -> Result<(), Fatal> {
    runtime.block_on(async {
        let created = worker.client.create_bucket().await;
        if created.ok() {
            return Ok(());
        }
        let head = worker.client.head_bucket().await;
        if head.ok() {
            return Ok(());
        }
        Err(Fatal(format!(
            "cannot create bucket {bucket}: {}",
            created.error.unwrap_or_else(|| "unknown error".to_string())
        )))
    })
}

/// Splits `objects` over `workers` as evenly as possible.
pub fn split_counts(objects: usize, workers: usize) -> Vec<usize> {
    (0..workers)
        .map(|index| objects / workers + usize::from(index < objects % workers))
        .collect()
}

fn errors_text(result: &PhaseResult) -> String {
    result.first_errors(ERRORS_PRINTED_MAX).join("\n  ")
}

/// Uploads `objects` objects split over all workers; fatal on any error.
pub fn prepare_objects(
    runtime: &Runtime,
    workers: Vec<Worker>,
    objects: usize,
    size: u64,
    payload: &Payload,
    epoch: Epoch,
    quiet: bool,
) -> (Vec<Worker>, Result<(), Fatal>) {
    let active = workers.len();
    let task = Task::Upload {
        counts: split_counts(objects, active),
        size,
        payload: payload.clone(),
    };
    let mut phase = Phase::new("Preparing", task, active, epoch);
    phase.stop_on_error = true;
    let monitor = MonitorOptions {
        quiet,
        autoterm: None,
        expected_ops: Some(objects as u64),
    };
    let result = run_phase(runtime, workers, active, phase, monitor);
    let outcome = if result.error_count() > 0 {
        Err(Fatal(format!(
            "preparing objects failed:\n  {}",
            errors_text(&result)
        )))
    } else if result.interrupted {
        Err(Fatal("interrupted while preparing objects".to_string()))
    } else {
        Ok(())
    };
    (result.workers, outcome)
}

/// Deletes every object the workers still hold; returns how many deletions failed.
pub fn cleanup(
    runtime: &Runtime,
    workers: Vec<Worker>,
    epoch: Epoch,
    quiet: bool,
) -> (Vec<Worker>, u64) {
    let active = workers.len();
    let phase = Phase::new("Cleaning up", Task::Cleanup, active, epoch);
    let monitor = MonitorOptions {
        quiet,
        ..MonitorOptions::default()
    };
    let result = run_phase(runtime, workers, active, phase, monitor);
    let failed: u64 = result
        .workers
        .iter()
        .map(|worker| worker.undeleted.len() as u64)
        .sum();
    if failed > 0 {
        eprintln!(
            "warning: {failed} objects could not be deleted during cleanup:\n  {}",
            errors_text(&result)
        );
    }
    (result.workers, failed)
}

struct Measured {
    label: &'static str,
    result: PhaseResult,
}

/// Runs the subcommand described by `config`.
pub fn run(config: &RunConfig) -> Result<RunReport, Fatal> {
    let endpoints = preflight(&config.target)?;
    let runtime = runtime(config.concurrency)?;
    let epoch = Epoch::now();
    let mut seed = Rng::from_entropy(std::process::id().into());
    let mut workers = make_workers(config.concurrency, &endpoints, &config.target, &mut seed);
    ensure_bucket(&runtime, &mut workers[0], &config.target.bucket)?;
    let payload = Payload::new(config.object_size, &mut seed);

    let (workers, measured, failure) = match &config.workload {
        Workload::Multipart {
            parts,
            part_size,
            object_name,
        } => run_multipart(
            &runtime,
            workers,
            config,
            epoch,
            &payload,
            *parts,
            *part_size,
            object_name,
        ),
        workload => run_simple(&runtime, workers, config, epoch, &payload, workload),
    };
    let cleanup_failures = if config.noclear {
        0
    } else {
        cleanup(&runtime, workers, epoch, config.quiet).1
    };
    if let Some(fatal) = failure {
        return Err(fatal);
    }

    let mut phases = Vec::new();
    let mut errors = Vec::new();
    let mut error_count = 0;
    let mut log = Vec::new();
    let mut log_overflow = false;
    for Measured { label, mut result } in measured {
        error_count += result.error_count();
        for error in result.first_errors(ERRORS_PRINTED_MAX) {
            if errors.len() < ERRORS_PRINTED_MAX && !errors.contains(&error) {
                errors.push(error);
            }
        }
        for recorder in &mut result.recorders {
            log.append(recorder.log.get_or_insert_with(Vec::new));
            log_overflow |= recorder.log_overflow;
        }
        phases.push(report::build_phase(PhaseInput {
            label,
            recorders: &result.recorders,
            concurrency: result.active,
            object_size: Some(config.object_size),
            weights: match &config.workload {
                Workload::Mixed { weights } => Some(*weights),
                _ => None,
            },
            cpu: result.cpu,
            wall: result.wall,
            autoterm: result.autoterm,
            epoch,
        }));
    }
    let endpoints = endpoints
        .iter()
        .map(|e| format!("http://{}", e.authority))
        .collect();
    Ok(RunReport {
        phases,
        error_count,
        errors,
        log,
        log_overflow,
        epoch,
        endpoints,
        cleanup_failures,
    })
}

fn measured_phase(
    config: &RunConfig,
    label: &str,
    task: Task,
    epoch: Epoch,
) -> (Phase, MonitorOptions) {
    let mut phase = Phase::new(label, task, config.concurrency, epoch);
    phase.deadline = Some(Instant::now() + config.duration);
    phase.keep_log = config.benchdata.is_some();
    let monitor = MonitorOptions {
        quiet: config.quiet,
        autoterm: config.autoterm,
        expected_ops: None,
    };
    (phase, monitor)
}

type PhasesOutcome = (Vec<Worker>, Vec<Measured>, Option<Fatal>);

fn run_simple(
    runtime: &Runtime,
    workers: Vec<Worker>,
    config: &RunConfig,
    epoch: Epoch,
    payload: &Payload,
    workload: &Workload,
) -> PhasesOutcome {
    let size = config.object_size;
    let workers = if matches!(workload, Workload::Put) {
        workers
    } else {
        let (workers, prepared) = prepare_objects(
            runtime,
            workers,
            config.objects,
            size,
            payload,
            epoch,
            config.quiet,
        );
        if let Err(fatal) = prepared {
            return (workers, Vec::new(), Some(fatal));
        }
        workers
    };
    let pool = || {
        Arc::new(
            workers
                .iter()
                .flat_map(|w| w.keys.iter().cloned())
                .collect::<Vec<_>>(),
        )
    };
    let task = match workload {
        Workload::Put => Task::Put {
            size,
            payload: payload.clone(),
        },
        Workload::Get => Task::Get { pool: pool(), size },
        Workload::Stat => Task::Stat { pool: pool(), size },
        Workload::Delete { batch } => Task::Delete { batch: *batch },
        Workload::List => Task::List,
        Workload::Mixed { weights } => Task::Mixed {
            weights: *weights,
            size,
            payload: payload.clone(),
        },
        Workload::Multipart { .. } => unreachable!("multipart has its own phases"),
    };
    let (phase, monitor) = measured_phase(config, "Benchmarking", task, epoch);
    let mut result = run_phase(runtime, workers, config.concurrency, phase, monitor);
    let workers = std::mem::take(&mut result.workers);
    (
        workers,
        vec![Measured {
            label: "benchmark",
            result,
        }],
        None,
    )
}

#[allow(clippy::too_many_arguments)]
fn run_multipart(
    runtime: &Runtime,
    mut workers: Vec<Worker>,
    config: &RunConfig,
    epoch: Epoch,
    payload: &Payload,
    parts: usize,
    part_size: u64,
    key: &str,
) -> PhasesOutcome {
    let (created, upload_id) = runtime.block_on(workers[0].client.create_multipart_upload(key));
    let Some(upload_id) = upload_id else {
        let error = created.error.unwrap_or_default();
        return (
            workers,
            Vec::new(),
            Some(Fatal(format!(
                "cannot start the multipart upload of {key}: {error}"
            ))),
        );
    };
    let upload_workers = config.concurrency.min(parts);
    let task = Task::UploadParts {
        key: key.to_string(),
        upload_id: upload_id.clone(),
        parts,
        workers: upload_workers,
        size: part_size,
        payload: payload.clone(),
    };
    let mut phase = Phase::new("Uploading parts", task, upload_workers, epoch);
    phase.stop_on_error = true;
    phase.keep_log = config.benchdata.is_some();
    let monitor = MonitorOptions {
        quiet: config.quiet,
        autoterm: None,
        expected_ops: Some(parts as u64),
    };
    let mut uploaded = run_phase(runtime, workers, upload_workers, phase, monitor);
    workers = std::mem::take(&mut uploaded.workers);
    if uploaded.interrupted {
        let _ = runtime.block_on(workers[0].client.abort_multipart_upload(key, &upload_id));
        return (
            workers,
            Vec::new(),
            Some(Fatal("interrupted while uploading parts".to_string())),
        );
    }
    let mut etags: Vec<(u32, String)> = workers
        .iter_mut()
        .flat_map(|w| std::mem::take(&mut w.parts))
        .collect();
    etags.sort_by_key(|(number, _)| *number);
    if uploaded.error_count() > 0 || etags.len() != parts {
        let _ = runtime.block_on(workers[0].client.abort_multipart_upload(key, &upload_id));
        let fatal = Fatal(format!(
            "uploading parts failed:\n  {}",
            errors_text(&uploaded)
        ));
        return (workers, Vec::new(), Some(fatal));
    }
    let completed = runtime.block_on(
        workers[0]
            .client
            .complete_multipart_upload(key, &upload_id, &etags),
    );
    if let Some(error) = completed.error {
        let _ = runtime.block_on(workers[0].client.abort_multipart_upload(key, &upload_id));
        return (
            workers,
            Vec::new(),
            Some(Fatal(format!(
                "completing the multipart upload failed: {error}"
            ))),
        );
    }
    workers[0].keys.push(key.to_string());
    let task = Task::GetParts {
        key: key.to_string(),
        parts,
        size: part_size,
    };
    let (phase, monitor) = measured_phase(config, "Benchmarking", task, epoch);
    let mut result = run_phase(runtime, workers, config.concurrency, phase, monitor);
    let workers = std::mem::take(&mut result.workers);
    let measured = vec![
        Measured {
            label: "upload parts",
            result: uploaded,
        },
        Measured {
            label: "benchmark",
            result,
        },
    ];
    (workers, measured, None)
}
