//! The static checks of a parsed session (SEQ_NUM 1..N, references, solution
//! lengths, volumes used twice, point-in-time pairs on one host, busy loops)
//! and, given each host's volume roots, the resolution of volume paths
//! ([`resolve`]). Pure: the caller supplies the roots it got from the hosts.

use crate::model::*;
use crate::{finish, Diagnostic, Error, Pos};
use std::collections::BTreeMap;

/// Every static check of `s`; messages in no particular order.
pub fn check(s: &Session) -> Vec<Diagnostic> {
    let mut d = Vec::new();
    numbering(s, &mut d);
    hosts(s, &mut d);
    solutions(s, &mut d);
    actions(s, &mut d);
    if d.is_empty() {
        busy_loops(s, &mut d);
    }
    d
}

fn numbering(s: &Session, d: &mut Vec<Diagnostic>) {
    let n = s.sequences.len();
    for (i, q) in s.sequences.iter().enumerate() {
        let num = q.num.value;
        if i > 0 && s.sequences[i - 1].num.value == num {
            d.push(Diagnostic::new(
                q.num.pos,
                format!(
                    "SEQ_NUM {num} is used twice (first at {})",
                    s.sequences[i - 1].num.pos
                ),
            ));
        } else if num as usize > n {
            d.push(Diagnostic::new(
                q.num.pos,
                format!(
                    "SEQ_NUM {num} is out of range: the {n} sequences must be numbered 1 to {n}"
                ),
            ));
        }
    }
}

fn hosts(s: &Session, d: &mut Vec<Diagnostic>) {
    for (i, h) in s.hosts.iter().enumerate() {
        if let Some(first) = s.hosts[..i].iter().find(|f| f.id.value == h.id.value) {
            d.push(Diagnostic::new(
                h.id.pos,
                format!(
                    "host id {} is declared twice (first at {})",
                    h.id.value, first.id.pos
                ),
            ));
        }
    }
    for v in s.solutions.iter().flat_map(|x| &x.volumes) {
        if s.host(&v.host.value).is_none() {
            d.push(Diagnostic::new(
                v.host.pos,
                format!("volume host {:?} is not a declared HOST", v.host.value),
            ));
        }
    }
}

fn solutions(s: &Session, d: &mut Vec<Diagnostic>) {
    let want = s.sequences.len() + 1;
    let mut seen: BTreeMap<(&str, &str), (usize, Pos)> = BTreeMap::new();
    for (i, sol) in s.solutions.iter().enumerate() {
        if let Some(first) = s.solutions[..i]
            .iter()
            .find(|f| f.name.value == sol.name.value)
        {
            d.push(Diagnostic::new(
                sol.name.pos,
                format!(
                    "solution name {} is used twice (first at {})",
                    sol.name.value, first.name.pos
                ),
            ));
        }
        if sol.volumes.len() != want {
            d.push(Diagnostic::new(
                sol.pos,
                format!(
                    "solution {} has {} volumes; with {} sequences every solution needs {want}",
                    sol.name.value,
                    sol.volumes.len(),
                    want - 1
                ),
            ));
        }
        for (k, v) in sol.volumes.iter().enumerate() {
            let key = (v.host.value.as_str(), v.path.value.as_str());
            match seen.get(&key) {
                Some((first_k, first_pos)) => {
                    let what = if k > 0 && *first_k > 0 {
                        "the target of two pairs"
                    } else {
                        "used twice"
                    };
                    d.push(Diagnostic::new(
                        v.pos,
                        format!(
                            "volume {}:{} is {what} (first at {first_pos})",
                            key.0, key.1
                        ),
                    ));
                }
                None => {
                    seen.insert(key, (k, v.pos));
                }
            }
        }
        // A point-in-time set lives on one host.
        for (k, pair) in sol.volumes.windows(2).enumerate() {
            let num = k as u32 + 1;
            let Some(q) = s.sequence(num) else { continue };
            let declared =
                s.host(&pair[0].host.value).is_some() && s.host(&pair[1].host.value).is_some();
            if declared
                && q.kind.value == SeqType::PointInTime
                && pair[0].host.value != pair[1].host.value
            {
                d.push(Diagnostic::new(
                    pair[1].pos,
                    format!(
                        "sequence {num} is Point-In-Time but volumes {} and {} of solution {} \
                         are on different hosts ({}, {}): a point-in-time set lives on one host",
                        k + 1,
                        k + 2,
                        sol.name.value,
                        pair[0].host.value,
                        pair[1].host.value
                    ),
                ));
            }
        }
    }
}

fn actions(s: &Session, d: &mut Vec<Diagnostic>) {
    for q in &s.sequences {
        for a in q.events.iter().flat_map(|e| &e.actions) {
            let Action::Command { to_seq, cmd } = &a.value else {
                continue;
            };
            match s.sequence(to_seq.value) {
                None => d.push(Diagnostic::new(
                    to_seq.pos,
                    format!("TO_SEQ {}: there is no sequence {}", to_seq.value, to_seq.value),
                )),
                Some(t) if cmd.value == Command::Freeze && t.kind.value != SeqType::Continuous => {
                    d.push(Diagnostic::new(
                        cmd.pos,
                        format!(
                            "freeze of sequence {}: only Continuous sequences can be frozen ({} is {})",
                            t.num.value, t.num.value, t.kind.value
                        ),
                    ))
                }
                Some(_) => {}
            }
        }
    }
}

/// An edge `from --event/cmd--> to` that sets `to` running at once.
struct Edge {
    to: u32,
    event: Event,
    cmd: Command,
    pos: Pos,
}

/// A cycle of actions made only of onStart/onComplete edges that set a
/// sequence running, through no scheduled sequence, would restart copies
/// forever with nothing to wait for: rejected. onDuplex, onError and
/// onSchedule edges wait for the world, so cycles through them are fine.
fn busy_loops(s: &Session, d: &mut Vec<Diagnostic>) {
    let immediate = |q: &Sequence| -> Vec<Edge> {
        q.events
            .iter()
            .filter(|e| matches!(e.event.value, Event::OnStart | Event::OnComplete))
            .flat_map(|e| e.actions.iter().map(move |a| (e.event.value, a)))
            .filter_map(|(event, a)| match &a.value {
                Action::Command { to_seq, cmd } if cmd.value.runs() => Some(Edge {
                    to: to_seq.value,
                    event,
                    cmd: cmd.value,
                    pos: a.pos,
                }),
                _ => None,
            })
            .filter(|e| s.sequence(e.to).is_some_and(|t| t.schedule.is_none()))
            .collect()
    };
    // Depth-first search from each unscheduled sequence, in order; the first
    // cycle found through each start is reported once, at its first action.
    let mut reported: Vec<Vec<u32>> = Vec::new();
    for start in s.sequences.iter().filter(|q| q.schedule.is_none()) {
        let mut path: Vec<(u32, String, Pos)> = Vec::new();
        if let Some(cycle) = find_cycle(
            s,
            start.num.value,
            start.num.value,
            &immediate,
            &mut path,
            0,
        ) {
            let mut members: Vec<u32> = cycle.iter().map(|(n, _, _)| *n).collect();
            members.sort_unstable();
            if reported.contains(&members) {
                continue;
            }
            reported.push(members);
            let text: String = cycle
                .iter()
                .map(|(n, via, _)| format!("{n} --{via}--> "))
                .collect();
            d.push(Diagnostic::new(
                cycle[0].2,
                format!(
                    "busy loop: {text}{} restarts itself with no schedule, duplex wait or error in between",
                    start.num.value
                ),
            ));
        }
    }
}

fn find_cycle(
    s: &Session,
    start: u32,
    at: u32,
    edges: &dyn Fn(&Sequence) -> Vec<Edge>,
    path: &mut Vec<(u32, String, Pos)>,
    depth: usize,
) -> Option<Vec<(u32, String, Pos)>> {
    if depth > s.sequences.len() {
        return None;
    }
    let q = s.sequence(at)?;
    for e in edges(q) {
        path.push((at, format!("{} {}", e.event, e.cmd), e.pos));
        if e.to == start {
            return Some(path.clone());
        }
        if !path.iter().any(|(n, _, _)| *n == e.to) {
            if let Some(c) = find_cycle(s, start, e.to, edges, path, depth + 1) {
                return Some(c);
            }
        }
        path.pop();
    }
    None
}

/// Each host's volume roots (absolute paths), as the hosts report them
/// (`DS_Volume` roots of `cimomd --volume-root`); the first is where relative
/// paths resolve.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roots(pub BTreeMap<String, Vec<String>>);

/// A volume with its absolute path and the root it lies under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedVolume {
    /// Host id.
    pub host: String,
    /// Absolute, normalised path.
    pub path: String,
    /// The volume root (of `host`) the path lies under.
    pub root: String,
}

/// A session whose volumes are resolved against the hosts' roots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The session.
    pub session: Session,
    /// Per solution (in document order), its volumes resolved.
    pub volumes: Vec<Vec<ResolvedVolume>>,
}

/// `/a//b/./c/` → `/a/b/c` (paths have no `..`: the parser refuses it).
fn normalise(p: &str) -> String {
    let parts: Vec<&str> = p
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

fn under(path: &str, root: &str) -> bool {
    root == "/" || path == root || path.strip_prefix(root).is_some_and(|r| r.starts_with('/'))
}

/// Resolves every volume: a relative path against its host's first root, an
/// absolute one must lie under one of its host's roots; then no two volumes
/// may resolve to the same file.
pub fn resolve(session: &Session, roots: &Roots) -> Result<Resolved, Error> {
    let mut d = Vec::new();
    let mut out = Vec::new();
    let mut seen: BTreeMap<(String, String), Pos> = BTreeMap::new();
    for sol in &session.solutions {
        let mut vols = Vec::new();
        for v in &sol.volumes {
            let host = &v.host.value;
            let rs: Vec<String> = roots
                .0
                .get(host)
                .map(|r| r.iter().map(|x| normalise(x)).collect())
                .unwrap_or_default();
            let Some(first) = rs.first() else {
                d.push(Diagnostic::new(
                    v.host.pos,
                    format!("host {host} has no volume roots"),
                ));
                continue;
            };
            let raw = &v.path.value;
            let path = if raw.starts_with('/') {
                normalise(raw)
            } else {
                normalise(&format!("{first}/{raw}"))
            };
            let Some(root) = rs
                .iter()
                .filter(|r| under(&path, r))
                .max_by_key(|r| r.len())
            else {
                d.push(Diagnostic::new(
                    v.path.pos,
                    format!(
                        "volume path {raw} is not under a volume root of host {host} ({})",
                        rs.join(", ")
                    ),
                ));
                continue;
            };
            let inner = &path[root.len()..];
            if inner.split('/').any(|c| c == crate::plan::RESERVED_DIR) {
                d.push(Diagnostic::new(
                    v.path.pos,
                    format!(
                        "volume path {raw} lies in {}, which sessions keep their bitmaps in",
                        crate::plan::RESERVED_DIR
                    ),
                ));
                continue;
            }
            if &path == root {
                d.push(Diagnostic::new(
                    v.path.pos,
                    format!("volume path {raw} is the volume root itself"),
                ));
                continue;
            }
            if let Some(first) = seen.get(&(host.clone(), path.clone())) {
                d.push(Diagnostic::new(
                    v.pos,
                    format!("volume {host}:{path} is used twice (first at {first})"),
                ));
            } else {
                seen.insert((host.clone(), path.clone()), v.pos);
            }
            vols.push(ResolvedVolume {
                host: host.clone(),
                path,
                root: root.clone(),
            });
        }
        out.push(vols);
    }
    finish(d)?;
    Ok(Resolved {
        session: session.clone(),
        volumes: out,
    })
}
