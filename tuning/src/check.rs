//! `check_host`: runs every probe through its rule, in report order.
//!
//! Owns: the order of the report and the glue from probes to rules (which CPUs, which IRQ
//! groups, which disks back which `--device`). Must not: decide verdicts (that is `rules`) or
//! write to the host; the only write is the O_DIRECT probe file of `direct_io`, created and
//! unlinked inside a `--device` directory. Invariants: every check in `CHECK_NAMES` except the
//! per-device ones appears at least once; each `--device` gets a `device.backing` line, the
//! eight `block.*` lines (for its disks, or as `Unknown` for the path when no disk resolves),
//! and a `direct_io` line; a disk shared by two devices is reported once.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use crate::constants::DEVICES_MAX;
use crate::direct_io;
use crate::parse::{self, Interrupts, IrqLine};
use crate::probe::{Backing, DevNum, Disk, ProbeError, ProbeErrorKind, SysRoot};
use crate::report::{Line, Report, Verdict};
use crate::rules::{self, Limit};
use crate::CheckOptions;

/// Reads the live settings under `opts.sys_root` and the `--device` paths and compares each
/// with the recommendation. Changes nothing on the host.
///
/// Panics if `opts.devices` holds more than `DEVICES_MAX` paths (`run_cli` refuses those).
pub fn check_host(opts: &CheckOptions) -> Report {
    assert!(
        opts.devices.len() <= DEVICES_MAX,
        "at most {DEVICES_MAX} devices"
    );
    let root = SysRoot::new(&opts.sys_root);
    let mut lines = Vec::new();
    cpu_lines(&root, &mut lines);
    irq_lines(&root, &mut lines);
    kernel_lines(&root, &mut lines);
    rlimit_lines(&mut lines);
    let mut reported_disks = BTreeSet::new();
    for device in &opts.devices {
        device_lines(&root, device, &mut reported_disks, &mut lines);
    }
    Report { lines }
}

fn cpu_lines(root: &SysRoot, lines: &mut Vec<Line>) {
    let cpus = match root.cpus() {
        Ok(cpus) if !cpus.is_empty() => cpus,
        Ok(_) => {
            lines.push(rules::governor("cpu*", Err(&no_cpus(root))));
            return;
        }
        Err(error) => {
            lines.push(rules::governor("cpu*", Err(&error)));
            return;
        }
    };
    // Errors are grouped by kind so that, say, 64 CPUs missing the same file make one line.
    let governors: Vec<(u32, Result<String, _>)> = cpus
        .iter()
        .map(|cpu| (*cpu, root.governor(*cpu).map_err(|e| e.kind)))
        .collect();
    let missing = |g: &Result<String, _>| matches!(g, Err(ProbeErrorKind::Missing));
    if governors.iter().all(|(_, governor)| missing(governor)) {
        let every: Vec<(u32, ())> = cpus.iter().map(|cpu| (*cpu, ())).collect();
        let subject: Vec<String> = parse::cpu_runs(&every).into_iter().map(|r| r.0).collect();
        lines.push(rules::governor_absent(&subject.join(",")));
        return;
    }
    for (subject, governor) in parse::cpu_runs(&governors) {
        let error;
        let value = match &governor {
            Ok(name) => Ok(name.as_str()),
            Err(kind) => {
                let relative = format!("sys/devices/system/cpu/{subject}/cpufreq/scaling_governor");
                error = ProbeError {
                    path: root.path(&relative),
                    kind: kind.clone(),
                };
                Err(&error)
            }
        };
        lines.push(rules::governor(&subject, value));
    }
}

fn no_cpus(root: &SysRoot) -> ProbeError {
    ProbeError {
        path: root.path("sys/devices/system/cpu"),
        kind: ProbeErrorKind::Malformed("no cpuN entries".to_string()),
    }
}

fn irq_lines(root: &SysRoot, lines: &mut Vec<Line>) {
    let irqbalance = root.process_running("irqbalance");
    let spread_lines = match root.interrupts() {
        Ok(interrupts) => {
            let mut spread = nvme_spread_lines(&interrupts);
            spread.extend(net_spread_lines(root, &interrupts));
            spread
        }
        Err(error) => vec![
            rules::irq_spread_unknown("nvme", &error),
            rules::irq_spread_unknown("net", &error),
        ],
    };
    let concentrated = spread_lines.iter().any(|l| l.verdict == Verdict::Warn);
    lines.push(rules::irq_balance(
        irqbalance.as_ref().copied(),
        concentrated,
    ));
    lines.extend(spread_lines);
}

/// One line per NVMe controller, from its I/O queue IRQs (`nvme0q1`...; the admin queue
/// `q0` carries no data and is left out).
fn nvme_spread_lines(interrupts: &Interrupts) -> Vec<Line> {
    let mut controllers: BTreeMap<String, Vec<&IrqLine>> = BTreeMap::new();
    for irq in interrupts.lines.iter().filter(|l| l.number().is_some()) {
        let controller = irq.handlers().find_map(|handler| {
            parse::nvme_queue(handler)
                .filter(|(_, queue)| *queue > 0)
                .map(|(controller, _)| controller.to_string())
        });
        if let Some(controller) = controller {
            controllers.entry(controller).or_default().push(irq);
        }
    }
    if controllers.is_empty() {
        return vec![rules::irq_spread_unknown(
            "nvme",
            "no NVMe queue IRQs in /proc/interrupts",
        )];
    }
    controllers
        .iter()
        .map(|(controller, irqs)| {
            let spread = rules::irq_spread(&interrupts.cpus, irqs);
            rules::irq_spread_line(controller, &spread)
        })
        .collect()
}

/// One line per network interface that has a device, from that device's MSI vectors.
fn net_spread_lines(root: &SysRoot, interrupts: &Interrupts) -> Vec<Line> {
    let interfaces = match root.net_irqs() {
        Ok(interfaces) if !interfaces.is_empty() => interfaces,
        Ok(_) => {
            return vec![rules::irq_spread_unknown(
                "net",
                "no network interface with MSI IRQs",
            )]
        }
        Err(error) => return vec![rules::irq_spread_unknown("net", &error)],
    };
    interfaces
        .iter()
        .map(|(name, numbers)| {
            let numbers: BTreeSet<u32> = numbers.iter().copied().collect();
            let irqs: Vec<&IrqLine> = interrupts
                .lines
                .iter()
                .filter(|l| l.number().is_some_and(|n| numbers.contains(&n)))
                .collect();
            rules::irq_spread_line(name, &rules::irq_spread(&interrupts.cpus, &irqs))
        })
        .collect()
}

fn kernel_lines(root: &SysRoot, lines: &mut Vec<Line>) {
    let thp = "sys/kernel/mm/transparent_hugepage";
    let enabled = root.read_value(&format!("{thp}/enabled"));
    lines.push(rules::thp_enabled(enabled.as_deref()));
    let defrag = root.read_value(&format!("{thp}/defrag"));
    lines.push(rules::thp_defrag(defrag.as_deref()));
    let io_uring = root.sysctl("kernel.io_uring_disabled");
    lines.push(rules::io_uring_disabled(io_uring.as_deref()));
    for rule in rules::SYSCTL_RULES {
        let value = root.sysctl(rule.key);
        lines.push(rules::sysctl(rule, value.as_deref()));
    }
}

/// Resource limits are read from this process, not from `sys_root`: they are per process.
fn rlimit_lines(lines: &mut Vec<Line>) {
    match rlimit(libc::RLIMIT_NOFILE) {
        Ok((soft, hard)) => {
            lines.push(rules::nofile("soft", soft));
            lines.push(rules::nofile("hard", hard));
        }
        Err(error) => lines.push(rlimit_unknown("rlimit.nofile", &error, rules::NOFILE_WHY)),
    }
    match rlimit(libc::RLIMIT_MEMLOCK) {
        Ok((soft, _)) => lines.push(rules::memlock("soft", soft)),
        Err(error) => lines.push(rlimit_unknown("rlimit.memlock", &error, rules::MEMLOCK_WHY)),
    }
}

fn rlimit_unknown(check: &str, error: &std::io::Error, why: &str) -> Line {
    let current = rules::unknown_current(format!("getrlimit: {error}"));
    rules::line(check, "soft", current, "-", Verdict::Unknown, why)
}

fn rlimit(resource: libc::__rlimit_resource_t) -> std::io::Result<(Limit, Limit)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` through a valid pointer and reads nothing else.
    let rc = unsafe { libc::getrlimit(resource, &mut limit) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let convert = |value: libc::rlim_t| {
        if value == libc::RLIM_INFINITY {
            Limit::Unlimited
        } else {
            Limit::Finite(value)
        }
    };
    Ok((convert(limit.rlim_cur), convert(limit.rlim_max)))
}

fn device_lines(
    root: &SysRoot,
    device: &Path,
    reported_disks: &mut BTreeSet<String>,
    lines: &mut Vec<Line>,
) {
    let subject = device.display().to_string();
    match backing_of(root, device) {
        Ok(backing) => {
            let names: Vec<String> = backing.disks.iter().map(|d| d.name.clone()).collect();
            lines.push(rules::device_backing(
                &subject,
                Ok((backing.node.as_str(), names.as_slice())),
            ));
            for disk in &backing.disks {
                if reported_disks.insert(disk.name.clone()) {
                    disk_lines(root, disk, lines);
                }
            }
        }
        Err(reason) => {
            lines.push(rules::device_backing(&subject, Err(&reason)));
            lines.extend(rules::queue_unknown(&subject, &reason));
        }
    }
    lines.push(rules::direct_io(&subject, &direct_io::probe(device)));
}

/// The disks under a `--device`: a block device names itself (`st_rdev`); anything else is
/// on the file system of `st_dev`.
fn backing_of(root: &SysRoot, device: &Path) -> Result<Backing, String> {
    let metadata = fs::metadata(device).map_err(|e| format!("stat: {e}"))?;
    let number = if metadata.file_type().is_block_device() {
        metadata.rdev()
    } else {
        metadata.dev()
    };
    let dev = DevNum::from_dev(number);
    let backing = root.backing_disks(dev).map_err(|error| {
        if error.is_missing() {
            format!(
                "no block device {dev} in sysfs (tmpfs, overlay, btrfs or a network file system?)"
            )
        } else {
            error.to_string()
        }
    })?;
    assert!(!backing.disks.is_empty(), "a resolved node has a disk");
    Ok(backing)
}

fn disk_lines(root: &SysRoot, disk: &Disk, lines: &mut Vec<Line>) {
    let subject = format!("/dev/{}", disk.name);
    let rotational = root
        .queue_value(disk, "rotational")
        .ok()
        .and_then(|text| parse::decimal(&text));
    let kind = rules::disk_kind(&disk.name, rotational);
    for (check, attribute) in rules::QUEUE_CHECKS {
        let value = root.queue_value(disk, attribute);
        lines.push(rules::queue(check, kind, &subject, value.as_deref()));
    }
}
