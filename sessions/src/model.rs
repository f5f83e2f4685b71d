//! The typed form of a `copy-session/1` document. Every value keeps the
//! [`Pos`] it was read from, so that later checks (static ones here, and the
//! runtime's: roots, peers, scripts) can report line:column.
//!
//! Enumerations are read case-insensitively and written in their canonical
//! spelling ([`Enumerated::NAMES`]); every other value is exact after trimming.

use crate::Pos;
use std::time::Duration;

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct At<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub pos: Pos,
}

impl<T> At<T> {
    /// Wraps `value` read at `pos`.
    pub fn new(value: T, pos: Pos) -> At<T> {
        At { value, pos }
    }
}

/// A whole session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// `SESSION/@name`: the key of `DS_CopySession`.
    pub name: At<String>,
    /// `HOST`+, in document order.
    pub hosts: Vec<Host>,
    /// `SOLUTION`+, in document order.
    pub solutions: Vec<Solution>,
    /// `SEQUENCE`+, in `SEQ_NUM` order (1..N once checked).
    pub sequences: Vec<Sequence>,
    /// The `SESSION` element.
    pub pos: Pos,
}

impl Session {
    /// The sequence numbered `num`.
    pub fn sequence(&self, num: u32) -> Option<&Sequence> {
        self.sequences.iter().find(|s| s.num.value == num)
    }

    /// The host with id `id`.
    pub fn host(&self, id: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.id.value == id)
    }

    /// The home host: the host of the first volume of the first solution.
    pub fn home_host(&self) -> Option<&str> {
        self.solutions
            .first()
            .and_then(|s| s.volumes.first())
            .map(|v| v.host.value.as_str())
    }
}

/// `HOST`: a `cimomd` the session reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// `@id`, referenced by `VOLUME/@host`.
    pub id: At<String>,
    /// `@url`, `http://` or `https://`.
    pub url: At<String>,
    /// The element.
    pub pos: Pos,
}

/// `SOLUTION`: one chain of volumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Solution {
    /// `@name`.
    pub name: At<String>,
    /// N+1 volumes for N sequences: volumes k and k+1 form the pair of sequence k.
    pub volumes: Vec<Volume>,
    /// The element.
    pub pos: Pos,
}

/// `VOLUME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// `@host`: a `HOST/@id`.
    pub host: At<String>,
    /// `@path`: relative (to the host's first volume root) or absolute.
    pub path: At<String>,
    /// The element.
    pub pos: Pos,
}

/// `SEQUENCE`: one step of every chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence {
    /// `SEQ_NUM`, 1..N.
    pub num: At<u32>,
    /// `TYPE`.
    pub kind: At<SeqType>,
    /// `CHARACTERISTIC`, or the default of the type (PIT: Independent;
    /// Continuous: Synchronous) when absent; `pos` is then the `TYPE`'s.
    pub characteristic: At<Characteristic>,
    /// `CMDFLAGS/MODE` of `CMD startFlags`, if given.
    pub mode: Option<At<Mode>>,
    /// `SCHEDULE`, if given.
    pub schedule: Option<At<Schedule>>,
    /// `EVENTFLAGS`*, in document order.
    pub events: Vec<EventFlags>,
    /// The element.
    pub pos: Pos,
}

impl Sequence {
    /// The actions for `event`, if the sequence handles it.
    pub fn handler(&self, event: Event) -> Option<&EventFlags> {
        self.events.iter().find(|e| e.event.value == event)
    }
}

/// `EVENTFLAGS`: one event and its actions, run in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFlags {
    /// `EVENT`.
    pub event: At<Event>,
    /// `ACTION`+.
    pub actions: Vec<At<Action>>,
    /// The element.
    pub pos: Pos,
}

/// `ACTION`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `TO_SEQ` + `DO_CMD`.
    Command {
        /// `TO_SEQ`.
        to_seq: At<u32>,
        /// `DO_CMD`.
        cmd: At<Command>,
    },
    /// `NOTIFY`: a recipient name.
    Notify(At<String>),
    /// `RUN`: a script in `<state-dir>/scripts/`.
    Run {
        /// The script's file name.
        script: At<String>,
        /// `@timeout` (default [`DEFAULT_RUN_TIMEOUT`]).
        timeout: Option<At<Duration>>,
    },
}

/// How long a `RUN` script may take when `timeout` is not given.
pub const DEFAULT_RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest `timeout` a `RUN` may ask for.
pub const MAX_RUN_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// `SCHEDULE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// `every="3h"`: at each multiple of the interval after the start.
    Every(Duration),
    /// `at="HH:MM"`: every day at that time, UTC; minutes after midnight.
    At(u32),
}

/// An enumeration written case-insensitively in documents.
pub trait Enumerated: Sized + Copy + 'static {
    /// Every value with its canonical spelling.
    const NAMES: &'static [(Self, &'static str)];

    /// Reads a (trimmed) value, ignoring ASCII case.
    fn from_name(s: &str) -> Option<Self> {
        Self::NAMES
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(s))
            .map(|(v, _)| *v)
    }

    /// The canonical spelling.
    fn name(self) -> &'static str
    where
        Self: PartialEq,
    {
        Self::NAMES
            .iter()
            .find(|(v, _)| *v == self)
            .map_or("?", |(_, n)| n)
    }

    /// The canonical spellings, for messages: `A, B or C`.
    fn choices() -> String {
        let names: Vec<&str> = Self::NAMES.iter().map(|(_, n)| *n).collect();
        match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => names.join(""),
        }
    }
}

macro_rules! enumerated {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vm])* $v),+ }
        impl Enumerated for $name {
            const NAMES: &'static [(Self, &'static str)] = &[$(($name::$v, $s)),+];
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

enumerated!(
    /// `TYPE`: the base copy type of a sequence.
    SeqType {
        /// An Instant Image set per solution, grouped.
        PointInTime = "Point-In-Time",
        /// A mirror per solution, in one consistency group.
        Continuous = "Continuous",
    }
);

enumerated!(
    /// `CHARACTERISTIC`.
    Characteristic {
        /// Continuous: writes acknowledged after the secondary has them.
        Synchronous = "Synchronous",
        /// Continuous: writes replicated behind.
        Asynchronous = "Asynchronous",
        /// PIT: a full independent shadow.
        Independent = "Independent",
        /// PIT: a copy-on-write shadow.
        Dependent = "Dependent",
    }
);

enumerated!(
    /// `CMDFLAGS/MODE` of `startFlags`.
    Mode {
        /// PIT: a full copy on each start.
        Copy = "Copy",
        /// PIT: only the changed chunks.
        Update = "Update",
        /// Continuous: synchronous replication.
        Synchronous = "Synchronous",
        /// Continuous: asynchronous replication.
        Asynchronous = "Asynchronous",
    }
);

enumerated!(
    /// `EVENT`.
    Event {
        /// The sequence was started (or updated, or resumed).
        OnStart = "onStart",
        /// PIT: every pair's copy finished; Continuous: the initial sync finished.
        OnComplete = "onComplete",
        /// Every pair of a continuous sequence replicating with nothing out of sync; on each entry.
        OnDuplex = "onDuplex",
        /// A pair of the sequence failed (on each entry into failure).
        OnError = "onError",
        /// A tick of the sequence's `SCHEDULE`.
        OnSchedule = "onSchedule",
    }
);

enumerated!(
    /// `DO_CMD`.
    Command {
        /// PIT: enable if needed, copy or update per MODE; Continuous: sync.
        Start = "start",
        /// Abort a copy, or stop replicating.
        Stop = "stop",
        /// Drop the whole continuous group to logging at once.
        Freeze = "freeze",
        /// Resync a frozen mirror, or update a PIT.
        Update = "update",
        /// Resume replicating (after freeze) or a suspended copy.
        Resume = "resume",
    }
);

impl Command {
    /// Whether the command sets its sequence running (and so can lead to its
    /// onStart/onComplete): the edges of the busy-loop check.
    pub fn runs(self) -> bool {
        matches!(self, Command::Start | Command::Update | Command::Resume)
    }
}

impl Characteristic {
    /// Whether the characteristic belongs to sequences of type `t`.
    pub fn fits(self, t: SeqType) -> bool {
        match t {
            SeqType::PointInTime => {
                matches!(
                    self,
                    Characteristic::Independent | Characteristic::Dependent
                )
            }
            SeqType::Continuous => {
                matches!(
                    self,
                    Characteristic::Synchronous | Characteristic::Asynchronous
                )
            }
        }
    }

    /// The default when a sequence of type `t` gives none.
    pub fn default_for(t: SeqType) -> Characteristic {
        match t {
            SeqType::PointInTime => Characteristic::Independent,
            SeqType::Continuous => Characteristic::Synchronous,
        }
    }
}

impl Mode {
    /// Whether the mode belongs to sequences of type `t`.
    pub fn fits(self, t: SeqType) -> bool {
        match t {
            SeqType::PointInTime => matches!(self, Mode::Copy | Mode::Update),
            SeqType::Continuous => matches!(self, Mode::Synchronous | Mode::Asynchronous),
        }
    }
}

/// Reads a duration: a whole number and a unit, `s`, `m`, `h` or `d` (`30s`, `3h`).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let unit = s.chars().last()?;
    let n: u64 = s[..s.len() - unit.len_utf8()].parse().ok()?;
    if !s.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    let secs = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    n.checked_mul(secs).map(Duration::from_secs)
}

/// Writes a duration in the largest unit that divides it.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    for (unit, n) in [('d', 86_400), ('h', 3600), ('m', 60)] {
        if s != 0 && s % n == 0 {
            return format!("{}{unit}", s / n);
        }
    }
    format!("{s}s")
}

/// Reads `HH:MM` (24-hour clock) into minutes after midnight.
pub fn parse_time_of_day(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !(h.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// Whether `s` is a name: 1..=64 of `A-Z a-z 0-9 . _ -`, not starting with `-` or `.`.
pub fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && !s.starts_with(['-', '.'])
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_times_and_names() {
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("3h"), Some(Duration::from_secs(3 * 3600)));
        for bad in [
            "",
            "h",
            "3",
            "3 h",
            "+3h",
            "-3h",
            "3x",
            "3hh",
            "99999999999999999999d",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
        assert_eq!(format_duration(Duration::from_secs(86_400)), "1d");
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
        assert_eq!(format_duration(Duration::from_secs(5400)), "90m");
        assert_eq!(parse_time_of_day("00:00"), Some(0));
        assert_eq!(parse_time_of_day("23:59"), Some(23 * 60 + 59));
        for bad in ["24:00", "7:00", "07:60", "07-00", "0700"] {
            assert_eq!(parse_time_of_day(bad), None, "{bad:?}");
        }
        assert!(is_name("site-switch.sh") && is_name("_x"));
        for bad in ["", "-x", ".x", "a/b", "a b", &"x".repeat(65)] {
            assert!(!is_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn enumerations_ignore_case_and_print_canonically() {
        assert_eq!(Command::from_name("Freeze"), Some(Command::Freeze));
        assert_eq!(
            SeqType::from_name("POINT-IN-TIME"),
            Some(SeqType::PointInTime)
        );
        assert_eq!(SeqType::from_name("PointInTime"), None);
        assert_eq!(Event::OnDuplex.to_string(), "onDuplex");
        assert_eq!(SeqType::choices(), "Point-In-Time or Continuous");
        assert!(Characteristic::Dependent.fits(SeqType::PointInTime));
        assert!(!Mode::Copy.fits(SeqType::Continuous));
    }
}
