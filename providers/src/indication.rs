//! Engine events to CIM indications.
//!
//! A forwarder thread receives [`EngineEvent`]s and publishes, in `root/cimv2`
//! through [`CimomHandle::publish_indication`]:
//!
//! | engine event | indication | `SourceInstance` |
//! |---|---|---|
//! | `SetCreated`, `GroupCreated`, `OverflowCreated` | `CIM_InstCreation` | the new instance |
//! | `SetDeleted`, `GroupDeleted`, `OverflowDeleted` | `CIM_InstDeletion` | the last instance seen |
//! | `SetModified` (state, 25/50/75 % milestones, properties), `CopyFinished`, `GroupModified`, `OverflowModified` | `CIM_InstModification` | the instance now; `PreviousInstance` the last one seen |
//! | `SetError`, or a set whose `status` becomes `"error"` | `CIM_AlertIndication` (once per entry into the error status) | — |
//! | `MirrorCreated`, `TargetClaimed` | `CIM_InstCreation` | the `DS_IIMirror` / `DS_IIMirrorTarget` |
//! | `MirrorDeleted`, `TargetReleased` | `CIM_InstDeletion` | the last instance seen |
//! | `MirrorModified` (state, mode, link, options) | `CIM_InstModification` | the mirror now; `PreviousInstance` the last one seen |
//! | `MirrorAlert` (link lost, mirror failed) | `CIM_AlertIndication` (and a `CIM_InstModification`) | — |
//!
//! While a copy or update runs, the set's instance is also compared every
//! [`PROGRESS_EVERY`] and a `CIM_InstModification` published when it changed,
//! so listeners see progress at least once a second.
//! State changes, progress milestones and copy ends are always published (so a
//! copy end may follow its state change with the same instance); other
//! modifications only when something a client can see changed.
//! Every indication carries `IndicationIdentifier` and `IndicationTime`; the
//! instance-lifecycle ones also `SourceInstanceModelPath`.
//!
//! The forwarder keeps the last instance of every object so that deletions can
//! carry the deleted instance and modifications their previous instance. It
//! runs on its own thread because the engine's event channel is a blocking
//! `std::sync::mpsc` receiver; publishing never blocks (the object manager
//! queues).

use crate::convert::{group_instance, overflow_instance, set_instance};
use crate::mirror::convert::{mirror_instance, target_instance, DS_IIMIRROR, DS_IIMIRRORTARGET};
use cim::{CimType, DateTime, Instance, Value};
use cimom_provider::CimomHandle;
use native::{Engine, EngineEvent, SetChange};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// While a copy or update runs, its set's progress is indicated this often
/// (the engine itself only reports 25 % milestones).
pub const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// The namespace indications are published in.
pub const INDICATION_NAMESPACE: &str = "root/cimv2";

/// A running forwarder; [`Forwarder::stop`] ends it.
pub struct Forwarder {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Forwarder {
    /// Subscribes to `engine`'s events (before returning, so nothing that
    /// happens afterwards is missed) and starts the forwarding thread.
    pub fn start(engine: Engine, cimom: CimomHandle) -> std::io::Result<Forwarder> {
        let rx = engine.subscribe();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let mut state = State::new(engine, Publisher::new(cimom));
        let thread = std::thread::Builder::new()
            .name("ii-indications".into())
            .spawn(move || {
                state.prime();
                let mut last_tick = std::time::Instant::now();
                while !flag.load(Ordering::Relaxed) {
                    match rx.recv_timeout(Duration::from_millis(250)) {
                        Ok(ev) => state.handle(ev),
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                    if last_tick.elapsed() >= PROGRESS_EVERY {
                        last_tick = std::time::Instant::now();
                        state.progress_tick();
                    }
                }
            })?;
        Ok(Forwarder {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread and waits for it.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Something that receives finished indication instances (the object manager,
/// or a test's collector).
pub trait Sink: Send {
    /// Delivers one indication.
    fn publish(&mut self, indication: Instance);
}

/// Publishes through the object manager.
pub struct Publisher(CimomHandle);

impl Publisher {
    /// Wraps the handle.
    pub fn new(h: CimomHandle) -> Self {
        Publisher(h)
    }
}

impl Sink for Publisher {
    fn publish(&mut self, indication: Instance) {
        self.0.publish_indication(INDICATION_NAMESPACE, indication);
    }
}

impl Sink for Vec<Instance> {
    fn publish(&mut self, indication: Instance) {
        self.push(indication);
    }
}

static SEQUENCE: AtomicU64 = AtomicU64::new(1);

fn now() -> DateTime {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    DateTime::from_unix_seconds(secs)
}

/// The properties every indication carries.
fn indication(class: &str) -> Instance {
    let n = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    Instance::new(class)
        .with(
            "IndicationIdentifier",
            CimType::String,
            Value::String(format!("cimomd:{}:{n}", std::process::id())),
        )
        .with("IndicationTime", CimType::DateTime, Value::DateTime(now()))
}

/// A `CIM_InstCreation`, `CIM_InstDeletion` or `CIM_InstModification`.
pub fn lifecycle(class: &str, source: &Instance, previous: Option<&Instance>) -> Instance {
    let mut i = indication(class)
        .with(
            "SourceInstance",
            CimType::EmbeddedInstance,
            embedded(source),
        )
        .with(
            "SourceInstanceModelPath",
            CimType::String,
            Value::String(model_path(source)),
        );
    if let Some(prev) = previous {
        i.set(
            "PreviousInstance",
            CimType::EmbeddedInstance,
            embedded(prev),
        );
    }
    i
}

/// An instance as an embedded-instance value: without its path, which the
/// model-path properties carry.
fn embedded(inst: &Instance) -> Value {
    let mut inst = inst.clone();
    inst.path = None;
    Value::Instance(Box::new(inst))
}

/// The instance's path in [`INDICATION_NAMESPACE`] as a string (empty
/// without a path), for `SourceInstanceModelPath` and `AlertingManagedElement`.
fn model_path(inst: &Instance) -> String {
    inst.path
        .as_ref()
        .map(|p| {
            let mut p = p.clone();
            p.namespace = Some(INDICATION_NAMESPACE.into());
            p.to_string()
        })
        .unwrap_or_default()
}

/// A `CIM_AlertIndication` for a set that went to status error.
pub fn alert(set: &Instance, reason: &str) -> Instance {
    let shadow = set.get_str("shadowVolume").unwrap_or_default().to_owned();
    alert_about(
        set,
        format!("Instant Image set {shadow} has status error: {reason}"),
        reason,
        6,
    )
}

/// A `CIM_AlertIndication` for a mirror that lost its link (severity 4,
/// major: writes are tracked, not replicated) or failed (6, critical).
pub fn mirror_alert(mirror: &Instance, link_lost: bool, reason: &str) -> Instance {
    let primary = mirror.get_str("primaryVolume").unwrap_or_default();
    let host = mirror.get_str("secondaryHost").unwrap_or_default();
    let what = if link_lost { "lost its link" } else { "failed" };
    alert_about(
        mirror,
        format!("mirror of {primary} to {host} {what}: {reason}"),
        reason,
        if link_lost { 4 } else { 6 },
    )
}

fn alert_about(element: &Instance, description: String, reason: &str, severity: u16) -> Instance {
    let element = model_path(element);
    indication("CIM_AlertIndication")
        .with("Description", CimType::String, Value::String(description))
        .with(
            "AlertingManagedElement",
            CimType::String,
            Value::String(element),
        )
        // 2 = CIMObjectPath
        .with("AlertingElementFormat", CimType::Uint16, Value::Uint16(2))
        // 5 = Device Alert
        .with("AlertType", CimType::Uint16, Value::Uint16(5))
        // 6 = Critical (a set's data is not protected until it is reset),
        // 4 = Major (a mirror is behind but tracking)
        .with(
            "PerceivedSeverity",
            CimType::Uint16,
            Value::Uint16(severity),
        )
        // 1 = Other, explained in ProbableCauseDescription
        .with("ProbableCause", CimType::Uint16, Value::Uint16(1))
        .with(
            "ProbableCauseDescription",
            CimType::String,
            Value::String(reason.to_owned()),
        )
}

/// The forwarder's memory of the last instance of every object.
pub struct State<S: Sink> {
    engine: Engine,
    sink: S,
    sets: HashMap<PathBuf, Instance>,
    groups: HashMap<String, Instance>,
    overflows: HashMap<PathBuf, Instance>,
    alerted: HashSet<PathBuf>,
    mirrors: HashMap<PathBuf, Instance>,
    targets: HashMap<PathBuf, Instance>,
}

const NS: Option<&str> = Some(INDICATION_NAMESPACE);

impl<S: Sink> State<S> {
    /// A forwarder state publishing into `sink`.
    pub fn new(engine: Engine, sink: S) -> Self {
        State {
            engine,
            sink,
            sets: HashMap::new(),
            groups: HashMap::new(),
            overflows: HashMap::new(),
            alerted: HashSet::new(),
            mirrors: HashMap::new(),
            targets: HashMap::new(),
        }
    }

    /// The sink (tests read what was published).
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// Loads the current objects so later events have a previous instance.
    pub fn prime(&mut self) {
        for s in self.engine.sets() {
            if s.status == native::Status::Error {
                self.alerted.insert(s.shadow.clone());
            }
            self.sets.insert(s.shadow.clone(), set_instance(&s, NS));
        }
        for g in self.engine.groups() {
            self.groups.insert(g.name.clone(), group_instance(&g, NS));
        }
        for o in self.engine.overflows() {
            self.overflows
                .insert(o.path.clone(), overflow_instance(&o, NS));
        }
        for m in self.engine.mirrors() {
            self.mirrors
                .insert(m.primary.clone(), mirror_instance(&m, NS));
        }
        for t in self.engine.targets() {
            self.targets
                .insert(t.volume.clone(), target_instance(&t, None, NS));
        }
    }

    /// The mirror of `primary` now, remembered; `None` when it is gone.
    fn mirror_now(&mut self, primary: &std::path::Path) -> Option<(Instance, Option<Instance>)> {
        let info = self.engine.mirror_info(primary).ok()?;
        let new = mirror_instance(&info, NS);
        let prev = self.mirrors.insert(info.primary, new.clone());
        Some((new, prev))
    }

    /// Mirror and target events.
    fn mirror_event(&mut self, ev: EngineEvent) {
        let stub = |class: &str, key: &str, p: &std::path::Path| {
            let v = Value::String(crate::convert::path_text(p));
            let mut i = Instance::new(class).with(key, CimType::String, v.clone());
            i.path = Some(cim::ObjectPath::class(NS, class).with_key(key, v));
            i
        };
        match ev {
            EngineEvent::MirrorCreated { primary } => {
                if let Some((inst, _)) = self.mirror_now(&primary) {
                    self.sink
                        .publish(lifecycle("CIM_InstCreation", &inst, None));
                }
            }
            EngineEvent::MirrorDeleted { primary } => {
                let inst = self
                    .mirrors
                    .remove(&primary)
                    .unwrap_or_else(|| stub(DS_IIMIRROR, "primaryVolume", &primary));
                self.sink
                    .publish(lifecycle("CIM_InstDeletion", &inst, None));
            }
            EngineEvent::MirrorModified { primary } => {
                if let Some((new, prev)) = self.mirror_now(&primary) {
                    self.modified(new, prev, true);
                }
            }
            EngineEvent::MirrorAlert {
                primary,
                link_lost,
                reason,
            } => {
                let inst = match self.mirror_now(&primary) {
                    Some((new, prev)) => {
                        self.modified(new.clone(), prev, true);
                        new
                    }
                    None => self
                        .mirrors
                        .get(&primary)
                        .cloned()
                        .unwrap_or_else(|| stub(DS_IIMIRROR, "primaryVolume", &primary)),
                };
                self.sink.publish(mirror_alert(&inst, link_lost, &reason));
            }
            EngineEvent::TargetClaimed { volume } => {
                let found = self
                    .engine
                    .targets()
                    .into_iter()
                    .find(|t| t.volume == volume);
                if let Some(t) = found {
                    let inst = target_instance(&t, None, NS);
                    self.sink
                        .publish(lifecycle("CIM_InstCreation", &inst, None));
                    self.targets.insert(t.volume, inst);
                }
            }
            EngineEvent::TargetReleased { volume } => {
                let inst = self
                    .targets
                    .remove(&volume)
                    .unwrap_or_else(|| stub(DS_IIMIRRORTARGET, "volume", &volume));
                self.sink
                    .publish(lifecycle("CIM_InstDeletion", &inst, None));
            }
            _ => {}
        }
    }

    /// Publishes a modification; with `dedupe`, not when nothing visible
    /// changed.
    fn modified(&mut self, new: Instance, prev: Option<Instance>, dedupe: bool) {
        if dedupe && prev.as_ref() == Some(&new) {
            return;
        }
        self.sink
            .publish(lifecycle("CIM_InstModification", &new, prev.as_ref()));
    }

    fn set_changed(&mut self, shadow: PathBuf, dedupe: bool) {
        let Ok(info) = self.engine.set_info(&shadow) else {
            return;
        };
        let new = set_instance(&info, NS);
        let prev = self.sets.insert(info.shadow.clone(), new.clone());
        self.modified(new.clone(), prev, dedupe);
        if info.status == native::Status::Error {
            if self.alerted.insert(info.shadow.clone()) {
                self.sink
                    .publish(alert(&new, "a volume of the set failed; reset the set"));
            }
        } else {
            self.alerted.remove(&info.shadow);
        }
    }

    /// Publishes a modification for every set whose copy or update is
    /// running and whose instance changed since the last one published.
    pub fn progress_tick(&mut self) {
        for s in self.engine.sets().into_iter().filter(|s| s.copy_active) {
            self.set_changed(s.shadow, true);
        }
        // Mirror syncs report their progress the same way.
        let syncing = self.engine.mirrors().into_iter().filter(|m| {
            matches!(
                m.state,
                native::mirror::MirrorState::Syncing | native::mirror::MirrorState::ReverseSyncing
            )
        });
        for m in syncing.collect::<Vec<_>>() {
            if let Some((new, prev)) = self.mirror_now(&m.primary) {
                self.modified(new, prev, true);
            }
        }
    }

    /// Turns one engine event into indications.
    pub fn handle(&mut self, ev: EngineEvent) {
        tracing::debug!(event = ?ev, "engine event");
        match ev {
            EngineEvent::SetCreated { shadow } => {
                if let Ok(info) = self.engine.set_info(&shadow) {
                    let inst = set_instance(&info, NS);
                    self.sink
                        .publish(lifecycle("CIM_InstCreation", &inst, None));
                    self.sets.insert(info.shadow, inst);
                }
            }
            EngineEvent::SetDeleted { shadow } => {
                self.alerted.remove(&shadow);
                let inst = self.sets.remove(&shadow).unwrap_or_else(|| {
                    let mut i = Instance::new(crate::convert::DS_IISET).with(
                        "shadowVolume",
                        CimType::String,
                        Value::String(crate::convert::path_text(&shadow)),
                    );
                    i.path = Some(
                        cim::ObjectPath::class(NS, crate::convert::DS_IISET).with_key(
                            "shadowVolume",
                            Value::String(crate::convert::path_text(&shadow)),
                        ),
                    );
                    i
                });
                self.sink
                    .publish(lifecycle("CIM_InstDeletion", &inst, None));
            }
            // State changes, progress milestones and copy ends are always
            // reported (a fast copy may be over before its creation was
            // read); other property changes only when something changed.
            EngineEvent::SetModified {
                shadow,
                change: SetChange::Properties,
            } => self.set_changed(shadow, true),
            EngineEvent::SetModified { shadow, .. } | EngineEvent::CopyFinished { shadow, .. } => {
                self.set_changed(shadow, false)
            }
            EngineEvent::SetError { shadow, reason } => {
                let inst = match self.engine.set_info(&shadow) {
                    Ok(info) => {
                        let new = set_instance(&info, NS);
                        let prev = self.sets.insert(info.shadow.clone(), new.clone());
                        self.modified(new.clone(), prev, true);
                        new
                    }
                    Err(_) => match self.sets.get(&shadow) {
                        Some(i) => i.clone(),
                        None => return,
                    },
                };
                if self.alerted.insert(shadow) {
                    self.sink.publish(alert(&inst, &reason));
                }
            }
            EngineEvent::GroupCreated { name } => {
                if let Ok(info) = self.engine.group_info(&name) {
                    let inst = group_instance(&info, NS);
                    self.sink
                        .publish(lifecycle("CIM_InstCreation", &inst, None));
                    self.groups.insert(name, inst);
                }
            }
            EngineEvent::GroupDeleted { name } => {
                let inst = self.groups.remove(&name).unwrap_or_else(|| {
                    let mut i = Instance::new(crate::convert::DS_IIGROUP).with(
                        "groupName",
                        CimType::String,
                        Value::String(name.clone()),
                    );
                    i.path = Some(crate::convert::group_path(&name, NS));
                    i
                });
                self.sink
                    .publish(lifecycle("CIM_InstDeletion", &inst, None));
            }
            EngineEvent::GroupModified { name, old_name } => {
                if let Ok(info) = self.engine.group_info(&name) {
                    let new = group_instance(&info, NS);
                    let prev = match old_name {
                        Some(old) => self.groups.remove(&old),
                        None => self.groups.get(&name).cloned(),
                    };
                    self.groups.insert(name, new.clone());
                    self.modified(new, prev, true);
                }
            }
            EngineEvent::OverflowCreated { path } => {
                if let Ok(info) = self.engine.overflow_info(&path) {
                    let inst = overflow_instance(&info, NS);
                    self.sink
                        .publish(lifecycle("CIM_InstCreation", &inst, None));
                    self.overflows.insert(info.path, inst);
                }
            }
            EngineEvent::OverflowDeleted { path } => {
                let inst = self.overflows.remove(&path).unwrap_or_else(|| {
                    let mut i = Instance::new(crate::convert::DS_IIOVERFLOWVOL).with(
                        "overflowVolPath",
                        CimType::String,
                        Value::String(crate::convert::path_text(&path)),
                    );
                    i.path = Some(crate::convert::overflow_path(&path, NS));
                    i
                });
                self.sink
                    .publish(lifecycle("CIM_InstDeletion", &inst, None));
            }
            EngineEvent::OverflowModified { path } => {
                if let Ok(info) = self.engine.overflow_info(&path) {
                    let new = overflow_instance(&info, NS);
                    let prev = self.overflows.insert(info.path, new.clone());
                    self.modified(new, prev, true);
                }
            }
            ev @ (EngineEvent::MirrorCreated { .. }
            | EngineEvent::MirrorDeleted { .. }
            | EngineEvent::MirrorModified { .. }
            | EngineEvent::MirrorAlert { .. }
            | EngineEvent::TargetClaimed { .. }
            | EngineEvent::TargetReleased { .. }) => self.mirror_event(ev),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cim::ObjectPath;

    #[test]
    fn lifecycle_carries_source_and_previous() {
        let mut src = Instance::new("DS_IIGroup").with(
            "groupName",
            CimType::String,
            Value::String("g".into()),
        );
        src.path = Some(
            ObjectPath::class(None, "DS_IIGroup").with_key("groupName", Value::String("g".into())),
        );
        let prev = src.clone().with(
            "groupType",
            CimType::String,
            Value::String("dependent".into()),
        );
        let ind = lifecycle("CIM_InstModification", &src, Some(&prev));
        assert!(ind.class_name.is("CIM_InstModification"));
        match ind.get("SourceInstance") {
            Some(Value::Instance(i)) => {
                assert_eq!(i.get_str("groupName"), Some("g"));
                assert!(i.path.is_none());
            }
            other => panic!("SourceInstance is {other:?}"),
        }
        assert!(matches!(
            ind.get("PreviousInstance"),
            Some(Value::Instance(_))
        ));
        let model = ind.get_str("SourceInstanceModelPath").unwrap();
        assert!(
            model.contains("DS_IIGroup") && model.contains("root/cimv2"),
            "{model}"
        );
        assert!(matches!(
            ind.get("IndicationTime"),
            Some(Value::DateTime(_))
        ));
        let a = lifecycle("CIM_InstCreation", &src, None);
        assert!(a.get("PreviousInstance").is_none());
        assert_ne!(
            a.get_str("IndicationIdentifier"),
            ind.get_str("IndicationIdentifier")
        );
    }

    #[test]
    fn mirror_alert_names_the_mirror_and_cause() {
        let m = Instance::new("DS_IIMirror")
            .with(
                "primaryVolume",
                CimType::String,
                Value::String("/v/p".into()),
            )
            .with("secondaryHost", CimType::String, Value::String("b".into()));
        let a = mirror_alert(&m, true, "no reply in 5 s");
        let d = a.get_str("Description").unwrap();
        assert!(
            d.contains("/v/p") && d.contains("lost its link") && d.contains("5 s"),
            "{d}"
        );
        assert_eq!(a.get("PerceivedSeverity"), Some(&Value::Uint16(4)));
        let f = mirror_alert(&m, false, "secondary refused a write");
        assert!(f.get_str("Description").unwrap().contains("failed"));
        assert_eq!(f.get("PerceivedSeverity"), Some(&Value::Uint16(6)));
    }

    #[test]
    fn alert_names_the_set() {
        let set = Instance::new("DS_IISet").with(
            "shadowVolume",
            CimType::String,
            Value::String("/v/s".into()),
        );
        let a = alert(&set, "master offline");
        assert!(a.class_name.is("CIM_AlertIndication"));
        assert!(a.get_str("Description").unwrap().contains("/v/s"));
        assert_eq!(a.get("PerceivedSeverity"), Some(&Value::Uint16(6)));
    }
}
