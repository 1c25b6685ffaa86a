//! `check_host` against fake `/proc` and `/sys` trees: the parsers, the device walk and the
//! verdicts together, with every value known in advance.

mod common;

use std::path::PathBuf;

use common::{dev_of, find, FakeRoot, TempDir, GOOD_NVME_QUEUE};
use tessera_tuning::{check_host, CheckOptions, Verdict, CHECK_NAMES, DEVICE_CHECK_NAMES};

const INTERRUPTS: &str = "\
           CPU0       CPU1       CPU2       CPU3
  0:         36          0          0          0   IO-APIC   2-edge      timer
 24:         10          0          0          0  PCI-MSI 65536-edge      nvme0q0
 25:       1200          0          0          0  PCI-MSI 65537-edge      nvme0q1
 26:        800          0          0          0  PCI-MSI 65538-edge      nvme0q2
 27:        900          3          0          0  PCI-MSI 65539-edge      nvme0q3
 28:          0          0          0          0  PCI-MSI 65540-edge      nvme0q4
 34:         12          0          0          0  PCI-MSI 98304-edge      nvme1q0
 35:        700          0          0          0  PCI-MSI 98305-edge      nvme1q1
 36:          0        650          0          0  PCI-MSI 98306-edge      nvme1q2
 37:          0          0        720          0  PCI-MSI 98307-edge      nvme1q3
 40:          1          0          0          0  PCI-MSI 1-edge      mlx5_async0
 41:        100        200          0          0  PCI-MSI 2-edge      mlx5_comp0
 42:          0        300          0          0  PCI-MSI 3-edge      mlx5_comp1
NMI:          0          0          0          0   Non-maskable interrupts
LOC:       9421      10075       9000       9100   Local timer interrupts
ERR:          0
";

/// A host with known settings: two CPUs on `performance`, two on `powersave`; nvme0's queue
/// IRQs all on CPU0, nvme1's spread; irqbalance not running; a NIC with spread IRQs; and the
/// data dir's file system on partition 1 of nvme0n1.
fn typical_host(data: &TempDir) -> FakeRoot {
    let root = FakeRoot::new();
    let cpu = "sys/devices/system/cpu";
    for (n, governor) in ["performance", "performance", "powersave", "powersave"]
        .iter()
        .enumerate()
    {
        root.write(
            &format!("{cpu}/cpu{n}/cpufreq/scaling_governor"),
            &format!("{governor}\n"),
        );
    }
    root.mkdir(&format!("{cpu}/cpufreq"));
    root.mkdir(&format!("{cpu}/cpuidle"));
    root.write("proc/interrupts", INTERRUPTS);
    root.write("proc/1/comm", "systemd\n");
    root.write("proc/77/comm", "sshd\n");
    root.write("proc/self/comm", "irqbalance\n"); // not a PID: must be ignored
    let nic = "sys/devices/pci0000:00/0000:00:03.0";
    for irq in ["40", "41", "42"] {
        root.write(&format!("{nic}/msi_irqs/{irq}"), "msix\n");
    }
    root.symlink(
        "sys/class/net/eth0",
        "../../devices/pci0000:00/0000:00:03.0/net/eth0",
    );
    root.symlink(
        "sys/devices/pci0000:00/0000:00:03.0/net/eth0/device",
        "../..",
    );
    root.mkdir("sys/devices/virtual/net/lo");
    root.symlink("sys/class/net/lo", "../../devices/virtual/net/lo");
    let mm = "sys/kernel/mm/transparent_hugepage";
    root.write(&format!("{mm}/enabled"), "always [madvise] never\n");
    root.write(
        &format!("{mm}/defrag"),
        "[always] defer defer+madvise madvise never\n",
    );
    root.sysctl("kernel.io_uring_disabled", "0");
    root.sysctl("net.core.somaxconn", "128");
    root.sysctl("net.ipv4.tcp_max_syn_backlog", "8192");
    root.sysctl("fs.file-max", "9223372036854775807");
    root.sysctl("fs.nr_open", "1048576");
    root.sysctl("vm.swappiness", "60");
    let disk = "sys/devices/pci0000:00/0000:00:04.0/nvme/nvme0/nvme0n1";
    let mut queue = GOOD_NVME_QUEUE.to_vec();
    queue[0] = ("scheduler", "none [mq-deadline] kyber bfq");
    queue[2] = ("read_ahead_kb", "4096");
    root.disk(disk, &queue);
    root.write(&format!("{disk}/nvme0n1p1/partition"), "1\n");
    root.symlink(
        &format!("sys/dev/block/{}", dev_of(data.path())),
        "../../devices/pci0000:00/0000:00:04.0/nvme/nvme0/nvme0n1/nvme0n1p1",
    );
    root
}

fn options(root: &FakeRoot, devices: &[PathBuf]) -> CheckOptions {
    CheckOptions {
        devices: devices.to_vec(),
        json: false,
        sys_root: root.path().to_path_buf(),
    }
}

#[test]
fn reads_and_judges_a_typical_host() {
    let data = TempDir::new("data");
    let root = typical_host(&data);
    let device = data.path().to_path_buf();
    let report = check_host(&options(&root, std::slice::from_ref(&device)));
    let subject = device.display().to_string();
    let want: &[(&str, &str, &str, Verdict)] = &[
        ("cpu.governor", "cpu0-1", "performance", Verdict::Ok),
        ("cpu.governor", "cpu2-3", "powersave", Verdict::Warn),
        ("irq.balance", "irqbalance", "not running", Verdict::Warn),
        (
            "irq.spread",
            "nvme0",
            "all 3 active IRQs on cpu0",
            Verdict::Warn,
        ),
        (
            "irq.spread",
            "nvme1",
            "3 active IRQs on 3 of 4 CPUs",
            Verdict::Ok,
        ),
        (
            "irq.spread",
            "eth0",
            "3 active IRQs on 2 of 4 CPUs",
            Verdict::Ok,
        ),
        ("thp.enabled", "host", "madvise", Verdict::Ok),
        ("thp.defrag", "host", "always", Verdict::Warn),
        ("kernel.io_uring_disabled", "host", "0", Verdict::Ok),
        ("net.core.somaxconn", "host", "128", Verdict::Warn),
        ("net.ipv4.tcp_max_syn_backlog", "host", "8192", Verdict::Ok),
        ("fs.file-max", "host", "9223372036854775807", Verdict::Ok),
        ("fs.nr_open", "host", "1048576", Verdict::Ok),
        ("vm.swappiness", "host", "60", Verdict::Warn),
        (
            "device.backing",
            &subject,
            "/dev/nvme0n1p1 on /dev/nvme0n1",
            Verdict::Ok,
        ),
        (
            "block.scheduler",
            "/dev/nvme0n1",
            "mq-deadline",
            Verdict::Warn,
        ),
        ("block.nr_requests", "/dev/nvme0n1", "1023", Verdict::Ok),
        ("block.read_ahead_kb", "/dev/nvme0n1", "4096", Verdict::Warn),
        ("block.rotational", "/dev/nvme0n1", "0", Verdict::Ok),
        (
            "block.logical_block_size",
            "/dev/nvme0n1",
            "4096",
            Verdict::Ok,
        ),
        (
            "block.write_cache",
            "/dev/nvme0n1",
            "write back",
            Verdict::Ok,
        ),
        ("block.rq_affinity", "/dev/nvme0n1", "2", Verdict::Ok),
        ("block.nomerges", "/dev/nvme0n1", "2", Verdict::Ok),
    ];
    for (check, subject, current, verdict) in want {
        let line = find(&report, check, subject);
        assert_eq!(
            (line.current.as_str(), line.verdict),
            (*current, *verdict),
            "{check} {subject}"
        );
    }
    // Live parts: the process's own limits and the O_DIRECT probe of the real temp dir.
    assert!(report
        .lines
        .iter()
        .any(|l| l.check == "rlimit.nofile" && l.subject == "hard"));
    let direct = find(&report, "direct_io", &subject);
    assert!(direct.current.starts_with("supported"), "{direct:?}");
    for name in CHECK_NAMES {
        assert!(
            report.lines.iter().any(|l| l.check == *name),
            "no {name} line"
        );
    }
    assert_eq!(report.worst(), Verdict::Warn, "{}", report.render_table());
}

#[test]
fn irqbalance_running_is_found_by_comm() {
    let data = TempDir::new("data");
    let root = typical_host(&data);
    root.write("proc/4242/comm", "irqbalance\n");
    let report = check_host(&options(&root, &[]));
    let line = find(&report, "irq.balance", "irqbalance");
    assert_eq!(
        (line.current.as_str(), line.verdict),
        ("running", Verdict::Ok)
    );
}

#[test]
fn vm_without_cpufreq_gives_one_unknown_governor_line() {
    let root = FakeRoot::new();
    for n in 0..8 {
        root.mkdir(&format!("sys/devices/system/cpu/cpu{n}/topology"));
    }
    let report = check_host(&options(&root, &[]));
    let governors: Vec<_> = report
        .lines
        .iter()
        .filter(|l| l.check == "cpu.governor")
        .collect();
    assert_eq!(governors.len(), 1, "{}", report.render_table());
    assert_eq!(governors[0].subject, "cpu0-7");
    assert_eq!(governors[0].verdict, Verdict::Unknown);
    assert!(
        governors[0].current.contains("no cpufreq"),
        "{:?}",
        governors[0]
    );
}

#[test]
fn one_cpu_missing_cpufreq_is_unknown_on_its_own() {
    let root = FakeRoot::new();
    let cpu = "sys/devices/system/cpu";
    root.write(
        &format!("{cpu}/cpu0/cpufreq/scaling_governor"),
        "performance\n",
    );
    root.mkdir(&format!("{cpu}/cpu1"));
    root.write(
        &format!("{cpu}/cpu2/cpufreq/scaling_governor"),
        "performance\n",
    );
    let report = check_host(&options(&root, &[]));
    assert_eq!(find(&report, "cpu.governor", "cpu0").verdict, Verdict::Ok);
    assert_eq!(
        find(&report, "cpu.governor", "cpu1").verdict,
        Verdict::Unknown
    );
    assert_eq!(find(&report, "cpu.governor", "cpu2").verdict, Verdict::Ok);
}

#[test]
fn device_mapper_stack_reports_each_member_disk_once() {
    let data = TempDir::new("data");
    let root = FakeRoot::new();
    let pci = "sys/devices/pci0000:00";
    let nvme0 = format!("{pci}/0000:00:04.0/nvme/nvme0/nvme0n1");
    let nvme1 = format!("{pci}/0000:00:05.0/nvme/nvme1/nvme1n1");
    root.disk(&nvme0, GOOD_NVME_QUEUE);
    root.write(&format!("{nvme0}/nvme0n1p2/partition"), "2\n");
    root.disk(&nvme1, GOOD_NVME_QUEUE);
    root.mkdir("sys/devices/virtual/block/dm-0/queue");
    root.symlink(
        "sys/devices/virtual/block/dm-0/slaves/nvme0n1p2",
        "../../../../pci0000:00/0000:00:04.0/nvme/nvme0/nvme0n1/nvme0n1p2",
    );
    root.symlink(
        "sys/devices/virtual/block/dm-0/slaves/nvme1n1",
        "../../../../pci0000:00/0000:00:05.0/nvme/nvme1/nvme1n1",
    );
    root.symlink(
        &format!("sys/dev/block/{}", dev_of(data.path())),
        "../../devices/virtual/block/dm-0",
    );
    // The same directory twice: its disks must be reported once.
    let device = data.path().to_path_buf();
    let report = check_host(&options(&root, &[device.clone(), device.clone()]));
    let subject = device.display().to_string();
    let backing: Vec<_> = report
        .lines
        .iter()
        .filter(|l| l.check == "device.backing")
        .collect();
    assert_eq!(backing.len(), 2);
    assert_eq!(
        backing[0].current,
        "/dev/dm-0 on /dev/nvme0n1, /dev/nvme1n1"
    );
    assert_eq!(backing[0].subject, subject);
    for disk in ["/dev/nvme0n1", "/dev/nvme1n1"] {
        let lines: Vec<_> = report.lines.iter().filter(|l| l.subject == disk).collect();
        assert_eq!(lines.len(), 8, "{disk}: {}", report.render_table());
        assert!(lines.iter().all(|l| l.verdict == Verdict::Ok), "{lines:?}");
    }
}

#[test]
fn unresolvable_device_still_names_every_device_check() {
    let data = TempDir::new("data");
    let root = FakeRoot::new(); // no sys/dev/block at all
    let device = data.path().to_path_buf();
    let report = check_host(&options(&root, std::slice::from_ref(&device)));
    let subject = device.display().to_string();
    for name in DEVICE_CHECK_NAMES {
        let line = find(&report, name, &subject);
        if *name != "direct_io" {
            assert_eq!(line.verdict, Verdict::Unknown, "{line:?}");
        }
    }
    let backing = find(&report, "device.backing", &subject);
    assert!(backing.current.contains("no block device"), "{backing:?}");
}

#[test]
fn empty_root_is_unknown_everywhere_and_never_panics() {
    let root = FakeRoot::new();
    let missing = TempDir::new("gone").path().join("never-created");
    let report = check_host(&options(&root, std::slice::from_ref(&missing)));
    for name in CHECK_NAMES {
        assert!(
            report.lines.iter().any(|l| l.check == *name),
            "no {name} line"
        );
    }
    let host_lines = report.lines.iter().filter(|l| {
        !l.check.starts_with("rlimit.")
            && l.check != "kernel.io_uring_disabled"
            && l.check != "direct_io"
    });
    for line in host_lines {
        assert_eq!(line.verdict, Verdict::Unknown, "{line:?}");
    }
    // A kernel without the io_uring_disabled sysctl predates it: io_uring is on.
    assert_eq!(
        find(&report, "kernel.io_uring_disabled", "host").verdict,
        Verdict::Ok
    );
    let subject = missing.display().to_string();
    let direct = find(&report, "direct_io", &subject);
    assert_eq!(direct.verdict, Verdict::Fail, "{direct:?}");
}

#[test]
fn low_nr_open_fails_and_strict_exits_one() {
    let data = TempDir::new("data");
    let root = typical_host(&data);
    root.sysctl("fs.nr_open", "65536");
    let report = check_host(&options(&root, &[]));
    assert_eq!(find(&report, "fs.nr_open", "host").verdict, Verdict::Fail);
    let sys_root = format!("--sys-root={}", root.path().display());
    let run = |extra: &[&str]| {
        let mut args = vec![sys_root.clone()];
        args.extend(extra.iter().map(|s| s.to_string()));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = tessera_tuning::run_cli_with(&args, &mut out, &mut err);
        (code, String::from_utf8(out).expect("UTF-8 output"))
    };
    let (code, table) = run(&[]);
    assert_eq!(code, 0);
    assert!(table.contains("worst: FAIL"), "{table}");
    let (code, _) = run(&["--strict"]);
    assert_eq!(code, 1);
    let (code, json) = run(&["--json", "--strict"]);
    assert_eq!(code, 1);
    assert!(json.contains("\"worst\": \"fail\""), "{json}");
    assert!(json.contains("\"check\": \"fs.nr_open\""), "{json}");
}
