//! A live view of one host's sets, groups and overflow volumes, kept current
//! from indications instead of polling.
//!
//! [`LiveView::start`] binds an [`IndicationListener`] on `127.0.0.1:0`,
//! subscribes to the host's life-cycle indications by creating, in `interop`,
//! one `CIM_ListenerDestinationCIMXML` (our URL), four `CIM_IndicationFilter`s
//! (`SELECT * FROM CIM_InstCreation`, `CIM_InstDeletion`, `CIM_InstModification`,
//! `CIM_AlertIndication`; WQL, source namespace `root/cimv2`) and one
//! `CIM_IndicationSubscription` per filter, then reads the full state once.
//! Afterwards:
//!
//! * `CIM_InstCreation` / `CIM_InstDeletion` of a `DS_IISet` adds / drops the
//!   set and its [`SetHandle`]; the same for groups and overflow volumes;
//!   `CIM_InstModification` replaces the snapshot (a `SourceInstance` without
//!   the full property set is re-read with `GetInstance`).
//! * A health check every [`LiveOptions::health_interval`] notices when the
//!   server stops answering ([`LiveEvent::Disconnected`]); when it answers
//!   again the view re-creates any subscription the server lost (a restarted
//!   server drops transient ones), re-reads the whole state, and says
//!   [`LiveEvent::Reconnected`].
//! * [`LiveView::close`] (or, best effort, dropping the view inside a tokio
//!   runtime) deletes the subscription instances it created.
//!
//! Indications are filtered locally by `SourceInstance` class, so the
//! filters need no `ISA` predicate.

use crate::conn::INTEROP_NAMESPACE;
use crate::error::{Error, Result};
use crate::ii::{IiHost, OverflowInfo, SetHandle, SetInfo, GROUP_CLASS, OVERFLOW_CLASS, SET_CLASS};
use crate::listener::{Indication, IndicationKind, IndicationListener, ListenerGuard};
use cim::{CimType, Instance, ObjectPath, StatusCode, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, Mutex};
use tokio::task::AbortHandle;

/// How a [`LiveView`] listens and checks the connection.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// Listener address (default `127.0.0.1:0`).
    pub listen: SocketAddr,
    /// URL the server should deliver to (default: `http://` + the bound address).
    /// Set it when the server reaches this host under another address.
    pub destination: Option<String>,
    /// How often the connection is checked (default 5 s).
    pub health_interval: Duration,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            destination: None,
            health_interval: Duration::from_secs(5),
        }
    }
}

/// What changed in the view.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveEvent {
    /// A set appeared (created, imported, or found on a re-read).
    SetCreated(SetInfo),
    /// A set's state changed.
    SetModified(SetInfo),
    /// A set went away (shadow path).
    SetDeleted(String),
    /// A group appeared.
    GroupCreated(String),
    /// A group went away.
    GroupDeleted(String),
    /// An overflow volume appeared.
    OverflowCreated(String),
    /// An overflow volume went away.
    OverflowDeleted(String),
    /// A `CIM_AlertIndication` (e.g. a set went to `status = "error"`).
    Alert(Instance),
    /// The server stopped answering.
    Disconnected,
    /// The server answers again; the view was re-read.
    Reconnected,
}

#[derive(Debug, Default)]
struct LiveState {
    sets: BTreeMap<String, SetInfo>,
    groups: BTreeMap<String, String>,
    overflows: BTreeMap<String, OverflowInfo>,
    connected: bool,
}

struct Shared {
    host: IiHost,
    state: RwLock<LiveState>,
    events: broadcast::Sender<LiveEvent>,
    destination: String,
    /// Subscription objects we created, in creation order.
    created: Mutex<Vec<ObjectPath>>,
    tag: String,
}

/// The live view. See the module documentation.
pub struct LiveView {
    shared: Arc<Shared>,
    tasks: Vec<AbortHandle>,
    _listener: ListenerGuard,
    closed: bool,
}

impl std::fmt::Debug for LiveView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveView")
            .field("destination", &self.shared.destination)
            .finish()
    }
}

impl LiveView {
    /// Starts listening, subscribes and reads the initial state.
    pub async fn start(host: IiHost, options: LiveOptions) -> Result<LiveView> {
        let listener = IndicationListener::bind(options.listen).await?;
        let destination = options
            .destination
            .clone()
            .unwrap_or_else(|| listener.url());
        let (rx, guard) = listener.into_parts();
        let (events, _) = broadcast::channel(1024);
        let shared = Arc::new(Shared {
            host,
            state: RwLock::new(LiveState::default()),
            events,
            destination,
            created: Mutex::new(Vec::new()),
            tag: format!("iiclient-{}", uuid::Uuid::new_v4().simple()),
        });
        // Subscribe before reading so that nothing between the read and the
        // subscription is missed; duplicates are harmless (keyed maps).
        shared.subscribe().await?;
        if let Err(e) = shared.refresh().await {
            shared.unsubscribe().await;
            return Err(e);
        }
        let t1 = tokio::spawn(indication_loop(shared.clone(), rx)).abort_handle();
        let t2 = tokio::spawn(health_loop(shared.clone(), options.health_interval)).abort_handle();
        Ok(LiveView {
            shared,
            tasks: vec![t1, t2],
            _listener: guard,
            closed: false,
        })
    }

    /// The host this view watches.
    pub fn host(&self) -> &IiHost {
        &self.shared.host
    }

    /// The URL indications are delivered to.
    pub fn destination(&self) -> &str {
        &self.shared.destination
    }

    /// Receives every change from now on.
    pub fn events(&self) -> broadcast::Receiver<LiveEvent> {
        self.shared.events.subscribe()
    }

    /// Every set, by shadow path.
    pub fn sets(&self) -> Vec<SetInfo> {
        self.shared.read().sets.values().cloned().collect()
    }

    /// The set named by shadow path or set name.
    pub fn set_info(&self, name: &str) -> Option<SetInfo> {
        let st = self.shared.read();
        st.sets
            .get(name)
            .cloned()
            .or_else(|| st.sets.values().find(|s| s.name == name).cloned())
    }

    /// A handle on a set the view knows (by shadow path or set name).
    pub fn set(&self, name: &str) -> Option<SetHandle> {
        self.set_info(name).map(|i| self.shared.host.handle_for(&i))
    }

    /// Handles on every set.
    pub fn handles(&self) -> Vec<SetHandle> {
        let st = self.shared.read();
        st.sets
            .values()
            .map(|i| self.shared.host.handle_for(i))
            .collect()
    }

    /// Group names and types.
    pub fn groups(&self) -> Vec<(String, String)> {
        let st = self.shared.read();
        st.groups
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Overflow volumes.
    pub fn overflows(&self) -> Vec<OverflowInfo> {
        self.shared.read().overflows.values().cloned().collect()
    }

    /// Whether the last health check reached the server.
    pub fn is_connected(&self) -> bool {
        self.shared.read().connected
    }

    /// Re-reads the whole state now.
    pub async fn refresh(&self) -> Result<()> {
        self.shared.refresh().await
    }

    /// Stops listening and deletes the subscription instances.
    pub async fn close(mut self) -> Result<()> {
        self.closed = true;
        for t in &self.tasks {
            t.abort();
        }
        self.shared.unsubscribe().await;
        Ok(())
    }
}

impl Drop for LiveView {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        if !self.closed {
            // Best effort: deleting needs the runtime; without one the
            // transient subscriptions die with the server's next restart.
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                let shared = self.shared.clone();
                rt.spawn(async move { shared.unsubscribe().await });
            }
        }
    }
}

impl Shared {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, LiveState> {
        // A panic while holding the lock cannot leave the maps half-updated
        // in a harmful way, so a poisoned lock is still usable.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, LiveState> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    fn emit(&self, e: LiveEvent) {
        let _ = self.events.send(e);
    }

    /// Reads sets, groups and overflow volumes and reports the differences.
    async fn refresh(&self) -> Result<()> {
        let client = self.host.client();
        let ns = self.host.namespace().to_owned();
        let sets = self.host.list_sets().await?;
        let groups = client.enumerate_instances(&ns, GROUP_CLASS).await?;
        let overflows = self.host.list_overflows().await?;
        let mut ev = Vec::new();
        {
            let mut st = self.write();
            let new_sets: BTreeMap<String, SetInfo> =
                sets.into_iter().map(|s| (s.shadow.clone(), s)).collect();
            for k in st.sets.keys() {
                if !new_sets.contains_key(k) {
                    ev.push(LiveEvent::SetDeleted(k.clone()));
                }
            }
            for (k, v) in &new_sets {
                match st.sets.get(k) {
                    None => ev.push(LiveEvent::SetCreated(v.clone())),
                    Some(old) if old != v => ev.push(LiveEvent::SetModified(v.clone())),
                    _ => {}
                }
            }
            st.sets = new_sets;
            let new_groups: BTreeMap<String, String> = groups
                .iter()
                .map(|g| {
                    (
                        g.get_str("groupName").unwrap_or_default().to_owned(),
                        g.get_str("groupType").unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            for k in st.groups.keys().filter(|k| !new_groups.contains_key(*k)) {
                ev.push(LiveEvent::GroupDeleted(k.clone()));
            }
            for k in new_groups.keys().filter(|k| !st.groups.contains_key(*k)) {
                ev.push(LiveEvent::GroupCreated(k.clone()));
            }
            st.groups = new_groups;
            let new_ovs: BTreeMap<String, OverflowInfo> =
                overflows.into_iter().map(|o| (o.path.clone(), o)).collect();
            for k in st.overflows.keys().filter(|k| !new_ovs.contains_key(*k)) {
                ev.push(LiveEvent::OverflowDeleted(k.clone()));
            }
            for k in new_ovs.keys().filter(|k| !st.overflows.contains_key(*k)) {
                ev.push(LiveEvent::OverflowCreated(k.clone()));
            }
            st.overflows = new_ovs;
            st.connected = true;
        }
        for e in ev {
            self.emit(e);
        }
        Ok(())
    }

    /// Creates an instance in interop; when the server insists on the
    /// `System*` keys (CIM_ERR_INVALID_PARAMETER), retries with them filled.
    async fn create_interop(&self, inst: Instance) -> Result<ObjectPath> {
        let client = self.host.client();
        match client
            .create_instance(INTEROP_NAMESPACE, inst.clone())
            .await
        {
            Err(e) if e.cim_status() == Some(StatusCode::InvalidParameter) => {
                let mut inst = inst;
                inst.set(
                    "SystemCreationClassName",
                    CimType::String,
                    Value::String("CIM_ComputerSystem".into()),
                );
                inst.set("SystemName", CimType::String, Value::String(host_name()));
                client.create_instance(INTEROP_NAMESPACE, inst).await
            }
            r => r,
        }
    }

    async fn subscribe(&self) -> Result<()> {
        let s = |v: &str| Value::String(v.to_owned());
        let mut created = self.created.lock().await;
        let dest = Instance::new("CIM_ListenerDestinationCIMXML")
            .with(
                "CreationClassName",
                CimType::String,
                s("CIM_ListenerDestinationCIMXML"),
            )
            .with("Name", CimType::String, s(&self.tag))
            .with("Destination", CimType::String, s(&self.destination))
            // 3 = Transient: a restarted server may forget it; we re-create on reconnect.
            .with("PersistenceType", CimType::Uint16, Value::Uint16(3));
        let result: Result<()> = async {
            let dest_path = self.create_interop(dest).await?;
            created.push(dest_path.clone());
            for class in [
                "CIM_InstCreation",
                "CIM_InstDeletion",
                "CIM_InstModification",
                "CIM_AlertIndication",
            ] {
                let filter = Instance::new("CIM_IndicationFilter")
                    .with(
                        "CreationClassName",
                        CimType::String,
                        s("CIM_IndicationFilter"),
                    )
                    .with("Name", CimType::String, s(&format!("{}-{class}", self.tag)))
                    .with(
                        "Query",
                        CimType::String,
                        s(&format!("SELECT * FROM {class}")),
                    )
                    .with("QueryLanguage", CimType::String, s("WQL"))
                    .with("SourceNamespace", CimType::String, s(self.host.namespace()))
                    .with(
                        "SourceNamespaces",
                        CimType::String,
                        Value::Array(vec![s(self.host.namespace())]),
                    );
                let filter_path = self.create_interop(filter).await?;
                created.push(filter_path.clone());
                let sub = Instance::new("CIM_IndicationSubscription")
                    .with(
                        "Filter",
                        CimType::Reference(Some("CIM_IndicationFilter".into())),
                        Value::Reference(filter_path.local()),
                    )
                    .with(
                        "Handler",
                        CimType::Reference(Some("CIM_ListenerDestinationCIMXML".into())),
                        Value::Reference(dest_path.local()),
                    )
                    // 2 = Enabled.
                    .with("SubscriptionState", CimType::Uint16, Value::Uint16(2));
                let sub_path = self
                    .host
                    .client()
                    .create_instance(INTEROP_NAMESPACE, sub)
                    .await?;
                created.push(sub_path);
            }
            Ok(())
        }
        .await;
        drop(created);
        if let Err(e) = result {
            self.unsubscribe().await;
            return Err(e);
        }
        tracing::info!(destination = %self.destination, "subscribed to indications");
        Ok(())
    }

    /// Deletes what `subscribe` created, newest first (subscriptions before
    /// the filters and the destination they reference).
    async fn unsubscribe(&self) {
        let mut created = self.created.lock().await;
        while let Some(p) = created.pop() {
            if let Err(e) = self.host.client().delete_instance(&p).await {
                if !e.is_not_found() {
                    tracing::warn!(path = %p, error = %e, "cannot delete subscription object");
                }
            }
        }
    }

    /// True when every subscription object still exists on the server.
    async fn subscriptions_intact(&self) -> Result<bool> {
        let paths = self.created.lock().await.clone();
        if paths.is_empty() {
            return Ok(false);
        }
        for p in paths {
            match self.host.client().get_instance(&p).await {
                Ok(_) => {}
                Err(e) if e.is_not_found() => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    async fn on_reconnect(&self) -> Result<()> {
        if !self.subscriptions_intact().await? {
            self.unsubscribe().await;
            self.subscribe().await?;
        }
        self.refresh().await
    }

    async fn apply(&self, ind: Indication) {
        let kind = ind.kind();
        if kind == IndicationKind::Alert {
            self.emit(LiveEvent::Alert(ind.instance.clone()));
            return;
        }
        let Some(src) = ind.source_instance() else {
            return;
        };
        let ns = self.host.namespace().to_owned();
        if src.class_name.is(SET_CLASS) {
            let Ok(mut info) = SetInfo::from_instance(src, &ns) else {
                return;
            };
            match kind {
                IndicationKind::Deletion => {
                    let removed = self.write().sets.remove(&info.shadow).is_some();
                    if removed {
                        self.emit(LiveEvent::SetDeleted(info.shadow));
                    }
                }
                IndicationKind::Creation | IndicationKind::Modification => {
                    // A SourceInstance with only the keys: read the rest.
                    if src.get("state").is_none() {
                        match self.host.handle_for(&info).info().await {
                            Ok(full) => info = full,
                            Err(_) => return,
                        }
                    }
                    let existed = self
                        .write()
                        .sets
                        .insert(info.shadow.clone(), info.clone())
                        .is_some();
                    self.emit(if existed {
                        LiveEvent::SetModified(info)
                    } else {
                        LiveEvent::SetCreated(info)
                    });
                }
                _ => {}
            }
        } else if src.class_name.is(GROUP_CLASS) {
            let name = src.get_str("groupName").unwrap_or_default().to_owned();
            let gtype = src.get_str("groupType").unwrap_or_default().to_owned();
            let ev = match kind {
                IndicationKind::Deletion => self
                    .write()
                    .groups
                    .remove(&name)
                    .map(|_| LiveEvent::GroupDeleted(name.clone())),
                IndicationKind::Creation | IndicationKind::Modification => {
                    let added = self.write().groups.insert(name.clone(), gtype).is_none();
                    added.then(|| LiveEvent::GroupCreated(name.clone()))
                }
                _ => None,
            };
            if let Some(e) = ev {
                self.emit(e);
            }
        } else if src.class_name.is(OVERFLOW_CLASS) {
            let path = src
                .get_str("overflowVolPath")
                .unwrap_or_default()
                .to_owned();
            let ev = match kind {
                IndicationKind::Deletion => self
                    .write()
                    .overflows
                    .remove(&path)
                    .map(|_| LiveEvent::OverflowDeleted(path.clone())),
                IndicationKind::Creation | IndicationKind::Modification => {
                    let Ok(info) = self.host.overflow(&path).await else {
                        return;
                    };
                    let added = self.write().overflows.insert(path.clone(), info).is_none();
                    added.then(|| LiveEvent::OverflowCreated(path.clone()))
                }
                _ => None,
            };
            if let Some(e) = ev {
                self.emit(e);
            }
        }
    }
}

async fn indication_loop(shared: Arc<Shared>, mut rx: mpsc::Receiver<Indication>) {
    while let Some(ind) = rx.recv().await {
        shared.apply(ind).await;
    }
}

async fn health_loop(shared: Arc<Shared>, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.tick().await;
    loop {
        tick.tick().await;
        let ok = shared
            .host
            .client()
            .enumerate_instance_names(shared.host.namespace(), SET_CLASS)
            .await;
        let was_connected = shared.read().connected;
        match ok {
            Ok(_) if !was_connected => match shared.on_reconnect().await {
                Ok(()) => {
                    tracing::info!("server reachable again; live view re-read");
                    shared.emit(LiveEvent::Reconnected);
                }
                Err(e) => tracing::warn!(error = %e, "re-subscribing after reconnect failed"),
            },
            Ok(_) => {}
            Err(e)
                if was_connected
                    && (e.is_connection_failure() || matches!(e, Error::HttpStatus { .. })) =>
            {
                tracing::warn!(error = %e, "server unreachable");
                shared.write().connected = false;
                shared.emit(LiveEvent::Disconnected);
            }
            Err(e) => tracing::debug!(error = %e, "health check failed"),
        }
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}
