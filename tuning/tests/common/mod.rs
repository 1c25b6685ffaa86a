//! Test helpers: a self-deleting temp dir and a fake `/proc` + `/sys` root built inside one.
//!
//! Owns: nothing outside `std::env::temp_dir()`. Invariant: every dir it creates has a name
//! unique to this process and call, and is removed when its `TempDir` drops.

#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use tessera_tuning::probe::DevNum;
use tessera_tuning::{Line, Report};

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A directory under `std::env::temp_dir()`, removed on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "tessera-tuning-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        // A leftover from a killed earlier run with the same pid is stale: start clean.
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// A fake root: `proc/...` and `sys/...` files written under a temp dir.
pub struct FakeRoot {
    pub dir: TempDir,
}

impl FakeRoot {
    pub fn new() -> FakeRoot {
        FakeRoot {
            dir: TempDir::new("root"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `contents` to `relative`, creating parent directories.
    pub fn write(&self, relative: &str, contents: &str) {
        let path = self.path().join(relative);
        fs::create_dir_all(path.parent().expect("relative path has a parent")).expect("mkdir");
        fs::write(&path, contents).expect("write fake file");
    }

    pub fn mkdir(&self, relative: &str) {
        fs::create_dir_all(self.path().join(relative)).expect("mkdir");
    }

    /// A symlink at `relative` pointing at `target` (relative targets stay inside the root).
    pub fn symlink(&self, relative: &str, target: &str) {
        let path = self.path().join(relative);
        fs::create_dir_all(path.parent().expect("relative path has a parent")).expect("mkdir");
        std::os::unix::fs::symlink(target, &path).expect("symlink");
    }

    pub fn sysctl(&self, key: &str, value: &str) {
        self.write(
            &format!("proc/sys/{}", key.replace('.', "/")),
            &format!("{value}\n"),
        );
    }

    /// A whole disk at `devices/<parent>/<name>` with the given `queue/` attributes.
    pub fn disk(&self, sys_dir: &str, queue: &[(&str, &str)]) {
        self.mkdir(sys_dir);
        for (attribute, value) in queue {
            self.write(
                &format!("{sys_dir}/queue/{attribute}"),
                &format!("{value}\n"),
            );
        }
    }
}

/// The device number of the file system holding `path` (what `sys/dev/block` is keyed by).
pub fn dev_of(path: &Path) -> DevNum {
    DevNum::from_dev(fs::metadata(path).expect("stat").dev())
}

/// The one line with this check and subject.
pub fn find<'a>(report: &'a Report, check: &str, subject: &str) -> &'a Line {
    let matches: Vec<&Line> = report
        .lines
        .iter()
        .filter(|l| l.check == check && l.subject == subject)
        .collect();
    assert_eq!(
        matches.len(),
        1,
        "want one {check} line for {subject}, report:\n{}",
        report.render_table()
    );
    matches[0]
}

/// Queue values that pass every block rule for an NVMe disk.
pub const GOOD_NVME_QUEUE: &[(&str, &str)] = &[
    ("scheduler", "[none] mq-deadline kyber bfq"),
    ("nr_requests", "1023"),
    ("read_ahead_kb", "128"),
    ("rotational", "0"),
    ("logical_block_size", "4096"),
    ("write_cache", "write back"),
    ("rq_affinity", "2"),
    ("nomerges", "2"),
];
