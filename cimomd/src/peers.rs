//! The peers file (`--peers FILE`): how this `cimomd` reaches the other
//! hosts its mirrors write to, and the two things built from it — the
//! providers' [`Peers`] directory (claims through the peer's object
//! manager, with the client crate) and the engine's [`LinkFactory`]
//! (data through the NBD client, `protectTarget` snapshots through the
//! peer's object manager).
//!
//! # Format (TOML)
//!
//! ```toml
//! # This host's name as its peers know it: the owner of its claims there
//! # ("<name>:<primary volume>"). Default: the kernel's host name.
//! name = "hosta"
//!
//! [[peer]]
//! name = "hostb"                        # DS_IIMirror.secondaryHost
//! cim-url = "https://hostb:5989"        # the peer's cimomd (CIM-XML)
//! nbd-address = "hostb:10809"           # the peer's NBD export
//! user = "mirror"                       # optional: Basic auth on cim-url
//! password-file = "/etc/cimomd/hostb.pw" # optional: first line is the password
//! ca = "/etc/cimomd/hostb-ca.pem"       # optional: CA for https and NBD TLS
//! nbd-tls = true                        # optional: STARTTLS on the NBD link (needs ca)
//! nbd-tls-name = "hostb"                # optional: name checked in its certificate
//!                                       # (default: the host of nbd-address)
//! nbd-tls-cert = "/etc/cimomd/me.pem"   # optional: client certificate and key,
//! nbd-tls-key = "/etc/cimomd/me.key"    #   when the peer verifies clients
//! ```
//!
//! Unknown keys are refused; a peer named twice, `localhost` as a peer
//! name, a missing `cim-url` or `nbd-address`, `nbd-tls` without `ca`, or an
//! unreadable password file stop `cimomd` with exit status 2.

use async_trait::async_trait;
use cim::ops::ParamValue;
use cim::{CimType, Instance, ObjectPath, StatusCode, Value};
use client::{Client, ClientConfig};
use native::mirror::{LinkFactory, MirrorLink, RemoteTarget, RemoteTls};
use providers::peers::{PeerError, PeerInfo, Peers, RemoteVolume};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The namespace of the peer's classes.
const NS: &str = "root/cimv2";

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct FileEntry {
    name: String,
    cim_url: String,
    nbd_address: String,
    user: Option<String>,
    password_file: Option<PathBuf>,
    ca: Option<PathBuf>,
    #[serde(default)]
    nbd_tls: bool,
    nbd_tls_name: Option<String>,
    nbd_tls_cert: Option<PathBuf>,
    nbd_tls_key: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct File {
    name: Option<String>,
    #[serde(default)]
    peer: Vec<FileEntry>,
}

/// One peer, resolved.
#[derive(Debug, Clone)]
pub struct Peer {
    /// Data side.
    pub info: PeerInfo,
    /// Its object manager.
    pub client: Client,
}

/// The loaded peers file.
#[derive(Debug, Clone, Default)]
pub struct PeersFile {
    /// This host's name for its peers.
    pub local_name: String,
    /// The peers.
    pub peers: Vec<Peer>,
}

impl PeersFile {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<PeersFile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the peers file {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("peers file {}: {e}", path.display()))
    }

    /// Parses a peers file's text.
    pub fn parse(text: &str) -> Result<PeersFile, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut peers: Vec<Peer> = Vec::new();
        for e in file.peer {
            if e.name.is_empty() || e.name.eq_ignore_ascii_case("localhost") {
                return Err(format!(
                    "peer name {:?} is not allowed (\"localhost\" means this host)",
                    e.name
                ));
            }
            if peers
                .iter()
                .any(|p| p.info.name.eq_ignore_ascii_case(&e.name))
            {
                return Err(format!("peer {} is named twice", e.name));
            }
            let host = e
                .nbd_address
                .rsplit_once(':')
                .map(|(h, _)| h.trim_matches(['[', ']']).to_owned())
                .filter(|h| !h.is_empty())
                .ok_or_else(|| {
                    format!(
                        "peer {}: nbd-address {:?} must be HOST:PORT",
                        e.name, e.nbd_address
                    )
                })?;
            let nbd_tls = if e.nbd_tls {
                let ca = e.ca.clone().ok_or_else(|| {
                    format!(
                        "peer {}: nbd-tls needs ca (the CA of its certificate)",
                        e.name
                    )
                })?;
                Some(RemoteTls {
                    ca,
                    cert: e.nbd_tls_cert.clone(),
                    key: e.nbd_tls_key.clone(),
                    server_name: e.nbd_tls_name.clone().unwrap_or(host),
                })
            } else {
                None
            };
            let mut cfg = ClientConfig::new(e.cim_url.clone());
            cfg.user = e.user.clone();
            if let Some(pw) = &e.password_file {
                cfg = cfg
                    .with_password_file(pw)
                    .map_err(|err| format!("peer {}: {err}", e.name))?;
            }
            cfg.ca_file = e.ca.clone();
            cfg.timeout = Some(Duration::from_secs(60));
            let client = Client::new(cfg).map_err(|err| format!("peer {}: {err}", e.name))?;
            peers.push(Peer {
                info: PeerInfo {
                    name: e.name,
                    nbd_address: e.nbd_address,
                    nbd_tls,
                },
                client,
            });
        }
        Ok(PeersFile {
            local_name: file.name.unwrap_or_else(providers::peers::local_host_name),
            peers,
        })
    }

    fn find(&self, name: &str) -> Option<&Peer> {
        self.peers
            .iter()
            .find(|p| p.info.name.eq_ignore_ascii_case(name))
    }

    fn client(&self, name: &str) -> Result<&Client, PeerError> {
        self.find(name)
            .map(|p| &p.client)
            .ok_or_else(|| PeerError::failed(format!("unknown peer {name}")))
    }
}

/// A client error as a peer error: a CIM error keeps its status.
fn peer_error(peer: &str, err: client::Error) -> PeerError {
    match err {
        client::Error::Cim(e) => PeerError {
            status: e.status,
            description: format!("peer {peer}: {}", e.description),
        },
        other => PeerError::failed(format!("peer {peer}: {other}")),
    }
}

fn target_path(volume: &str) -> ObjectPath {
    ObjectPath::class(Some(NS), "DS_IIMirrorTarget")
        .with_key("volume", Value::String(volume.to_owned()))
}

/// The providers' view of the peers file.
#[derive(Debug, Clone)]
pub struct PeerDirectory(pub Arc<PeersFile>);

#[async_trait]
impl Peers for PeerDirectory {
    fn local_name(&self) -> String {
        self.0.local_name.clone()
    }

    fn peer(&self, name: &str) -> Option<PeerInfo> {
        self.0.find(name).map(|p| p.info.clone())
    }

    fn names(&self) -> Vec<String> {
        self.0.peers.iter().map(|p| p.info.name.clone()).collect()
    }

    async fn volume(&self, peer: &str, path: &str) -> Result<RemoteVolume, PeerError> {
        let client = self.0.client(peer)?;
        let p = ObjectPath::class(Some(NS), "DS_Volume")
            .with_key("path", Value::String(path.to_owned()));
        let inst = client
            .get_instance(&p)
            .await
            .map_err(|e| peer_error(peer, e))?;
        Ok(RemoteVolume {
            path: inst.get_str("path").unwrap_or(path).to_owned(),
            capacity: inst.get("capacity").and_then(|v| v.as_i128()).unwrap_or(0) as u64,
            used_by: inst.get_str("usedBy").unwrap_or_default().to_owned(),
        })
    }

    async fn claim(
        &self,
        peer: &str,
        volume: &str,
        owner: &str,
        token: &str,
    ) -> Result<(), PeerError> {
        let client = self.0.client(peer)?;
        let s = |v: &str| Value::String(v.to_owned());
        let inst = Instance::new("DS_IIMirrorTarget")
            .with("volume", CimType::String, s(volume))
            .with("owner", CimType::String, s(owner))
            .with("token", CimType::String, s(token));
        client
            .create_instance(NS, inst)
            .await
            .map(|_| ())
            .map_err(|e| peer_error(peer, e))
    }

    async fn release(&self, peer: &str, volume: &str) -> Result<(), PeerError> {
        let client = self.0.client(peer)?;
        match client.delete_instance(&target_path(volume)).await {
            Ok(()) => Ok(()),
            Err(client::Error::Cim(e)) if e.status == StatusCode::NotFound => Ok(()),
            Err(e) => Err(peer_error(peer, e)),
        }
    }

    async fn create_instance(
        &self,
        peer: &str,
        instance: Instance,
    ) -> Result<ObjectPath, PeerError> {
        let client = self.0.client(peer)?;
        client
            .create_instance(NS, instance)
            .await
            .map_err(|e| peer_error(peer, e))
    }

    async fn invoke(
        &self,
        peer: &str,
        path: &ObjectPath,
        method: &str,
        params: Vec<ParamValue>,
    ) -> Result<(), PeerError> {
        let client = self.0.client(peer)?;
        let r = client
            .invoke(path, method, params)
            .await
            .map_err(|e| peer_error(peer, e))?;
        match r.return_value {
            Value::Boolean(true) => Ok(()),
            other => Err(PeerError::failed(format!(
                "peer {peer}: {method} returned {other:?} instead of true"
            ))),
        }
    }
}

/// The engine's links: data through `data` (the NBD client), target
/// snapshots through the peer's `DS_IIMirrorTarget.protect()`.
pub struct PeerLinks {
    peers: Arc<PeersFile>,
    data: Option<Arc<dyn LinkFactory>>,
    runtime: tokio::runtime::Handle,
}

impl PeerLinks {
    /// Links over `peers`; `data` opens the NBD connections (`None`: this
    /// build has no NBD client and remote mirrors cannot connect).
    pub fn new(
        peers: Arc<PeersFile>,
        data: Option<Arc<dyn LinkFactory>>,
        runtime: tokio::runtime::Handle,
    ) -> PeerLinks {
        PeerLinks {
            peers,
            data,
            runtime,
        }
    }

    /// Calls `method` on the peer's claim of `volume`, blocking; runs on a
    /// thread of its own so that it never blocks inside the runtime.
    fn call_target(
        &self,
        target: &RemoteTarget,
        volume: &Path,
        method: &str,
    ) -> native::Result<()> {
        let fail = |e: String| native::Error::Precondition(e);
        let client = self
            .peers
            .client(&target.peer)
            .map_err(|e| fail(e.to_string()))?
            .clone();
        let path = target_path(&volume.to_string_lossy());
        let method = method.to_owned();
        let peer = target.peer.clone();
        let rt = self.runtime.clone();
        let what = format!("{method} of mirror target {} on {peer}", volume.display());
        std::thread::scope(|s| {
            s.spawn(move || {
                rt.block_on(client.invoke(&path, &method, Vec::<ParamValue>::new()))
                    .map(|_| ())
                    .map_err(|e| peer_error(&peer, e))
            })
            .join()
            .unwrap_or_else(|_| Err(PeerError::failed("the peer call panicked")))
        })
        .map_err(|e| fail(format!("{what}: {e}")))
    }
}

impl LinkFactory for PeerLinks {
    fn connect(
        &self,
        target: &RemoteTarget,
        timeout: Duration,
    ) -> native::Result<Arc<dyn MirrorLink>> {
        match &self.data {
            Some(d) => d.connect(target, timeout),
            None => Err(native::Error::Precondition(format!(
                "cannot connect to {} at {}: this cimomd has no NBD client",
                target.peer, target.address
            ))),
        }
    }

    fn protect(&self, target: &RemoteTarget, volume: &Path) -> native::Result<()> {
        self.call_target(target, volume, "protect")
    }

    fn unprotect(&self, target: &RemoteTarget, volume: &Path) -> native::Result<()> {
        self.call_target(target, volume, "unprotect")
    }
}

/// The NBD client's link factory (`native::nbd::client::NbdLinks`, which
/// owns a small runtime of its own).
pub fn nbd_links() -> anyhow::Result<Option<Arc<dyn LinkFactory>>> {
    let links = native::nbd::client::NbdLinks::new()
        .map_err(|e| anyhow::anyhow!("cannot start the mirror NBD client: {e}"))?;
    Ok(Some(Arc::new(links)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_peers_and_defaults() {
        let f = PeersFile::parse(
            r#"
name = "a"
[[peer]]
name = "b"
cim-url = "http://127.0.0.1:5990"
nbd-address = "127.0.0.1:10810"
"#,
        )
        .unwrap();
        assert_eq!(f.local_name, "a");
        let d = PeerDirectory(Arc::new(f));
        let b = d.peer("B").unwrap();
        assert_eq!(b.nbd_address, "127.0.0.1:10810");
        assert!(b.nbd_tls.is_none());
        assert_eq!(d.names(), vec!["b".to_owned()]);
        assert!(d.peer("c").is_none());
    }

    #[test]
    fn refuses_bad_files() {
        for (text, want) in [
            ("[[peer]]\nname = \"b\"\nnbd-address = \"h:1\"\n", "cim-url"),
            (
                "[[peer]]\nname = \"b\"\ncim-url = \"http://h\"\nnbd-address = \"h:1\"\nnbd-tls = true\n",
                "needs ca",
            ),
            (
                "[[peer]]\nname = \"localhost\"\ncim-url = \"http://h\"\nnbd-address = \"h:1\"\n",
                "localhost",
            ),
            (
                "[[peer]]\nname = \"b\"\ncim-url = \"http://h\"\nnbd-address = \"h:1\"\n[[peer]]\nname = \"B\"\ncim-url = \"http://h\"\nnbd-address = \"h:1\"\n",
                "twice",
            ),
            ("colour = 1\n", "unknown field"),
            (
                "[[peer]]\nname = \"b\"\ncim-url = \"http://h\"\nnbd-address = \"nohost\"\n",
                "HOST:PORT",
            ),
        ] {
            let e = PeersFile::parse(text).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn tls_peers_get_a_server_name() {
        let f = PeersFile::parse(
            "[[peer]]\nname = \"b\"\ncim-url = \"http://h:5988\"\nnbd-address = \"hostb:10809\"\nca = \"/ca.pem\"\nnbd-tls = true\n",
        )
        .unwrap();
        let tls = f.peers[0].info.nbd_tls.clone().unwrap();
        assert_eq!(tls.server_name, "hostb");
        assert_eq!(tls.ca, PathBuf::from("/ca.pem"));
    }
}
