//! `check_host` against the real host: `/` as the root and a real directory under
//! `std::env::temp_dir()` as the device. Verdicts depend on the machine, so these tests assert
//! what must hold anywhere: every check is reported, and O_DIRECT works on a disk file system
//! with a nonzero alignment, leaving no file behind.

mod common;

use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use common::{dev_of, TempDir};
use tessera_tuning::direct_io::{self, DirectIo, Target};
use tessera_tuning::probe::SysRoot;
use tessera_tuning::{check_host, CheckOptions, Verdict, CHECK_NAMES};

fn live(devices: &[PathBuf]) -> tessera_tuning::Report {
    check_host(&CheckOptions {
        devices: devices.to_vec(),
        json: false,
        sys_root: PathBuf::from("/"),
    })
}

fn is_tmpfs(path: &Path) -> bool {
    matches!(
        direct_io::probe(path),
        DirectIo::Supported { tmpfs: true, .. }
    )
}

#[test]
fn live_report_names_every_check_and_direct_io_works() {
    let data = TempDir::new("live");
    let device = data.path().to_path_buf();
    let report = live(std::slice::from_ref(&device));
    let table = report.render_table();
    eprintln!("{table}");
    for name in CHECK_NAMES {
        assert!(table.contains(name), "table lacks {name}:\n{table}");
    }
    let subject = device.display().to_string();
    let direct: Vec<_> = report
        .lines
        .iter()
        .filter(|l| l.check == "direct_io" && l.subject == subject)
        .collect();
    assert_eq!(direct.len(), 1);
    let line = direct[0];
    assert!(
        line.current.starts_with("supported, offset align "),
        "{line:?}"
    );
    let want = if is_tmpfs(&device) {
        Verdict::Warn
    } else {
        Verdict::Ok
    };
    assert_eq!(line.verdict, want, "{line:?}");
    // The probe file was unlinked: the directory is as empty as it was made.
    let left: Vec<_> = fs::read_dir(&device).expect("read dir").collect();
    assert!(left.is_empty(), "probe left {left:?}");
    let json = report.render_json();
    assert_eq!(json.matches("\"check\": ").count(), report.lines.len());
}

#[test]
fn direct_io_probe_reports_a_nonzero_alignment() {
    let data = TempDir::new("probe");
    match direct_io::probe(data.path()) {
        DirectIo::Supported {
            target, alignment, ..
        } => {
            assert_eq!(target, Target::Directory);
            assert!(alignment.offset_bytes > 0, "{alignment:?}");
            assert!(alignment.offset_bytes.is_power_of_two(), "{alignment:?}");
            assert!(alignment.offset_bytes <= 4096, "{alignment:?}");
        }
        other => panic!(
            "O_DIRECT unsupported under {}: {other:?}",
            data.path().display()
        ),
    }
}

#[test]
fn direct_io_probe_of_bad_paths_fails_cleanly() {
    let data = TempDir::new("bad");
    let missing = data.path().join("missing");
    assert!(matches!(
        direct_io::probe(&missing),
        DirectIo::Failed { .. }
    ));
    let file = data.path().join("file");
    fs::write(&file, b"x").expect("write");
    match direct_io::probe(&file) {
        DirectIo::Failed { reason } => assert!(reason.contains("not a directory"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn tmpfs_is_flagged_when_it_accepts_o_direct() {
    let shm = Path::new("/dev/shm");
    if !shm.is_dir() {
        eprintln!("skipped: no /dev/shm");
        return;
    }
    // Linux 6.6+ tmpfs accepts O_DIRECT; before, it refuses it. Either way it must not pass
    // as a real device.
    let outcome = direct_io::probe(shm);
    eprintln!("/dev/shm: {outcome:?}");
    let line = tessera_tuning::rules::direct_io("/dev/shm", &outcome);
    match outcome {
        DirectIo::Supported { tmpfs: true, .. } => {
            assert_eq!(line.verdict, Verdict::Warn, "{line:?}");
            assert!(line.current.contains("not a real device"), "{line:?}");
        }
        DirectIo::Supported { tmpfs: false, .. } => {
            eprintln!("skipped: /dev/shm is not tmpfs here");
        }
        DirectIo::Unsupported { .. } => assert_eq!(line.verdict, Verdict::Fail),
        other => panic!("{other:?}"),
    }
}

/// Reads (never writes) the block device under the temp dir when it is present and readable.
#[test]
fn block_device_probe_matches_sysfs_block_size() {
    let data = TempDir::new("blk");
    let Ok(backing) = SysRoot::new("/").backing_disks(dev_of(data.path())) else {
        eprintln!("skipped: temp dir is not on a block device");
        return;
    };
    let disk = &backing.disks[0];
    let node = PathBuf::from(format!("/dev/{}", disk.name));
    let is_block = fs::metadata(&node).is_ok_and(|m| m.file_type().is_block_device());
    if !is_block {
        eprintln!(
            "skipped: {} is not a block device node here",
            node.display()
        );
        return;
    }
    let sysfs_block: u32 = SysRoot::new("/")
        .queue_value(disk, "logical_block_size")
        .expect("logical_block_size readable")
        .parse()
        .expect("logical_block_size is a number");
    match direct_io::probe(&node) {
        DirectIo::Supported {
            target, alignment, ..
        } => {
            assert_eq!(target, Target::BlockDevice);
            assert!(alignment.offset_bytes > 0);
            assert!(
                alignment.offset_bytes <= sysfs_block.max(4096),
                "{alignment:?}"
            );
        }
        DirectIo::Inconclusive { reason } => eprintln!("skipped: {reason}"),
        other => panic!("{}: {other:?}", node.display()),
    }
}
