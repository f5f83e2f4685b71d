//! NBD over TLS (`NBD_OPT_STARTTLS`): the server's rustls configuration, the
//! client identities a certificate carries, and who may open which export.
//!
//! The protocol document's "TLS support" section: the client sends
//! `NBD_OPT_STARTTLS` (no data), the server answers `NBD_REP_ACK`, and both
//! run a TLS handshake on the same stream; negotiation then starts over
//! (options only, no new greeting) inside TLS. A server in *require* mode
//! answers every other option before TLS with `NBD_REP_ERR_TLS_REQD` (except
//! `NBD_OPT_ABORT`, which it acknowledges); `NBD_OPT_EXPORT_NAME`, which
//! cannot carry an error, closes the connection. STARTTLS once TLS is
//! running is `NBD_REP_ERR_INVALID`.
//!
//! Client identities are the subject common names and the subject
//! alternative names (DNS names, e-mail addresses, URIs, IP addresses as
//! text) of a verified client certificate; they are read with a small DER
//! walker over the certificate rustls has already verified (RFC 5280 §4.1:
//! `Certificate ::= SEQUENCE { tbsCertificate, ... }`, `TBSCertificate ::=
//! SEQUENCE { [0] version, serial, signature, issuer, validity, subject,
//! subjectPublicKeyInfo, [1], [2], [3] extensions }`).
//!
//! The server side here is what any NBD server of the engine uses, the
//! continuous-copy mirror link included: build an [`NbdTls`] and hand it to
//! [`super::NbdServer::with_tls`].

use crate::error::{Error, Result};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Whether and how the server offers TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// No TLS: STARTTLS is answered `NBD_REP_ERR_UNSUP`.
    #[default]
    Off,
    /// TLS offered: clients may upgrade, or stay in plain text.
    On,
    /// TLS required before anything else (`NBD_REP_ERR_TLS_REQD`).
    Require,
}

impl std::str::FromStr for TlsMode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<TlsMode, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" | "no" | "false" => Ok(TlsMode::Off),
            "on" | "yes" | "true" => Ok(TlsMode::On),
            "require" | "required" => Ok(TlsMode::Require),
            other => Err(format!(
                "{other:?} is not a TLS mode: use off, on or require"
            )),
        }
    }
}

impl std::fmt::Display for TlsMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TlsMode::Off => "off",
            TlsMode::On => "on",
            TlsMode::Require => "require",
        })
    }
}

/// The files of the server's TLS configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// PEM CA certificates that client certificates must chain to; when
    /// set, every TLS client must present a valid certificate.
    pub client_ca: Option<PathBuf>,
}

/// Which client identities may connect, and which may open which export.
///
/// `all` empty: any client the TLS layer accepted may connect. An export in
/// `per_export`: only the identities listed there (and in `all`, when that
/// is not empty) may open it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    /// Identities admitted to every export.
    pub all: Vec<String>,
    /// Export name to the identities admitted to it.
    pub per_export: HashMap<String, Vec<String>>,
}

impl AllowList {
    /// True when no rule is configured.
    pub fn is_empty(&self) -> bool {
        self.all.is_empty() && self.per_export.is_empty()
    }

    /// May a client with these identities connect at all?
    pub fn admits(&self, identities: &[String]) -> bool {
        self.all.is_empty() || identities.iter().any(|i| self.all.contains(i))
    }

    /// May a client with these identities open `export`?
    pub fn admits_to(&self, export: &str, identities: &[String]) -> bool {
        if !self.admits(identities) {
            return false;
        }
        match self.per_export.get(export) {
            None => true,
            Some(list) => identities.iter().any(|i| list.contains(i)),
        }
    }
}

/// The TLS side of an NBD server.
#[derive(Clone)]
pub struct NbdTls {
    /// Off, on or require.
    pub mode: TlsMode,
    pub(crate) acceptor: Option<tokio_rustls::TlsAcceptor>,
    /// Identity rules (need client certificates to mean anything).
    pub allow: AllowList,
    /// Client certificates are requested and verified.
    pub verify_peer: bool,
}

impl std::fmt::Debug for NbdTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NbdTls")
            .field("mode", &self.mode)
            .field("verify_peer", &self.verify_peer)
            .field("allow", &self.allow)
            .finish()
    }
}

impl NbdTls {
    /// No TLS at all.
    pub fn off() -> NbdTls {
        NbdTls {
            mode: TlsMode::Off,
            acceptor: None,
            allow: AllowList::default(),
            verify_peer: false,
        }
    }

    /// Loads the certificate, key and (optionally) client CA files.
    /// `mode` must not be [`TlsMode::Off`] (use [`NbdTls::off`]).
    pub fn from_files(mode: TlsMode, files: &TlsFiles, allow: AllowList) -> Result<NbdTls> {
        if mode == TlsMode::Off {
            return Ok(NbdTls::off());
        }
        if !allow.is_empty() && files.client_ca.is_none() {
            return Err(config_error(
                "NBD TLS allow-list",
                "identities can only be checked with client certificates: give a client CA",
            ));
        }
        let certs = read_certs(&files.cert)?;
        let key = read_key(&files.key)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| config_error("NBD TLS", &e.to_string()))?;
        let builder = match &files.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for c in read_certs(ca)? {
                    roots
                        .add(c)
                        .map_err(|e| config_error(&subject(ca), &e.to_string()))?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .map_err(|e| config_error(&subject(ca), &e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = builder.with_single_cert(certs, key).map_err(|e| {
            config_error(
                &subject(&files.cert),
                &format!("does not fit the key {}: {e}", files.key.display()),
            )
        })?;
        Ok(NbdTls {
            mode,
            acceptor: Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))),
            allow,
            verify_peer: files.client_ca.is_some(),
        })
    }
}

fn subject(path: &Path) -> String {
    format!("NBD TLS file {}", path.display())
}

fn config_error(subject: &str, cause: &str) -> Error {
    Error::InvalidParameter {
        subject: subject.to_owned(),
        cause: cause.to_owned(),
    }
}

fn pem_reader(path: &Path) -> Result<std::io::BufReader<std::fs::File>> {
    std::fs::File::open(path)
        .map(std::io::BufReader::new)
        .map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })
}

pub(crate) fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<_> = rustls_pemfile::certs(&mut pem_reader(path)?)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| config_error(&subject(path), &e.to_string()))?;
    if certs.is_empty() {
        return Err(config_error(&subject(path), "holds no PEM certificate"));
    }
    Ok(certs)
}

pub(crate) fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    rustls_pemfile::private_key(&mut pem_reader(path)?)
        .map_err(|e| config_error(&subject(path), &e.to_string()))?
        .ok_or_else(|| config_error(&subject(path), "holds no PEM private key"))
}

// ---------------------------------------------------------------------------
// Identities in a DER certificate.

/// One DER element: tag, contents, and the bytes after it.
fn der_next(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = b.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &d| (acc << 8) | usize::from(d));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The elements of a constructed value.
fn der_items(mut b: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    std::iter::from_fn(move || {
        let (tag, content, rest) = der_next(b)?;
        b = rest;
        Some((tag, content))
    })
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const OCTET_STRING: u8 = 0x04;
/// 2.5.4.3, commonName.
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
/// 2.5.29.17, subjectAltName.
const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];

/// The client identities of a DER certificate: subject common names, then
/// subject alternative names. Malformed parts are skipped.
pub fn certificate_identities(der: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let Some((SEQUENCE, cert, _)) = der_next(der) else {
        return out;
    };
    let Some((SEQUENCE, tbs, _)) = der_next(cert) else {
        return out;
    };
    let mut fields: Vec<(u8, &[u8])> = der_items(tbs).collect();
    // The optional [0] version comes first.
    if fields.first().is_some_and(|(t, _)| *t == 0xa0) {
        fields.remove(0);
    }
    // serial, signature, issuer, validity, subject, spki, then [1] [2] [3].
    if let Some((SEQUENCE, subject)) = fields.get(4) {
        for (tag, rdn) in der_items(subject) {
            if tag != SET {
                continue;
            }
            for (tag, atv) in der_items(rdn) {
                if tag != SEQUENCE {
                    continue;
                }
                let mut parts = der_items(atv);
                if let (Some((OID, OID_COMMON_NAME)), Some((_, value))) =
                    (parts.next(), parts.next())
                {
                    out.push(String::from_utf8_lossy(value).into_owned());
                }
            }
        }
    }
    for (tag, content) in fields.iter().skip(6) {
        if *tag != 0xa3 {
            continue;
        }
        let Some((SEQUENCE, exts, _)) = der_next(content) else {
            continue;
        };
        for (tag, ext) in der_items(exts) {
            if tag != SEQUENCE {
                continue;
            }
            let parts: Vec<(u8, &[u8])> = der_items(ext).collect();
            if parts.first() != Some(&(OID, OID_SUBJECT_ALT_NAME)) {
                continue;
            }
            let Some((OCTET_STRING, value)) = parts.last().copied() else {
                continue;
            };
            let Some((SEQUENCE, names, _)) = der_next(value) else {
                continue;
            };
            for (tag, name) in der_items(names) {
                match tag {
                    // rfc822Name, dNSName, uniformResourceIdentifier
                    0x81 | 0x82 | 0x86 => out.push(String::from_utf8_lossy(name).into_owned()),
                    // iPAddress
                    0x87 => {
                        if let Ok(v4) = <[u8; 4]>::try_from(name) {
                            out.push(std::net::Ipv4Addr::from(v4).to_string());
                        } else if let Ok(v6) = <[u8; 16]>::try_from(name) {
                            out.push(std::net::Ipv6Addr::from(v6).to_string());
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse() {
        assert_eq!("Require".parse::<TlsMode>().unwrap(), TlsMode::Require);
        assert_eq!("on".parse::<TlsMode>().unwrap(), TlsMode::On);
        assert_eq!("off".parse::<TlsMode>().unwrap(), TlsMode::Off);
        assert!("maybe".parse::<TlsMode>().is_err());
    }

    #[test]
    fn allow_list_rules() {
        let mut a = AllowList::default();
        let alice = vec!["alice".to_owned()];
        let bob = vec!["bob".to_owned(), "bob.example".to_owned()];
        assert!(a.admits(&[]) && a.admits_to("/v/x", &[]));
        a.per_export
            .insert("/v/x".into(), vec!["bob.example".into()]);
        assert!(a.admits_to("/v/y", &alice));
        assert!(!a.admits_to("/v/x", &alice));
        assert!(a.admits_to("/v/x", &bob));
        a.all = vec!["alice".into()];
        assert!(!a.admits(&bob));
        assert!(a.admits(&alice));
        assert!(!a.admits_to("/v/x", &alice));
    }

    #[test]
    fn garbage_certificates_yield_no_identities() {
        assert!(certificate_identities(b"").is_empty());
        assert!(certificate_identities(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_empty());
        assert!(certificate_identities(&[0x30, 0x03, 0x30, 0x01, 0x00]).is_empty());
    }
}
