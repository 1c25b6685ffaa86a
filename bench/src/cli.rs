//! The command line: warp's subcommands, flag names, defaults and environment variables.
//!
//! Owns: parsing (clap) and validation into a `RunConfig` / `SweepConfig` whose values are
//! all in range. Must not: connect anywhere. Invariants: flag names and per-command defaults
//! are warp's (`--obj.size`, `--objects`, `--concurrent 20`, `--duration 5m`,
//! `--autoterm.dur 10s`, `--autoterm.pct 7.5`, `WARP_HOST`, ...); every limit check names
//! the flag that broke it.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::constants::{
    CONCURRENCY_MAX, DELETE_BATCH_MAX, OBJECTS_MAX, OBJECT_BYTES_MAX, PARTS_MAX, PART_BYTES_MIN,
    RUN_DURATION_MAX, SWEEP_POINTS_MAX,
};
use crate::hosts::expand_hosts;
use crate::s3::{Credentials, Lookup};
use crate::units::{parse_duration, parse_size};

#[derive(Parser, Debug)]
#[command(
    name = "tessera-bench",
    version,
    about = "S3 load generator with MinIO warp's commands, flags and report",
    after_help = "Each command takes warp's flags; `tessera-bench <command> --help` lists them."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Upload --objects objects, then GET random ones until --duration.
    Get(GetArgs),
    /// PUT new objects until --duration.
    Put(PutArgs),
    /// Upload --objects objects, then delete them --batch keys per DeleteObjects request.
    Delete(DeleteArgs),
    /// Upload --objects objects, then HEAD random ones until --duration.
    Stat(StatArgs),
    /// Upload --objects objects under one prefix per worker, then list each prefix fully, again and again.
    List(ListArgs),
    /// Upload --objects objects, then mix GET/STAT/PUT/DELETE by the --*-distrib weights.
    Mixed(MixedArgs),
    /// Upload one object as --parts parts of --part.size in parallel, then GET random parts.
    Multipart(MultipartArgs),
    /// Run GET (or PUT) at every object size × concurrency; print a table, write a CSV and a PNG chart.
    Sweep(SweepArgs),
}

#[derive(Args, Debug, Clone)]
pub struct ConnectionArgs {
    /// Endpoints, comma-separated; `{1...N}` expands (e.g. node{1...4}:9000).
    #[arg(long, env = "WARP_HOST", default_value = "127.0.0.1:9000")]
    pub host: String,
    /// Access key.
    #[arg(long = "access-key", env = "WARP_ACCESS_KEY")]
    pub access_key: String,
    /// Secret key.
    #[arg(long = "secret-key", env = "WARP_SECRET_KEY", hide_env_values = true)]
    pub secret_key: String,
    /// Signing region.
    #[arg(long, env = "WARP_REGION", default_value = "us-east-1")]
    pub region: String,
    /// Bucket addressing: `path` (http://host/bucket/key) or `host` (http://bucket.host/key); `auto` means path.
    #[arg(long, default_value = "path", value_parser = ["path", "host", "auto"])]
    pub lookup: String,
    /// Bucket to use; created when missing.
    #[arg(long, default_value = "warp-benchmark-bucket")]
    pub bucket: String,
    /// Accepted for warp compatibility; object bodies are always sent as UNSIGNED-PAYLOAD.
    #[arg(long = "disable-sha256-payload")]
    pub disable_sha256_payload: bool,
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Concurrent operations (one connection each).
    #[arg(long, default_value_t = 20)]
    pub concurrent: usize,
    /// How long to run, e.g. 10s, 1m, 5m.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub duration: Duration,
    /// Stop early once throughput is stable (warp's rule).
    #[arg(long)]
    pub autoterm: bool,
    /// How long throughput must have been stable for --autoterm.
    #[arg(long = "autoterm.dur", default_value = "10s", value_parser = parse_duration)]
    pub autoterm_dur: Duration,
    /// How close (percent) the last samples must be for --autoterm.
    #[arg(long = "autoterm.pct", default_value_t = 7.5)]
    pub autoterm_pct: f64,
    /// Leave the objects this run created in the bucket.
    #[arg(long)]
    pub noclear: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Write every operation to this file as warp's tab-separated benchmark data.
    #[arg(long)]
    pub benchdata: Option<PathBuf>,
    /// No progress line.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

macro_rules! object_args {
    ($name:ident, $size:literal, $objects:literal) => {
        #[derive(Args, Debug, Clone)]
        pub struct $name {
            #[command(flatten)]
            pub connection: ConnectionArgs,
            #[command(flatten)]
            pub run: RunArgs,
            /// Object size: B, KiB, MiB, GiB (1024-based) or KB, MB, GB (1000-based).
            #[arg(long = "obj.size", default_value = $size, value_parser = parse_size)]
            pub obj_size: u64,
            /// Objects to upload before the benchmark.
            #[arg(long, default_value_t = $objects)]
            pub objects: usize,
        }
    };
}

object_args!(GetArgs, "10MiB", 2500);
object_args!(StatArgs, "1KB", 10000);
object_args!(ListArgs, "1KB", 10000);

#[derive(Args, Debug, Clone)]
pub struct PutArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(flatten)]
    pub run: RunArgs,
    /// Object size: B, KiB, MiB, GiB (1024-based) or KB, MB, GB (1000-based).
    #[arg(long = "obj.size", default_value = "10MiB", value_parser = parse_size)]
    pub obj_size: u64,
}

#[derive(Args, Debug, Clone)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(flatten)]
    pub run: RunArgs,
    /// Object size.
    #[arg(long = "obj.size", default_value = "1KiB", value_parser = parse_size)]
    pub obj_size: u64,
    /// Objects to upload, then delete.
    #[arg(long, default_value_t = 25000)]
    pub objects: usize,
    /// Keys per DeleteObjects request.
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
}

#[derive(Args, Debug, Clone)]
pub struct MixedArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(flatten)]
    pub run: RunArgs,
    /// Object size.
    #[arg(long = "obj.size", default_value = "10MiB", value_parser = parse_size)]
    pub obj_size: u64,
    /// Objects to upload before the benchmark.
    #[arg(long, default_value_t = 2500)]
    pub objects: usize,
    /// Weight of GET operations.
    #[arg(long = "get-distrib", default_value_t = 45.0)]
    pub get_distrib: f64,
    /// Weight of STAT operations.
    #[arg(long = "stat-distrib", default_value_t = 30.0)]
    pub stat_distrib: f64,
    /// Weight of PUT operations.
    #[arg(long = "put-distrib", default_value_t = 15.0)]
    pub put_distrib: f64,
    /// Weight of DELETE operations.
    #[arg(long = "delete-distrib", default_value_t = 10.0)]
    pub delete_distrib: f64,
}

#[derive(Args, Debug, Clone)]
pub struct MultipartArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(flatten)]
    pub run: RunArgs,
    /// Parts to upload.
    #[arg(long, default_value_t = 200)]
    pub parts: usize,
    /// Size of each part (at least 5MiB).
    #[arg(long = "part.size", default_value = "5MiB", value_parser = parse_size)]
    pub part_size: u64,
    /// Name of the multipart object.
    #[arg(long = "obj.name", default_value = "warp-multipart.bin")]
    pub obj_name: String,
}

#[derive(Args, Debug, Clone)]
pub struct SweepArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Operation to sweep: get or put.
    #[arg(long, default_value = "get", value_parser = ["get", "put"])]
    pub op: String,
    /// Object sizes, comma-separated.
    #[arg(long, default_value = "4KiB,64KiB,1MiB,16MiB")]
    pub sizes: String,
    /// Concurrency levels, comma-separated.
    #[arg(long, default_value = "1,4,16,64")]
    pub concurrencies: String,
    /// Duration of each point.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Objects uploaded per size for GET points.
    #[arg(long, default_value_t = 256)]
    pub objects: usize,
    /// CSV output file.
    #[arg(long, default_value = "tessera-bench-sweep.csv")]
    pub csv: PathBuf,
    /// PNG chart output file.
    #[arg(long, default_value = "tessera-bench-sweep.png")]
    pub png: PathBuf,
    /// Leave the objects this run created in the bucket.
    #[arg(long)]
    pub noclear: bool,
    /// Print the results as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress line.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// Where to send requests and how to sign them.
#[derive(Clone, Debug)]
pub struct Target {
    pub hosts: Vec<String>,
    pub credentials: Credentials,
    pub lookup: Lookup,
    pub bucket: String,
}

/// What the benchmark phase does.
#[derive(Clone, Debug, PartialEq)]
pub enum Workload {
    Get,
    Put,
    Delete {
        batch: usize,
    },
    Stat,
    List,
    /// Weights of GET, STAT, PUT, DELETE.
    Mixed {
        weights: [f64; 4],
    },
    Multipart {
        parts: usize,
        part_size: u64,
        object_name: String,
    },
}

impl Workload {
    pub fn name(&self) -> &'static str {
        match self {
            Workload::Get => "get",
            Workload::Put => "put",
            Workload::Delete { .. } => "delete",
            Workload::Stat => "stat",
            Workload::List => "list",
            Workload::Mixed { .. } => "mixed",
            Workload::Multipart { .. } => "multipart",
        }
    }
}

#[derive(Clone, Debug)]
pub struct RunConfig {
    pub target: Target,
    pub workload: Workload,
    pub concurrency: usize,
    pub duration: Duration,
    /// (minimum stable time, fraction) when --autoterm is on.
    pub autoterm: Option<(Duration, f64)>,
    pub noclear: bool,
    pub json: bool,
    pub benchdata: Option<PathBuf>,
    pub quiet: bool,
    pub object_size: u64,
    pub objects: usize,
    pub command_line: String,
}

#[derive(Clone, Debug)]
pub struct SweepConfig {
    pub target: Target,
    pub put: bool,
    pub sizes: Vec<u64>,
    pub concurrencies: Vec<usize>,
    pub duration: Duration,
    pub objects: usize,
    pub csv: PathBuf,
    pub png: PathBuf,
    pub noclear: bool,
    pub json: bool,
    pub quiet: bool,
}

pub enum Config {
    Run(RunConfig),
    Sweep(SweepConfig),
}

fn target(args: &ConnectionArgs) -> Result<Target, String> {
    if args.access_key.is_empty() || args.secret_key.is_empty() {
        return Err("--access-key and --secret-key (or WARP_ACCESS_KEY / WARP_SECRET_KEY) must not be empty".to_string());
    }
    if args.bucket.is_empty() || args.bucket.contains('/') {
        return Err(format!("--bucket {:?} is not a bucket name", args.bucket));
    }
    Ok(Target {
        hosts: expand_hosts(&args.host)?,
        credentials: Credentials {
            access_key: args.access_key.clone(),
            secret_key: args.secret_key.clone(),
            region: args.region.clone(),
        },
        lookup: if args.lookup == "host" {
            Lookup::Host
        } else {
            Lookup::Path
        },
        bucket: args.bucket.clone(),
    })
}

fn check_range<T: PartialOrd + std::fmt::Display>(
    flag: &str,
    value: T,
    min: T,
    max: T,
) -> Result<(), String> {
    if value < min || value > max {
        return Err(format!("{flag} {value} is out of range {min}..={max}"));
    }
    Ok(())
}

fn run_config(
    connection: &ConnectionArgs,
    run: &RunArgs,
    workload: Workload,
    object_size: u64,
    objects: usize,
) -> Result<RunConfig, String> {
    check_range("--concurrent", run.concurrent, 1, CONCURRENCY_MAX)?;
    check_range("--obj.size", object_size, 0, OBJECT_BYTES_MAX)?;
    check_range("--objects", objects, 1, OBJECTS_MAX)?;
    if run.duration.is_zero() || run.duration > RUN_DURATION_MAX {
        return Err(format!(
            "--duration must be above 0 and at most {}h",
            RUN_DURATION_MAX.as_secs() / 3600
        ));
    }
    if !(run.autoterm_pct > 0.0 && run.autoterm_pct < 100.0) {
        return Err(format!(
            "--autoterm.pct {} must be between 0 and 100",
            run.autoterm_pct
        ));
    }
    Ok(RunConfig {
        target: target(connection)?,
        workload,
        concurrency: run.concurrent,
        duration: run.duration,
        autoterm: run
            .autoterm
            .then_some((run.autoterm_dur, run.autoterm_pct / 100.0)),
        noclear: run.noclear,
        json: run.json,
        benchdata: run.benchdata.clone(),
        quiet: run.quiet,
        object_size,
        objects,
        command_line: std::env::args().collect::<Vec<_>>().join(" "),
    })
}

fn parse_list<T>(
    flag: &str,
    text: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    let values = text
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| parse(item).map_err(|err| format!("{flag}: {err}")))
        .collect::<Result<Vec<T>, String>>()?;
    if values.is_empty() {
        return Err(format!("{flag} is empty"));
    }
    Ok(values)
}

fn sweep_config(args: &SweepArgs) -> Result<SweepConfig, String> {
    let sizes = parse_list("--sizes", &args.sizes, parse_size)?;
    let concurrencies = parse_list("--concurrencies", &args.concurrencies, |item| {
        item.parse::<usize>()
            .map_err(|_| format!("{item:?} is not a number"))
    })?;
    for &size in &sizes {
        check_range("--sizes", size, 1, OBJECT_BYTES_MAX)?;
    }
    for &concurrency in &concurrencies {
        check_range("--concurrencies", concurrency, 1, CONCURRENCY_MAX)?;
    }
    if sizes.len() * concurrencies.len() > SWEEP_POINTS_MAX {
        return Err(format!(
            "--sizes × --concurrencies is more than {SWEEP_POINTS_MAX} points"
        ));
    }
    check_range("--objects", args.objects, 1, OBJECTS_MAX)?;
    if args.duration.is_zero() || args.duration > RUN_DURATION_MAX {
        return Err("--duration must be above 0".to_string());
    }
    Ok(SweepConfig {
        target: target(&args.connection)?,
        put: args.op == "put",
        sizes,
        concurrencies,
        duration: args.duration,
        objects: args.objects,
        csv: args.csv.clone(),
        png: args.png.clone(),
        noclear: args.noclear,
        json: args.json,
        quiet: args.quiet,
    })
}

/// Validates the parsed command line.
pub fn resolve(cli: &Cli) -> Result<Config, String> {
    let config = match &cli.command {
        Command::Get(a) => run_config(&a.connection, &a.run, Workload::Get, a.obj_size, a.objects)?,
        Command::Stat(a) => {
            run_config(&a.connection, &a.run, Workload::Stat, a.obj_size, a.objects)?
        }
        Command::List(a) => {
            run_config(&a.connection, &a.run, Workload::List, a.obj_size, a.objects)?
        }
        Command::Put(a) => run_config(&a.connection, &a.run, Workload::Put, a.obj_size, 1)?,
        Command::Delete(a) => {
            check_range("--batch", a.batch, 1, DELETE_BATCH_MAX)?;
            let wanted = a.batch * a.run.concurrent * 4;
            if a.objects < wanted {
                return Err(format!(
                    "too few objects: with --batch {} and --concurrent {}, at least {wanted} objects \
                     make a valid benchmark; use --objects={wanted}",
                    a.batch, a.run.concurrent
                ));
            }
            run_config(
                &a.connection,
                &a.run,
                Workload::Delete { batch: a.batch },
                a.obj_size,
                a.objects,
            )?
        }
        Command::Mixed(a) => {
            let weights = [
                a.get_distrib,
                a.stat_distrib,
                a.put_distrib,
                a.delete_distrib,
            ];
            if weights.iter().any(|w| !w.is_finite() || *w < 0.0)
                || weights.iter().sum::<f64>() <= 0.0
            {
                return Err(
                    "the --*-distrib weights must be non-negative and not all zero".to_string(),
                );
            }
            run_config(
                &a.connection,
                &a.run,
                Workload::Mixed { weights },
                a.obj_size,
                a.objects,
            )?
        }
        Command::Multipart(a) => {
            check_range("--parts", a.parts, 1, PARTS_MAX)?;
            check_range("--part.size", a.part_size, PART_BYTES_MIN, OBJECT_BYTES_MAX)?;
            if a.obj_name.is_empty() {
                return Err("--obj.name is empty".to_string());
            }
            let workload = Workload::Multipart {
                parts: a.parts,
                part_size: a.part_size,
                object_name: a.obj_name.clone(),
            };
            run_config(&a.connection, &a.run, workload, a.part_size, a.parts)?
        }
        Command::Sweep(a) => return Ok(Config::Sweep(sweep_config(a)?)),
    };
    Ok(Config::Run(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, String> {
        let cli = Cli::try_parse_from(args).map_err(|err| err.to_string())?;
        resolve(&cli)
    }

    #[test]
    fn warp_defaults_and_flag_names() {
        let Ok(Config::Run(config)) = parse(&[
            "tessera-bench",
            "get",
            "--access-key",
            "a",
            "--secret-key",
            "s",
        ]) else {
            panic!("get parses");
        };
        assert_eq!(config.concurrency, 20);
        assert_eq!(config.duration, Duration::from_secs(300));
        assert_eq!(config.object_size, 10 << 20);
        assert_eq!(config.objects, 2500);
        assert_eq!(config.target.bucket, "warp-benchmark-bucket");
        assert_eq!(config.target.hosts, vec!["127.0.0.1:9000".to_string()]);
        assert_eq!(config.target.lookup, Lookup::Path);
        assert_eq!(config.autoterm, None);

        let Ok(Config::Run(config)) = parse(&[
            "tessera-bench",
            "stat",
            "--host",
            "n{1...2}:9000",
            "--access-key",
            "a",
            "--secret-key",
            "s",
            "--obj.size",
            "4KiB",
            "--objects",
            "50",
            "--concurrent",
            "3",
            "--duration",
            "1m30s",
            "--autoterm",
            "--autoterm.pct",
            "5",
            "--lookup",
            "host",
            "--noclear",
            "--json",
            "--benchdata",
            "out.tsv",
        ]) else {
            panic!("stat parses");
        };
        assert_eq!(
            config.target.hosts,
            vec!["n1:9000".to_string(), "n2:9000".to_string()]
        );
        assert_eq!(
            (config.object_size, config.objects, config.concurrency),
            (4096, 50, 3)
        );
        assert_eq!(config.duration, Duration::from_secs(90));
        assert_eq!(config.autoterm, Some((Duration::from_secs(10), 0.05)));
        assert_eq!(config.target.lookup, Lookup::Host);
        assert!(config.noclear && config.json);
        assert_eq!(config.benchdata, Some(PathBuf::from("out.tsv")));
    }

    #[test]
    fn per_command_defaults() {
        let keys = ["--access-key", "a", "--secret-key", "s"];
        let run = |command: &str| -> RunConfig {
            let mut args = vec!["tessera-bench", command];
            args.extend_from_slice(&keys);
            match parse(&args) {
                Ok(Config::Run(config)) => config,
                Ok(Config::Sweep(_)) => panic!("{command} is not a sweep"),
                Err(err) => panic!("{command}: {err}"),
            }
        };
        assert_eq!(
            (run("stat").object_size, run("stat").objects),
            (1000, 10000)
        );
        assert_eq!(
            (run("list").object_size, run("list").objects),
            (1000, 10000)
        );
        assert_eq!(run("put").object_size, 10 << 20);
        assert_eq!(run("delete").workload, Workload::Delete { batch: 100 });
        assert_eq!(
            (run("delete").object_size, run("delete").objects),
            (1024, 25000)
        );
        assert_eq!(
            run("mixed").workload,
            Workload::Mixed {
                weights: [45.0, 30.0, 15.0, 10.0]
            }
        );
        assert_eq!(
            run("multipart").workload,
            Workload::Multipart {
                parts: 200,
                part_size: 5 << 20,
                object_name: "warp-multipart.bin".to_string()
            }
        );
    }

    #[test]
    fn invalid_values_are_rejected() {
        let bad: &[&[&str]] = &[
            &[
                "get",
                "--access-key",
                "a",
                "--secret-key",
                "s",
                "--concurrent",
                "0",
            ],
            &[
                "get",
                "--access-key",
                "a",
                "--secret-key",
                "s",
                "--obj.size",
                "10XB",
            ],
            &[
                "get",
                "--access-key",
                "a",
                "--secret-key",
                "s",
                "--duration",
                "10",
            ],
            &["get", "--access-key", "", "--secret-key", "s"],
            &[
                "get",
                "--access-key",
                "a",
                "--secret-key",
                "s",
                "--host",
                "https://x:1",
            ],
            &[
                "delete",
                "--access-key",
                "a",
                "--secret-key",
                "s",
                "--objects",
                "100",
            ],
            &[
                "multipart",
                "--access-key",
                "a",
                "--secret-key",
                "s",
                "--part.size",
                "1MiB",
            ],
            &[
                "mixed",
                "--access-key",
                "a",
                "--secret-key",
                "s",
                "--get-distrib",
                "0",
                "--stat-distrib",
                "0",
                "--put-distrib",
                "0",
                "--delete-distrib",
                "0",
            ],
            &[
                "sweep",
                "--access-key",
                "a",
                "--secret-key",
                "s",
                "--concurrencies",
                "1,x",
            ],
        ];
        for args in bad {
            let mut full = vec!["tessera-bench"];
            full.extend_from_slice(args);
            assert!(parse(&full).is_err(), "{args:?} should be rejected");
        }
    }

    #[test]
    fn sweep_lists() {
        let Ok(Config::Sweep(config)) = parse(&[
            "tessera-bench",
            "sweep",
            "--access-key",
            "a",
            "--secret-key",
            "s",
            "--sizes",
            "4KiB, 1MiB",
            "--concurrencies",
            "1,8",
            "--op",
            "put",
        ]) else {
            panic!("sweep parses");
        };
        assert_eq!(config.sizes, vec![4096, 1 << 20]);
        assert_eq!(config.concurrencies, vec![1, 8]);
        assert!(config.put);
        assert_eq!(config.duration, Duration::from_secs(10));
    }
}
