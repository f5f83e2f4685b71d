//! The client's side of the fixed newstyle handshake: greeting, client
//! flags, `NBD_OPT_STARTTLS` (with the rustls client configuration built
//! from [`RemoteTls`]) and `NBD_OPT_GO`, up to the transmission phase.
//!
//! Everything the server sends is checked before it is believed: magics,
//! the option echoed in each reply, reply lengths (at most
//! [`MAX_OPTION_LEN`], so a hostile server cannot make us allocate), and
//! the layout of each `NBD_REP_INFO`. Any violation is an `InvalidData`
//! error; the caller closes the connection and names the address and export.

use crate::error::{Error, Result};
use crate::mirror::RemoteTls;
use crate::nbd::proto::*;
use crate::nbd::tls::{read_certs, read_key};
use rustls::pki_types::ServerName;
use std::io;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Magic of an oldstyle greeting (after `NBDMAGIC`), which we do not speak.
const OLDSTYLE_MAGIC: u64 = 0x0000_4202_8186_1253;
/// Largest request the protocol lets a client send without a block-size
/// answer (the protocol document's "Block size constraints").
const DEFAULT_MAX_BLOCK: u32 = 32 << 20;

/// What `NBD_OPT_GO` told us about the export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportInfo {
    /// Size in bytes.
    pub size: u64,
    /// Transmission flags (`TFLAG_*`).
    pub flags: u16,
    /// Preferred request granularity.
    pub preferred_block: u32,
    /// Largest READ or WRITE the server accepts (32 MiB unless it said).
    pub max_block: u32,
}

impl ExportInfo {
    /// The server refuses writes.
    pub fn read_only(&self) -> bool {
        self.flags & TFLAG_READ_ONLY != 0
    }
    /// `NBD_CMD_FLAG_FUA` is understood.
    pub fn fua(&self) -> bool {
        self.flags & TFLAG_SEND_FUA != 0
    }
    /// `NBD_CMD_FLUSH` is understood.
    pub fn flush(&self) -> bool {
        self.flags & TFLAG_SEND_FLUSH != 0
    }
    /// A flush on one connection covers writes on every connection, so a
    /// full sync may spread over several links.
    pub fn multi_conn(&self) -> bool {
        self.flags & TFLAG_CAN_MULTI_CONN != 0
    }
}

pub(crate) fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Builds the rustls client configuration: trust `ca`, present the client
/// certificate if one is given.
pub(crate) fn tls_config(tls: &RemoteTls) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for c in read_certs(&tls.ca)? {
        roots.add(c).map_err(|e| Error::InvalidParameter {
            subject: format!("NBD TLS CA file {}", tls.ca.display()),
            cause: e.to_string(),
        })?;
    }
    let b = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| Error::Precondition(format!("TLS setup failed: {e}")))?
    .with_root_certificates(roots);
    let config = match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => b
            .with_client_auth_cert(read_certs(cert)?, read_key(key)?)
            .map_err(|e| Error::InvalidParameter {
                subject: format!("NBD TLS client certificate {}", cert.display()),
                cause: e.to_string(),
            })?,
        (None, None) => b.with_no_client_auth(),
        _ => {
            return Err(Error::InvalidParameter {
                subject: "NBD TLS client certificate".into(),
                cause: "a client certificate needs both the certificate and the key file".into(),
            })
        }
    };
    Ok(Arc::new(config))
}

/// Parses the TLS server name (a DNS name or an IP address).
pub(crate) fn server_name(name: &str) -> Result<ServerName<'static>> {
    ServerName::try_from(name.to_owned()).map_err(|_| Error::InvalidParameter {
        subject: "NBD TLS server name".into(),
        cause: format!("{name:?} is neither a DNS name nor an IP address"),
    })
}

/// Reads the greeting (fixed newstyle only) and sends the client flags.
pub(crate) async fn greet<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) -> io::Result<()> {
    let mut g = [0u8; 18];
    s.read_exact(&mut g[..16]).await?;
    if be_u64(&g[0..8]) != NBDMAGIC {
        return Err(bad("not an NBD server (no NBDMAGIC greeting)"));
    }
    match be_u64(&g[8..16]) {
        IHAVEOPT => {}
        OLDSTYLE_MAGIC => {
            return Err(bad(
                "the server speaks oldstyle NBD, which is not supported",
            ))
        }
        other => return Err(bad(format!("unknown greeting magic {other:#x}"))),
    }
    s.read_exact(&mut g[16..18]).await?;
    let flags = be_u16(&g[16..18]);
    if flags & FLAG_FIXED_NEWSTYLE == 0 {
        return Err(bad("the server does not speak fixed newstyle NBD"));
    }
    let mut client = FLAG_C_FIXED_NEWSTYLE;
    if flags & FLAG_NO_ZEROES != 0 {
        client |= FLAG_C_NO_ZEROES;
    }
    s.write_all(&client.to_be_bytes()).await?;
    Ok(())
}

async fn send_option<S: AsyncWrite + Unpin>(s: &mut S, option: u32, data: &[u8]) -> io::Result<()> {
    let mut out = Vec::with_capacity(16 + data.len());
    out.extend_from_slice(&IHAVEOPT.to_be_bytes());
    out.extend_from_slice(&option.to_be_bytes());
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    s.write_all(&out).await?;
    s.flush().await
}

/// One option reply: its type and data (bounded by [`MAX_OPTION_LEN`]).
async fn read_reply<S: AsyncRead + Unpin>(s: &mut S, option: u32) -> io::Result<(u32, Vec<u8>)> {
    let mut h = [0u8; 20];
    s.read_exact(&mut h).await?;
    if be_u64(&h[0..8]) != OPT_REPLY_MAGIC {
        return Err(bad("option reply with a wrong magic"));
    }
    let echoed = be_u32(&h[8..12]);
    if echoed != option {
        return Err(bad(format!(
            "reply for option {echoed} while option {option} was asked"
        )));
    }
    let kind = be_u32(&h[12..16]);
    let len = be_u32(&h[16..20]);
    if len > MAX_OPTION_LEN {
        return Err(bad(format!(
            "option reply of {len} bytes, more than {MAX_OPTION_LEN}"
        )));
    }
    let mut data = vec![0u8; len as usize];
    s.read_exact(&mut data).await?;
    Ok((kind, data))
}

fn reply_error(kind: u32, data: &[u8]) -> String {
    let what = match kind {
        REP_ERR_UNSUP => "unsupported",
        REP_ERR_POLICY => "refused by policy",
        REP_ERR_INVALID => "invalid",
        REP_ERR_TLS_REQD => "TLS required",
        REP_ERR_UNKNOWN => "unknown export",
        REP_ERR_SHUTDOWN => "server shutting down",
        k if k & (1 << 31) != 0 => "error",
        _ => "unexpected reply",
    };
    let msg: String = String::from_utf8_lossy(&data[..data.len().min(MAX_STRING_LEN)])
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    if msg.is_empty() {
        format!("{what} (reply type {kind:#x})")
    } else {
        format!("{what}: {msg}")
    }
}

/// Sends `NBD_OPT_STARTTLS` and waits for its `NBD_REP_ACK`.
pub(crate) async fn starttls<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) -> io::Result<()> {
    send_option(s, OPT_STARTTLS, &[]).await?;
    let (kind, data) = read_reply(s, OPT_STARTTLS).await?;
    match kind {
        REP_ACK => Ok(()),
        REP_ERR_UNSUP => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the server does not offer TLS (STARTTLS unsupported)",
        )),
        k => Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!("STARTTLS refused: {}", reply_error(k, &data)),
        )),
    }
}

/// Sends `NBD_OPT_GO` for `export` (asking for the block sizes) and reads
/// the answer up to `NBD_REP_ACK`; afterwards the stream is in transmission.
pub(crate) async fn go<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    export: &str,
) -> io::Result<ExportInfo> {
    if export.len() > MAX_STRING_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "export name longer than 4096 bytes",
        ));
    }
    let mut d = Vec::with_capacity(8 + export.len());
    d.extend_from_slice(&(export.len() as u32).to_be_bytes());
    d.extend_from_slice(export.as_bytes());
    d.extend_from_slice(&1u16.to_be_bytes());
    d.extend_from_slice(&INFO_BLOCK_SIZE.to_be_bytes());
    send_option(s, OPT_GO, &d).await?;
    let mut size_flags = None;
    let mut preferred_block = 4096;
    let mut max_block = DEFAULT_MAX_BLOCK;
    // A well-behaved server sends a handful of INFO replies; bound them.
    for _ in 0..64 {
        let (kind, data) = read_reply(s, OPT_GO).await?;
        match kind {
            REP_INFO => {
                if data.len() < 2 {
                    return Err(bad("NBD_REP_INFO without an information type"));
                }
                match be_u16(&data[0..2]) {
                    INFO_EXPORT if data.len() == 12 => {
                        size_flags = Some((be_u64(&data[2..10]), be_u16(&data[10..12])));
                    }
                    INFO_BLOCK_SIZE if data.len() == 14 => {
                        let min = be_u32(&data[2..6]);
                        let pref = be_u32(&data[6..10]);
                        let max = be_u32(&data[10..14]);
                        if min == 0 || pref < min || max < pref {
                            return Err(bad(format!(
                                "inconsistent block sizes: minimum {min}, preferred {pref}, maximum {max}"
                            )));
                        }
                        preferred_block = pref;
                        // Never more than the protocol's safe maximum: we
                        // size our buffers by it.
                        max_block = max.min(DEFAULT_MAX_BLOCK);
                    }
                    INFO_EXPORT | INFO_BLOCK_SIZE => {
                        return Err(bad("NBD_REP_INFO of the wrong length"));
                    }
                    _ => {} // Other information is optional to understand.
                }
            }
            REP_ACK => {
                let Some((size, flags)) = size_flags else {
                    return Err(bad("NBD_OPT_GO acknowledged without NBD_INFO_EXPORT"));
                };
                if flags & TFLAG_HAS_FLAGS == 0 {
                    return Err(bad("transmission flags without NBD_FLAG_HAS_FLAGS"));
                }
                return Ok(ExportInfo {
                    size,
                    flags,
                    preferred_block,
                    max_block,
                });
            }
            k => {
                let kind = match k {
                    REP_ERR_POLICY => io::ErrorKind::PermissionDenied,
                    REP_ERR_UNKNOWN => io::ErrorKind::NotFound,
                    _ => io::ErrorKind::ConnectionRefused,
                };
                return Err(io::Error::new(
                    kind,
                    format!("export refused: {}", reply_error(k, &data)),
                ));
            }
        }
    }
    Err(bad("more than 64 replies to NBD_OPT_GO"))
}
