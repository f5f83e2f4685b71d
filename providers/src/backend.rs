//! The providers' shared handle on the engine.
//!
//! Engine calls are synchronous and some block for a while (a group copy
//! quiesces writes), so every call runs on tokio's blocking pool and never
//! stalls the object manager's request tasks. Waiting for a copy is not such
//! a call: [`Backend::job_end`] is a future that holds no thread. The
//! helpers here also resolve object paths of our classes to engine snapshots,
//! so that every provider reports a missing or mismatched object the same way.
//! It also carries what the mirror providers need beyond the engine: the
//! [`Peers`] directory.

use crate::convert::{key_string, set_type, DS_IIGROUP, DS_IIOVERFLOWVOL, DS_IISET};
use crate::error::{Error, Result};
use crate::peers::{NoPeers, Peers};
use cim::ObjectPath;
use native::{Engine, GroupInfo, OverflowInfo, SetInfo};
use std::path::PathBuf;
use std::sync::Arc;

/// A cheap, cloneable handle the providers share.
#[derive(Clone)]
pub struct Backend {
    engine: Engine,
    peers: Arc<dyn Peers>,
}

impl Backend {
    /// Wraps an engine (no peers).
    pub fn new(engine: Engine) -> Self {
        Backend {
            engine,
            peers: Arc::new(NoPeers),
        }
    }

    /// Reaches other hosts through `peers` (cimomd's `--peers` file).
    pub fn with_peers(mut self, peers: Arc<dyn Peers>) -> Self {
        self.peers = peers;
        self
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The peers directory.
    pub fn peers(&self) -> &Arc<dyn Peers> {
        &self.peers
    }

    /// Runs `f` on the blocking pool; an engine error becomes
    /// [`Error::Engine`] with `action` ("disable set /v/s").
    pub async fn call<T, F>(&self, action: impl Into<String>, f: F) -> Result<T>
    where
        F: FnOnce(&Engine) -> native::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let action = action.into();
        let engine = self.engine.clone();
        match tokio::task::spawn_blocking(move || f(&engine)).await {
            Ok(result) => result.map_err(|e| Error::engine(action, e)),
            Err(join) => Err(Error::Task {
                action,
                cause: join.to_string(),
            }),
        }
    }

    /// Resolves when no copy or update of set `shadow` runs; holds no
    /// thread while it waits.
    pub async fn job_end(&self, shadow: PathBuf) -> Result<()> {
        let end = self
            .call(format!("wait for set {}", shadow.display()), move |e| {
                e.job_end(&shadow)
            })
            .await?;
        end.await;
        Ok(())
    }

    /// Runs an infallible engine query on the blocking pool.
    pub async fn query<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Engine) -> T + Send + 'static,
        T: Send + 'static,
    {
        self.call("query the engine", move |e| Ok(f(e))).await
    }

    /// Refuses a volume path outside every volume root with
    /// `CIM_ERR_ACCESS_DENIED` before anything else looks at it — also when
    /// the path does not exist (the engine would say "not found", which tells
    /// a client what exists outside the roots). Nothing is opened: the check
    /// canonicalises the path, or its nearest existing ancestor.
    pub async fn check_volume(&self, path: &str, role: &str) -> Result<()> {
        let path = PathBuf::from(path);
        let action = format!("use {} as {role}", path.display());
        self.call(action, move |e| match e.resolve_volume(&path) {
            Ok(_) => Ok(()),
            Err(native::Error::NotFound { .. }) => {
                // The nearest existing ancestor decides: inside a root, the
                // volume is merely missing (the operation reports that).
                let existing = path.ancestors().skip(1).find(|a| a.exists());
                match existing.map(|a| e.resolve_volume(a)) {
                    Some(Err(native::Error::AccessDenied { .. })) => Err(native::Error::AccessDenied {
                        path: path.clone(),
                        reason: "it lies outside every volume root; use a volume under a configured --volume-root".into(),
                    }),
                    _ => Ok(()),
                }
            }
            Err(err @ native::Error::AccessDenied { .. }) => Err(err),
            // Anything else is for the operation itself to report.
            Err(_) => Ok(()),
        })
        .await
    }

    /// The set a `DS_IISet` path names. The `setType` key, when present, must
    /// match the set's type, else the instance does not exist.
    pub async fn set_for_path(&self, path: &ObjectPath) -> Result<SetInfo> {
        self.set_for_path_in(path, false).await
    }

    /// Like [`Backend::set_for_path`], but also finds an exported set whose
    /// shadow a local import took over (both share the shadow; the engine's
    /// per-shadow calls reach the import). Only reading such a set and
    /// `resume` (which joins the import) may use this.
    pub async fn set_for_path_or_taken_over(&self, path: &ObjectPath) -> Result<SetInfo> {
        self.set_for_path_in(path, true).await
    }

    async fn set_for_path_in(&self, path: &ObjectPath, taken_over: bool) -> Result<SetInfo> {
        if !path.class_name.is(DS_IISET) {
            return Err(Error::InvalidParameter(format!(
                "{path} is not a {DS_IISET} path"
            )));
        }
        let shadow = PathBuf::from(key_string(path, "shadowVolume")?);
        let wanted = path.key_str("setType").map(str::to_owned);
        let s2 = shadow.clone();
        let info = self
            .call(format!("find set {}", shadow.display()), move |e| {
                e.set_info(&s2)
            })
            .await?;
        match wanted {
            Some(t) if taken_over && !t.eq_ignore_ascii_case(set_type(&info)) => {
                // An exported set whose shadow a local import took over shares
                // the shadow with that import; the listing holds both.
                let s3 = info.shadow.clone();
                let all = self
                    .call(format!("find set {}", shadow.display()), move |e| {
                        Ok(e.sets())
                    })
                    .await?;
                all.into_iter()
                    .find(|i| i.shadow == s3 && t.eq_ignore_ascii_case(set_type(i)))
                    .ok_or_else(|| {
                        Error::NotFound(format!(
                            "no {DS_IISET} with shadowVolume {} and setType {t:?}: the set there is {}",
                            shadow.display(),
                            set_type(&info)
                        ))
                    })
            }
            Some(t) if !t.eq_ignore_ascii_case(set_type(&info)) => Err(Error::NotFound(format!(
                "no {DS_IISET} with shadowVolume {} and setType {t:?}: the set there is {}",
                shadow.display(),
                set_type(&info)
            ))),
            _ => Ok(info),
        }
    }

    /// The group a `DS_IIGroup` path names.
    pub async fn group_for_path(&self, path: &ObjectPath) -> Result<GroupInfo> {
        if !path.class_name.is(DS_IIGROUP) {
            return Err(Error::InvalidParameter(format!(
                "{path} is not a {DS_IIGROUP} path"
            )));
        }
        let name = key_string(path, "groupName")?;
        let n2 = name.clone();
        self.call(format!("find group {name}"), move |e| e.group_info(&n2))
            .await
    }

    /// The overflow volume a `DS_IIOverflowVol` path names.
    pub async fn overflow_for_path(&self, path: &ObjectPath) -> Result<OverflowInfo> {
        if !path.class_name.is(DS_IIOVERFLOWVOL) {
            return Err(Error::InvalidParameter(format!(
                "{path} is not a {DS_IIOVERFLOWVOL} path"
            )));
        }
        let ov = PathBuf::from(key_string(path, "overflowVolPath")?);
        let o2 = ov.clone();
        self.call(format!("find overflow volume {}", ov.display()), move |e| {
            e.overflow_info(&o2)
        })
        .await
    }
}
