//! The interop namespace (`interop`, alias `root/interop`).
//!
//! * `CIM_ObjectManager` (one instance) and `CIM_Namespace` (one per
//!   namespace) are computed live from the repository. `CreateInstance` of a
//!   `CIM_Namespace` creates a namespace and `DeleteInstance` deletes an empty
//!   one, as pywbem's `WBEMServer.create_namespace`/`delete_namespace` expect.
//! * The subscription classes `CIM_IndicationFilter`,
//!   `CIM_ListenerDestination` (and subclasses such as
//!   `CIM_ListenerDestinationCIMXML`) and `CIM_IndicationSubscription` are
//!   static instances in the repository, created and deleted by clients.
//!   As OpenPegasus does, missing keys are filled in on creation
//!   (`SystemCreationClassName = "CIM_ComputerSystem"`, `SystemName` = this
//!   host, `CreationClassName` = the class, and a generated `Name`); a filter's
//!   query is checked (`CIM_ERR_QUERY_LANGUAGE_NOT_SUPPORTED`,
//!   `CIM_ERR_INVALID_QUERY`), a subscription's filter and handler must exist,
//!   and a filter or handler still used by a subscription cannot be deleted
//!   (`CIM_ERR_FAILED`).
//!
//! A filter without `SourceNamespaces`/`SourceNamespace` matches indications
//! from every namespace. Subscriptions whose `SubscriptionState` is 4
//! (Disabled) are not reported by [`subscriptions`].
//!
//! All of it is served by one internal provider, [`PROVIDER_NAME`], which the
//! object manager binds to these classes of the interop namespace when it
//! opens (as OpenPegasus binds its InteropProvider): requests reach it
//! through the ordinary provider routing, and dispatch knows nothing of it.

use crate::provider::{InstanceProvider, ProviderContext, ProviderEntry, ProviderResult};
use crate::repository::Repository;
use crate::static_instances;
use async_trait::async_trait;
use cim::{CimError, CimName, CimType, Class, Instance, ObjectPath, StatusCode, Value};
use std::sync::Arc;

/// The interop namespace's canonical key.
pub const INTEROP: &str = "interop";
const FILTER: &str = "CIM_IndicationFilter";
const DESTINATION: &str = "CIM_ListenerDestination";
const SUBSCRIPTION: &str = "CIM_IndicationSubscription";
const OBJECT_MANAGER: &str = "CIM_ObjectManager";
const NAMESPACE: &str = "CIM_Namespace";
const SYSTEM_CLASS: &str = "CIM_ComputerSystem";

/// One complete indication subscription, as the deliverer needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    /// The `CIM_IndicationSubscription` instance's path.
    pub path: ObjectPath,
    /// The filter's path.
    pub filter_path: ObjectPath,
    /// The handler's (listener destination's) path.
    pub handler_path: ObjectPath,
    /// The filter's `Query` (parse with [`crate::wql::Query::parse`]).
    pub query: String,
    /// The filter's `QueryLanguage` (`WQL`).
    pub query_language: String,
    /// The filter's source namespaces (`SourceNamespaces`, else
    /// `SourceNamespace`; empty = every namespace), canonical form
    /// (see [`crate::repository::namespace_key`]).
    pub source_namespaces: Vec<String>,
    /// The handler's `Destination` URL (`http://host:port/path`).
    pub destination: String,
    /// The subscription instance itself (for `OnFatalErrorPolicy`, ...).
    pub subscription: Instance,
}

/// This host's name (for `SystemName`).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

fn is_a(repo: &Repository, class: &str, sup: &str) -> bool {
    repo.is_a(INTEROP, class, sup)
}

/// The name of the interop provider (in error messages and logs).
pub(crate) const PROVIDER_NAME: &str = "InteropProvider";

/// True for the classes whose instances are computed live.
fn is_live(class: &str) -> bool {
    class.eq_ignore_ascii_case(OBJECT_MANAGER) || class.eq_ignore_ascii_case(NAMESPACE)
}

/// True for the subscription classes (writes change the subscription set).
fn is_subscription_class(repo: &Repository, class: &str) -> bool {
    is_a(repo, class, FILTER) || is_a(repo, class, DESTINATION) || is_a(repo, class, SUBSCRIPTION)
}

/// True for the classes of canonical namespace `ns` the interop provider serves.
pub(crate) fn serves(repo: &Repository, ns: &str, class: &str) -> bool {
    ns == INTEROP && (is_live(class) || is_subscription_class(repo, class))
}

/// The interop provider's state: the repository, this host's name and the
/// subscription-change signal ([`crate::Cimom::subscriptions_changed`]).
struct Interop {
    repo: Arc<Repository>,
    system_name: String,
    changed: Arc<tokio::sync::watch::Sender<u64>>,
}

/// The interop provider, for the object manager to bind ([`serves`]).
pub(crate) fn provider(
    repo: Arc<Repository>,
    system_name: String,
    changed: Arc<tokio::sync::watch::Sender<u64>>,
) -> ProviderEntry {
    ProviderEntry {
        instance: Some(Arc::new(Interop {
            repo,
            system_name,
            changed,
        })),
        ..Default::default()
    }
}

impl Interop {
    fn repository(&self) -> &Repository {
        &self.repo
    }

    /// Called after a write to the subscription classes.
    fn bump_subscriptions(&self) {
        self.changed.send_modify(|g| *g += 1);
    }
}

fn object_manager_name(cimom: &Interop) -> String {
    format!("cimomd:{}", cimom.system_name)
}

fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

/// The live instances of `CIM_ObjectManager` or `CIM_Namespace`.
fn internal_instances(cimom: &Interop, ns: &str, class: &Class) -> Vec<Instance> {
    let repo = cimom.repository();
    let sys = cimom.system_name.clone();
    let build = |mut i: Instance| {
        // Fill every class property (NULL when not set) so clients see the full shape.
        for p in &class.properties {
            if i.property(p.name.as_str()).is_none() {
                i.set(p.name.as_str(), p.ty.clone(), p.value.clone());
            }
        }
        for p in &mut i.properties {
            if let Some(d) = class.property(p.name.as_str()) {
                p.ty = d.ty.clone();
                p.is_array = d.is_array;
            }
        }
        i.path = Some(i.path_from_class(class, Some(&repo.namespace_name(ns))));
        i
    };
    if class.name.is(OBJECT_MANAGER) {
        let i = Instance::new(class.name.clone())
            .with("SystemCreationClassName", CimType::String, s(SYSTEM_CLASS))
            .with("SystemName", CimType::String, s(&sys))
            .with("CreationClassName", CimType::String, s(OBJECT_MANAGER))
            .with(
                "Name",
                CimType::String,
                Value::String(object_manager_name(cimom)),
            )
            .with("ElementName", CimType::String, s("cimomd"))
            .with("Caption", CimType::String, s("cimomd CIM object manager"))
            .with(
                "Description",
                CimType::String,
                Value::String(format!(
                    "cimomd CIM object manager version {}",
                    env!("CARGO_PKG_VERSION")
                )),
            )
            .with("Started", CimType::Boolean, Value::Boolean(true))
            .with("EnabledState", CimType::Uint16, Value::Uint16(2));
        vec![build(i)]
    } else if class.name.is(NAMESPACE) {
        repo.namespaces()
            .into_iter()
            .map(|n| {
                build(
                    Instance::new(class.name.clone())
                        .with("SystemCreationClassName", CimType::String, s(SYSTEM_CLASS))
                        .with("SystemName", CimType::String, s(&sys))
                        .with(
                            "ObjectManagerCreationClassName",
                            CimType::String,
                            s(OBJECT_MANAGER),
                        )
                        .with(
                            "ObjectManagerName",
                            CimType::String,
                            Value::String(object_manager_name(cimom)),
                        )
                        .with("CreationClassName", CimType::String, s(NAMESPACE))
                        .with("Name", CimType::String, Value::String(n)),
                )
            })
            .collect()
    } else {
        Vec::new()
    }
}

/// CreateInstance of a live class: `CIM_Namespace` creates a namespace.
fn create_internal(
    cimom: &Interop,
    ns: &str,
    class: &Class,
    inst: Instance,
) -> Result<ObjectPath, CimError> {
    if !class.name.is(NAMESPACE) {
        return Err(CimError::not_supported(format!(
            "instances of {} cannot be created",
            class.name
        )));
    }
    let name = inst
        .get_str("Name")
        .filter(|n| !n.trim_matches('/').is_empty())
        .ok_or_else(|| CimError::invalid_parameter("CIM_Namespace.Name is required"))?
        .trim_matches('/')
        .to_owned();
    let repo = cimom.repository();
    if repo.resolve_namespace(&name).is_ok() {
        return Err(CimError::new(
            StatusCode::AlreadyExists,
            format!("namespace {name} already exists"),
        ));
    }
    crate::bundled::create_namespace(repo, &name).map_err(|e| e.to_cim())?;
    tracing::info!(namespace = %name, "namespace created");
    internal_instances(cimom, ns, class)
        .into_iter()
        .find(|i| i.get_str("Name") == Some(name.as_str()))
        .and_then(|i| i.path)
        .ok_or_else(|| {
            CimError::failed(format!("namespace {name} was created but cannot be listed"))
        })
}

/// DeleteInstance of a live class: `CIM_Namespace` deletes an empty namespace.
fn delete_internal(
    cimom: &Interop,
    _ns: &str,
    class: &Class,
    path: &ObjectPath,
) -> Result<(), CimError> {
    if !class.name.is(NAMESPACE) {
        return Err(CimError::not_supported(format!(
            "instances of {} cannot be deleted",
            class.name
        )));
    }
    let name = path
        .key_str("Name")
        .ok_or_else(|| CimError::invalid_parameter("the CIM_Namespace path has no Name key"))?;
    let repo = cimom.repository();
    if repo.resolve_namespace(name).is_err() {
        return Err(CimError::not_found(format!(
            "namespace {name} does not exist"
        )));
    }
    repo.delete_namespace(name)?;
    tracing::info!(namespace = %name, "namespace deleted");
    Ok(())
}

fn is_blank(i: &Instance, name: &str) -> bool {
    i.get(name).is_none_or(Value::is_null)
}

/// Fills the keys OpenPegasus fills for subscription classes and sets
/// defaults; called before the instance is normalised.
fn prepare_create(cimom: &Interop, class: &Class, inst: &mut Instance) -> Result<(), CimError> {
    let repo = cimom.repository();
    let name = class.name.as_str();
    if is_a(repo, name, FILTER) || is_a(repo, name, DESTINATION) {
        if is_blank(inst, "SystemCreationClassName") {
            inst.set("SystemCreationClassName", CimType::String, s(SYSTEM_CLASS));
        }
        if is_blank(inst, "SystemName") {
            inst.set(
                "SystemName",
                CimType::String,
                Value::String(cimom.system_name.clone()),
            );
        }
        if is_blank(inst, "CreationClassName") {
            inst.set("CreationClassName", CimType::String, s(name));
        }
        if is_blank(inst, "Name") {
            inst.set(
                "Name",
                CimType::String,
                Value::String(format!("cimomd:{}", uuid::Uuid::new_v4())),
            );
        }
    }
    if is_a(repo, name, FILTER) && is_blank(inst, "QueryLanguage") {
        inst.set("QueryLanguage", CimType::String, s("WQL"));
    }
    if is_a(repo, name, SUBSCRIPTION) {
        if is_blank(inst, "SubscriptionState") && class.property("SubscriptionState").is_some() {
            inst.set("SubscriptionState", CimType::Uint16, Value::Uint16(2));
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if is_blank(inst, "SubscriptionStartTime")
            && class.property("SubscriptionStartTime").is_some()
        {
            inst.set(
                "SubscriptionStartTime",
                CimType::DateTime,
                Value::DateTime(cim::DateTime::from_unix_seconds(now)),
            );
        }
        // References are stored without host, with the interop namespace.
        let ns_name = repo.namespace_name(INTEROP);
        for p in &mut inst.properties {
            if let Value::Reference(r) = &mut p.value {
                r.host = None;
                r.namespace = Some(ns_name.clone());
            }
        }
    }
    Ok(())
}

/// Checks a normalised subscription-class instance before it is stored.
fn validate_create(cimom: &Interop, class: &Class, inst: &Instance) -> Result<(), CimError> {
    let repo = cimom.repository();
    let name = class.name.as_str();
    if is_a(repo, name, FILTER) {
        let query = inst
            .get_str("Query")
            .ok_or_else(|| CimError::invalid_parameter("CIM_IndicationFilter.Query is required"))?;
        crate::wql::check_language(inst.get_str("QueryLanguage").unwrap_or("WQL"))?;
        crate::wql::Query::parse(query)?;
    }
    if is_a(repo, name, DESTINATION) {
        let dest = inst.get_str("Destination").ok_or_else(|| {
            CimError::invalid_parameter(format!("{name}.Destination is required"))
        })?;
        // `host:port/path` without a scheme is tolerated (http is implied, as
        // OpenPegasus does); another scheme is refused.
        let lower = dest.trim().to_ascii_lowercase();
        let scheme_ok = match lower.split_once("://") {
            Some((scheme, rest)) => (scheme == "http" || scheme == "https") && !rest.is_empty(),
            None => !lower.is_empty(),
        };
        if !scheme_ok {
            return Err(CimError::invalid_parameter(format!(
                "destination {dest:?} is not an http:// or https:// URL"
            )));
        }
    }
    if is_a(repo, name, SUBSCRIPTION) {
        for (role, sup) in [("Filter", FILTER), ("Handler", DESTINATION)] {
            let r = inst
                .get(role)
                .and_then(Value::as_reference)
                .ok_or_else(|| CimError::invalid_parameter(format!("{name}.{role} is required")))?;
            if !is_a(repo, r.class_name.as_str(), sup)
                || repo
                    .get_instance(INTEROP, r)
                    .map_err(|e| e.to_cim())?
                    .is_none()
            {
                return Err(CimError::invalid_parameter(format!(
                    "{role} {} of the subscription does not exist",
                    r.local()
                )));
            }
        }
    }
    Ok(())
}

/// Refuses deleting a filter or handler that a subscription still uses.
fn check_delete(cimom: &Interop, class: &Class, path: &ObjectPath) -> Result<(), CimError> {
    let repo = cimom.repository();
    let name = class.name.as_str();
    if is_a(repo, name, FILTER) || is_a(repo, name, DESTINATION) {
        let users = repo.referencing(INTEROP, path).map_err(|e| e.to_cim())?;
        if let Some(u) = users
            .iter()
            .find(|u| is_a(repo, u.class_name.as_str(), SUBSCRIPTION))
        {
            return Err(CimError::failed(format!(
                "{} is used by subscription {}; delete the subscription first",
                path.local(),
                u.path
                    .as_ref()
                    .map(|p| p.local().to_string())
                    .unwrap_or_default()
            )));
        }
    }
    Ok(())
}

fn not_found(path: &ObjectPath) -> CimError {
    CimError::not_found(format!("instance {} does not exist", path.local()))
}

#[async_trait]
impl InstanceProvider for Interop {
    async fn enumerate_instances(
        &self,
        _ctx: &ProviderContext,
        class: &Class,
    ) -> ProviderResult<Vec<Instance>> {
        if is_live(class.name.as_str()) {
            return Ok(internal_instances(self, INTEROP, class));
        }
        self.repo
            .instances_of(INTEROP, class.name.as_str())
            .map_err(|e| e.to_cim())
    }

    async fn enumerate_instance_names(
        &self,
        ctx: &ProviderContext,
        class: &Class,
    ) -> ProviderResult<Vec<ObjectPath>> {
        if is_live(class.name.as_str()) {
            let insts = self.enumerate_instances(ctx, class).await?;
            return Ok(insts.into_iter().filter_map(|i| i.path).collect());
        }
        self.repo
            .instance_paths_of(INTEROP, class.name.as_str())
            .map_err(|e| e.to_cim())
    }

    async fn get_instance(
        &self,
        _ctx: &ProviderContext,
        class: &Class,
        path: &ObjectPath,
    ) -> ProviderResult<Instance> {
        if is_live(class.name.as_str()) {
            return internal_instances(self, INTEROP, class)
                .into_iter()
                .find(|i| i.path_from_class(class, None).local() == path.local())
                .ok_or_else(|| not_found(path));
        }
        self.repo
            .get_instance(INTEROP, path)
            .map_err(|e| e.to_cim())?
            .ok_or_else(|| not_found(path))
    }

    async fn create_instance(
        &self,
        _ctx: &ProviderContext,
        class: &Class,
        mut inst: Instance,
    ) -> ProviderResult<ObjectPath> {
        if is_live(class.name.as_str()) {
            return create_internal(self, INTEROP, class, inst);
        }
        prepare_create(self, class, &mut inst)?;
        let stored = static_instances::normalize(class, &inst, &self.repo.namespace_name(INTEROP))?;
        validate_create(self, class, &stored)?;
        self.repo.create_instance(INTEROP, &stored)?;
        self.bump_subscriptions();
        tracing::info!(class = %class.name, "subscription object created");
        Ok(stored.path.expect("normalize sets the path"))
    }

    async fn modify_instance(
        &self,
        _ctx: &ProviderContext,
        class: &Class,
        inst: Instance,
        property_list: Option<&[CimName]>,
    ) -> ProviderResult<()> {
        if is_live(class.name.as_str()) {
            return Err(CimError::not_supported(format!(
                "instances of {} cannot be modified",
                class.name
            )));
        }
        let path = inst
            .path
            .clone()
            .ok_or_else(|| CimError::invalid_parameter("ModifiedInstance has no instance name"))?;
        let path = static_instances::typed_path(class, &path);
        static_instances::modify(&self.repo, INTEROP, class, &path, &inst, property_list)?;
        self.bump_subscriptions();
        Ok(())
    }

    async fn delete_instance(
        &self,
        _ctx: &ProviderContext,
        class: &Class,
        path: &ObjectPath,
    ) -> ProviderResult<()> {
        if is_live(class.name.as_str()) {
            return delete_internal(self, INTEROP, class, path);
        }
        check_delete(self, class, path)?;
        self.repo.delete_instance(INTEROP, path)?;
        self.bump_subscriptions();
        tracing::info!(class = %class.name, "subscription object deleted");
        Ok(())
    }
}

/// Every complete, not disabled subscription stored in the interop namespace.
pub fn subscriptions(repo: &Repository) -> Vec<Subscription> {
    let Some(base) = repo.get_class(INTEROP, SUBSCRIPTION) else {
        return Vec::new();
    };
    let mut classes = vec![base.name.as_str().to_owned()];
    classes.extend(
        repo.subclasses(INTEROP, Some(SUBSCRIPTION), true)
            .unwrap_or_default()
            .iter()
            .map(|c| c.name.as_str().to_owned()),
    );
    let mut out = Vec::new();
    for c in classes {
        let insts = match repo.instances_of(INTEROP, &c) {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(error = %e, "cannot read subscriptions");
                continue;
            }
        };
        for sub in insts {
            if sub.get("SubscriptionState").and_then(Value::as_u64) == Some(4) {
                continue;
            }
            let (Some(fp), Some(hp)) = (
                sub.get("Filter").and_then(Value::as_reference).cloned(),
                sub.get("Handler").and_then(Value::as_reference).cloned(),
            ) else {
                continue;
            };
            let (Ok(Some(filter)), Ok(Some(handler))) = (
                repo.get_instance(INTEROP, &fp),
                repo.get_instance(INTEROP, &hp),
            ) else {
                tracing::warn!(filter = %fp, handler = %hp, "subscription refers to a missing filter or handler");
                continue;
            };
            let mut source_namespaces: Vec<String> = filter
                .get("SourceNamespaces")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(crate::repository::namespace_key)
                        .collect()
                })
                .unwrap_or_default();
            if source_namespaces.is_empty() {
                source_namespaces.extend(
                    filter
                        .get_str("SourceNamespace")
                        .map(crate::repository::namespace_key),
                );
            }
            out.push(Subscription {
                path: sub.path.clone().unwrap_or_default(),
                filter_path: filter.path.clone().unwrap_or(fp),
                handler_path: handler.path.clone().unwrap_or(hp),
                query: filter.get_str("Query").unwrap_or_default().to_owned(),
                query_language: filter.get_str("QueryLanguage").unwrap_or("WQL").to_owned(),
                source_namespaces,
                destination: handler
                    .get_str("Destination")
                    .unwrap_or_default()
                    .to_owned(),
                subscription: sub,
            });
        }
    }
    out
}
