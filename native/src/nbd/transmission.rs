//! The transmission phase of one connection: a reader task, a small pool of
//! blocking workers, and one serialised reply writer.
//!
//! ```text
//!  socket ──► reader task ──job queue──► workers (tokio blocking pool, ≤ N per connection)
//!                 │ immediate errors          │ BlockDevice call
//!                 ▼                           ▼
//!            reply sink ◄─────────────────────┘
//!                 │ whoever holds the writer lock writes everything queued
//!                 ▼ (non-blocking, vectored); when the socket is full ...
//!  socket ◄── flush task (waits until writable, then writes the rest)
//! ```
//!
//! The reader parses a request, reads a write's payload, checks flags and
//! range, and queues the device call for the connection's workers. A worker
//! runs it and hands the reply (header and read data in one buffer) to the
//! sink, which writes it straight away unless another thread is writing, in
//! which case that thread writes it too (nobody sleeps on the socket): the
//! common case costs at most one `write` per reply and no task wake-up.
//! Replies the socket cannot take at once stay queued, in order, for the
//! flush task.
//!
//! Each request holds an in-flight permit and a share of the byte budget from
//! the moment its header is read until its reply has been written to the
//! socket, which bounds both the requests in flight and the memory a client
//! that stops reading can pin.
//!
//! The workers are long-lived `spawn_blocking` tasks, started on demand up to
//! [`NbdConfig::workers_per_connection`]: a worker that finishes a request
//! takes the next one from the queue without being woken, which matters more
//! than anything else for small requests on few cores. How many may serve the
//! queue at once adapts to the device: while requests complete quickly
//! (moving average of the device call under [`SLOW_CALL`]) at most
//! [`FAST_WORKERS`] run, so a few busy workers drain the queue and nobody
//! pays for waking a sleeper; when calls block (copy-on-write with its syncs,
//! flushes) every worker may run, so their waits overlap.

use super::handshake::Negotiated;
use super::link::LinkWrite;
use super::proto::*;
use super::NbdConfig;
use crate::blockdev::BlockDevice;
use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};

/// Buffers larger than this are not kept for reuse.
const POOL_MAX_CAPACITY: usize = 4 << 20;
/// Most replies gathered into one vectored write by the flush task.
const MAX_IOVECS: usize = 64;
/// Workers serving one connection while its device calls are fast.
const FAST_WORKERS: usize = 4;
/// A device call slower than this on average (moving average over about
/// eight calls) lets every worker run.
const SLOW_CALL: std::time::Duration = std::time::Duration::from_micros(200);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves consistent data behind
    // (every critical section is a few field updates), so poisoning is ignored.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Permits a request holds until its reply is on the socket.
struct Permits {
    _slot: OwnedSemaphorePermit,
    _bytes: Option<OwnedSemaphorePermit>,
}

/// Reply bytes: a bare header, or a read reply (header then data) in a pooled
/// buffer.
enum ReplyBytes {
    Header([u8; REPLY_LEN]),
    Data(Vec<u8>),
}

impl ReplyBytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            ReplyBytes::Header(h) => h,
            ReplyBytes::Data(v) => v,
        }
    }
}

/// A reply queued behind others, with how much of it is already written.
struct Pending {
    bytes: ReplyBytes,
    written: usize,
    _permits: Permits,
}

struct Out {
    /// Replies taken from `incoming`, in order, the first maybe partly written.
    queue: VecDeque<Pending>,
    /// The socket said `WouldBlock`; only the flush task writes until it is
    /// writable again.
    blocked: bool,
}

/// Serialises replies onto the socket without making anyone wait for it.
///
/// Whoever has a reply pushes it onto `incoming` (a short critical section),
/// then tries to become the writer (`try_lock` on `out`). The writer moves
/// everything from `incoming` into its queue and writes it with one vectored,
/// non-blocking write; a thread that finds the writer busy just leaves: the
/// writer looks at `incoming` again after releasing `out`, so nothing is
/// stranded. When the socket is full the flush task takes over, waiting for
/// it to become writable. Replies keep their permits until written.
struct Sink {
    /// The socket, written to without blocking; `None` when replies go
    /// through a stream (TLS) that only the flush task writes.
    wr: Option<LinkWrite>,
    incoming: Mutex<VecDeque<Pending>>,
    out: Mutex<Out>,
    broken: AtomicBool,
    /// Wakes the flush task when the socket is full, or at the end.
    wake: Notify,
    bufs: Arc<BufPool>,
}

impl Sink {
    fn send(&self, bytes: ReplyBytes, permits: Permits) {
        if self.broken.load(Ordering::Acquire) {
            self.recycle(bytes);
            return;
        }
        lock(&self.incoming).push_back(Pending {
            bytes,
            written: 0,
            _permits: permits,
        });
        self.pump();
    }

    /// Writes what is queued if nobody else is writing.
    fn pump(&self) {
        let Some(wr) = &self.wr else {
            // Through TLS: the flush task encrypts and writes everything.
            self.wake.notify_one();
            return;
        };
        loop {
            let mut out = match self.out.try_lock() {
                Ok(out) => out,
                Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => return,
            };
            self.take_incoming(&mut out);
            if !out.blocked {
                match self.write_queue(wr, &mut out) {
                    Ok(true) => {}
                    Ok(false) => self.wake.notify_one(),
                    Err(e) => {
                        drop(out);
                        self.fail(e);
                        return;
                    }
                }
            }
            drop(out);
            if lock(&self.incoming).is_empty() {
                return;
            }
        }
    }

    fn take_incoming(&self, out: &mut Out) {
        let mut inc = lock(&self.incoming);
        out.queue.extend(inc.drain(..));
    }

    fn recycle(&self, bytes: ReplyBytes) {
        if let ReplyBytes::Data(v) = bytes {
            self.bufs.put(v);
        }
    }

    /// Writes as much of the queue as the socket takes without blocking.
    /// Returns `Ok(true)` when the queue is empty, `Ok(false)` (and sets
    /// `blocked`) when the socket is full.
    fn write_queue(&self, wr: &LinkWrite, out: &mut Out) -> io::Result<bool> {
        while !out.queue.is_empty() {
            let slices: Vec<IoSlice<'_>> = out
                .queue
                .iter()
                .take(MAX_IOVECS)
                .map(|p| IoSlice::new(&p.bytes.as_slice()[p.written..]))
                .collect();
            let res = if slices.len() == 1 {
                wr.try_write(&slices[0])
            } else {
                wr.try_write_vectored(&slices)
            };
            drop(slices);
            let mut n = match res {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    out.blocked = true;
                    return Ok(false);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            while n > 0 {
                let Some(front) = out.queue.front_mut() else {
                    break;
                };
                let left = front.bytes.as_slice().len() - front.written;
                if n >= left {
                    n -= left;
                    if let Some(done) = out.queue.pop_front() {
                        self.recycle(done.bytes);
                    }
                } else {
                    front.written += n;
                    n = 0;
                }
            }
        }
        Ok(true)
    }

    /// The socket failed: drop every queued reply (releasing its permits).
    fn fail(&self, e: io::Error) {
        if !self.broken.swap(true, Ordering::AcqRel) {
            tracing::debug!(error = %e, "nbd reply write failed");
        }
        let mut dropped: Vec<Pending> = lock(&self.incoming).drain(..).collect();
        dropped.extend(lock(&self.out).queue.drain(..));
        for p in dropped {
            self.recycle(p.bytes);
        }
        self.wake.notify_one();
    }

    fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Acquire)
    }
}

/// The flush task: takes over writing while the socket is full. Ends when the
/// socket breaks, or when `done` is set and everything is written.
async fn flush_replies(sink: Arc<Sink>, done: watch::Receiver<bool>) {
    let Some(wr) = &sink.wr else {
        return;
    };
    loop {
        if sink.is_broken() {
            return;
        }
        let idle = {
            let out = lock(&sink.out);
            !out.blocked && out.queue.is_empty()
        };
        if idle {
            if *done.borrow() && lock(&sink.incoming).is_empty() {
                return;
            }
            sink.wake.notified().await;
            continue;
        }
        if let Err(e) = wr.writable().await {
            sink.fail(e);
            return;
        }
        let mut out = lock(&sink.out);
        out.blocked = false;
        sink.take_incoming(&mut out);
        if let Err(e) = sink.write_queue(wr, &mut out) {
            drop(out);
            sink.fail(e);
            return;
        }
        drop(out);
        // Replies that arrived while we held the lock.
        sink.pump();
    }
}

/// The flush task of a connection whose replies go through a stream (TLS):
/// it is the only writer, takes whatever replies are queued and writes them
/// in one vectored write (rustls packs them into as few records as it can).
/// Ends when the stream breaks, or when `done` is set and everything is
/// written.
async fn flush_stream(
    sink: Arc<Sink>,
    done: watch::Receiver<bool>,
    mut stream: Box<dyn AsyncWrite + Send + Unpin>,
) {
    let mut batch: Vec<Pending> = Vec::new();
    loop {
        if sink.is_broken() {
            return;
        }
        batch.extend(lock(&sink.incoming).drain(..));
        if batch.is_empty() {
            if *done.borrow() {
                let _ = stream.shutdown().await;
                return;
            }
            sink.wake.notified().await;
            continue;
        }
        if let Err(e) = write_batch(&mut stream, &mut batch).await {
            sink.fail(e);
            return;
        }
        for p in batch.drain(..) {
            sink.recycle(p.bytes);
        }
    }
}

async fn write_batch(
    stream: &mut Box<dyn AsyncWrite + Send + Unpin>,
    batch: &mut [Pending],
) -> io::Result<()> {
    let mut first = 0;
    while first < batch.len() {
        let slices: Vec<IoSlice<'_>> = batch[first..]
            .iter()
            .take(MAX_IOVECS)
            .map(|p| IoSlice::new(&p.bytes.as_slice()[p.written..]))
            .collect();
        let mut n = stream.write_vectored(&slices).await?;
        drop(slices);
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        while n > 0 && first < batch.len() {
            let p = &mut batch[first];
            let left = p.bytes.as_slice().len() - p.written;
            if n >= left {
                n -= left;
                p.written += left;
                first += 1;
            } else {
                p.written += n;
                n = 0;
            }
        }
    }
    stream.flush().await
}

/// Buffers reused across requests, so a steady stream of same-sized requests
/// neither allocates nor zero-fills.
struct BufPool {
    free: Mutex<Vec<Vec<u8>>>,
    keep: usize,
}

impl BufPool {
    fn get(&self) -> Vec<u8> {
        lock(&self.free).pop().unwrap_or_default()
    }

    fn put(&self, buf: Vec<u8>) {
        if buf.capacity() == 0 || buf.capacity() > POOL_MAX_CAPACITY {
            return;
        }
        let mut free = lock(&self.free);
        if free.len() < self.keep {
            free.push(buf);
        }
    }
}

/// One queued device call.
struct Job {
    req: Request,
    payload: Vec<u8>,
    permits: Permits,
}

struct QueueState {
    jobs: VecDeque<Job>,
    /// Workers waiting for a job.
    idle: usize,
    /// Wake-ups sent to idle workers that have not woken yet: until they do,
    /// they still count as idle but are already spoken for, so a burst of
    /// requests must not keep "waking" the same sleeper instead of starting
    /// new workers.
    waking: usize,
    threads: usize,
    closed: bool,
}

/// Per-connection state shared by the reader and the workers.
struct Conn {
    device: Arc<dyn BlockDevice>,
    size: u64,
    read_only: bool,
    bufs: Arc<BufPool>,
    sink: Arc<Sink>,
    queue: Mutex<QueueState>,
    work: Condvar,
    max_workers: usize,
    /// Moving average of device call time, in nanoseconds.
    avg_call_ns: AtomicU64,
    /// Per-export metrics (crate::probe), when installed.
    probe: Option<Arc<dyn crate::probe::ExportProbe>>,
}

impl Conn {
    fn reply(&self, cookie: u64, errno: u32, permits: Permits) {
        self.sink
            .send(ReplyBytes::Header(simple_reply(errno, cookie)), permits);
    }

    /// Queues a device call and gets a worker to it if needed.
    fn submit(self: &Arc<Self>, job: Job) {
        let mut q = lock(&self.queue);
        q.jobs.push_back(job);
        self.staff(q);
    }

    /// Workers that may serve the queue at once, from recent call times.
    fn cap(&self) -> usize {
        let slow = self.avg_call_ns.load(Ordering::Relaxed) > SLOW_CALL.as_nanos() as u64;
        if slow {
            self.max_workers
        } else {
            self.max_workers.min(FAST_WORKERS)
        }
    }

    /// Wakes or starts one worker if jobs wait and fewer than the cap are
    /// running or already woken.
    fn staff(self: &Arc<Self>, mut q: MutexGuard<'_, QueueState>) {
        let serving = q.threads - q.idle + q.waking;
        if q.jobs.is_empty() || serving >= self.cap() {
            return;
        }
        if q.idle > q.waking {
            q.waking += 1;
            drop(q);
            self.work.notify_one();
        } else if q.threads < self.max_workers {
            q.threads += 1;
            drop(q);
            let conn = Arc::clone(self);
            let span = tracing::Span::current();
            // Not awaited: the worker ends when the queue is closed and empty.
            drop(tokio::task::spawn_blocking(move || {
                let _entered = span.enter();
                conn.work_loop();
            }));
        }
    }

    /// Folds one call's duration into the moving average.
    fn record_call(&self, took: std::time::Duration) {
        let ns = took.as_nanos().min(u128::from(u32::MAX)) as u64;
        // Racing updates may lose a sample; the average only steers the cap.
        let avg = self.avg_call_ns.load(Ordering::Relaxed);
        self.avg_call_ns
            .store(avg - avg / 8 + ns / 8, Ordering::Relaxed);
    }

    fn work_loop(self: &Arc<Self>) {
        loop {
            let job = {
                let mut q = lock(&self.queue);
                loop {
                    if let Some(job) = q.jobs.pop_front() {
                        break job;
                    }
                    if q.closed {
                        q.threads -= 1;
                        return;
                    }
                    q.idle += 1;
                    q = self.work.wait(q).unwrap_or_else(|e| e.into_inner());
                    q.idle -= 1;
                    // A spurious wake-up may take another's token; the job is
                    // queued either way and the next free worker takes it.
                    q.waking = q.waking.saturating_sub(1);
                }
            };
            let started = std::time::Instant::now();
            self.execute(job);
            self.record_call(started.elapsed());
            // Calls turned slow while jobs wait: bring in more workers now
            // rather than at the next request.
            self.staff(lock(&self.queue));
        }
    }

    fn close_queue(&self) {
        lock(&self.queue).closed = true;
        self.work.notify_all();
    }

    /// Runs one device call and sends its reply.
    fn execute(&self, job: Job) {
        let Job {
            req,
            payload,
            permits,
        } = job;
        let dev = &*self.device;
        let fua = req.flags & CMD_FLAG_FUA != 0;
        let len = req.length as usize;
        let started = std::time::Instant::now();
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| match req.kind {
            CMD_READ => {
                let mut buf = self.bufs.get();
                buf.resize(REPLY_LEN + len, 0);
                match dev.read_at(&mut buf[REPLY_LEN..], req.offset) {
                    Ok(()) => {
                        put_simple_reply(&mut buf[..REPLY_LEN], 0, req.cookie);
                        Ok(Some(buf))
                    }
                    Err(e) => {
                        self.bufs.put(buf);
                        Err(e)
                    }
                }
            }
            CMD_WRITE => dev.write_at(&payload, req.offset, fua).map(|()| None),
            CMD_FLUSH => dev.flush().map(|()| None),
            CMD_TRIM => dev
                .trim(req.offset, u64::from(req.length))
                .and_then(|()| if fua { dev.flush() } else { Ok(()) })
                .map(|()| None),
            CMD_WRITE_ZEROES => dev
                .write_zeroes(req.offset, u64::from(req.length), fua)
                .map(|()| None),
            // check() refuses every other command before it gets here.
            _ => Err(crate::Error::Precondition(format!(
                "unsupported NBD command {}",
                req.kind
            ))),
        }));
        self.bufs.put(payload);
        if let Some(p) = &self.probe {
            p.request(
                crate::probe::NbdOp::of(req.kind),
                len as u64,
                started.elapsed(),
            );
        }
        match outcome {
            Ok(Ok(Some(buf))) => self.sink.send(ReplyBytes::Data(buf), permits),
            Ok(Ok(None)) => self.reply(req.cookie, 0, permits),
            Ok(Err(e)) => {
                let errno = wire_errno(e.errno());
                if errno == EIO {
                    tracing::warn!(error = %e, ?req, "nbd request failed");
                } else {
                    tracing::debug!(error = %e, ?req, "nbd request refused");
                }
                self.reply(req.cookie, errno, permits);
            }
            Err(_) => {
                tracing::error!(?req, "block device panicked; answering EIO");
                self.reply(req.cookie, EIO, permits);
            }
        }
    }
}

/// Where replies go: straight onto a socket, or through a stream (TLS).
pub(crate) enum Wire {
    /// Written without blocking by whichever thread has a reply.
    Socket(LinkWrite),
    /// Written by the connection's flush task only.
    Stream(Box<dyn AsyncWrite + Send + Unpin>),
}

/// Runs the transmission phase until the client disconnects, breaks the
/// protocol, or `stop` turns true; in-flight requests are answered first.
pub(crate) async fn run<R: AsyncRead + Unpin>(
    mut rd: BufReader<R>,
    wire: Wire,
    export: Negotiated,
    config: &NbdConfig,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    let max_in_flight = config.max_in_flight.clamp(1, Semaphore::MAX_PERMITS);
    let bufs = Arc::new(BufPool {
        free: Mutex::new(Vec::new()),
        keep: max_in_flight,
    });
    let (wr, stream) = match wire {
        Wire::Socket(w) => (Some(w), None),
        Wire::Stream(s) => (None, Some(s)),
    };
    let sink = Arc::new(Sink {
        wr,
        incoming: Mutex::new(VecDeque::new()),
        out: Mutex::new(Out {
            queue: VecDeque::new(),
            blocked: false,
        }),
        broken: AtomicBool::new(false),
        wake: Notify::new(),
        bufs: Arc::clone(&bufs),
    });
    let (done_tx, done_rx) = watch::channel(false);
    let flusher = match stream {
        None => tokio::spawn(tracing::Instrument::in_current_span(flush_replies(
            Arc::clone(&sink),
            done_rx,
        ))),
        Some(stream) => tokio::spawn(tracing::Instrument::in_current_span(flush_stream(
            Arc::clone(&sink),
            done_rx,
            stream,
        ))),
    };
    let conn = Arc::new(Conn {
        device: export.device,
        size: export.size,
        read_only: export.read_only,
        bufs,
        sink: Arc::clone(&sink),
        queue: Mutex::new(QueueState {
            jobs: VecDeque::new(),
            idle: 0,
            waking: 0,
            threads: 0,
            closed: false,
        }),
        work: Condvar::new(),
        max_workers: config.workers_per_connection.max(1),
        avg_call_ns: AtomicU64::new(0),
        probe: crate::probe::export_opened(&super::redact_export(&export.name)),
    });
    let slots = Arc::new(Semaphore::new(max_in_flight));
    let budget = config
        .max_buffered_bytes
        .max(config.max_request_bytes as usize)
        .min(Semaphore::MAX_PERMITS);
    let bytes = Arc::new(Semaphore::new(budget));

    // If this future is dropped (the server aborting a connection that would
    // not drain), the workers and the flush task must still end.
    let _guard = Abandon(Arc::clone(&conn), flusher.abort_handle());

    let result = read_requests(&mut rd, &conn, config, &slots, &bytes, &mut stop).await;
    if result.is_err() {
        // A hard disconnect: nothing more is owed to this client.
        sink.fail(io::Error::other("protocol error"));
    }

    // Every permit comes back once its reply is written (or dropped because
    // the socket broke): then nothing is left to answer.
    let all = u32::try_from(max_in_flight).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
    conn.close_queue();
    let _ = done_tx.send(true);
    sink.wake.notify_one();
    if let Err(e) = flusher.await {
        tracing::error!(error = %e, "nbd reply flusher failed");
    }
    result
}

/// Ends a connection's workers and flush task when dropped.
/// The flush task is aborted too: it may wait forever on a client that
/// stopped reading, holding the socket (and under TLS the whole stream).
struct Abandon(Arc<Conn>, tokio::task::AbortHandle);

impl Drop for Abandon {
    fn drop(&mut self) {
        self.1.abort();
        self.0.close_queue();
        let sink = &self.0.sink;
        if !sink.broken.swap(true, Ordering::AcqRel) {
            let mut dropped: Vec<Pending> = lock(&sink.incoming).drain(..).collect();
            dropped.extend(lock(&sink.out).queue.drain(..));
            for p in dropped {
                sink.recycle(p.bytes);
            }
        }
        sink.wake.notify_one();
    }
}

async fn read_requests<R: AsyncRead + Unpin>(
    rd: &mut BufReader<R>,
    conn: &Arc<Conn>,
    config: &NbdConfig,
    slots: &Arc<Semaphore>,
    bytes: &Arc<Semaphore>,
    stop: &mut watch::Receiver<bool>,
) -> io::Result<()> {
    let mut head = [0u8; REQUEST_LEN];
    loop {
        if *stop.borrow() {
            tracing::debug!("server shutting down, closing connection");
            return Ok(());
        }
        if conn.sink.is_broken() {
            return Ok(());
        }
        if rd.buffer().len() >= REQUEST_LEN {
            // Already buffered: no need to wait on anything.
            rd.read_exact(&mut head).await?;
        } else {
            tokio::select! {
                biased;
                _ = stop.wait_for(|s| *s) => {
                    tracing::debug!("server shutting down, closing connection");
                    return Ok(());
                }
                r = rd.read_exact(&mut head) => match r {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                        tracing::debug!("client closed the connection");
                        return Ok(());
                    }
                    Err(e) => return Err(e),
                },
            }
        }
        let Some(req) = header(&head, config)? else {
            return Ok(());
        };

        let slot = acquire(slots, 1).await?;
        let data_len = match req.kind {
            CMD_READ | CMD_WRITE if req.length <= config.max_request_bytes => req.length,
            _ => 0,
        };
        let byte_permit = if data_len > 0 {
            Some(acquire(bytes, data_len).await?)
        } else {
            None
        };
        let permits = Permits {
            _slot: slot,
            _bytes: byte_permit,
        };

        let mut payload = Vec::new();
        if req.kind == CMD_WRITE {
            payload = conn.bufs.get();
            if let Err(e) = read_payload(rd, &mut payload, req.length as usize).await {
                conn.bufs.put(payload);
                return Err(e);
            }
        }

        if let Some(errno) = check(&req, config, conn.read_only, conn.size) {
            tracing::debug!(?req, errno, "request refused");
            conn.bufs.put(payload);
            conn.reply(req.cookie, errno, permits);
            continue;
        }
        if req.length == 0 && req.kind != CMD_FLUSH {
            conn.bufs.put(payload);
            conn.reply(req.cookie, 0, permits);
            continue;
        }
        conn.submit(Job {
            req,
            payload,
            permits,
        });
    }
}

/// Parses a request header: `None` for `NBD_CMD_DISC`; an `InvalidData`
/// error (the connection closes) for a bad magic or a write too large to
/// read. Pure, so the fuzz target drives it without a connection.
pub(crate) fn header(head: &[u8; REQUEST_LEN], config: &NbdConfig) -> io::Result<Option<Request>> {
    let Some(req) = Request::parse(head) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "bad request magic",
        ));
    };
    tracing::trace!(?req, "nbd request");
    if req.kind == CMD_DISC {
        tracing::debug!("client disconnected (NBD_CMD_DISC)");
        return Ok(None);
    }
    if req.kind == CMD_WRITE && req.length > config.max_request_bytes {
        // The payload would have to be read to stay in step; the protocol
        // lets the server hard-disconnect instead.
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "write of {} bytes exceeds the maximum request size",
                req.length
            ),
        ));
    }
    Ok(Some(req))
}

/// Validates a request against the export (`read_only`, `size`);
/// `Some(errno)` answers it without touching the device.
pub(crate) fn check(req: &Request, config: &NbdConfig, read_only: bool, size: u64) -> Option<u32> {
    let allowed = match req.kind {
        CMD_WRITE_ZEROES => CMD_FLAG_FUA | CMD_FLAG_NO_HOLE,
        CMD_READ | CMD_WRITE | CMD_FLUSH | CMD_TRIM => CMD_FLAG_FUA,
        _ => return Some(EINVAL), // unknown or not advertised
    };
    if req.flags & !allowed != 0 {
        return Some(EINVAL);
    }
    if req.kind == CMD_FLUSH {
        return None;
    }
    if req.kind == CMD_READ && req.length > config.max_request_bytes {
        return Some(EINVAL);
    }
    let writes = req.kind != CMD_READ;
    if writes && read_only {
        return Some(EPERM);
    }
    let in_range = req
        .offset
        .checked_add(u64::from(req.length))
        .is_some_and(|end| end <= size);
    if !in_range {
        return Some(if writes { ENOSPC } else { EINVAL });
    }
    None
}

/// Maps an errno onto the values the protocol allows in a reply (`EPERM`,
/// `EIO`, `ENOMEM`, `EINVAL`, `ENOSPC`, `EOVERFLOW`, `ENOTSUP`, `ESHUTDOWN`):
/// `EACCES` becomes `EPERM`, `EFBIG` and `EDQUOT` become `ENOSPC` (as the
/// protocol recommends), anything else `EIO`.
pub(crate) fn wire_errno(errno: u32) -> u32 {
    const ENOMEM: u32 = 12;
    const EACCES: u32 = 13;
    const EFBIG: u32 = 27;
    const EOVERFLOW: u32 = 75;
    const ENOTSUP: u32 = 95;
    const EDQUOT: u32 = 122;
    match errno {
        EPERM | EIO | ENOMEM | EINVAL | ENOSPC | EOVERFLOW | ENOTSUP | ESHUTDOWN => errno,
        EACCES => EPERM,
        EFBIG | EDQUOT => ENOSPC,
        _ => EIO,
    }
}

async fn acquire(sem: &Arc<Semaphore>, n: u32) -> io::Result<OwnedSemaphorePermit> {
    Arc::clone(sem)
        .acquire_many_owned(n)
        .await
        .map_err(|_| io::Error::other("semaphore closed"))
}

/// Reads exactly `len` bytes into `buf` without zero-filling it first.
async fn read_payload<R: AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut Vec<u8>,
    len: usize,
) -> io::Result<()> {
    buf.clear();
    buf.reserve(len);
    while buf.len() < len {
        let want = (len - buf.len()) as u64;
        let n = (&mut *rd).take(want).read_buf(buf).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "client closed in the middle of a write payload",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::wire_errno;

    #[test]
    fn errnos_outside_the_protocol_are_mapped() {
        for ok in [1, 5, 12, 22, 28, 75, 95, 108] {
            assert_eq!(wire_errno(ok), ok);
        }
        assert_eq!(wire_errno(13), 1); // EACCES
        assert_eq!(wire_errno(27), 28); // EFBIG
        assert_eq!(wire_errno(122), 28); // EDQUOT
        assert_eq!(wire_errno(2), 5); // ENOENT
        assert_eq!(wire_errno(16), 5); // EBUSY
    }
}
