//! The other hosts a mirror's secondary may live on, as the providers see
//! them: a [`Peers`] directory that `cimomd` builds from its peers file
//! (`--peers FILE`) and implements with the client crate, so that this crate
//! keeps its invariant of no HTTP of its own.
//!
//! The `DS_IIMirror` provider asks a peer three things, all before or while
//! it enables a mirror: what a volume there is ([`Peers::volume`], the peer's
//! `DS_Volume`), to claim it for the mirror ([`Peers::claim`], CreateInstance
//! of the peer's `DS_IIMirrorTarget`) and to release it ([`Peers::release`]);
//! a role reversal also creates the new primary's mirror there and calls
//! its methods ([`Peers::create_instance`], [`Peers::invoke`]).
//! A peer's CIM error keeps its status code, so a secondary outside the
//! peer's volume roots is `CIM_ERR_ACCESS_DENIED` here as well.

use async_trait::async_trait;
use cim::ops::ParamValue;
use cim::{Instance, ObjectPath, StatusCode};
use native::mirror::RemoteTls;

/// How to reach one peer's data side (its NBD export).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// Name, as in the peers file and `DS_IIMirror.secondaryHost`.
    pub name: String,
    /// NBD address, `host:port`.
    pub nbd_address: String,
    /// STARTTLS settings for NBD; `None` for plain TCP.
    pub nbd_tls: Option<RemoteTls>,
}

/// A volume on a peer, as its `DS_Volume` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteVolume {
    /// Canonical path on the peer.
    pub path: String,
    /// Size in bytes.
    pub capacity: u64,
    /// `""` when free, else its use there.
    pub used_by: String,
}

/// A failed request to a peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{description}")]
pub struct PeerError {
    /// The peer's CIM status, or `CIM_ERR_FAILED` when it could not be
    /// reached.
    pub status: StatusCode,
    /// What went wrong (the peer's description, or the connection error).
    pub description: String,
}

impl PeerError {
    /// A failure to reach or understand the peer.
    pub fn failed(description: impl Into<String>) -> PeerError {
        PeerError {
            status: StatusCode::Failed,
            description: description.into(),
        }
    }
}

/// The peers this host knows.
#[async_trait]
pub trait Peers: Send + Sync {
    /// This host's name as its peers know it (the owner of its claims).
    fn local_name(&self) -> String;
    /// The peer called `name`, or `None`.
    fn peer(&self, name: &str) -> Option<PeerInfo>;
    /// Every peer's name (for the message about an unknown one).
    fn names(&self) -> Vec<String>;
    /// The peer's `DS_Volume` at `path`.
    async fn volume(&self, peer: &str, path: &str) -> Result<RemoteVolume, PeerError>;
    /// Claims `volume` on `peer` for the mirror `owner`, with `token`.
    async fn claim(
        &self,
        peer: &str,
        volume: &str,
        owner: &str,
        token: &str,
    ) -> Result<(), PeerError>;
    /// Releases the claim of `volume` on `peer` (a claim that is gone
    /// already is not an error).
    async fn release(&self, peer: &str, volume: &str) -> Result<(), PeerError>;
    /// Creates an instance on `peer` (role reversal: the new primary's
    /// `DS_IIMirror`); returns its path.
    async fn create_instance(
        &self,
        peer: &str,
        instance: Instance,
    ) -> Result<ObjectPath, PeerError>;
    /// Invokes a method on `peer` that returns `true` on success.
    async fn invoke(
        &self,
        peer: &str,
        path: &ObjectPath,
        method: &str,
        params: Vec<ParamValue>,
    ) -> Result<(), PeerError>;
}

/// No peers (no `--peers` file): every remote secondary is an unknown peer.
#[derive(Debug, Clone, Default)]
pub struct NoPeers;

#[async_trait]
impl Peers for NoPeers {
    fn local_name(&self) -> String {
        local_host_name()
    }
    fn peer(&self, _name: &str) -> Option<PeerInfo> {
        None
    }
    fn names(&self) -> Vec<String> {
        Vec::new()
    }
    async fn volume(&self, peer: &str, _path: &str) -> Result<RemoteVolume, PeerError> {
        Err(PeerError::failed(format!("unknown peer {peer}")))
    }
    async fn claim(&self, peer: &str, _: &str, _: &str, _: &str) -> Result<(), PeerError> {
        Err(PeerError::failed(format!("unknown peer {peer}")))
    }
    async fn release(&self, peer: &str, _: &str) -> Result<(), PeerError> {
        Err(PeerError::failed(format!("unknown peer {peer}")))
    }
    async fn create_instance(&self, peer: &str, _: Instance) -> Result<ObjectPath, PeerError> {
        Err(PeerError::failed(format!("unknown peer {peer}")))
    }
    async fn invoke(
        &self,
        peer: &str,
        _: &ObjectPath,
        _: &str,
        _: Vec<ParamValue>,
    ) -> Result<(), PeerError> {
        Err(PeerError::failed(format!("unknown peer {peer}")))
    }
}

/// The kernel's host name (`/proc/sys/kernel/hostname`), or `localhost`.
pub fn local_host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// A fresh secret for a claim: 128 random bits from the kernel, as hex.
pub fn fresh_token() -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_fresh_hex() {
        let a = fresh_token().unwrap();
        let b = fresh_token().unwrap();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
