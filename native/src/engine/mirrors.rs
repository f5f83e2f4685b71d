//! Continuous copy on the engine handle: enable, disable and drive mirrors
//! (types in `crate::mirror`, machinery in `mirror/device.rs`, `queue.rs`,
//! `jobs.rs`, `group.rs`, `link.rs`), their persistence and restore, and the
//! role-reversal primitives (fence, scoreboard export and merge); the target
//! side's claims are in `targets.rs`.
//!
//! Every check of `enable_mirror` comes before anything is written, so a
//! refused enable leaves the volumes and the configuration as they were.

use super::{Engine, Inner, St};
use crate::bitmap::{self, Geometry};
use crate::blockdev::BlockDevice;
use crate::device::MasterDevice;
use crate::error::{Error, Result};
use crate::mirror::device::{state_name, Ctl, Hooks, MirrorCore};
use crate::mirror::group::GroupCore;
use crate::mirror::scoreboard::{Scoreboard, FL_FENCED, FL_FROZEN, FL_SPLIT};
use crate::mirror::*;
use crate::state::MirrorRecord;
use crate::types::*;
use crate::volume::Volume;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Folder (directly under a volume root) holding the dependent snapshots
/// `protectTarget` takes of local secondaries.
pub const PROTECT_DIR: &str = ".mirror-protect";

fn mirror_not_found(primary: &Path) -> Error {
    Error::NotFound {
        kind: "mirror",
        name: primary.display().to_string(),
        hint: "no mirror has this primary volume; list the mirrors and use a primary path".into(),
    }
}

fn subject(primary: &Path) -> String {
    format!("mirror of {}", primary.display())
}

/// The engine's side of a mirror's hooks.
struct EngineHooks {
    inner: Weak<Inner>,
}

impl EngineHooks {
    fn engine(&self) -> Option<Engine> {
        self.inner.upgrade().map(|inner| Engine { inner })
    }
}

impl Hooks for EngineHooks {
    fn protect(&self, m: &MirrorCore) -> Result<()> {
        let eng = self
            .engine()
            .ok_or_else(|| Error::Precondition("engine shut down".into()))?;
        match &m.secondary {
            Secondary::Local(p) => eng.protect_local(&m.primary, p, m.size),
            Secondary::Remote { volume, target } => eng.links()?.protect(target, volume),
        }
    }
    fn unprotect(&self, m: &MirrorCore) {
        let Some(eng) = self.engine() else { return };
        let r = match &m.secondary {
            Secondary::Local(p) => eng.unprotect_local(p),
            Secondary::Remote { volume, target } => {
                eng.links().and_then(|l| l.unprotect(target, volume))
            }
        };
        if let Err(e) = r {
            tracing::warn!(mirror = %m.primary.display(), error = %e, "cannot drop the protect snapshot");
        }
    }
    fn connect(&self, m: &MirrorCore) -> Result<Arc<dyn MirrorLink>> {
        match &m.secondary {
            Secondary::Local(_) => {
                let dev = m
                    .local_secondary
                    .clone()
                    .ok_or_else(|| Error::Precondition("local secondary not open".into()))?;
                Ok(Arc::new(link::LocalLink { dev }))
            }
            Secondary::Remote { target, .. } => {
                let eng = self
                    .engine()
                    .ok_or_else(|| Error::Precondition("engine shut down".into()))?;
                eng.links()?.connect(target, m.link_timeout())
            }
        }
    }
}

fn fnv(s: &[u8]) -> u64 {
    s.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

fn check_options(primary: &Path, o: &MirrorOptions) -> Result<()> {
    if o.queue_writes == 0 || o.queue_bytes < CHUNK_SIZE {
        return Err(Error::invalid(
            subject(primary),
            "the async queue must allow at least 1 write and 32768 bytes",
        ));
    }
    if o.link_timeout.is_zero() || o.link_timeout > Duration::from_secs(3600) {
        return Err(Error::invalid(
            subject(primary),
            "the link timeout must be between 1 ms and 1 hour",
        ));
    }
    Ok(())
}

/// The secondary's description stored in the scoreboard header.
fn secondary_name(s: &Secondary) -> String {
    match s {
        Secondary::Local(p) => p.display().to_string(),
        Secondary::Remote { volume, target } => format!("{}:{}", target.peer, volume.display()),
    }
}

impl Engine {
    fn links(&self) -> Result<Arc<dyn LinkFactory>> {
        self.inner
            .cfg
            .links
            .as_ref()
            .map(|l| l.0.clone())
            .ok_or_else(|| {
                Error::Precondition(
                    "remote secondaries need a link factory (EngineConfig::links); this engine has none".into(),
                )
            })
    }

    fn hooks(&self) -> Arc<dyn Hooks> {
        Arc::new(EngineHooks {
            inner: Arc::downgrade(&self.inner),
        })
    }

    fn find_mirror(&self, st: &St, primary: &Path) -> Result<Arc<MirrorCore>> {
        if let Some(m) = st.mirrors.get(primary) {
            return Ok(m.clone());
        }
        if let Ok(c) = self.inner.roots.resolve(primary) {
            if let Some(m) = st.mirrors.get(&c) {
                return Ok(m.clone());
            }
        }
        Err(mirror_not_found(primary))
    }

    fn mirror(&self, primary: &Path) -> Result<Arc<MirrorCore>> {
        let st = self.st();
        self.find_mirror(&st, primary)
    }

    /// The mirror role of a volume, if any (for `role_of`).
    pub(super) fn mirror_role_of(st: &St, p: &Path) -> Option<String> {
        let recs = st
            .mirrors
            .values()
            .map(|m| {
                (
                    m.primary.clone(),
                    m.secondary.clone(),
                    m.scoreboard_path.clone(),
                )
            })
            .chain(
                st.mirrors_offline
                    .values()
                    .map(|(r, _)| (r.primary.clone(), r.secondary.clone(), r.scoreboard.clone())),
            );
        for (prim, sec, sb) in recs {
            if prim == p {
                return Some("primary of mirror".into());
            }
            if sec == Secondary::Local(p.to_path_buf()) {
                return Some(format!("secondary of mirror {}", prim.display()));
            }
            if sb == p {
                return Some(format!("scoreboard of mirror {}", prim.display()));
            }
        }
        None
    }

    /// The group core of `name` (a private one for `None`).
    fn group_core(st: &mut St, name: &Option<String>) -> Arc<GroupCore> {
        match name {
            None => GroupCore::new(None),
            Some(n) => st
                .mirror_groups
                .entry(n.clone())
                .or_insert_with(|| GroupCore::new(Some(n.clone())))
                .clone(),
        }
    }

    fn save_mirror_change(&self, st: &St) -> Result<()> {
        self.save(st)
    }

    /// Enables a mirror (checks everything before anything moves) and
    /// persists it; it is restored at [`Engine::open`].
    pub fn enable_mirror(&self, spec: MirrorSpec) -> Result<MirrorInfo> {
        let mut st = self.st();
        let pr = &spec.primary;
        check_options(pr, &spec.options)?;
        if let Some(g) = &spec.group {
            if g.is_empty() || g.len() > 254 || g.chars().any(|c| c.is_control()) {
                return Err(Error::invalid(
                    subject(pr),
                    "a mirror group name must be 1 to 254 bytes without control characters",
                ));
            }
        }
        let primary = self.resolve_in(pr, "primary", pr)?;
        let scoreboard = self.resolve_in(&spec.scoreboard, "scoreboard", pr)?;
        if st.mirrors.contains_key(&primary) || st.mirrors_offline.contains_key(&primary) {
            return Err(Error::AlreadyExists {
                kind: "mirror",
                name: primary.display().to_string(),
                cause: "the volume is already the primary of a mirror; disable that mirror first"
                    .into(),
            });
        }
        // The primary: plain, a master, or a shadow not being copied.
        if let Some(role) = Self::role_of(&st, &primary) {
            if role.starts_with("shadow of") {
                let set = self.find(&st, &primary)?;
                if set.f() & flags::COPYING != 0 {
                    return Err(Error::in_use(
                        &primary,
                        role,
                        format!(
                            "cannot be the primary of a mirror while set {} copies; wait for the copy to end",
                            set.shadow_path.display()
                        ),
                    ));
                }
            } else if !role.starts_with("master of") {
                return Err(Error::in_use(
                    &primary,
                    role,
                    "cannot be the primary of a mirror; choose another volume",
                ));
            }
        }
        if scoreboard == primary {
            return Err(Error::invalid(
                subject(pr),
                "the scoreboard must be a volume of its own",
            ));
        }
        if let Some(role) = Self::role_of(&st, &scoreboard) {
            return Err(Error::in_use(
                &scoreboard,
                role,
                format!(
                    "cannot be the scoreboard of mirror {}; choose another volume",
                    primary.display()
                ),
            ));
        }
        Self::check_no_plain_handle(&mut st, &scoreboard, pr)?;
        let secondary = self.check_secondary(&mut st, &spec.secondary, &primary, &scoreboard)?;
        let (_, local) = self.device_plain(&mut st, &primary)?;
        let size = local.size();
        let sbvol = Arc::new(Volume::open(&scoreboard)?);
        Scoreboard::check_size(&sbvol, size.div_ceil(CHUNK_SIZE), &primary)?;
        // The secondary's size, through its link.
        let local_secondary = match &secondary {
            Secondary::Local(p) => {
                let m = Self::master_for(&mut st, p)?;
                Some(Arc::new(MasterDevice(m)) as Arc<dyn BlockDevice>)
            }
            Secondary::Remote { .. } => None,
        };
        let link: Arc<dyn MirrorLink> = match (&secondary, &local_secondary) {
            (Secondary::Remote { target, .. }, _) => self
                .links()?
                .connect(target, spec.options.link_timeout)
                .map_err(|e| {
                    Error::Precondition(format!(
                        "mirror of {}: cannot reach the secondary on {} ({}) to check it: {e}",
                        primary.display(),
                        target.peer,
                        target.address
                    ))
                })?,
            (_, Some(dev)) => Arc::new(link::LocalLink { dev: dev.clone() }),
            _ => unreachable!("a local secondary has its device"),
        };
        if link.size() < size {
            return Err(Error::invalid(
                subject(pr),
                format!(
                    "the secondary {} has {} bytes, fewer than the primary's {}; use a secondary at least as large",
                    secondary_name(&secondary),
                    link.size(),
                    size
                ),
            ));
        }
        // Everything checked: write the scoreboard, then the configuration.
        let state = if spec.volumes_equal {
            MirrorState::Replicating
        } else {
            MirrorState::NeedSync
        };
        let pname = primary.display().to_string();
        let sname = secondary_name(&secondary);
        let bname = scoreboard.display().to_string();
        let gname = spec.group.clone().unwrap_or_default();
        let sb = Scoreboard::create(
            sbvol,
            size,
            [&pname, &sname, &bname, &gname],
            !spec.volumes_equal,
            state,
        )?;
        let group = Self::group_core(&mut st, &spec.group);
        let ctl = Ctl {
            state,
            mode: spec.mode,
            options: spec.options.clone(),
            link: Some(link),
            link_state: LinkState::Up,
            last_error: None,
            when_synced: spec.volumes_equal.then(SystemTime::now),
            flags: 0,
            job: None,
            autosync: None,
            disabled: false,
            protected: false,
        };
        let m = MirrorCore::new(
            primary.clone(),
            local,
            secondary,
            scoreboard,
            sb,
            ctl,
            group.clone(),
            self.inner.bus.clone(),
            self.hooks(),
            local_secondary,
        );
        st.mirrors.insert(primary.clone(), m.clone());
        if let Err(e) = self.save_mirror_change(&st) {
            st.mirrors.remove(&primary);
            let _ = m.sb.write_lifecycle(bitmap::LIFE_INVALID);
            return Err(e);
        }
        group.add(&m);
        m.set_replicating(spec.volumes_equal);
        tracing::info!(mirror = %primary.display(), state = state_name(state), "mirror enabled");
        self.publish(EngineEvent::MirrorCreated { primary });
        Ok(m.info())
    }

    /// Checks the secondary: under the roots, free, not open, not another
    /// mirror's; returns it canonical.
    fn check_secondary(
        &self,
        st: &mut St,
        sec: &Secondary,
        primary: &Path,
        scoreboard: &Path,
    ) -> Result<Secondary> {
        match sec {
            Secondary::Local(p) => {
                let c = self.resolve_in(p, "secondary", primary)?;
                if c == primary || c == scoreboard {
                    return Err(Error::invalid(
                        subject(primary),
                        "primary, secondary and scoreboard must be three different volumes",
                    ));
                }
                if let Some(role) = Self::role_of(st, &c) {
                    if role.starts_with("secondary of mirror") {
                        return Err(Error::in_use(
                            &c,
                            role,
                            "a volume is the target of one mirror only; choose another secondary",
                        ));
                    }
                    return Err(Error::in_use(
                        &c,
                        role,
                        format!(
                            "cannot be the secondary of mirror {}; choose another volume",
                            primary.display()
                        ),
                    ));
                }
                if self.clients_at(&c) > 0 {
                    return Err(Error::in_use(
                        &c,
                        "open by NBD clients",
                        "the mirror would change it under them; disconnect them first",
                    ));
                }
                Self::check_no_plain_handle(st, &c, primary)?;
                Ok(Secondary::Local(c))
            }
            Secondary::Remote { volume, target } => {
                if !volume.is_absolute() {
                    return Err(Error::invalid(
                        subject(primary),
                        "the remote secondary volume must be an absolute path",
                    ));
                }
                for m in st.mirrors.values() {
                    if let Secondary::Remote {
                        volume: v,
                        target: t,
                    } = &m.secondary
                    {
                        if v == volume && (t.address == target.address || t.peer == target.peer) {
                            return Err(Error::in_use(
                                volume,
                                format!("secondary of mirror {}", m.primary.display()),
                                format!("{} on {} is the target of one mirror only; choose another secondary", volume.display(), target.peer),
                            ));
                        }
                    }
                }
                Ok(sec.clone())
            }
        }
    }

    /// Stops and forgets the mirror of `primary` (the volumes and the
    /// scoreboard stay).
    pub fn disable_mirror(&self, primary: &Path) -> Result<()> {
        let mut st = self.st();
        let m = match self.find_mirror(&st, primary) {
            Ok(m) => m,
            Err(e) => {
                let key = self
                    .inner
                    .roots
                    .resolve(primary)
                    .unwrap_or_else(|_| primary.to_path_buf());
                if st.mirrors_offline.remove(&key).is_some() {
                    self.save(&st)?;
                    self.publish(EngineEvent::MirrorDeleted { primary: key });
                    return Ok(());
                }
                return Err(e);
            }
        };
        let job = m.retire();
        m.set_replicating(false);
        m.group.queue.purge();
        if let Some(h) = job {
            drop(st);
            let _ = h.join();
            st = self.st();
        }
        st.mirrors.remove(&m.primary);
        if let Err(e) = self.save(&st) {
            st.mirrors.insert(m.primary.clone(), m.clone());
            m.ctl().disabled = false;
            return Err(e);
        }
        m.group.remove(&m);
        if m.group.is_empty() {
            if let Some(n) = &m.group.name {
                st.mirror_groups.remove(n);
            }
            m.group.stop();
        }
        let _ = m.sb.write_lifecycle(bitmap::LIFE_INVALID);
        tracing::info!(mirror = %m.primary.display(), "mirror disabled");
        self.publish(EngineEvent::MirrorDeleted {
            primary: m.primary.clone(),
        });
        Ok(())
    }

    /// Every mirror whose primary is on this host.
    pub fn mirrors(&self) -> Vec<MirrorInfo> {
        let st = self.st();
        let mut v: Vec<MirrorInfo> = st.mirrors.values().map(|m| m.info()).collect();
        v.extend(st.mirrors_offline.values().map(|(r, e)| offline_info(r, e)));
        v
    }

    /// One mirror, by primary volume (as given or canonical).
    pub fn mirror_info(&self, primary: &Path) -> Result<MirrorInfo> {
        let st = self.st();
        match self.find_mirror(&st, primary) {
            Ok(m) => Ok(m.info()),
            Err(e) => {
                let key = self
                    .inner
                    .roots
                    .resolve(primary)
                    .unwrap_or_else(|_| primary.to_path_buf());
                st.mirrors_offline
                    .get(&key)
                    .map(|(r, err)| offline_info(r, err))
                    .ok_or(e)
            }
        }
    }

    /// Starts a full or update sync, forward or reverse; returns once it
    /// runs (see [`Engine::mirror_wait`]). A reverse sync is refused while
    /// NBD clients hold the primary (it would change under them).
    pub fn mirror_sync(&self, primary: &Path, kind: SyncKind, dir: SyncDirection) -> Result<()> {
        let m = {
            let st = self.st();
            let m = self.find_mirror(&st, primary)?;
            if dir == SyncDirection::Reverse && self.clients_at(&m.primary) > 0 {
                return Err(Error::in_use(
                    &m.primary,
                    "open by NBD clients",
                    "a reverse sync would change the primary under them; disconnect them first",
                ));
            }
            m
        };
        jobs::start(&m, kind, dir)
    }

    /// Drops the mirror's whole consistency group to logging. Also the
    /// operator's answer to a frozen mirror: writes flow again, tracked.
    pub fn mirror_logging(&self, primary: &Path) -> Result<()> {
        let m = self.mirror(primary)?;
        m.group
            .drop_to_logging("logging requested by the operator", false);
        for g in m.group.members() {
            let mut c = g.ctl();
            if c.flags & FL_FROZEN != 0 {
                c.flags &= !FL_FROZEN;
                g.commit_ctl(&c);
            }
        }
        Ok(())
    }

    /// Switches sync/async while running.
    pub fn mirror_set_mode(&self, primary: &Path, mode: MirrorMode) -> Result<()> {
        let st = self.st();
        let m = self.find_mirror(&st, primary)?;
        let old = std::mem::replace(&mut m.ctl().mode, mode);
        if old == mode {
            return Ok(());
        }
        if let Err(e) = self.save(&st) {
            m.ctl().mode = old;
            return Err(e);
        }
        self.publish(EngineEvent::MirrorModified {
            primary: m.primary.clone(),
        });
        Ok(())
    }

    /// Changes the tunables while running.
    pub fn mirror_set_options(&self, primary: &Path, options: MirrorOptions) -> Result<()> {
        let st = self.st();
        let m = self.find_mirror(&st, primary)?;
        check_options(&m.primary, &options)?;
        let old = std::mem::replace(&mut m.ctl().options, options);
        if let Err(e) = self.save(&st) {
            m.ctl().options = old;
            return Err(e);
        }
        m.changed.notify_all();
        self.publish(EngineEvent::MirrorModified {
            primary: m.primary.clone(),
        });
        drop(st);
        // Autosync switched on while behind: start trying now.
        let c = m.ctl();
        let go = c.options.autosync
            && c.link.is_none()
            && matches!(c.state, MirrorState::Logging | MirrorState::NeedSync)
            && c.flags & (FL_FENCED | FL_SPLIT) == 0;
        drop(c);
        if go {
            link::start_autosync(&m);
        }
        Ok(())
    }

    /// Waits until the mirror replicates with nothing out of step (`true`),
    /// or the timeout passes / it drops to logging or fails (`false`).
    pub fn mirror_wait(&self, primary: &Path, timeout: Option<Duration>) -> Result<bool> {
        let m = self.mirror(primary)?;
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        loop {
            let state = m.ctl().state;
            match state {
                MirrorState::Syncing | MirrorState::ReverseSyncing => {}
                MirrorState::Replicating => {
                    m.flush_clears(false);
                    if m.in_step() && m.sb.bits.count() == 0 {
                        return Ok(true);
                    }
                }
                _ => return Ok(false),
            }
            let step = Duration::from_millis(20);
            let wait = match deadline {
                Some(d) => {
                    let now = std::time::Instant::now();
                    if now >= d {
                        return Ok(false);
                    }
                    (d - now).min(step)
                }
                None => step,
            };
            let c = m.ctl();
            let _ = m.changed.wait_timeout(c, wait);
        }
    }

    /// Role reversal, step 1 on the old primary's host: fences the primary
    /// (host writes refused with EPERM, the group drops to logging, the
    /// scoreboard is kept), or lifts the fence. Persistent.
    pub fn mirror_fence(&self, primary: &Path, fenced: bool) -> Result<()> {
        let m = self.mirror(primary)?;
        if fenced {
            m.group
                .drop_to_logging("primary fenced for a role reversal", false);
        }
        let mut c = m.ctl();
        if fenced {
            c.flags |= FL_FENCED;
        } else {
            c.flags &= !FL_FENCED;
        }
        m.commit_ctl(&c);
        Ok(())
    }

    /// The chunks marked in the scoreboard (where the sides may differ),
    /// ascending: what the new primary must copy after a role reversal.
    pub fn mirror_dirty_chunks(&self, primary: &Path) -> Result<Vec<u64>> {
        let m = self.mirror(primary)?;
        m.flush_clears(false);
        let mut v = Vec::new();
        let mut c = 0;
        while let Some(n) = m.sb.bits.next_set(c) {
            v.push(n);
            c = n + 1;
        }
        Ok(v)
    }

    /// Role reversal, on the new primary's host: merges the other side's
    /// scoreboard (its [`Engine::mirror_dirty_chunks`]). If this side has
    /// marked chunks of its own too, both sides were written while apart:
    /// the mirror goes to need-sync with both scoreboards kept (durably)
    /// and no sync starts until an operator starts one, choosing the
    /// direction. Otherwise the chunks are simply marked.
    pub fn mirror_merge_peer(&self, primary: &Path, chunks: &[u64]) -> Result<MirrorInfo> {
        let m = self.mirror(primary)?;
        if let Some(&c) = chunks.iter().find(|&&c| c >= m.chunks()) {
            return Err(Error::invalid(
                subject(&m.primary),
                format!("chunk {c} is past the volume's {} chunks", m.chunks()),
            ));
        }
        if chunks.is_empty() {
            return Ok(m.info());
        }
        m.flush_clears(false);
        let ours = m.sb.bits.count() > 0;
        if ours {
            m.group
                .drop_to_logging("both sides were written while apart", false);
            for &c in chunks {
                m.sb.peer.set(c);
            }
            m.sb.write_all()?;
            let mut c = m.ctl();
            c.state = MirrorState::NeedSync;
            c.flags |= FL_SPLIT;
            c.last_error = Some(
                "split brain: both sides were written while apart; choose a direction (forward or reverse sync)".into(),
            );
            m.commit_ctl(&c);
            drop(c);
            self.publish(EngineEvent::MirrorAlert {
                primary: m.primary.clone(),
                link_lost: false,
                reason: "split brain: both sides were written while apart".into(),
            });
        } else {
            for &c in chunks {
                m.sb.bits.set(c);
            }
            m.sb.write_all()?;
            m.group
                .drop_to_logging("the peer's changes must be copied", false);
        }
        Ok(m.info())
    }

    /// `protectTarget` on a target host (the provider of
    /// `DS_IIMirrorTarget.protect()` calls it for a claimed volume): a
    /// dependent snapshot of `volume` in `<its root>/.mirror-protect/`,
    /// kept if one exists. Returns the snapshot's shadow path.
    pub fn protect_volume(&self, volume: &Path, owner: &str) -> Result<PathBuf> {
        let v = self.resolve_volume(volume)?;
        let size = crate::volume::probe_size(&v).map_or(0, |x| x.0);
        self.protect_local(Path::new(owner), &v, size)?;
        Ok(self.protect_paths(&v)?.0)
    }

    /// Drops what [`Engine::protect_volume`] took (nothing if none).
    pub fn unprotect_volume(&self, volume: &Path) -> Result<()> {
        let v = self.resolve_volume(volume)?;
        self.unprotect_local(&v)
    }

    /// Takes the protect snapshot of a local secondary: a dependent set in
    /// `<root>/.mirror-protect/` (kept if one exists already: then the
    /// secondary has not been in step since it was taken).
    fn protect_local(&self, primary: &Path, sec: &Path, size: u64) -> Result<()> {
        let (shadow, bmp) = self.protect_paths(sec)?;
        if self.set_info(&shadow).is_ok() {
            return Ok(());
        }
        let dir = shadow.parent().expect("protect folder");
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mk = |p: &Path, len: u64| -> Result<()> {
            let f = std::fs::File::create(p).map_err(|e| Error::io(p, e))?;
            f.set_len(len).map_err(|e| Error::io(p, e))
        };
        mk(&shadow, size)?;
        mk(
            &bmp,
            Geometry::new(size.div_ceil(CHUNK_SIZE), false).required(),
        )?;
        let r = self.enable_set(SetSpec {
            master: sec.to_path_buf(),
            shadow: shadow.clone(),
            bitmap: bmp.clone(),
            kind: SetKind::Dependent,
            name: Some(format!("protect of mirror {}", primary.display())),
            ..Default::default()
        });
        if let Err(e) = r {
            let _ = std::fs::remove_file(&shadow);
            let _ = std::fs::remove_file(&bmp);
            return Err(e);
        }
        tracing::info!(secondary = %sec.display(), snapshot = %shadow.display(), "secondary protected");
        Ok(())
    }

    fn unprotect_local(&self, sec: &Path) -> Result<()> {
        let (shadow, bmp) = self.protect_paths(sec)?;
        if self.set_info(&shadow).is_ok() {
            self.disable_set(&shadow)?;
        }
        let _ = std::fs::remove_file(&shadow);
        let _ = std::fs::remove_file(&bmp);
        Ok(())
    }

    /// Shadow and bitmap of the protect snapshot of a local secondary.
    pub fn protect_paths(&self, sec: &Path) -> Result<(PathBuf, PathBuf)> {
        let root = self
            .inner
            .roots
            .list()
            .iter()
            .find(|r| sec.starts_with(r))
            .ok_or_else(|| Error::AccessDenied {
                path: sec.to_path_buf(),
                reason: "not under a volume root".into(),
            })?;
        let name = sec
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stem = format!("{name}-{:016x}", fnv(sec.as_os_str().as_encoded_bytes()));
        let dir = root.join(PROTECT_DIR);
        Ok((
            dir.join(format!("{stem}.shadow")),
            dir.join(format!("{stem}.bitmap")),
        ))
    }

    /// Brings a configured mirror back at open. A mirror that was
    /// replicating comes back logging (its marked chunks need an update
    /// sync), an interrupted sync as need-sync, an interrupted reverse sync
    /// as need-reverse-sync; never replicating.
    pub(super) fn restore_mirror(&self, st: &mut St, r: &MirrorRecord) -> Result<()> {
        let (_, local) = self.device_plain(st, &r.primary)?;
        let size = local.size();
        let sbvol = Arc::new(Volume::open(&r.scoreboard)?);
        let (sb, stored) = Scoreboard::open(sbvol, size)?;
        if stored.crashed {
            tracing::warn!(mirror = %r.primary.display(), "the previous run did not shut down in order; the scoreboard's bits stand for every write that may have been in flight");
        }
        let state = match stored.state {
            MirrorState::Replicating | MirrorState::Logging => MirrorState::Logging,
            MirrorState::Syncing | MirrorState::NeedSync => MirrorState::NeedSync,
            MirrorState::ReverseSyncing | MirrorState::NeedReverseSync => {
                MirrorState::NeedReverseSync
            }
            MirrorState::Failed => MirrorState::Failed,
        };
        let local_secondary = match &r.secondary {
            Secondary::Local(p) => {
                let m = Self::master_for(st, p)?;
                Some(Arc::new(MasterDevice(m)) as Arc<dyn BlockDevice>)
            }
            Secondary::Remote { .. } => None,
        };
        let group = Self::group_core(st, &r.group);
        let when =
            (stored.when_synced > 0).then(|| UNIX_EPOCH + Duration::from_secs(stored.when_synced));
        let protected = match &r.secondary {
            Secondary::Local(p) => self
                .protect_paths(p)
                .is_ok_and(|(s, _)| st.sets.contains_key(&s)),
            Secondary::Remote { .. } => false,
        };
        let ctl = Ctl {
            state,
            mode: r.mode,
            options: r.options.clone(),
            link: None,
            link_state: LinkState::Down,
            last_error: (state != stored.state).then(|| {
                format!(
                    "restored after a restart while {}; a sync is needed",
                    state_name(stored.state)
                )
            }),
            when_synced: when,
            flags: stored.flags & (FL_FENCED | FL_FROZEN | FL_SPLIT),
            job: None,
            autosync: None,
            disabled: false,
            protected,
        };
        let m = MirrorCore::new(
            r.primary.clone(),
            local,
            r.secondary.clone(),
            r.scoreboard.clone(),
            sb,
            ctl,
            group.clone(),
            self.inner.bus.clone(),
            self.hooks(),
            local_secondary,
        );
        {
            let c = m.ctl();
            m.commit_ctl(&c);
        }
        // Torn or unsynced pages may have been rebuilt: write them back.
        m.sb.write_all()?;
        group.add(&m);
        st.mirrors.insert(r.primary.clone(), m.clone());
        Ok(())
    }

    /// After open: mirrors with autosync try their link and update-sync.
    pub(super) fn start_restored_mirrors(&self, st: &St) {
        for m in st.mirrors.values() {
            let c = m.ctl();
            let go = c.options.autosync
                && matches!(c.state, MirrorState::Logging | MirrorState::NeedSync)
                && c.flags & (FL_FENCED | FL_SPLIT) == 0;
            drop(c);
            if go {
                link::start_autosync(m);
            }
        }
    }
}

/// A configured mirror that could not be restored.
fn offline_info(r: &MirrorRecord, err: &str) -> MirrorInfo {
    MirrorInfo {
        primary: r.primary.clone(),
        secondary: r.secondary.clone(),
        scoreboard: r.scoreboard.clone(),
        size: crate::volume::probe_size(&r.primary).map_or(0, |x| x.0),
        mode: r.mode,
        state: MirrorState::Failed,
        link: LinkState::Down,
        percent_synchronized: 0.0,
        bytes_behind: 0,
        queue_depth: 0,
        dirty_chunks: 0,
        last_error: Some(format!("could not be restored: {err}")),
        when_synchronized: None,
        group: r.group.clone(),
        options: r.options.clone(),
    }
}

/// The configuration record of a running mirror.
pub(super) fn record_of_mirror(m: &MirrorCore) -> MirrorRecord {
    let c = m.ctl();
    MirrorRecord {
        primary: m.primary.clone(),
        secondary: m.secondary.clone(),
        scoreboard: m.scoreboard_path.clone(),
        mode: c.mode,
        group: m.group.name.clone(),
        options: c.options.clone(),
    }
}

/// Orderly shutdown of every mirror: jobs and senders stopped, cleared
/// bits written, headers clean (the state stays as it was; restore turns
/// replicating into logging, since the queue is not kept).
pub(super) fn shutdown_mirrors(mirrors: &[Arc<MirrorCore>]) {
    for m in mirrors {
        if let Some(h) = m.retire() {
            if h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
        m.flush_clears(true);
        m.set_replicating(false);
        m.group.queue.purge();
        let _ = m.sb.write_lifecycle(bitmap::LIFE_CLEAN);
    }
    for m in mirrors {
        m.group.stop();
    }
}
