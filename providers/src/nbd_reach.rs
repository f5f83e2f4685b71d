//! How the volumes in use are reachable over NBD: the URIs `DS_Volume`
//! reports in `nbdURIs`, and the guard in `nbdAccess`. The host (`cimomd`)
//! binds the endpoint and describes it with an [`NbdReach`].
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

use std::fmt::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Where the NBD export listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NbdListen {
    /// A TCP address.
    Tcp(SocketAddr),
    /// A Unix-domain socket (absolute path).
    Unix(PathBuf),
}

impl std::fmt::Display for NbdListen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NbdListen::Tcp(a) => write!(f, "{a}"),
            NbdListen::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// NBD TLS mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NbdTlsMode {
    /// No TLS.
    #[default]
    Off,
    /// TLS offered; plain text still accepted.
    On,
    /// TLS before anything else.
    Require,
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
            // Canonical: an IPv4-mapped loopback address is loopback too.
            Some(NbdListen::Tcp(a)) if a.ip().to_canonical().is_loopback() => {
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
