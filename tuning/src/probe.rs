//! Reads live settings from `/proc` and `/sys` under an injectable root.
//!
//! Owns: every path the checker reads (`SysRoot` joins them onto `/` in production and onto a
//! temp dir in tests) and the walk from a device number to the disks behind it. Must not:
//! write anything, judge a value (that is `rules`), or read more than the limits in
//! `constants` allow. Invariants: every read is size-bounded, every directory walk is
//! count-bounded, and an unreadable file is a `ProbeError` value, never a panic.

use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::constants::{
    CPUS_MAX, DISKS_PER_DEVICE_MAX, INTERRUPTS_FILE_BYTES_MAX, MSI_IRQS_PER_DEVICE_MAX,
    NET_INTERFACES_MAX, PROC_ENTRIES_MAX, STACK_DEPTH_MAX, VALUE_FILE_BYTES_MAX,
};
use crate::parse::{self, Interrupts};

/// Why a value could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeError {
    pub path: PathBuf,
    pub kind: ProbeErrorKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeErrorKind {
    /// The file does not exist (the kernel lacks the feature, or a VM hides it).
    Missing,
    /// Larger than the read limit for its kind.
    TooLarge,
    /// Not valid UTF-8 text.
    NotText,
    /// Present but not in the expected format.
    Malformed(String),
    /// Any other I/O error.
    Io(String),
}

impl ProbeError {
    fn io(path: &Path, error: &io::Error) -> ProbeError {
        let kind = match error.kind() {
            io::ErrorKind::NotFound => ProbeErrorKind::Missing,
            _ => ProbeErrorKind::Io(error.to_string()),
        };
        ProbeError {
            path: path.to_path_buf(),
            kind,
        }
    }

    fn malformed(path: &Path, what: impl Into<String>) -> ProbeError {
        ProbeError {
            path: path.to_path_buf(),
            kind: ProbeErrorKind::Malformed(what.into()),
        }
    }

    pub fn is_missing(&self) -> bool {
        self.kind == ProbeErrorKind::Missing
    }
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match &self.kind {
            ProbeErrorKind::Missing => write!(f, "{path} missing"),
            ProbeErrorKind::TooLarge => write!(f, "{path} too large"),
            ProbeErrorKind::NotText => write!(f, "{path} not text"),
            ProbeErrorKind::Malformed(what) => write!(f, "{path} malformed: {what}"),
            ProbeErrorKind::Io(error) => write!(f, "{path}: {error}"),
        }
    }
}

/// A block device number, as in `st_dev` or `st_rdev`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DevNum {
    pub major: u32,
    pub minor: u32,
}

impl DevNum {
    pub fn from_dev(dev: u64) -> DevNum {
        DevNum {
            major: libc::major(dev),
            minor: libc::minor(dev),
        }
    }
}

impl fmt::Display for DevNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.major, self.minor)
    }
}

/// A whole disk (not a partition) whose queue settings apply to a `--device`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Disk {
    /// Kernel name, `nvme0n1`.
    pub name: String,
    /// Its sysfs directory, holding `queue/`.
    pub sys_dir: PathBuf,
}

/// What a device number resolves to: the sysfs node it names, and the disks under it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backing {
    /// Kernel name of the node itself: a partition (`nvme0n1p1`), a stack (`dm-0`) or a disk.
    pub node: String,
    /// The leaf disks, sorted and without duplicates.
    pub disks: Vec<Disk>,
}

/// The root that `/proc` and `/sys` are read under: `/` normally, a temp dir in tests.
#[derive(Clone, Debug)]
pub struct SysRoot {
    root: PathBuf,
}

impl SysRoot {
    pub fn new(root: impl Into<PathBuf>) -> SysRoot {
        SysRoot { root: root.into() }
    }

    /// `relative` (no leading `/`) joined onto the root.
    pub fn path(&self, relative: &str) -> PathBuf {
        assert!(!relative.starts_with('/'), "relative path: {relative}");
        self.root.join(relative)
    }

    /// One value file, trimmed.
    pub fn read_value(&self, relative: &str) -> Result<String, ProbeError> {
        let path = self.path(relative);
        read_bounded(&path, VALUE_FILE_BYTES_MAX).map(|text| text.trim().to_string())
    }

    /// A sysctl by its dotted name: `net.core.somaxconn` reads `proc/sys/net/core/somaxconn`.
    pub fn sysctl(&self, key: &str) -> Result<String, ProbeError> {
        self.read_value(&format!("proc/sys/{}", key.replace('.', "/")))
    }

    pub fn interrupts(&self) -> Result<Interrupts, ProbeError> {
        let path = self.path("proc/interrupts");
        let text = read_bounded(&path, INTERRUPTS_FILE_BYTES_MAX)?;
        parse::interrupts(&text).map_err(|error| ProbeError::malformed(&path, error.to_string()))
    }

    /// The CPUs listed under `sys/devices/system/cpu`, ascending.
    pub fn cpus(&self) -> Result<Vec<u32>, ProbeError> {
        let names = self.dir_names("sys/devices/system/cpu", CPUS_MAX + 64)?;
        let mut cpus: Vec<u32> = names.iter().filter_map(|n| parse::cpu_dir_id(n)).collect();
        cpus.sort_unstable();
        cpus.truncate(CPUS_MAX);
        Ok(cpus)
    }

    pub fn governor(&self, cpu: u32) -> Result<String, ProbeError> {
        self.read_value(&format!(
            "sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_governor"
        ))
    }

    /// Whether a process whose `comm` is `comm` is running, by scanning `proc/<pid>/comm`.
    pub fn process_running(&self, comm: &str) -> Result<bool, ProbeError> {
        let names = self.dir_names("proc", PROC_ENTRIES_MAX)?;
        let found = names
            .iter()
            .filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
            // A process that exits mid-scan leaves an unreadable entry; skip it.
            .filter_map(|pid| self.read_value(&format!("proc/{pid}/comm")).ok())
            .any(|name| name == comm);
        Ok(found)
    }

    /// Each network interface backed by a device, with the MSI IRQ numbers of that device.
    /// Virtual interfaces (`lo`, bridges, veth) have no device and are left out. A virtio NIC
    /// keeps its vectors on the PCI parent of `device`, so that is tried second.
    pub fn net_irqs(&self) -> Result<Vec<(String, Vec<u32>)>, ProbeError> {
        let mut interfaces = self.dir_names("sys/class/net", NET_INTERFACES_MAX)?;
        interfaces.sort();
        let mut out = Vec::new();
        for name in interfaces {
            let candidates = [
                format!("sys/class/net/{name}/device/msi_irqs"),
                format!("sys/class/net/{name}/device/../msi_irqs"),
            ];
            let Some(dir) = candidates.iter().find(|c| self.path(c).is_dir()) else {
                continue;
            };
            let mut irqs: Vec<u32> = self
                .dir_names(dir, MSI_IRQS_PER_DEVICE_MAX)?
                .iter()
                .filter_map(|n| n.parse().ok())
                .collect();
            irqs.sort_unstable();
            out.push((name, irqs));
        }
        Ok(out)
    }

    /// Resolves a device number through `sys/dev/block/MAJ:MIN` to the whole disks under it:
    /// a partition walks up to its disk, and a device-mapper or md node walks down its
    /// `slaves/` to the disks that hold the data.
    pub fn backing_disks(&self, dev: DevNum) -> Result<Backing, ProbeError> {
        let link = self.path(&format!("sys/dev/block/{dev}"));
        let node_dir = fs::canonicalize(&link).map_err(|e| ProbeError::io(&link, &e))?;
        let node = dir_name(&node_dir)?;
        let mut disks = Vec::new();
        self.collect_disks(&node_dir, 0, &mut disks)?;
        disks.sort();
        disks.dedup();
        Ok(Backing { node, disks })
    }

    fn collect_disks(
        &self,
        dir: &Path,
        depth: usize,
        out: &mut Vec<Disk>,
    ) -> Result<(), ProbeError> {
        if depth > STACK_DEPTH_MAX {
            return Err(ProbeError::malformed(dir, "block stack too deep"));
        }
        let disk_dir = match dir.parent() {
            Some(parent) if dir.join("partition").is_file() => parent.to_path_buf(),
            _ => dir.to_path_buf(),
        };
        let slaves_dir = disk_dir.join("slaves");
        let slaves = match fs::read_dir(&slaves_dir) {
            Ok(entries) => bounded_names(entries, DISKS_PER_DEVICE_MAX, &slaves_dir)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(ProbeError::io(&slaves_dir, &e)),
        };
        if slaves.is_empty() {
            if out.len() >= DISKS_PER_DEVICE_MAX {
                return Err(ProbeError::malformed(dir, "too many member disks"));
            }
            let name = dir_name(&disk_dir)?;
            out.push(Disk {
                name,
                sys_dir: disk_dir,
            });
            return Ok(());
        }
        for slave in slaves {
            let link = slaves_dir.join(&slave);
            let slave_dir = fs::canonicalize(&link).map_err(|e| ProbeError::io(&link, &e))?;
            self.collect_disks(&slave_dir, depth + 1, out)?;
        }
        Ok(())
    }

    /// One `queue/` attribute of a disk, trimmed.
    pub fn queue_value(&self, disk: &Disk, attribute: &str) -> Result<String, ProbeError> {
        let path = disk.sys_dir.join("queue").join(attribute);
        read_bounded(&path, VALUE_FILE_BYTES_MAX).map(|text| text.trim().to_string())
    }

    fn dir_names(&self, relative: &str, max: usize) -> Result<Vec<String>, ProbeError> {
        let path = self.path(relative);
        let entries = fs::read_dir(&path).map_err(|e| ProbeError::io(&path, &e))?;
        bounded_names(entries, max, &path)
    }
}

/// Up to `max` entry names of a directory; names that are not UTF-8 are skipped, since no
/// kernel object this crate looks for has one.
fn bounded_names(entries: fs::ReadDir, max: usize, path: &Path) -> Result<Vec<String>, ProbeError> {
    let mut names = Vec::new();
    for entry in entries.take(max) {
        let entry = entry.map_err(|e| ProbeError::io(path, &e))?;
        if let Ok(name) = entry.file_name().into_string() {
            names.push(name);
        }
    }
    Ok(names)
}

fn dir_name(dir: &Path) -> Result<String, ProbeError> {
    dir.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .ok_or_else(|| ProbeError::malformed(dir, "no UTF-8 name"))
}

/// Reads at most `max` bytes of text; one byte more means the file is too large.
fn read_bounded(path: &Path, max: u64) -> Result<String, ProbeError> {
    let file = fs::File::open(path).map_err(|e| ProbeError::io(path, &e))?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ProbeError::io(path, &e))?;
    if bytes.len() as u64 > max {
        return Err(ProbeError {
            path: path.to_path_buf(),
            kind: ProbeErrorKind::TooLarge,
        });
    }
    String::from_utf8(bytes).map_err(|_| ProbeError {
        path: path.to_path_buf(),
        kind: ProbeErrorKind::NotText,
    })
}
