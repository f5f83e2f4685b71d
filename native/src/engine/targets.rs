//! The secondary side of a continuous-copy mirror: claims of volumes as
//! mirror targets, and the fence that lets only the claiming mirror's NBD
//! connection write them.
//!
//! A claim binds a volume to one owner (`<peer>:<primary volume>`) and a
//! secret token; it is persisted in `engine.json` (`targets`, FORMAT.md §3)
//! and restored at open. Its NBD export then answers two names:
//!
//! * `<absolute path>?mirror=<token>`: the owner's connection, writing
//!   through the normal device (copy-on-write still applies when the volume
//!   is the master of a set, so sessions can take point-in-time copies of a
//!   mirror target). A wrong token is refused at `NBD_OPT_GO` as an unknown
//!   export, with a warning in the log; tokens are compared in constant time.
//! * `<absolute path>`: anyone else; reads work, every write, trim and
//!   write-zeroes fails with EPERM naming the owner.
//!
//! The fence is decided when a connection opens the export: a claim is
//! refused while other NBD clients hold the volume, and an owner connection
//! loses its write right the moment the claim is released.

use super::{Engine, St};
use crate::blockdev::BlockDevice;
use crate::device::ClientDevice;
use crate::error::{Error, Result};
use crate::mirror::{TargetClaim, TargetInfo};
use crate::state::TargetRecord;
use crate::types::EngineEvent;
use crate::volume::probe_size;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// The part of an export name that carries a mirror token.
pub(crate) const TOKEN_MARK: &str = "?mirror=";

/// A claim while the engine runs.
pub(super) struct Target {
    pub claim: TargetClaim,
    /// Owner connections open now.
    conns: Arc<AtomicUsize>,
    /// Cleared at release: owner connections still open stop writing.
    valid: Arc<AtomicBool>,
}

impl Target {
    pub(super) fn new(claim: TargetClaim) -> Target {
        Target {
            claim,
            conns: Arc::default(),
            valid: Arc::new(AtomicBool::new(true)),
        }
    }
}

/// Compares two secrets in time independent of where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

fn check_claim(volume: &Path, claim: &TargetClaim) -> Result<()> {
    let subject = format!("mirror target claim of volume {}", volume.display());
    if claim.owner.trim().is_empty() || claim.owner.len() > 1024 {
        return Err(Error::invalid(
            subject,
            "the owner must be 1 to 1024 characters (<peer>:<primary volume>)",
        ));
    }
    if claim.owner.chars().any(char::is_control) {
        return Err(Error::invalid(
            subject,
            "the owner holds control characters",
        ));
    }
    let t = &claim.token;
    if t.len() < 16
        || t.len() > 256
        || !t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    {
        return Err(Error::invalid(
            subject,
            "the token must be 16 to 256 characters from A-Z a-z 0-9 - . _ ~ (it travels in an NBD export name)",
        ));
    }
    Ok(())
}

impl Engine {
    /// Claims `volume` as the secondary of one mirror (persisted): its NBD
    /// export then takes writes only from connections naming the claim's
    /// token. Claiming again for the same owner replaces the token.
    pub fn claim_target(&self, volume: &Path, claim: TargetClaim) -> Result<TargetInfo> {
        let p = self.inner.roots.resolve(volume)?;
        check_claim(&p, &claim)?;
        let mut st = self.st();
        if let Some(t) = st.targets.get(&p) {
            if t.claim.owner != claim.owner {
                return Err(Error::in_use(
                    &p,
                    format!("mirror target of {}", t.claim.owner),
                    format!(
                        "cannot claim it for {}; release the other claim first",
                        claim.owner
                    ),
                ));
            }
        } else if let Some(role) = Self::role_of(&st, &p) {
            if !role.starts_with("master of") {
                return Err(Error::in_use(
                    &p,
                    role,
                    format!(
                        "cannot be the mirror target of {}; choose another volume",
                        claim.owner
                    ),
                ));
            }
        }
        let Some((size, _)) = probe_size(&p) else {
            return Err(Error::invalid(
                format!("volume {}", p.display()),
                "not a regular file or block device whose size can be read",
            ));
        };
        if !st.targets.contains_key(&p) {
            let clients = self.clients_of(&p);
            if clients > 0 {
                return Err(Error::in_use(
                    &p,
                    format!("open by {clients} NBD client(s)"),
                    format!(
                        "cannot claim it as the mirror target of {} while other clients may write it; disconnect them first",
                        claim.owner
                    ),
                ));
            }
        }
        let old = st.targets.insert(p.clone(), Target::new(claim.clone()));
        if let Err(e) = self.save(&st) {
            match old {
                Some(o) => st.targets.insert(p.clone(), o),
                None => st.targets.remove(&p),
            };
            return Err(e);
        }
        if let Some(o) = old {
            // A new token: connections with the old one stop writing.
            o.valid.store(false, Ordering::Release);
        }
        drop(st);
        tracing::info!(volume = %p.display(), owner = %claim.owner, "mirror target claimed");
        self.publish(EngineEvent::TargetClaimed { volume: p.clone() });
        Ok(TargetInfo {
            volume: p,
            owner: claim.owner,
            size,
            connected: false,
        })
    }

    /// Releases a claim; the volume becomes an ordinary one again, and the
    /// owner's connections stop writing.
    pub fn release_target(&self, volume: &Path) -> Result<()> {
        let mut st = self.st();
        let key = if st.targets.contains_key(volume) {
            volume.to_path_buf()
        } else {
            self.inner.roots.resolve(volume)?
        };
        let Some(t) = st.targets.remove(&key) else {
            return Err(Error::NotFound {
                kind: "mirror target",
                name: volume.display().to_string(),
                hint: "the volume is not claimed as a mirror target on this host".into(),
            });
        };
        if let Err(e) = self.save(&st) {
            st.targets.insert(key, t);
            return Err(e);
        }
        t.valid.store(false, Ordering::Release);
        drop(st);
        tracing::info!(volume = %key.display(), owner = %t.claim.owner, "mirror target released");
        self.publish(EngineEvent::TargetReleased { volume: key });
        Ok(())
    }

    /// Every claimed target volume on this host.
    pub fn targets(&self) -> Vec<TargetInfo> {
        let st = self.st();
        st.targets
            .iter()
            .map(|(p, t)| TargetInfo {
                volume: p.clone(),
                owner: t.claim.owner.clone(),
                size: probe_size(p).map_or(0, |(s, _)| s),
                connected: t.conns.load(Ordering::Acquire) > 0,
            })
            .collect()
    }

    /// The role a claim gives `p`, for `usedBy`.
    pub(super) fn target_role(st: &St, p: &Path) -> Option<String> {
        st.targets
            .get(p)
            .map(|t| format!("mirror target of {}", t.claim.owner))
    }

    /// Opens the export of a claimed volume: `name` is the plain path or
    /// `<path>?mirror=<token>`. `None` when `name` is not about a claimed
    /// volume (the caller goes on with set volumes) or names a wrong token
    /// (`Some(None)`: refused).
    pub(super) fn open_target_export(
        &self,
        st: &mut St,
        name: &str,
    ) -> Option<Option<Arc<dyn BlockDevice>>> {
        let (path, token) = match name.find(TOKEN_MARK) {
            Some(i) => (&name[..i], Some(&name[i + TOKEN_MARK.len()..])),
            None => (name, None),
        };
        let path = Path::new(path);
        let Some(t) = st.targets.get(path) else {
            if token.is_some() {
                tracing::warn!(volume = %path.display(), "nbd export refused: a mirror token for a volume that is not claimed");
                return Some(None);
            }
            return None;
        };
        let (owner, valid, conns) = (t.claim.owner.clone(), t.valid.clone(), t.conns.clone());
        let granted = token.is_some_and(|tk| same_secret(tk, &t.claim.token));
        if token.is_some() && !granted {
            tracing::warn!(volume = %path.display(), %owner, "nbd export refused: wrong mirror token");
            return Some(None);
        }
        let (p, dev) = match self.device_in(st, path) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(volume = %path.display(), error = %e, "nbd export of a mirror target unavailable");
                return Some(None);
            }
        };
        let fenced: Arc<dyn BlockDevice> = if granted {
            Arc::new(Fenced::owner(dev, p.clone(), owner, valid, conns))
        } else {
            Arc::new(Fenced::foreign(dev, p.clone(), owner))
        };
        Some(Some(Arc::new(ClientDevice::new(
            fenced,
            self.client_counter(&p),
        ))))
    }
}

/// The claims as persisted.
pub(super) fn target_records(st: &St) -> Vec<TargetRecord> {
    st.targets
        .iter()
        .map(|(p, t)| TargetRecord {
            volume: p.clone(),
            owner: t.claim.owner.clone(),
            token: t.claim.token.clone(),
        })
        .collect()
}

/// A claimed volume's device as one NBD connection sees it.
struct Fenced {
    dev: Arc<dyn BlockDevice>,
    path: PathBuf,
    owner: String,
    /// `Some` for the owner's connection: writable while the claim stands.
    valid: Option<Arc<AtomicBool>>,
    conns: Option<Arc<AtomicUsize>>,
}

impl Fenced {
    fn owner(
        dev: Arc<dyn BlockDevice>,
        path: PathBuf,
        owner: String,
        valid: Arc<AtomicBool>,
        conns: Arc<AtomicUsize>,
    ) -> Fenced {
        conns.fetch_add(1, Ordering::AcqRel);
        Fenced {
            dev,
            path,
            owner,
            valid: Some(valid),
            conns: Some(conns),
        }
    }

    fn foreign(dev: Arc<dyn BlockDevice>, path: PathBuf, owner: String) -> Fenced {
        Fenced {
            dev,
            path,
            owner,
            valid: None,
            conns: None,
        }
    }

    fn may_write(&self) -> Result<()> {
        match &self.valid {
            Some(v) if v.load(Ordering::Acquire) => Ok(()),
            Some(_) => Err(Error::PermissionDenied {
                path: self.path.clone(),
                reason: format!(
                    "the mirror target claim of {} was released or renewed; this connection may no longer write",
                    self.owner
                ),
            }),
            None => Err(Error::PermissionDenied {
                path: self.path.clone(),
                reason: format!(
                    "the volume is the mirror target of {}; only that mirror's connection may write it",
                    self.owner
                ),
            }),
        }
    }
}

impl Drop for Fenced {
    fn drop(&mut self) {
        if let Some(c) = &self.conns {
            c.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl BlockDevice for Fenced {
    fn size(&self) -> u64 {
        self.dev.size()
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.dev.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64, fua: bool) -> Result<()> {
        self.may_write()?;
        self.dev.write_at(buf, offset, fua)
    }
    fn flush(&self) -> Result<()> {
        self.dev.flush()
    }
    fn trim(&self, offset: u64, len: u64) -> Result<()> {
        self.may_write()?;
        self.dev.trim(offset, len)
    }
    fn write_zeroes(&self, offset: u64, len: u64, fua: bool) -> Result<()> {
        self.may_write()?;
        self.dev.write_zeroes(offset, len, fua)
    }
}

#[cfg(test)]
mod tests {
    use super::same_secret;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abcdefghijklmnop", "abcdefghijklmnop"));
        assert!(!same_secret("abcdefghijklmnop", "abcdefghijklmnoq"));
        assert!(!same_secret("abcdefghijklmnop", "abcdefghijklmno"));
        assert!(!same_secret("", "a"));
        assert!(same_secret("", ""));
    }
}
