//! [`NbdLinks`]: the [`LinkFactory`] that reaches a mirror's remote
//! secondary through the NBD client, and the [`MirrorLink`] over one client
//! connection.
//!
//! The engine is synchronous; the client is async. `NbdLinks` owns a small
//! tokio runtime (two worker threads named `nbd-link`) that carries every
//! link's connection tasks and runs their completions, so the engine's
//! threads only queue requests and never block on the network. Each link
//! keeps the runtime alive: dropping the factory while mirrors still hold
//! links does not strand their requests.

use super::{ClientOptions, NbdClient};
use crate::error::{Error, Result};
use crate::mirror::{Completion, LinkFactory, MirrorLink, ReadCompletion, RemoteTarget};
use std::sync::Arc;
use std::time::Duration;

/// Owns the runtime; shuts it down without blocking when the last user goes
/// (dropping a runtime from inside another one would panic).
struct Runtime(Option<tokio::runtime::Runtime>);

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl Runtime {
    fn handle(&self) -> &tokio::runtime::Handle {
        self.0
            .as_ref()
            .expect("runtime present until drop")
            .handle()
    }
}

/// Connects mirrors to remote secondaries over NBD (optionally STARTTLS).
pub struct NbdLinks {
    rt: Arc<Runtime>,
    options: ClientOptions,
}

impl std::fmt::Debug for NbdLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NbdLinks")
            .field("options", &self.options)
            .finish()
    }
}

impl NbdLinks {
    /// A factory with default client options (16 requests in flight, 60 s
    /// request timeout).
    pub fn new() -> Result<NbdLinks> {
        NbdLinks::with_options(ClientOptions::default())
    }

    /// A factory whose links use `options` (its `tls` and
    /// `connect_timeout` are replaced per target and per call).
    pub fn with_options(options: ClientOptions) -> Result<NbdLinks> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("nbd-link")
            .enable_all()
            .build()
            .map_err(|e| Error::Precondition(format!("cannot start the NBD link runtime: {e}")))?;
        Ok(NbdLinks {
            rt: Arc::new(Runtime(Some(rt))),
            options,
        })
    }

    /// Connects to `target` (blocking up to `timeout`) and returns the
    /// client itself, for callers that want more than a [`MirrorLink`].
    pub fn connect_client(&self, target: &RemoteTarget, timeout: Duration) -> Result<NbdClient> {
        let mut options = self.options.clone();
        options.tls = target.tls.clone();
        options.connect_timeout = timeout;
        let (address, export) = (target.address.clone(), target.export.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        self.rt.handle().spawn(async move {
            let _ = tx.send(NbdClient::connect(&address, &export, &options).await);
        });
        // The connect future is bounded by `timeout` itself; the margin
        // only covers scheduling.
        rx.recv_timeout(timeout + Duration::from_secs(2))
            .unwrap_or_else(|_| {
                Err(Error::Precondition(format!(
                    "NBD connection to {} ({}) did not finish within {timeout:?}",
                    target.address, target.peer
                )))
            })
    }
}

impl LinkFactory for NbdLinks {
    fn connect(&self, target: &RemoteTarget, timeout: Duration) -> Result<Arc<dyn MirrorLink>> {
        let client = self.connect_client(target, timeout)?;
        if client.info().read_only() {
            return Err(Error::PermissionDenied {
                path: target
                    .export
                    .split("?mirror=")
                    .next()
                    .unwrap_or_default()
                    .into(),
                reason: format!(
                    "{} on peer {} is exported read-only; a mirror secondary must be writable",
                    client.target(),
                    target.peer
                ),
            });
        }
        Ok(Arc::new(NbdLink {
            client,
            _rt: self.rt.clone(),
        }))
    }
}

/// A mirror's connection to its secondary.
struct NbdLink {
    client: NbdClient,
    _rt: Arc<Runtime>,
}

impl MirrorLink for NbdLink {
    fn size(&self) -> u64 {
        self.client.size()
    }
    fn write(&self, offset: u64, data: Vec<u8>, fua: bool, done: Completion) {
        self.client.start_write(offset, data, fua, done);
    }
    fn flush(&self, done: Completion) {
        self.client.start_flush(done);
    }
    fn read(&self, offset: u64, len: u32, done: ReadCompletion) {
        self.client.start_read(offset, len, done);
    }
    fn is_up(&self) -> bool {
        self.client.is_up()
    }
}
