//! A session: what a run keeps from its first request to its last — the runtime, the time
//! base, the workers with their connections, and the payload buffer — and the steps every
//! command shares.
//!
//! Owns: the shared steps, in the order a run takes them, and why: (1) `start` resolves and
//! connects to every host before anything else, so a wrong `--host` fails in a second with
//! a clear message, then creates the bucket, which every later request needs; (2) `prepare`
//! uploads objects with every worker and stops at the first error — a benchmark on a
//! half-prepared bucket would measure the wrong thing; (3) `run` runs one phase on the first
//! `active` workers; (4) `cleanup` deletes exactly the objects this run created.
//! Must not: know which command is running (that is `bench` and `sweep`).
//! Invariant: between phases every worker is back in `workers`, holding the keys of the
//! objects it created that still exist, so cleanup can always find them.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;

use tokio::runtime::Runtime;

use crate::cli::Target;
use crate::constants::{CONNECT_TIMEOUT, ERRORS_PRINTED_MAX};
use crate::payload::Payload;
use crate::progress::MonitorOptions;
use crate::record::Epoch;
use crate::rng::Rng;
use crate::runner::{run_phase, Phase, PhaseResult, Worker};
use crate::s3::{Endpoint, S3Client};
use crate::workload::Task;

/// A failure that ends the run before a report can be made.
#[derive(Debug)]
pub struct Fatal(pub String);

pub struct Session {
    pub runtime: Runtime,
    pub epoch: Epoch,
    pub workers: Vec<Worker>,
    pub payload: Payload,
    pub endpoints: Vec<Endpoint>,
    pub quiet: bool,
}

impl Session {
    /// Connects to every host, starts `workers` workers and makes sure the bucket exists.
    pub fn start(
        target: &Target,
        workers: usize,
        largest_object: u64,
        quiet: bool,
    ) -> Result<Session, Fatal> {
        let endpoints = preflight(target)?;
        let runtime = runtime(workers)?;
        let mut seed = Rng::from_entropy(std::process::id().into());
        let mut workers = make_workers(workers, &endpoints, target, &mut seed);
        ensure_bucket(&runtime, &mut workers[0], &target.bucket)?;
        let payload = Payload::new(largest_object, &mut seed);
        Ok(Session {
            runtime,
            epoch: Epoch::now(),
            workers,
            payload,
            endpoints,
            quiet,
        })
    }

    /// Runs `phase` on the first `active` workers; the workers come back into the session.
    pub fn run(&mut self, active: usize, phase: Phase, monitor: MonitorOptions) -> PhaseResult {
        let workers = std::mem::take(&mut self.workers);
        let mut result = run_phase(&self.runtime, workers, active, phase, monitor);
        self.workers = std::mem::take(&mut result.workers);
        result
    }

    /// Uploads `objects` objects of `size` bytes, split over all workers.
    pub fn prepare(&mut self, objects: usize, size: u64) -> Result<(), Fatal> {
        let active = self.workers.len();
        let task = Task::Upload {
            counts: split_counts(objects, active),
            size,
            payload: self.payload.clone(),
        };
        let mut phase = Phase::new("Preparing", task, active, self.epoch);
        phase.stop_on_error = true;
        let monitor = MonitorOptions {
            quiet: self.quiet,
            autoterm: None,
            expected_ops: Some(objects as u64),
        };
        let result = self.run(active, phase, monitor);
        if result.error_count() > 0 {
            return Err(Fatal(format!(
                "preparing objects failed:\n  {}",
                errors_text(&result)
            )));
        }
        if result.interrupted {
            return Err(Fatal("interrupted while preparing objects".to_string()));
        }
        Ok(())
    }

    /// Every object the workers created and still hold, for GET and STAT to pick from.
    pub fn pool(&self) -> Arc<Vec<String>> {
        Arc::new(
            self.workers
                .iter()
                .flat_map(|worker| worker.keys.iter().cloned())
                .collect(),
        )
    }

    /// Deletes every object the workers still hold; returns how many could not be deleted.
    pub fn cleanup(&mut self) -> u64 {
        let active = self.workers.len();
        let phase = Phase::new("Cleaning up", Task::Cleanup, active, self.epoch);
        let monitor = MonitorOptions {
            quiet: self.quiet,
            ..MonitorOptions::default()
        };
        let result = self.run(active, phase, monitor);
        let failed: u64 = self
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
        failed
    }
}

pub fn errors_text(result: &PhaseResult) -> String {
    result.first_errors(ERRORS_PRINTED_MAX).join("\n  ")
}

/// Resolves every host and opens (and closes) one TCP connection to each.
fn preflight(target: &Target) -> Result<Vec<Endpoint>, Fatal> {
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

/// A multi-threaded runtime with one thread per core, and no more threads than workers.
fn runtime(workers: usize) -> Result<Runtime, Fatal> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores.min(workers).max(1))
        .enable_io()
        .enable_time()
        .build()
        .map_err(|err| Fatal(format!("cannot start the async runtime: {err}")))
}

/// Workers spread over the endpoints round-robin, each with its own seed and key prefix.
fn make_workers(
    count: usize,
    endpoints: &[Endpoint],
    target: &Target,
    seed: &mut Rng,
) -> Vec<Worker> {
    (0..count)
        .map(|index| {
            let endpoint_index = index % endpoints.len();
            let mut rng = Rng::from_seed(seed.next_u64());
            let endpoint = &endpoints[endpoint_index];
            let client = S3Client::new(
                endpoint,
                endpoint_index as u16,
                &target.bucket,
                target.lookup,
                &target.credentials,
            );
            Worker {
                index,
                client,
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
fn ensure_bucket(runtime: &Runtime, worker: &mut Worker, bucket: &str) -> Result<(), Fatal> {
    runtime.block_on(async {
        let created = worker.client.create_bucket().await;
        if created.ok() || worker.client.head_bucket().await.ok() {
            return Ok(());
        }
        let error = created.error.unwrap_or_else(|| "unknown error".to_string());
        Err(Fatal(format!("cannot create bucket {bucket}: {error}")))
    })
}

/// Splits `objects` over `workers` as evenly as possible, the first ones taking the rest.
pub fn split_counts(objects: usize, workers: usize) -> Vec<usize> {
    assert!(workers > 0, "at least one worker");
    (0..workers)
        .map(|index| objects / workers + usize::from(index < objects % workers))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_split_evenly() {
        assert_eq!(split_counts(10, 4), vec![3, 3, 2, 2]);
        assert_eq!(split_counts(2, 4), vec![1, 1, 0, 0]);
        assert_eq!(split_counts(8, 4), vec![2, 2, 2, 2]);
        assert_eq!(split_counts(0, 1), vec![0]);
        for (objects, workers) in [(2500, 20), (7, 3), (10_000, 7)] {
            let counts = split_counts(objects, workers);
            assert_eq!(counts.iter().sum::<usize>(), objects);
            assert!(counts.iter().max().unwrap_or(&0) - counts.iter().min().unwrap_or(&0) <= 1);
        }
    }
}
