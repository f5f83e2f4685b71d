//! Routing: which source serves a class (the repository, an internal
//! provider bound by the object manager, or the provider its `Provider`
//! qualifier names), running provider calls in their own
//! task with a time limit, and the instance reads every operation shares
//! (enumerate across subclasses, get one instance).

use crate::core::{Cimom, RequestCtx};
use crate::provider::{ProviderContext, ProviderEntry, Waiting};
use cim::ops::{MethodCall, MethodResult};
use cim::{CimError, Class, Instance, ObjectPath, StatusCode};
use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use tracing::Instrument;

/// Where the instances of a class come from.
pub(crate) enum Source {
    /// Static instances in the repository.
    Repository,
    /// A registered provider.
    Provider(String, ProviderEntry),
    /// The class names a provider that is not registered.
    Missing(String),
}

pub(crate) fn source_of(cimom: &Cimom, ns: &str, class: &Class) -> Source {
    if let Some(p) = cimom.internal_provider(ns, class.name.as_str()) {
        return Source::Provider(p.name.to_owned(), p.entry.clone());
    }
    match class.provider() {
        None => Source::Repository,
        Some(name) => {
            let reg = cimom
                .inner()
                .providers
                .read()
                .unwrap_or_else(|e| e.into_inner());
            match reg.get(name) {
                Some(entry) => Source::Provider(name.to_owned(), entry.clone()),
                None => Source::Missing(name.to_owned()),
            }
        }
    }
}

fn missing(name: &str, class: &Class) -> CimError {
    CimError::failed(format!(
        "provider {name} of class {} is not registered in this object manager",
        class.name
    ))
}

fn no_capability(name: &str, class: &Class, what: &str) -> CimError {
    CimError::not_supported(format!(
        "provider {name} of class {} does not serve {what}",
        class.name
    ))
}

pub(crate) fn provider_ctx(cimom: &Cimom, ctx: &RequestCtx, ns: &str) -> ProviderContext {
    ProviderContext {
        namespace: cimom.inner().repo.namespace_name(ns),
        user: ctx.user.clone(),
        cimom: cimom.handle(),
        waiting: ctx.waiting.clone(),
    }
}

/// Runs one provider call in a spawned task with the configured time limit.
/// A panic or a timeout becomes `CIM_ERR_FAILED` naming the provider.
pub(crate) async fn call<T, Fut>(
    cimom: &Cimom,
    provider: &str,
    what: &'static str,
    fut: Fut,
) -> Result<T, CimError>
where
    T: Send + 'static,
    Fut: Future<Output = Result<T, CimError>> + Send + 'static,
{
    call_with_limit(
        provider,
        what,
        Some(cimom.inner().options.provider_timeout),
        None,
        fut,
    )
    .await
}

/// Cancels a provider task that only waits when its request goes away.
struct CancelWaiting<'a>(&'a Waiting, tokio::task::AbortHandle);

impl Drop for CancelWaiting<'_> {
    fn drop(&mut self) {
        if self.0.is_waiting() && !self.1.is_finished() {
            tracing::debug!("request dropped while waiting; wait cancelled");
            self.1.abort();
        }
    }
}

/// [`call`] with an explicit time limit (`None`: no limit). With `waiting`,
/// a call its provider declared waiting has no limit and is cancelled when
/// this future is dropped.
pub(crate) async fn call_with_limit<T, Fut>(
    provider: &str,
    what: &'static str,
    limit: Option<std::time::Duration>,
    waiting: Option<&Waiting>,
    fut: Fut,
) -> Result<T, CimError>
where
    T: Send + 'static,
    Fut: Future<Output = Result<T, CimError>> + Send + 'static,
{
    let span = tracing::debug_span!("provider_call", provider, op = what);
    let mut handle = tokio::spawn(fut.instrument(span));
    let abort = handle.abort_handle();
    let _cancel = waiting.map(|w| CancelWaiting(w, abort.clone()));
    let joined = match limit {
        Some(limit) => match tokio::time::timeout(limit, &mut handle).await {
            Ok(j) => j,
            Err(_) if waiting.is_some_and(Waiting::is_waiting) => handle.await,
            Err(_) => {
                abort.abort();
                tracing::error!(provider, op = what, "provider timed out");
                return Err(CimError::failed(format!(
                    "provider {provider} did not finish {what} within {} s",
                    limit.as_secs_f32()
                )));
            }
        },
        None => handle.await,
    };
    match joined {
        Ok(r) => r,
        Err(e) if e.is_panic() => {
            tracing::error!(provider, op = what, "provider panicked");
            Err(CimError::failed(format!(
                "provider {provider} panicked during {what}"
            )))
        }
        Err(_) => Err(CimError::failed(format!(
            "provider {provider} was cancelled during {what}"
        ))),
    }
}

/// Gives an instance returned by a source its full path (namespace set,
/// keys from the class when the source left the path out).
pub(crate) fn fix_path(inst: &mut Instance, class: &Class, ns_name: &str) {
    match &mut inst.path {
        Some(p) => {
            p.namespace = Some(ns_name.to_owned());
            p.host = None;
            if p.class_name.as_str().is_empty() {
                p.class_name = inst.class_name.clone();
            }
        }
        None => inst.path = Some(inst.path_from_class(class, Some(ns_name))),
    }
}

/// The classes an enumeration of `class` visits: itself and every subclass.
pub(crate) fn class_and_subclasses(
    cimom: &Cimom,
    ns: &str,
    class: &Arc<Class>,
) -> Result<Vec<Arc<Class>>, CimError> {
    let mut v = vec![class.clone()];
    v.extend(
        cimom
            .inner()
            .repo
            .subclasses(ns, Some(class.name.as_str()), true)?,
    );
    Ok(v)
}

/// Every instance of `class` and its subclasses, with paths, each from its
/// own source. A subclass whose provider is missing is skipped with a warning;
/// the requested class's missing provider is an error.
pub(crate) async fn enumerate(
    cimom: &Cimom,
    ctx: &RequestCtx,
    ns: &str,
    class: &Arc<Class>,
) -> Result<Vec<Instance>, CimError> {
    Ok(enumerate_shared(cimom, ctx, ns, class)
        .await?
        .into_iter()
        .map(Arc::unwrap_or_clone)
        .collect())
}

/// [`enumerate`], with stored instances shared with the repository's
/// instance cache rather than copied.
pub(crate) async fn enumerate_shared(
    cimom: &Cimom,
    ctx: &RequestCtx,
    ns: &str,
    class: &Arc<Class>,
) -> Result<Vec<Arc<Instance>>, CimError> {
    let ns_name = cimom.inner().repo.namespace_name(ns);
    let mut out: Vec<Arc<Instance>> = Vec::new();
    let mut seen = HashSet::new();
    for c in class_and_subclasses(cimom, ns, class)? {
        let source = source_of(cimom, ns, &c);
        let from_provider = matches!(source, Source::Provider(..));
        let mut got: Vec<Arc<Instance>> = match source {
            Source::Repository => {
                let shared = cimom
                    .inner()
                    .repo
                    .shared_instances_of(ns, c.name.as_str())
                    .map_err(|e| e.to_cim())?;
                out.reserve(shared.len());
                for i in shared.iter() {
                    let mut i = i.clone();
                    // Stored paths already carry the namespace: copy only
                    // when fix_path would change something.
                    if !path_is_fixed(&i, &ns_name) {
                        fix_path(Arc::make_mut(&mut i), &c, &ns_name);
                    }
                    out.push(i);
                }
                continue;
            }
            Source::Missing(name) => {
                if Arc::ptr_eq(&c, class) {
                    return Err(missing(&name, &c));
                }
                tracing::warn!(provider = %name, class = %c.name, "provider not registered; subclass skipped");
                continue;
            }
            Source::Provider(name, entry) => {
                let Some(p) = entry.instance.clone() else {
                    if Arc::ptr_eq(&c, class) {
                        return Err(no_capability(&name, &c, "instances"));
                    }
                    continue;
                };
                let pctx = provider_ctx(cimom, ctx, ns);
                let cc = c.clone();
                call(cimom, &name, "EnumerateInstances", async move {
                    p.enumerate_instances(&pctx, &cc).await
                })
                .await?
                .into_iter()
                .map(Arc::new)
                .collect()
            }
        };
        for i in &mut got {
            fix_path(Arc::make_mut(i), &c, &ns_name);
        }
        // A provider serving a class and its subclasses may return the same
        // instance for both; keep the first. (Stored instances are unique.)
        if from_provider {
            got.retain(|i| {
                seen.insert(
                    i.path
                        .as_ref()
                        .map(|p| p.canonical_key())
                        .unwrap_or_default(),
                )
            });
        }
        out.extend(got);
    }
    Ok(out)
}

/// True when [`fix_path`] would leave the instance as it is.
fn path_is_fixed(inst: &Instance, ns_name: &str) -> bool {
    inst.path.as_ref().is_some_and(|p| {
        p.namespace.as_deref() == Some(ns_name)
            && p.host.is_none()
            && !p.class_name.as_str().is_empty()
    })
}

/// Every instance path of `class` and its subclasses.
pub(crate) async fn enumerate_names(
    cimom: &Cimom,
    ctx: &RequestCtx,
    ns: &str,
    class: &Arc<Class>,
) -> Result<Vec<ObjectPath>, CimError> {
    let ns_name = cimom.inner().repo.namespace_name(ns);
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for c in class_and_subclasses(cimom, ns, class)? {
        let got: Vec<ObjectPath> = match source_of(cimom, ns, &c) {
            Source::Provider(name, entry) => {
                let Some(p) = entry.instance.clone() else {
                    if Arc::ptr_eq(&c, class) {
                        return Err(no_capability(&name, &c, "instances"));
                    }
                    continue;
                };
                let pctx = provider_ctx(cimom, ctx, ns);
                let cc = c.clone();
                call(cimom, &name, "EnumerateInstanceNames", async move {
                    p.enumerate_instance_names(&pctx, &cc).await
                })
                .await?
            }
            Source::Missing(name) => {
                if Arc::ptr_eq(&c, class) {
                    return Err(missing(&name, &c));
                }
                continue;
            }
            Source::Repository => cimom
                .inner()
                .repo
                .instance_paths_of(ns, c.name.as_str())
                .map_err(|e| e.to_cim())?,
        };
        for mut p in got {
            p.namespace = Some(ns_name.clone());
            p.host = None;
            if seen.insert(p.canonical_key()) {
                out.push(p);
            }
        }
    }
    Ok(out)
}

/// One instance, from its class's source; `CIM_ERR_NOT_FOUND` when absent.
pub(crate) async fn get(
    cimom: &Cimom,
    ctx: &RequestCtx,
    ns: &str,
    path: &ObjectPath,
) -> Result<(Instance, Arc<Class>), CimError> {
    let repo = &cimom.inner().repo;
    let class = repo.class_for_instances(ns, path.class_name.as_str())?;
    let path = &super::instance_ops::typed_path(&class, path);
    let ns_name = repo.namespace_name(ns);
    let mut inst = match source_of(cimom, ns, &class) {
        Source::Repository => repo
            .get_instance(ns, path)
            .map_err(|e| e.to_cim())?
            .ok_or_else(|| {
                CimError::not_found(format!("instance {} does not exist", path.local()))
            })?,
        Source::Missing(name) => return Err(missing(&name, &class)),
        Source::Provider(name, entry) => {
            let p = entry
                .instance
                .clone()
                .ok_or_else(|| no_capability(&name, &class, "instances"))?;
            let pctx = provider_ctx(cimom, ctx, ns);
            let cc = class.clone();
            let mut target = path.local();
            target.namespace = Some(ns_name.clone());
            call(cimom, &name, "GetInstance", async move {
                p.get_instance(&pctx, &cc, &target).await
            })
            .await?
        }
    };
    fix_path(&mut inst, &class, &ns_name);
    Ok((inst, class))
}

/// An extrinsic method call: the class and method must exist; the class's
/// method provider serves it.
pub(super) async fn invoke_method(
    cimom: &Cimom,
    ctx: &RequestCtx,
    call_: MethodCall,
) -> Result<MethodResult, CimError> {
    let repo = &cimom.inner().repo;
    let ns = repo.resolve_namespace(&call_.namespace)?;
    let class = repo.class_for_instances(&ns, call_.target.class_name.as_str())?;
    let method = class.method(call_.method.as_str()).ok_or_else(|| {
        CimError::new(
            StatusCode::MethodNotFound,
            format!("class {} has no method {}", class.name, call_.method),
        )
    })?;
    let is_static = method
        .qualifiers
        .iter()
        .any(|q| q.name.is("Static") && q.value.as_bool() == Some(true));
    if call_.target.keys.is_empty() && !is_static && class.keys().next().is_some() {
        return Err(CimError::invalid_parameter(format!(
            "method {} of class {} is not static; invoke it on an instance path",
            call_.method, class.name
        )));
    }
    for p in &call_.params {
        let known = method.parameters.iter().any(|d| d.name == p.name);
        if !known {
            return Err(CimError::invalid_parameter(format!(
                "method {}.{} has no parameter {}",
                class.name, call_.method, p.name
            )));
        }
    }
    match source_of(cimom, &ns, &class) {
        Source::Provider(name, entry) => {
            let p = entry.method.clone().ok_or_else(|| {
                CimError::new(
                    StatusCode::MethodNotAvailable,
                    format!(
                        "provider {name} of class {} does not serve methods",
                        class.name
                    ),
                )
            })?;
            let pctx = provider_ctx(cimom, ctx, &ns);
            let mut target = call_.target.local();
            target.namespace = Some(repo.namespace_name(&ns));
            let method_name = call_.method.clone();
            let params = call_.params;
            let cc = class.clone();
            let limit = cimom.inner().options.method_timeout;
            call_with_limit(
                &name,
                "InvokeMethod",
                limit,
                Some(&ctx.waiting),
                async move {
                    p.invoke_method(&pctx, &cc, &target, &method_name, params)
                        .await
                },
            )
            .await
        }
        Source::Missing(name) => Err(missing(&name, &class)),
        _ => Err(CimError::new(
            StatusCode::MethodNotAvailable,
            format!(
                "class {} has no provider that implements method {}",
                class.name, call_.method
            ),
        )),
    }
}
