//! How the volumes in use are reachable over NBD: the URIs `DS_Volume`
//! reports in `nbdURIs`, and the guard in `nbdAccess`.
//!
//! URI forms (the NBD project's `doc/uri.md`; the export name is the
//! volume's absolute path, so the URI path starts with two slashes):
//!
//! | endpoint | URI |
//! |---|---|
//! | TCP, TLS off | `nbd://127.0.0.1:10809//vols/a.img` |
//! | TCP, TLS on | the `nbd://` and the `nbds://` form |
//! | TCP, TLS required | `nbds://HOST:PORT//vols/a.img` |
//! | Unix socket | `nbd+unix:////vols/a.img?socket=/run/ii/nbd.sock` (`nbds+unix` with TLS) |

use cimom::config::Config;
use cimom::nbd_settings::{NbdListen, NbdSettings, NbdTlsMode};
use native::nbd::{AllowList, ListenAddr, NbdServer, NbdTls, SocketAccess, TlsFiles, TlsMode};
use native::ExportSource;
use std::fmt::Write;
use std::sync::Arc;

/// Binds the NBD server `config` asks for, with its TLS and socket settings:
/// the server (not yet running) and its reach. `None` when NBD is off.
/// Warns when the endpoint is beyond loopback without required TLS (which
/// the configuration only allows with `--insecure`).
pub async fn bind(
    config: &Config,
    source: Arc<dyn ExportSource>,
) -> Result<Option<(NbdServer, NbdReach)>, String> {
    let Some(listen) = &config.nbd_listen else {
        return Ok(None);
    };
    let s = &config.nbd;
    let tls = tls_of(s)?;
    let addr = match listen {
        NbdListen::Tcp(a) => ListenAddr::Tcp(*a),
        NbdListen::Unix(p) => ListenAddr::Unix(p.clone()),
    };
    let gid = match &s.socket_group {
        None => None,
        Some(g) => Some(group_id(g)?),
    };
    let access = SocketAccess {
        mode: Some(s.socket_mode),
        gid,
    };
    let server = NbdServer::bind_to(&addr, &access, source)
        .await
        .map_err(|e| format!("cannot listen for NBD on {addr}: {e}"))?
        .with_tls(tls);
    let bound = match server.listen_addr().map_err(|e| e.to_string())? {
        ListenAddr::Tcp(a) => NbdListen::Tcp(a),
        ListenAddr::Unix(p) => NbdListen::Unix(p),
    };
    if let NbdListen::Tcp(a) = &bound {
        if !cimom::config::is_loopback(a) && s.tls != NbdTlsMode::Require {
            tracing::warn!(
                addr = %a,
                "NBD endpoint beyond loopback without required TLS (--insecure): \
                 anyone who can reach it can read and write every volume in use"
            );
        }
    }
    Ok(Some((server, NbdReach::new(Some(bound), s))))
}

fn tls_of(s: &NbdSettings) -> Result<NbdTls, String> {
    let mode = match s.tls {
        NbdTlsMode::Off => return Ok(NbdTls::off()),
        NbdTlsMode::On => TlsMode::On,
        NbdTlsMode::Require => TlsMode::Require,
    };
    let (Some(cert), Some(key)) = (&s.cert, &s.key) else {
        return Err("NBD TLS needs a certificate and a key".into());
    };
    let mut allow = AllowList {
        all: s.allow_all.clone(),
        ..AllowList::default()
    };
    for (export, id) in &s.allow_export {
        allow
            .per_export
            .entry(export.clone())
            .or_default()
            .push(id.clone());
    }
    let files = TlsFiles {
        cert: cert.clone(),
        key: key.clone(),
        client_ca: s.ca.clone(),
    };
    NbdTls::from_files(mode, &files, allow).map_err(|e| e.to_string())
}

/// A group name or number to its id (names from /etc/group).
fn group_id(group: &str) -> Result<u32, String> {
    if let Ok(gid) = group.parse::<u32>() {
        return Ok(gid);
    }
    let text = std::fs::read_to_string("/etc/group")
        .map_err(|e| format!("--nbd-socket-group {group}: cannot read /etc/group: {e}"))?;
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let gid = f.nth(1)?.parse::<u32>().ok()?;
            (name == group).then_some(gid)
        })
        .next()
        .ok_or_else(|| format!("--nbd-socket-group {group}: no such group in /etc/group"))
}

/// The NBD endpoint of this cimomd, as clients see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NbdReach {
    /// Where the server listens (the bound address, real port); `None`: off.
    pub listen: Option<NbdListen>,
    /// TLS mode.
    pub tls: NbdTlsMode,
    /// Client certificates verified.
    pub verify_peer: bool,
    /// Unix socket permissions, as text (`0660`, group).
    pub socket: String,
}

impl NbdReach {
    /// The reach of a bound endpoint with these settings.
    pub fn new(listen: Option<NbdListen>, settings: &NbdSettings) -> NbdReach {
        let socket = match &settings.socket_group {
            Some(g) => format!("mode {:04o}, group {g}", settings.socket_mode),
            None => format!("mode {:04o}", settings.socket_mode),
        };
        NbdReach {
            listen,
            tls: settings.tls,
            verify_peer: settings.verify_peer,
            socket,
        }
    }

    /// The URIs of one export (empty when NBD is off).
    pub fn uris(&self, export: &str) -> Vec<String> {
        let name = encode(export);
        let schemes: &[&str] = match self.tls {
            NbdTlsMode::Off => &["nbd"],
            NbdTlsMode::On => &["nbd", "nbds"],
            NbdTlsMode::Require => &["nbds"],
        };
        match &self.listen {
            None => Vec::new(),
            Some(NbdListen::Tcp(addr)) => schemes
                .iter()
                .map(|s| format!("{s}://{addr}/{name}"))
                .collect(),
            Some(NbdListen::Unix(path)) => schemes
                .iter()
                .map(|s| {
                    let sock = encode(&path.to_string_lossy());
                    format!("{s}+unix:///{name}?socket={sock}")
                })
                .collect(),
        }
    }

    /// What guards the endpoint, in words (empty when NBD is off).
    pub fn access(&self) -> String {
        let tls = match (self.tls, self.verify_peer) {
            (NbdTlsMode::Off, _) => "no TLS",
            (NbdTlsMode::On, false) => "TLS offered",
            (NbdTlsMode::On, true) => "TLS offered, client certificates verified",
            (NbdTlsMode::Require, false) => "TLS required",
            (NbdTlsMode::Require, true) => "TLS required, client certificates verified",
        };
        match &self.listen {
            None => String::new(),
            Some(NbdListen::Tcp(a)) if cimom::config::is_loopback(a) => {
                format!("loopback TCP, {tls}")
            }
            Some(NbdListen::Tcp(_)) => format!("network TCP, {tls}"),
            Some(NbdListen::Unix(_)) => format!("Unix socket ({}), {tls}", self.socket),
        }
    }
}

/// Percent-encodes everything but unreserved characters and `/`.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_forms() {
        let mut r = NbdReach {
            listen: Some(NbdListen::Tcp("127.0.0.1:10809".parse().unwrap())),
            ..Default::default()
        };
        assert_eq!(r.uris("/v/a b"), vec!["nbd://127.0.0.1:10809//v/a%20b"]);
        assert_eq!(r.access(), "loopback TCP, no TLS");
        r.tls = NbdTlsMode::On;
        assert_eq!(r.uris("/v/a").len(), 2);
        r.tls = NbdTlsMode::Require;
        r.listen = Some(NbdListen::Unix("/run/s.sock".into()));
        assert_eq!(r.uris("/v/a"), vec!["nbds+unix:////v/a?socket=/run/s.sock"]);
        r.listen = None;
        assert!(r.uris("/v/a").is_empty() && r.access().is_empty());
    }
}
