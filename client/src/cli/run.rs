//! Executes a parsed `iiadm` command against one host through the facade and
//! prints the result. Exit statuses: 0 success, 1 the operation failed,
//! 2 bad usage (interface.md §7).

use super::args::{Action, ConnArgs, HighArgs, Scope, Target};
use super::output;
use crate::conn::{read_password_file, Client, ClientConfig};
use crate::error::Error;
use crate::ii::{Direction, IiHost, SetHandle, SetSpec, SetType};
use std::io::{BufRead, Write};
use std::time::Duration;

/// Where `iiadm` writes, and whether it talks to a person.
pub struct Io<'a> {
    /// Standard output.
    pub out: &'a mut dyn Write,
    /// Standard error.
    pub err: &'a mut dyn Write,
    /// True when stderr is a terminal: progress bars instead of plain lines.
    pub progress_tty: bool,
    /// Answers to confirmation prompts (`None`: do not ask, as when stdin is not a terminal).
    pub confirm: Option<&'a mut dyn BufRead>,
}

/// A failed operation: what it was about, and why.
#[derive(Debug)]
pub struct Failure {
    /// "set /v/s", "group g", ... (empty when the error names the object itself).
    pub what: String,
    /// The cause.
    pub error: Error,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names_itself = matches!(
            self.error,
            Error::SetNotFound(_)
                | Error::GroupNotFound(_)
                | Error::OverflowNotFound(_)
                | Error::NotInGroup(_)
        );
        if self.what.is_empty() || names_itself {
            write!(f, "{}", self.error)
        } else {
            write!(f, "{}: {}", self.what, self.error)
        }
    }
}

type Outcome = std::result::Result<(), Failure>;

trait Context<T> {
    fn about(self, what: impl FnOnce() -> String) -> std::result::Result<T, Failure>;
}

impl<T> Context<T> for crate::Result<T> {
    fn about(self, what: impl FnOnce() -> String) -> std::result::Result<T, Failure> {
        self.map_err(|error| Failure {
            what: what(),
            error,
        })
    }
}

fn set_what(name: &str) -> String {
    format!("set {name}")
}

fn target_what(t: &Target) -> String {
    match t {
        Target::Set(s) => set_what(s),
        Target::Group(g) => format!("group {g}"),
    }
}

/// Builds the client configuration, reading the password file if one is given.
pub fn client_config(c: &ConnArgs) -> crate::Result<ClientConfig> {
    let mut cfg = ClientConfig::new(c.url.clone());
    cfg.user = c.user.clone();
    cfg.password = match &c.password_file {
        Some(f) => Some(read_password_file(f)?),
        None => c.password_env.clone(),
    };
    cfg.ca_file = c.ca_file.clone();
    cfg.no_verify = c.no_verify;
    if let Some(t) = c.timeout {
        // 0 means no limit, as for waitForCompletion.
        cfg.timeout = (t > 0).then(|| Duration::from_secs(t));
    }
    Ok(cfg)
}

/// Runs a parsed command on a runtime of its own; returns the exit status.
/// Call [`run_async`] instead from inside a tokio runtime.
pub fn run(args: &HighArgs, io: &mut Io<'_>) -> i32 {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(io.err, "iiadm: cannot start the runtime: {e}");
            return 1;
        }
    };
    rt.block_on(run_async(args, io))
}

/// Runs a parsed command on the caller's runtime; returns the exit status
/// (0 success, 1 the operation failed; usage errors never get this far).
pub async fn run_async(args: &HighArgs, io: &mut Io<'_>) -> i32 {
    match &args.action {
        Action::Help => {
            let _ = io.out.write_all(super::args::USAGE.as_bytes());
            return 0;
        }
        Action::Mirror(m) if m.verb == super::mirror::MirrorVerb::Help => {
            let _ = io.out.write_all(super::mirror::MIRROR_USAGE.as_bytes());
            return 0;
        }
        Action::Version => {
            let _ = io.out.write_all(output::version().as_bytes());
            return 0;
        }
        Action::SessionCheck(file) => return super::session::check(file, args.json, io),
        _ => {}
    }
    let host = match client_config(&args.conn).and_then(Client::new) {
        Ok(c) => IiHost::new(c),
        Err(e) => {
            let _ = writeln!(io.err, "iiadm: {e}");
            return 1;
        }
    };
    match execute(&host, args, io).await {
        Ok(()) => 0,
        Err(f) => {
            let _ = writeln!(io.err, "iiadm: {f}");
            1
        }
    }
}

fn print(io: &mut Io<'_>, text: &str) {
    let _ = io.out.write_all(text.as_bytes());
}

/// Asks "QUESTION yes/no" when a terminal is attached and `-n` was not given.
fn confirm(io: &mut Io<'_>, no_confirm: bool, question: &str) -> Outcome {
    if no_confirm {
        return Ok(());
    }
    let Some(input) = io.confirm.as_mut() else {
        return Ok(());
    };
    let _ = write!(io.err, "{question} yes/no ");
    let _ = io.err.flush();
    let mut line = String::new();
    let _ = input.read_line(&mut line);
    match line.trim() {
        "yes" | "y" | "YES" | "Yes" => Ok(()),
        _ => Err(Failure {
            what: String::new(),
            error: Error::NotConfirmed,
        }),
    }
}

/// Why a set cannot start a copy or update now, judged from its state.
/// A member of a group is ready like any other set (the server refuses it
/// while its group is locked).
fn not_ready_for_copy(state: &str) -> Option<String> {
    match state {
        "idle" => None,
        "copying" | "updating" => Some("a copy or update is already in progress".to_owned()),
        other => Some(format!("the set is {other}")),
    }
}

async fn set_handle(host: &IiHost, name: &str) -> std::result::Result<SetHandle, Failure> {
    host.find_set(name).await.about(|| set_what(name))
}

/// The sets a target stands for (a group's members, or the one set).
async fn sets_of(host: &IiHost, t: &Target) -> std::result::Result<Vec<SetHandle>, Failure> {
    match t {
        Target::Set(s) => Ok(vec![set_handle(host, s).await?]),
        Target::Group(g) => {
            let group = host.find_group(g).await.about(|| target_what(t))?;
            group.members().await.about(|| target_what(t))
        }
    }
}

/// Follows a running copy: a progress bar on a terminal, plain lines on stderr otherwise.
async fn follow(io: &mut Io<'_>, label: &str, wait: impl AsyncWait) -> crate::Result<()> {
    if io.progress_tty {
        let bar = indicatif::ProgressBar::new(100);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos:>3}%")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(label.to_owned());
        let b = bar.clone();
        let r = wait
            .run(move |p| b.set_position(p.clamp(0.0, 100.0) as u64))
            .await;
        match &r {
            Ok(()) => bar.finish(),
            Err(_) => bar.abandon(),
        }
        r
    } else {
        // One line per 10 % step keeps logs readable; each is written as it
        // happens (the progress callback must be Send, the writer is not,
        // so lines cross a channel).
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let mut last: i64 = -1;
        let run = wait.run(move |p| {
            let step = (p.clamp(0.0, 100.0) / 10.0).floor() as i64;
            if step != last {
                last = step;
                let _ = tx.send(format!(
                    "{label}: {}% complete",
                    p.clamp(0.0, 100.0).floor()
                ));
            }
        });
        tokio::pin!(run);
        let r = loop {
            tokio::select! {
                r = &mut run => break r,
                Some(line) = rx.recv() => {
                    let _ = writeln!(io.err, "{line}");
                    let _ = io.err.flush();
                }
            }
        };
        while let Ok(line) = rx.try_recv() {
            let _ = writeln!(io.err, "{line}");
        }
        r
    }
}

/// Something that waits while reporting progress (a set or a group).
trait AsyncWait {
    async fn run(self, progress: impl FnMut(f32) + Send) -> crate::Result<()>;
}

struct SetWait<'a>(&'a SetHandle);
impl AsyncWait for SetWait<'_> {
    async fn run(self, progress: impl FnMut(f32) + Send) -> crate::Result<()> {
        self.0
            .wait_with_progress(Duration::from_millis(500), progress)
            .await
    }
}

struct GroupWait<'a>(&'a crate::ii::GroupHandle);
impl AsyncWait for GroupWait<'_> {
    async fn run(self, progress: impl FnMut(f32) + Send) -> crate::Result<()> {
        self.0
            .wait_with_progress(Duration::from_millis(500), progress)
            .await
    }
}

async fn wait_target(io: &mut Io<'_>, host: &IiHost, t: &Target) -> Outcome {
    match t {
        Target::Set(s) => {
            let h = set_handle(host, s).await?;
            follow(io, s, SetWait(&h)).await.about(|| set_what(s))
        }
        Target::Group(g) => {
            let h = host.find_group(g).await.about(|| target_what(t))?;
            follow(io, g, GroupWait(&h)).await.about(|| target_what(t))
        }
    }
}

async fn copy_or_update(
    io: &mut Io<'_>,
    host: &IiHost,
    args: &HighArgs,
    update: bool,
    dir: Direction,
    targets: &[Target],
) -> Outcome {
    if dir == Direction::ToMaster {
        let q = if matches!(targets.first(), Some(Target::Group(_))) {
            "Overwrite every master in this group with its shadow volume?"
        } else {
            "Overwrite master with shadow volume?"
        };
        confirm(io, args.no_confirm, q)?;
    }
    // Like the classic tool, check every named set before starting any, so a
    // bad operand changes nothing (imaging.md §6).
    let mut handles = Vec::new();
    for t in targets {
        if let Target::Set(s) = t {
            let h = set_handle(host, s).await?;
            if targets.len() > 1 {
                let info = h.info().await.about(|| set_what(s))?;
                if let Some(why) = not_ready_for_copy(&info.state) {
                    return Err(Failure {
                        what: set_what(s),
                        error: Error::Cim(cim::CimError::failed(format!(
                            "{why}; no set on this command line was started"
                        ))),
                    });
                }
            }
            handles.push(h);
        }
    }
    let mut handles = handles.into_iter();
    for t in targets {
        match t {
            Target::Set(s) => {
                let h = handles.next().expect("one handle per set target");
                let r = if update {
                    h.update(dir).await
                } else {
                    h.copy(dir).await
                };
                r.about(|| set_what(s))?;
            }
            Target::Group(g) => {
                let h = host.find_group(g).await.about(|| target_what(t))?;
                let r = if update {
                    h.update(dir).await
                } else {
                    h.copy(dir).await
                };
                r.about(|| target_what(t))?;
            }
        }
    }
    // In a terminal, follow the copies to the end (interface.md §6).
    if io.progress_tty && !args.json {
        for t in targets {
            wait_target(io, host, t).await?;
        }
    }
    Ok(())
}

/// Applies `f` to every set of the target. For a group every member is
/// tried even when one fails (as the classic tool disables what it can); each
/// failure but the last is printed here, the last is returned.
async fn for_each_set<F, Fut>(io: &mut Io<'_>, host: &IiHost, t: &Target, f: F) -> Outcome
where
    F: Fn(SetHandle) -> Fut,
    Fut: std::future::Future<Output = crate::Result<()>>,
{
    each_set(io, sets_of(host, t).await?, f).await
}

async fn each_set<F, Fut>(io: &mut Io<'_>, sets: Vec<SetHandle>, f: F) -> Outcome
where
    F: Fn(SetHandle) -> Fut,
    Fut: std::future::Future<Output = crate::Result<()>>,
{
    let mut last: Option<Failure> = None;
    for h in sets {
        let name = h.shadow().to_owned();
        if let Err(fail) = f(h).await.about(|| set_what(&name)) {
            if let Some(prev) = last.replace(fail) {
                let _ = writeln!(io.err, "iiadm: {prev}");
            }
        }
    }
    last.map_or(Ok(()), Err)
}

/// Runs the action.
pub async fn execute(host: &IiHost, args: &HighArgs, io: &mut Io<'_>) -> Outcome {
    let json = args.json;
    match &args.action {
        Action::Help | Action::Version | Action::SessionCheck(_) => Ok(()),
        Action::Mirror(cmd) => {
            let mut cmd = cmd.clone();
            cmd.json |= json;
            super::mirror::execute(host, &cmd, io).await
        }
        Action::Enable {
            set_type,
            master,
            shadow,
            bitmap,
            name,
            group,
        } => {
            let spec = SetSpec {
                master: master.clone(),
                shadow: shadow.clone(),
                bitmap: bitmap.clone(),
                set_type: *set_type,
                name: name.clone(),
                overflow: None,
            };
            let h = host
                .create_set(&spec)
                .await
                .about(|| format!("set {shadow} (master {master}, bitmap {bitmap})"))?;
            if let Some(g) = group {
                if let Err(failure) = add_to_group(host, std::slice::from_ref(&h), g).await {
                    // Enabling into a group is one action: leave nothing behind.
                    if let Err(undo) = h.delete().await {
                        tracing::warn!(shadow = %shadow, error = %undo, "could not disable the set after the group add failed");
                    }
                    return Err(failure);
                }
            }
            Ok(())
        }
        Action::Disable(t) => for_each_set(io, host, t, |h| async move { h.delete().await }).await,
        Action::Update(dir, ts) => copy_or_update(io, host, args, true, *dir, ts).await,
        Action::Copy(dir, ts) => copy_or_update(io, host, args, false, *dir, ts).await,
        Action::Abort(t) => match t {
            Target::Set(s) => set_handle(host, s)
                .await?
                .abort()
                .await
                .about(|| set_what(s)),
            Target::Group(g) => {
                let h = host.find_group(g).await.about(|| target_what(t))?;
                h.abort().await.about(|| target_what(t))
            }
        },
        Action::Wait(t) => wait_target(io, host, t).await,
        Action::Status(scope) => {
            let sets = match scope {
                Scope::All => host.list_sets().await.about(String::new)?,
                Scope::Target(Target::Set(s)) => {
                    vec![host.set_info(s).await.about(|| set_what(s))?]
                }
                Scope::Target(t @ Target::Group(g)) => {
                    host.find_group(g).await.about(|| target_what(t))?;
                    let all = host.list_sets().await.about(String::new)?;
                    all.into_iter()
                        .filter(|s| s.group.as_deref() == Some(g))
                        .collect()
                }
            };
            if json {
                match scope {
                    Scope::Target(Target::Set(_)) => print(io, &output::json(&sets[0])),
                    _ => print(io, &output::json(&sets)),
                }
            } else {
                print(io, &output::status_all(&sets));
            }
            Ok(())
        }
        Action::List(group) => {
            let sets = host.list_sets().await.about(String::new)?;
            match group {
                None if json => print(io, &output::json(&sets)),
                None => print(io, &output::list(&sets)),
                Some(g) => {
                    host.find_group(g).await.about(|| format!("group {g}"))?;
                    if json {
                        let members: Vec<_> = sets
                            .iter()
                            .filter(|s| s.group.as_deref() == Some(g))
                            .collect();
                        print(io, &output::json(&members));
                    } else {
                        print(io, &output::group_members(&sets, g));
                    }
                }
            }
            Ok(())
        }
        Action::ListVolumes(only) => {
            let mut v = host.list_volumes().await.about(String::new)?;
            if let Some(path) = only {
                v.retain(|vol| vol.path == *path);
                if v.is_empty() {
                    return Err(Failure {
                        what: format!("volume {path}"),
                        error: Error::Cim(cim::CimError::new(
                            cim::StatusCode::NotFound,
                            "no such volume under the server's volume roots \
                             (give its absolute path; list them with iiadm -V)",
                        )),
                    });
                }
            }
            print(
                io,
                &if json {
                    output::json(&v)
                } else {
                    output::volumes(&v)
                },
            );
            Ok(())
        }
        Action::ListOverflows => {
            let v = host.list_overflows().await.about(String::new)?;
            print(
                io,
                &if json {
                    output::json(&v)
                } else {
                    output::overflows(&v)
                },
            );
            Ok(())
        }
        Action::Attach { overflow, target } => {
            // As the classic tool does, an overflow volume that was never
            // initialised is initialised (after confirmation) before attaching,
            // and released again when the attach fails, so a failure changes nothing.
            let fresh = matches!(
                host.overflow(overflow).await,
                Err(Error::OverflowNotFound(_))
            );
            if fresh {
                confirm(io, args.no_confirm, "Initialize this overflow volume?")?;
                host.create_overflow(overflow)
                    .await
                    .about(|| format!("overflow volume {overflow}"))?;
            }
            let attached = for_each_set(io, host, target, |h| {
                let o = overflow.clone();
                async move { h.attach_overflow(&o).await }
            })
            .await;
            if attached.is_err() && fresh {
                if let Err(undo) = host.delete_overflow(overflow).await {
                    tracing::warn!(overflow = %overflow, error = %undo, "could not release the overflow volume initialised for a failed attach");
                }
            }
            attached
        }
        Action::Detach(t) => {
            for_each_set(io, host, t, |h| async move { h.detach_overflow().await }).await
        }
        Action::InitOverflow(o) => {
            confirm(io, args.no_confirm, "Initialize this overflow volume?")?;
            let info = host
                .create_overflow(o)
                .await
                .about(|| format!("overflow volume {o}"))?;
            if json {
                print(io, &output::json(&info));
            }
            Ok(())
        }
        Action::QueryOverflow(o) => {
            let info = host
                .overflow(o)
                .await
                .about(|| format!("overflow volume {o}"))?;
            print(
                io,
                &if json {
                    output::json(&info)
                } else {
                    output::overflow_status(&info)
                },
            );
            Ok(())
        }
        Action::DeleteOverflow(o) => host
            .delete_overflow(o)
            .await
            .about(|| format!("overflow volume {o}")),
        Action::Export(t) => for_each_set(io, host, t, |h| async move { h.export().await }).await,
        Action::Import { shadow, bitmap } => {
            host.import_shadow(shadow, bitmap)
                .await
                .about(|| set_what(shadow))?;
            Ok(())
        }
        Action::Join { shadow, bitmap } => {
            let h = set_handle(host, shadow).await?;
            // No bitmap: nothing was written on the other host (DS_II.mof: empty string).
            h.join(bitmap.as_deref().unwrap_or(""))
                .await
                .about(|| set_what(shadow))
        }
        Action::SetCopyParams(p, t) => {
            let p = *p;
            let r = for_each_set(
                io,
                host,
                t,
                |h| async move { h.set_copy_parameters(p).await },
            )
            .await;
            if r.is_err() {
                let _ = writeln!(
                    io.err,
                    "Parameter ranges are delay(2 - 10000), units(100 - 60000)"
                );
            }
            r
        }
        Action::GetCopyParams(t) => {
            let mut docs = Vec::new();
            for h in sets_of(host, t).await? {
                let p = h.copy_parameters().await.about(|| set_what(h.shadow()))?;
                docs.push((h.shadow().to_owned(), p));
            }
            if json {
                let v: Vec<_> = docs
                    .iter()
                    .map(|(v, p)| output::CopyParamsJson {
                        volume: v,
                        copy_delay: p.delay,
                        copy_units: p.units,
                    })
                    .collect();
                match t {
                    Target::Set(_) if v.len() == 1 => print(io, &output::json(&v[0])),
                    _ => print(io, &output::json(&v)),
                }
            } else {
                for (v, p) in &docs {
                    print(io, &output::copy_params(v, p));
                }
            }
            Ok(())
        }
        Action::Suspend(scope) | Action::Resume(scope) => {
            let suspend = matches!(args.action, Action::Suspend(_));
            match scope {
                Scope::All => {
                    let sets = host.list_sets().await.about(String::new)?;
                    let handles = sets.iter().map(|i| host.handle_for(i)).collect();
                    each_set(io, handles, |h| async move {
                        if suspend {
                            h.suspend().await
                        } else {
                            h.resume().await
                        }
                    })
                    .await
                }
                Scope::Target(t @ Target::Group(g)) => {
                    let h = host.find_group(g).await.about(|| target_what(t))?;
                    let r = if suspend {
                        h.suspend().await
                    } else {
                        h.resume().await
                    };
                    r.about(|| target_what(t))
                }
                Scope::Target(Target::Set(s)) => {
                    let h = set_handle(host, s).await?;
                    let r = if suspend {
                        h.suspend().await
                    } else {
                        h.resume().await
                    };
                    r.about(|| set_what(s))
                }
            }
        }
        Action::Reset(t) => for_each_set(io, host, t, |h| async move { h.reset().await }).await,
        Action::CreateGroup { name, group_type } => {
            host.create_group(name, *group_type)
                .await
                .about(|| format!("group {name}"))?;
            Ok(())
        }
        Action::AddToGroup { sets, group } => {
            let mut handles = Vec::new();
            for s in sets {
                handles.push(set_handle(host, s).await?);
            }
            add_to_group(host, &handles, group).await
        }
        Action::RemoveFromGroup(sets) => {
            for s in sets {
                let h = set_handle(host, s).await?;
                let Some(g) = h.group().await.about(|| set_what(s))? else {
                    return Err(Failure {
                        what: set_what(s),
                        error: Error::NotInGroup(s.clone()),
                    });
                };
                g.remove(&h).await.about(|| set_what(s))?;
            }
            Ok(())
        }
        Action::RenameGroup { old, new } => {
            let mut g = host
                .find_group(old)
                .await
                .about(|| format!("group {old}"))?;
            g.rename(new).await.about(|| format!("group {old}"))
        }
        Action::DeleteGroup(g) => host.delete_group(g).await.about(|| format!("group {g}")),
        Action::ListGroups => {
            let v = host.list_groups().await.about(String::new)?;
            print(
                io,
                &if json {
                    output::json(&v)
                } else {
                    output::groups(&v)
                },
            );
            Ok(())
        }
    }
}

/// Adds sets to a group, creating it (with the first set's type) when it does
/// not exist yet, as the classic `-g NAME -m` / `-g NAME -e` did implicitly.
async fn add_to_group(host: &IiHost, sets: &[SetHandle], group: &str) -> Outcome {
    let what = || format!("group {group}");
    let g = match host.find_group(group).await {
        Ok(g) => g,
        Err(Error::GroupNotFound(_)) => {
            let ty = match sets.first() {
                Some(s) => {
                    let t = s.info().await.about(|| set_what(s.shadow()))?.set_type;
                    SetType::parse(&t).filter(|t| *t != SetType::Imported)
                }
                None => None,
            };
            host.create_group(group, ty).await.about(what)?
        }
        Err(e) => {
            return Err(Failure {
                what: what(),
                error: e,
            })
        }
    };
    for s in sets {
        g.add(s).await.about(|| set_what(s.shadow()))?;
    }
    Ok(())
}
