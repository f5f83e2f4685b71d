//! The engine's NBD client: the writer of a continuous-copy mirror towards
//! another host's export (`crate::mirror`), usable on its own as well.
//!
//! The protocol is the one the server implements (see the parent module's
//! documentation for the wire format and the NBD project's `doc/proto.md`);
//! this is the client's view of it, and what it does with each part:
//!
//! ```text
//! handshake (negotiate.rs)
//! S: "NBDMAGIC" "IHAVEOPT" u16 flags     must have FIXED_NEWSTYLE; oldstyle refused
//! C: u32 flags                           C_FIXED_NEWSTYLE (+ C_NO_ZEROES if offered)
//! [TLS] C: IHAVEOPT STARTTLS 0           S: reply ACK, then a rustls handshake
//! C: IHAVEOPT GO len (u32 n, name, u16 1, INFO_BLOCK_SIZE)
//! S: REP_INFO EXPORT (u64 size, u16 flags), REP_INFO BLOCK_SIZE, ..., REP_ACK
//!    or REP_ERR_* with a message          → an error naming address and export
//!
//! transmission (conn.rs), requests pipelined up to `max_in_flight`
//! C: u32 0x25609513 u16 flags u16 type u64 cookie u64 offset u32 length [data]
//! S: u32 0x67446698 u32 error u64 cookie [length bytes of a successful READ]
//! ```
//!
//! Used: `NBD_CMD_READ`, `NBD_CMD_WRITE` (with `NBD_CMD_FLAG_FUA` when the
//! export has `SEND_FUA`; otherwise a FUA write is followed by a flush),
//! `NBD_CMD_FLUSH` (skipped when the export lacks `SEND_FLUSH`: such a
//! server writes through), and `NBD_CMD_DISC` when the last handle goes.
//! Structured replies, metadata contexts and extended headers are never
//! asked for, so every reply is a simple one. Requests larger than the
//! export's maximum block size (at most 32 MiB) are split.
//!
//! Hostile or broken servers: option replies over 64 KiB, a wrong magic,
//! a cookie we did not send, a structured reply, a short read, silence
//! beyond the request timeout or a close mid-reply end the connection; every
//! request in flight then fails with an error naming the connection and the
//! reason, and [`NbdClient::is_up`] turns false. Connect and handshake are
//! bounded by [`ClientOptions::connect_timeout`]. Error replies (EPERM, EIO,
//! ...) fail only their request: EPERM as [`Error::PermissionDenied`].
//!
//! The token of a mirror export name (`<path>?mirror=<token>`) never
//! appears in messages or logs.

mod conn;
mod links;
mod negotiate;

pub use super::redact_export;
pub use links::NbdLinks;
pub use negotiate::ExportInfo;

use crate::error::{Error, Result};
use crate::mirror::RemoteTls;
use conn::{Cmd, Done, Shared, Submit};
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

/// How a client connects and what it allows itself.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// STARTTLS settings; `None` for plain TCP.
    pub tls: Option<RemoteTls>,
    /// Bound on TCP connect, TLS and negotiation together (default 10 s).
    pub connect_timeout: Duration,
    /// Requests on the wire at once (default 16).
    pub max_in_flight: usize,
    /// A request unanswered this long breaks the connection (default
    /// 60 s; `None`: wait for ever).
    pub request_timeout: Option<Duration>,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            tls: None,
            connect_timeout: Duration::from_secs(10),
            max_in_flight: 16,
            request_timeout: Some(Duration::from_secs(60)),
        }
    }
}

/// One open connection to an export, in the transmission phase. Cheap to
/// clone; the connection ends (`NBD_CMD_DISC`) when the last clone drops.
#[derive(Clone)]
pub struct NbdClient {
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<Submit>,
    info: ExportInfo,
    /// The runtime the connection's tasks run on.
    rt: tokio::runtime::Handle,
}

impl std::fmt::Debug for NbdClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NbdClient")
            .field("target", &self.shared.who)
            .field("info", &self.info)
            .finish()
    }
}

impl NbdClient {
    /// Connects to `address` (`host:port`), upgrades to TLS if asked and
    /// opens `export` with `NBD_OPT_GO`. Runs on the current tokio runtime,
    /// which then carries the connection's tasks.
    pub async fn connect(address: &str, export: &str, opts: &ClientOptions) -> Result<NbdClient> {
        let who = format!("nbd://{address}/{}", redact_export(export));
        let volume = PathBuf::from(export.split("?mirror=").next().unwrap_or(export));
        // Servers may echo the export name: never let the token through.
        let token = export.split_once("?mirror=").map(|(_, t)| t);
        let fail = |e: io::Error| {
            let mut msg = e.to_string();
            if let Some(t) = token.filter(|t| !t.is_empty()) {
                msg = msg.replace(t, "…");
            }
            Error::Io {
                path: volume.clone(),
                source: io::Error::new(e.kind(), format!("NBD connection to {who}: {msg}")),
            }
        };
        let tls = match &opts.tls {
            Some(t) => Some((
                negotiate::tls_config(t)?,
                negotiate::server_name(&t.server_name)?,
            )),
            None => None,
        };
        let opened = tokio::time::timeout(opts.connect_timeout, async {
            let mut tcp = TcpStream::connect(address).await?;
            tcp.set_nodelay(true)?;
            negotiate::greet(&mut tcp).await?;
            match tls {
                None => {
                    let info = negotiate::go(&mut tcp, export).await?;
                    let (r, w) = tcp.into_split();
                    Ok((info, conn_parts(r, w)))
                }
                Some((config, name)) => {
                    negotiate::starttls(&mut tcp).await?;
                    let mut s = tokio_rustls::TlsConnector::from(config)
                        .connect(name, tcp)
                        .await
                        .map_err(|e| {
                            io::Error::new(e.kind(), format!("TLS handshake failed: {e}"))
                        })?;
                    let info = negotiate::go(&mut s, export).await?;
                    let (r, w) = tokio::io::split(s);
                    Ok((info, conn_parts(r, w)))
                }
            }
        })
        .await
        .map_err(|_| {
            fail(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no connection within {:?}", opts.connect_timeout),
            ))
        })?;
        let (info, (rd, wr)) = opened.map_err(fail)?;
        let shared = Shared::new(who, volume);
        let tx = conn::spawn(
            shared.clone(),
            rd,
            wr,
            opts.max_in_flight,
            opts.request_timeout,
        );
        tracing::info!(target = %shared.who, size = info.size, flags = info.flags, "nbd client connected");
        Ok(NbdClient {
            shared,
            tx,
            info,
            rt: tokio::runtime::Handle::current(),
        })
    }

    /// What the server said about the export.
    pub fn info(&self) -> ExportInfo {
        self.info
    }

    /// Size of the export in bytes.
    pub fn size(&self) -> u64 {
        self.info.size
    }

    /// `false` once the connection is broken or closed.
    pub fn is_up(&self) -> bool {
        !self.shared.is_broken()
    }

    /// `nbd://address/export` (token hidden), for messages.
    pub fn target(&self) -> &str {
        &self.shared.who
    }

    /// Queues one request (at most the maximum block size); `done` runs on
    /// the connection's tasks. Never blocks and never calls `done` inline.
    fn submit(&self, cmd: Cmd, done: Done) {
        if self.shared.is_broken() {
            let err = self.shared.broken_error();
            return self.answer_later(move || done.complete(Err(err)));
        }
        if let Err(mpsc::error::SendError(s)) = self.tx.send(Submit { cmd, done }) {
            let err = self.shared.broken_error();
            self.answer_later(move || s.done.complete(Err(err)));
        }
    }

    fn check_range(&self, what: &str, offset: u64, len: u64) -> Result<()> {
        if offset.checked_add(len).is_none_or(|e| e > self.info.size) {
            return Err(Error::OutOfRange {
                what: match what {
                    "read" => "read",
                    _ => "write",
                },
                path: self.shared.volume.clone(),
                offset,
                len,
                size: self.info.size,
            });
        }
        Ok(())
    }

    /// Starts a write of `data` at `offset` (split by the maximum block
    /// size); `done` runs once with the outcome of every piece.
    pub fn start_write(
        &self,
        offset: u64,
        data: Vec<u8>,
        fua: bool,
        done: impl FnOnce(Result<()>) + Send + 'static,
    ) {
        if let Err(e) = self.check_range("write", offset, data.len() as u64) {
            return self.answer_later(move || done(Err(e)));
        }
        if self.info.read_only() {
            let e = Error::PermissionDenied {
                path: self.shared.volume.clone(),
                reason: format!("{} is a read-only export", self.shared.who),
            };
            return self.answer_later(move || done(Err(e)));
        }
        let wire_fua = fua && self.info.fua();
        let then_flush = fua && !self.info.fua();
        let me = self.clone();
        let done = move |r: Result<()>| match r {
            Ok(()) if then_flush => me.start_flush(done),
            r => done(r),
        };
        let max = self.info.max_block as usize;
        if data.len() <= max {
            return self.submit(
                Cmd::Write {
                    offset,
                    data,
                    fua: wire_fua,
                },
                Done::new(move |r| done(r.map(|_| ()))),
            );
        }
        let pieces = data.len().div_ceil(max);
        let join = Join::new(pieces, done);
        for (i, piece) in data.chunks(max).enumerate() {
            let join = join.clone();
            self.submit(
                Cmd::Write {
                    offset: offset + (i * max) as u64,
                    data: piece.to_vec(),
                    fua: wire_fua,
                },
                Done::new(move |r| join.piece(r.map(|_| ()))),
            );
        }
    }

    /// Starts a flush of every write already answered.
    pub fn start_flush(&self, done: impl FnOnce(Result<()>) + Send + 'static) {
        if !self.info.flush() {
            return self.answer_later(move || done(Ok(())));
        }
        self.submit(Cmd::Flush, Done::new(move |r| done(r.map(|_| ()))));
    }

    /// Starts a read of `len` bytes at `offset` (split by the maximum block
    /// size).
    pub fn start_read(
        &self,
        offset: u64,
        len: u32,
        done: impl FnOnce(Result<Vec<u8>>) + Send + 'static,
    ) {
        if let Err(e) = self.check_range("read", offset, len as u64) {
            return self.answer_later(move || done(Err(e)));
        }
        let max = self.info.max_block;
        if len <= max {
            return self.submit(Cmd::Read { offset, len }, Done::new(done));
        }
        let pieces = len.div_ceil(max) as usize;
        let buf = Arc::new(std::sync::Mutex::new(vec![0u8; len as usize]));
        let out = buf.clone();
        let join = Join::new(pieces, move |r: Result<()>| {
            done(r.map(|_| std::mem::take(&mut *out.lock().unwrap_or_else(|e| e.into_inner()))))
        });
        for i in 0..pieces as u32 {
            let at = i * max;
            let n = max.min(len - at);
            let (join, buf) = (join.clone(), buf.clone());
            self.submit(
                Cmd::Read {
                    offset: offset + at as u64,
                    len: n,
                },
                Done::new(move |r| {
                    join.piece(r.map(|d| {
                        let mut b = buf.lock().unwrap_or_else(|e| e.into_inner());
                        b[at as usize..(at + n) as usize].copy_from_slice(&d);
                    }))
                }),
            );
        }
    }

    /// Runs `f` on the connection's runtime (completions never run on the
    /// caller's stack, which may hold locks the completion takes).
    fn answer_later(&self, f: impl FnOnce() + Send + 'static) {
        self.rt.spawn(async move { f() });
    }

    /// Writes and waits for the reply.
    pub async fn write(&self, offset: u64, data: Vec<u8>, fua: bool) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.start_write(offset, data, fua, move |r| {
            let _ = tx.send(r);
        });
        self.wait(rx).await
    }

    /// Reads and waits for the data.
    pub async fn read(&self, offset: u64, len: u32) -> Result<Vec<u8>> {
        let (tx, rx) = oneshot::channel();
        self.start_read(offset, len, move |r| {
            let _ = tx.send(r);
        });
        self.wait(rx).await
    }

    /// Flushes and waits.
    pub async fn flush(&self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.start_flush(move |r| {
            let _ = tx.send(r);
        });
        self.wait(rx).await
    }

    async fn wait<T>(&self, rx: oneshot::Receiver<Result<T>>) -> Result<T> {
        rx.await.unwrap_or_else(|_| Err(self.shared.broken_error()))
    }

    /// Sends `NBD_CMD_DISC` (once the last clone is gone) and waits until
    /// the server closed the connection, at most 15 s (other clones still
    /// alive keep it open).
    pub async fn close(self) {
        let mut stop = self.shared.stopped();
        drop(self);
        let _ = tokio::time::timeout(Duration::from_secs(15), stop.wait_for(|s| *s)).await;
    }
}

type Parts = (
    Box<dyn tokio::io::AsyncRead + Unpin + Send>,
    Box<dyn tokio::io::AsyncWrite + Unpin + Send>,
);

fn conn_parts<R, W>(r: R, w: W) -> Parts
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
    W: tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    (Box::new(r), Box::new(w))
}

/// Pieces left, the first error, and what runs at the end.
type JoinState = (usize, Option<Error>, Option<crate::mirror::Completion>);

/// Joins the completions of the pieces of a split request: the first error
/// wins, `done` runs when the last piece is answered.
struct Join {
    state: std::sync::Mutex<JoinState>,
}

impl Join {
    fn new(pieces: usize, done: impl FnOnce(Result<()>) + Send + 'static) -> Arc<Join> {
        Arc::new(Join {
            state: std::sync::Mutex::new((pieces, None, Some(Box::new(done)))),
        })
    }

    fn piece(&self, r: Result<()>) {
        let finished = {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if let Err(e) = r {
                s.1.get_or_insert(e);
            }
            s.0 -= 1;
            if s.0 == 0 {
                s.2.take().map(|f| (f, s.1.take()))
            } else {
                None
            }
        };
        if let Some((f, err)) = finished {
            f(err.map_or(Ok(()), Err));
        }
    }
}
