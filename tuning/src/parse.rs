//! Parsers for the text formats of `/proc` and `/sys`.
//!
//! Owns: turning file contents into values (a bracketed sysfs choice, a decimal, the
//! `/proc/interrupts` table, NVMe queue IRQ names, `cpuN` directory names). Must not: touch the
//! file system; callers pass the text in, so every parser is table-tested. Invariants: no
//! parser panics on any input, and each returns `None`/`Err` rather than guessing.

use crate::constants::{CPUS_MAX, INTERRUPT_LINES_MAX};

/// The selected entry of a sysfs choice list: `"always [madvise] never"` gives `"madvise"`.
/// A file with a single bare word (`"none"` on a queue without elevators) gives that word.
pub fn bracketed(text: &str) -> Option<&str> {
    let text = text.trim();
    if let Some(open) = text.find('[') {
        let rest = &text[open + 1..];
        let close = rest.find(']')?;
        let choice = rest[..close].trim();
        return (!choice.is_empty()).then_some(choice);
    }
    let mut words = text.split_whitespace();
    match (words.next(), words.next()) {
        (Some(word), None) => Some(word),
        _ => None,
    }
}

/// A decimal integer, surrounding whitespace ignored.
pub fn decimal(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// The CPU number of a `/sys/devices/system/cpu` entry: `"cpu12"` gives 12, `"cpufreq"` none.
pub fn cpu_dir_id(name: &str) -> Option<u32> {
    let digits = name.strip_prefix("cpu")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// `/proc/interrupts`: the CPU columns and one entry per IRQ line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Interrupts {
    /// CPU number of each count column (`CPU0 CPU2` when CPU1 is offline).
    pub cpus: Vec<u32>,
    pub lines: Vec<IrqLine>,
}

/// One line of `/proc/interrupts`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IrqLine {
    /// The label before the colon: an IRQ number, or `NMI`, `LOC`, ...
    pub label: String,
    /// Interrupt counts since boot, one per CPU column (fewer on `ERR:`-style lines).
    pub counts: Vec<u64>,
    /// Everything after the counts: chip, hardware IRQ, trigger and handler names.
    pub description: String,
}

impl IrqLine {
    /// The IRQ number, for numbered lines only.
    pub fn number(&self) -> Option<u32> {
        self.label.parse().ok()
    }

    /// The words of the description, split on spaces and commas, so each handler name of
    /// a shared line (`"ehci_hcd:usb1, uhci_hcd:usb2"`) comes out on its own.
    pub fn handlers(&self) -> impl Iterator<Item = &str> {
        self.description
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|word| !word.is_empty())
    }
}

/// Why `/proc/interrupts` could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InterruptsError {
    /// The first line does not name CPU columns.
    NoHeader,
    /// The header names more CPUs than `CPUS_MAX`.
    TooManyCpus,
}

impl std::fmt::Display for InterruptsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InterruptsError::NoHeader => f.write_str("no CPU header line"),
            InterruptsError::TooManyCpus => write!(f, "more than {CPUS_MAX} CPU columns"),
        }
    }
}

/// Parses `/proc/interrupts`. Lines past `INTERRUPT_LINES_MAX` are ignored.
pub fn interrupts(text: &str) -> Result<Interrupts, InterruptsError> {
    let mut rows = text.lines();
    let header = rows.next().ok_or(InterruptsError::NoHeader)?;
    let cpus: Vec<u32> = header
        .split_whitespace()
        .take(CPUS_MAX + 1)
        .map(|word| word.strip_prefix("CPU").and_then(|n| n.parse().ok()))
        .collect::<Option<_>>()
        .ok_or(InterruptsError::NoHeader)?;
    if cpus.is_empty() {
        return Err(InterruptsError::NoHeader);
    }
    if cpus.len() > CPUS_MAX {
        return Err(InterruptsError::TooManyCpus);
    }
    let lines = rows
        .take(INTERRUPT_LINES_MAX)
        .filter_map(|row| irq_line(row, cpus.len()))
        .collect();
    Ok(Interrupts { cpus, lines })
}

fn irq_line(row: &str, columns: usize) -> Option<IrqLine> {
    let (label, rest) = row.split_once(':')?;
    let label = label.trim();
    if label.is_empty() {
        return None;
    }
    let mut words = rest.split_whitespace().peekable();
    let mut counts = Vec::with_capacity(columns);
    while counts.len() < columns {
        match words.peek().and_then(|word| word.parse::<u64>().ok()) {
            Some(count) => {
                counts.push(count);
                words.next();
            }
            None => break,
        }
    }
    let description = words.collect::<Vec<_>>().join(" ");
    Some(IrqLine {
        label: label.to_string(),
        counts,
        description,
    })
}

/// An NVMe queue handler name `nvme<controller>q<queue>` split into `("nvme<controller>",
/// queue)`. Queue 0 is the admin queue; I/O queues start at 1.
pub fn nvme_queue(handler: &str) -> Option<(&str, u32)> {
    let digits = handler.strip_prefix("nvme")?;
    let q = digits.find('q')?;
    let (controller_digits, queue_digits) = (&digits[..q], &digits[q + 1..]);
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(controller_digits) || !all_digits(queue_digits) {
        return None;
    }
    let queue = queue_digits.parse().ok()?;
    Some((&handler[..4 + q], queue))
}

/// Groups `(cpu, value)` pairs, sorted by CPU, into runs of consecutive CPUs that share a
/// value: `[(0,a),(1,a),(2,b)]` gives `[("cpu0-1",a),("cpu2",b)]`.
pub fn cpu_runs<T: PartialEq + Clone>(items: &[(u32, T)]) -> Vec<(String, T)> {
    let mut runs: Vec<(u32, u32, T)> = Vec::new();
    for (cpu, value) in items {
        match runs.last_mut() {
            Some((_, last, run_value)) if *last + 1 == *cpu && run_value == value => *last = *cpu,
            _ => runs.push((*cpu, *cpu, value.clone())),
        }
    }
    runs.into_iter()
        .map(|(first, last, value)| {
            let subject = if first == last {
                format!("cpu{first}")
            } else {
                format!("cpu{first}-{last}")
            };
            (subject, value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bracketed_choices() {
        let cases = [
            ("always [madvise] never\n", Some("madvise")),
            ("[always] madvise never", Some("always")),
            (
                "always defer defer+madvise [madvise] never",
                Some("madvise"),
            ),
            ("[none] mq-deadline kyber bfq", Some("none")),
            ("none [mq-deadline] kyber bfq ", Some("mq-deadline")),
            ("none\n", Some("none")),
            ("", None),
            ("always madvise", None),
            ("[unterminated", None),
            ("[] x", None),
        ];
        for (input, want) in cases {
            assert_eq!(bracketed(input), want, "{input:?}");
        }
    }

    #[test]
    fn decimals() {
        let cases = [
            ("4096\n", Some(4096)),
            (" 0 ", Some(0)),
            ("-1", None),
            ("12a", None),
            ("", None),
            ("18446744073709551615", Some(u64::MAX)),
        ];
        for (input, want) in cases {
            assert_eq!(decimal(input), want, "{input:?}");
        }
    }

    #[test]
    fn cpu_dir_names() {
        let cases = [
            ("cpu0", Some(0)),
            ("cpu127", Some(127)),
            ("cpufreq", None),
            ("cpuidle", None),
            ("cpu", None),
            ("cpu1a", None),
            ("node0", None),
        ];
        for (input, want) in cases {
            assert_eq!(cpu_dir_id(input), want, "{input:?}");
        }
    }

    const SAMPLE: &str = "           CPU0       CPU1       CPU2       CPU3
  0:         36          0          0          0   IO-APIC   2-edge      timer
 24:          0          0          0          0  PCI-MSI 65536-edge      nvme0q0
 25:       1200          0          0          0  PCI-MSI 65537-edge      nvme0q1
 26:          0       1100          0          0  PCI-MSI 65538-edge      nvme0q2
 27:          5          0        900          0  PCI-MSI 65539-edge      nvme0q3
 40:          1          2          3          4  IR-PCI-MSI 1-edge  ehci_hcd:usb1, uhci_hcd:usb2
NMI:          0          0          0          0   Non-maskable interrupts
ERR:          0
";

    #[test]
    fn interrupts_table() {
        let parsed = interrupts(SAMPLE).expect("sample parses");
        assert_eq!(parsed.cpus, vec![0, 1, 2, 3]);
        assert_eq!(parsed.lines.len(), 8);
        let q1 = &parsed.lines[2];
        assert_eq!(q1.number(), Some(25));
        assert_eq!(q1.counts, vec![1200, 0, 0, 0]);
        assert_eq!(q1.description, "PCI-MSI 65537-edge nvme0q1");
        assert_eq!(q1.handlers().last(), Some("nvme0q1"));
        let shared = &parsed.lines[5];
        let handlers: Vec<&str> = shared.handlers().collect();
        assert_eq!(
            handlers,
            ["IR-PCI-MSI", "1-edge", "ehci_hcd:usb1", "uhci_hcd:usb2"]
        );
        let nmi = &parsed.lines[6];
        assert_eq!(nmi.number(), None);
        assert_eq!(nmi.label, "NMI");
        assert_eq!(parsed.lines[7].counts, vec![0]);
    }

    #[test]
    fn interrupts_with_offline_cpu_columns() {
        let text = "   CPU0   CPU2\n 5:  1  2  edge  nvme1q1\n";
        let parsed = interrupts(text).expect("parses");
        assert_eq!(parsed.cpus, vec![0, 2]);
        assert_eq!(parsed.lines[0].counts, vec![1, 2]);
    }

    #[test]
    fn interrupts_rejects_bad_headers() {
        let cases = ["", "\n 0: 1 timer", " CPU0 CPUx\n", " 0: 1 2\n"];
        for input in cases {
            assert_eq!(
                interrupts(input),
                Err(InterruptsError::NoHeader),
                "{input:?}"
            );
        }
    }

    #[test]
    fn nvme_queue_names() {
        let cases = [
            ("nvme0q1", Some(("nvme0", 1))),
            ("nvme12q0", Some(("nvme12", 0))),
            ("nvme3q127", Some(("nvme3", 127))),
            ("nvme0", None),
            ("nvmeq1", None),
            ("nvme0q", None),
            ("nvme0n1", None),
            ("nvme0q1x", None),
            ("virtio1-req.0", None),
        ];
        for (input, want) in cases {
            assert_eq!(nvme_queue(input), want, "{input:?}");
        }
    }

    #[test]
    fn runs_of_cpus() {
        let a = "performance";
        let b = "powersave";
        type Case<'a> = (&'a [(u32, &'a str)], &'a [(&'a str, &'a str)]);
        let cases: &[Case] = &[
            (&[], &[]),
            (&[(0, a)], &[("cpu0", a)]),
            (&[(0, a), (1, a), (2, a)], &[("cpu0-2", a)]),
            (
                &[(0, a), (1, b), (2, a)],
                &[("cpu0", a), ("cpu1", b), ("cpu2", a)],
            ),
            // A gap (offline CPU 2) breaks a run even when the value repeats.
            (&[(0, a), (1, a), (3, a)], &[("cpu0-1", a), ("cpu3", a)]),
        ];
        for (items, want) in cases {
            let got = cpu_runs(items);
            let got: Vec<(&str, &str)> = got.iter().map(|(s, v)| (s.as_str(), *v)).collect();
            assert_eq!(got, *want, "{items:?}");
        }
    }
}
