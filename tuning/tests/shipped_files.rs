//! The files an operator installs agree with what `check-host` recommends: a host with
//! exactly the shipped sysctl and udev values passes every check those files cover, each
//! setting carries a why-line, and the unit's limits match the rules.

mod common;

use std::collections::BTreeMap;

use common::{dev_of, find, FakeRoot, TempDir};
use tessera_tuning::rules::{self, SYSCTL_RULES};
use tessera_tuning::{check_host, CheckOptions, Verdict};

const SYSCTL: &str = include_str!("../sysctl.d/90-tessera.conf");
const UDEV: &str = include_str!("../udev/60-tessera-nvme.rules");
const UNIT: &str = include_str!("../systemd/tessera.service");

/// `key = value` settings, each asserted to have a `#` comment on the line above.
fn sysctl_settings() -> BTreeMap<String, String> {
    let mut settings = BTreeMap::new();
    let mut previous = "";
    for line in SYSCTL.lines() {
        let trimmed = line.trim();
        if !trimmed.is_empty() && !trimmed.starts_with('#') {
            let (key, value) = trimmed.split_once('=').expect("sysctl line is key = value");
            assert!(previous.starts_with('#'), "no why-line above {trimmed:?}");
            let old = settings.insert(key.trim().to_string(), value.trim().to_string());
            assert!(old.is_none(), "{key} set twice");
        }
        previous = trimmed;
    }
    settings
}

/// `ATTR{queue/NAME}="VALUE"` assignments in file order, each asserted to be a rule of its
/// own with a `#` comment on the line above.
fn udev_queue_settings() -> Vec<(String, String)> {
    let mut settings = Vec::new();
    let mut previous = "";
    for line in UDEV.lines() {
        let trimmed = line.trim();
        if !trimmed.is_empty() && !trimmed.starts_with('#') {
            assert!(previous.starts_with('#'), "no why-line above {trimmed:?}");
            assert!(trimmed.contains("ENV{DEVTYPE}==\"disk\""), "{trimmed}");
            let assignment = trimmed
                .split(", ")
                .find_map(|part| part.strip_prefix("ATTR{queue/"))
                .expect("rule assigns a queue attribute");
            let (name, value) = assignment.split_once("}=\"").expect("ATTR{..}=\"..\"");
            let value = value.strip_suffix('"').expect("quoted value");
            settings.push((name.to_string(), value.to_string()));
        }
        previous = trimmed;
    }
    settings
}

fn unit_value(key: &str) -> &'static str {
    UNIT.lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("unit has no {key}="))
}

#[test]
fn shipped_sysctl_and_udev_values_pass_check_host() {
    let sysctls = sysctl_settings();
    let udev = udev_queue_settings();
    let data = TempDir::new("data");
    let root = FakeRoot::new();
    for (key, value) in &sysctls {
        root.sysctl(key, value);
    }
    // nr_open is not set by the file (see its comment); the kernel default stands.
    root.sysctl("fs.nr_open", "1048576");
    let disk = "sys/devices/pci0000:00/0000:00:04.0/nvme/nvme0/nvme0n1";
    // What udev leaves alone comes from the drive: a 4Kn NVMe namespace with a volatile cache.
    root.disk(
        disk,
        &[
            ("scheduler", "none mq-deadline kyber bfq"),
            ("rotational", "0"),
            ("logical_block_size", "4096"),
            ("write_cache", "write back"),
        ],
    );
    for (name, value) in &udev {
        // The kernel shows the active scheduler in brackets among the choices.
        let shown = if name == "scheduler" {
            format!("[{value}] mq-deadline kyber bfq")
        } else {
            value.clone()
        };
        root.write(&format!("{disk}/queue/{name}"), &format!("{shown}\n"));
    }
    root.symlink(
        &format!("sys/dev/block/{}", dev_of(data.path())),
        "../../devices/pci0000:00/0000:00:04.0/nvme/nvme0/nvme0n1",
    );
    let report = check_host(&CheckOptions {
        devices: vec![data.path().to_path_buf()],
        json: false,
        sys_root: root.path().to_path_buf(),
    });
    for rule in SYSCTL_RULES {
        let line = find(&report, rule.key, "host");
        assert_eq!(line.verdict, Verdict::Ok, "{line:?}");
    }
    for (check, attribute) in rules::QUEUE_CHECKS {
        let line = find(&report, check, "/dev/nvme0n1");
        assert_eq!(line.verdict, Verdict::Ok, "{attribute}: {line:?}");
    }
    // Every setting the checker judges on a disk is one udev sets or the drive reports.
    for (name, _) in &udev {
        let known = rules::QUEUE_CHECKS.iter().any(|(_, a)| a == name);
        assert!(known, "udev sets {name}, which check-host does not read");
    }
}

#[test]
fn sysctl_file_covers_the_checked_keys_it_should() {
    let sysctls = sysctl_settings();
    for rule in SYSCTL_RULES {
        if rule.key == "fs.nr_open" {
            assert!(
                !sysctls.contains_key(rule.key),
                "fs.nr_open would lower systemd's value"
            );
            continue;
        }
        assert!(
            sysctls.contains_key(rule.key),
            "sysctl file does not set {}",
            rule.key
        );
    }
    for key in [
        "fs.aio-max-nr",
        "net.ipv4.tcp_tw_reuse",
        "net.ipv4.ip_local_port_range",
    ] {
        assert!(sysctls.contains_key(key), "sysctl file does not set {key}");
    }
    let dirty = |key: &str| -> u64 { sysctls[key].parse().expect("dirty bytes are numbers") };
    assert!(dirty("vm.dirty_background_bytes") < dirty("vm.dirty_bytes"));
}

#[test]
fn udev_sets_the_scheduler_before_nr_requests() {
    let names: Vec<String> = udev_queue_settings().into_iter().map(|(n, _)| n).collect();
    let position = |n: &str| names.iter().position(|x| x == n).expect("attribute set");
    // Switching the scheduler resets nr_requests, so the order in the file matters.
    assert!(position("scheduler") < position("nr_requests"), "{names:?}");
}

#[test]
fn unit_limits_match_the_rules() {
    let nofile: u64 = unit_value("LimitNOFILE")
        .parse()
        .expect("LimitNOFILE is a number");
    assert_eq!(nofile, rules::UNIT_LIMIT_NOFILE);
    assert!((rules::NOFILE_MIN..=rules::NR_OPEN_MIN).contains(&nofile));
    assert_eq!(unit_value("LimitMEMLOCK"), "infinity");
    assert_eq!(unit_value("Restart"), "on-failure");
    assert_eq!(unit_value("KillSignal"), "SIGTERM");
    assert!(unit_value("TimeoutStopSec").ends_with('s'));
    let exec = unit_value("ExecStart");
    assert!(exec.starts_with("/usr/local/bin/tessera serve --data-dir /var/lib/tessera"));
    assert!(exec.contains("--device "), "{exec}");
    for advice in ["#CPUAffinity=", "irqbalance"] {
        assert!(UNIT.contains(advice), "unit lacks {advice} advice");
    }
}
