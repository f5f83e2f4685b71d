//! The NBD export of `cimomd`: binds the server its configuration asks for
//! (address or Unix socket, TLS mode, certificates and client identities,
//! socket permissions) and describes the bound endpoint for `DS_Volume`
//! ([`providers::nbd_reach::NbdReach`]).

use crate::config::Config;
use crate::nbd_settings::{NbdListen, NbdSettings, NbdTlsMode};
use native::nbd::{AllowList, ListenAddr, NbdServer, NbdTls, SocketAccess, TlsFiles, TlsMode};
use native::ExportSource;
use providers::nbd_reach::NbdReach;
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
    Ok(Some((server, reach(Some(bound), s))))
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

/// The reach of a bound endpoint with these settings.
pub fn reach(listen: Option<NbdListen>, settings: &NbdSettings) -> NbdReach {
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
