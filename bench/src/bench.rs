//! The phases of each benchmark command, and the report they add up to.
//!
//! Owns: which phases a command runs — `put`: measure; `get`, `stat`, `list`, `delete`,
//! `mixed`: prepare `--objects`, then measure; `multipart`: start an upload, upload the parts
//! (measured, reported as PUT), complete it, then measure part GETs — and cleanup of what
//! the run created unless `--noclear`, which runs even when an earlier phase failed.
//! Must not: print reports (main does that from the returned `RunReport`).
//! Invariant: a failed multipart upload is aborted, so no parts are left behind.

use std::time::Instant;

use crate::cli::{RunConfig, Workload};
use crate::constants::ERRORS_PRINTED_MAX;
use crate::progress::MonitorOptions;
use crate::record::{Epoch, OpRecord};
use crate::report::{self, PhaseInput, PhaseReport};
use crate::runner::{Phase, PhaseResult};
use crate::session::{errors_text, Fatal, Session};
use crate::workload::Task;

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

/// A measured phase and the name its report goes under.
struct Measured {
    label: &'static str,
    result: PhaseResult,
}

/// Runs the command described by `config`.
pub fn run(config: &RunConfig) -> Result<RunReport, Fatal> {
    let mut session = Session::start(
        &config.target,
        config.concurrency,
        config.object_size,
        config.quiet,
    )?;
    let measured = match &config.workload {
        Workload::Multipart {
            parts,
            part_size,
            object_name,
        } => run_multipart(&mut session, config, *parts, *part_size, object_name),
        workload => run_simple(&mut session, config, workload),
    };
    let cleanup_failures = if config.noclear { 0 } else { session.cleanup() };
    Ok(assemble(config, &session, measured?, cleanup_failures))
}

fn assemble(
    config: &RunConfig,
    session: &Session,
    measured: Vec<Measured>,
    cleanup_failures: u64,
) -> RunReport {
    let mut report = RunReport {
        phases: Vec::new(),
        error_count: 0,
        errors: Vec::new(),
        log: Vec::new(),
        log_overflow: false,
        epoch: session.epoch,
        endpoints: session
            .endpoints
            .iter()
            .map(|e| format!("http://{}", e.authority))
            .collect(),
        cleanup_failures,
    };
    let weights = match &config.workload {
        Workload::Mixed { weights } => Some(*weights),
        _ => None,
    };
    for Measured { label, mut result } in measured {
        report.error_count += result.error_count();
        for error in result.first_errors(ERRORS_PRINTED_MAX) {
            if report.errors.len() < ERRORS_PRINTED_MAX && !report.errors.contains(&error) {
                report.errors.push(error);
            }
        }
        for recorder in &mut result.recorders {
            report.log.append(recorder.log.get_or_insert_with(Vec::new));
            report.log_overflow |= recorder.log_overflow;
        }
        report.phases.push(report::build_phase(PhaseInput {
            label,
            recorders: &result.recorders,
            concurrency: result.active,
            object_size: Some(config.object_size),
            weights,
            cpu: result.cpu,
            wall: result.wall,
            autoterm: result.autoterm,
            epoch: session.epoch,
        }));
    }
    report
}

/// The measured phase of a command: until `--duration`, with autoterm if asked.
fn measured_phase(config: &RunConfig, session: &Session, task: Task) -> (Phase, MonitorOptions) {
    let mut phase = Phase::new("Benchmarking", task, config.concurrency, session.epoch);
    phase.deadline = Some(Instant::now() + config.duration);
    phase.keep_log = config.benchdata.is_some();
    let monitor = MonitorOptions {
        quiet: config.quiet,
        autoterm: config.autoterm,
        expected_ops: None,
    };
    (phase, monitor)
}

fn run_simple(
    session: &mut Session,
    config: &RunConfig,
    workload: &Workload,
) -> Result<Vec<Measured>, Fatal> {
    let size = config.object_size;
    if *workload != Workload::Put {
        session.prepare(config.objects, size)?;
    }
    let payload = session.payload.clone();
    let task = match workload {
        Workload::Put => Task::Put { size, payload },
        Workload::Get => Task::Get {
            pool: session.pool(),
            size,
        },
        Workload::Stat => Task::Stat {
            pool: session.pool(),
            size,
        },
        Workload::Delete { batch } => Task::Delete { batch: *batch },
        Workload::List => Task::List,
        Workload::Mixed { weights } => Task::Mixed {
            weights: *weights,
            size,
            payload,
        },
        Workload::Multipart { .. } => unreachable!("multipart has its own phases"),
    };
    let (phase, monitor) = measured_phase(config, session, task);
    let result = session.run(config.concurrency, phase, monitor);
    Ok(vec![Measured {
        label: "benchmark",
        result,
    }])
}

fn run_multipart(
    session: &mut Session,
    config: &RunConfig,
    parts: usize,
    part_size: u64,
    key: &str,
) -> Result<Vec<Measured>, Fatal> {
    let (created, upload_id) = session
        .runtime
        .block_on(session.workers[0].client.create_multipart_upload(key));
    let Some(upload_id) = upload_id else {
        let error = created.error.unwrap_or_default();
        return Err(Fatal(format!(
            "cannot start the multipart upload of {key}: {error}"
        )));
    };
    let uploaded = match upload_parts(session, config, parts, part_size, key, &upload_id) {
        Ok(uploaded) => uploaded,
        Err(fatal) => {
            let _ = session.runtime.block_on(
                session.workers[0]
                    .client
                    .abort_multipart_upload(key, &upload_id),
            );
            return Err(fatal);
        }
    };
    session.workers[0].keys.push(key.to_string());
    let task = Task::GetParts {
        key: key.to_string(),
        parts,
        size: part_size,
    };
    let (phase, monitor) = measured_phase(config, session, task);
    let result = session.run(config.concurrency, phase, monitor);
    Ok(vec![
        Measured {
            label: "upload parts",
            result: uploaded,
        },
        Measured {
            label: "benchmark",
            result,
        },
    ])
}

/// Uploads the parts with up to `--concurrent` workers and completes the upload.
fn upload_parts(
    session: &mut Session,
    config: &RunConfig,
    parts: usize,
    part_size: u64,
    key: &str,
    upload_id: &str,
) -> Result<PhaseResult, Fatal> {
    let workers = config.concurrency.min(parts);
    let payload = session.payload.clone();
    let task = Task::UploadParts {
        key: key.to_string(),
        upload_id: upload_id.to_string(),
        parts,
        workers,
        size: part_size,
        payload,
    };
    let mut phase = Phase::new("Uploading parts", task, workers, session.epoch);
    phase.stop_on_error = true;
    phase.keep_log = config.benchdata.is_some();
    let monitor = MonitorOptions {
        quiet: config.quiet,
        autoterm: None,
        expected_ops: Some(parts as u64),
    };
    let uploaded = session.run(workers, phase, monitor);
    if uploaded.interrupted {
        return Err(Fatal("interrupted while uploading parts".to_string()));
    }
    let mut etags: Vec<(u32, String)> = session
        .workers
        .iter_mut()
        .flat_map(|worker| std::mem::take(&mut worker.parts))
        .collect();
    etags.sort_by_key(|(number, _)| *number);
    if uploaded.error_count() > 0 || etags.len() != parts {
        return Err(Fatal(format!(
            "uploading parts failed:\n  {}",
            errors_text(&uploaded)
        )));
    }
    let client = &mut session.workers[0].client;
    let completed = session
        .runtime
        .block_on(client.complete_multipart_upload(key, upload_id, &etags));
    if let Some(error) = completed.error {
        return Err(Fatal(format!(
            "completing the multipart upload failed: {error}"
        )));
    }
    Ok(uploaded)
}
