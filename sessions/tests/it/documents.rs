//! Whole documents: the canonical form round-trips and is stable, parsing
//! is quick, the reference session plans as documented and its chain runs
//! through the state machine as the CPPC example describes.

use sessions::machine::{self, Decision, Entry, Observation, PairState, Status};
use sessions::plan::{plan, RESERVED_DIR};
use sessions::{parse, resolve, to_xml, Action, Command, Event, Roots, Session};
use std::path::Path;
use std::time::Instant;

fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/good")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn cppc() -> Session {
    parse(&fixture("cppc.xml")).expect("cppc.xml parses")
}

#[test]
fn canonical_form_round_trips_and_is_stable() {
    for name in ["cppc.xml", "design-example.xml", "scheduled.xml"] {
        let s = parse(&fixture(name)).expect(name);
        let xml = to_xml(&s);
        let again =
            parse(&xml).unwrap_or_else(|e| panic!("{name}: canonical form rejected: {e}\n{xml}"));
        assert_eq!(again, s, "{name}");
        assert_eq!(to_xml(&again), xml, "{name}: not stable");
        // The canonical form keeps no padding and spells enumerations canonically.
        assert!(!xml.contains("> "), "{name}: {xml}");
    }
    let d = to_xml(&parse(&fixture("design-example.xml")).unwrap());
    assert!(
        d.contains("<DO_CMD>freeze</DO_CMD>") && d.contains("<NOTIFY>Bill</NOTIFY>"),
        "{d}"
    );
    assert!(
        d.contains("<CHARACTERISTIC>Synchronous</CHARACTERISTIC>"),
        "{d}"
    );
}

#[test]
fn design_example_keeps_its_chain() {
    let s = parse(&fixture("design-example.xml")).unwrap();
    let kinds: Vec<String> = s
        .sequences
        .iter()
        .map(|q| q.kind.value.to_string())
        .collect();
    assert_eq!(
        kinds,
        ["Continuous", "Point-In-Time", "Continuous", "Point-In-Time"]
    );
    let on = |seq: u32, ev: Event| -> Vec<String> {
        s.sequence(seq)
            .and_then(|q| q.handler(ev))
            .map(|h| {
                h.actions
                    .iter()
                    .map(|a| match &a.value {
                        Action::Command { to_seq, cmd } => {
                            format!("{} {}", cmd.value, to_seq.value)
                        }
                        Action::Notify(w) => format!("notify {}", w.value),
                        Action::Run { script, .. } => format!("run {}", script.value),
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(on(1, Event::OnError), ["freeze 1", "start 2"]);
    assert_eq!(on(2, Event::OnComplete), ["start 3"]);
    assert_eq!(on(2, Event::OnError), ["notify Bill"]);
    assert_eq!(on(3, Event::OnError), ["start 4"]);
    assert_eq!(on(4, Event::OnComplete), ["start 1"]);
    assert_eq!(on(4, Event::OnError), ["notify Bill"]);
}

#[test]
fn parsing_a_session_takes_well_under_a_millisecond() {
    for name in ["cppc.xml", "design-example.xml", "scheduled.xml"] {
        let text = fixture(name);
        let n = 200;
        let t = Instant::now();
        for _ in 0..n {
            parse(&text).unwrap();
        }
        let per = t.elapsed() / n;
        eprintln!(
            "{name} ({} bytes): {per:?} per parse and check (debug build)",
            text.len()
        );
        assert!(per.as_millis() < 20, "{name}: {per:?}");
    }
}

fn roots() -> Roots {
    let mut r = Roots::default();
    r.0.insert("site1".into(), vec!["/srv/v1".into(), "/mnt/extra/".into()]);
    r.0.insert("site2".into(), vec!["/srv/v2".into()]);
    r
}

#[test]
fn plan_names_pairs_groups_and_bitmaps() {
    let r = resolve(&cppc(), &roots()).expect("resolves");
    let p = plan(&r);
    assert_eq!(p.home, "site1");
    assert_eq!(p.steps.len(), 4);
    let s2 = &p.steps[1];
    assert_eq!(s2.group, "cs.cppc-demo.2");
    assert_eq!(s2.pairs.len(), 2);
    let db = &s2.pairs[0];
    assert_eq!(
        (db.source.path.as_str(), db.target.path.as_str()),
        ("/srv/v2/db.mirror", "/srv/v2/db.pit1")
    );
    assert_eq!(db.name, "cs.cppc-demo.2.db");
    assert_eq!(
        db.bitmap.as_deref(),
        Some(format!("/srv/v2/{RESERVED_DIR}/cppc-demo/2.db.bitmap").as_str())
    );
    // Continuous steps have no bitmap volume; their pairs cross hosts.
    let s4 = &p.steps[3];
    assert!(s4.pairs.iter().all(|x| x.bitmap.is_none()));
    assert_eq!(
        (
            s4.pairs[1].source.host.as_str(),
            s4.pairs[1].target.host.as_str()
        ),
        ("site2", "site1")
    );
    assert_eq!(s4.pairs[1].target.path, "/srv/v1/logs.back");
}

#[test]
fn resolve_enforces_roots() {
    let text = fixture("cppc.xml").replace("path=\"db.back\"", "path=\"/etc/db.back\"");
    let e = resolve(&parse(&text).unwrap(), &roots())
        .unwrap_err()
        .to_string();
    assert!(e.ends_with("volume path /etc/db.back is not under a volume root of host site1 (/srv/v1, /mnt/extra)"), "{e}");
    let text = fixture("cppc.xml").replace("path=\"db.back\"", "path=\"/mnt/extra/db.back\"");
    let r = resolve(&parse(&text).unwrap(), &roots()).unwrap();
    assert_eq!(r.volumes[0][4].root, "/mnt/extra");
    // Two spellings of one file are one volume.
    let text = fixture("cppc.xml").replace("path=\"db.back\"", "path=\"/srv/v1//./db\"");
    let e = resolve(&parse(&text).unwrap(), &roots())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("volume site1:/srv/v1/db is used twice (first at 9:5)"),
        "{e}"
    );
    let text = fixture("cppc.xml").replace("path=\"db.back\"", "path=\".copy-sessions/x\"");
    let e = resolve(&parse(&text).unwrap(), &roots())
        .unwrap_err()
        .to_string();
    assert!(e.contains("lies in .copy-sessions"), "{e}");
    let mut only_one = roots();
    only_one.0.remove("site2");
    let e = resolve(&cppc(), &only_one).unwrap_err().to_string();
    assert!(e.contains("host site2 has no volume roots"), "{e}");
}

/// A runtime stand-in: journals decisions as the contract says and records
/// the actions performed.
struct Run {
    session: Session,
    journal: Vec<Entry>,
    done: Vec<String>,
}

impl Run {
    fn step(&mut self, states: &[(u32, PairState)], now: u64) -> Vec<Decision> {
        let obs: Vec<Observation> = states
            .iter()
            .map(|(seq, st)| Observation {
                seq: *seq,
                pairs: vec![st.clone(), st.clone()],
            })
            .collect();
        let d = machine::step(&self.session, &self.journal, &obs, now);
        for x in &d {
            if let Some(e) = x.entry() {
                self.journal.push(e);
            }
            if let Decision::Act {
                seq,
                event,
                occurrence,
                index,
                action,
            } = x
            {
                self.done.push(match action {
                    Action::Command { to_seq, cmd } => {
                        self.journal.push(Entry::Issued {
                            seq: to_seq.value,
                            cmd: cmd.value,
                            at: now,
                        });
                        format!("{event} {seq}: {} {}", cmd.value, to_seq.value)
                    }
                    Action::Notify(w) => format!("{event} {seq}: notify {}", w.value),
                    Action::Run { script, .. } => format!("{event} {seq}: run {}", script.value),
                });
                self.journal.push(Entry::Acted {
                    seq: *seq,
                    event: *event,
                    occurrence: *occurrence,
                    index: *index,
                    ok: true,
                });
            }
        }
        d
    }
}

#[test]
fn cppc_chain_fires_each_event_once_and_survives_a_restart() {
    use PairState::*;
    let mut run = Run {
        session: cppc(),
        journal: Vec::new(),
        done: Vec::new(),
    };
    // Nothing started: nothing fires.
    assert!(run.step(&[(1, Absent)], 0).is_empty());
    run.journal.push(Entry::Issued {
        seq: 1,
        cmd: Command::Start,
        at: 1,
    });
    run.step(&[(1, Syncing)], 2);
    run.step(&[(1, Duplex)], 3);
    assert!(
        run.step(&[(1, Duplex)], 4).is_empty(),
        "duplex fires once per entry"
    );
    // The link is cut: onError freezes 1, starts 2, runs the switch script.
    run.step(&[(1, Failed("link down".into()))], 5);
    assert_eq!(
        run.done,
        [
            "onError 1: freeze 1",
            "onError 1: start 2",
            "onError 1: run site-switch.sh"
        ]
    );
    // 2's copy runs and completes while "cimomd is down": one onComplete on restart.
    run.done.clear();
    run.step(&[(1, Logging), (2, Copying)], 6);
    let d = run.step(&[(1, Logging), (2, Idle)], 100);
    assert!(d.iter().any(|x| matches!(
        x,
        Decision::Fire {
            seq: 2,
            event: Event::OnComplete,
            occurrence: 1
        }
    )));
    assert_eq!(run.done, ["onComplete 2: start 3"]);
    // A restart re-reads the same states: only 3 (started by 2) has news.
    let d = run.step(&[(1, Logging), (2, Idle), (3, Copying)], 101);
    assert_eq!(
        d,
        [
            Decision::Status {
                seq: 3,
                status: Status::Running
            },
            Decision::Fire {
                seq: 3,
                event: Event::OnStart,
                occurrence: 1
            },
        ]
    );
    assert!(
        run.step(&[(1, Logging), (2, Idle), (3, Copying)], 102)
            .is_empty(),
        "nothing repeats"
    );
    run.step(&[(1, Logging), (2, Idle), (3, Idle), (4, Syncing)], 103);
    assert_eq!(run.done, ["onComplete 2: start 3", "onComplete 3: start 4"]);
    let statuses: Vec<Status> = run
        .journal
        .iter()
        .filter_map(|e| match e {
            Entry::Status { seq: 1, status } => Some(*status),
            _ => None,
        })
        .collect();
    assert_eq!(
        statuses,
        [
            Status::Syncing,
            Status::Duplex,
            Status::Failed,
            Status::Logging
        ]
    );
}

#[test]
fn a_crash_between_actions_resumes_with_the_next_one() {
    let s = cppc();
    let journal = vec![
        Entry::Issued {
            seq: 1,
            cmd: Command::Start,
            at: 1,
        },
        Entry::Status {
            seq: 1,
            status: Status::Failed,
        },
        Entry::Fired {
            seq: 1,
            event: Event::OnError,
            occurrence: 1,
        },
        Entry::Acted {
            seq: 1,
            event: Event::OnError,
            occurrence: 1,
            index: 0,
            ok: true,
        },
    ];
    let obs = [Observation {
        seq: 1,
        pairs: vec![PairState::Failed("x".into()); 2],
    }];
    let d = machine::step(&s, &journal, &obs, 10);
    let owed: Vec<usize> = d
        .iter()
        .filter_map(|x| match x {
            Decision::Act { seq: 1, index, .. } => Some(*index),
            _ => None,
        })
        .collect();
    assert_eq!(owed, [1, 2], "{d:?}");
    // onStart of run 1 was never journalled: it fires now (its sequence has no handler).
    assert!(d.iter().any(|x| matches!(
        x,
        Decision::Fire {
            seq: 1,
            event: Event::OnStart,
            occurrence: 1
        }
    )));
    assert!(!d.iter().any(|x| matches!(
        x,
        Decision::Fire {
            event: Event::OnError,
            ..
        }
    )));
}

#[test]
fn duplex_fires_on_every_entry_and_unplanned_logging_is_an_error() {
    use PairState::*;
    let mut run = Run {
        session: cppc(),
        journal: vec![Entry::Issued {
            seq: 4,
            cmd: Command::Start,
            at: 0,
        }],
        done: Vec::new(),
    };
    for (t, st) in [Syncing, Duplex, Logging, Syncing, Duplex]
        .into_iter()
        .enumerate()
    {
        run.step(&[(4, st)], t as u64);
    }
    // Logging the session did not ask for is an error (a cut link).
    assert_eq!(
        run.done,
        [
            "onDuplex 4: notify oncall",
            "onError 4: notify oncall",
            "onDuplex 4: notify oncall"
        ]
    );
    // After a freeze, logging is expected: no error.
    run.done.clear();
    run.journal.push(Entry::Issued {
        seq: 4,
        cmd: Command::Freeze,
        at: 9,
    });
    run.step(&[(4, Logging)], 10);
    run.step(&[(4, Logging)], 11);
    assert!(run.done.is_empty(), "{:?}", run.done);
}

#[test]
fn schedules_tick_once_even_after_downtime() {
    let s = parse(&fixture("scheduled.xml")).unwrap();
    let mut journal = vec![Entry::Issued {
        seq: 1,
        cmd: Command::Start,
        at: 1_000,
    }];
    let idle = |seq| Observation {
        seq,
        pairs: vec![PairState::Idle; 2],
    };
    // Armed, no tick yet: no run, nothing fires.
    assert!(machine::step(&s, &journal, &[idle(1)], 1_000 + 3_600).is_empty());
    assert_eq!(
        machine::next_tick(&s, &journal, 1, 2_000),
        Some(1_000 + 3 * 3_600)
    );
    // Down for a day: the ticks missed fire once, at the latest.
    let now = 1_000 + 3 * 3_600 * 8 + 5;
    let d = machine::step(&s, &journal, &[idle(1)], now);
    let t = 1_000 + 3 * 3_600 * 8;
    assert_eq!(d[0], Decision::Tick { seq: 1, at: t });
    assert!(
        matches!(&d[1], Decision::Fire { seq: 1, event: Event::OnSchedule, occurrence } if *occurrence == t)
    );
    assert!(matches!(
        &d[2],
        Decision::Act {
            action: Action::Notify(_),
            ..
        }
    ));
    journal.extend(d.iter().filter_map(Decision::entry));
    journal.push(Entry::Ticked { seq: 1, at: t });
    let d = machine::step(&s, &journal, &[idle(1)], now + 1);
    // The tick's copy is run 1: onStart, then (pairs idle) onComplete → start 2.
    let fired: Vec<Event> = d
        .iter()
        .filter_map(|x| match x {
            Decision::Fire { seq: 1, event, .. } => Some(*event),
            _ => None,
        })
        .collect();
    assert_eq!(fired, [Event::OnStart, Event::OnComplete]);
    assert!(!d.iter().any(|x| matches!(x, Decision::Tick { .. })));
    // Midnight ticks for sequence 2 once it is armed.
    assert_eq!(
        machine::due_tick(sessions::Schedule::At(0), 1_000, 86_400 * 3 + 7),
        Some(86_400 * 3)
    );
    assert_eq!(
        machine::due_tick(sessions::Schedule::At(0), 86_400 * 3, 86_400 * 3 + 7),
        None
    );
}
