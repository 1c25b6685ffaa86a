//! The `tessera` binary: `tessera serve` runs a node; `tessera check-host` reports how the
//! host is tuned (changing nothing).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tessera::server::{self, config::Config};

#[derive(Parser)]
#[command(
    name = "tessera",
    version,
    about = "Thread-per-core, erasure-coded S3-compatible object storage node"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a storage node.
    Serve(Box<ServeArgs>),
    /// Report host settings against recommendations (changes nothing). Flags: [--device PATH]... [--json] [--strict]
    #[command(disable_help_flag = true)]
    CheckHost {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Data directory (credentials, node id, and the default emulated devices).
    #[arg(long, default_value = "./tessera-data")]
    data_dir: PathBuf,
    /// S3 listener address.
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: String,
    /// Admin listener address (/health, /metrics).
    #[arg(long, default_value = "127.0.0.1:9001")]
    admin_listen: String,
    /// Data device: a directory on an O_DIRECT-capable filesystem, or a raw block device
    /// (formatted only if blank and the data dir fresh). Repeatable. Default: 6 emulated
    /// devices DATA_DIR/devices/d0..d5.
    #[arg(long = "device")]
    devices: Vec<PathBuf>,
    /// Erasure coding K+M (default follows the device count: 6 devices -> 4+2).
    #[arg(long)]
    ec: Option<String>,
    /// Executors (one pinned thread per core). Default: all cores.
    #[arg(long)]
    cores: Option<usize>,
    /// Region name used in signatures and GetBucketLocation.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Domain for virtual-hosted-style requests (BUCKET.DOMAIN).
    #[arg(long)]
    domain: Option<String>,
    #[arg(long, env = "TESSERA_ACCESS_KEY")]
    access_key: Option<String>,
    #[arg(long, env = "TESSERA_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,
    /// File with one `ACCESS_KEY:SECRET_KEY` per line (several users).
    #[arg(long)]
    credentials: Option<PathBuf>,
    /// Do not pin executor threads to cores.
    #[arg(long)]
    no_pin: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckHost { args } => {
            ExitCode::from(tessera_tuning::run_cli(&args).clamp(0, 255) as u8)
        }
        Command::Serve(args) => match serve(*args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("tessera: {e}");
                ExitCode::from(1)
            }
        },
    }
}

fn serve(args: ServeArgs) -> Result<(), Box<dyn std::error::Error>> {
    let (devices, devices_emulated) = Config::resolve_devices(&args.data_dir, args.devices);
    let geometry = Config::geometry_for(args.ec.as_deref(), devices.len())?;
    let available = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cores = args.cores.unwrap_or(available);
    if cores == 0 || cores > tessera::constants::CORES_MAX {
        return Err(format!(
            "--cores must be between 1 and {}",
            tessera::constants::CORES_MAX
        )
        .into());
    }
    std::fs::create_dir_all(&args.data_dir)?;
    let credentials = server::config::load_credentials(
        &args.data_dir,
        args.access_key,
        args.secret_key,
        args.credentials.as_deref(),
    )?;
    let config = Config {
        data_dir: args.data_dir,
        listen: args.listen,
        admin_listen: args.admin_listen,
        devices,
        devices_emulated,
        geometry,
        cores,
        region: args.region,
        domain: args.domain,
        pin: !args.no_pin,
    };
    server::serve(config, credentials)?;
    Ok(())
}
