//! From text to [`Session`]: the element structure of `copy-session/1`
//! (which elements and attributes exist, in which order and how many), the
//! values (trimmed; enumerations case-insensitive), then the static checks of
//! `check.rs`. Every message carries the line:column of what it is about, and
//! every message is reported, not only the first (except malformed XML, which
//! ends reading).

use crate::model::*;
use crate::xml::{read_tree, Attr, Node};
use crate::{finish, Diagnostic, Error, Pos, NAMESPACE};
use std::time::Duration;

/// The largest document accepted (1 MiB): sessions are a few kilobytes.
pub const MAX_DOCUMENT_BYTES: usize = 1 << 20;

/// Parses and checks a document given as bytes (UTF-8 only).
pub fn parse_bytes(bytes: &[u8]) -> Result<Session, Error> {
    match std::str::from_utf8(bytes) {
        Ok(s) => parse(s),
        Err(e) => {
            let good = std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or("");
            let pos = crate::xml::Lines::new(good).pos(good.len());
            Err(Error::Invalid(vec![Diagnostic::new(
                pos,
                "the document is not UTF-8",
            )]))
        }
    }
}

/// Parses `src` and runs every static check; the session, or every message.
pub fn parse(src: &str) -> Result<Session, Error> {
    if src.len() > MAX_DOCUMENT_BYTES {
        return Err(Error::Invalid(vec![Diagnostic::new(
            Pos { line: 1, col: 1 },
            format!("the document is larger than {MAX_DOCUMENT_BYTES} bytes"),
        )]));
    }
    let root = read_tree(src).map_err(|d| Error::Invalid(vec![d]))?;
    let mut p = Reader { diags: Vec::new() };
    let session = p.session(&root);
    finish(p.diags)?;
    let session = session
        .ok_or_else(|| Error::Invalid(vec![Diagnostic::new(root.pos, "invalid session")]))?;
    finish(crate::check::check(&session))?;
    Ok(session)
}

/// One child element kind in a parent's content model.
struct Slot {
    name: &'static str,
    min: usize,
    max: usize,
}

const fn one(name: &'static str) -> Slot {
    Slot {
        name,
        min: 1,
        max: 1,
    }
}
const fn opt(name: &'static str) -> Slot {
    Slot {
        name,
        min: 0,
        max: 1,
    }
}
const fn many(name: &'static str, min: usize) -> Slot {
    Slot {
        name,
        min,
        max: usize::MAX,
    }
}

struct Reader {
    diags: Vec<Diagnostic>,
}

impl Reader {
    fn err(&mut self, pos: Pos, msg: impl Into<String>) {
        self.diags.push(Diagnostic::new(pos, msg));
    }

    /// Sorts the children of `node` into `slots`, reporting unknown,
    /// misplaced, repeated and missing elements and stray text.
    fn layout<'n>(&mut self, node: &'n Node, slots: &[Slot]) -> Vec<Vec<&'n Node>> {
        let mut out: Vec<Vec<&Node>> = slots.iter().map(|_| Vec::new()).collect();
        let parent = &node.name;
        if !slots.is_empty() {
            if let Some(pos) = node.stray_text {
                self.err(pos, format!("text is not allowed in <{parent}>"));
            }
        }
        let mut at = 0;
        for child in &node.children {
            let Some(j) = slots.iter().position(|s| s.name == child.name) else {
                self.err(
                    child.pos,
                    format!("unknown element <{}> in <{parent}>", child.name),
                );
                continue;
            };
            if j < at {
                let order: Vec<&str> = slots.iter().map(|s| s.name).collect();
                self.err(
                    child.pos,
                    format!(
                        "<{}> is out of order in <{parent}> (the order is {})",
                        child.name,
                        order.join(", ")
                    ),
                );
                continue;
            }
            at = j;
            if out[j].len() == slots[j].max {
                self.err(
                    child.pos,
                    format!("more than one <{}> in <{parent}>", child.name),
                );
                continue;
            }
            out[j].push(child);
        }
        for (slot, found) in slots.iter().zip(&out) {
            if found.len() < slot.min {
                self.err(node.pos, format!("<{parent}> is missing <{}>", slot.name));
            }
        }
        out
    }

    /// An element that must have no content at all.
    fn empty(&mut self, node: &Node) {
        self.layout(node, &[]);
        if let Some(pos) = node.stray_text {
            self.err(pos, format!("text is not allowed in <{}>", node.name));
        }
    }

    /// The attributes of `node` named in `allowed` (others are reported),
    /// values trimmed; required ones missing are reported.
    fn attrs<'n, const N: usize>(
        &mut self,
        node: &'n Node,
        allowed: [&str; N],
        required: &[&str],
    ) -> [Option<(&'n Attr, String)>; N] {
        let mut out: [Option<(&Attr, String)>; N] = std::array::from_fn(|_| None);
        for a in &node.attrs {
            match allowed.iter().position(|n| *n == a.name) {
                Some(i) => out[i] = Some((a, a.value.trim().to_owned())),
                None => self.err(
                    a.pos,
                    format!("unknown attribute {} on <{}>", a.name, node.name),
                ),
            }
        }
        for r in required {
            if let Some(i) = allowed.iter().position(|n| n == r) {
                if out[i].is_none() {
                    self.err(
                        node.pos,
                        format!("<{}> is missing attribute {r}", node.name),
                    );
                }
            }
        }
        out
    }

    /// A leaf element's trimmed text; `None` (reported) when empty.
    fn text(&mut self, node: &Node) -> Option<At<String>> {
        self.layout(node, &[]);
        if node.name != "RUN" {
            self.attrs(node, [], &[]);
        }
        let t = node.text.trim();
        if t.is_empty() {
            self.err(node.pos, format!("<{}> is empty", node.name));
            return None;
        }
        Some(At::new(t.to_owned(), node.text_pos))
    }

    fn enumerated<E: Enumerated + PartialEq>(&mut self, node: &Node) -> Option<At<E>> {
        let t = self.text(node)?;
        match E::from_name(&t.value) {
            Some(v) => Some(At::new(v, t.pos)),
            None => {
                self.err(
                    t.pos,
                    format!("<{}> {:?} is not {}", node.name, t.value, E::choices()),
                );
                None
            }
        }
    }

    fn number(&mut self, node: &Node) -> Option<At<u32>> {
        let t = self.text(node)?;
        match t.value.parse::<u32>() {
            Ok(n) if n >= 1 && t.value.bytes().all(|b| b.is_ascii_digit()) => {
                Some(At::new(n, t.pos))
            }
            _ => {
                self.err(
                    t.pos,
                    format!("<{}> {:?} is not a whole number from 1", node.name, t.value),
                );
                None
            }
        }
    }

    fn name(&mut self, what: &str, a: Option<(&Attr, String)>) -> Option<At<String>> {
        let (attr, v) = a?;
        if !is_name(&v) {
            self.err(
                attr.pos,
                format!(
                    "{what} {v:?} must be 1 to 64 letters, digits, '.', '_' or '-', \
                     not starting with '-' or '.'"
                ),
            );
            return None;
        }
        Some(At::new(v, attr.pos))
    }

    fn session(&mut self, root: &Node) -> Option<Session> {
        if root.name != "SESSION" {
            self.err(
                root.pos,
                format!("the root element is <{}>, not <SESSION>", root.name),
            );
            return None;
        }
        let [name, ns] = self.attrs(root, ["name", "xmlns"], &["name"]);
        match &ns {
            Some((_, v)) if v == NAMESPACE => {}
            Some((a, v)) => self.err(a.pos, format!("xmlns {v:?} is not {NAMESPACE:?}")),
            None => self.err(
                root.pos,
                format!("<SESSION> is missing xmlns=\"{NAMESPACE}\""),
            ),
        }
        let name = self.name("session name", name);
        let [hosts, solutions, sequences] = self
            .layout(
                root,
                &[many("HOST", 1), many("SOLUTION", 1), many("SEQUENCE", 1)],
            )
            .try_into()
            .ok()?;
        let hosts: Vec<Host> = hosts.iter().filter_map(|h| self.host(h)).collect();
        let solutions: Vec<Solution> = solutions.iter().filter_map(|s| self.solution(s)).collect();
        let mut sequences: Vec<Sequence> =
            sequences.iter().filter_map(|s| self.sequence(s)).collect();
        sequences.sort_by_key(|s| s.num.value);
        Some(Session {
            name: name?,
            hosts,
            solutions,
            sequences,
            pos: root.pos,
        })
    }

    fn host(&mut self, node: &Node) -> Option<Host> {
        self.empty(node);
        let [id, url] = self.attrs(node, ["id", "url"], &["id", "url"]);
        let id = self.name("host id", id);
        let (ua, url) = url?;
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"));
        if !rest.is_some_and(|r| {
            !r.is_empty() && !r.chars().any(|c| c.is_whitespace() || c.is_control())
        }) {
            self.err(
                ua.pos,
                format!("host url {url:?} is not an http:// or https:// URL"),
            );
            return None;
        }
        Some(Host {
            id: id?,
            url: At::new(url, ua.pos),
            pos: node.pos,
        })
    }

    fn solution(&mut self, node: &Node) -> Option<Solution> {
        let [name] = self.attrs(node, ["name"], &["name"]);
        let name = self.name("solution name", name);
        let [volumes] = self.layout(node, &[many("VOLUME", 2)]).try_into().ok()?;
        let volumes: Vec<Volume> = volumes.iter().filter_map(|v| self.volume(v)).collect();
        Some(Solution {
            name: name?,
            volumes,
            pos: node.pos,
        })
    }

    fn volume(&mut self, node: &Node) -> Option<Volume> {
        self.empty(node);
        let [host, path] = self.attrs(node, ["host", "path"], &["host", "path"]);
        let host = host.map(|(a, v)| At::new(v, a.pos));
        let (pa, path) = path?;
        let bad = if path.is_empty() {
            Some("is empty")
        } else if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            Some("contains white space or control characters")
        } else if path.split('/').any(|c| c == "..") {
            Some("contains '..'")
        } else {
            None
        };
        if let Some(why) = bad {
            self.err(pa.pos, format!("volume path {path:?} {why}"));
            return None;
        }
        Some(Volume {
            host: host?,
            path: At::new(path, pa.pos),
            pos: node.pos,
        })
    }

    fn sequence(&mut self, node: &Node) -> Option<Sequence> {
        self.attrs(node, [], &[]);
        let [num, kind, ch, cmd, sched, events] = self
            .layout(
                node,
                &[
                    one("SEQ_NUM"),
                    one("TYPE"),
                    opt("CHARACTERISTIC"),
                    opt("CMDFLAGS"),
                    opt("SCHEDULE"),
                    many("EVENTFLAGS", 0),
                ],
            )
            .try_into()
            .ok()?;
        let num = num.first().and_then(|n| self.number(n));
        let kind: Option<At<SeqType>> = kind.first().and_then(|n| self.enumerated(n));
        let ch: Option<At<Characteristic>> = ch.first().and_then(|n| self.enumerated(n));
        let mode = cmd.first().and_then(|n| self.cmdflags(n));
        let schedule = sched.first().and_then(|n| self.schedule(n));
        let events: Vec<EventFlags> = events.iter().filter_map(|e| self.eventflags(e)).collect();
        let (num, kind) = (num?, kind?);
        let t = kind.value;
        if let Some(c) = &ch {
            if !c.value.fits(t) {
                self.err(
                    c.pos,
                    format!(
                        "CHARACTERISTIC {} does not apply to a {t} sequence",
                        c.value
                    ),
                );
            }
        }
        if let Some(m) = &mode {
            if !m.value.fits(t) {
                self.err(
                    m.pos,
                    format!("MODE {} does not apply to a {t} sequence", m.value),
                );
            } else if let (SeqType::Continuous, Some(c)) = (t, &ch) {
                if m.value.name() != c.value.name() {
                    self.err(
                        m.pos,
                        format!("MODE {} contradicts CHARACTERISTIC {}", m.value, c.value),
                    );
                }
            }
        }
        if let Some(s) = &schedule {
            if t != SeqType::PointInTime {
                self.err(s.pos, "SCHEDULE is only for Point-In-Time sequences");
            }
        }
        // Continuous without CHARACTERISTIC but with MODE: the mode says it.
        let characteristic = match (ch, &mode) {
            (Some(c), _) => c,
            (None, Some(m)) if t == SeqType::Continuous && m.value == Mode::Asynchronous => {
                At::new(Characteristic::Asynchronous, m.pos)
            }
            (None, _) => At::new(Characteristic::default_for(t), kind.pos),
        };
        let mut seen: Vec<&EventFlags> = Vec::new();
        for e in &events {
            let ev = e.event.value;
            if let Some(first) = seen.iter().find(|f| f.event.value == ev) {
                self.err(
                    e.event.pos,
                    format!(
                        "{ev} is already handled at {} (one EVENTFLAGS per event)",
                        first.event.pos
                    ),
                );
            }
            seen.push(e);
            if ev == Event::OnDuplex && t != SeqType::Continuous {
                self.err(e.event.pos, "onDuplex applies only to Continuous sequences");
            }
            if ev == Event::OnSchedule && schedule.is_none() {
                self.err(e.event.pos, "onSchedule needs a SCHEDULE in the sequence");
            }
        }
        Some(Sequence {
            num,
            kind,
            characteristic,
            mode,
            schedule,
            events,
            pos: node.pos,
        })
    }

    fn cmdflags(&mut self, node: &Node) -> Option<At<Mode>> {
        self.attrs(node, [], &[]);
        let [cmd, mode] = self
            .layout(node, &[one("CMD"), one("MODE")])
            .try_into()
            .ok()?;
        if let Some(c) = cmd.first().and_then(|c| self.text(c)) {
            if !c.value.eq_ignore_ascii_case("startFlags") {
                self.err(c.pos, format!("<CMD> {:?} is not startFlags", c.value));
            }
        }
        mode.first().and_then(|m| self.enumerated(m))
    }

    fn schedule(&mut self, node: &Node) -> Option<At<Schedule>> {
        self.empty(node);
        let [every, at] = self.attrs(node, ["every", "at"], &[]);
        match (every, at) {
            (Some((a, v)), None) => {
                match parse_duration(&v) {
                    Some(d) if d >= Duration::from_secs(60) => {
                        Some(At::new(Schedule::Every(d), a.pos))
                    }
                    _ => {
                        self.err(a.pos, format!("every {v:?} is not a duration of at least 1m (such as 15m, 3h, 1d)"));
                        None
                    }
                }
            }
            (None, Some((a, v))) => match parse_time_of_day(&v) {
                Some(m) => Some(At::new(Schedule::At(m), a.pos)),
                None => {
                    self.err(a.pos, format!("at {v:?} is not a time HH:MM"));
                    None
                }
            },
            _ => {
                self.err(node.pos, "<SCHEDULE> needs exactly one of every or at");
                None
            }
        }
    }

    fn eventflags(&mut self, node: &Node) -> Option<EventFlags> {
        self.attrs(node, [], &[]);
        let [event, actions] = self
            .layout(node, &[one("EVENT"), many("ACTION", 1)])
            .try_into()
            .ok()?;
        let event = event.first().and_then(|e| self.enumerated(e));
        let actions: Vec<At<Action>> = actions.iter().filter_map(|a| self.action(a)).collect();
        Some(EventFlags {
            event: event?,
            actions,
            pos: node.pos,
        })
    }

    fn action(&mut self, node: &Node) -> Option<At<Action>> {
        self.attrs(node, [], &[]);
        let [to_seq, cmd, notify, run] = self
            .layout(
                node,
                &[opt("TO_SEQ"), opt("DO_CMD"), opt("NOTIFY"), opt("RUN")],
            )
            .try_into()
            .ok()?;
        let kinds = [
            !to_seq.is_empty() || !cmd.is_empty(),
            !notify.is_empty(),
            !run.is_empty(),
        ];
        if kinds.iter().filter(|k| **k).count() != 1 {
            self.err(
                node.pos,
                "<ACTION> holds exactly one of TO_SEQ with DO_CMD, NOTIFY or RUN",
            );
            return None;
        }
        if let Some(n) = notify.first() {
            let who = self.text(n)?;
            let odd_space = who.value.contains("  ")
                || who.value.chars().any(|c| c.is_whitespace() && c != ' ');
            if who.value.chars().any(char::is_control)
                || odd_space
                || who.value.chars().count() > 256
            {
                self.err(
                    who.pos,
                    "a NOTIFY recipient is at most 256 characters, words separated by single spaces",
                );
                return None;
            }
            return Some(At::new(Action::Notify(who), node.pos));
        }
        if let Some(r) = run.first() {
            let [timeout] = self.attrs(r, ["timeout"], &[]);
            let script = self.text(r)?;
            if !is_name(&script.value) {
                self.err(
                    script.pos,
                    format!(
                        "RUN script {:?} must be a file name in the scripts folder \
                         (letters, digits, '.', '_' or '-', not starting with '-' or '.')",
                        script.value
                    ),
                );
                return None;
            }
            let timeout = match timeout {
                None => None,
                Some((a, v)) => {
                    match parse_duration(&v) {
                        Some(d) if !d.is_zero() && d <= MAX_RUN_TIMEOUT => Some(At::new(d, a.pos)),
                        _ => {
                            self.err(a.pos, format!("timeout {v:?} is not a duration from 1s to 24h (such as 30s, 5m)"));
                            return None;
                        }
                    }
                }
            };
            return Some(At::new(Action::Run { script, timeout }, node.pos));
        }
        if to_seq.is_empty() {
            self.err(node.pos, "<ACTION> is missing <TO_SEQ>");
        }
        if cmd.is_empty() {
            self.err(node.pos, "<ACTION> is missing <DO_CMD>");
        }
        let to = to_seq.first().and_then(|t| self.number(t));
        let cmd = cmd.first().and_then(|c| self.enumerated(c));
        Some(At::new(
            Action::Command {
                to_seq: to?,
                cmd: cmd?,
            },
            node.pos,
        ))
    }
}
