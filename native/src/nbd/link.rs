//! The transports the NBD server listens on: TCP and Unix-domain stream
//! sockets, behind one [`Link`] type so that the handshake, STARTTLS and the
//! transmission phase do not care which one a client came through.
//!
//! A Unix socket is created with its final mode and group before anyone can
//! connect to it: it is bound inside a fresh directory only the server can
//! search (mode 0700), given its mode and group there, and then renamed onto
//! the configured path. A connection is only possible once the rename has
//! happened, so nobody gets in through a window with the umask's permissions.

use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{tcp, unix, TcpListener, TcpStream, UnixListener, UnixStream};

/// Who is at the other end of a connection, for logs and the loopback rule.
#[derive(Debug, Clone)]
pub enum Peer {
    /// A TCP client.
    Tcp(SocketAddr),
    /// A Unix-socket client, with its credentials when the kernel told them.
    Unix {
        /// User id of the connecting process.
        uid: Option<u32>,
        /// Process id of the connecting process.
        pid: Option<i32>,
    },
}

impl Peer {
    /// True for loopback TCP clients and every Unix-socket client (the
    /// socket's permissions already decided who may connect).
    pub fn is_local(&self) -> bool {
        match self {
            Peer::Tcp(a) => is_loopback_ip(a.ip()),
            Peer::Unix { .. } => true,
        }
    }
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Tcp(a) => write!(f, "{a}"),
            Peer::Unix { uid, pid } => {
                write!(f, "unix")?;
                if let Some(uid) = uid {
                    write!(f, " uid={uid}")?;
                }
                if let Some(pid) = pid {
                    write!(f, " pid={pid}")?;
                }
                Ok(())
            }
        }
    }
}

/// True for 127.0.0.0/8, ::1 and IPv4-mapped loopback.
pub fn is_loopback_ip(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => v4.is_loopback(),
        std::net::IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Where the server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    /// A TCP address (port 0: any free port).
    Tcp(SocketAddr),
    /// A Unix-domain socket path.
    Unix(PathBuf),
}

impl std::fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenAddr::Tcp(a) => write!(f, "{a}"),
            ListenAddr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// Owner group and mode of a Unix socket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SocketAccess {
    /// Permission bits (default 0660 when `None`).
    pub mode: Option<u32>,
    /// Group id to give the socket (default: the server's group).
    pub gid: Option<u32>,
}

/// Default permissions of the Unix socket: owner and group read/write.
pub const DEFAULT_SOCKET_MODE: u32 = 0o660;

/// A bound listener of either kind.
pub(crate) enum Listener {
    Tcp(TcpListener),
    Unix {
        listener: UnixListener,
        path: PathBuf,
    },
}

impl Listener {
    pub(crate) async fn bind(addr: &ListenAddr, access: &SocketAccess) -> io::Result<Listener> {
        match addr {
            ListenAddr::Tcp(a) => Ok(Listener::Tcp(TcpListener::bind(a).await?)),
            ListenAddr::Unix(path) => bind_unix(path, access),
        }
    }

    pub(crate) fn local_addr(&self) -> io::Result<ListenAddr> {
        match self {
            Listener::Tcp(l) => l.local_addr().map(ListenAddr::Tcp),
            Listener::Unix { path, .. } => Ok(ListenAddr::Unix(path.clone())),
        }
    }

    pub(crate) async fn accept(&self) -> io::Result<(Link, Peer)> {
        match self {
            Listener::Tcp(l) => {
                let (s, peer) = l.accept().await?;
                if let Err(e) = s.set_nodelay(true) {
                    tracing::debug!(error = %e, "could not set TCP_NODELAY");
                }
                Ok((Link::Tcp(s), Peer::Tcp(peer)))
            }
            Listener::Unix { listener, .. } => {
                let (s, _) = listener.accept().await?;
                let cred = s.peer_cred().ok();
                let peer = Peer::Unix {
                    uid: cred.map(|c| c.uid()),
                    pid: cred.and_then(|c| c.pid()),
                };
                Ok((Link::Unix(s), peer))
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix { path, .. } = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Binds a Unix socket at `path` with its final permissions (see the module
/// documentation). A stale socket at `path` is replaced; any other kind of
/// file there is an error.
fn bind_unix(path: &Path, access: &SocketAccess) -> io::Result<Listener> {
    use std::os::unix::fs::FileTypeExt;
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ));
        }
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} has no file name", path.display()),
        )
    })?;
    let private = parent.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&private);
    std::fs::create_dir(&private)?;
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700))?;
    let staged = private.join("sock");
    let result = (|| -> io::Result<UnixListener> {
        let listener = UnixListener::bind(&staged)?;
        std::os::unix::fs::chown(&staged, None, access.gid)?;
        std::fs::set_permissions(
            &staged,
            std::fs::Permissions::from_mode(access.mode.unwrap_or(DEFAULT_SOCKET_MODE) & 0o777),
        )?;
        std::fs::rename(&staged, path)?;
        Ok(listener)
    })();
    let _ = std::fs::remove_file(&staged);
    let _ = std::fs::remove_dir(&private);
    Ok(Listener::Unix {
        listener: result?,
        path: path.to_path_buf(),
    })
}

/// One accepted connection.
pub(crate) enum Link {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// The read half of a [`Link`].
pub(crate) enum LinkRead {
    Tcp(tcp::OwnedReadHalf),
    Unix(unix::OwnedReadHalf),
}

/// The write half of a [`Link`]; the transmission phase writes replies
/// through it without blocking (see `transmission.rs`).
pub(crate) enum LinkWrite {
    Tcp(tcp::OwnedWriteHalf),
    Unix(unix::OwnedWriteHalf),
}

impl Link {
    pub(crate) fn into_split(self) -> (LinkRead, LinkWrite) {
        match self {
            Link::Tcp(s) => {
                let (r, w) = s.into_split();
                (LinkRead::Tcp(r), LinkWrite::Tcp(w))
            }
            Link::Unix(s) => {
                let (r, w) = s.into_split();
                (LinkRead::Unix(r), LinkWrite::Unix(w))
            }
        }
    }

    /// Puts halves from [`Link::into_split`] back together (for STARTTLS).
    pub(crate) fn reunite(rd: LinkRead, wr: LinkWrite) -> io::Result<Link> {
        let mismatch = || io::Error::other("halves of different connections");
        match (rd, wr) {
            (LinkRead::Tcp(r), LinkWrite::Tcp(w)) => {
                r.reunite(w).map(Link::Tcp).map_err(|_| mismatch())
            }
            (LinkRead::Unix(r), LinkWrite::Unix(w)) => {
                r.reunite(w).map(Link::Unix).map_err(|_| mismatch())
            }
            _ => Err(mismatch()),
        }
    }
}

impl LinkWrite {
    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            LinkWrite::Tcp(w) => w.try_write(buf),
            LinkWrite::Unix(w) => w.try_write(buf),
        }
    }

    pub(crate) fn try_write_vectored(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            LinkWrite::Tcp(w) => w.try_write_vectored(bufs),
            LinkWrite::Unix(w) => w.try_write_vectored(bufs),
        }
    }

    pub(crate) async fn writable(&self) -> io::Result<()> {
        match self {
            LinkWrite::Tcp(w) => w.writable().await,
            LinkWrite::Unix(w) => w.writable().await,
        }
    }
}

macro_rules! delegate_read {
    ($t:ty, $($v:ident),+) => {
        impl AsyncRead for $t {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $(Self::$v(s) => Pin::new(s).poll_read(cx, buf),)+
                }
            }
        }
    };
}

macro_rules! delegate_write {
    ($t:ty, $($v:ident),+) => {
        impl AsyncWrite for $t {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                match self.get_mut() {
                    $(Self::$v(s) => Pin::new(s).poll_write(cx, buf),)+
                }
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                match self.get_mut() {
                    $(Self::$v(s) => Pin::new(s).poll_write_vectored(cx, bufs),)+
                }
            }

            fn is_write_vectored(&self) -> bool {
                true
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $(Self::$v(s) => Pin::new(s).poll_flush(cx),)+
                }
            }

            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $(Self::$v(s) => Pin::new(s).poll_shutdown(cx),)+
                }
            }
        }
    };
}

delegate_read!(Link, Tcp, Unix);
delegate_write!(Link, Tcp, Unix);
delegate_read!(LinkRead, Tcp, Unix);
delegate_write!(LinkWrite, Tcp, Unix);
