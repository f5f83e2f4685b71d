//! The NBD export's settings: where it listens (TCP or a Unix socket), its
//! TLS mode, certificates and client identities, and the rule that keeps it
//! as well guarded as the CIM endpoint.
//!
//! | `--nbd-listen` | guard | needs |
//! |---|---|---|
//! | loopback `127.0.0.1:P` (default) | only local processes can connect | nothing |
//! | `unix:PATH` | file permissions: `--nbd-socket-mode`, `--nbd-socket-group` | nothing |
//! | any other address | TLS, optionally client certificates | `--nbd-tls require`, or `--insecure` |
//!
//! The flags ([`NbdArgs`], flattened into [`crate::config::Args`]) have the
//! same names as the `--config` file's keys (`nbd-tls = "require"`,
//! `nbd-tls-allow = ["backup.example"]`, ...).

use crate::config::parse_listen;
use cimom::Error;
pub use providers::nbd_reach::{NbdListen, NbdTlsMode};
use std::path::PathBuf;

/// The NBD flags of `cimomd` (also the `--config` keys of the same names).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct NbdArgs {
    /// NBD TLS: `off`, `on` (offered) or `require` (NBD_OPT_STARTTLS first) [default: off]
    #[arg(long, value_name = "MODE")]
    pub nbd_tls: Option<String>,
    /// PEM certificate chain for NBD TLS [default: --tls-cert]
    #[arg(long, value_name = "PEM")]
    pub nbd_tls_cert: Option<PathBuf>,
    /// PEM private key for NBD TLS [default: --tls-key]
    #[arg(long, value_name = "PEM")]
    pub nbd_tls_key: Option<PathBuf>,
    /// PEM CA certificates NBD client certificates must chain to (with --nbd-tls-verify-peer)
    #[arg(long, value_name = "PEM")]
    pub nbd_tls_ca: Option<PathBuf>,
    /// Require a client certificate signed by --nbd-tls-ca from every NBD TLS client
    #[arg(long)]
    pub nbd_tls_verify_peer: bool,
    /// Client identity (certificate subject CN or SAN) allowed on every export, or
    /// `EXPORT=IDENTITY` for one export (repeatable; needs --nbd-tls-verify-peer)
    #[arg(long, value_name = "ID")]
    pub nbd_tls_allow: Vec<String>,
    /// Permission bits of a `unix:` NBD socket, octal [default: 0660]
    #[arg(long, value_name = "MODE")]
    pub nbd_socket_mode: Option<String>,
    /// Group of a `unix:` NBD socket, name or number [default: cimomd's group]
    #[arg(long, value_name = "GROUP")]
    pub nbd_socket_group: Option<String>,
}

/// The validated NBD settings (besides the listen address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NbdSettings {
    /// TLS mode.
    pub tls: NbdTlsMode,
    /// Certificate chain (present unless TLS is off).
    pub cert: Option<PathBuf>,
    /// Private key (present unless TLS is off).
    pub key: Option<PathBuf>,
    /// CA for client certificates (present exactly when `verify_peer`).
    pub ca: Option<PathBuf>,
    /// Client certificates are required and verified.
    pub verify_peer: bool,
    /// Identities admitted to every export.
    pub allow_all: Vec<String>,
    /// `(export, identity)` pairs admitted to one export.
    pub allow_export: Vec<(String, String)>,
    /// Mode of a Unix socket.
    pub socket_mode: u32,
    /// Group of a Unix socket.
    pub socket_group: Option<String>,
}

impl Default for NbdSettings {
    fn default() -> Self {
        NbdSettings {
            tls: NbdTlsMode::Off,
            cert: None,
            key: None,
            ca: None,
            verify_peer: false,
            allow_all: Vec::new(),
            allow_export: Vec::new(),
            socket_mode: 0o660,
            socket_group: None,
        }
    }
}

fn config_error(msg: impl Into<String>) -> Error {
    Error::Config(msg.into())
}

/// Parses `--nbd-listen`: `IP:PORT`, `HOST:PORT`, `unix:PATH` or `off`.
pub fn parse_nbd_listen(text: &str) -> Result<Option<NbdListen>, Error> {
    let t = text.trim();
    if let Some(path) = t.strip_prefix("unix:") {
        if path.is_empty() {
            return Err(config_error("--nbd-listen unix: needs a socket path"));
        }
        let path = PathBuf::from(path);
        let path = if path.is_absolute() {
            path
        } else {
            std::env::current_dir()
                .map_err(|e| config_error(format!("--nbd-listen {t}: {e}")))?
                .join(path)
        };
        return Ok(Some(NbdListen::Unix(path)));
    }
    Ok(parse_listen("nbd-listen", t)?.map(NbdListen::Tcp))
}

/// Merges the NBD flags with the file's keys (flags win) and checks them
/// against the listen address. `tls_cert`/`tls_key` are the HTTPS files,
/// used when no NBD-specific ones are given; `insecure` is `--insecure`.
pub fn merge(
    args: &NbdArgs,
    file: NbdArgs,
    listen: Option<&NbdListen>,
    tls_cert: Option<&PathBuf>,
    tls_key: Option<&PathBuf>,
    insecure: bool,
) -> Result<NbdSettings, Error> {
    let tls = match args.nbd_tls.as_deref().or(file.nbd_tls.as_deref()) {
        None => NbdTlsMode::Off,
        Some(m) => match m.trim().to_ascii_lowercase().as_str() {
            "off" => NbdTlsMode::Off,
            "on" => NbdTlsMode::On,
            "require" => NbdTlsMode::Require,
            _ => {
                return Err(config_error(format!(
                    "--nbd-tls {m:?}: use off, on or require"
                )))
            }
        },
    };
    let verify_peer = args.nbd_tls_verify_peer || file.nbd_tls_verify_peer;
    let ca = args.nbd_tls_ca.clone().or(file.nbd_tls_ca);
    let allow = if args.nbd_tls_allow.is_empty() {
        file.nbd_tls_allow
    } else {
        args.nbd_tls_allow.clone()
    };
    let mut s = NbdSettings {
        tls,
        cert: None,
        key: None,
        ca: None,
        verify_peer,
        allow_all: Vec::new(),
        allow_export: Vec::new(),
        socket_mode: 0o660,
        socket_group: args.nbd_socket_group.clone().or(file.nbd_socket_group),
    };
    for entry in allow {
        let entry = entry.trim();
        match entry.split_once('=') {
            Some((export, id)) if export.starts_with('/') && !id.is_empty() => {
                s.allow_export.push((export.to_owned(), id.to_owned()))
            }
            _ if !entry.is_empty() && !entry.starts_with('/') => s.allow_all.push(entry.to_owned()),
            _ => {
                return Err(config_error(format!(
                    "--nbd-tls-allow {entry:?}: give IDENTITY, or /EXPORT/PATH=IDENTITY"
                )))
            }
        }
    }
    if let Some(m) = args
        .nbd_socket_mode
        .as_deref()
        .or(file.nbd_socket_mode.as_deref())
    {
        s.socket_mode = u32::from_str_radix(m.trim().trim_start_matches("0o"), 8)
            .ok()
            .filter(|m| *m <= 0o777)
            .ok_or_else(|| {
                config_error(format!(
                    "--nbd-socket-mode {m:?}: give octal permission bits such as 0660"
                ))
            })?;
    }
    let unix = matches!(listen, Some(NbdListen::Unix(_)));
    let socket_flags = args.nbd_socket_mode.is_some()
        || file.nbd_socket_mode.is_some()
        || s.socket_group.is_some();
    if socket_flags && !unix {
        return Err(config_error(
            "--nbd-socket-mode and --nbd-socket-group apply to --nbd-listen unix:PATH only",
        ));
    }
    if tls == NbdTlsMode::Off {
        if verify_peer || ca.is_some() || !s.allow_all.is_empty() || !s.allow_export.is_empty() {
            return Err(config_error(
                "--nbd-tls-ca, --nbd-tls-verify-peer and --nbd-tls-allow need --nbd-tls on or require",
            ));
        }
    } else {
        s.cert = args
            .nbd_tls_cert
            .clone()
            .or(file.nbd_tls_cert)
            .or(tls_cert.cloned());
        s.key = args
            .nbd_tls_key
            .clone()
            .or(file.nbd_tls_key)
            .or(tls_key.cloned());
        if s.cert.is_none() || s.key.is_none() {
            return Err(config_error(
                "--nbd-tls needs a certificate and key: --nbd-tls-cert and --nbd-tls-key, \
                 or --tls-cert and --tls-key",
            ));
        }
        match (verify_peer, ca) {
            (true, Some(ca)) => s.ca = Some(ca),
            (true, None) => return Err(config_error(
                "--nbd-tls-verify-peer needs --nbd-tls-ca (the CA that signs client certificates)",
            )),
            (false, Some(_)) => {
                return Err(config_error(
                    "--nbd-tls-ca is used only with --nbd-tls-verify-peer; give both",
                ))
            }
            (false, None) => {}
        }
        let has_allow_list = !s.allow_all.is_empty() || !s.allow_export.is_empty();
        if has_allow_list && !verify_peer {
            return Err(config_error(
                "--nbd-tls-allow checks client certificates: give --nbd-tls-verify-peer and --nbd-tls-ca",
            ));
        }
    }
    if let Some(NbdListen::Tcp(addr)) = listen {
        if !cimom::config::is_loopback(addr) && tls != NbdTlsMode::Require && !insecure {
            return Err(config_error(format!(
                "refusing --nbd-listen {addr} without TLS: an NBD endpoint beyond loopback \
                 serves every volume in use, readable and writable; give --nbd-tls require \
                 (with --nbd-tls-cert/--nbd-tls-key or --tls-cert/--tls-key), listen on \
                 loopback or unix:PATH, or --insecure"
            )));
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> NbdArgs {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct T {
            #[command(flatten)]
            a: NbdArgs,
        }
        T::parse_from(std::iter::once("t").chain(v.iter().copied())).a
    }

    fn tcp(a: &str) -> NbdListen {
        NbdListen::Tcp(a.parse().unwrap())
    }

    #[test]
    fn listen_forms() {
        assert_eq!(parse_nbd_listen("off").unwrap(), None);
        assert_eq!(
            parse_nbd_listen("unix:/run/ii.sock").unwrap(),
            Some(NbdListen::Unix("/run/ii.sock".into()))
        );
        assert!(parse_nbd_listen("unix:").is_err());
        assert_eq!(
            parse_nbd_listen("127.0.0.1:1").unwrap(),
            Some(tcp("127.0.0.1:1"))
        );
    }

    #[test]
    fn public_address_needs_required_tls_or_insecure() {
        let public = tcp("0.0.0.0:10809");
        let e = merge(
            &args(&[]),
            NbdArgs::default(),
            Some(&public),
            None,
            None,
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("--nbd-tls require") && e.contains("--insecure"),
            "{e}"
        );
        assert!(merge(
            &args(&[]),
            NbdArgs::default(),
            Some(&public),
            None,
            None,
            true
        )
        .is_ok());
        let on = args(&[
            "--nbd-tls",
            "on",
            "--nbd-tls-cert",
            "c",
            "--nbd-tls-key",
            "k",
        ]);
        assert!(merge(&on, NbdArgs::default(), Some(&public), None, None, false).is_err());
        let req = args(&["--nbd-tls", "require"]);
        let c = PathBuf::from("c.pem");
        let s = merge(
            &req,
            NbdArgs::default(),
            Some(&public),
            Some(&c),
            Some(&c),
            false,
        )
        .unwrap();
        assert_eq!(s.tls, NbdTlsMode::Require);
        assert_eq!(s.cert.as_deref(), Some(c.as_path()));
        let lo = tcp("127.0.0.1:10809");
        assert!(merge(&args(&[]), NbdArgs::default(), Some(&lo), None, None, false).is_ok());
        let unix = NbdListen::Unix("/tmp/s".into());
        assert!(merge(
            &args(&[]),
            NbdArgs::default(),
            Some(&unix),
            None,
            None,
            false
        )
        .is_ok());
    }

    #[test]
    fn tls_details_are_checked() {
        let lo = tcp("127.0.0.1:1");
        let m = |v: &[&str]| merge(&args(v), NbdArgs::default(), Some(&lo), None, None, false);
        assert!(m(&["--nbd-tls", "sometimes"]).is_err());
        assert!(m(&["--nbd-tls", "on"]).is_err()); // no certificate
        let base = [
            "--nbd-tls",
            "require",
            "--nbd-tls-cert",
            "c",
            "--nbd-tls-key",
            "k",
        ];
        assert!(m(&[&base[..], &["--nbd-tls-verify-peer"]].concat()).is_err());
        assert!(m(&[&base[..], &["--nbd-tls-ca", "ca"]].concat()).is_err());
        assert!(m(&[&base[..], &["--nbd-tls-allow", "x"]].concat()).is_err());
        let s = m(&[
            &base[..],
            &[
                "--nbd-tls-verify-peer",
                "--nbd-tls-ca",
                "ca",
                "--nbd-tls-allow",
                "alice",
                "--nbd-tls-allow",
                "/v/a=bob",
            ],
        ]
        .concat())
        .unwrap();
        assert_eq!(s.allow_all, vec!["alice".to_owned()]);
        assert_eq!(s.allow_export, vec![("/v/a".to_owned(), "bob".to_owned())]);
        assert!(m(&["--nbd-tls-verify-peer"]).is_err()); // TLS off
        assert!(m(&["--nbd-socket-mode", "0600"]).is_err()); // not a unix socket
    }

    #[test]
    fn socket_mode_is_octal() {
        let unix = NbdListen::Unix("/tmp/s".into());
        let m = |v: &[&str]| merge(&args(v), NbdArgs::default(), Some(&unix), None, None, false);
        assert_eq!(
            m(&["--nbd-socket-mode", "0600"]).unwrap().socket_mode,
            0o600
        );
        assert!(m(&["--nbd-socket-mode", "999"]).is_err());
        assert_eq!(
            m(&["--nbd-socket-group", "disk"])
                .unwrap()
                .socket_group
                .as_deref(),
            Some("disk")
        );
    }
}
