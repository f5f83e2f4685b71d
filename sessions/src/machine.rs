//! The event state machine of a running session, as a pure function:
//! [`step`] takes the document, the journal and what the pairs look like now,
//! and says what to record, which events fire and which actions follow, in
//! document order.
//!
//! Events are derived from state, not from indications: on start, restart
//! or reconnect the runtime reads every pair and calls [`step`], and a copy
//! that completed while `cimomd` was down still fires onComplete. The journal
//! makes that exactly once: an event occurrence already journalled never
//! fires again, and the actions of a journalled occurrence that have no
//! [`Entry::Acted`] are handed out again (so a restart neither repeats nor
//! loses one; see [`Decision::Act`] for the one in flight at a crash).
//!
//! Occurrences: onStart and onComplete count runs (a run is each start,
//! update or resume issued to the sequence; for a sequence with a SCHEDULE
//! those only arm it, and each tick is a run); onDuplex and onError count
//! entries into that status (the last status is journalled); onSchedule is
//! numbered by the tick's time, and ticks missed while down fire once.
//!
//! The caller's contract: journal every [`Decision::Status`] and
//! [`Decision::Fire`] (as [`Decision::entry`] gives them), perform each
//! [`Decision::Act`] and journal its [`Entry::Acted`], journal an
//! [`Entry::Issued`] for every command that set a sequence moving (by an
//! action, a schedule tick or an operator), and read the pairs *after*
//! journalling what it issued.

use crate::model::*;

/// What one pair looks like, as the runtime reads it from its host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairState {
    /// The set or mirror does not exist (not made yet, or gone).
    Absent,
    /// PIT: enabled, no copy running (a finished copy looks like this).
    Idle,
    /// PIT: a copy or update is running.
    Copying,
    /// Continuous: (re)synchronising.
    Syncing,
    /// Continuous: replicating, nothing out of sync.
    Duplex,
    /// Continuous: logging (frozen, stopped or the link is down). Unless
    /// the session froze or stopped the sequence, it is a failure: a cut link
    /// is what onError exists for.
    Logging,
    /// Failed, with the host's reason.
    Failed(String),
}

/// The pairs of one sequence (one per solution, in document order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// SEQ_NUM.
    pub seq: u32,
    /// The pairs' states.
    pub pairs: Vec<PairState>,
}

/// A sequence's status, derived from its pairs and the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Never started.
    NotStarted,
    /// Stopped by a `stop`.
    Stopped,
    /// PIT: copying.
    Running,
    /// PIT: every pair's copy finished.
    Done,
    /// Continuous: synchronising.
    Syncing,
    /// Continuous: every pair in step.
    Duplex,
    /// Continuous: logging (frozen or cut).
    Logging,
    /// A pair failed or is missing.
    Failed,
}

/// One record of the journal (kept by the runtime in the repository).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A command was issued to a sequence at `at` (Unix seconds).
    Issued {
        /// SEQ_NUM.
        seq: u32,
        /// The command.
        cmd: Command,
        /// When.
        at: u64,
    },
    /// The status the machine last saw.
    Status {
        /// SEQ_NUM.
        seq: u32,
        /// The status.
        status: Status,
    },
    /// An event fired.
    Fired {
        /// SEQ_NUM.
        seq: u32,
        /// The event.
        event: Event,
        /// Which occurrence (see the module documentation).
        occurrence: u64,
    },
    /// A schedule tick's copy or update was issued (see [`Decision::Tick`]).
    Ticked {
        /// SEQ_NUM.
        seq: u32,
        /// The tick's time.
        at: u64,
    },
    /// The action `index` (0-based, document order) of a fired event was
    /// performed (or attempted: `ok` false).
    Acted {
        /// SEQ_NUM.
        seq: u32,
        /// The event.
        event: Event,
        /// The occurrence.
        occurrence: u64,
        /// The action's index in its EVENTFLAGS.
        index: usize,
        /// Whether it succeeded.
        ok: bool,
    },
}

/// What the runtime should do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Journal the sequence's new status.
    Status {
        /// SEQ_NUM.
        seq: u32,
        /// The status.
        status: Status,
    },
    /// A schedule tick is due: run the sequence's copy or update (per MODE)
    /// and journal [`Entry::Ticked`]; the onSchedule event follows.
    Tick {
        /// SEQ_NUM.
        seq: u32,
        /// The tick's time.
        at: u64,
    },
    /// Journal that the event fired.
    Fire {
        /// SEQ_NUM.
        seq: u32,
        /// The event.
        event: Event,
        /// The occurrence.
        occurrence: u64,
    },
    /// Perform the action, then journal [`Entry::Acted`]. DO_CMD actions are
    /// idempotent (start on a running sequence does nothing), so they are
    /// journalled after they ran and may run again after a crash in between;
    /// NOTIFY and RUN are journalled before they run, so they never run twice.
    Act {
        /// SEQ_NUM of the sequence whose event it is.
        seq: u32,
        /// The event.
        event: Event,
        /// The occurrence.
        occurrence: u64,
        /// The action's index in its EVENTFLAGS.
        index: usize,
        /// The action.
        action: Action,
    },
}

impl Decision {
    /// The journal entry this decision stands for, if it is journalled as is.
    pub fn entry(&self) -> Option<Entry> {
        match self {
            Decision::Status { seq, status } => Some(Entry::Status {
                seq: *seq,
                status: *status,
            }),
            Decision::Fire {
                seq,
                event,
                occurrence,
            } => Some(Entry::Fired {
                seq: *seq,
                event: *event,
                occurrence: *occurrence,
            }),
            Decision::Tick { .. } | Decision::Act { .. } => None,
        }
    }
}

/// What the journal says about one sequence.
struct History {
    /// Runs: commands that set it moving, or for a scheduled sequence its ticks.
    runs: u64,
    /// The last command issued, if any.
    last: Option<Command>,
    /// When the schedule was armed: the first run since the last stop.
    armed_at: Option<u64>,
    status: Status,
}

fn history(journal: &[Entry], seq: u32, scheduled: bool) -> History {
    let mut h = History {
        runs: 0,
        last: None,
        armed_at: None,
        status: Status::NotStarted,
    };
    for e in journal {
        match e {
            Entry::Issued { seq: s, cmd, at } if *s == seq => {
                if cmd.runs() {
                    if !scheduled {
                        h.runs += 1;
                    }
                    h.armed_at.get_or_insert(*at);
                }
                if *cmd == Command::Stop {
                    h.armed_at = None;
                }
                h.last = Some(*cmd);
            }
            Entry::Ticked { seq: s, .. } if *s == seq && scheduled => h.runs += 1,
            Entry::Status { seq: s, status } if *s == seq => h.status = *status,
            _ => {}
        }
    }
    h
}

fn fired(journal: &[Entry], seq: u32, event: Event, occurrence: u64) -> bool {
    journal.iter().any(|e| {
        matches!(e, Entry::Fired { seq: s, event: ev, occurrence: o }
            if *s == seq && *ev == event && *o == occurrence)
    })
}

fn fired_count(journal: &[Entry], seq: u32, event: Event) -> u64 {
    journal
        .iter()
        .filter(
            |e| matches!(e, Entry::Fired { seq: s, event: ev, .. } if *s == seq && *ev == event),
        )
        .count() as u64
}

/// The status of a sequence of type `kind` from its pairs and history.
pub fn derive_status(
    kind: SeqType,
    pairs: &[PairState],
    runs: u64,
    last: Option<Command>,
) -> Status {
    if runs == 0 {
        return Status::NotStarted;
    }
    if last == Some(Command::Stop) {
        return Status::Stopped;
    }
    if pairs.is_empty()
        || pairs
            .iter()
            .any(|p| matches!(p, PairState::Failed(_) | PairState::Absent))
    {
        return Status::Failed;
    }
    let all = |want: PairState| pairs.iter().all(|p| *p == want);
    match kind {
        SeqType::PointInTime if pairs.contains(&PairState::Copying) => Status::Running,
        SeqType::PointInTime if all(PairState::Idle) => Status::Done,
        SeqType::PointInTime => Status::Failed,
        SeqType::Continuous if all(PairState::Duplex) => Status::Duplex,
        SeqType::Continuous if pairs.contains(&PairState::Logging) => {
            // Logging the session asked for (freeze) is a status; any other
            // is a cut link or a failed secondary.
            if last == Some(Command::Freeze) {
                Status::Logging
            } else {
                Status::Failed
            }
        }
        SeqType::Continuous
            if pairs
                .iter()
                .all(|p| matches!(p, PairState::Syncing | PairState::Duplex)) =>
        {
            Status::Syncing
        }
        SeqType::Continuous => Status::Failed,
    }
}

/// The latest tick of `schedule` in `(armed, now]`, if any.
pub fn due_tick(schedule: Schedule, armed: u64, now: u64) -> Option<u64> {
    match schedule {
        Schedule::Every(d) => {
            let every = d.as_secs().max(1);
            let k = now.checked_sub(armed)? / every;
            (k >= 1).then(|| armed + k * every)
        }
        Schedule::At(minute) => {
            let day = 86_400;
            let offset = u64::from(minute) * 60;
            let today = (now - now % day).saturating_add(offset);
            let t = if today <= now {
                today
            } else {
                today.checked_sub(day)?
            };
            (t > armed).then_some(t)
        }
    }
}

/// The next tick after `now` of a sequence's schedule, if it is armed: when
/// the runtime should call [`step`] again without a state change.
pub fn next_tick(session: &Session, journal: &[Entry], seq: u32, now: u64) -> Option<u64> {
    let q = session.sequence(seq)?;
    let schedule = q.schedule.as_ref()?.value;
    let h = history(journal, seq, true);
    if h.last == Some(Command::Stop) {
        return None;
    }
    let armed = h.armed_at?;
    match schedule {
        Schedule::Every(d) => {
            let every = d.as_secs().max(1);
            let k = now.saturating_sub(armed) / every + 1;
            Some(armed.saturating_add(k.saturating_mul(every)))
        }
        Schedule::At(minute) => {
            let day = 86_400;
            let today = (now - now % day).saturating_add(u64::from(minute) * 60);
            Some(if today > now {
                today
            } else {
                today.saturating_add(day)
            })
        }
    }
}

/// Decides what happens now: first the actions of journalled events still
/// owed (after a restart), then per sequence in SEQ_NUM order its status
/// change and events (onStart, onError, onComplete, onDuplex, onSchedule),
/// each followed by its actions in document order.
pub fn step(
    session: &Session,
    journal: &[Entry],
    observed: &[Observation],
    now: u64,
) -> Vec<Decision> {
    let mut out = Vec::new();
    for e in journal {
        if let Entry::Fired {
            seq,
            event,
            occurrence,
        } = e
        {
            owed(session, journal, *seq, *event, *occurrence, &mut out);
        }
    }
    for q in &session.sequences {
        let seq = q.num.value;
        let h = history(journal, seq, q.schedule.is_some());
        let pairs = observed
            .iter()
            .find(|o| o.seq == seq)
            .map(|o| o.pairs.as_slice())
            .unwrap_or(&[]);
        let status = derive_status(q.kind.value, pairs, h.runs, h.last);
        if status != h.status {
            out.push(Decision::Status { seq, status });
        }
        let fire = |event: Event, occurrence: u64, out: &mut Vec<Decision>| {
            if fired(journal, seq, event, occurrence) {
                return;
            }
            out.push(Decision::Fire {
                seq,
                event,
                occurrence,
            });
            push_actions(q, event, occurrence, |_| false, out);
        };
        // onError and onDuplex fire on each entry into their status.
        let on_entry = |event: Event, into: Status, out: &mut Vec<Decision>| {
            if status == into && h.status != into {
                fire(event, fired_count(journal, seq, event) + 1, out);
            }
        };
        if h.runs > 0 {
            fire(Event::OnStart, h.runs, &mut out);
        }
        on_entry(Event::OnError, Status::Failed, &mut out);
        let complete = match q.kind.value {
            SeqType::PointInTime => status == Status::Done,
            SeqType::Continuous => status == Status::Duplex,
        };
        if complete {
            fire(Event::OnComplete, h.runs, &mut out);
        }
        on_entry(Event::OnDuplex, Status::Duplex, &mut out);
        if let (Some(s), Some(armed)) = (&q.schedule, h.armed_at) {
            if status != Status::Stopped {
                if let Some(t) = due_tick(s.value, armed, now) {
                    if !fired(journal, seq, Event::OnSchedule, t) {
                        out.push(Decision::Tick { seq, at: t });
                    }
                    fire(Event::OnSchedule, t, &mut out);
                }
            }
        }
    }
    out
}

/// The actions of a journalled occurrence that have not been performed.
fn owed(
    session: &Session,
    journal: &[Entry],
    seq: u32,
    event: Event,
    occurrence: u64,
    out: &mut Vec<Decision>,
) {
    let Some(q) = session.sequence(seq) else {
        return;
    };
    let done = |index: usize| {
        journal.iter().any(|e| {
            matches!(e, Entry::Acted { seq: s, event: ev, occurrence: o, index: i, .. }
                if *s == seq && *ev == event && *o == occurrence && *i == index)
        })
    };
    push_actions(q, event, occurrence, done, out);
}

/// The actions `q` runs for `event`, in document order, except those `done`.
fn push_actions(
    q: &Sequence,
    event: Event,
    occurrence: u64,
    done: impl Fn(usize) -> bool,
    out: &mut Vec<Decision>,
) {
    let Some(handler) = q.handler(event) else {
        return;
    };
    for (index, a) in handler.actions.iter().enumerate() {
        if !done(index) {
            out.push(Decision::Act {
                seq: q.num.value,
                event,
                occurrence,
                index,
                action: a.value.clone(),
            });
        }
    }
}
