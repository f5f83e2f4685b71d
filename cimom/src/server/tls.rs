//! TLS for the HTTPS endpoint: loading the PEM certificate chain and key
//! into a rustls server configuration (ring provider, TLS 1.2 and 1.3,
//! ALPN `http/1.1`).

use crate::config::TlsFiles;
use crate::Error;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io::BufReader;
use std::sync::Arc;

/// Builds the acceptor from the configured files.
pub fn acceptor(files: &TlsFiles) -> Result<tokio_rustls::TlsAcceptor, Error> {
    let certs = load_certs(files)?;
    let key = load_key(files)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            Error::Tls(format!(
                "certificate {} and key {} do not fit together: {e}",
                files.cert.display(),
                files.key.display()
            ))
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

fn open(path: &std::path::Path) -> Result<BufReader<std::fs::File>, Error> {
    std::fs::File::open(path)
        .map(BufReader::new)
        .map_err(|e| Error::Tls(format!("cannot read {}: {e}", path.display())))
}

fn load_certs(files: &TlsFiles) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = rustls_pemfile::certs(&mut open(&files.cert)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Tls(format!("{}: {e}", files.cert.display())))?;
    if certs.is_empty() {
        return Err(Error::Tls(format!(
            "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            files.cert.display()
        )));
    }
    Ok(certs)
}

fn load_key(files: &TlsFiles) -> Result<PrivateKeyDer<'static>, Error> {
    rustls_pemfile::private_key(&mut open(&files.key)?)
        .map_err(|e| Error::Tls(format!("{}: {e}", files.key.display())))?
        .ok_or_else(|| Error::Tls(format!("{} holds no PEM private key", files.key.display())))
}
