//! The `tessera check-host` command line: argument parsing, output, exit code.
//!
//! Owns: the flags, the usage text and the exit codes. Must not: judge settings or probe the
//! host itself; it calls `check_host` and prints what comes back. Invariants: a bad argument
//! is a usage error (exit 2), never a panic; the exit code is 0 unless `--strict` is given
//! and some line is `Fail` (then 1); the host is never changed.

use std::io::Write;
use std::path::PathBuf;

use crate::constants::{CLI_ARGS_MAX, DEVICES_MAX};
use crate::report::{Report, Verdict};
use crate::{check_host, CheckOptions};

pub const EXIT_OK: i32 = 0;
/// `--strict` and at least one `Fail` line.
pub const EXIT_FAIL: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
/// The report could not be written to standard output.
pub const EXIT_OUTPUT: i32 = 3;

pub const USAGE: &str = "\
usage: tessera check-host [--device PATH]... [--json] [--strict] [--sys-root DIR]

Reads the host's live settings and prints current vs recommended, one verdict per line.
Changes nothing; the only write is one 4096-byte probe file, created and deleted at once,
in each --device directory (a block device is only read).

  --device PATH    a data directory or block device Tessera will use (repeatable)
  --json           print JSON instead of a table
  --strict         exit 1 if any line is FAIL
  --sys-root DIR   read proc/ and sys/ under DIR instead of / (tests, containers)
  --help           print this text
";

/// What the arguments ask for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Check { options: CheckOptions, strict: bool },
    Help,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UsageError {
    TooManyArguments,
    TooManyDevices,
    MissingValue(String),
    EmptyValue(String),
    UnknownArgument(String),
}

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UsageError::TooManyArguments => write!(f, "more than {CLI_ARGS_MAX} arguments"),
            UsageError::TooManyDevices => write!(f, "more than {DEVICES_MAX} --device paths"),
            UsageError::MissingValue(flag) => write!(f, "{flag} needs a value"),
            UsageError::EmptyValue(flag) => write!(f, "{flag} needs a non-empty value"),
            UsageError::UnknownArgument(arg) => write!(f, "unknown argument {arg:?}"),
        }
    }
}

/// Parses the arguments after `check-host` (no program name). `--flag value` and
/// `--flag=value` are both accepted.
pub fn parse_args(args: &[String]) -> Result<Command, UsageError> {
    if args.len() > CLI_ARGS_MAX {
        return Err(UsageError::TooManyArguments);
    }
    let mut options = CheckOptions::default();
    let mut strict = false;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_string())),
            _ => (arg.as_str(), None),
        };
        match flag {
            "--help" | "-h" if inline.is_none() => return Ok(Command::Help),
            "--json" if inline.is_none() => options.json = true,
            "--strict" if inline.is_none() => strict = true,
            "--device" | "--sys-root" => {
                let value = match inline {
                    Some(value) => value,
                    None => rest
                        .next()
                        .cloned()
                        .ok_or_else(|| UsageError::MissingValue(flag.to_string()))?,
                };
                if value.is_empty() {
                    return Err(UsageError::EmptyValue(flag.to_string()));
                }
                if flag == "--sys-root" {
                    options.sys_root = PathBuf::from(value);
                } else if options.devices.len() == DEVICES_MAX {
                    return Err(UsageError::TooManyDevices);
                } else {
                    options.devices.push(PathBuf::from(value));
                }
            }
            _ => return Err(UsageError::UnknownArgument(arg.clone())),
        }
    }
    Ok(Command::Check { options, strict })
}

/// 1 when `strict` and some line failed, else 0.
pub fn exit_code(report: &Report, strict: bool) -> i32 {
    if strict && report.worst() == Verdict::Fail {
        EXIT_FAIL
    } else {
        EXIT_OK
    }
}

/// Runs `tessera check-host` with the arguments after the subcommand and returns the exit
/// code: `std::process::exit(tessera_tuning::run_cli(&args))`.
pub fn run_cli(args: &[String]) -> i32 {
    run_cli_with(
        args,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    )
}

/// `run_cli` writing to `out` and `err` instead of the process's standard streams.
pub fn run_cli_with(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let (options, strict) = match parse_args(args) {
        Ok(Command::Check { options, strict }) => (options, strict),
        Ok(Command::Help) => return print(out, err, USAGE, EXIT_OK),
        Err(error) => {
            let _ = write!(err, "tessera check-host: {error}\n\n{USAGE}");
            return EXIT_USAGE;
        }
    };
    let report = check_host(&options);
    let text = if options.json {
        report.render_json()
    } else {
        report.render_table()
    };
    print(out, err, &text, exit_code(&report, strict))
}

fn print(out: &mut dyn Write, err: &mut dyn Write, text: &str, code: i32) -> i32 {
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => code,
        Err(error) => {
            let _ = writeln!(err, "tessera check-host: writing output: {error}");
            EXIT_OUTPUT
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Line;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    fn check(devices: &[&str], json: bool, strict: bool, root: &str) -> Command {
        Command::Check {
            options: CheckOptions {
                devices: devices.iter().map(PathBuf::from).collect(),
                json,
                sys_root: PathBuf::from(root),
            },
            strict,
        }
    }

    #[test]
    fn parses_flags() {
        let cases: Vec<(&[&str], Result<Command, UsageError>)> = vec![
            (&[], Ok(check(&[], false, false, "/"))),
            (&["--json"], Ok(check(&[], true, false, "/"))),
            (&["--strict"], Ok(check(&[], false, true, "/"))),
            (
                &["--device", "/d0", "--device=/d1", "--json", "--strict"],
                Ok(check(&["/d0", "/d1"], true, true, "/")),
            ),
            (&["--sys-root=/host"], Ok(check(&[], false, false, "/host"))),
            (
                &["--sys-root", "/h", "--device", "x"],
                Ok(check(&["x"], false, false, "/h")),
            ),
            (&["--help"], Ok(Command::Help)),
            (&["--json", "-h"], Ok(Command::Help)),
            (
                &["--device"],
                Err(UsageError::MissingValue("--device".into())),
            ),
            (
                &["--device="],
                Err(UsageError::EmptyValue("--device".into())),
            ),
            (
                &["--device", ""],
                Err(UsageError::EmptyValue("--device".into())),
            ),
            (
                &["--json=yes"],
                Err(UsageError::UnknownArgument("--json=yes".into())),
            ),
            (&["--fix"], Err(UsageError::UnknownArgument("--fix".into()))),
            (&["/data"], Err(UsageError::UnknownArgument("/data".into()))),
        ];
        for (input, want) in cases {
            assert_eq!(parse_args(&args(input)), want, "{input:?}");
        }
    }

    #[test]
    fn limits_devices_and_arguments() {
        let mut many = Vec::new();
        for i in 0..=DEVICES_MAX {
            many.push("--device".to_string());
            many.push(format!("/d{i}"));
        }
        assert_eq!(parse_args(&many[..2 * DEVICES_MAX]).map(|_| ()), Ok(()));
        assert_eq!(parse_args(&many), Err(UsageError::TooManyDevices));
        let flood = vec!["--json".to_string(); CLI_ARGS_MAX + 1];
        assert_eq!(parse_args(&flood), Err(UsageError::TooManyArguments));
    }

    #[test]
    fn exit_code_fails_only_when_strict_and_failed() {
        let with = |verdict| Report {
            lines: vec![Line {
                check: "c".into(),
                subject: "s".into(),
                current: "x".into(),
                recommended: "y".into(),
                verdict,
                why: "w".into(),
            }],
        };
        let cases = [
            (Verdict::Ok, false, EXIT_OK),
            (Verdict::Ok, true, EXIT_OK),
            (Verdict::Warn, true, EXIT_OK),
            (Verdict::Unknown, true, EXIT_OK),
            (Verdict::Fail, false, EXIT_OK),
            (Verdict::Fail, true, EXIT_FAIL),
        ];
        for (verdict, strict, want) in cases {
            assert_eq!(
                exit_code(&with(verdict), strict),
                want,
                "{verdict:?} {strict}"
            );
        }
    }

    fn run(words: &[&str]) -> (i32, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run_cli_with(&args(words), &mut out, &mut err);
        let text = |bytes: Vec<u8>| String::from_utf8(bytes).expect("output is UTF-8");
        (code, text(out), text(err))
    }

    #[test]
    fn usage_errors_and_help() {
        let (code, out, err) = run(&["--no-such-flag"]);
        assert_eq!((code, out.as_str()), (EXIT_USAGE, ""));
        assert!(
            err.starts_with("tessera check-host: unknown argument"),
            "{err}"
        );
        assert!(err.contains("usage:"), "{err}");
        let (code, out, err) = run(&["--help"]);
        assert_eq!((code, out.as_str(), err.as_str()), (EXIT_OK, USAGE, ""));
    }

    struct Closed;
    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn closed_output_is_an_exit_code_not_a_panic() {
        let mut err = Vec::new();
        let code = run_cli_with(&args(&["--help"]), &mut Closed, &mut err);
        assert_eq!(code, EXIT_OUTPUT);
        assert!(String::from_utf8_lossy(&err).contains("writing output"));
    }
}
