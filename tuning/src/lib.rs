//! Host checks for Tessera: `tessera check-host` reads the live kernel, CPU, IRQ, block-queue
//! and resource-limit settings plus the O_DIRECT behaviour of each data path, and prints
//! current vs recommended with a verdict per line, like `rpk redpanda tune` in check mode or
//! Seastar's perftune.
//!
//! Owns: the checks (`check_host`), the command line (`run_cli`) and, next to the code, the
//! files an operator installs (`sysctl.d/`, `udev/`, `systemd/`; see `README.md`). Must not:
//! change any host setting. The only write is one probe file per `--device` directory,
//! unlinked before its I/O is issued. Invariants: everything read from `/proc` and `/sys` goes
//! through `probe::SysRoot`, so tests point the whole checker at a fake root; every verdict
//! comes from a pure function in `rules`; every read and loop is bounded by `constants`.
//!
//! Layout: `parse` (text formats, pure) -> `probe` (reads under a root) -> `rules` (verdicts,
//! pure) -> `check` (order and glue) -> `report` (table and JSON) -> `cli`. `direct_io` holds
//! the one live I/O probe.

pub mod constants;
pub mod direct_io;
pub mod parse;
pub mod probe;
pub mod report;
pub mod rules;

mod check;
mod cli;

use std::path::PathBuf;

pub use check::check_host;
pub use cli::{
    exit_code, parse_args, run_cli, run_cli_with, Command, UsageError, EXIT_FAIL, EXIT_OK,
    EXIT_OUTPUT, EXIT_USAGE, USAGE,
};
pub use report::{Line, Report, Verdict};

/// What `check_host` looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckOptions {
    /// Data directories or block devices Tessera will use; each gets its backing disks'
    /// queue settings and an O_DIRECT probe.
    pub devices: Vec<PathBuf>,
    /// Render JSON instead of a table (used by `run_cli`; `check_host` ignores it).
    pub json: bool,
    /// Where `proc/` and `sys/` are read: `/` normally, a temp dir in tests.
    pub sys_root: PathBuf,
}

impl Default for CheckOptions {
    fn default() -> CheckOptions {
        CheckOptions {
            devices: Vec::new(),
            json: false,
            sys_root: PathBuf::from("/"),
        }
    }
}

/// Every check name a report can hold, in report order. The `block.*`, `device.backing` and
/// `direct_io` lines appear only when at least one `--device` is given.
pub const CHECK_NAMES: &[&str] = &[
    "cpu.governor",
    "irq.balance",
    "irq.spread",
    "thp.enabled",
    "thp.defrag",
    "kernel.io_uring_disabled",
    "net.core.somaxconn",
    "net.ipv4.tcp_max_syn_backlog",
    "fs.file-max",
    "fs.nr_open",
    "vm.swappiness",
    "rlimit.nofile",
    "rlimit.memlock",
    "device.backing",
    "block.scheduler",
    "block.nr_requests",
    "block.read_ahead_kb",
    "block.rotational",
    "block.logical_block_size",
    "block.write_cache",
    "block.rq_affinity",
    "block.nomerges",
    "direct_io",
];

/// The checks that appear only with a `--device`.
pub const DEVICE_CHECK_NAMES: &[&str] = &[
    "device.backing",
    "block.scheduler",
    "block.nr_requests",
    "block.read_ahead_kb",
    "block.rotational",
    "block.logical_block_size",
    "block.write_cache",
    "block.rq_affinity",
    "block.nomerges",
    "direct_io",
];
