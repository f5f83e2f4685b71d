//! The client's transmission phase: one writer task, one reader task and a
//! watchdog per connection, sharing a cookie → pending-request map.
//!
//! ```text
//!  submit() ──unbounded queue──► writer task ── in-flight permit, map insert,
//!                                     │          header (+ data) ──► socket
//!  completions ◄── reader task ◄── socket: 16-byte reply (+ data of a READ)
//!                      ▲
//!  watchdog ───────────┘ oldest request older than the request timeout: broken
//! ```
//!
//! A request is registered under a fresh cookie before its bytes go out, so
//! the reader always finds the replies it should. Whatever the server does
//! wrong (wrong magic, a cookie we never sent or already answered, a short
//! read, silence past the timeout, closing mid-reply) marks the connection
//! broken: the first reason is kept, every request in flight or queued
//! completes with an error naming it, and the tasks end. Nothing the server
//! sends can make us allocate beyond the length of a READ we asked for.
//! A completion is guaranteed to run exactly once, even if the runtime goes
//! away (the [`Done`] guard answers on drop).

use crate::error::{Error, Result};
use crate::nbd::proto::*;
use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};

/// Magic of a structured reply, which we never negotiate.
const STRUCTURED_REPLY_MAGIC: u32 = 0x668e_33ef;
/// Socket buffer of the reader and the writer.
const IO_BUFFER: usize = 256 << 10;
/// How long the server gets to close after our `NBD_CMD_DISC`.
const DISC_GRACE: Duration = Duration::from_secs(10);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A completion that runs exactly once: with the result, or with an error
/// if it is dropped unanswered.
pub(crate) struct Done(Option<crate::mirror::ReadCompletion>);

impl Done {
    pub(crate) fn new(f: impl FnOnce(Result<Vec<u8>>) + Send + 'static) -> Done {
        Done(Some(Box::new(f)))
    }
    pub(crate) fn complete(mut self, r: Result<Vec<u8>>) {
        if let Some(f) = self.0.take() {
            f(r);
        }
    }
}

impl Drop for Done {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f(Err(Error::Precondition(
                "NBD request dropped: the client connection went away".into(),
            )));
        }
    }
}

/// One request on its way.
pub(crate) enum Cmd {
    Read {
        offset: u64,
        len: u32,
    },
    Write {
        offset: u64,
        data: Vec<u8>,
        fua: bool,
    },
    Flush,
}

impl Cmd {
    fn kind(&self) -> u16 {
        match self {
            Cmd::Read { .. } => CMD_READ,
            Cmd::Write { .. } => CMD_WRITE,
            Cmd::Flush => CMD_FLUSH,
        }
    }
}

pub(crate) struct Submit {
    pub cmd: Cmd,
    pub done: Done,
}

struct Pending {
    kind: u16,
    offset: u64,
    len: u32,
    since: Instant,
    done: Done,
    _permit: OwnedSemaphorePermit,
}

/// State shared by the handles and the tasks of one connection.
pub(crate) struct Shared {
    /// `nbd://address/export` with the token hidden, for messages.
    pub who: String,
    /// The volume path part of the export name, for errors.
    pub volume: PathBuf,
    /// `None` once broken: nothing can be registered any more.
    inflight: Mutex<Option<HashMap<u64, Pending>>>,
    broken: AtomicBool,
    /// We sent `NBD_CMD_DISC`: the server closing is expected.
    closing: AtomicBool,
    reason: Mutex<Option<String>>,
    stop: watch::Sender<bool>,
}

impl Shared {
    pub(crate) fn new(who: String, volume: PathBuf) -> Arc<Shared> {
        Arc::new(Shared {
            who,
            volume,
            inflight: Mutex::new(Some(HashMap::new())),
            broken: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            reason: Mutex::new(None),
            stop: watch::channel(false).0,
        })
    }

    pub(crate) fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Acquire)
    }

    /// The error a request gets once the connection is broken.
    pub(crate) fn broken_error(&self) -> Error {
        let reason = lock(&self.reason)
            .clone()
            .unwrap_or_else(|| "connection closed".into());
        Error::Io {
            path: self.volume.clone(),
            source: io::Error::new(
                io::ErrorKind::BrokenPipe,
                format!("NBD connection {} is broken: {reason}", self.who),
            ),
        }
    }

    /// Marks the connection broken (the first reason wins) and fails every
    /// request in flight.
    pub(crate) fn fail(&self, reason: impl Into<String>) {
        self.fail_as(reason, true)
    }

    fn fail_as(&self, reason: impl Into<String>, warn: bool) {
        let reason = reason.into();
        let first = {
            let mut r = lock(&self.reason);
            if r.is_none() {
                *r = Some(reason.clone());
                true
            } else {
                false
            }
        };
        self.broken.store(true, Ordering::Release);
        if first && warn {
            tracing::warn!(target = %self.who, %reason, "nbd client connection broken");
        }
        let pending = lock(&self.inflight).take();
        let _ = self.stop.send(true);
        for (_, p) in pending.into_iter().flatten() {
            p.done.complete(Err(self.broken_error()));
        }
    }

    /// Ends the connection when the server closed it: quietly after our
    /// `NBD_CMD_DISC` with nothing in flight, as a failure otherwise.
    fn end(&self) {
        let left = lock(&self.inflight).as_ref().map_or(0, |m| m.len());
        if left > 0 {
            self.fail(format!(
                "the server closed with {left} request(s) unanswered"
            ));
        } else if self.closing.load(Ordering::Acquire) {
            self.fail_as("closed", false);
        } else {
            self.fail("the server closed the connection");
        }
    }

    fn register(&self, cookie: u64, p: Pending) -> std::result::Result<(), Pending> {
        match lock(&self.inflight).as_mut() {
            Some(m) => {
                m.insert(cookie, p);
                Ok(())
            }
            None => Err(p),
        }
    }

    fn take(&self, cookie: u64) -> Option<Pending> {
        lock(&self.inflight).as_mut()?.remove(&cookie)
    }

    fn oldest(&self) -> Option<Instant> {
        lock(&self.inflight)
            .as_ref()?
            .values()
            .map(|p| p.since)
            .min()
    }

    pub(crate) fn stopped(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// The error of a reply carrying `errno`.
    fn reply_error(&self, kind: u16, offset: u64, len: u32, errno: u32) -> Error {
        let what = match kind {
            CMD_READ => "read",
            CMD_WRITE => "write",
            CMD_FLUSH => "flush",
            _ => "request",
        };
        let name = match errno {
            EPERM => "EPERM (operation not permitted)",
            EIO => "EIO (input/output error)",
            EINVAL => "EINVAL (invalid argument)",
            ENOSPC => "ENOSPC (no space left)",
            ESHUTDOWN => "ESHUTDOWN (server shutting down)",
            _ => "an error",
        };
        let msg = format!(
            "{} answered the {what} of {len} bytes at offset {offset} with {name} (errno {errno})",
            self.who
        );
        match errno {
            EPERM => Error::PermissionDenied {
                path: self.volume.clone(),
                reason: msg,
            },
            _ => Error::Io {
                path: self.volume.clone(),
                source: io::Error::new(
                    if errno == ENOSPC {
                        io::Error::from_raw_os_error(28).kind()
                    } else {
                        io::ErrorKind::Other
                    },
                    msg,
                ),
            },
        }
    }
}

/// Waits until `stop` says so.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Starts the three tasks of a connection on the current runtime.
pub(crate) fn spawn<R, W>(
    shared: Arc<Shared>,
    rd: R,
    wr: W,
    max_in_flight: usize,
    request_timeout: Option<Duration>,
) -> mpsc::UnboundedSender<Submit>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel();
    let permits = Arc::new(Semaphore::new(max_in_flight.max(1)));
    tokio::spawn(writer(shared.clone(), rx, wr, permits));
    tokio::spawn(reader(shared.clone(), rd));
    if let Some(t) = request_timeout {
        tokio::spawn(watchdog(shared, t));
    }
    tx
}

async fn writer<W: AsyncWrite + Unpin>(
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<Submit>,
    wr: W,
    permits: Arc<Semaphore>,
) {
    let mut wr = BufWriter::with_capacity(IO_BUFFER, wr);
    let mut stop = shared.stopped();
    let mut cookie: u64 = 0;
    loop {
        let next = tokio::select! {
            biased;
            _ = stopped(&mut stop) => break,
            s = rx.recv() => s,
        };
        let Some(Submit { cmd, done }) = next else {
            // Every handle is gone: say goodbye, give the server time to
            // answer what is in flight and close.
            let disc = Request {
                flags: 0,
                kind: CMD_DISC,
                cookie: 0,
                offset: 0,
                length: 0,
            };
            shared.closing.store(true, Ordering::Release);
            let bye = async {
                wr.write_all(&disc.encode()).await?;
                wr.flush().await?;
                wr.shutdown().await
            };
            tokio::select! {
                _ = stopped(&mut stop) => {}
                r = bye => {
                    if let Err(e) = r {
                        shared.fail(format!("sending NBD_CMD_DISC failed: {e}"));
                    }
                }
            }
            tokio::select! {
                _ = stopped(&mut stop) => {}
                _ = tokio::time::sleep(DISC_GRACE) => shared.fail("the server did not close after NBD_CMD_DISC"),
            }
            return;
        };
        // With every slot taken, the requests buffered so far must go out
        // before waiting: their replies are what frees a slot.
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                let flushed = tokio::select! {
                    biased;
                    _ = stopped(&mut stop) => Err(io::Error::other("connection stopped")),
                    r = wr.flush() => r,
                };
                if let Err(e) = flushed {
                    done.complete(Err(shared.broken_error()));
                    shared.fail(format!("sending requests failed: {e}"));
                    break;
                }
                tokio::select! {
                    biased;
                    _ = stopped(&mut stop) => {
                        done.complete(Err(shared.broken_error()));
                        break;
                    }
                    p = permits.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                }
            }
        };
        cookie = cookie.wrapping_add(1);
        let kind = cmd.kind();
        let (flags, offset, length, data) = match cmd {
            Cmd::Read { offset, len } => (0, offset, len, None),
            Cmd::Write { offset, data, fua } => (
                if fua { CMD_FLAG_FUA } else { 0 },
                offset,
                data.len() as u32,
                Some(data),
            ),
            Cmd::Flush => (0, 0, 0, None),
        };
        let pending = Pending {
            kind,
            offset,
            len: length,
            since: Instant::now(),
            done,
            _permit: permit,
        };
        if let Err(p) = shared.register(cookie, pending) {
            p.done.complete(Err(shared.broken_error()));
            break;
        }
        let head = Request {
            flags,
            kind,
            cookie,
            offset,
            length,
        }
        .encode();
        let send = async {
            wr.write_all(&head).await?;
            if let Some(d) = &data {
                wr.write_all(d).await?;
            }
            // Push the batch out once nothing else is queued.
            if rx.is_empty() {
                wr.flush().await?;
            }
            io::Result::Ok(())
        };
        let sent = tokio::select! {
            biased;
            _ = stopped(&mut stop) => break,
            r = send => r,
        };
        if let Err(e) = sent {
            shared.fail(format!("sending a request failed: {e}"));
            break;
        }
    }
    // Broken: whatever is still queued fails.
    rx.close();
    while let Ok(s) = rx.try_recv() {
        s.done.complete(Err(shared.broken_error()));
    }
}

async fn reader<R: AsyncRead + Unpin>(shared: Arc<Shared>, rd: R) {
    let mut rd = BufReader::with_capacity(IO_BUFFER, rd);
    let mut stop = shared.stopped();
    loop {
        let mut head = [0u8; REPLY_LEN];
        let got = tokio::select! {
            biased;
            _ = stopped(&mut stop) => return,
            r = rd.read_exact(&mut head) => r,
        };
        if let Err(e) = got {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                shared.end();
            } else {
                shared.fail(format!("reading a reply failed: {e}"));
            }
            return;
        }
        let magic = be_u32(&head[0..4]);
        if magic != SIMPLE_REPLY_MAGIC {
            shared.fail(if magic == STRUCTURED_REPLY_MAGIC {
                "the server sent a structured reply, which was not negotiated".to_owned()
            } else {
                format!("reply with a wrong magic {magic:#010x}")
            });
            return;
        }
        let errno = be_u32(&head[4..8]);
        let cookie = be_u64(&head[8..16]);
        let Some(p) = shared.take(cookie) else {
            shared.fail(format!(
                "reply for cookie {cookie}, which no request in flight carries"
            ));
            return;
        };
        if errno != 0 {
            // A simple error reply carries no data, even for a READ.
            let e = shared.reply_error(p.kind, p.offset, p.len, errno);
            p.done.complete(Err(e));
            continue;
        }
        if p.kind != CMD_READ {
            p.done.complete(Ok(Vec::new()));
            continue;
        }
        // The length is the one we asked for, never the server's word.
        let mut data = vec![0u8; p.len as usize];
        let got = tokio::select! {
            biased;
            _ = stopped(&mut stop) => Err(io::Error::other("connection stopped")),
            r = rd.read_exact(&mut data) => r.map(|_| ()),
        };
        match got {
            Ok(()) => p.done.complete(Ok(data)),
            Err(e) => {
                let reason = format!("reading the data of a read reply failed: {e}");
                shared.fail(reason);
                p.done.complete(Err(shared.broken_error()));
                return;
            }
        }
    }
}

async fn watchdog(shared: Arc<Shared>, timeout: Duration) {
    let mut stop = shared.stopped();
    let tick = (timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = tokio::time::sleep(tick) => {}
        }
        if let Some(since) = shared.oldest() {
            if since.elapsed() > timeout {
                shared.fail(format!("no reply within {timeout:?}"));
                return;
            }
        }
    }
}
