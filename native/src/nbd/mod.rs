//! NBD server: exports the devices of any [`ExportSource`] over TCP or a Unix
//! socket, in plain text or TLS.
//!
//! Implements the Network Block Device protocol as written in the NBD project's
//! `doc/proto.md` (github.com/NetworkBlockDevice/nbd, "The NBD protocol"), fixed
//! newstyle negotiation only. The export name is the volume's absolute path, so
//! `qemu-io -f raw nbd://127.0.0.1:10809//abs/path` (note the double slash)
//! opens a volume and `nbdinfo --list nbd://127.0.0.1:10809` lists them.
//!
//! A volume claimed as a continuous-copy mirror target (the engine's
//! `targets.rs`) is also reachable as `<absolute path>?mirror=<token>`, the
//! only name under which it accepts writes; the token is never logged
//! ([`redact_export`]). The engine's own NBD client, the mirror's writer,
//! is [`client`].
//!
//! # Usage
//!
//! ```no_run
//! # async fn demo(source: std::sync::Arc<dyn native::ExportSource>) -> std::io::Result<()> {
//! use native::nbd::NbdServer;
//! let server = NbdServer::bind("127.0.0.1:10809", source).await?;
//! println!("listening on {}", server.local_addr()?);
//! server.run_until(tokio::signal::ctrl_c()).await
//! # }
//! ```
//!
//! # Wire format (all integers big-endian)
//!
//! Handshake (`handshake.rs`):
//!
//! ```text
//! S: "NBDMAGIC"  "IHAVEOPT"  u16 handshake flags = FIXED_NEWSTYLE | NO_ZEROES
//! C: u32 client flags (C_FIXED_NEWSTYLE, C_NO_ZEROES; any other bit: we close)
//! then, repeated:
//! C: "IHAVEOPT"  u32 option  u32 length  data[length]        (length ≤ 64 KiB)
//! S: u64 0x3e889045565a9  u32 option  u32 reply type  u32 length  data[length]
//! ```
//!
//! | option | answer |
//! |---|---|
//! | `NBD_OPT_EXPORT_NAME` (1) | `u64 size, u16 transmission flags`, 124 zero bytes unless both sides set NO_ZEROES; unknown name: the connection is closed (the option cannot carry an error) |
//! | `NBD_OPT_ABORT` (2) | `NBD_REP_ACK`, then close |
//! | `NBD_OPT_LIST` (3) | one `NBD_REP_SERVER` (`u32 len, name`) per export, then `NBD_REP_ACK`; data present: `NBD_REP_ERR_INVALID` |
//! | `NBD_OPT_INFO` (6), `NBD_OPT_GO` (7) | data `u32 len, name, u16 n, n × u16 info`; answers `NBD_REP_INFO` with `NBD_INFO_EXPORT` (`u64 size, u16 flags`), `NBD_INFO_NAME` if asked, `NBD_INFO_BLOCK_SIZE` (min 1, preferred 4096, max [`NbdConfig::max_request_bytes`]) always, then `NBD_REP_ACK`; GO then enters transmission. Unknown export: `NBD_REP_ERR_UNKNOWN` with a message; malformed data: `NBD_REP_ERR_INVALID` |
//! | `NBD_OPT_STARTTLS` (5) | TLS off: `NBD_REP_ERR_UNSUP`; data present or TLS already on: `NBD_REP_ERR_INVALID`; otherwise `NBD_REP_ACK`, a TLS handshake, and the option haggling starts over inside TLS (no new greeting). Bytes sent before the ACK was read close the connection |
//! | anything else (STRUCTURED_REPLY, meta contexts, extended headers, unknown) | `NBD_REP_ERR_UNSUP` |
//!
//! TLS ([`NbdServer::with_tls`], the `tls` module): in require mode every
//! option but STARTTLS and ABORT before TLS is answered
//! `NBD_REP_ERR_TLS_REQD` (EXPORT_NAME, which cannot carry an error, closes
//! the connection). With client-certificate verification, a client whose
//! certificate is missing or not signed by the configured CA fails the TLS
//! handshake; an allow-list then admits identities (subject CN or SAN) to
//! every export or to one: a client outside the global list is disconnected
//! after the handshake, one outside an export's list gets
//! `NBD_REP_ERR_POLICY` for that export (which LIST leaves out).
//!
//! Transmission flags: `HAS_FLAGS | SEND_FLUSH | CAN_MULTI_CONN`, plus
//! `SEND_FUA | SEND_TRIM | SEND_WRITE_ZEROES` for a writable export or
//! `READ_ONLY` when [`BlockDevice::is_read_only`] says so at negotiation time.
//! `CAN_MULTI_CONN` relies on [`BlockDevice::flush`] being device-wide.
//!
//! Transmission (`transmission.rs`):
//!
//! ```text
//! C: u32 0x25609513  u16 flags  u16 type  u64 cookie  u64 offset  u32 length  [data if WRITE]
//! S: u32 0x67446698  u32 error  u64 cookie  [length bytes if a successful READ]
//! ```
//!
//! | command | behaviour |
//! |---|---|
//! | `READ` (0) | [`BlockDevice::read_at`]; beyond the end or longer than the maximum: `EINVAL` |
//! | `WRITE` (1) | [`BlockDevice::write_at`] with FUA; read-only export: `EPERM`; beyond the end: `ENOSPC`; longer than the maximum: the connection is closed (the payload is not read) |
//! | `DISC` (2) | no reply; in-flight requests are answered, then the connection closes |
//! | `FLUSH` (3) | [`BlockDevice::flush`] |
//! | `TRIM` (4) | [`BlockDevice::trim`], then flush if FUA; `EPERM` / `ENOSPC` as for WRITE |
//! | `WRITE_ZEROES` (6) | [`BlockDevice::write_zeroes`] with FUA; `NO_HOLE` accepted (we never punch holes) |
//! | anything else (CACHE, BLOCK_STATUS, ...) | `EINVAL` |
//!
//! Command flags: FUA is accepted on every command (the protocol requires
//! that); `NO_HOLE` on WRITE_ZEROES; any other flag is `EINVAL`. Zero-length
//! requests succeed without touching the device. Device errors become simple
//! error replies carrying [`crate::Error::errno`] (`EPERM`, `EIO`, `EINVAL`,
//! `ENOSPC`), narrowed to the values the protocol allows (`EACCES` → `EPERM`,
//! `EFBIG`/`EDQUOT` → `ENOSPC`, any other value → `EIO`); a panicking device
//! answers `EIO`.
//!
//! # Concurrency
//!
//! Requests on one connection run concurrently: the connection task reads and
//! validates requests (many per `read` system call, through a 256 KiB buffer)
//! and queues each device call for the connection's workers, long-lived
//! `spawn_blocking` tasks started on demand up to
//! [`NbdConfig::workers_per_connection`]; a worker that finishes a call takes
//! the next queued one without being woken. Replies go out possibly out of
//! order, as the protocol allows, each as one buffer (header and read data
//! together) through a single serialised writer: the thread with a reply
//! writes it straight to the socket (non-blocking) unless another is writing,
//! in which case that one writes it too, in the same vectored `write`; when
//! the socket is full a flush task takes over until it drains. See the
//! transmission module for the picture. Each connection admits at most
//! [`NbdConfig::max_in_flight`] requests and [`NbdConfig::max_buffered_bytes`]
//! of request and reply data until the reply is on the socket; the reader
//! waits when either is used up. Sockets use `TCP_NODELAY`. Under TLS the
//! connection's flush task encrypts and writes every reply (one vectored
//! write per batch). Each connection runs in a `tracing` span `nbd` with
//! fields `peer`, `tls` (the client's certificate identities, `anonymous`
//! or `none`) and `export`; it logs its start and its export at info level,
//! and every refusal (TLS required, handshake failed, identity not allowed,
//! too many connections, protocol error) at warn level. A TCP client from
//! beyond loopback is logged at warn level unless TLS is required.
//!
//! # Deviations and omissions
//!
//! * No oldstyle negotiation, no structured replies, no metadata
//!   contexts (`NBD_CMD_BLOCK_STATUS`), no extended headers, no `NBD_CMD_CACHE`.
//! * No default export: the empty name is looked up like any other (and is
//!   normally unknown).
//! * A client that does not set `NBD_FLAG_C_FIXED_NEWSTYLE` may only send
//!   `NBD_OPT_EXPORT_NAME`; anything else closes the connection.
//! * The size and read-only flag are sampled at negotiation; a device that
//!   later refuses access answers with its own errors (`EPERM`).
//! * Malformed input (bad magic, unknown client flags, option data over
//!   64 KiB, a write over the maximum request size, a handshake slower than
//!   [`NbdConfig::handshake_timeout`]) closes that connection; other
//!   connections are unaffected.
//! * On server shutdown, open connections stop reading requests, answer the
//!   ones in flight and close, within [`NbdConfig::drain_timeout`].
//! * A connection beyond [`NbdConfig::max_connections`] is closed right after
//!   it is accepted, before the greeting (the handshake has no way to say
//!   why); the server logs a warning naming the peer.

pub mod client;
pub mod file_export;
#[doc(hidden)]
pub mod fuzzing;
mod handshake;
mod link;
pub mod proto;
pub mod tls;
mod transmission;

pub use file_export::{FileDevice, FileExport};
pub use link::{is_loopback_ip, ListenAddr, Peer, SocketAccess, DEFAULT_SOCKET_MODE};
pub use tls::{AllowList, NbdTls, TlsFiles, TlsMode};

#[cfg(doc)]
use crate::blockdev::BlockDevice;
use crate::blockdev::ExportSource;
use handshake::Outcome;
use link::{Link, Listener};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::BufReader;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument;
use transmission::Wire;

/// An export name as logs and messages show it: the secret of a mirror
/// target's export name (`<path>?mirror=<token>`, see the engine's
/// `targets.rs`) is replaced by `…`.
pub fn redact_export(export: &str) -> String {
    match export.find("?mirror=") {
        Some(i) => format!("{}?mirror=…", &export[..i]),
        None => export.to_owned(),
    }
}

/// Limits and timeouts of the NBD server.
#[derive(Debug, Clone)]
pub struct NbdConfig {
    /// Requests processed at once on one connection (default 64).
    pub max_in_flight: usize,
    /// Blocking worker threads one connection may use for device calls
    /// (default 16, like nbdkit's thread count; started on demand, and only
    /// four run at once while device calls are fast: see the transmission
    /// module).
    pub workers_per_connection: usize,
    /// Largest READ or WRITE accepted, advertised as the maximum block size
    /// (default 32 MiB).
    pub max_request_bytes: u32,
    /// Read and write data buffered for one connection at once (default
    /// 128 MiB; never less than `max_request_bytes`).
    pub max_buffered_bytes: usize,
    /// Time a client has to finish negotiating (default 30 s).
    pub handshake_timeout: Duration,
    /// Time connections get to answer in-flight requests after shutdown
    /// (default 10 s).
    pub drain_timeout: Duration,
    /// Client connections served at once (default 64); one more is closed
    /// as soon as it is accepted, so a flood of connections cannot exhaust
    /// threads and buffers (each connection may hold `max_buffered_bytes`).
    pub max_connections: usize,
}

impl Default for NbdConfig {
    fn default() -> Self {
        NbdConfig {
            max_in_flight: 64,
            workers_per_connection: 16,
            max_request_bytes: 32 << 20,
            max_buffered_bytes: 128 << 20,
            handshake_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(10),
            max_connections: 64,
        }
    }
}

/// Connection tasks still running, after collecting the ones that ended
/// (so a client that just disconnected frees its slot at once).
fn live_connections(conns: &mut JoinSet<()>) -> usize {
    while let Some(done) = conns.try_join_next() {
        if let Err(e) = done {
            tracing::error!(error = %e, "nbd connection task failed");
        }
    }
    conns.len()
}

/// An NBD server bound to a TCP or Unix-socket listener.
pub struct NbdServer {
    listener: Listener,
    source: Arc<dyn ExportSource>,
    config: NbdConfig,
    tls: NbdTls,
}

impl NbdServer {
    /// Binds a TCP address (use port 0 for an ephemeral port).
    pub async fn bind(
        addr: impl ToSocketAddrs,
        source: Arc<dyn ExportSource>,
    ) -> io::Result<NbdServer> {
        Ok(NbdServer::from_listener(
            TcpListener::bind(addr).await?,
            source,
        ))
    }

    /// Binds a TCP address or a Unix socket (created with `access`'s mode
    /// and group; see the `link` module).
    pub async fn bind_to(
        addr: &ListenAddr,
        access: &SocketAccess,
        source: Arc<dyn ExportSource>,
    ) -> io::Result<NbdServer> {
        Ok(NbdServer {
            listener: Listener::bind(addr, access).await?,
            source,
            config: NbdConfig::default(),
            tls: NbdTls::off(),
        })
    }

    /// Serves on an already bound TCP listener.
    pub fn from_listener(listener: TcpListener, source: Arc<dyn ExportSource>) -> NbdServer {
        NbdServer {
            listener: Listener::Tcp(listener),
            source,
            config: NbdConfig::default(),
            tls: NbdTls::off(),
        }
    }

    /// Replaces the default limits.
    pub fn with_config(mut self, config: NbdConfig) -> NbdServer {
        self.config = config;
        self
    }

    /// Offers or requires TLS (default: off).
    pub fn with_tls(mut self, tls: NbdTls) -> NbdServer {
        self.tls = tls;
        self
    }

    /// The TCP address actually bound (an error for a Unix socket).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self.listener.local_addr()? {
            ListenAddr::Tcp(a) => Ok(a),
            ListenAddr::Unix(p) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("listening on the Unix socket {}", p.display()),
            )),
        }
    }

    /// The address actually bound, TCP or Unix.
    pub fn listen_addr(&self) -> io::Result<ListenAddr> {
        self.listener.local_addr()
    }

    /// Serves until the task is dropped.
    pub async fn run(self) -> io::Result<()> {
        self.run_until(std::future::pending::<()>()).await
    }

    /// Serves until `shutdown` completes, then lets open connections answer
    /// their in-flight requests (up to [`NbdConfig::drain_timeout`]) and
    /// returns. Errors accepting one connection are logged, not returned.
    pub async fn run_until<F: Future>(self, shutdown: F) -> io::Result<()> {
        let NbdServer {
            listener,
            source,
            config,
            tls,
        } = self;
        let ctx = Arc::new(Ctx {
            source,
            config,
            tls,
        });
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut conns = JoinSet::new();
        tracing::info!(
            addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            tls = %ctx.tls.mode,
            verify_peer = ctx.tls.verify_peer,
            "nbd server listening"
        );
        let shutdown = std::pin::pin!(shutdown);
        let mut shutdown = shutdown;
        let max = ctx.config.max_connections.max(1);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                Some(done) = conns.join_next(), if !conns.is_empty() => {
                    if let Err(e) = done {
                        tracing::error!(error = %e, "nbd connection task failed");
                    }
                }
                accepted = listener.accept() => match accepted {
                    Ok((link, peer)) if live_connections(&mut conns) >= max => {
                        tracing::warn!(%peer, limit = max, "nbd connection refused: too many connections");
                        drop(link);
                    }
                    Ok((link, peer)) => {
                        let span = tracing::info_span!(
                            "nbd",
                            %peer,
                            export = tracing::field::Empty,
                            tls = tracing::field::Empty,
                        );
                        conns.spawn(
                            connection(link, peer, Arc::clone(&ctx), stop_rx.clone())
                                .instrument(span),
                        );
                    }
                    Err(e) => {
                        // Typically EMFILE: back off instead of spinning.
                        tracing::warn!(error = %e, "nbd accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }
        drop(listener);
        let _ = stop_tx.send(true);
        let drained = tokio::time::timeout(ctx.config.drain_timeout, async {
            while conns.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                remaining = conns.len(),
                "nbd connections did not drain in time; aborting them"
            );
            conns.shutdown().await;
        }
        tracing::info!("nbd server stopped");
        Ok(())
    }
}

/// What every connection of one server shares.
struct Ctx {
    source: Arc<dyn ExportSource>,
    config: NbdConfig,
    tls: NbdTls,
}

/// Serves `source` on `listener` until `shutdown` completes, with the default
/// [`NbdConfig`]. Shorthand for [`NbdServer::from_listener`] + [`NbdServer::run_until`].
pub async fn serve<F: Future>(
    listener: TcpListener,
    source: Arc<dyn ExportSource>,
    shutdown: F,
) -> io::Result<()> {
    NbdServer::from_listener(listener, source)
        .run_until(shutdown)
        .await
}

/// Size of the connection's read buffer: many small requests per system call.
const READ_BUFFER: usize = 256 * 1024;

/// One client, from greeting to close. Errors are logged here.
async fn connection(link: Link, peer: Peer, ctx: Arc<Ctx>, mut stop: watch::Receiver<bool>) {
    if peer.is_local() {
        tracing::info!("nbd client connected");
    } else if ctx.tls.mode == TlsMode::Require {
        tracing::info!("nbd client connected from beyond loopback");
    } else {
        tracing::warn!(
            "nbd client connected from beyond loopback without required TLS (--insecure): \
             its data crosses the network in clear text"
        );
    }
    let deadline = tokio::time::Instant::now() + ctx.config.handshake_timeout;
    let negotiation = tokio::select! {
        r = tokio::time::timeout_at(deadline, negotiate(link, &ctx)) => r,
        _ = stop.wait_for(|s| *s) => {
            tracing::debug!("server shutting down during negotiation");
            return;
        }
    };
    let (export, rd, wire) = match negotiation {
        Err(_) => {
            tracing::warn!("nbd negotiation timed out, closing connection");
            return;
        }
        Ok(Err(e)) => {
            if matches!(
                e.kind(),
                io::ErrorKind::InvalidData | io::ErrorKind::PermissionDenied
            ) {
                tracing::warn!(error = %e, "nbd connection refused");
            } else {
                tracing::debug!(error = %e, "nbd negotiation ended");
            }
            return;
        }
        Ok(Ok(None)) => {
            tracing::debug!("nbd client left during negotiation");
            return;
        }
        Ok(Ok(Some(t))) => t,
    };
    tracing::Span::current().record("export", redact_export(&export.name).as_str());
    tracing::info!(
        size = export.size,
        read_only = export.read_only,
        "nbd transmission started"
    );
    match transmission::run(rd, wire, export, &ctx.config, stop).await {
        Ok(()) => tracing::debug!("nbd connection closed"),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            tracing::warn!(error = %e, "nbd protocol error, connection closed");
        }
        Err(e) => tracing::debug!(error = %e, "nbd connection ended"),
    }
}

/// Encrypted bytes rustls may hold for the socket at once.
const TLS_BUFFER: usize = 1 << 20;

/// A reader the transmission phase can take, TCP, Unix or TLS.
type AnyRead = Box<dyn tokio::io::AsyncRead + Send + Unpin>;

/// The handshake, with STARTTLS when the client asks for it: the export, the
/// buffered reader (which may already hold the first requests) and where the
/// replies go. `None`: the client left in an orderly way.
async fn negotiate(
    link: Link,
    ctx: &Ctx,
) -> io::Result<Option<(handshake::Negotiated, BufReader<AnyRead>, Wire)>> {
    let (rd, mut wr) = link.into_split();
    let mut rd = BufReader::with_capacity(READ_BUFFER, rd);
    let Some(flags) = handshake::greet(&mut rd, &mut wr).await? else {
        return Ok(None);
    };
    let plain = handshake::Session {
        tls: &ctx.tls,
        tls_active: false,
        identities: &[],
        inline_lookups: false,
    };
    let max = ctx.config.max_request_bytes;
    match handshake::options(&mut rd, &mut wr, &ctx.source, max, flags, &plain).await? {
        Outcome::Closed => return Ok(None),
        Outcome::Transmission(export) => {
            tracing::Span::current().record("tls", "none");
            let rd = BufReader::with_capacity(READ_BUFFER, Box::new(rd) as AnyRead);
            return Ok(Some((export, rd, Wire::Socket(wr))));
        }
        Outcome::StartTls => {}
    }
    if !rd.buffer().is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "client sent data before the STARTTLS reply",
        ));
    }
    let link = Link::reunite(rd.into_inner(), wr)?;
    let acceptor = ctx
        .tls
        .acceptor
        .clone()
        .ok_or_else(|| io::Error::other("STARTTLS accepted without a TLS configuration"))?;
    let mut stream = acceptor.accept(link).await.map_err(|e| {
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("TLS handshake failed: {e}"),
        )
    })?;
    // Room for a whole large read reply per write: fewer, larger socket
    // writes (the default keeps 64 KiB; the byte budget bounds the rest).
    stream.get_mut().1.set_buffer_limit(Some(TLS_BUFFER));
    let identities: Vec<String> = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| tls::certificate_identities(c))
        .unwrap_or_default();
    let shown = if identities.is_empty() {
        "anonymous".to_owned()
    } else {
        identities.join(",")
    };
    tracing::Span::current().record("tls", shown.as_str());
    if !ctx.tls.allow.admits(&identities) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("client certificate identity {shown} is not on the allow-list"),
        ));
    }
    tracing::info!(
        version = ?stream.get_ref().1.protocol_version(),
        identity = %shown,
        "nbd TLS established"
    );
    let (r, mut w) = tokio::io::split(stream);
    let mut rd = BufReader::with_capacity(READ_BUFFER, Box::new(r) as AnyRead);
    let inside = handshake::Session {
        tls: &ctx.tls,
        tls_active: true,
        identities: &identities,
        inline_lookups: false,
    };
    match handshake::options(&mut rd, &mut w, &ctx.source, max, flags, &inside).await? {
        Outcome::Closed | Outcome::StartTls => Ok(None),
        Outcome::Transmission(export) => Ok(Some((export, rd, Wire::Stream(Box::new(w))))),
    }
}
