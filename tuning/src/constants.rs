//! Limits on every read and loop in the host checker.
//!
//! Owns: how much the checker reads from `/proc` and `/sys`, and how many items any loop walks.
//! Must not: hold recommended tuning values; those live in `rules`, next to the verdict logic
//! that uses them. Invariant: every loop and every file read in this crate is bounded by one of
//! these constants, so pointing the checker at a strange root cannot make it run away.

/// Largest single `/proc/sys` or `/sys` value file that is read, in bytes. A value is one short
/// line; the cap guards against a fake root that holds a huge regular file instead.
pub const VALUE_FILE_BYTES_MAX: u64 = 64 * 1024;

/// Largest `/proc/interrupts` that is read, in bytes. A 512-CPU host with ~2,000 IRQ lines
/// prints about 12 MiB.
pub const INTERRUPTS_FILE_BYTES_MAX: u64 = 32 * 1024 * 1024;

/// Most CPUs considered (the kernel's own `NR_CPUS` ceiling).
pub const CPUS_MAX: usize = 8192;

/// Most lines parsed out of `/proc/interrupts`.
pub const INTERRUPT_LINES_MAX: usize = 65_536;

/// Most `/proc` entries scanned when looking for a running process (the kernel's
/// `PID_MAX_LIMIT` of 4,194,304 plus the non-PID entries).
pub const PROC_ENTRIES_MAX: usize = 4_194_304 + 1024;

/// Most network interfaces whose IRQs are examined.
pub const NET_INTERFACES_MAX: usize = 1024;

/// Most MSI/MSI-X vectors read for one device (the PCI spec caps MSI-X at 2,048).
pub const MSI_IRQS_PER_DEVICE_MAX: usize = 2048;

/// Most `--device` paths in one run.
pub const DEVICES_MAX: usize = 256;

/// Most member disks reported for one `--device` (a device-mapper or md stack).
pub const DISKS_PER_DEVICE_MAX: usize = 64;

/// Deepest block stack walked: dm over md over a partition is three levels.
pub const STACK_DEPTH_MAX: usize = 4;

/// Most command-line arguments accepted (`--device PATH` takes two).
pub const CLI_ARGS_MAX: usize = 2 * DEVICES_MAX + 8;

/// Size and alignment of the one O_DIRECT write and read the probe does, in bytes. It is the
/// I/O unit Tessera aligns its data path to.
pub const DIRECT_IO_PROBE_BYTES: usize = 4096;

/// Widest a table column is padded to; longer cells overflow instead of widening every row.
pub const TABLE_COLUMN_WIDTH_MAX: usize = 48;

const _: () = assert!(CLI_ARGS_MAX >= 2 * DEVICES_MAX);
const _: () = assert!(DIRECT_IO_PROBE_BYTES.is_power_of_two());
const _: () = assert!(DIRECT_IO_PROBE_BYTES >= 512);
const _: () = assert!(VALUE_FILE_BYTES_MAX < INTERRUPTS_FILE_BYTES_MAX);
const _: () = assert!(DISKS_PER_DEVICE_MAX >= STACK_DEPTH_MAX);
