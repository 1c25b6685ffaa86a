//! Recommended values and the verdict for each check.
//!
//! Owns: what Tessera recommends, why, and how far a live value may stray before it is a
//! warning or a failure. Must not: read the host; every function here takes the value a
//! probe found (or the reason it found none) and returns a report line, so the rules are
//! table-tested without a machine. Invariants: a value that cannot be parsed is `Unknown`,
//! never guessed; `Fail` is kept for settings that break Tessera (service cannot start,
//! misaligned direct I/O), and everything that only costs performance is `Warn`.

use std::collections::BTreeSet;

use crate::constants::DIRECT_IO_PROBE_BYTES;
use crate::direct_io::{Alignment, DirectIo};
use crate::parse::{self, IrqLine};
use crate::probe::ProbeError;
use crate::report::{Line, Verdict};

/// `LimitNOFILE` in `systemd/tessera.service`; a test keeps the two equal.
pub const UNIT_LIMIT_NOFILE: u64 = 1_048_576;
/// Least file-descriptor limit a Tessera process should run with.
pub const NOFILE_MIN: u64 = 65_536;
/// Least listen backlog (`net.core.somaxconn`), which caps `listen(2)`'s backlog argument.
pub const SOMAXCONN_MIN: u64 = 4096;
/// Least SYN backlog (`net.ipv4.tcp_max_syn_backlog`).
pub const TCP_MAX_SYN_BACKLOG_MIN: u64 = 4096;
/// Least system-wide open file table size (`fs.file-max`).
pub const FILE_MAX_MIN: u64 = 1_048_576;
/// Least per-process descriptor ceiling (`fs.nr_open`): the unit's `LimitNOFILE` must fit.
pub const NR_OPEN_MIN: u64 = UNIT_LIMIT_NOFILE;
/// Most `vm.swappiness` recommended.
pub const SWAPPINESS_MAX: u64 = 10;
/// Most read-ahead recommended on a data disk, in KiB.
pub const READ_AHEAD_KB_MAX: u64 = 128;
/// Least block-layer request queue depth recommended.
pub const NR_REQUESTS_MIN: u64 = 256;
/// `rq_affinity` recommended: complete each request on the CPU that submitted it.
pub const RQ_AFFINITY: u64 = 2;
/// `nomerges` recommended on flash: no merge attempts at all.
pub const NOMERGES_FLASH: u64 = 2;
/// The I/O unit Tessera aligns direct I/O to, in bytes.
pub const IO_ALIGN_BYTES: u64 = DIRECT_IO_PROBE_BYTES as u64;

const _: () = assert!(NOFILE_MIN <= UNIT_LIMIT_NOFILE);
const _: () = assert!(UNIT_LIMIT_NOFILE <= NR_OPEN_MIN);
const _: () = assert!(NR_OPEN_MIN <= FILE_MAX_MIN);
const _: () = assert!(IO_ALIGN_BYTES.is_power_of_two());

/// Builds a line; every rule goes through here.
pub fn line(
    check: &str,
    subject: &str,
    current: impl Into<String>,
    recommended: impl Into<String>,
    verdict: Verdict,
    why: &str,
) -> Line {
    Line {
        check: check.to_string(),
        subject: subject.to_string(),
        current: current.into(),
        recommended: recommended.into(),
        verdict,
        why: why.to_string(),
    }
}

/// The `current` text of a value that could not be read.
pub fn unknown_current(reason: impl std::fmt::Display) -> String {
    format!("unknown: {reason}")
}

// ---------------------------------------------------------------------------------------------
// CPU

pub const GOVERNOR_WHY: &str = "other governors ramp the clock up only after load arrives, adding \
    latency to every burst of requests (intel_pstate's 'powersave' included)";

pub fn governor(subject: &str, value: Result<&str, &ProbeError>) -> Line {
    let (current, verdict) = match value {
        Ok("performance") => ("performance".to_string(), Verdict::Ok),
        Ok(other) => (other.to_string(), Verdict::Warn),
        Err(error) => (unknown_current(error), Verdict::Unknown),
    };
    line(
        "cpu.governor",
        subject,
        current,
        "performance",
        verdict,
        GOVERNOR_WHY,
    )
}

/// The single line for a host where no CPU exposes cpufreq (most VMs).
pub fn governor_absent(subject: &str) -> Line {
    line(
        "cpu.governor",
        subject,
        unknown_current("no cpufreq in sysfs (a VM, or no cpufreq driver loaded)"),
        "performance",
        Verdict::Unknown,
        GOVERNOR_WHY,
    )
}

// ---------------------------------------------------------------------------------------------
// IRQs

/// How a group of queue IRQs (one NVMe controller, one NIC) lands on CPUs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IrqSpread {
    /// Queue IRQs in the group.
    pub irqs: usize,
    /// Of those, the ones that fired at least once.
    pub active: usize,
    /// For each active IRQ, the CPU that took most of its interrupts.
    pub home_cpus: BTreeSet<u32>,
    /// CPU columns in `/proc/interrupts`.
    pub cpus: usize,
}

/// The spread of `lines` over the CPU columns `cpus`.
pub fn irq_spread(cpus: &[u32], lines: &[&IrqLine]) -> IrqSpread {
    let mut spread = IrqSpread {
        irqs: lines.len(),
        active: 0,
        home_cpus: BTreeSet::new(),
        cpus: cpus.len(),
    };
    for irq in lines {
        let busiest = irq
            .counts
            .iter()
            .zip(cpus)
            .filter(|(count, _)| **count > 0)
            // Ties go to the lower CPU: `max_by_key` keeps the last maximum, so reverse first.
            .rev()
            .max_by_key(|(count, _)| **count);
        if let Some((_, cpu)) = busiest {
            spread.active += 1;
            spread.home_cpus.insert(*cpu);
        }
    }
    spread
}

pub const IRQ_SPREAD_WHY: &str = "each queue's completions are handled on the CPU its IRQ lands \
    on; if all land on one CPU it saturates while the others wait (counts are since boot)";
const IRQ_SPREAD_RECOMMENDED: &str = "queue IRQs spread over CPUs";

pub fn irq_spread_line(subject: &str, spread: &IrqSpread) -> Line {
    let homes = spread.home_cpus.len();
    let (current, verdict) = if spread.irqs == 0 {
        (unknown_current("no queue IRQs found"), Verdict::Unknown)
    } else if spread.active == 0 {
        (
            unknown_current(format!("{} queue IRQs, none fired yet", spread.irqs)),
            Verdict::Unknown,
        )
    } else if spread.cpus <= 1 {
        (format!("{} active IRQs, 1 CPU", spread.active), Verdict::Ok)
    } else if homes == 1 {
        let cpu = spread.home_cpus.iter().next().copied().unwrap_or_default();
        (
            format!("all {} active IRQs on cpu{cpu}", spread.active),
            Verdict::Warn,
        )
    } else {
        (
            format!(
                "{} active IRQs on {homes} of {} CPUs",
                spread.active, spread.cpus
            ),
            Verdict::Ok,
        )
    };
    line(
        "irq.spread",
        subject,
        current,
        IRQ_SPREAD_RECOMMENDED,
        verdict,
        IRQ_SPREAD_WHY,
    )
}

pub fn irq_spread_unknown(subject: &str, reason: impl std::fmt::Display) -> Line {
    line(
        "irq.spread",
        subject,
        unknown_current(reason),
        IRQ_SPREAD_RECOMMENDED,
        Verdict::Unknown,
        IRQ_SPREAD_WHY,
    )
}

pub const IRQ_BALANCE_WHY: &str = "something must spread device IRQs: irqbalance, or pinning by \
    hand (perftune-style) with irqbalance stopped so it does not undo the pins";

/// irqbalance is advice, not a requirement: not running is a warning only when some IRQ
/// group is in fact concentrated on one CPU.
pub fn irq_balance(running: Result<bool, &ProbeError>, some_group_concentrated: bool) -> Line {
    let (current, verdict) = match running {
        Ok(true) => ("running".to_string(), Verdict::Ok),
        Ok(false) if some_group_concentrated => ("not running".to_string(), Verdict::Warn),
        Ok(false) => (
            "not running (IRQs not concentrated)".to_string(),
            Verdict::Ok,
        ),
        Err(error) => (unknown_current(error), Verdict::Unknown),
    };
    line(
        "irq.balance",
        "irqbalance",
        current,
        "running, or IRQs pinned by hand",
        verdict,
        IRQ_BALANCE_WHY,
    )
}

// ---------------------------------------------------------------------------------------------
// Memory and kernel

pub const THP_ENABLED_WHY: &str = "'always' backs every large allocation with huge pages: memory \
    bloat and khugepaged compaction stalls; Tessera's buffers are explicit";

pub fn thp_enabled(value: Result<&str, &ProbeError>) -> Line {
    let recommended = "madvise or never";
    let (current, verdict) = match value.map(parse::bracketed) {
        Ok(Some(choice @ ("madvise" | "never"))) => (choice.to_string(), Verdict::Ok),
        Ok(Some(choice @ "always")) => (choice.to_string(), Verdict::Warn),
        Ok(_) => (unknown_current("unrecognised value"), Verdict::Unknown),
        Err(error) => (unknown_current(error), Verdict::Unknown),
    };
    line(
        "thp.enabled",
        "host",
        current,
        recommended,
        verdict,
        THP_ENABLED_WHY,
    )
}

pub const THP_DEFRAG_WHY: &str = "'always' makes page faults compact memory synchronously, which \
    shows up as multi-millisecond stalls";

pub fn thp_defrag(value: Result<&str, &ProbeError>) -> Line {
    let recommended = "madvise, defer+madvise, defer or never";
    let (current, verdict) = match value.map(parse::bracketed) {
        Ok(Some(choice @ ("madvise" | "defer+madvise" | "defer" | "never"))) => {
            (choice.to_string(), Verdict::Ok)
        }
        Ok(Some(choice @ "always")) => (choice.to_string(), Verdict::Warn),
        Ok(_) => (unknown_current("unrecognised value"), Verdict::Unknown),
        Err(error) => (unknown_current(error), Verdict::Unknown),
    };
    line(
        "thp.defrag",
        "host",
        current,
        recommended,
        verdict,
        THP_DEFRAG_WHY,
    )
}

pub const IO_URING_DISABLED_WHY: &str = "Tessera's data path runs on io_uring; 1 allows it only \
    to root and io_uring_group, 2 disables it";

pub fn io_uring_disabled(value: Result<&str, &ProbeError>) -> Line {
    let (current, verdict) = match value {
        Ok(text) => match parse::decimal(text) {
            Some(0) => ("0".to_string(), Verdict::Ok),
            Some(1) => ("1".to_string(), Verdict::Warn),
            Some(n) => (n.to_string(), Verdict::Fail),
            None => (
                unknown_current(format!("not a number: {text}")),
                Verdict::Unknown,
            ),
        },
        // The sysctl arrived in Linux 6.6; before that io_uring cannot be switched off.
        Err(error) if error.is_missing() => ("absent (kernel < 6.6)".to_string(), Verdict::Ok),
        Err(error) => (unknown_current(error), Verdict::Unknown),
    };
    line(
        "kernel.io_uring_disabled",
        "host",
        current,
        "0",
        verdict,
        IO_URING_DISABLED_WHY,
    )
}

// ---------------------------------------------------------------------------------------------
// Sysctls with a numeric bound

/// Which side of the bound is good.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    AtLeast(u64),
    AtMost(u64),
}

/// A sysctl checked against a bound; `below` is the verdict for a value on the wrong side.
#[derive(Clone, Copy, Debug)]
pub struct SysctlRule {
    pub key: &'static str,
    pub bound: Bound,
    pub below: Verdict,
    pub why: &'static str,
}

/// The numeric sysctls, in report order.
pub const SYSCTL_RULES: &[SysctlRule] = &[
    SysctlRule {
        key: "net.core.somaxconn",
        bound: Bound::AtLeast(SOMAXCONN_MIN),
        below: Verdict::Warn,
        why: "caps every listen backlog; a short queue drops connections in client bursts",
    },
    SysctlRule {
        key: "net.ipv4.tcp_max_syn_backlog",
        bound: Bound::AtLeast(TCP_MAX_SYN_BACKLOG_MIN),
        below: Verdict::Warn,
        why: "half-open connections beyond it are dropped (or answered with SYN cookies)",
    },
    SysctlRule {
        key: "fs.file-max",
        bound: Bound::AtLeast(FILE_MAX_MIN),
        below: Verdict::Warn,
        why: "system-wide open file table; each connection and each open device file takes one",
    },
    SysctlRule {
        key: "fs.nr_open",
        bound: Bound::AtLeast(NR_OPEN_MIN),
        below: Verdict::Fail,
        why: "no process can raise RLIMIT_NOFILE above it; below the unit's LimitNOFILE, \
              systemd fails to start the service",
    },
    SysctlRule {
        key: "vm.swappiness",
        bound: Bound::AtMost(SWAPPINESS_MAX),
        below: Verdict::Warn,
        why: "a high value swaps out the index and connection state to keep page cache that \
              O_DIRECT I/O never uses",
    },
];

pub fn sysctl(rule: &SysctlRule, value: Result<&str, &ProbeError>) -> Line {
    let recommended = match rule.bound {
        Bound::AtLeast(min) => format!(">= {min}"),
        Bound::AtMost(max) => format!("<= {max}"),
    };
    let (current, verdict) = match value {
        Ok(text) => match parse::decimal(text) {
            Some(n) => {
                let good = match rule.bound {
                    Bound::AtLeast(min) => n >= min,
                    Bound::AtMost(max) => n <= max,
                };
                (n.to_string(), if good { Verdict::Ok } else { rule.below })
            }
            None => (
                unknown_current(format!("not a number: {text}")),
                Verdict::Unknown,
            ),
        },
        Err(error) => (unknown_current(error), Verdict::Unknown),
    };
    line(rule.key, "host", current, recommended, verdict, rule.why)
}

// ---------------------------------------------------------------------------------------------
// Resource limits of this process

/// A resource limit value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    Finite(u64),
    Unlimited,
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Limit::Finite(n) => write!(f, "{n}"),
            Limit::Unlimited => f.write_str("unlimited"),
        }
    }
}

pub const NOFILE_WHY: &str = "every connection and device file is a descriptor; this is the limit \
    of the process running check-host, the service's comes from LimitNOFILE in its unit";

/// `which` is `"soft"` or `"hard"`.
pub fn nofile(which: &str, limit: Limit) -> Line {
    let verdict = match limit {
        Limit::Unlimited => Verdict::Ok,
        Limit::Finite(n) if n >= NOFILE_MIN => Verdict::Ok,
        Limit::Finite(_) => Verdict::Warn,
    };
    line(
        "rlimit.nofile",
        which,
        limit.to_string(),
        format!(">= {NOFILE_MIN}"),
        verdict,
        NOFILE_WHY,
    )
}

pub const MEMLOCK_WHY: &str = "io_uring registered buffers are charged to RLIMIT_MEMLOCK (unless \
    CAP_IPC_LOCK); the unit sets LimitMEMLOCK=infinity";

pub fn memlock(which: &str, limit: Limit) -> Line {
    let verdict = match limit {
        Limit::Unlimited => Verdict::Ok,
        Limit::Finite(_) => Verdict::Warn,
    };
    line(
        "rlimit.memlock",
        which,
        limit.to_string(),
        "unlimited",
        verdict,
        MEMLOCK_WHY,
    )
}

// ---------------------------------------------------------------------------------------------
// Block devices

/// What a disk is, which decides the queue recommendations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskKind {
    Nvme,
    /// Non-rotational but not NVMe: SATA/SAS SSD, or a virtual disk that says so.
    Flash,
    Rotational,
}

pub fn disk_kind(name: &str, rotational: Option<u64>) -> DiskKind {
    if name.starts_with("nvme") {
        DiskKind::Nvme
    } else if rotational == Some(1) {
        DiskKind::Rotational
    } else {
        DiskKind::Flash
    }
}

/// The queue attributes checked for each disk, in report order: (check name, sysfs
/// attribute under `queue/`).
pub const QUEUE_CHECKS: &[(&str, &str)] = &[
    ("block.scheduler", "scheduler"),
    ("block.nr_requests", "nr_requests"),
    ("block.read_ahead_kb", "read_ahead_kb"),
    ("block.rotational", "rotational"),
    ("block.logical_block_size", "logical_block_size"),
    ("block.write_cache", "write_cache"),
    ("block.rq_affinity", "rq_affinity"),
    ("block.nomerges", "nomerges"),
];

/// The line for one queue attribute of one disk. `check` is a name from `QUEUE_CHECKS`.
pub fn queue(check: &str, kind: DiskKind, subject: &str, value: Result<&str, &ProbeError>) -> Line {
    let (recommended, why) = queue_advice(check, kind);
    let (current, verdict) = match value {
        Ok(text) => {
            let verdict = queue_verdict(check, kind, text);
            let shown = if check == "block.scheduler" {
                parse::bracketed(text).unwrap_or(text)
            } else {
                text
            };
            (shown.to_string(), verdict)
        }
        Err(error) => (unknown_current(error), Verdict::Unknown),
    };
    line(check, subject, current, recommended, verdict, why)
}

fn queue_advice(check: &str, kind: DiskKind) -> (String, &'static str) {
    match check {
        "block.scheduler" => (
            match kind {
                DiskKind::Nvme => "none",
                DiskKind::Flash => "none or mq-deadline",
                DiskKind::Rotational => "mq-deadline",
            }
            .to_string(),
            "flash reorders internally, so a kernel scheduler only adds a lock and latency; a spinning \
             disk still needs mq-deadline",
        ),
        "block.nr_requests" => (
            format!(">= {NR_REQUESTS_MIN}"),
            "requests the block layer queues per hardware queue; too few throttles deep queues",
        ),
        "block.read_ahead_kb" => (
            format!("<= {READ_AHEAD_KB_MAX}"),
            "O_DIRECT skips read-ahead; for the buffered reads left, large read-ahead wastes bandwidth",
        ),
        "block.rotational" => (
            "0".to_string(),
            "Tessera is tuned for flash; 1 is a spinning disk or a virtual disk that claims to be",
        ),
        "block.logical_block_size" => (
            format!("power of two <= {IO_ALIGN_BYTES}"),
            "Tessera issues 4096-byte-aligned direct I/O; a larger block size would misalign it",
        ),
        "block.write_cache" => (
            "as the device reports".to_string(),
            "write back: fsync sends cache flushes; never force write through on a drive with a \
             volatile cache",
        ),
        "block.rq_affinity" => (
            RQ_AFFINITY.to_string(),
            "2 completes each request on the CPU that submitted it, where its executor waits",
        ),
        _ => (
            match kind {
                DiskKind::Rotational => "0".to_string(),
                _ => NOMERGES_FLASH.to_string(),
            },
            "flash gains nothing from merging, so 2 skips the merge lookup on every request; a \
             spinning disk needs merges (0)",
        ),
    }
}

fn queue_verdict(check: &str, kind: DiskKind, text: &str) -> Verdict {
    let number = parse::decimal(text);
    let judge = |good: bool| if good { Verdict::Ok } else { Verdict::Warn };
    match (check, number) {
        ("block.scheduler", _) => match (kind, parse::bracketed(text)) {
            (_, None) => Verdict::Unknown,
            (DiskKind::Nvme, Some(s)) => judge(s == "none"),
            (DiskKind::Flash, Some(s)) => judge(s == "none" || s == "mq-deadline"),
            (DiskKind::Rotational, Some(s)) => judge(s != "none"),
        },
        ("block.write_cache", _) => match text {
            "write back" | "write through" => Verdict::Ok,
            _ => Verdict::Unknown,
        },
        (_, None) => Verdict::Unknown,
        ("block.nr_requests", Some(n)) => judge(n >= NR_REQUESTS_MIN),
        ("block.read_ahead_kb", Some(n)) => judge(n <= READ_AHEAD_KB_MAX),
        ("block.rotational", Some(n)) => judge(n == 0),
        ("block.logical_block_size", Some(n)) => {
            if n.is_power_of_two() && n <= IO_ALIGN_BYTES {
                Verdict::Ok
            } else {
                Verdict::Fail
            }
        }
        ("block.rq_affinity", Some(n)) => judge(n == RQ_AFFINITY),
        (_, Some(n)) => match kind {
            DiskKind::Rotational => judge(n == 0),
            _ => judge(n == NOMERGES_FLASH),
        },
    }
}

/// Every queue check for a disk that could not be found, so the table still names each one.
pub fn queue_unknown(subject: &str, reason: &str) -> Vec<Line> {
    QUEUE_CHECKS
        .iter()
        .map(|(check, _)| {
            let (recommended, why) = queue_advice(check, DiskKind::Nvme);
            line(
                check,
                subject,
                unknown_current(reason),
                recommended,
                Verdict::Unknown,
                why,
            )
        })
        .collect()
}

pub const DEVICE_BACKING_WHY: &str = "the queue settings that matter are those of the whole \
    disks under the path (a partition's parent, a dm/md stack's members)";

/// `found` is `(node, disks)` on success.
pub fn device_backing(subject: &str, found: Result<(&str, &[String]), &str>) -> Line {
    let recommended = "whole disks found in sysfs";
    let (current, verdict) = match found {
        Ok((node, disks)) if disks.len() == 1 && disks[0] == node => {
            (format!("/dev/{node}"), Verdict::Ok)
        }
        Ok((node, disks)) => {
            let names: Vec<String> = disks.iter().map(|d| format!("/dev/{d}")).collect();
            (format!("/dev/{node} on {}", names.join(", ")), Verdict::Ok)
        }
        Err(reason) => (unknown_current(reason), Verdict::Unknown),
    };
    line(
        "device.backing",
        subject,
        current,
        recommended,
        verdict,
        DEVICE_BACKING_WHY,
    )
}

// ---------------------------------------------------------------------------------------------
// Direct I/O

pub const DIRECT_IO_WHY: &str = "Tessera reads and writes data with O_DIRECT in 4096-byte-aligned \
    blocks, bypassing the page cache";

pub fn direct_io(subject: &str, outcome: &DirectIo) -> Line {
    let recommended = format!("supported, alignment <= {IO_ALIGN_BYTES}");
    let (current, verdict) = match outcome {
        DirectIo::Supported {
            alignment, tmpfs, ..
        } => {
            let text = format!("supported, {}", describe_alignment(alignment));
            if !alignment_fits(alignment) {
                (text, Verdict::Fail)
            } else if *tmpfs {
                (
                    format!("{text}; tmpfs accepts O_DIRECT but is not a real device"),
                    Verdict::Warn,
                )
            } else {
                (text, Verdict::Ok)
            }
        }
        DirectIo::Unsupported { reason } => (format!("unsupported: {reason}"), Verdict::Fail),
        DirectIo::Failed { reason } => (format!("probe failed: {reason}"), Verdict::Fail),
        DirectIo::Inconclusive { reason } => (unknown_current(reason), Verdict::Unknown),
    };
    line(
        "direct_io",
        subject,
        current,
        recommended,
        verdict,
        DIRECT_IO_WHY,
    )
}

fn alignment_fits(alignment: &Alignment) -> bool {
    let fits =
        |n: u32| u64::from(n) <= IO_ALIGN_BYTES && IO_ALIGN_BYTES.is_multiple_of(u64::from(n));
    alignment.offset_bytes != 0
        && fits(alignment.offset_bytes)
        && alignment.memory_bytes.is_none_or(|m| m == 0 || fits(m))
}

fn describe_alignment(alignment: &Alignment) -> String {
    let memory = match alignment.memory_bytes {
        Some(m) => format!("{m} B"),
        None => "not reported".to_string(),
    };
    format!(
        "offset align {} B, memory align {memory} ({})",
        alignment.offset_bytes,
        alignment.source.label()
    )
}

#[cfg(test)]
mod tests;
