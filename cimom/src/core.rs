//! The object manager's state: [`Cimom`] owns the repository, the provider
//! registry (with the internal providers bound to namespaces, such as
//! [`crate::interop`]'s), the open enumeration contexts, the rendered-answer
//! caches and the indication hook. Operations are answered by
//! [`crate::dispatch`], which adds [`Cimom::handle_imethod`] and
//! [`Cimom::handle_method`]; this module knows nothing of them.
//!
//! # Start-up order (the provider chicken-and-egg)
//!
//! Providers need a [`CimomHandle`] when they are built, and the object
//! manager routes to providers. So the registry is installed *after* opening:
//!
//! ```no_run
//! # use cimom::{Cimom, BundledMof, provider::ProviderRegistry};
//! # fn providers_registry(_: cimom::provider::CimomHandle) -> ProviderRegistry { ProviderRegistry::new() }
//! # fn main() -> Result<(), cimom::Error> {
//! let extra: Vec<BundledMof> = vec![]; // e.g. DS_II.mof for root/cimv2, from the providers crate
//! let cimom = Cimom::open(std::path::Path::new("/var/cimom"), ProviderRegistry::new(), &extra)?;
//! let registry = providers_registry(cimom.handle());
//! cimom.set_providers(registry); // or cimom.register_provider(name, entry) one by one
//! # Ok(()) }
//! ```
//!
//! Requests that reach a class whose provider is not (yet) registered fail
//! with `CIM_ERR_FAILED` naming the provider.

use crate::answer_cache::RenderedAnswers;
use crate::bundled::{BundledMof, LoadReport};
use crate::error::Error;
use crate::provider::{
    CimomHandle, CimomServices, ProviderEntry, ProviderRegistry, ProviderResult,
};
use crate::pull_contexts::PullContexts;
use crate::repository::Repository;
use cim::{CimError, Class, Instance, StatusCode};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

pub use crate::interop::Subscription;

/// Per-request facts from the HTTP layer.
#[derive(Debug, Clone, Default)]
pub struct RequestCtx {
    /// The authenticated user, if authentication is on.
    pub user: Option<String>,
    /// The CIM-XML `MESSAGE ID`, for logs.
    pub message_id: String,
    /// Set by a provider that now only waits ([`crate::provider::Waiting`]).
    pub waiting: crate::provider::Waiting,
}

/// Receives every indication published by a provider (or by the object
/// manager itself), with its source namespace. Must not block.
pub type IndicationSink = Arc<dyn Fn(&str, Instance) + Send + Sync>;

/// Tunables of the core (the HTTP layer maps its config onto these).
#[derive(Debug, Clone)]
pub struct CimomOptions {
    /// Time limit of one provider call (default 60 s).
    pub provider_timeout: Duration,
    /// Time limit of one extrinsic method call (default: none). Methods such
    /// as `DS_IISet.waitForCompletion(0)` may legitimately run for hours; they
    /// run in their own task, so they never stall other requests.
    pub method_timeout: Option<Duration>,
    /// `OperationTimeout` of pull contexts when the client gives none (default 60 s).
    pub pull_default_timeout: Duration,
    /// Largest `OperationTimeout` accepted (default 600 s); larger ones are
    /// `CIM_ERR_INVALID_OPERATION_TIMEOUT`.
    pub pull_max_timeout: Duration,
    /// Open enumeration contexts at most (default 256); more is
    /// `CIM_ERR_SERVER_LIMITS_EXCEEDED`.
    pub max_pull_contexts: usize,
    /// `SystemName` of the object manager (default: the host name).
    pub system_name: Option<String>,
    /// Resolved classes kept in memory at most (default
    /// [`crate::repository::DEFAULT_CLASS_CACHE`]); others are resolved from
    /// the store when asked for.
    pub class_cache: usize,
    /// Bytes of rendered class answers kept at most (default
    /// [`crate::answer_cache::DEFAULT_CLASS_ANSWER_CACHE_BYTES`]).
    pub class_answer_cache_bytes: usize,
    /// Bytes of rendered static-instance enumerations kept at most (default
    /// [`crate::answer_cache::DEFAULT_INSTANCE_ANSWER_CACHE_BYTES`]).
    pub instance_answer_cache_bytes: usize,
}

impl Default for CimomOptions {
    fn default() -> Self {
        CimomOptions {
            provider_timeout: Duration::from_secs(60),
            method_timeout: None,
            pull_default_timeout: Duration::from_secs(60),
            pull_max_timeout: Duration::from_secs(600),
            max_pull_contexts: 256,
            system_name: None,
            class_cache: crate::repository::DEFAULT_CLASS_CACHE,
            class_answer_cache_bytes: crate::answer_cache::DEFAULT_CLASS_ANSWER_CACHE_BYTES,
            instance_answer_cache_bytes: crate::answer_cache::DEFAULT_INSTANCE_ANSWER_CACHE_BYTES,
        }
    }
}

/// Bounds of the schema and answer caches (`--class-cache`,
/// `--class-answer-cache-bytes`, `--instance-answer-cache-bytes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheBounds {
    /// Resolved classes kept in memory at most.
    pub class_cache: usize,
    /// Bytes of rendered class answers kept at most.
    pub class_answer_cache_bytes: usize,
    /// Bytes of rendered static-instance enumerations kept at most.
    pub instance_answer_cache_bytes: usize,
}

impl Default for CacheBounds {
    fn default() -> Self {
        let o = CimomOptions::default();
        CacheBounds {
            class_cache: o.class_cache,
            class_answer_cache_bytes: o.class_answer_cache_bytes,
            instance_answer_cache_bytes: o.instance_answer_cache_bytes,
        }
    }
}

impl CacheBounds {
    /// [`CimomOptions`] with these bounds.
    pub fn options(self) -> CimomOptions {
        CimomOptions {
            class_cache: self.class_cache,
            class_answer_cache_bytes: self.class_answer_cache_bytes,
            instance_answer_cache_bytes: self.instance_answer_cache_bytes,
            ..CimomOptions::default()
        }
    }
}

/// The object manager core. Cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct Cimom {
    inner: Arc<Inner>,
}

/// A provider the object manager binds to classes itself, ahead of the
/// classes' `Provider` qualifiers (OpenPegasus registers its control
/// providers, such as the InteropProvider, the same way).
pub(crate) struct InternalProvider {
    /// The name in error messages and logs.
    pub(crate) name: &'static str,
    /// True for the (canonical namespace, class) pairs it serves.
    pub(crate) serves: fn(&Repository, &str, &str) -> bool,
    pub(crate) entry: ProviderEntry,
}

pub(crate) struct Inner {
    pub(crate) repo: Arc<Repository>,
    pub(crate) internal: Vec<InternalProvider>,
    pub(crate) providers: RwLock<ProviderRegistry>,
    pub(crate) pulls: PullContexts,
    pub(crate) sink: RwLock<Option<IndicationSink>>,
    pub(crate) options: CimomOptions,
    pub(crate) subscriptions_tx: Arc<tokio::sync::watch::Sender<u64>>,
    pub(crate) rendered: RenderedAnswers,
    pub(crate) rendered_instances: RenderedAnswers,
    /// Static-instance enumerations rendered for pull operations (same bound
    /// as `rendered_instances`).
    pub(crate) rendered_pulls: RenderedAnswers<crate::answer_cache::RenderedPages>,
}

impl Cimom {
    /// Opens (creating when needed) the repository in `state_dir` with the
    /// default [`CimomOptions`]. On an empty state directory the object
    /// manager's own MOF ([`crate::bundled::OBJECT_MANAGER_MOF`]) and then
    /// `bundled` are compiled in; on later starts only bundled texts that
    /// are new or changed are (re)compiled.
    pub fn open(
        state_dir: &Path,
        registry: ProviderRegistry,
        bundled: &[BundledMof],
    ) -> Result<Cimom, Error> {
        Cimom::open_with_options(state_dir, registry, bundled, CimomOptions::default())
    }

    /// [`Cimom::open`] with explicit options.
    pub fn open_with_options(
        state_dir: &Path,
        registry: ProviderRegistry,
        bundled: &[BundledMof],
        options: CimomOptions,
    ) -> Result<Cimom, Error> {
        std::fs::create_dir_all(state_dir).map_err(|source| Error::Io {
            path: state_dir.to_owned(),
            source,
        })?;
        let repo = Repository::open_with(
            &state_dir.join(crate::repository::FILE_NAME),
            options.class_cache,
        )?;
        let mut all: Vec<BundledMof> = crate::bundled::OBJECT_MANAGER_MOF.to_vec();
        all.extend_from_slice(bundled);
        for b in &all {
            crate::bundled::load_if_changed(&repo, b)?;
        }
        let system_name = options
            .system_name
            .clone()
            .unwrap_or_else(crate::interop::host_name);
        let subscriptions_tx = Arc::new(tokio::sync::watch::channel(0u64).0);
        let repo = Arc::new(repo);
        let interop = InternalProvider {
            name: crate::interop::PROVIDER_NAME,
            serves: crate::interop::serves,
            entry: crate::interop::provider(repo.clone(), system_name, subscriptions_tx.clone()),
        };
        Ok(Cimom {
            inner: Arc::new(Inner {
                repo,
                internal: vec![interop],
                providers: RwLock::new(registry),
                pulls: PullContexts::new(options.max_pull_contexts),
                sink: RwLock::new(None),
                rendered: RenderedAnswers::new(options.class_answer_cache_bytes),
                rendered_instances: RenderedAnswers::new(options.instance_answer_cache_bytes),
                rendered_pulls: RenderedAnswers::new(options.instance_answer_cache_bytes),
                options,
                subscriptions_tx,
            }),
        })
    }

    /// Replaces the whole provider registry.
    pub fn set_providers(&self, registry: ProviderRegistry) {
        *self
            .inner
            .providers
            .write()
            .unwrap_or_else(|e| e.into_inner()) = registry;
        self.inner.rendered_instances.clear();
        self.inner.rendered_pulls.clear();
    }

    /// Registers (or replaces) one provider.
    pub fn register_provider(&self, name: &str, entry: ProviderEntry) {
        self.inner
            .providers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .register(name, entry);
        self.inner.rendered_instances.clear();
        self.inner.rendered_pulls.clear();
    }

    /// The handle providers get ([`CimomServices`]): `publish_indication`
    /// forwards to the sink installed with [`Cimom::set_indication_sink`]
    /// (dropped with a debug log while none is installed); `get_class` reads the
    /// class cache.
    pub fn handle(&self) -> CimomHandle {
        CimomHandle::new(Arc::new(Services {
            inner: Arc::downgrade(&self.inner),
        }))
    }

    /// Installs the indication sink (the deliverer's queue).
    pub fn set_indication_sink(&self, sink: IndicationSink) {
        *self.inner.sink.write().unwrap_or_else(|e| e.into_inner()) = Some(sink);
    }

    /// Every complete subscription in the interop namespace: the
    /// `CIM_IndicationSubscription` instances whose filter and handler exist,
    /// with the filter's query and the handler's destination URL.
    pub fn subscriptions(&self) -> Vec<Subscription> {
        crate::interop::subscriptions(&self.inner.repo)
    }

    /// A channel whose value changes whenever a subscription, filter or
    /// listener destination is created, modified or deleted; re-read
    /// [`Cimom::subscriptions`] then.
    pub fn subscriptions_changed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.subscriptions_tx.subscribe()
    }

    /// Compiles MOF files into `namespace` (created when missing), creating
    /// or modifying classes, qualifier declarations and instances. For
    /// `cimomd load-mof`.
    pub fn load_mof(&self, namespace: &str, files: &[PathBuf]) -> Result<LoadReport, Error> {
        let mut report = LoadReport::default();
        for f in files {
            let text = std::fs::read_to_string(f).map_err(|source| Error::Io {
                path: f.clone(),
                source,
            })?;
            // Unsynced commits while compiling; the durable commit below
            // persists them all at once (a crash before it loses the load, not
            // consistency).
            self.inner.repo.set_bulk(true);
            let r = crate::bundled::compile_into(
                &self.inner.repo,
                namespace,
                &f.display().to_string(),
                &text,
            );
            self.inner.repo.set_bulk(false);
            self.inner
                .repo
                .set_meta("last_load", f.display().to_string().as_bytes())?;
            let r = r?;
            report.qualifiers += r.qualifiers;
            report.classes_created += r.classes_created;
            report.classes_modified += r.classes_modified;
            report.instances += r.instances;
        }
        Ok(report)
    }

    /// How many enumeration contexts are open (expired ones are freed
    /// within a second of any request).
    pub fn open_enumeration_contexts(&self) -> usize {
        self.inner.pulls.len()
    }

    /// The repository (for tests and tools).
    pub fn repository(&self) -> &Repository {
        &self.inner.repo
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    /// The internal provider serving `class` of namespace `ns` (canonical), if any.
    pub(crate) fn internal_provider(&self, ns: &str, class: &str) -> Option<&InternalProvider> {
        let repo = &self.inner.repo;
        self.inner
            .internal
            .iter()
            .find(|p| (p.serves)(repo, ns, class))
    }
}

fn publish(inner: &Inner, namespace: &str, indication: Instance) {
    let sink = inner.sink.read().unwrap_or_else(|e| e.into_inner()).clone();
    match sink {
        Some(sink) => sink(namespace, indication),
        None => {
            tracing::debug!(class = %indication.class_name, "no indication sink installed; indication dropped")
        }
    }
}

/// The [`CimomServices`] behind [`Cimom::handle`]. Holds a weak reference so
/// that providers stored in the registry do not keep the object manager alive.
struct Services {
    inner: std::sync::Weak<Inner>,
}

impl CimomServices for Services {
    fn publish_indication(&self, namespace: &str, indication: Instance) {
        if let Some(inner) = self.inner.upgrade() {
            publish(&inner, namespace, indication);
        }
    }

    fn get_class(&self, namespace: &str, class_name: &str) -> ProviderResult<Class> {
        let inner = self.inner.upgrade().ok_or_else(|| {
            CimError::new(
                StatusCode::ServerIsShuttingDown,
                "the object manager is shutting down",
            )
        })?;
        let ns = inner.repo.resolve_namespace(namespace)?;
        inner.repo.class(&ns, class_name).map(|c| (*c).clone())
    }
}
