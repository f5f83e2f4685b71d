//! `iiadm` argument parsing in two stages, as ripgrep does:
//!
//! 1. [`LowArgs`]: what the user typed, tokenised by a hand-written
//!    getopt-style parser ([`parse_low`]) — long options, single-letter
//!    classic options (clusters such as `-nw` and attached values such as
//!    `-cs` or `-gGROUP` work as with getopt), and positional operands in order.
//!    No I/O.
//! 2. [`HighArgs`]: the validated command ([`LowArgs::into_high`]): exactly
//!    one [`Action`] with typed operands, the group scope, and the connection
//!    settings with environment defaults applied. Reading the password file
//!    happens later, in the runner.
//!
//! Besides the option letters, one word command: `session check FILE`
//! (the first operand `session`, with no action letter).
//!
//! Every usage problem is a [`UsageError`] whose text is the classic message
//! ("must specify an action flag", "too many action flags", ...); `iiadm`
//! prints it with the usage summary and exits 2.

use crate::ii::{CopyParams, Direction, SetType};
use std::path::PathBuf;

/// A usage error (exit status 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsageError {
    /// Arguments but no action letter.
    #[error("must specify an action flag")]
    NoAction,
    /// More than one action letter.
    #[error("too many action flags")]
    TooManyActions,
    /// An option letter or long option we do not know.
    #[error("unrecognized argument {0}")]
    Unrecognized(String),
    /// An option that needs a value got none.
    #[error("option {0} requires a value")]
    MissingValue(String),
    /// `-e` without `ind` or `dep`.
    #[error("must specify ind or dep with -e")]
    SetType,
    /// `-c`/`-u` without `s` or `m`.
    #[error("must specify m or s with -{0}")]
    Direction(char),
    /// `-e` with the wrong number of volumes.
    #[error("must specify 3 volumes with -e")]
    EnableVolumes,
    /// Too few operands for an action.
    #[error("-{0} requires {1}")]
    MissingOperand(char, &'static str),
    /// Operands left over.
    #[error("too many arguments for -{0}: {1}")]
    TooManyOperands(char, String),
    /// `-g` with an option that acts on one volume only.
    #[error("can't use a group with this option")]
    GroupNotAllowed,
    /// `-m` without `-g`.
    #[error("must use a group with this option")]
    GroupRequired,
    /// `-g` without a name before an action that needs one.
    #[error("-g requires a group name")]
    GroupName,
    /// A group name starting with `-` or containing whitespace.
    #[error("invalid group name {0:?}: it must not start with '-' or contain whitespace")]
    BadGroupName(String),
    /// A number that does not parse.
    #[error("'{0}' is not a valid number")]
    Number(String),
    /// `-C GROUP TYPE` with a type other than ind/dep.
    #[error("group type must be ind or dep, not {0:?}")]
    GroupType(String),
    /// `session` without a known verb, or a verb that needs the sessions runtime.
    #[error("{0}")]
    Session(String),
    /// The PID-lock modifier of the classic tool.
    #[error("-p (PID lock) is not supported by this iiadm")]
    PidLock,
    /// A usage error of `iiadm mirror` (see `iiadm mirror -h`).
    #[error("mirror: {0}")]
    Mirror(String),
}

/// What the user typed, tokenised but not yet interpreted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LowArgs {
    /// `--url`.
    pub url: Option<String>,
    /// `--user`.
    pub user: Option<String>,
    /// `--password-file`.
    pub password_file: Option<PathBuf>,
    /// `--ca-file`.
    pub ca_file: Option<PathBuf>,
    /// `--no-verify`.
    pub no_verify: bool,
    /// `--timeout SECONDS`.
    pub timeout: Option<String>,
    /// `--json`.
    pub json: bool,
    /// `-h` / `--help`.
    pub help: bool,
    /// `-v` / `--version`.
    pub version: bool,
    /// `-n`: no confirmation prompts.
    pub no_confirm: bool,
    /// `-p` was given (refused later).
    pub pid_lock: bool,
    /// `-g`: `Some(Some(name))`, or `Some(None)` for a bare `-g` (as in `-g -L`).
    pub group: Option<Option<String>>,
    /// `-m`: move the operand sets into the `-g` group.
    pub move_members: bool,
    /// Action letters with their option-argument (`-e ind`, `-c s`, `-u m`).
    pub actions: Vec<(char, Option<String>)>,
    /// Positional operands, in order.
    pub operands: Vec<String>,
    /// True when no argument at all was given.
    pub empty: bool,
}

/// Letters that are actions.
const ACTIONS: &str = "edulicawLADOQZEIJPsrRCMBNXGV";
/// Actions whose first value is an option-argument (getopt `x:`).
const WITH_OPTARG: &str = "ecu";

/// Tokenises `args` (without the program name).
pub fn parse_low<I, S>(args: I) -> Result<LowArgs, UsageError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let args: Vec<String> = args.into_iter().map(Into::into).collect();
    let mut low = LowArgs {
        empty: args.is_empty(),
        ..Default::default()
    };
    let mut i = 0;
    let mut only_operands = false;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if only_operands || arg == "-" || !arg.starts_with('-') {
            low.operands.push(arg.clone());
            continue;
        }
        if arg == "--" {
            only_operands = true;
            continue;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (long, None),
            };
            let value = |i: &mut usize| -> Result<String, UsageError> {
                if let Some(v) = inline.clone() {
                    return Ok(v);
                }
                let v = args
                    .get(*i)
                    .cloned()
                    .ok_or_else(|| UsageError::MissingValue(format!("--{name}")))?;
                *i += 1;
                Ok(v)
            };
            match name {
                "url" => low.url = Some(value(&mut i)?),
                "user" => low.user = Some(value(&mut i)?),
                "password-file" => low.password_file = Some(value(&mut i)?.into()),
                "ca-file" => low.ca_file = Some(value(&mut i)?.into()),
                "timeout" => low.timeout = Some(value(&mut i)?),
                "json" | "no-verify" | "help" | "version" if inline.is_some() => {
                    return Err(UsageError::Unrecognized(arg.clone()))
                }
                "json" => low.json = true,
                "no-verify" => low.no_verify = true,
                "help" => low.help = true,
                "version" => low.version = true,
                _ => return Err(UsageError::Unrecognized(arg.clone())),
            }
            continue;
        }
        // A cluster of single letters: `-n`, `-nw`, `-cs`, `-gGROUP`.
        let letters: Vec<char> = arg[1..].chars().collect();
        let mut k = 0;
        while k < letters.len() {
            let c = letters[k];
            k += 1;
            let rest: String = letters[k..].iter().collect();
            match c {
                'h' => low.help = true,
                'v' => low.version = true,
                'n' => low.no_confirm = true,
                'p' => low.pid_lock = true,
                'm' => low.move_members = true,
                'g' => {
                    if !rest.is_empty() {
                        low.group = Some(Some(rest));
                    } else {
                        // A following option (`-g -L`) means "no group name";
                        // group names may not start with '-' (imaging.md §1.9).
                        match args.get(i) {
                            Some(next) if !next.starts_with('-') || next.is_empty() => {
                                low.group = Some(Some(next.clone()));
                                i += 1;
                            }
                            _ => low.group = Some(None),
                        }
                    }
                    break;
                }
                c if WITH_OPTARG.contains(c) => {
                    let value = if !rest.is_empty() {
                        Some(rest)
                    } else if let Some(next) = args.get(i).filter(|n| !n.starts_with('-')) {
                        i += 1;
                        Some(next.clone())
                    } else {
                        None
                    };
                    low.actions.push((c, value));
                    break;
                }
                c if ACTIONS.contains(c) => low.actions.push((c, None)),
                other => return Err(UsageError::Unrecognized(format!("-{other}"))),
            }
        }
    }
    Ok(low)
}

/// What a set-level action applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One set, named by shadow path or set name.
    Set(String),
    /// Every member of a group (`-g GROUP`).
    Group(String),
}

/// `-i`, `-s`, `-r`: one set, all sets, or a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every set (`all` or no operand).
    All,
    /// One set or one group.
    Target(Target),
}

/// One validated `iiadm` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `-e ind|dep MASTER SHADOW BITMAP [NAME]`, optionally into the `-g` group.
    Enable {
        /// Independent or dependent.
        set_type: SetType,
        /// Master volume.
        master: String,
        /// Shadow volume.
        shadow: String,
        /// Bitmap volume.
        bitmap: String,
        /// Optional set name.
        name: Option<String>,
        /// Group to put the new set in.
        group: Option<String>,
    },
    /// `-d SET` / `-g G -d`.
    Disable(Target),
    /// `-u s|m SET...` / `-g G -u s|m`.
    Update(Direction, Vec<Target>),
    /// `-c s|m SET...` / `-g G -c s|m`.
    Copy(Direction, Vec<Target>),
    /// `-a SET`.
    Abort(Target),
    /// `-w SET`.
    Wait(Target),
    /// `-i [SET|all]`.
    Status(Scope),
    /// `-l` (every set) / `-g G -l` (member names).
    List(Option<String>),
    /// `-L`.
    ListOverflows,
    /// `-V [VOLUME]`: volumes and how they are reachable over NBD.
    ListVolumes(Option<String>),
    /// `-A OVOL SET`.
    Attach {
        /// Overflow volume.
        overflow: String,
        /// Set or group.
        target: Target,
    },
    /// `-D SET`.
    Detach(Target),
    /// `-O OVOL`.
    InitOverflow(String),
    /// `-Q OVOL`.
    QueryOverflow(String),
    /// `-Z OVOL`.
    DeleteOverflow(String),
    /// `-E SHADOW`.
    Export(Target),
    /// `-I SHADOW BITMAP`.
    Import {
        /// Shadow volume.
        shadow: String,
        /// Bitmap volume.
        bitmap: String,
    },
    /// `-J SHADOW [BITMAP]`.
    Join {
        /// Shadow volume.
        shadow: String,
        /// Bitmap with the other host's changes (none: nothing to merge).
        bitmap: Option<String>,
    },
    /// `-P DELAY UNITS SET`.
    SetCopyParams(CopyParams, Target),
    /// `-P SET`.
    GetCopyParams(Target),
    /// `-s SET|all`.
    Suspend(Scope),
    /// `-r SET|all`.
    Resume(Scope),
    /// `-R SET`.
    Reset(Target),
    /// `-C GROUP [ind|dep]`.
    CreateGroup {
        /// Group name.
        name: String,
        /// Group type, if given.
        group_type: Option<SetType>,
    },
    /// `-M SET GROUP` / `-g GROUP -m SET...`.
    AddToGroup {
        /// Sets to move.
        sets: Vec<String>,
        /// Destination group.
        group: String,
    },
    /// `-B SET` / `-g "" -m SET...`.
    RemoveFromGroup(Vec<String>),
    /// `-N OLD NEW`.
    RenameGroup {
        /// Current name.
        old: String,
        /// New name.
        new: String,
    },
    /// `-X GROUP`.
    DeleteGroup(String),
    /// `-G` / `-g -L`.
    ListGroups,
    /// `session check FILE`: validate a copy-session/1 document offline.
    SessionCheck(PathBuf),
    /// `mirror ...`: continuous copy (`super::mirror`).
    Mirror(super::mirror::MirrorCmd),
    /// `-h`.
    Help,
    /// `-v`.
    Version,
}

/// Connection settings after applying the environment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnArgs {
    /// Server URL (`--url`, `IIADM_URL`, default `http://127.0.0.1:5988`).
    pub url: String,
    /// User (`--user`, `IIADM_USER`).
    pub user: Option<String>,
    /// Password file (`--password-file`), read by the runner.
    pub password_file: Option<PathBuf>,
    /// Password from `IIADM_PASSWORD`, used when no file is given.
    pub password_env: Option<String>,
    /// CA bundle.
    pub ca_file: Option<PathBuf>,
    /// Skip TLS verification.
    pub no_verify: bool,
    /// Request timeout in seconds.
    pub timeout: Option<u64>,
}

/// The validated command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HighArgs {
    /// Where to connect.
    pub conn: ConnArgs,
    /// Machine-readable output.
    pub json: bool,
    /// Skip confirmation prompts.
    pub no_confirm: bool,
    /// What to do.
    pub action: Action,
}

/// The environment variables `iiadm` reads (injected for tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env {
    /// `IIADM_URL`.
    pub url: Option<String>,
    /// `IIADM_USER`.
    pub user: Option<String>,
    /// `IIADM_PASSWORD`.
    pub password: Option<String>,
}

impl Env {
    /// Reads the process environment.
    pub fn from_process() -> Env {
        let get = |k| std::env::var(k).ok().filter(|v: &String| !v.is_empty());
        Env {
            url: get("IIADM_URL"),
            user: get("IIADM_USER"),
            password: get("IIADM_PASSWORD"),
        }
    }
}

fn number(s: &str) -> Result<u32, UsageError> {
    s.parse::<u32>()
        .map_err(|_| UsageError::Number(s.to_owned()))
}

fn check_group_name(name: &str) -> Result<(), UsageError> {
    if name.starts_with('-') || name.chars().any(char::is_whitespace) {
        return Err(UsageError::BadGroupName(name.to_owned()));
    }
    Ok(())
}

/// Takes exactly `n` operands or reports which are missing / left over.
fn exactly(
    c: char,
    ops: &[String],
    n: usize,
    what: &'static str,
) -> Result<Vec<String>, UsageError> {
    if ops.len() < n {
        return Err(UsageError::MissingOperand(c, what));
    }
    if ops.len() > n {
        return Err(UsageError::TooManyOperands(c, ops[n..].join(" ")));
    }
    Ok(ops.to_vec())
}

impl LowArgs {
    /// Validates the tokens into one command.
    pub fn into_high(self, env: &Env) -> Result<HighArgs, UsageError> {
        let conn = self.conn(env)?;
        let action = self.action()?;
        Ok(HighArgs {
            conn,
            json: self.json,
            no_confirm: self.no_confirm,
            action,
        })
    }

    /// The connection settings, with the environment's defaults.
    fn conn(&self, env: &Env) -> Result<ConnArgs, UsageError> {
        Ok(ConnArgs {
            url: self
                .url
                .clone()
                .or_else(|| env.url.clone())
                .unwrap_or_else(|| crate::conn::DEFAULT_URL.to_owned()),
            user: self.user.clone().or_else(|| env.user.clone()),
            password_file: self.password_file.clone(),
            password_env: env.password.clone(),
            ca_file: self.ca_file.clone(),
            no_verify: self.no_verify,
            timeout: match &self.timeout {
                Some(t) => Some(t.parse().map_err(|_| UsageError::Number(t.clone()))?),
                None => None,
            },
        })
    }

    fn action(&self) -> Result<Action, UsageError> {
        if self.help {
            return Ok(Action::Help);
        }
        if self.version && self.actions.is_empty() {
            return Ok(Action::Version);
        }
        if self.pid_lock {
            return Err(UsageError::PidLock);
        }
        // `-g NAME -m SET...` (and `-g "" -m`) is an action of its own.
        let mut actions = self.actions.clone();
        if self.version {
            actions.push(('v', None));
        }
        if self.move_members {
            actions.push(('m', None));
        }
        if actions.is_empty()
            && self.group.is_none()
            && self.operands.first().is_some_and(|o| o == "session")
        {
            return session_action(&self.operands[1..]);
        }
        if actions.is_empty() {
            if self.empty || (self.operands.is_empty() && self.group.is_none()) {
                // No action at all (only connection options): like the classic `iiadm` → `-l`.
                return Ok(Action::List(None));
            }
            return Err(UsageError::NoAction);
        }
        if actions.len() > 1 {
            return Err(UsageError::TooManyActions);
        }
        let (c, optarg) = actions.remove(0);
        let ops = &self.operands;
        let group: Option<Option<&str>> = self.group.as_ref().map(|g| g.as_deref());
        // The group named by -g, for actions that need one.
        let named_group = || -> Result<String, UsageError> {
            match group {
                Some(Some(g)) if !g.is_empty() => {
                    check_group_name(g)?;
                    Ok(g.to_owned())
                }
                _ => Err(UsageError::GroupName),
            }
        };
        // One set operand, or the -g group with no operand.
        let target = |what: &'static str| -> Result<Target, UsageError> {
            if group.is_some() {
                exactly(c, ops, 0, what)?;
                Ok(Target::Group(named_group()?))
            } else {
                Ok(Target::Set(exactly(c, ops, 1, what)?.remove(0)))
            }
        };
        let scope = |what: &'static str| -> Result<Scope, UsageError> {
            if group.is_some() {
                exactly(c, ops, 0, what)?;
                return Ok(Scope::Target(Target::Group(named_group()?)));
            }
            match ops.len() {
                0 => Ok(Scope::All),
                1 if ops[0] == "all" => Ok(Scope::All),
                1 => Ok(Scope::Target(Target::Set(ops[0].clone()))),
                _ => Err(UsageError::TooManyOperands(c, ops[1..].join(" "))),
            }
        };
        let no_group = || -> Result<(), UsageError> {
            if group.is_some() {
                Err(UsageError::GroupNotAllowed)
            } else {
                Ok(())
            }
        };
        let direction = |v: &Option<String>| -> Result<Direction, UsageError> {
            match v.as_deref() {
                Some("s") => Ok(Direction::ToShadow),
                Some("m") => Ok(Direction::ToMaster),
                _ => Err(UsageError::Direction(c)),
            }
        };
        Ok(match c {
            'e' => {
                let set_type = match optarg.as_deref() {
                    Some("ind") => SetType::Independent,
                    Some("dep") => SetType::Dependent,
                    _ => return Err(UsageError::SetType),
                };
                if ops.len() != 3 && ops.len() != 4 {
                    return Err(UsageError::EnableVolumes);
                }
                let group = match group {
                    None => None,
                    Some(_) => Some(named_group()?),
                };
                Action::Enable {
                    set_type,
                    master: ops[0].clone(),
                    shadow: ops[1].clone(),
                    bitmap: ops[2].clone(),
                    name: ops.get(3).cloned(),
                    group,
                }
            }
            'd' => Action::Disable(target("a set")?),
            'u' | 'c' => {
                let dir = direction(&optarg)?;
                let targets = if group.is_some() {
                    exactly(c, ops, 0, "a set")?;
                    vec![Target::Group(named_group()?)]
                } else if ops.is_empty() {
                    return Err(UsageError::MissingOperand(c, "a set"));
                } else {
                    ops.iter().cloned().map(Target::Set).collect()
                };
                if c == 'u' {
                    Action::Update(dir, targets)
                } else {
                    Action::Copy(dir, targets)
                }
            }
            'a' => Action::Abort(target("a set")?),
            'w' => Action::Wait(target("a set")?),
            'i' => Action::Status(scope("a set or all")?),
            'l' => {
                exactly(c, ops, 0, "no operand")?;
                match group {
                    None => Action::List(None),
                    Some(_) => Action::List(Some(named_group()?)),
                }
            }
            'L' => {
                exactly(c, ops, 0, "no operand")?;
                match group {
                    None => Action::ListOverflows,
                    // `-g -L` lists groups; `-g NAME -L` is not meaningful.
                    Some(None) => Action::ListGroups,
                    Some(Some(_)) => return Err(UsageError::GroupNotAllowed),
                }
            }
            'V' => {
                if group.is_some() {
                    return Err(UsageError::GroupNotAllowed);
                }
                match ops.len() {
                    0 => Action::ListVolumes(None),
                    1 => Action::ListVolumes(Some(ops[0].clone())),
                    _ => return Err(UsageError::TooManyOperands(c, ops[1..].join(" "))),
                }
            }
            'A' => {
                if group.is_some() {
                    let o = exactly(c, ops, 1, "an overflow volume")?;
                    Action::Attach {
                        overflow: o[0].clone(),
                        target: Target::Group(named_group()?),
                    }
                } else {
                    let o = exactly(c, ops, 2, "an overflow volume and a set")?;
                    Action::Attach {
                        overflow: o[0].clone(),
                        target: Target::Set(o[1].clone()),
                    }
                }
            }
            'D' => Action::Detach(target("a set")?),
            'O' | 'Q' | 'Z' => {
                no_group()?;
                let o = exactly(c, ops, 1, "an overflow volume")?.remove(0);
                match c {
                    'O' => Action::InitOverflow(o),
                    'Q' => Action::QueryOverflow(o),
                    _ => Action::DeleteOverflow(o),
                }
            }
            'E' => Action::Export(target("a shadow volume")?),
            'I' => {
                no_group()?;
                let o = exactly(c, ops, 2, "a shadow and a bitmap volume")?;
                Action::Import {
                    shadow: o[0].clone(),
                    bitmap: o[1].clone(),
                }
            }
            'J' => {
                no_group()?;
                match ops.len() {
                    0 => return Err(UsageError::MissingOperand(c, "a shadow volume")),
                    1 | 2 => Action::Join {
                        shadow: ops[0].clone(),
                        bitmap: ops.get(1).cloned(),
                    },
                    _ => return Err(UsageError::TooManyOperands(c, ops[2..].join(" "))),
                }
            }
            'P' => {
                let (nums, tgt) = if group.is_some() {
                    match ops.len() {
                        0 => (None, Target::Group(named_group()?)),
                        2 => (Some((&ops[0], &ops[1])), Target::Group(named_group()?)),
                        _ => {
                            return Err(UsageError::MissingOperand(
                                c,
                                "DELAY UNITS or nothing with -g",
                            ))
                        }
                    }
                } else {
                    match ops.len() {
                        1 => (None, Target::Set(ops[0].clone())),
                        3 => (Some((&ops[0], &ops[1])), Target::Set(ops[2].clone())),
                        0 => return Err(UsageError::MissingOperand(c, "a set")),
                        2 => return Err(UsageError::MissingOperand(c, "DELAY UNITS SET")),
                        _ => return Err(UsageError::TooManyOperands(c, ops[3..].join(" "))),
                    }
                };
                match nums {
                    None => Action::GetCopyParams(tgt),
                    Some((d, u)) => Action::SetCopyParams(
                        CopyParams {
                            delay: number(d)?,
                            units: number(u)?,
                        },
                        tgt,
                    ),
                }
            }
            's' | 'r' => {
                let sc = if group.is_none() && ops.is_empty() {
                    return Err(UsageError::MissingOperand(c, "a set or all"));
                } else {
                    scope("a set or all")?
                };
                if c == 's' {
                    Action::Suspend(sc)
                } else {
                    Action::Resume(sc)
                }
            }
            'R' => Action::Reset(target("a set")?),
            'C' => {
                no_group()?;
                let (name, ty) = match ops.len() {
                    0 => return Err(UsageError::MissingOperand(c, "a group name")),
                    1 => (ops[0].clone(), None),
                    2 => (ops[0].clone(), Some(ops[1].clone())),
                    _ => return Err(UsageError::TooManyOperands(c, ops[2..].join(" "))),
                };
                check_group_name(&name)?;
                let group_type = match ty.as_deref() {
                    None => None,
                    Some("ind") | Some("independent") => Some(SetType::Independent),
                    Some("dep") | Some("dependent") => Some(SetType::Dependent),
                    Some(other) => return Err(UsageError::GroupType(other.to_owned())),
                };
                Action::CreateGroup { name, group_type }
            }
            'M' => {
                no_group()?;
                let o = exactly(c, ops, 2, "a set and a group")?;
                check_group_name(&o[1])?;
                Action::AddToGroup {
                    sets: vec![o[0].clone()],
                    group: o[1].clone(),
                }
            }
            'm' => {
                let Some(g) = group else {
                    return Err(UsageError::GroupRequired);
                };
                if ops.is_empty() {
                    return Err(UsageError::MissingOperand(c, "one or more sets"));
                }
                match g {
                    Some("") => Action::RemoveFromGroup(ops.clone()),
                    Some(name) => {
                        check_group_name(name)?;
                        Action::AddToGroup {
                            sets: ops.clone(),
                            group: name.to_owned(),
                        }
                    }
                    None => return Err(UsageError::GroupName),
                }
            }
            'B' => {
                no_group()?;
                Action::RemoveFromGroup(exactly(c, ops, 1, "a set")?)
            }
            'N' => {
                no_group()?;
                let o = exactly(c, ops, 2, "the old and the new group name")?;
                check_group_name(&o[1])?;
                Action::RenameGroup {
                    old: o[0].clone(),
                    new: o[1].clone(),
                }
            }
            'X' => {
                no_group()?;
                Action::DeleteGroup(exactly(c, ops, 1, "a group name")?.remove(0))
            }
            'G' => {
                no_group()?;
                exactly(c, ops, 0, "no operand")?;
                Action::ListGroups
            }
            // Only reachable as `-v` together with an action.
            _ => return Err(UsageError::TooManyActions),
        })
    }
}

/// `session VERB ...`. Only `check` exists so far: `start`, `stop`, `status`
/// and `list` need the sessions runtime in `cimomd` (`DS_CopySession`).
fn session_action(ops: &[String]) -> Result<Action, UsageError> {
    match ops.first().map(String::as_str) {
        Some("check") => match &ops[1..] {
            [file] => Ok(Action::SessionCheck(PathBuf::from(file))),
            [] => Err(UsageError::Session("session check requires a FILE".into())),
            more => Err(UsageError::Session(format!(
                "too many arguments for session check: {}",
                more[1..].join(" ")
            ))),
        },
        Some(verb @ ("start" | "stop" | "status" | "list")) => Err(UsageError::Session(format!(
            "session {verb} is not available yet: it needs the sessions runtime (DS_CopySession); \
             only session check FILE works"
        ))),
        Some(other) => Err(UsageError::Session(format!(
            "unknown session command {other:?}"
        ))),
        None => Err(UsageError::Session(
            "session requires a command: check FILE".into(),
        )),
    }
}

/// Parses `args` (without the program name) all the way to [`HighArgs`].
pub fn parse<I, S>(args: I, env: &Env) -> Result<HighArgs, UsageError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let args: Vec<String> = args.into_iter().map(Into::into).collect();
    if let Some(i) = mirror_position(&args) {
        let low = parse_low(args[..i].to_vec())?;
        let cmd = super::mirror::parse(&args[i + 1..])?;
        return Ok(HighArgs {
            conn: low.conn(env)?,
            json: low.json || cmd.json,
            no_confirm: low.no_confirm,
            action: Action::Mirror(cmd),
        });
    }
    parse_low(args)?.into_high(env)
}

/// Where the word `mirror` starts an `iiadm mirror` command: the first
/// argument that is neither an option nor the value of a connection option.
fn mirror_position(args: &[String]) -> Option<usize> {
    const WITH_VALUE: &[&str] = &[
        "--url",
        "--user",
        "--password-file",
        "--ca-file",
        "--timeout",
    ];
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if WITH_VALUE.contains(&a) {
            i += 2;
            continue;
        }
        if a.starts_with('-') {
            i += 1;
            continue;
        }
        return (a == "mirror").then_some(i);
    }
    None
}

/// The usage summary printed by `-h` and after usage errors.
pub const USAGE: &str = "\
usage: iiadm [--url URL] [--user USER] [--password-file FILE] [--json]
             [--ca-file PEM] [--no-verify] [--timeout SECONDS] OPTION ...
  -e ind|dep MASTER SHADOW BITMAP [NAME]   enable a set (-g GROUP: into a group)
  -d SET                 disable a set          -R SET        reset a set
  -c s|m SET...          full copy to shadow (s) or master (m)
  -u s|m SET...          update shadow (s) or master (m)
  -a SET                 abort a copy           -w SET        wait for a copy
  -i [SET|all]           show status            -l            list sets
  -P SET                 show copy parameters   -P DELAY UNITS SET   set them
  -s SET|all             suspend                -r SET|all    resume
  -E SHADOW              export a shadow        -I SHADOW BITMAP     import it
  -J SHADOW [BITMAP]     join an exported shadow
  -O OVOL  -Q OVOL  -Z OVOL     initialise, show, delete an overflow volume
  -A OVOL SET            attach an overflow     -D SET        detach it
  -L                     list overflow volumes
  -V [VOLUME]            list volumes and how they are reachable over NBD
  -C GROUP [ind|dep]     create a group         -X GROUP      delete a group
  -M SET GROUP           add a set to a group   -B SET        remove it from its group
  -N OLD NEW             rename a group         -G            list groups
  -g GROUP ACTION        act on every member (-d -c -u -a -w -i -l -A -D -E -P -s -r -R)
  -g GROUP -m SET...     move sets into a group; -g \"\" -m SET... removes them
  -g -L                  list groups            -n            do not ask for confirmation
  -h                     help                   -v            version
  mirror OPTION ...      continuous copy to another host (iiadm mirror -h)
A SET is named by its shadow volume path or its set name.
Sessions: iiadm session check FILE [--json] checks a copy-session/1 document offline: exit 0 valid (a summary), 1 invalid (FILE:LINE:COLUMN: messages).
Environment: IIADM_URL (default http://127.0.0.1:5988), IIADM_USER, IIADM_PASSWORD.
Exit status: 0 success, 1 operation failed, 2 bad usage.
";

#[cfg(test)]
mod tests;
