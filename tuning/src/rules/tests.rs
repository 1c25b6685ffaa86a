//! Table tests of every verdict rule.

use super::*;
use crate::direct_io::{AlignSource, Target};
use crate::probe::ProbeErrorKind;

fn missing() -> ProbeError {
    ProbeError {
        path: "/proc/x".into(),
        kind: ProbeErrorKind::Missing,
    }
}

fn denied() -> ProbeError {
    ProbeError {
        path: "/proc/x".into(),
        kind: ProbeErrorKind::Io("Permission denied".into()),
    }
}

#[test]
fn governor_verdicts() {
    let absent = missing();
    let cases: [(Result<&str, &ProbeError>, Verdict); 4] = [
        (Ok("performance"), Verdict::Ok),
        (Ok("powersave"), Verdict::Warn),
        (Ok("schedutil"), Verdict::Warn),
        (Err(&absent), Verdict::Unknown),
    ];
    for (value, want) in cases {
        let got = governor("cpu0", value);
        assert_eq!(got.verdict, want, "{value:?}");
        assert_eq!(got.check, "cpu.governor");
        assert_eq!(got.subject, "cpu0");
    }
    let absent = governor_absent("cpu0-3");
    assert_eq!(absent.verdict, Verdict::Unknown);
    assert!(absent.current.contains("no cpufreq"), "{absent:?}");
}

#[test]
fn thp_verdicts() {
    let enabled = [
        ("always [madvise] never", Verdict::Ok),
        ("always madvise [never]", Verdict::Ok),
        ("[always] madvise never", Verdict::Warn),
        ("garbage", Verdict::Unknown),
    ];
    for (text, want) in enabled {
        assert_eq!(thp_enabled(Ok(text)).verdict, want, "{text}");
    }
    let defrag = [
        ("[always] defer defer+madvise madvise never", Verdict::Warn),
        ("always [defer] defer+madvise madvise never", Verdict::Ok),
        ("always defer [defer+madvise] madvise never", Verdict::Ok),
        ("always defer defer+madvise [madvise] never", Verdict::Ok),
        ("always defer defer+madvise madvise [never]", Verdict::Ok),
        ("", Verdict::Unknown),
    ];
    for (text, want) in defrag {
        assert_eq!(thp_defrag(Ok(text)).verdict, want, "{text}");
    }
    assert_eq!(thp_enabled(Err(&missing())).verdict, Verdict::Unknown);
    assert_eq!(thp_enabled(Ok("[always] madvise never")).current, "always");
}

#[test]
fn io_uring_disabled_verdicts() {
    let (absent, unreadable) = (missing(), denied());
    let cases: [(Result<&str, &ProbeError>, Verdict); 6] = [
        (Ok("0"), Verdict::Ok),
        (Ok("1"), Verdict::Warn),
        (Ok("2"), Verdict::Fail),
        (Ok("x"), Verdict::Unknown),
        (Err(&absent), Verdict::Ok),
        (Err(&unreadable), Verdict::Unknown),
    ];
    for (value, want) in cases {
        assert_eq!(io_uring_disabled(value).verdict, want, "{value:?}");
    }
}

fn rule(key: &str) -> &'static SysctlRule {
    SYSCTL_RULES
        .iter()
        .find(|r| r.key == key)
        .unwrap_or_else(|| panic!("no rule {key}"))
}

#[test]
fn sysctl_verdicts() {
    let cases = [
        ("net.core.somaxconn", "4096", Verdict::Ok),
        ("net.core.somaxconn", "4095", Verdict::Warn),
        ("net.core.somaxconn", "128", Verdict::Warn),
        ("net.core.somaxconn", "65535", Verdict::Ok),
        ("net.ipv4.tcp_max_syn_backlog", "1024", Verdict::Warn),
        ("net.ipv4.tcp_max_syn_backlog", "8192", Verdict::Ok),
        ("fs.file-max", "9223372036854775807", Verdict::Ok),
        ("fs.file-max", "100000", Verdict::Warn),
        ("fs.nr_open", "1048576", Verdict::Ok),
        ("fs.nr_open", "1048575", Verdict::Fail),
        ("vm.swappiness", "60", Verdict::Warn),
        ("vm.swappiness", "10", Verdict::Ok),
        ("vm.swappiness", "1", Verdict::Ok),
        ("vm.swappiness", "ten", Verdict::Unknown),
    ];
    for (key, value, want) in cases {
        let got = sysctl(rule(key), Ok(value));
        assert_eq!(got.verdict, want, "{key}={value}");
        assert_eq!(got.check, key);
    }
    assert_eq!(sysctl(rule("vm.swappiness"), Ok("1")).recommended, "<= 10");
    assert_eq!(
        sysctl(rule("fs.nr_open"), Err(&missing())).verdict,
        Verdict::Unknown
    );
}

#[test]
fn rlimit_verdicts() {
    let cases = [
        (Limit::Finite(1024), Verdict::Warn),
        (Limit::Finite(NOFILE_MIN - 1), Verdict::Warn),
        (Limit::Finite(NOFILE_MIN), Verdict::Ok),
        (Limit::Unlimited, Verdict::Ok),
    ];
    for (limit, want) in cases {
        assert_eq!(nofile("soft", limit).verdict, want, "{limit:?}");
    }
    assert_eq!(memlock("soft", Limit::Unlimited).verdict, Verdict::Ok);
    let low = memlock("soft", Limit::Finite(8 << 20));
    assert_eq!(
        (low.verdict, low.current.as_str()),
        (Verdict::Warn, "8388608")
    );
}

#[test]
fn disk_kinds() {
    let cases = [
        ("nvme0n1", Some(0), DiskKind::Nvme),
        ("nvme0n1", None, DiskKind::Nvme),
        ("sda", Some(1), DiskKind::Rotational),
        ("sda", Some(0), DiskKind::Flash),
        ("vda", None, DiskKind::Flash),
    ];
    for (name, rotational, want) in cases {
        assert_eq!(disk_kind(name, rotational), want, "{name} {rotational:?}");
    }
}

#[test]
fn queue_verdicts() {
    use DiskKind::{Flash, Nvme, Rotational};
    let cases = [
        (
            "block.scheduler",
            Nvme,
            "[none] mq-deadline kyber bfq",
            Verdict::Ok,
        ),
        (
            "block.scheduler",
            Nvme,
            "none [mq-deadline] kyber bfq",
            Verdict::Warn,
        ),
        ("block.scheduler", Nvme, "none", Verdict::Ok),
        ("block.scheduler", Flash, "none [mq-deadline]", Verdict::Ok),
        (
            "block.scheduler",
            Flash,
            "none mq-deadline [bfq]",
            Verdict::Warn,
        ),
        (
            "block.scheduler",
            Rotational,
            "[none] mq-deadline",
            Verdict::Warn,
        ),
        (
            "block.scheduler",
            Rotational,
            "none [mq-deadline]",
            Verdict::Ok,
        ),
        ("block.scheduler", Nvme, "", Verdict::Unknown),
        ("block.nr_requests", Nvme, "1023", Verdict::Ok),
        ("block.nr_requests", Nvme, "256", Verdict::Ok),
        ("block.nr_requests", Nvme, "64", Verdict::Warn),
        ("block.read_ahead_kb", Nvme, "128", Verdict::Ok),
        ("block.read_ahead_kb", Nvme, "0", Verdict::Ok),
        ("block.read_ahead_kb", Nvme, "8192", Verdict::Warn),
        ("block.rotational", Nvme, "0", Verdict::Ok),
        ("block.rotational", Rotational, "1", Verdict::Warn),
        ("block.logical_block_size", Nvme, "512", Verdict::Ok),
        ("block.logical_block_size", Nvme, "4096", Verdict::Ok),
        ("block.logical_block_size", Nvme, "8192", Verdict::Fail),
        ("block.logical_block_size", Nvme, "520", Verdict::Fail),
        ("block.write_cache", Nvme, "write back", Verdict::Ok),
        ("block.write_cache", Nvme, "write through", Verdict::Ok),
        ("block.write_cache", Nvme, "maybe", Verdict::Unknown),
        ("block.rq_affinity", Nvme, "2", Verdict::Ok),
        ("block.rq_affinity", Nvme, "1", Verdict::Warn),
        ("block.nomerges", Nvme, "2", Verdict::Ok),
        ("block.nomerges", Nvme, "0", Verdict::Warn),
        ("block.nomerges", Rotational, "0", Verdict::Ok),
        ("block.nomerges", Rotational, "2", Verdict::Warn),
        ("block.nr_requests", Nvme, "lots", Verdict::Unknown),
    ];
    for (check, kind, text, want) in cases {
        let got = queue(check, kind, "/dev/x", Ok(text));
        assert_eq!(got.verdict, want, "{check} {kind:?} {text:?}");
        assert_eq!(got.check, check);
    }
    let shown = queue("block.scheduler", Nvme, "/dev/x", Ok("[none] mq-deadline"));
    assert_eq!(shown.current, "none");
    assert_eq!(
        queue("block.rq_affinity", Nvme, "/dev/x", Err(&missing())).verdict,
        Verdict::Unknown
    );
}

#[test]
fn queue_unknown_names_every_queue_check() {
    let lines = queue_unknown("/data/d0", "no disk");
    let names: Vec<&str> = lines.iter().map(|l| l.check.as_str()).collect();
    let want: Vec<&str> = QUEUE_CHECKS.iter().map(|(c, _)| *c).collect();
    assert_eq!(names, want);
    assert!(lines.iter().all(|l| l.verdict == Verdict::Unknown));
}

fn irq(counts: &[u64]) -> IrqLine {
    IrqLine {
        label: "30".into(),
        counts: counts.to_vec(),
        description: "PCI-MSI nvme0q1".into(),
    }
}

#[test]
fn irq_spread_verdicts() {
    let four = [0, 1, 2, 3];
    // (CPU columns, per-IRQ counts, verdict, current)
    type Case<'a> = (&'a [u32], &'a [&'a [u64]], Verdict, &'a str);
    let cases: [Case; 7] = [
        (&four, &[], Verdict::Unknown, "unknown: no queue IRQs found"),
        (
            &four,
            &[&[0, 0, 0, 0]],
            Verdict::Unknown,
            "unknown: 1 queue IRQs, none fired yet",
        ),
        (
            &four,
            &[&[100, 0, 0, 0], &[50, 0, 0, 0], &[70, 1, 0, 0]],
            Verdict::Warn,
            "all 3 active IRQs on cpu0",
        ),
        (
            &four,
            &[&[100, 0, 0, 0], &[0, 90, 0, 0], &[0, 0, 0, 0]],
            Verdict::Ok,
            "2 active IRQs on 2 of 4 CPUs",
        ),
        (&[0], &[&[10], &[20]], Verdict::Ok, "2 active IRQs, 1 CPU"),
        // Ties go to the lower CPU.
        (
            &four,
            &[&[0, 5, 5, 0], &[0, 3, 0, 0]],
            Verdict::Warn,
            "all 2 active IRQs on cpu1",
        ),
        // Column CPU numbers are used, not column positions (CPU1 offline).
        (
            &[0, 2],
            &[&[0, 9], &[0, 4]],
            Verdict::Warn,
            "all 2 active IRQs on cpu2",
        ),
    ];
    for (cpus, rows, want, current) in cases {
        let lines: Vec<IrqLine> = rows.iter().map(|r| irq(r)).collect();
        let refs: Vec<&IrqLine> = lines.iter().collect();
        let got = irq_spread_line("nvme0", &irq_spread(cpus, &refs));
        assert_eq!(
            (got.verdict, got.current.as_str()),
            (want, current),
            "{rows:?}"
        );
    }
}

#[test]
fn irq_balance_verdicts() {
    let unreadable = denied();
    let cases: [(Result<bool, &ProbeError>, bool, Verdict); 5] = [
        (Ok(true), false, Verdict::Ok),
        (Ok(true), true, Verdict::Ok),
        (Ok(false), false, Verdict::Ok),
        (Ok(false), true, Verdict::Warn),
        (Err(&unreadable), true, Verdict::Unknown),
    ];
    for (running, concentrated, want) in cases {
        assert_eq!(
            irq_balance(running, concentrated).verdict,
            want,
            "{running:?} {concentrated}"
        );
    }
}

#[test]
fn device_backing_lines() {
    let one = ["nvme0n1".to_string()];
    let got = device_backing("/data/d0", Ok(("nvme0n1", &one)));
    assert_eq!(
        (got.verdict, got.current.as_str()),
        (Verdict::Ok, "/dev/nvme0n1")
    );
    let got = device_backing("/data/d0", Ok(("nvme0n1p1", &one)));
    assert_eq!(got.current, "/dev/nvme0n1p1 on /dev/nvme0n1");
    let two = ["nvme0n1".to_string(), "nvme1n1".to_string()];
    let got = device_backing("/data/d0", Ok(("md0", &two)));
    assert_eq!(got.current, "/dev/md0 on /dev/nvme0n1, /dev/nvme1n1");
    assert_eq!(
        device_backing("/data/d0", Err("gone")).verdict,
        Verdict::Unknown
    );
}

fn supported(offset: u32, memory: Option<u32>, tmpfs: bool) -> DirectIo {
    DirectIo::Supported {
        target: Target::Directory,
        alignment: Alignment {
            memory_bytes: memory,
            offset_bytes: offset,
            source: AlignSource::Statx,
        },
        tmpfs,
    }
}

#[test]
fn direct_io_verdicts() {
    let cases = [
        (supported(512, Some(4), false), Verdict::Ok),
        (supported(4096, Some(512), false), Verdict::Ok),
        (supported(512, None, false), Verdict::Ok),
        (supported(512, Some(4), true), Verdict::Warn),
        (supported(8192, Some(4), false), Verdict::Fail),
        (supported(512, Some(8192), false), Verdict::Fail),
        (supported(3000, Some(4), false), Verdict::Fail),
        (supported(0, Some(4), false), Verdict::Fail),
        (
            DirectIo::Unsupported {
                reason: "EINVAL".into(),
            },
            Verdict::Fail,
        ),
        (
            DirectIo::Failed {
                reason: "ENOENT".into(),
            },
            Verdict::Fail,
        ),
        (
            DirectIo::Inconclusive {
                reason: "EACCES".into(),
            },
            Verdict::Unknown,
        ),
    ];
    for (outcome, want) in cases {
        assert_eq!(direct_io("/data/d0", &outcome).verdict, want, "{outcome:?}");
    }
    let ok = direct_io("/data/d0", &supported(512, Some(4), false));
    assert_eq!(
        ok.current,
        "supported, offset align 512 B, memory align 4 B (statx)"
    );
    let tmpfs = direct_io("/dev/shm/x", &supported(512, None, true));
    assert!(tmpfs.current.contains("not a real device"), "{tmpfs:?}");
}
