//! tessera-bench: an S3 load generator that speaks MinIO warp's language.
//!
//! Owns: the process — parse the command line, run the benchmark or sweep, print the report
//! (text, or JSON with `--json`), write `--benchdata`, and choose the exit code: 0 when every
//! request succeeded, 1 when any request failed or the run could not be carried out
//! (connection refused, bucket or preparation failure), 2 for a bad command line.
//! Must not: hold benchmark logic (see `bench`, `workload`, `sweep`).

mod analysis;
mod autoterm;
mod bench;
mod benchdata;
mod chart;
mod cli;
mod conn;
mod constants;
mod cpu;
mod hosts;
mod http_codec;
mod payload;
mod progress;
mod record;
mod report;
mod rng;
mod runner;
mod s3;
mod session;
mod sigv4;
mod sweep;
mod timefmt;
mod units;
mod workload;
mod xml;

use std::process::ExitCode;

use clap::Parser;

use crate::bench::RunReport;
use crate::cli::{Cli, Config, RunConfig};
use crate::constants::ERRORS_PRINTED_MAX;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match cli::resolve(&cli) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("tessera-bench: {message}");
            return ExitCode::from(2);
        }
    };
    let result = match config {
        Config::Run(config) => bench::run(&config).and_then(|report| finish_run(&config, report)),
        Config::Sweep(config) => sweep::run(&config),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(session::Fatal(message)) => {
            eprintln!("tessera-bench: error: {message}");
            ExitCode::from(1)
        }
    }
}

/// Prints the report and writes benchdata; returns whether the run had no errors.
fn finish_run(config: &RunConfig, mut report: RunReport) -> Result<bool, session::Fatal> {
    if config.json {
        let phases: Vec<_> = report.phases.iter().map(report::phase_json).collect();
        let value = serde_json::json!({
            "command": config.workload.name(),
            "hosts": report.endpoints,
            "bucket": config.target.bucket,
            "concurrency": config.concurrency,
            "object_size": config.object_size,
            "duration_s": config.duration.as_secs_f64(),
            "phases": phases,
            "errors": { "count": report.error_count, "first": report.errors },
            "cleanup_failures": report.cleanup_failures,
        });
        println!("{value:#}");
    } else {
        for phase in &report.phases {
            if report.phases.len() > 1 {
                println!("=== {} ===", phase.label);
            }
            print!("{}", report::render_phase_text(phase));
            println!();
        }
    }
    if let Some(path) = &config.benchdata {
        let client_id = rng::Rng::from_entropy(0).alphanumeric(6);
        let file = std::fs::File::create(path).map_err(|err| {
            session::Fatal(format!(
                "cannot create --benchdata {}: {err}",
                path.display()
            ))
        })?;
        let mut file = std::io::BufWriter::new(file);
        benchdata::write(
            &mut file,
            &mut report.log,
            &report.epoch,
            &client_id,
            &report.endpoints,
            &config.command_line,
        )
        .map_err(|err| {
            session::Fatal(format!(
                "cannot write --benchdata {}: {err}",
                path.display()
            ))
        })?;
        if report.log_overflow {
            eprintln!(
                "warning: --benchdata kept only the first {} operations",
                constants::OPS_RECORDED_MAX
            );
        }
        eprintln!("Benchmark data written to {}", path.display());
    }
    if report.error_count > 0 {
        eprintln!(
            "Errors: {} operations failed. First errors:",
            report.error_count
        );
        for error in report.errors.iter().take(ERRORS_PRINTED_MAX) {
            eprintln!(" * {error}");
        }
        return Ok(false);
    }
    Ok(true)
}
