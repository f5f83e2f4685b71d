//! The host registry and lookup service.
//!
//! Hosts come from `console.toml` or register themselves
//! (`POST /api/v1/announce`, see [`Registry::announce`]). Each host has one
//! watcher task that keeps a [`HostView`] current:
//!
//! * it starts a [`LiveView`] (one indication subscription per host) and takes
//!   the view's snapshot after every change it reports;
//! * while a set copies or updates and no indication arrived for
//!   [`STALE_AFTER`], it re-reads the host once a second and flags the host
//!   "live updates degraded" (the polling fallback);
//! * the view's health check (every second) notices a host that stops
//!   answering; the host is then "unreachable since …" and its rows stay,
//!   greyed, until it answers again;
//! * an announced host that misses three heartbeats is unreachable too.
//!
//! Every change of a view goes through [`crate::pages::diff_events`] into the
//! [`Journal`], which streams it to browsers.

use crate::config::HostEntry;
use crate::events::Journal;
use crate::Error;
use client::{ClientConfig, IiHost, LiveEvent, LiveOptions, LiveView, OverflowInfo, SetInfo};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;
use tokio::task::AbortHandle;

/// No indication for this long while a copy runs: poll instead.
pub const STALE_AFTER: Duration = Duration::from_secs(3);
/// Heartbeats an announced host may miss before it is unreachable.
pub const MISSED_HEARTBEATS: u32 = 3;

/// Seconds since the epoch, now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// One group as the console shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupRow {
    /// `groupName`.
    pub name: String,
    /// `groupType`.
    pub group_type: String,
    /// Shadow paths of the members.
    pub members: Vec<String>,
}

/// Everything the console knows about one host (no credentials).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostView {
    /// Display name.
    pub name: String,
    /// CIM URL.
    pub url: String,
    /// Filter tags.
    pub tags: Vec<String>,
    /// Registered itself (lookup service) rather than configured.
    pub announced: bool,
    /// Version the host announced.
    pub version: Option<String>,
    /// Answers now.
    pub reachable: bool,
    /// Seconds since the epoch when it stopped answering.
    pub unreachable_since: Option<u64>,
    /// Why it is unreachable.
    pub error: Option<String>,
    /// Indications stopped; the console polls.
    pub degraded: bool,
    /// Sets by shadow path.
    pub sets: Vec<SetInfo>,
    /// Groups with members.
    pub groups: Vec<GroupRow>,
    /// Overflow volumes.
    pub overflows: Vec<OverflowInfo>,
}

impl HostView {
    fn new(name: &str, url: &str, tags: Vec<String>) -> HostView {
        HostView {
            name: name.to_owned(),
            url: url.to_owned(),
            tags,
            announced: false,
            version: None,
            reachable: false,
            unreachable_since: Some(unix_now()),
            error: Some("not contacted yet".into()),
            degraded: false,
            sets: Vec::new(),
            groups: Vec::new(),
            overflows: Vec::new(),
        }
    }

    /// The set named by shadow path or set name.
    pub fn set(&self, name: &str) -> Option<&SetInfo> {
        self.sets
            .iter()
            .find(|s| s.shadow == name)
            .or_else(|| self.sets.iter().find(|s| s.name == name))
    }

    /// The group of this name.
    pub fn group(&self, name: &str) -> Option<&GroupRow> {
        self.groups.iter().find(|g| g.name == name)
    }
}

/// One host: its facade, its view and its watcher.
pub struct Host {
    /// The facade all calls go through.
    pub ii: IiHost,
    view: RwLock<HostView>,
    heartbeat: Mutex<Option<(Instant, Duration)>>,
    nudge: Notify,
    task: Mutex<Option<AbortHandle>>,
}

impl Host {
    /// A copy of the current view.
    pub fn view(&self) -> HostView {
        self.view.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Asks the watcher to re-read the host now (after an action).
    pub fn nudge(&self) {
        self.nudge.notify_one();
    }
}

impl Host {
    /// Stops the watcher (the watcher holds the host, so dropping is not enough).
    fn stop(&self) {
        if let Some(t) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            t.abort();
        }
    }
}

/// What `POST /api/v1/announce` carries.
#[derive(Debug, Clone, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Announcement {
    /// Host name (unique in the registry).
    pub name: String,
    /// The host's CIM URL.
    pub url: String,
    /// The host's `cimomd` version.
    pub version: String,
    /// Seconds between heartbeats (default 30).
    pub interval: Option<u64>,
}

impl Announcement {
    /// Parses and checks an announcement body.
    pub fn parse(body: &[u8]) -> Result<Announcement, Error> {
        let a: Announcement = serde_json::from_slice(body)
            .map_err(|e| Error::BadRequest(format!("announcement: {e}")))?;
        if a.name.is_empty()
            || a.name.len() > 200
            || a.name.contains('/')
            || a.name.chars().any(char::is_control)
        {
            return Err(Error::BadRequest(format!(
                "announcement: host name {:?} must be 1-200 characters without '/' or control characters",
                a.name
            )));
        }
        if !(a.url.starts_with("http://") || a.url.starts_with("https://")) {
            return Err(Error::BadRequest(format!(
                "announcement: url {:?} is not an http(s) URL",
                a.url
            )));
        }
        if let Some(i) = a.interval {
            if !(1..=3600).contains(&i) {
                return Err(Error::BadRequest(format!(
                    "announcement: interval {i} is outside 1-3600 seconds"
                )));
            }
        }
        Ok(a)
    }
}

/// Compares two secrets without an early exit on the first difference.
pub fn token_matches(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= (*x ^ b.get(i % b.len().max(1)).copied().unwrap_or(0)) as usize;
    }
    diff == 0 && !b.is_empty()
}

/// The registry.
pub struct Registry {
    hosts: RwLock<BTreeMap<String, Arc<Host>>>,
    /// Where browsers' changes come from.
    pub journal: Arc<Journal>,
    timeout: Duration,
    listen: SocketAddr,
    announce_token: Option<String>,
}

impl Registry {
    /// An empty registry.
    pub fn new(
        journal: Arc<Journal>,
        timeout: Duration,
        listen: SocketAddr,
        announce_token: Option<String>,
    ) -> Arc<Registry> {
        Arc::new(Registry {
            hosts: RwLock::new(BTreeMap::new()),
            journal,
            timeout,
            listen,
            announce_token,
        })
    }

    /// Adds a configured host and starts watching it.
    pub fn add_configured(self: &Arc<Self>, e: &HostEntry) -> Result<(), Error> {
        let mut c = ClientConfig::new(e.url.clone());
        c.user = e.user.clone();
        if let Some(f) = &e.password_file {
            c.password = Some(client::conn::read_password_file(f)?);
        }
        c.ca_file = e.ca_file.clone();
        c.timeout = Some(self.timeout);
        let ii = IiHost::new(client::Client::new(c)?);
        self.insert(HostView::new(&e.name, &e.url, e.tags.clone()), ii, None);
        Ok(())
    }

    fn insert(self: &Arc<Self>, view: HostView, ii: IiHost, heartbeat: Option<Duration>) {
        let name = view.name.clone();
        let host = Arc::new(Host {
            ii,
            view: RwLock::new(view),
            heartbeat: Mutex::new(heartbeat.map(|d| (Instant::now(), d))),
            nudge: Notify::new(),
            task: Mutex::new(None),
        });
        let task = tokio::spawn(watch(Arc::downgrade(self), host.clone()));
        *host.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task.abort_handle());
        let old = self
            .hosts
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.clone(), host.clone());
        if let Some(old) = old {
            old.stop();
            self.publish(&old.view(), &host.view());
        } else {
            self.journal.push("refresh", "{}".into());
        }
    }

    /// Registers or refreshes an announced host (a heartbeat). Refuses a bad
    /// token ([`Error::Unauthorized`]) and a name taken by a configured host.
    pub fn announce(self: &Arc<Self>, token: Option<&str>, a: Announcement) -> Result<(), Error> {
        let Some(expected) = &self.announce_token else {
            return Err(Error::Unauthorized(
                "registration is disabled: iimgr has no --announce-token-file".into(),
            ));
        };
        if !token.is_some_and(|t| token_matches(t, expected)) {
            return Err(Error::Unauthorized("bad or missing announce token".into()));
        }
        let interval = Duration::from_secs(a.interval.unwrap_or(30));
        if let Some(h) = self.get(&a.name) {
            let v = h.view();
            if !v.announced {
                return Err(Error::BadRequest(format!(
                    "host name {} is taken by a configured host",
                    a.name
                )));
            }
            if v.url == a.url {
                *h.heartbeat.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some((Instant::now(), interval));
                if v.version.as_deref() != Some(a.version.as_str()) {
                    self.update(&h, |v| v.version = Some(a.version.clone()));
                }
                return Ok(());
            }
        }
        let mut c = ClientConfig::new(a.url.clone());
        c.timeout = Some(self.timeout);
        let ii = IiHost::new(client::Client::new(c)?);
        let mut view = HostView::new(&a.name, &a.url, Vec::new());
        view.announced = true;
        view.version = Some(a.version.clone());
        tracing::info!(host = %a.name, url = %a.url, version = %a.version, "host registered");
        self.insert(view, ii, Some(interval));
        Ok(())
    }

    /// A host by name.
    pub fn get(&self, name: &str) -> Option<Arc<Host>> {
        self.hosts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    /// A host by name, or 404.
    pub fn host(&self, name: &str) -> Result<Arc<Host>, Error> {
        self.get(name)
            .ok_or_else(|| Error::NotFound(format!("host {name} is not known to iimgr")))
    }

    /// Every host, by name (a copy of the list: no lock is held afterwards).
    fn all(&self) -> Vec<Arc<Host>> {
        self.hosts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Every host's view, by name.
    pub fn views(&self) -> Vec<HostView> {
        self.all().iter().map(|h| h.view()).collect()
    }

    fn publish(&self, old: &HostView, new: &HostView) {
        for (kind, data) in crate::pages::diff_events(old, new) {
            self.journal.push(kind, data);
        }
    }

    /// Changes a host's view and publishes the difference.
    fn update(&self, host: &Host, f: impl FnOnce(&mut HostView)) {
        let (old, new) = {
            let mut v = host.view.write().unwrap_or_else(|e| e.into_inner());
            let old = v.clone();
            f(&mut v);
            (old, v.clone())
        };
        if old != new {
            self.publish(&old, &new);
        }
    }

    /// Marks announced hosts whose heartbeats stopped (called every second).
    fn sweep_heartbeats(&self) {
        for h in self.all() {
            let hb = *h.heartbeat.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((last, every)) = hb {
                if last.elapsed() > every * MISSED_HEARTBEATS {
                    self.update(&h, |v| {
                        if v.reachable {
                            mark_unreachable(v, "missed three heartbeats".into());
                        }
                    });
                }
            }
        }
    }

    /// Starts the heartbeat sweeper.
    pub fn start_sweeper(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                match weak.upgrade() {
                    Some(r) => r.sweep_heartbeats(),
                    None => return,
                }
            }
        });
    }
}

fn mark_unreachable(v: &mut HostView, why: String) {
    if v.reachable || v.unreachable_since.is_none() {
        v.unreachable_since = Some(unix_now());
    }
    v.reachable = false;
    v.error = Some(why);
}

fn heartbeat_ok(host: &Host) -> bool {
    match *host.heartbeat.lock().unwrap_or_else(|e| e.into_inner()) {
        Some((last, every)) => last.elapsed() <= every * MISSED_HEARTBEATS,
        None => true,
    }
}

/// Copies the live view's snapshot into the host's view.
fn take_snapshot(reg: &Registry, host: &Host, view: &LiveView, degraded: bool) {
    let mut sets = view.sets();
    sets.sort_by(|a, b| a.shadow.cmp(&b.shadow));
    let groups = view
        .groups()
        .into_iter()
        .map(|(name, group_type)| GroupRow {
            members: sets
                .iter()
                .filter(|s| s.group.as_deref() == Some(name.as_str()))
                .map(|s| s.shadow.clone())
                .collect(),
            name,
            group_type,
        })
        .collect();
    let overflows = view.overflows();
    let connected = view.is_connected() && heartbeat_ok(host);
    reg.update(host, |v| {
        v.sets = sets;
        v.groups = groups;
        v.overflows = overflows;
        v.degraded = degraded;
        if connected {
            v.reachable = true;
            v.unreachable_since = None;
            v.error = None;
        } else if v.reachable {
            mark_unreachable(v, "the host does not answer".into());
        }
    });
}

/// The watcher of one host: see the module documentation.
async fn watch(reg: std::sync::Weak<Registry>, host: Arc<Host>) {
    // A host that is down when watching starts is retried after 1, 2, 4, 5, 5… s.
    let mut backoff = Duration::from_secs(1);
    loop {
        let Some(r) = reg.upgrade() else { return };
        let opts = LiveOptions {
            listen: SocketAddr::new(r.listen.ip(), 0),
            destination: None,
            health_interval: Duration::from_secs(1),
        };
        let started = tokio::time::timeout(r.timeout, LiveView::start(host.ii.clone(), opts)).await;
        let view = match started {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                r.update(&host, |v| mark_unreachable(v, e.to_string()));
                drop(r);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
            Err(_) => {
                r.update(&host, |v| {
                    mark_unreachable(v, "the host does not answer in time".into())
                });
                drop(r);
                continue;
            }
        };
        drop(r);
        follow(&reg, &host, view).await;
    }
}

/// Follows a started live view until the registry goes away.
async fn follow(reg: &std::sync::Weak<Registry>, host: &Host, view: LiveView) {
    let mut events = view.events();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last_event = Instant::now();
    let mut degraded = false;
    if let Some(r) = reg.upgrade() {
        take_snapshot(&r, host, &view, false);
    }
    loop {
        tokio::select! {
            ev = events.recv() => {
                match ev {
                    Ok(LiveEvent::Disconnected) => {}
                    Ok(_) => { last_event = Instant::now(); degraded = false; }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        let _ = view.refresh().await;
                    }
                    Err(_) => return,
                }
            }
            _ = host.nudge.notified() => {
                let _ = tokio::time::timeout(Duration::from_secs(10), view.refresh()).await;
                drain(&mut events);
            }
            _ = tick.tick() => {
                let running = view.sets().iter().any(|s| s.state == "copying" || s.state == "updating");
                if running && view.is_connected() && last_event.elapsed() >= STALE_AFTER {
                    degraded = true;
                    let _ = tokio::time::timeout(Duration::from_secs(10), view.refresh()).await;
                    drain(&mut events);
                }
            }
        }
        let Some(r) = reg.upgrade() else { return };
        take_snapshot(&r, host, &view, degraded);
    }
}

/// Drops the events our own re-read just reported: they are not
/// indications, so they must not make a degraded host look live again.
fn drain(events: &mut tokio::sync::broadcast::Receiver<LiveEvent>) {
    use tokio::sync::broadcast::error::TryRecvError;
    loop {
        match events.try_recv() {
            Ok(_) | Err(TryRecvError::Lagged(_)) => {}
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcement_parser_checks_every_field() {
        let ok = br#"{"name":"h1","url":"http://127.0.0.1:5988","version":"0.1.0","interval":30}"#;
        let a = Announcement::parse(ok).unwrap();
        assert_eq!((a.name.as_str(), a.interval), ("h1", Some(30)));
        for bad in [
            &br#"{"name":"","url":"http://x","version":"1"}"#[..],
            br#"{"name":"a/b","url":"http://x","version":"1"}"#,
            br#"{"name":"a","url":"ftp://x","version":"1"}"#,
            br#"{"name":"a","url":"http://x","version":"1","interval":0}"#,
            br#"{"name":"a","url":"http://x","version":"1","extra":1}"#,
            br#"{"name":"a","url":"http://x"}"#,
            b"not json",
        ] {
            let e = Announcement::parse(bad).unwrap_err();
            assert!(matches!(e, Error::BadRequest(_)), "{e}");
        }
    }

    #[test]
    fn tokens_compare_exactly() {
        assert!(token_matches("s3cret", "s3cret"));
        assert!(!token_matches("s3cre", "s3cret"));
        assert!(!token_matches("s3cret!", "s3cret"));
        assert!(!token_matches("", ""));
        assert!(!token_matches("x3cret", "s3cret"));
    }
}
