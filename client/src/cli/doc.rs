//! `iiadm` described as a clap [`Command`] for its man page and shell
//! completions (crate `clidoc`). The parser itself is getopt-style
//! ([`super::args::parse_low`]), not clap; the description is derived from
//! its usage summary ([`super::args::USAGE`]) so the classic option texts are
//! written once:
//!
//! * the `[--name VALUE]` groups of the synopsis lines become long options
//!   (their help comes from [`LONG_HELP`]);
//! * each `-X OPERANDS   description` entry of the option lines becomes the
//!   short option `-X` with that description (several entries for one
//!   letter, such as `-P SET` and `-P DELAY UNITS SET`, are joined);
//! * the remaining lines (`A SET is…`, `Environment:`, `Exit status:`) become
//!   the page's closing sections.
//!
//! `iiadm mirror` becomes the subcommand `mirror`, described the same way
//! from its own summary ([`super::mirror::MIRROR_USAGE`]).

use super::args::USAGE;
use super::mirror::MIRROR_USAGE;
use clidoc::clap::{self, Arg, ArgAction, Command};

/// Help of the long options, which the usage summary lists without words.
const LONG_HELP: &[(&str, &str)] = &[
    (
        "url",
        "CIM server URL, http:// or https:// [env IIADM_URL, default http://127.0.0.1:5988]",
    ),
    (
        "user",
        "User name for HTTP Basic authentication [env IIADM_USER]",
    ),
    (
        "password-file",
        "File whose first line is the password [else env IIADM_PASSWORD]",
    ),
    ("json", "Print results as JSON"),
    (
        "ca-file",
        "PEM certificate(s) trusted for https:// (e.g. cimomd's self-signed cert.pem)",
    ),
    (
        "no-verify",
        "Do not verify the server's certificate (testing only)",
    ),
    ("timeout", "Seconds to wait for one CIM operation"),
];

/// One `-X …  description` entry of the usage summary.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// The letter, a slice of [`USAGE`] (clap wants `'static` names).
    letter: &'static str,
    synopsis: &'static str,
    help: &'static str,
}

/// Splits the option lines of the usage summary into entries: columns are
/// separated by two or more spaces, a column starting with `-` is a synopsis,
/// the next column that does not is the description of every synopsis since
/// (and of every option letter in it).
fn entries() -> Vec<Entry> {
    entries_of(USAGE)
}

/// [`entries`] of any usage summary written the same way.
fn entries_of(usage: &'static str) -> Vec<Entry> {
    let mut out = Vec::new();
    for line in usage.lines().filter(|l| l.starts_with("  -")) {
        let mut pending: Vec<&'static str> = Vec::new();
        for col in line.split("  ").map(str::trim).filter(|c| !c.is_empty()) {
            if col.starts_with('-') {
                pending.push(col);
            } else {
                for synopsis in pending.drain(..) {
                    // Every letter of the synopsis (`-g GROUP -m SET...`
                    // documents -m too).
                    let letters = synopsis
                        .split(' ')
                        .filter_map(|w| w.strip_prefix('-'))
                        .filter(|w| w.len() == 1);
                    for letter in letters {
                        out.push(Entry {
                            letter,
                            synopsis,
                            help: col,
                        });
                    }
                }
            }
        }
    }
    out
}

/// Long options named in the synopsis (`[--url URL]`), with their value name.
fn long_options() -> Vec<(&'static str, Option<&'static str>)> {
    USAGE
        .lines()
        .take_while(|l| !l.starts_with("  -"))
        .flat_map(|l| l.split('['))
        .filter_map(|g| g.split(']').next())
        .filter_map(|g| g.strip_prefix("--"))
        .map(|g| match g.split_once(' ') {
            Some((n, v)) => (n, Some(v)),
            None => (g, None),
        })
        .collect()
}

/// The `iiadm` command for documentation and completions.
pub fn command() -> Command {
    let mut cmd = Command::new("iiadm")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Instant Image administration: point-in-time copies over CIM-XML")
        .long_about(
            "Administers Instant Image sets, groups and overflow volumes of a CIM \
             server (cimomd) with the classic option letters. A SET is named by its \
             shadow volume path or its set name. Letters combine as with getopt \
             (-nw SET, -gGROUP).",
        )
        .disable_help_flag(true)
        .disable_version_flag(true);
    for (name, value) in long_options() {
        let help = LONG_HELP
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, h)| *h)
            .unwrap_or_default();
        let mut arg = Arg::new(name).long(name).help(help);
        arg = match value {
            Some(v) => arg.value_name(v).action(ArgAction::Set),
            None => arg.action(ArgAction::SetTrue),
        };
        if help.contains("PEM") || help.contains("File") {
            arg = arg.value_hint(clap::ValueHint::FilePath);
        }
        cmd = cmd.arg(arg);
    }
    cmd = add_letters(cmd, &entries());
    let closing: Vec<&str> = USAGE
        .lines()
        .skip_while(|l| !l.starts_with("  -"))
        .filter(|l| !l.starts_with(' '))
        .collect();
    cmd.arg(operands(
        "Volumes, sets, groups and numbers, as the option needs",
    ))
    .after_long_help(closing.join("\n\n"))
    .subcommand(mirror_command())
}

/// The positional operands, with their help.
fn operands(help: &'static str) -> Arg {
    Arg::new("operands")
        .value_name("OPERAND")
        .num_args(0..)
        .value_hint(clap::ValueHint::AnyPath)
        .help(help)
}

/// `iiadm mirror`: its letters from [`MIRROR_USAGE`], its long options
/// from the option lines there.
fn mirror_command() -> Command {
    let mut cmd = Command::new("mirror")
        .about("Continuous copy (remote mirror) to another host, with the sndradm verbs")
        .disable_help_flag(true);
    cmd = add_letters(cmd, &entries_of(MIRROR_USAGE));
    for (long, value, help) in [
        ("json", None, "Print results as JSON"),
        ("mode", Some("MODE"), "sync or async (-e/-E; default sync)"),
        (
            "link-timeout",
            Some("SECS"),
            "Seconds a write waits for the secondary before the link counts as lost (default 5)",
        ),
        (
            "link-policy",
            Some("POLICY"),
            "logging or freeze: what host writes do after link loss",
        ),
        (
            "queue-full",
            Some("WHAT"),
            "block or noblock: a full async queue stalls writers or drops to logging",
        ),
        (
            "queue-writes",
            Some("N"),
            "Async queue bound in writes (default 4096)",
        ),
        (
            "queue-bytes",
            Some("N"),
            "Async queue bound in bytes (default 8388608)",
        ),
        (
            "autosync",
            None,
            "Retry a lost link and update-sync when it returns",
        ),
        (
            "protect-target",
            None,
            "Snapshot the secondary before every resync",
        ),
    ] {
        let arg = Arg::new(long).long(long).help(help);
        cmd = cmd.arg(match value {
            Some(v) => arg.value_name(v).action(ArgAction::Set),
            None => arg.action(ArgAction::SetTrue),
        });
    }
    let closing: Vec<&str> = MIRROR_USAGE
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with(' '))
        .collect();
    cmd.arg(operands(
        "Volumes, HOST:SECONDARY, modes and numbers, as the option needs",
    ))
    .after_long_help(closing.join("\n\n"))
}

/// Adds one short option per letter of `entries`, its help joined from
/// every entry of that letter.
fn add_letters(mut cmd: Command, entries: &[Entry]) -> Command {
    let mut seen = Vec::new();
    for e in entries {
        if seen.contains(&e.letter) {
            continue;
        }
        seen.push(e.letter);
        let help: Vec<String> = entries
            .iter()
            .filter(|x| x.letter == e.letter)
            .map(|x| format!("{}: {}", x.synopsis, x.help))
            .collect();
        let letter = e.letter.chars().next().unwrap_or('?');
        cmd = cmd.arg(
            Arg::new(e.letter)
                .short(letter)
                .action(ArgAction::SetTrue)
                .help(help.join("; ")),
        );
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_letter_and_long_option_is_described() {
        let cmd = command();
        for letter in "edulicawLADOQZEIJPsrRCMBNXGgnhvm".chars() {
            let letter_str = letter.to_string();
            assert!(
                entries().iter().any(|e| e.letter == letter_str),
                "-{letter}"
            );
            let arg = cmd
                .get_arguments()
                .find(|a| a.get_short() == Some(letter))
                .unwrap_or_else(|| panic!("-{letter} missing"));
            assert!(arg.get_help().is_some_and(|h| !h.to_string().is_empty()));
        }
        for long in [
            "url",
            "user",
            "password-file",
            "json",
            "ca-file",
            "no-verify",
            "timeout",
        ] {
            let arg = cmd
                .get_arguments()
                .find(|a| a.get_long() == Some(long))
                .unwrap_or_else(|| panic!("--{long} missing"));
            assert!(!arg.get_help().unwrap().to_string().is_empty(), "--{long}");
        }
        let p = cmd
            .get_arguments()
            .find(|a| a.get_short() == Some('P'))
            .unwrap()
            .get_help()
            .unwrap()
            .to_string();
        assert!(
            p.contains("-P SET: show copy parameters")
                && p.contains("-P DELAY UNITS SET: set them"),
            "{p}"
        );
        let mirror = cmd
            .get_subcommands()
            .find(|c| c.get_name() == "mirror")
            .expect("mirror subcommand");
        for letter in "eEdlmurwPRgt".chars() {
            assert!(
                mirror
                    .get_arguments()
                    .any(|a| a.get_short() == Some(letter)),
                "mirror -{letter}"
            );
        }
        let tail = cmd.get_after_long_help().unwrap().to_string();
        assert!(tail.contains("Exit status: 0 success, 1 operation failed, 2 bad usage."));
        assert!(
            tail.contains("Sessions: iiadm session check FILE [--json]"),
            "{tail}"
        );
    }
}
