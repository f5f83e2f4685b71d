//! The fixed newstyle handshake: greeting, client flags and option haggling,
//! up to the point where transmission starts or the client leaves.
//!
//! The reader and writer are generic so that tests and the fuzz target can
//! drive the negotiation over an in-memory pipe; the server passes the two
//! halves of a TCP or Unix stream, or of a TLS stream after STARTTLS, with the
//! reader buffered (the same buffer then serves the transmission phase, so
//! nothing the client sends early is lost).

use super::proto::*;
use super::tls::{NbdTls, TlsMode};
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
    /// `NBD_OPT_STARTTLS` was acknowledged: the TLS handshake comes next.
    StartTls,
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

/// Looks an export up on the blocking pool (the source may take locks that
/// the engine holds while it works), or in place for an in-memory source.
async fn lookup(
    session: &Session<'_>,
    source: &Arc<dyn ExportSource>,
    name: &str,
) -> io::Result<Option<Negotiated>> {
    let open = |source: &Arc<dyn ExportSource>, name: String| {
        source.open_export(&name).map(|device| Negotiated {
            size: device.size(),
            read_only: device.is_read_only(),
            name,
            device,
        })
    };
    if session.inline_lookups {
        return Ok(open(source, name.to_owned()));
    }
    let source = Arc::clone(source);
    let name = name.to_owned();
    tokio::task::spawn_blocking(move || open(&source, name))
        .await
        .map_err(|e| io::Error::other(format!("export lookup failed: {e}")))
}

async fn list(session: &Session<'_>, source: &Arc<dyn ExportSource>) -> io::Result<Vec<String>> {
    if session.inline_lookups {
        return Ok(source.export_names());
    }
    let source = Arc::clone(source);
    tokio::task::spawn_blocking(move || source.export_names())
        .await
        .map_err(|e| io::Error::other(format!("export listing failed: {e}")))
}

/// What the client said in its flags.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientFlags {
    /// `NBD_FLAG_C_FIXED_NEWSTYLE`.
    pub fixed: bool,
    /// `NBD_FLAG_C_NO_ZEROES`.
    pub no_zeroes: bool,
}

/// What the option haggling may do, and who the client is.
pub(crate) struct Session<'a> {
    /// The server's TLS settings.
    pub tls: &'a NbdTls,
    /// The connection runs inside TLS already.
    pub tls_active: bool,
    /// The client's certificate identities (empty without one).
    pub identities: &'a [String],
    /// Call the export source in place instead of on the blocking pool
    /// (only for sources that never block: the in-memory fuzz target).
    pub inline_lookups: bool,
}

impl Session<'_> {
    fn tls_required(&self) -> bool {
        self.tls.mode == TlsMode::Require && !self.tls_active
    }

    fn may_open(&self, export: &str) -> bool {
        self.tls.allow.admits_to(export, self.identities)
    }
}

/// Sends the greeting and reads the client flags; `None` when the client
/// left. Unknown client flags are a protocol error.
pub(crate) async fn greet<R, W>(rd: &mut R, wr: &mut W) -> io::Result<Option<ClientFlags>>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut out = Vec::with_capacity(18);
    out.extend_from_slice(&NBDMAGIC.to_be_bytes());
    out.extend_from_slice(&IHAVEOPT.to_be_bytes());
    out.extend_from_slice(&(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES).to_be_bytes());
    wr.write_all(&out).await?;

    let client_flags = match rd.read_u32().await {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    };
    if client_flags & !KNOWN_CLIENT_FLAGS != 0 {
        return Err(protocol_error(format!(
            "unknown client flags {client_flags:#x}"
        )));
    }
    Ok(Some(ClientFlags {
        fixed: client_flags & FLAG_C_FIXED_NEWSTYLE != 0,
        no_zeroes: client_flags & FLAG_C_NO_ZEROES != 0,
    }))
}

/// Writes option replies and pushes them out (through TLS, too).
async fn send<W: AsyncWrite + Unpin>(wr: &mut W, out: &[u8]) -> io::Result<()> {
    wr.write_all(out).await?;
    wr.flush().await
}

/// Refuses an export the client's identity may not open.
fn policy_refusal(out: &mut Vec<u8>, option: u32, name: &str) {
    tracing::warn!(
        export = name,
        "nbd export refused: client identity not allowed"
    );
    let msg = format!("access to export {name:?} is not allowed for this client certificate");
    put_option_reply(out, option, REP_ERR_POLICY, msg.as_bytes());
}

/// Runs the option haggling. Protocol violations are `InvalidData` errors,
/// after which the caller drops the connection; an orderly end is
/// [`Outcome::Closed`]; an accepted `NBD_OPT_STARTTLS` is
/// [`Outcome::StartTls`] (the caller runs the TLS handshake and calls this
/// again inside TLS).
pub(crate) async fn options<R, W>(
    rd: &mut R,
    wr: &mut W,
    source: &Arc<dyn ExportSource>,
    max_request: u32,
    flags: ClientFlags,
    session: &Session<'_>,
) -> io::Result<Outcome>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let ClientFlags { fixed, no_zeroes } = flags;
    let mut out = Vec::with_capacity(256);
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
        if session.tls_required() && option != OPT_STARTTLS && option != OPT_ABORT {
            if option == OPT_EXPORT_NAME {
                // It cannot be answered with an error.
                return Err(protocol_error(
                    "NBD_OPT_EXPORT_NAME without TLS, which this server requires",
                ));
            }
            tracing::warn!(option, "nbd option refused: TLS required first");
            put_option_reply(
                &mut out,
                option,
                REP_ERR_TLS_REQD,
                b"this server requires TLS: send NBD_OPT_STARTTLS first",
            );
            send(wr, &out).await?;
            continue;
        }
        match option {
            OPT_STARTTLS => {
                if session.tls.mode == TlsMode::Off {
                    put_option_reply(&mut out, option, REP_ERR_UNSUP, b"TLS is not configured");
                } else if session.tls_active {
                    put_option_reply(&mut out, option, REP_ERR_INVALID, b"TLS is already on");
                } else if !data.is_empty() {
                    put_option_reply(&mut out, option, REP_ERR_INVALID, b"STARTTLS takes no data");
                } else {
                    put_option_reply(&mut out, option, REP_ACK, b"");
                    send(wr, &out).await?;
                    return Ok(Outcome::StartTls);
                }
            }
            OPT_EXPORT_NAME => {
                let name = String::from_utf8(data)
                    .map_err(|_| protocol_error("export name is not UTF-8"))?;
                if !session.may_open(&name) {
                    return Err(protocol_error(format!(
                        "export {name:?} is not allowed for this client certificate"
                    )));
                }
                let Some(export) = lookup(session, source, &name).await? else {
                    // NBD_OPT_EXPORT_NAME cannot be answered with an error.
                    return Err(protocol_error(format!("no export named {name:?}")));
                };
                out.extend_from_slice(&export.size.to_be_bytes());
                out.extend_from_slice(&transmission_flags(export.read_only).to_be_bytes());
                if !no_zeroes {
                    out.extend_from_slice(&[0u8; 124]);
                }
                send(wr, &out).await?;
                return Ok(Outcome::Transmission(export));
            }
            OPT_ABORT => {
                put_option_reply(&mut out, option, REP_ACK, b"");
                // The client may already have gone; that is fine.
                let _ = send(wr, &out).await;
                return Ok(Outcome::Closed);
            }
            OPT_LIST => {
                if !data.is_empty() {
                    put_option_reply(&mut out, option, REP_ERR_INVALID, b"LIST takes no data");
                } else {
                    for name in list(session, source).await? {
                        if !session.may_open(&name) {
                            continue;
                        }
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
                    send(wr, &out).await?;
                    continue;
                };
                if !session.may_open(&req.name) {
                    policy_refusal(&mut out, option, &req.name);
                    send(wr, &out).await?;
                    continue;
                }
                let Some(export) = lookup(session, source, &req.name).await? else {
                    let msg = format!("no export named {:?}", super::redact_export(&req.name));
                    put_option_reply(&mut out, option, REP_ERR_UNKNOWN, msg.as_bytes());
                    send(wr, &out).await?;
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
                send(wr, &out).await?;
                if option == OPT_GO {
                    return Ok(Outcome::Transmission(export));
                }
                continue;
            }
            // STRUCTURED_REPLY, meta contexts, extended headers and anything
            // unknown: the client falls back or gives up.
            _ => put_option_reply(&mut out, option, REP_ERR_UNSUP, b""),
        }
        send(wr, &out).await?;
    }
}
