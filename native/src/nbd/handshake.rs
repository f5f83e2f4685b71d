//! The fixed newstyle handshake: greeting, client flags and option haggling,
//! up to the point where transmission starts or the client leaves.
//!
//! The reader and writer are generic so that tests can drive the negotiation
//! over an in-memory pipe; the server passes the two halves of a TCP stream,
//! with the reader buffered (the same buffer then serves the transmission
//! phase, so nothing the client sends early is lost).

use super::proto::*;
use crate::blockdev::{BlockDevice, ExportSource};
use std::io;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The export chosen by a successful negotiation.
pub(crate) struct Negotiated {
    /// The export name the client asked for.
    pub name: String,
    /// The device behind it.
    pub device: Arc<dyn BlockDevice>,
    /// The size advertised to the client.
    pub size: u64,
    /// Whether the export was advertised read-only.
    pub read_only: bool,
}

/// How a negotiation ended.
pub(crate) enum Outcome {
    /// Enter the transmission phase on this export.
    Transmission(Negotiated),
    /// The client aborted (`NBD_OPT_ABORT`) or closed during negotiation.
    Closed,
}

/// Preferred block size advertised in `NBD_INFO_BLOCK_SIZE`.
pub(crate) const PREFERRED_BLOCK: u32 = 4096;

/// The transmission flags for an export.
pub(crate) fn transmission_flags(read_only: bool) -> u16 {
    let mut f = TFLAG_HAS_FLAGS | TFLAG_SEND_FLUSH | TFLAG_CAN_MULTI_CONN;
    if read_only {
        f |= TFLAG_READ_ONLY;
    } else {
        f |= TFLAG_SEND_FUA | TFLAG_SEND_TRIM | TFLAG_SEND_WRITE_ZEROES;
    }
    f
}

fn protocol_error(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Looks an export up on the blocking pool: the source may take locks that the
/// engine holds while it works.
async fn lookup(source: &Arc<dyn ExportSource>, name: &str) -> io::Result<Option<Negotiated>> {
    let source = Arc::clone(source);
    let name = name.to_owned();
    tokio::task::spawn_blocking(move || {
        source.open_export(&name).map(|device| Negotiated {
            size: device.size(),
            read_only: device.is_read_only(),
            name,
            device,
        })
    })
    .await
    .map_err(|e| io::Error::other(format!("export lookup failed: {e}")))
}

async fn list(source: &Arc<dyn ExportSource>) -> io::Result<Vec<String>> {
    let source = Arc::clone(source);
    tokio::task::spawn_blocking(move || source.export_names())
        .await
        .map_err(|e| io::Error::other(format!("export listing failed: {e}")))
}

/// Runs the handshake. Protocol violations are `InvalidData` errors, after which
/// the caller drops the connection; an orderly end is [`Outcome::Closed`].
pub(crate) async fn negotiate<R, W>(
    rd: &mut R,
    wr: &mut W,
    source: &Arc<dyn ExportSource>,
    max_request: u32,
) -> io::Result<Outcome>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&NBDMAGIC.to_be_bytes());
    out.extend_from_slice(&IHAVEOPT.to_be_bytes());
    out.extend_from_slice(&(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES).to_be_bytes());
    wr.write_all(&out).await?;

    let client_flags = match rd.read_u32().await {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(Outcome::Closed),
        Err(e) => return Err(e),
    };
    if client_flags & !KNOWN_CLIENT_FLAGS != 0 {
        return Err(protocol_error(format!(
            "unknown client flags {client_flags:#x}"
        )));
    }
    let fixed = client_flags & FLAG_C_FIXED_NEWSTYLE != 0;
    let no_zeroes = client_flags & FLAG_C_NO_ZEROES != 0;

    loop {
        let mut head = [0u8; 16];
        match rd.read_exact(&mut head).await {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(Outcome::Closed),
            Err(e) => return Err(e),
        }
        if be_u64(&head[0..8]) != IHAVEOPT {
            return Err(protocol_error("bad option magic"));
        }
        let option = be_u32(&head[8..12]);
        let len = be_u32(&head[12..16]);
        if len > MAX_OPTION_LEN {
            return Err(protocol_error(format!(
                "option {option} has {len} bytes of data, more than {MAX_OPTION_LEN}"
            )));
        }
        let mut data = vec![0u8; len as usize];
        rd.read_exact(&mut data).await?;
        tracing::trace!(option, len, "nbd option");

        if !fixed && option != OPT_EXPORT_NAME {
            return Err(protocol_error(
                "client without fixed newstyle sent an option other than EXPORT_NAME",
            ));
        }

        out.clear();
        match option {
            OPT_EXPORT_NAME => {
                let name = String::from_utf8(data)
                    .map_err(|_| protocol_error("export name is not UTF-8"))?;
                let Some(export) = lookup(source, &name).await? else {
                    // NBD_OPT_EXPORT_NAME cannot be answered with an error.
                    return Err(protocol_error(format!("no export named {name:?}")));
                };
                out.extend_from_slice(&export.size.to_be_bytes());
                out.extend_from_slice(&transmission_flags(export.read_only).to_be_bytes());
                if !no_zeroes {
                    out.extend_from_slice(&[0u8; 124]);
                }
                wr.write_all(&out).await?;
                return Ok(Outcome::Transmission(export));
            }
            OPT_ABORT => {
                put_option_reply(&mut out, option, REP_ACK, b"");
                // The client may already have gone; that is fine.
                let _ = wr.write_all(&out).await;
                return Ok(Outcome::Closed);
            }
            OPT_LIST => {
                if !data.is_empty() {
                    put_option_reply(&mut out, option, REP_ERR_INVALID, b"LIST takes no data");
                } else {
                    for name in list(source).await? {
                        let mut d = Vec::with_capacity(4 + name.len());
                        d.extend_from_slice(&(name.len() as u32).to_be_bytes());
                        d.extend_from_slice(name.as_bytes());
                        put_option_reply(&mut out, option, REP_SERVER, &d);
                    }
                    put_option_reply(&mut out, option, REP_ACK, b"");
                }
            }
            OPT_INFO | OPT_GO => {
                let Some(req) = InfoRequest::parse(&data) else {
                    put_option_reply(&mut out, option, REP_ERR_INVALID, b"malformed INFO/GO");
                    wr.write_all(&out).await?;
                    continue;
                };
                let Some(export) = lookup(source, &req.name).await? else {
                    let msg = format!("no export named {:?}", req.name);
                    put_option_reply(&mut out, option, REP_ERR_UNKNOWN, msg.as_bytes());
                    wr.write_all(&out).await?;
                    continue;
                };
                let mut d = Vec::with_capacity(16);
                d.extend_from_slice(&INFO_EXPORT.to_be_bytes());
                d.extend_from_slice(&export.size.to_be_bytes());
                d.extend_from_slice(&transmission_flags(export.read_only).to_be_bytes());
                put_option_reply(&mut out, option, REP_INFO, &d);
                if req.requests.contains(&INFO_NAME) {
                    let mut d = INFO_NAME.to_be_bytes().to_vec();
                    d.extend_from_slice(export.name.as_bytes());
                    put_option_reply(&mut out, option, REP_INFO, &d);
                }
                // Sent whether asked or not (the protocol allows it): a minimum
                // of 1 puts no alignment constraint on the client, the maximum
                // tells it how large a request may be.
                let mut d = INFO_BLOCK_SIZE.to_be_bytes().to_vec();
                d.extend_from_slice(&1u32.to_be_bytes());
                d.extend_from_slice(&PREFERRED_BLOCK.to_be_bytes());
                d.extend_from_slice(&max_request.to_be_bytes());
                put_option_reply(&mut out, option, REP_INFO, &d);
                put_option_reply(&mut out, option, REP_ACK, b"");
                wr.write_all(&out).await?;
                if option == OPT_GO {
                    return Ok(Outcome::Transmission(export));
                }
                continue;
            }
            // STARTTLS, STRUCTURED_REPLY, meta contexts, extended headers and
            // anything unknown: the client falls back or gives up.
            _ => put_option_reply(&mut out, option, REP_ERR_UNSUP, b""),
        }
        wr.write_all(&out).await?;
    }
}
