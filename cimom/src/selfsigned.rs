//! First-run HTTPS: with `--https-listen` and neither `--tls-cert` nor
//! `--tls-key`, `cimomd` uses a self-signed certificate kept in the state
//! directory, made on the first start (crate `rcgen`, ECDSA P-256):
//!
//! ```text
//! <state-dir>/tls/            mode 0700
//! <state-dir>/tls/cert.pem    PEM certificate, mode 0600
//! <state-dir>/tls/key.pem     PEM PKCS#8 private key, mode 0600
//! ```
//!
//! Subject alternative names: `localhost`, `127.0.0.1`, `::1` and the host
//! name. Later starts reuse the pair, so a client that pinned or trusted it
//! keeps working. The SHA-256 fingerprint (of the DER certificate, colon-
//! separated upper-case hex as `openssl x509 -fingerprint -sha256` prints it)
//! is printed at every start so that a client can pin it, and
//! `iiadm --ca-file <state-dir>/tls/cert.pem` trusts it.

use crate::config::TlsFiles;
use crate::Error;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The self-signed pair in use.
#[derive(Debug, Clone)]
pub struct SelfSigned {
    /// Where the certificate and key are.
    pub files: TlsFiles,
    /// SHA-256 fingerprint of the certificate.
    pub fingerprint: String,
    /// True when this call made them.
    pub created: bool,
}

/// Returns the pair under `<state_dir>/tls`, making it when missing.
pub fn ensure(state_dir: &Path) -> Result<SelfSigned, Error> {
    let dir = state_dir.join("tls");
    let files = TlsFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::Io { path, source }
    };
    let mut created = false;
    if !files.cert.exists() || !files.key.exists() {
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).map_err(io(&dir))?;
        let mut names = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ];
        if let Some(host) = host_name().filter(|h| h != "localhost") {
            names.push(host);
        }
        let pair = rcgen::generate_simple_self_signed(names)
            .map_err(|e| Error::Tls(format!("cannot make a self-signed certificate: {e}")))?;
        // Key first: a cert without its key is never left behind as "complete".
        write_private(&files.key, pair.key_pair.serialize_pem().as_bytes())?;
        write_private(&files.cert, pair.cert.pem().as_bytes())?;
        created = true;
    }
    let pem = std::fs::read(&files.cert).map_err(io(&files.cert))?;
    let der = rustls_pemfile::certs(&mut pem.as_slice())
        .next()
        .and_then(|c| c.ok())
        .ok_or_else(|| {
            Error::Tls(format!(
                "{} holds no PEM certificate: remove it and {} to make a new pair",
                files.cert.display(),
                files.key.display()
            ))
        })?;
    Ok(SelfSigned {
        files,
        fingerprint: fingerprint(der.as_ref()),
        created,
    })
}

/// `AB:CD:…` SHA-256 of `der`.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Writes `bytes` to `path` with mode 0600 from the first byte on (through a
/// temporary file renamed into place, so a crash leaves no half file).
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let tmp = path.with_extension("tmp");
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

fn host_name() -> Option<String> {
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let h = h.trim();
    (!h.is_empty()).then(|| h.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = ensure(dir.path()).unwrap();
        assert!(a.created);
        assert_eq!(a.fingerprint.len(), 32 * 3 - 1);
        for f in [&a.files.cert, &a.files.key] {
            let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", f.display());
        }
        let b = ensure(dir.path()).unwrap();
        assert!(!b.created);
        assert_eq!(a.fingerprint, b.fingerprint);
        // The pair loads as a server configuration.
        crate::server::tls_acceptor(&b.files).unwrap();
    }
}
