//! The provider API: the only thing providers see of the object manager.
//!
//! **API boundary.** A provider implements one trait per capability
//! ([`InstanceProvider`], [`MethodProvider`], [`AssociationProvider`]) and is
//! registered under the name that classes give in their `Provider("...")`
//! qualifier. The object manager routes every operation on such a class (and
//! its subclasses without a provider of their own) to it, merges results across
//! subclasses, applies property lists, `LocalOnly`/`IncludeQualifiers` and query
//! filters itself, and turns the returned [`CimError`]s into wire errors.
//! A provider call runs in its own task with a time limit: a panicking or slow
//! provider fails that request only.
//!
//! Providers publish indications (`CIM_InstCreation`, ...) through
//! [`CimomHandle::publish_indication`]; the object manager matches them against
//! subscriptions and delivers them without blocking the provider.

use async_trait::async_trait;
use cim::ops::{MethodResult, ParamValue};
use cim::{CimError, CimName, Class, Instance, ObjectPath};
use std::collections::HashMap;
use std::sync::Arc;

/// Result of a provider call.
pub type ProviderResult<T> = Result<T, CimError>;

/// Per-request facts a provider may need.
#[derive(Clone)]
pub struct ProviderContext {
    /// The namespace of the request (`root/cimv2`).
    pub namespace: String,
    /// The authenticated user, if authentication is on.
    pub user: Option<String>,
    /// Services of the object manager.
    pub cimom: CimomHandle,
    /// Mark the request as waiting (see [`Waiting`]).
    pub waiting: Waiting,
}

/// A request whose provider now only waits for something to end (such as
/// `waitForCompletion`), as the provider declares with [`Waiting::begin`]
/// once its checks are done. From then on the request is exempt from the
/// object manager's request and method time limits (the provider applies the
/// client's own timeout), and it ends, its provider task cancelled, when the
/// client disconnects. A waiting request still holds its connection and its
/// concurrency permit, so every other limit applies to it. Waiting must hold
/// no thread: await a future, never block.
#[derive(Clone, Debug, Default)]
pub struct Waiting(Arc<std::sync::atomic::AtomicBool>);

impl Waiting {
    /// From now on the request only waits.
    pub fn begin(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Release);
    }

    /// Whether [`Waiting::begin`] was called.
    pub fn is_waiting(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// Services the object manager offers to providers.
pub trait CimomServices: Send + Sync {
    /// Queue an indication instance for delivery to matching subscriptions.
    /// Never blocks; drops (and logs) when the queue is full.
    fn publish_indication(&self, namespace: &str, indication: Instance);
    /// A class from the repository, with inherited features resolved.
    fn get_class(&self, namespace: &str, class_name: &str) -> ProviderResult<Class>;
}

/// A cheap, cloneable handle to [`CimomServices`].
#[derive(Clone)]
pub struct CimomHandle(Arc<dyn CimomServices>);

impl CimomHandle {
    /// Wraps an implementation.
    pub fn new(services: Arc<dyn CimomServices>) -> Self {
        CimomHandle(services)
    }
    /// See [`CimomServices::publish_indication`].
    pub fn publish_indication(&self, namespace: &str, indication: Instance) {
        self.0.publish_indication(namespace, indication)
    }
    /// See [`CimomServices::get_class`].
    pub fn get_class(&self, namespace: &str, class_name: &str) -> ProviderResult<Class> {
        self.0.get_class(namespace, class_name)
    }
}

fn not_supported(what: &str, class: &Class) -> CimError {
    CimError::not_supported(format!("{what} is not supported for class {}", class.name))
}

/// Serves the instances of one or more classes.
///
/// Returned instances carry their `path` (namespace may be left unset; the
/// object manager fills it in). `class` is the class the request named (or, for
/// deep enumerations, each subclass served by this provider in turn).
#[async_trait]
pub trait InstanceProvider: Send + Sync {
    /// Every instance of exactly `class` (not of its subclasses).
    async fn enumerate_instances(
        &self,
        ctx: &ProviderContext,
        class: &Class,
    ) -> ProviderResult<Vec<Instance>>;

    /// Every instance name of exactly `class`. Defaults to the paths of
    /// [`enumerate_instances`](Self::enumerate_instances).
    async fn enumerate_instance_names(
        &self,
        ctx: &ProviderContext,
        class: &Class,
    ) -> ProviderResult<Vec<ObjectPath>> {
        let instances = self.enumerate_instances(ctx, class).await?;
        Ok(instances.into_iter().filter_map(|i| i.path).collect())
    }

    /// One instance; `CIM_ERR_NOT_FOUND` naming the path when absent. Defaults
    /// to a search through [`enumerate_instances`](Self::enumerate_instances).
    async fn get_instance(
        &self,
        ctx: &ProviderContext,
        class: &Class,
        path: &ObjectPath,
    ) -> ProviderResult<Instance> {
        let instances = self.enumerate_instances(ctx, class).await?;
        instances
            .into_iter()
            .find(|i| i.path.as_ref().is_some_and(|p| p.local() == path.local()))
            .ok_or_else(|| CimError::not_found(format!("no instance {path}")))
    }

    /// Creates an instance and returns its path.
    async fn create_instance(
        &self,
        _ctx: &ProviderContext,
        class: &Class,
        _instance: Instance,
    ) -> ProviderResult<ObjectPath> {
        Err(not_supported("CreateInstance", class))
    }

    /// Modifies an instance (`instance.path` names it); `property_list`
    /// restricts which properties are changed.
    async fn modify_instance(
        &self,
        _ctx: &ProviderContext,
        class: &Class,
        _instance: Instance,
        _property_list: Option<&[CimName]>,
    ) -> ProviderResult<()> {
        Err(not_supported("ModifyInstance", class))
    }

    /// Deletes an instance.
    async fn delete_instance(
        &self,
        _ctx: &ProviderContext,
        class: &Class,
        _path: &ObjectPath,
    ) -> ProviderResult<()> {
        Err(not_supported("DeleteInstance", class))
    }
}

/// Serves extrinsic methods.
#[async_trait]
pub trait MethodProvider: Send + Sync {
    /// Invokes `method` on `target` (an instance path, or a class path with no
    /// keys for static methods). Parameters are as sent; the object manager has
    /// checked that the method exists in `class`.
    async fn invoke_method(
        &self,
        ctx: &ProviderContext,
        class: &Class,
        target: &ObjectPath,
        method: &CimName,
        params: Vec<ParamValue>,
    ) -> ProviderResult<MethodResult>;
}

/// Serves association classes.
///
/// The object manager derives Associators, AssociatorNames, References and
/// ReferenceNames (and their pull forms) from
/// [`references`](Self::references): it filters by role and result role,
/// follows the other reference properties, and fetches the far ends through
/// their own providers. Association instances themselves are enumerated through
/// the provider's [`InstanceProvider`] side.
#[async_trait]
pub trait AssociationProvider: Send + Sync {
    /// Every instance of `assoc_class` that refers to `object_name` (through
    /// the reference property `role`, when given).
    async fn references(
        &self,
        ctx: &ProviderContext,
        assoc_class: &Class,
        object_name: &ObjectPath,
        role: Option<&str>,
    ) -> ProviderResult<Vec<Instance>>;
}

/// The capabilities registered under one provider name.
#[derive(Clone, Default)]
pub struct ProviderEntry {
    /// Instance operations.
    pub instance: Option<Arc<dyn InstanceProvider>>,
    /// Extrinsic methods.
    pub method: Option<Arc<dyn MethodProvider>>,
    /// Association traversal.
    pub association: Option<Arc<dyn AssociationProvider>>,
}

/// Providers by the name classes use in their `Provider` qualifier
/// (compared case-insensitively).
#[derive(Clone, Default)]
pub struct ProviderRegistry {
    entries: HashMap<String, ProviderEntry>,
}

impl ProviderRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers (or replaces) the capabilities of provider `name`.
    pub fn register(&mut self, name: &str, entry: ProviderEntry) {
        self.entries.insert(name.to_ascii_lowercase(), entry);
    }

    /// The provider registered under `name`.
    pub fn get(&self, name: &str) -> Option<&ProviderEntry> {
        self.entries.get(&name.to_ascii_lowercase())
    }

    /// Registered provider names (lowercase).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }
}
