//! `iiadm mirror`: continuous copy (`DS_IIMirror`) with the verbs
//! `sndradm` users know. Everything after the word `mirror` is parsed here
//! ([`parse`]); the connection options come before it, as for every
//! `iiadm` command. [`execute`] runs the command; the exit status is real:
//! 0 only when the operation succeeded (a sync that could not start, or a
//! wait that timed out, is 1), 2 on bad usage.

use super::args::UsageError;
use super::run::{Failure, Io};
use crate::ii::{IiHost, MirrorHandle, MirrorInfo, MirrorSpec};
use cim::ops::ParamValue;
use cim::{CimType, Value};
use std::time::Duration;

/// The usage summary of `iiadm mirror` (also the source of its man page
/// entries, see `doc.rs`).
pub const MIRROR_USAGE: &str = "\
usage: iiadm [CONNECTION OPTIONS] mirror [--json] OPTION ...
  -e PRIMARY HOST:SECONDARY SCOREBOARD [sync|async]   enable, full sync needed
  -E PRIMARY HOST:SECONDARY SCOREBOARD [sync|async]   enable, volumes known equal
  -d PRIMARY             disable and release the secondary
  -l PRIMARY             logging: stop replicating, track changes
  -m PRIMARY             full sync            -u PRIMARY     update sync
  -r -m PRIMARY          reverse full sync    -r -u PRIMARY  reverse update sync
  -w PRIMARY  -t SECS   wait until in step, at most SECS (0 or no -t: no limit)
  -P [PRIMARY]           status of one or every mirror
  -R m sync|async PRIMARY   switch the mode
  -g GROUP OPTION        act on a consistency group (-e -E: enable into it; -l -m -u -w -P)
  --mode sync|async  --link-timeout SECS  --link-policy logging|freeze
  --queue-full block|noblock  --queue-writes N  --queue-bytes N
  --autosync  --protect-target           options of -e/-E
HOST is a peer of the server's peers file, or localhost.
Exit status: 0 success, 1 operation failed (also a wait that timed out), 2 bad usage.
";

/// What one `iiadm mirror` command does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MirrorVerb {
    /// `-e` / `-E`.
    Enable(MirrorSpecArgs),
    /// `-d`.
    Disable,
    /// `-l`.
    Logging,
    /// `-m` (`reverse`: `-r -m`).
    FullSync {
        /// Secondary → primary.
        reverse: bool,
    },
    /// `-u` (`reverse`: `-r -u`).
    UpdateSync {
        /// Secondary → primary.
        reverse: bool,
    },
    /// `-w` with a timeout in seconds (0: none).
    Wait(u32),
    /// `-P`.
    Status,
    /// `-R m MODE`.
    SetMode(String),
    /// `-h`.
    Help,
}

/// `-e`/`-E` operands and options (kept as text; the server checks them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MirrorSpecArgs {
    /// Secondary host.
    pub host: String,
    /// Secondary volume.
    pub secondary: String,
    /// Scoreboard.
    pub scoreboard: String,
    /// `-E`.
    pub equal: bool,
    /// Mode.
    pub mode: Option<String>,
    /// `(property, value text)` options.
    pub options: Vec<(String, String)>,
}

/// A parsed `iiadm mirror` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorCmd {
    /// The verb.
    pub verb: MirrorVerb,
    /// The primary volume (none: a group, or every mirror for `-P`).
    pub primary: Option<String>,
    /// `-g GROUP`.
    pub group: Option<String>,
    /// `--json`.
    pub json: bool,
}

fn usage(msg: impl Into<String>) -> UsageError {
    UsageError::Mirror(msg.into())
}

/// Parses the arguments after `mirror`.
pub fn parse(args: &[String]) -> Result<MirrorCmd, UsageError> {
    let mut verbs: Vec<char> = Vec::new();
    let mut reverse = false;
    let mut group = None;
    let mut json = false;
    let mut wait_secs: Option<u32> = None;
    let mut mode_optarg: Option<String> = None;
    let mut spec = MirrorSpecArgs::default();
    let mut ops: Vec<String> = Vec::new();
    let mut it = args.iter().peekable();
    let number = |t: &str| {
        t.parse::<u32>()
            .map_err(|_| UsageError::Number(t.to_owned()))
    };
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| UsageError::MissingValue(name.to_owned()))
        };
        match arg.as_str() {
            "--json" => json = true,
            "--mode" => spec.mode = Some(value("--mode")?),
            "--group" => group = Some(value("--group")?),
            "--autosync" => spec.options.push(("autosync".into(), "true".into())),
            "--protect-target" => spec.options.push(("protectTarget".into(), "true".into())),
            "--link-timeout" => {
                let v = value("--link-timeout")?;
                number(&v)?;
                spec.options.push(("linkTimeout".into(), v));
            }
            "--queue-writes" => {
                let v = value("--queue-writes")?;
                number(&v)?;
                spec.options.push(("queueWrites".into(), v));
            }
            "--queue-bytes" => {
                let v = value("--queue-bytes")?;
                v.parse::<u64>()
                    .map_err(|_| UsageError::Number(v.clone()))?;
                spec.options.push(("queueBytes".into(), v));
            }
            "--link-policy" => spec
                .options
                .push(("linkPolicy".into(), value("--link-policy")?)),
            "--queue-full" => spec
                .options
                .push(("queueFull".into(), value("--queue-full")?)),
            "-g" => group = Some(value("-g")?),
            "-t" => wait_secs = Some(number(&value("-t")?)?),
            "-R" => {
                let m = value("-R")?;
                if m != "m" {
                    return Err(usage(format!("-R takes m MODE, not {m:?}")));
                }
                mode_optarg = Some(value("-R m")?);
                verbs.push('R');
            }
            "-r" => reverse = true,
            "-h" | "--help" => verbs.push('h'),
            a if a.starts_with("--") => return Err(UsageError::Unrecognized(a.to_owned())),
            a if a.starts_with('-') && a.len() > 1 => {
                for c in a[1..].chars() {
                    match c {
                        'e' | 'E' | 'd' | 'l' | 'm' | 'u' | 'w' | 'P' => verbs.push(c),
                        'r' => reverse = true,
                        'h' => verbs.push('h'),
                        other => return Err(UsageError::Unrecognized(format!("-{other}"))),
                    }
                }
            }
            _ => ops.push(arg.clone()),
        }
    }
    if verbs.contains(&'h') {
        return Ok(MirrorCmd {
            verb: MirrorVerb::Help,
            primary: None,
            group,
            json,
        });
    }
    let verb = match verbs.as_slice() {
        [] => return Err(UsageError::NoAction),
        [v] => *v,
        _ => return Err(UsageError::TooManyActions),
    };
    if reverse && !matches!(verb, 'm' | 'u') {
        return Err(usage("-r goes with -m or -u"));
    }
    if wait_secs.is_some() && verb != 'w' {
        return Err(usage("-t goes with -w"));
    }
    if let Some(g) = &group {
        if g.is_empty() || g.starts_with('-') || g.chars().any(char::is_whitespace) {
            return Err(UsageError::BadGroupName(g.clone()));
        }
    }
    let one = |ops: &mut Vec<String>, what: &'static str| -> Result<Option<String>, UsageError> {
        match (ops.len(), group.is_some()) {
            (0, true) => Ok(None),
            (0, false) => Err(UsageError::MissingOperand(verb, what)),
            (1, false) => Ok(ops.pop()),
            (_, true) => Err(usage(format!("-{verb} with -g takes no volume"))),
            _ => Err(UsageError::TooManyOperands(verb, ops[1..].join(" "))),
        }
    };
    let (verb, primary) = match verb {
        'e' | 'E' => {
            if let [_, _, _, m] = ops.as_slice() {
                spec.mode.get_or_insert(m.clone());
                ops.pop();
            }
            let [primary, secondary, scoreboard] = ops.as_slice() else {
                return Err(usage(format!(
                    "-{verb} needs PRIMARY HOST:SECONDARY SCOREBOARD [sync|async]"
                )));
            };
            let Some((host, vol)) = secondary
                .split_once(':')
                .filter(|(h, v)| !h.is_empty() && !v.is_empty())
            else {
                return Err(usage(format!(
                    "the secondary {secondary:?} must be HOST:VOLUME (HOST a peer, or localhost)"
                )));
            };
            spec.host = host.to_owned();
            spec.secondary = vol.to_owned();
            spec.scoreboard = scoreboard.clone();
            spec.equal = verb == 'E';
            (MirrorVerb::Enable(spec), Some(primary.clone()))
        }
        'd' => (MirrorVerb::Disable, one(&mut ops, "PRIMARY")?),
        'l' => (MirrorVerb::Logging, one(&mut ops, "PRIMARY")?),
        'm' => (MirrorVerb::FullSync { reverse }, one(&mut ops, "PRIMARY")?),
        'u' => (
            MirrorVerb::UpdateSync { reverse },
            one(&mut ops, "PRIMARY")?,
        ),
        'w' => (
            MirrorVerb::Wait(wait_secs.unwrap_or(0)),
            one(&mut ops, "PRIMARY")?,
        ),
        'R' => (
            MirrorVerb::SetMode(mode_optarg.unwrap_or_default()),
            one(&mut ops, "PRIMARY")?,
        ),
        'P' => {
            if ops.len() > 1 {
                return Err(UsageError::TooManyOperands('P', ops[1..].join(" ")));
            }
            (MirrorVerb::Status, ops.pop())
        }
        _ => return Err(UsageError::NoAction),
    };
    if group.is_some() && matches!(verb, MirrorVerb::Disable | MirrorVerb::SetMode(_)) {
        return Err(UsageError::GroupNotAllowed);
    }
    if group.is_some()
        && matches!(
            verb,
            MirrorVerb::FullSync { reverse: true } | MirrorVerb::UpdateSync { reverse: true }
        )
    {
        return Err(UsageError::GroupNotAllowed);
    }
    Ok(MirrorCmd {
        verb,
        primary,
        group,
        json,
    })
}

fn failure(what: String, error: crate::Error) -> Failure {
    Failure { what, error }
}

/// The value of an option given as text, typed as its property.
fn option_value(name: &str, text: &str) -> (CimType, Value) {
    match name {
        "linkTimeout" | "queueWrites" => (
            CimType::Uint32,
            Value::Uint32(text.parse().unwrap_or_default()),
        ),
        "queueBytes" => (
            CimType::Uint64,
            Value::Uint64(text.parse().unwrap_or_default()),
        ),
        "autosync" | "protectTarget" => (CimType::Boolean, Value::Boolean(text == "true")),
        _ => (CimType::String, Value::String(text.to_owned())),
    }
}

/// Writes the status of mirrors, as text or JSON.
fn print_status(io: &mut Io<'_>, mirrors: &[MirrorInfo], json: bool) {
    if json {
        let text = serde_json::to_string_pretty(mirrors).unwrap_or_default();
        let _ = writeln!(io.out, "{text}");
        return;
    }
    for m in mirrors {
        let _ = writeln!(
            io.out,
            "{} -> {}:{}\n  mode: {}  state: {}  link: {}\n  synchronized: {:.1} %  behind: {} bytes  queue: {}  dirty chunks: {}\n  scoreboard: {}{}{}",
            m.primary_volume,
            m.secondary_host,
            m.secondary_volume,
            m.mode,
            m.state,
            m.link_state,
            m.percent_synchronized,
            m.bytes_behind,
            m.queue_depth,
            m.dirty_chunks,
            m.scoreboard_volume,
            if m.group_name.is_empty() {
                String::new()
            } else {
                format!("  group: {}", m.group_name)
            },
            if m.last_error.is_empty() {
                String::new()
            } else {
                format!("\n  last error: {}", m.last_error)
            },
        );
    }
}

/// Runs a mirror command on `host`.
pub async fn execute(host: &IiHost, cmd: &MirrorCmd, io: &mut Io<'_>) -> Result<(), Failure> {
    let what = match (&cmd.group, &cmd.primary) {
        (Some(g), _) if !matches!(cmd.verb, MirrorVerb::Enable(_)) => format!("mirror group {g}"),
        (_, Some(p)) => format!("mirror of {p}"),
        _ => "mirrors".to_owned(),
    };
    let err = |e| failure(what.clone(), e);
    let timeout = host.client().config().timeout;
    match &cmd.verb {
        MirrorVerb::Help => {
            let _ = io.out.write_all(MIRROR_USAGE.as_bytes());
            return Ok(());
        }
        MirrorVerb::Enable(a) => {
            let primary = cmd.primary.clone().unwrap_or_default();
            let spec = MirrorSpec {
                primary: primary.clone(),
                secondary_host: a.host.clone(),
                secondary: a.secondary.clone(),
                scoreboard: a.scoreboard.clone(),
                mode: a.mode.clone(),
                group: cmd.group.clone(),
                volumes_equal: a.equal,
                options: a
                    .options
                    .iter()
                    .map(|(n, t)| {
                        let (ty, v) = option_value(n, t);
                        (n.clone(), ty, v)
                    })
                    .collect(),
            };
            let h = host.create_mirror(&spec).await.map_err(err)?;
            return report(io, &[h], cmd.json, &what).await;
        }
        MirrorVerb::Status => {
            let all = host.mirrors().await.map_err(err)?;
            let shown: Vec<MirrorInfo> = match (&cmd.group, &cmd.primary) {
                (Some(g), _) => all.into_iter().filter(|m| &m.group_name == g).collect(),
                (None, Some(p)) => {
                    let h = host.mirror(p).await.map_err(err)?;
                    vec![h.info().await.map_err(err)?]
                }
                (None, None) => all,
            };
            print_status(io, &shown, cmd.json);
            return Ok(());
        }
        _ => {}
    }
    if let Some(g) = &cmd.group {
        let (method, params, limit) = match &cmd.verb {
            MirrorVerb::Logging => ("logging", Vec::new(), timeout),
            MirrorVerb::FullSync { .. } => ("fullSync", Vec::new(), timeout),
            MirrorVerb::UpdateSync { .. } => ("updateSync", Vec::new(), timeout),
            MirrorVerb::Wait(secs) => (
                "waitForSync",
                vec![ParamValue::new(
                    "timeoutSeconds",
                    CimType::Uint32,
                    Value::Uint32(*secs),
                )],
                (*secs > 0).then(|| Duration::from_secs(u64::from(*secs) + 30)),
            ),
            _ => return Ok(()),
        };
        host.mirror_group_call(g, method, params, limit)
            .await
            .map_err(err)?;
        let members = host.mirror_group(g).await.map_err(err)?;
        return report(io, &members, cmd.json, &what).await;
    }
    let primary = cmd.primary.clone().unwrap_or_default();
    let h = host.mirror(&primary).await.map_err(err)?;
    match &cmd.verb {
        MirrorVerb::Disable => {
            h.delete().await.map_err(err)?;
            if cmd.json {
                let _ = writeln!(io.out, "{{\"disabled\": {:?}}}", h.primary());
            }
            return Ok(());
        }
        MirrorVerb::Logging => h.logging().await,
        MirrorVerb::FullSync { reverse: false } => h.full_sync().await,
        MirrorVerb::UpdateSync { reverse: false } => h.update_sync().await,
        MirrorVerb::FullSync { reverse: true } => h.reverse_sync(true).await,
        MirrorVerb::UpdateSync { reverse: true } => h.reverse_sync(false).await,
        MirrorVerb::Wait(secs) => h.wait_for_sync(*secs).await,
        MirrorVerb::SetMode(m) => h.set_mode(m).await,
        MirrorVerb::Enable(_) | MirrorVerb::Status | MirrorVerb::Help => Ok(()),
    }
    .map_err(err)?;
    report(io, &[h], cmd.json, &what).await
}

/// After an action: with `--json`, the mirrors' state now.
async fn report(
    io: &mut Io<'_>,
    mirrors: &[MirrorHandle],
    json: bool,
    what: &str,
) -> Result<(), Failure> {
    if !json {
        return Ok(());
    }
    let mut infos = Vec::new();
    for m in mirrors {
        infos.push(m.info().await.map_err(|e| failure(what.to_owned(), e))?);
    }
    print_status(io, &infos, true);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<MirrorCmd, UsageError> {
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn enable_takes_host_secondary_mode_and_options() {
        let c = p(&[
            "-e",
            "/v/p",
            "b:/w/s",
            "/v/sb",
            "async",
            "--protect-target",
            "--link-timeout",
            "2",
        ])
        .unwrap();
        assert_eq!(c.primary.as_deref(), Some("/v/p"));
        let MirrorVerb::Enable(a) = c.verb else {
            panic!()
        };
        assert_eq!((a.host.as_str(), a.secondary.as_str()), ("b", "/w/s"));
        assert_eq!(a.mode.as_deref(), Some("async"));
        assert!(!a.equal);
        assert!(a.options.contains(&("linkTimeout".into(), "2".into())));
        let c = p(&["-g", "g1", "-E", "/v/p", "localhost:/v/s", "/v/sb"]).unwrap();
        assert_eq!(c.group.as_deref(), Some("g1"));
        assert!(matches!(
            c.verb,
            MirrorVerb::Enable(MirrorSpecArgs { equal: true, .. })
        ));
    }

    #[test]
    fn verbs_and_modifiers() {
        assert_eq!(
            p(&["-r", "-m", "/v/p"]).unwrap().verb,
            MirrorVerb::FullSync { reverse: true }
        );
        assert_eq!(
            p(&["-ru", "/v/p"]).unwrap().verb,
            MirrorVerb::UpdateSync { reverse: true }
        );
        assert_eq!(
            p(&["-w", "/v/p", "-t", "5"]).unwrap().verb,
            MirrorVerb::Wait(5)
        );
        assert_eq!(
            p(&["-R", "m", "async", "/v/p"]).unwrap().verb,
            MirrorVerb::SetMode("async".into())
        );
        let s = p(&["-P", "--json"]).unwrap();
        assert!(s.json && s.primary.is_none() && s.verb == MirrorVerb::Status);
        assert_eq!(p(&["-g", "g", "-u"]).unwrap().group.as_deref(), Some("g"));
    }

    #[test]
    fn bad_usage_is_refused() {
        for bad in [
            &[][..],
            &["-m"],
            &["-m", "-u", "/v/p"],
            &["-r", "-l", "/v/p"],
            &["-e", "/v/p", "/w/s", "/v/sb"],
            &["-R", "x", "sync", "/v/p"],
            &["-t", "3", "-m", "/v/p"],
            &["-g", "g", "-d"],
            &["-d", "/v/p", "/v/q"],
            &["--frobnicate"],
        ] {
            assert!(p(bad).is_err(), "{bad:?}");
        }
    }
}
