//! `IIMirrorProvider`: instances and methods of `DS_IIMirror` (a continuous
//! copy of a primary volume on this host) and `DS_IIMirrorGroup` (its
//! consistency groups); `DS_IIMirrorTarget` (the secondary side) is in
//! [`target`], the associations in [`assoc`].
//!
//! CreateInstance enables a mirror. Everything that can be refused is
//! checked before anything moves, in this order: the required properties,
//! the mode and options, the primary and scoreboard under the volume roots,
//! the primary not the shadow of a set in the middle of a copy, no mirror
//! of the primary yet; for a remote secondary the peer known (peers file),
//! the secondary on it existing, inside its roots, free and not smaller than
//! the primary (the peer's `DS_Volume`). Then the secondary is claimed on
//! the peer with a fresh random token, and the engine enables the mirror
//! with the export `<secondary path>?mirror=<token>`; if that fails the
//! claim is released again, so nothing is left half-made.
//! DeleteInstance disables the mirror, then releases the claim.

pub mod assoc;
pub mod convert;
pub mod reverse;
pub mod target;

use crate::backend::Backend;
use crate::convert::{key_string, path_text, prop_bool, required_string, ret_true, Params};
use crate::error::{Error, Result};
use crate::peers::fresh_token;
use async_trait::async_trait;
use cim::ops::{MethodResult, ParamValue};
use cim::{CimName, Class, Instance, ObjectPath, Value};
use cimom_provider::{InstanceProvider, MethodProvider, ProviderContext, ProviderResult};
use convert::{
    mirror_group_instance, mirror_groups, mirror_instance, mirror_path, options_from, parse_mode,
    state_str, DS_IIMIRROR, DS_IIMIRRORGROUP, LOCALHOST,
};
use native::mirror::{
    MirrorInfo, MirrorOptions, MirrorSpec, MirrorState, RemoteTarget, Secondary, SyncDirection,
    SyncKind,
};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tracing::Instrument;

/// The `DS_IIMirror` / `DS_IIMirrorGroup` provider.
#[derive(Clone)]
pub struct MirrorProvider {
    backend: Backend,
}

/// Properties ModifyInstance may change.
const WRITABLE: &[&str] = &[
    "mode",
    "queueWrites",
    "queueBytes",
    "queueFull",
    "linkTimeout",
    "linkPolicy",
    "autosync",
    "protectTarget",
];

/// Read-only properties that change on their own.
const LIVE: &[&str] = &[
    "state",
    "percentSynchronized",
    "bytesBehind",
    "queueDepth",
    "dirtyChunks",
    "capacity",
    "linkState",
    "lastError",
    "whenSynchronized",
];

/// Is `host` this host (a local secondary)?
pub fn is_local_host(host: &str) -> bool {
    host.eq_ignore_ascii_case(LOCALHOST)
}

impl MirrorProvider {
    /// A provider over the shared engine handle.
    pub fn new(backend: Backend) -> Self {
        MirrorProvider { backend }
    }

    /// The mirror a `DS_IIMirror` path names; the secondary keys, when
    /// given, must match.
    async fn mirror_for_path(&self, path: &ObjectPath) -> Result<MirrorInfo> {
        if !path.class_name.is(DS_IIMIRROR) {
            return Err(Error::InvalidParameter(format!(
                "{path} is not a {DS_IIMIRROR} path"
            )));
        }
        let primary = PathBuf::from(key_string(path, "primaryVolume")?);
        let p2 = primary.clone();
        let info = self
            .backend
            .call(format!("find mirror of {}", primary.display()), move |e| {
                e.mirror_info(&p2)
            })
            .await?;
        let (host, vol) = convert::secondary_keys(&info.secondary);
        let mismatch = |key: &str, want: &str| match path.key_str(key) {
            Some(given) if key == "secondaryHost" => !given.eq_ignore_ascii_case(want),
            Some(given) => given != want,
            None => false,
        };
        if mismatch("secondaryHost", &host) || mismatch("secondaryVolume", &vol) {
            return Err(Error::NotFound(format!(
                "no {DS_IIMIRROR} of {} to that secondary: its secondary is {vol} on {host}",
                primary.display()
            )));
        }
        Ok(info)
    }

    async fn create(&self, ns: &str, inst: Instance) -> Result<ObjectPath> {
        let primary = required_string(&inst, "primaryVolume")?;
        let host = required_string(&inst, "secondaryHost")?;
        let secondary = required_string(&inst, "secondaryVolume")?;
        let scoreboard = required_string(&inst, "scoreboardVolume")?;
        let subject = format!("mirror of {primary}");
        let mode = match crate::convert::prop_string(&inst, "mode")? {
            Some(m) => parse_mode(&m, &subject)?,
            None => Default::default(),
        };
        let options = options_from(&inst, &MirrorOptions::default(), &subject)?;
        let group = crate::convert::prop_string(&inst, "groupName")?;
        if let Some(g) = &group {
            if g.starts_with('-') || g.chars().any(char::is_whitespace) {
                return Err(Error::InvalidParameter(format!(
                    "{subject}: group name {g:?} must not start with '-' or contain whitespace"
                )));
            }
        }
        let volumes_equal = prop_bool(&inst, "volumesEqual")?.unwrap_or(false);
        self.backend
            .check_volume(&primary, "mirror primary")
            .await?;
        self.backend
            .check_volume(&scoreboard, "mirror scoreboard")
            .await?;
        let (canonical, capacity) = self.check_primary(&primary).await?;

        let (sec, claim) = if is_local_host(&host) {
            self.backend
                .check_volume(&secondary, "mirror secondary")
                .await?;
            (Secondary::Local(PathBuf::from(&secondary)), None)
        } else {
            let (sec, claim) = self
                .claim_remote(&host, &secondary, &canonical, capacity)
                .await?;
            (sec, Some(claim))
        };
        let spec = MirrorSpec {
            primary: PathBuf::from(&primary),
            secondary: sec,
            scoreboard: PathBuf::from(&scoreboard),
            mode,
            group,
            options,
            volumes_equal,
        };
        let enabled = self
            .backend
            .call(format!("enable {subject}"), move |e| e.enable_mirror(spec))
            .await;
        match enabled {
            Ok(info) => {
                tracing::info!(primary = %info.primary.display(), secondary = %secondary, host = %host, "mirror enabled");
                Ok(mirror_path(&info, Some(ns)))
            }
            Err(e) => {
                if let Some((peer, volume)) = claim {
                    if let Err(r) = self.backend.peers().release(&peer, &volume).await {
                        tracing::warn!(peer = %peer, volume = %volume, error = %r, "cannot release the claim of a mirror that failed to enable");
                    }
                }
                Err(e)
            }
        }
    }

    /// Canonical path and size of a primary that may be mirrored: not the
    /// shadow of a set in the middle of a copy, not mirrored yet.
    async fn check_primary(&self, primary: &str) -> Result<(PathBuf, u64)> {
        let p = PathBuf::from(primary);
        let (canonical, capacity, busy, mirrored) = self
            .backend
            .call(format!("use {primary} as mirror primary"), move |e| {
                let c = e.resolve_volume(&p)?;
                let capacity = match e.volumes().into_iter().find(|v| v.path == c) {
                    Some(v) => v.capacity,
                    None => std::fs::metadata(&c).map(|m| m.len()).unwrap_or(0),
                };
                let busy = e
                    .sets()
                    .into_iter()
                    .find(|s| s.shadow == c && s.copy_active)
                    .map(|s| s.shadow);
                let mirrored = e.mirror_info(&c).is_ok();
                Ok((c, capacity, busy, mirrored))
            })
            .await?;
        if let Some(set) = busy {
            return Err(Error::Failed(format!(
                "cannot mirror {primary}: it is the shadow of Instant Image set {} in the middle of a copy; wait for the copy (waitForCompletion, iiadm -w) first",
                set.display()
            )));
        }
        if mirrored {
            return Err(Error::AlreadyExists(format!(
                "cannot mirror {primary}: it is the primary of a mirror already; disable that mirror first"
            )));
        }
        Ok((canonical, capacity))
    }

    /// Checks the secondary on the peer and claims it; returns the engine's
    /// secondary and what to release if enabling fails.
    async fn claim_remote(
        &self,
        host: &str,
        secondary: &str,
        primary: &Path,
        capacity: u64,
    ) -> Result<(Secondary, (String, String))> {
        let peers = self.backend.peers().clone();
        let Some(peer) = peers.peer(host) else {
            let names = peers.names();
            let known = if names.is_empty() {
                "cimomd has no peers file (--peers)".to_owned()
            } else {
                format!("known peers: {}", names.join(", "))
            };
            return Err(Error::InvalidParameter(format!(
                "cannot mirror {} to {secondary} on {host}: unknown peer {host} ({known}); add it to the peers file or use \"{LOCALHOST}\" for this host",
                primary.display()
            )));
        };
        let peer_err = |action: String| move |source| Error::Peer { action, source };
        let vol = peers
            .volume(host, secondary)
            .await
            .map_err(peer_err(format!(
                "use {secondary} on {host} as mirror secondary"
            )))?;
        if !vol.used_by.is_empty() {
            return Err(Error::AlreadyExists(format!(
                "cannot use {} on {host} as mirror secondary: it is in use there ({}); release it or choose another volume",
                vol.path, vol.used_by
            )));
        }
        if vol.capacity < capacity {
            return Err(Error::InvalidParameter(format!(
                "cannot use {} on {host} as mirror secondary of {}: it is smaller ({} bytes) than the primary ({capacity} bytes)",
                vol.path,
                primary.display(),
                vol.capacity
            )));
        }
        let token =
            fresh_token().map_err(|e| Error::Failed(format!("cannot make a claim token: {e}")))?;
        let owner = format!("{}:{}", peers.local_name(), primary.display());
        peers
            .claim(host, &vol.path, &owner, &token)
            .await
            .map_err(peer_err(format!(
                "claim {} on {host} as mirror target",
                vol.path
            )))?;
        let target = RemoteTarget {
            peer: peer.name.clone(),
            address: peer.nbd_address.clone(),
            export: format!("{}?mirror={token}", vol.path),
            tls: peer.nbd_tls.clone(),
        };
        Ok((
            Secondary::Remote {
                volume: PathBuf::from(&vol.path),
                target,
            },
            (host.to_owned(), vol.path),
        ))
    }

    async fn delete(&self, path: &ObjectPath) -> Result<()> {
        let info = self.mirror_for_path(path).await?;
        let primary = info.primary.clone();
        self.backend
            .call(
                format!("disable mirror of {}", primary.display()),
                move |e| e.disable_mirror(&primary),
            )
            .await?;
        tracing::info!(primary = %info.primary.display(), "mirror disabled");
        if let Secondary::Remote { volume, target } = &info.secondary {
            let vol = path_text(volume);
            self.backend
                .peers()
                .release(&target.peer, &vol)
                .await
                .map_err(|source| Error::Peer {
                    action: format!(
                        "release {vol} on {} after disabling the mirror of {} (the mirror is disabled; delete the DS_IIMirrorTarget there)",
                        target.peer,
                        info.primary.display()
                    ),
                    source,
                })?;
        }
        Ok(())
    }

    async fn modify(&self, inst: Instance, plist: Option<&[CimName]>) -> Result<()> {
        let path = inst.path.clone().ok_or_else(|| {
            Error::InvalidParameter("ModifyInstance needs the instance's path".into())
        })?;
        let info = self.mirror_for_path(&path).await?;
        let subject = format!("mirror of {}", info.primary.display());
        let in_list = |name: &str| plist.is_none_or(|l| l.iter().any(|n| n.is(name)));
        let current = mirror_instance(&info, None);
        // Everything else is read-only: refused when it would change. Live
        // values may have moved since the client read them: sent back
        // without a property list, they are not a request to change.
        for p in &inst.properties {
            let name = p.name.as_str();
            if WRITABLE.iter().any(|w| p.name.is(w)) || !in_list(name) || p.value.is_null() {
                continue;
            }
            if plist.is_none() && LIVE.iter().any(|l| p.name.is(l)) {
                continue;
            }
            let same = current.get(name).is_some_and(|c| *c == p.value);
            if plist.is_some() || !same {
                return Err(Error::Failed(format!(
                    "property {name} of {DS_IIMIRROR} is read-only: only mode, queueWrites, queueBytes, queueFull, linkTimeout, linkPolicy, autosync and protectTarget can be modified"
                )));
            }
        }
        let mut wanted = Instance::new(DS_IIMIRROR);
        for p in &inst.properties {
            if WRITABLE.iter().any(|w| p.name.is(w)) && in_list(p.name.as_str()) {
                wanted.properties.push(p.clone());
            }
        }
        let mode = match wanted.get("mode") {
            Some(Value::String(m)) => Some(parse_mode(m, &subject)?),
            _ => None,
        };
        let options = options_from(&wanted, &info.options, &subject)?;
        let primary = info.primary.clone();
        if options != info.options {
            let p = primary.clone();
            self.backend
                .call(format!("change the options of {subject}"), move |e| {
                    e.mirror_set_options(&p, options)
                })
                .await?;
        }
        if let Some(m) = mode.filter(|m| *m != info.mode) {
            self.backend
                .call(format!("change the mode of {subject}"), move |e| {
                    e.mirror_set_mode(&primary, m)
                })
                .await?;
        }
        Ok(())
    }

    /// Waits for `primary` to be in step; fails past `secs` (0: no limit)
    /// or when it stops syncing. Waits in slices so that a client that goes
    /// away ends the wait.
    async fn wait_for_sync(&self, primary: &Path, secs: u32) -> Result<()> {
        const SLICE: Duration = Duration::from_millis(500);
        let deadline = (secs > 0).then(|| Instant::now() + Duration::from_secs(secs.into()));
        let subject = format!("mirror of {}", primary.display());
        loop {
            let slice = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()).min(SLICE),
                None => SLICE,
            };
            let p = primary.to_path_buf();
            let (done, info) = self
                .backend
                .call(format!("wait for {subject}"), move |e| {
                    let done = e.mirror_wait(&p, Some(slice))?;
                    Ok((done, e.mirror_info(&p)?))
                })
                .await?;
            if done {
                return Ok(());
            }
            let moving = matches!(
                info.state,
                MirrorState::Syncing | MirrorState::ReverseSyncing | MirrorState::Replicating
            );
            let why = info
                .last_error
                .as_deref()
                .map(|e| format!(" (last error: {e})"))
                .unwrap_or_default();
            if !moving {
                return Err(Error::Failed(format!(
                    "{subject} is not in step: its state is {}{why}; start a sync (updateSync, iiadm mirror -u) first",
                    state_str(info.state)
                )));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Error::Failed(format!(
                    "{subject} is still {} after {secs} s ({:.1} % synchronized, {} bytes behind): wait longer (timeoutSeconds=0 waits without limit)",
                    state_str(info.state),
                    info.percent_synchronized,
                    info.bytes_behind
                )));
            }
        }
    }

    /// Runs an engine call on one mirror and answers `true`.
    async fn act<F>(&self, primary: &Path, method: &str, f: F) -> Result<MethodResult>
    where
        F: FnOnce(&native::Engine, &Path) -> native::Result<()> + Send + 'static,
    {
        let p = primary.to_path_buf();
        self.backend
            .call(
                format!("{method} on mirror of {}", primary.display()),
                move |e| f(e, &p),
            )
            .await?;
        Ok(ret_true())
    }

    async fn invoke(
        &self,
        target: &ObjectPath,
        method: &CimName,
        params: &[ParamValue],
        waiting: &cimom_provider::Waiting,
    ) -> Result<MethodResult> {
        if target.class_name.is(DS_IIMIRRORGROUP) {
            return self.invoke_group(target, method, params, waiting).await;
        }
        let m = method.as_str();
        let p = Params::new(m, params);
        if target.keys.is_empty() {
            return Err(Error::InvalidParameter(format!(
                "{DS_IIMIRROR}.{m} is not static: invoke it on a mirror's instance path"
            )));
        }
        let info = self.mirror_for_path(target).await?;
        let primary = info.primary.clone();
        let sync = |kind, dir| move |e: &native::Engine, p: &Path| e.mirror_sync(p, kind, dir);
        match m.to_ascii_lowercase().as_str() {
            "fullsync" => {
                self.act(&primary, m, sync(SyncKind::Full, SyncDirection::Forward))
                    .await
            }
            "updatesync" => {
                self.act(&primary, m, sync(SyncKind::Update, SyncDirection::Forward))
                    .await
            }
            "reversesync" => {
                let full = match p.get_bool("full")? {
                    Some(f) => f,
                    None => {
                        return Err(Error::InvalidParameter(
                            "reverseSync needs the parameter full (TRUE: every chunk, FALSE: the marked ones)".into(),
                        ))
                    }
                };
                let kind = if full {
                    SyncKind::Full
                } else {
                    SyncKind::Update
                };
                self.act(&primary, m, sync(kind, SyncDirection::Reverse))
                    .await
            }
            "logging" => self.act(&primary, m, |e, p| e.mirror_logging(p)).await,
            "setmode" => {
                let mode = parse_mode(
                    &p.string("mode")?,
                    &format!("setMode on mirror of {}", primary.display()),
                )?;
                self.act(&primary, m, move |e, p| e.mirror_set_mode(p, mode))
                    .await
            }
            "waitforsync" => {
                let secs = p.opt_u32("timeoutSeconds")?.unwrap_or(0);
                waiting.begin();
                self.wait_for_sync(&primary, secs).await?;
                Ok(ret_true())
            }
            "reverseroles" => {
                let sb = p.string("scoreboardVolume")?;
                reverse::reverse_roles(&self.backend, &info, &sb).await?;
                Ok(ret_true())
            }
            "mergepeerchanges" => {
                let chunks = p.get("chunks").cloned().unwrap_or(Value::Null);
                reverse::merge_peer_changes(&self.backend, &info, &chunks).await?;
                Ok(ret_true())
            }
            _ => Err(Error::NotSupported(format!(
                "{DS_IIMIRROR} has no method {m}"
            ))),
        }
    }

    /// The members of the group a `DS_IIMirrorGroup` path names.
    async fn group_members(&self, path: &ObjectPath) -> Result<(String, Vec<MirrorInfo>)> {
        let name = key_string(path, "groupName")?;
        let all = self.backend.query(|e| e.mirrors()).await?;
        let members: Vec<MirrorInfo> = all
            .into_iter()
            .filter(|m| m.group.as_deref() == Some(name.as_str()))
            .collect();
        if members.is_empty() {
            return Err(Error::NotFound(format!(
                "no {DS_IIMIRRORGROUP} {name}: no mirror names this group"
            )));
        }
        Ok((name, members))
    }

    async fn invoke_group(
        &self,
        target: &ObjectPath,
        method: &CimName,
        params: &[ParamValue],
        waiting: &cimom_provider::Waiting,
    ) -> Result<MethodResult> {
        let m = method.as_str();
        let p = Params::new(m, params);
        let (name, members) = self.group_members(target).await?;
        let first = members[0].primary.clone();
        let kind = match m.to_ascii_lowercase().as_str() {
            // The engine drops the whole group with any one member.
            "logging" => {
                return self.act(&first, m, |e, p| e.mirror_logging(p)).await;
            }
            "waitforsync" => {
                let secs = p.opt_u32("timeoutSeconds")?.unwrap_or(0);
                waiting.begin();
                for mem in &members {
                    self.wait_for_sync(&mem.primary, secs).await?;
                }
                return Ok(ret_true());
            }
            "updatesync" => SyncKind::Update,
            "fullsync" => SyncKind::Full,
            _ => {
                return Err(Error::NotSupported(format!(
                    "{DS_IIMIRRORGROUP} has no method {m}"
                )))
            }
        };
        let primaries: Vec<PathBuf> = members.into_iter().map(|m| m.primary).collect();
        self.backend
            .call(format!("{m} on mirror group {name}"), move |e| {
                primaries
                    .iter()
                    .try_for_each(|p| e.mirror_sync(p, kind, SyncDirection::Forward))
            })
            .await?;
        Ok(ret_true())
    }

    async fn enumerate(&self, ns: &str, class: &CimName) -> Result<Vec<Instance>> {
        let mirrors = self.backend.query(|e| e.mirrors()).await?;
        let ns = Some(ns);
        if class.is(DS_IIMIRRORGROUP) {
            return Ok(mirror_groups(&mirrors)
                .iter()
                .map(|(n, members)| mirror_group_instance(n, members, ns))
                .collect());
        }
        Ok(mirrors.iter().map(|m| mirror_instance(m, ns)).collect())
    }

    async fn get(&self, ns: &str, path: &ObjectPath) -> Result<Instance> {
        if path.class_name.is(DS_IIMIRRORGROUP) {
            let (name, members) = self.group_members(path).await?;
            let refs: Vec<&MirrorInfo> = members.iter().collect();
            return Ok(mirror_group_instance(&name, &refs, Some(ns)));
        }
        let info = self.mirror_for_path(path).await?;
        Ok(mirror_instance(&info, Some(ns)))
    }
}

#[async_trait]
impl InstanceProvider for MirrorProvider {
    async fn enumerate_instances(
        &self,
        ctx: &ProviderContext,
        class: &Class,
    ) -> ProviderResult<Vec<Instance>> {
        let span = tracing::debug_span!("provider", class = %class.name, op = "EnumerateInstances");
        Ok(self
            .enumerate(&ctx.namespace, &class.name)
            .instrument(span)
            .await?)
    }

    async fn get_instance(
        &self,
        ctx: &ProviderContext,
        class: &Class,
        path: &ObjectPath,
    ) -> ProviderResult<Instance> {
        let span = tracing::debug_span!("provider", class = %class.name, op = "GetInstance");
        Ok(self.get(&ctx.namespace, path).instrument(span).await?)
    }

    async fn create_instance(
        &self,
        ctx: &ProviderContext,
        class: &Class,
        instance: Instance,
    ) -> ProviderResult<ObjectPath> {
        if class.name.is(DS_IIMIRRORGROUP) {
            return Err(Error::NotSupported(format!(
                "a {DS_IIMIRRORGROUP} cannot be created on its own: give groupName when creating the {DS_IIMIRROR}"
            ))
            .into());
        }
        let span = tracing::info_span!("provider", class = DS_IIMIRROR, op = "CreateInstance");
        Ok(self
            .create(&ctx.namespace, instance)
            .instrument(span)
            .await?)
    }

    async fn modify_instance(
        &self,
        _ctx: &ProviderContext,
        class: &Class,
        instance: Instance,
        property_list: Option<&[CimName]>,
    ) -> ProviderResult<()> {
        if class.name.is(DS_IIMIRRORGROUP) {
            return Err(Error::NotSupported(format!(
                "{DS_IIMIRRORGROUP} has no writable properties"
            ))
            .into());
        }
        let span = tracing::info_span!("provider", class = DS_IIMIRROR, op = "ModifyInstance");
        Ok(self
            .modify(instance, property_list)
            .instrument(span)
            .await?)
    }

    async fn delete_instance(
        &self,
        _ctx: &ProviderContext,
        class: &Class,
        path: &ObjectPath,
    ) -> ProviderResult<()> {
        if class.name.is(DS_IIMIRRORGROUP) {
            return Err(Error::NotSupported(format!(
                "a {DS_IIMIRRORGROUP} goes away with its last member: disable its mirrors"
            ))
            .into());
        }
        let span = tracing::info_span!("provider", class = DS_IIMIRROR, op = "DeleteInstance");
        Ok(self.delete(path).instrument(span).await?)
    }
}

#[async_trait]
impl MethodProvider for MirrorProvider {
    async fn invoke_method(
        &self,
        ctx: &ProviderContext,
        class: &Class,
        target: &ObjectPath,
        method: &CimName,
        params: Vec<ParamValue>,
    ) -> ProviderResult<MethodResult> {
        let span = tracing::info_span!("provider", class = %class.name, method = %method);
        Ok(self
            .invoke(target, method, &params, &ctx.waiting)
            .instrument(span)
            .await?)
    }
}
