//! Pull operations (DSP0200 §5.3.2.x, "Open/Pull"): the `Open*` operations
//! compute their whole result, return the first `MaxObjectCount` items and
//! keep the rest in an *enumeration context* that `Pull*` operations drain,
//! `EnumerationCount` counts and `CloseEnumeration` frees.
//!
//! * Contexts live in memory, keyed by a random UUID, and belong to the
//!   namespace they were opened in.
//! * `OperationTimeout` (seconds) is the idle time after which a context
//!   expires; `None` gives [`crate::CimomOptions::pull_default_timeout`], `0`
//!   (never expire) and values above
//!   [`crate::CimomOptions::pull_max_timeout`] are refused with
//!   `CIM_ERR_INVALID_OPERATION_TIMEOUT`. Expired contexts are swept on every
//!   pull operation; a request naming one gets
//!   `CIM_ERR_INVALID_ENUMERATION_CONTEXT`.
//! * At most [`crate::CimomOptions::max_pull_contexts`] contexts are open at
//!   once (`CIM_ERR_SERVER_LIMITS_EXCEEDED`).
//! * `ContinueOnError = true` is refused with
//!   `CIM_ERR_CONTINUATION_ON_ERROR_NOT_SUPPORTED`.
//! * `FilterQuery` is supported with `FilterQueryLanguage` `WQL` (a whole
//!   query whose `WHERE` condition is applied; its `FROM` class further
//!   restricts the result when it names a class) and `DMTF:FQL` (a bare
//!   condition in the same syntax); other languages get
//!   `CIM_ERR_QUERY_LANGUAGE_NOT_SUPPORTED`.
//! * `EnumerationCount` returns the exact number of items left.
//! * A `Pull*` of the wrong kind for the context (e.g. `PullInstancePaths` on
//!   an `OpenEnumerateInstances` context) is `CIM_ERR_INVALID_PARAMETER`
//!   and leaves the context open.

use crate::dispatch::assoc::{self, Traversal};
use crate::dispatch::filter::InstanceShape;
use crate::dispatch::{instance_ops, query_ops, route, Cimom, RequestCtx};
use crate::wql::Query;
use cim::ops::{Operation, PullItems, PullParams, PullResult, Response};
use cim::{CimError, CimName, Instance, StatusCode};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Context {
    ns: String,
    items: PullItems,
    timeout: Duration,
    expires: Instant,
}

fn len(items: &PullItems) -> usize {
    match items {
        PullItems::InstancesWithPath(v) | PullItems::Instances(v) => v.len(),
        PullItems::InstancePaths(v) => v.len(),
    }
}

/// Splits off the first `n` items.
fn take(items: &mut PullItems, n: usize) -> PullItems {
    fn front<T>(v: &mut Vec<T>, n: usize) -> Vec<T> {
        let n = n.min(v.len());
        let rest = v.split_off(n);
        std::mem::replace(v, rest)
    }
    match items {
        PullItems::InstancesWithPath(v) => PullItems::InstancesWithPath(front(v, n)),
        PullItems::Instances(v) => PullItems::Instances(front(v, n)),
        PullItems::InstancePaths(v) => PullItems::InstancePaths(front(v, n)),
    }
}

fn same_kind(a: &PullItems, b: &PullItems) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// The open enumeration contexts.
pub struct PullContexts {
    max: usize,
    map: Mutex<HashMap<String, Context>>,
    /// Milliseconds since `epoch` of the last sweep (see [`PullContexts::maybe_sweep`]).
    last_sweep: std::sync::atomic::AtomicU64,
    epoch: Instant,
}

impl PullContexts {
    /// A table holding at most `max` contexts.
    pub fn new(max: usize) -> Self {
        PullContexts {
            max,
            map: Mutex::new(HashMap::new()),
            last_sweep: std::sync::atomic::AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Context>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn sweep(map: &mut HashMap<String, Context>) {
        let now = Instant::now();
        map.retain(|id, c| {
            let keep = c.expires > now;
            if !keep {
                tracing::debug!(context = %id, "enumeration context expired");
            }
            keep
        });
    }

    /// How many contexts are open (expired ones not yet swept included).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no context is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes expired contexts now.
    pub fn sweep_now(&self) {
        Self::sweep(&mut self.lock());
    }

    /// Sweeps at most once a second; called on every request so that
    /// abandoned contexts are freed even when no pull operation follows.
    pub fn maybe_sweep(&self) {
        use std::sync::atomic::Ordering;
        let now = self.epoch.elapsed().as_millis() as u64;
        let last = self.last_sweep.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= 1000
            && self
                .last_sweep
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.sweep_now();
        }
    }
}

fn invalid_context(id: &str) -> CimError {
    CimError::new(
        StatusCode::InvalidEnumerationContext,
        format!("enumeration context {id:?} does not exist, was closed or has expired"),
    )
}

fn check_params(cimom: &Cimom, p: &PullParams) -> Result<Duration, CimError> {
    if p.continue_on_error {
        return Err(CimError::new(
            StatusCode::ContinuationOnErrorNotSupported,
            "ContinueOnError is not supported by this object manager",
        ));
    }
    let o = &cimom.inner().options;
    match p.operation_timeout {
        None => Ok(o.pull_default_timeout),
        Some(0) => Err(CimError::new(
            StatusCode::InvalidOperationTimeout,
            format!(
                "OperationTimeout 0 (never expire) is not supported; give 1 to {} seconds",
                o.pull_max_timeout.as_secs()
            ),
        )),
        Some(s) if Duration::from_secs(s as u64) > o.pull_max_timeout => Err(CimError::new(
            StatusCode::InvalidOperationTimeout,
            format!(
                "OperationTimeout {s} exceeds the maximum of {} seconds",
                o.pull_max_timeout.as_secs()
            ),
        )),
        Some(s) => Ok(Duration::from_secs(s as u64)),
    }
}

/// A filter from `FilterQueryLanguage`/`FilterQuery`.
fn filter_of(p: &PullParams) -> Result<Option<Query>, CimError> {
    let Some(text) = p.filter_query.as_deref().filter(|t| !t.trim().is_empty()) else {
        return Ok(None);
    };
    let lang = p.filter_query_language.as_deref().ok_or_else(|| {
        CimError::invalid_parameter("FilterQuery given without FilterQueryLanguage")
    })?;
    if lang.trim().eq_ignore_ascii_case("DMTF:FQL") {
        // A bare condition: wrap it so the WQL grammar parses it.
        let q = Query::parse(&format!("SELECT * FROM FQL_AnyClass WHERE {text}"))?;
        return Ok(Some(Query {
            from: cim::CimName::new(""),
            ..q
        }));
    }
    crate::wql::check_language(lang)?;
    Ok(Some(Query::parse(text)?))
}

fn apply_filter(cimom: &Cimom, ns: &str, f: &Option<Query>, insts: Vec<Instance>) -> Vec<Instance> {
    let Some(q) = f else { return insts };
    let repo = &cimom.inner().repo;
    let isa = |sub: &str, sup: &str| repo.is_a(ns, sub, sup);
    let from = q.from_class();
    let restrict = !from.is_empty() && repo.get_class(ns, from).is_some();
    insts
        .into_iter()
        .filter(|i| (!restrict || isa(i.class_name.as_str(), from)) && q.matches(i, &isa))
        .collect()
}

/// The association instances that pass the filter, cut to `property_list`:
/// filtered before projecting, so that the condition sees every property.
fn filter_then_project(
    cimom: &Cimom,
    ns: &str,
    filter: &Option<Query>,
    insts: Vec<Instance>,
    property_list: Option<&[CimName]>,
) -> PullItems {
    let mut insts = apply_filter(cimom, ns, filter, insts);
    if let Some(pl) = property_list {
        for i in &mut insts {
            i.properties.retain(|p| pl.contains(&p.name));
        }
    }
    PullItems::InstancesWithPath(insts)
}

fn paths(insts: Vec<Instance>) -> PullItems {
    PullItems::InstancePaths(insts.into_iter().filter_map(|i| i.path).collect())
}

/// Serves every pull operation.
pub(crate) async fn handle(
    cimom: &Cimom,
    ctx: &RequestCtx,
    ns: &str,
    op: Operation,
) -> Result<Response, CimError> {
    let repo = &cimom.inner().repo;
    match op {
        Operation::OpenEnumerateInstances {
            class_name,
            deep_inheritance,
            include_class_origin,
            property_list,
            pull,
        } => {
            let timeout = check_params(cimom, &pull)?;
            let filter = filter_of(&pull)?;
            let class = repo.class_for_instances(ns, class_name.as_str())?;
            let insts = apply_filter(
                cimom,
                ns,
                &filter,
                route::enumerate(cimom, ctx, ns, &class).await?,
            );
            let shape = InstanceShape {
                include_qualifiers: false,
                include_class_origin,
                property_list: property_list.as_deref(),
                restrict_to: (!deep_inheritance).then_some(&*class),
            };
            let insts = instance_ops::shape_all(cimom, ns, insts, &shape);
            open(
                cimom,
                ns,
                PullItems::InstancesWithPath(insts),
                pull.max_object_count,
                timeout,
                None,
            )
        }
        Operation::OpenEnumerateInstancePaths { class_name, pull } => {
            let timeout = check_params(cimom, &pull)?;
            let filter = filter_of(&pull)?;
            let class = repo.class_for_instances(ns, class_name.as_str())?;
            let items = if filter.is_some() {
                paths(apply_filter(
                    cimom,
                    ns,
                    &filter,
                    route::enumerate(cimom, ctx, ns, &class).await?,
                ))
            } else {
                PullItems::InstancePaths(route::enumerate_names(cimom, ctx, ns, &class).await?)
            };
            open(cimom, ns, items, pull.max_object_count, timeout, None)
        }
        Operation::OpenAssociatorInstances {
            instance_name,
            assoc_class,
            result_class,
            role,
            result_role,
            include_class_origin,
            property_list,
            pull,
        } => {
            let timeout = check_params(cimom, &pull)?;
            let filter = filter_of(&pull)?;
            let t = Traversal {
                assoc_class,
                result_class,
                role,
                result_role,
            };
            let shape = InstanceShape {
                include_class_origin,
                ..Default::default()
            };
            let insts =
                assoc::associator_instances(cimom, ctx, ns, &instance_name, &t, &shape).await?;
            let items = filter_then_project(cimom, ns, &filter, insts, property_list.as_deref());
            open(cimom, ns, items, pull.max_object_count, timeout, None)
        }
        Operation::OpenAssociatorInstancePaths {
            instance_name,
            assoc_class,
            result_class,
            role,
            result_role,
            pull,
        } => {
            let timeout = check_params(cimom, &pull)?;
            let filter = filter_of(&pull)?;
            let t = Traversal {
                assoc_class,
                result_class,
                role,
                result_role,
            };
            let items = if filter.is_some() {
                let insts = assoc::associator_instances(
                    cimom,
                    ctx,
                    ns,
                    &instance_name,
                    &t,
                    &InstanceShape::default(),
                )
                .await?;
                paths(apply_filter(cimom, ns, &filter, insts))
            } else {
                PullItems::InstancePaths(
                    assoc::associator_names(cimom, ctx, ns, &instance_name, &t).await?,
                )
            };
            open(cimom, ns, items, pull.max_object_count, timeout, None)
        }
        Operation::OpenReferenceInstances {
            instance_name,
            result_class,
            role,
            include_class_origin,
            property_list,
            pull,
        } => {
            let timeout = check_params(cimom, &pull)?;
            let filter = filter_of(&pull)?;
            let t = Traversal {
                assoc_class: result_class,
                role,
                ..Default::default()
            };
            let shape = InstanceShape {
                include_class_origin,
                ..Default::default()
            };
            let insts =
                assoc::reference_instances(cimom, ctx, ns, &instance_name, &t, &shape).await?;
            let items = filter_then_project(cimom, ns, &filter, insts, property_list.as_deref());
            open(cimom, ns, items, pull.max_object_count, timeout, None)
        }
        Operation::OpenReferenceInstancePaths {
            instance_name,
            result_class,
            role,
            pull,
        } => {
            let timeout = check_params(cimom, &pull)?;
            let filter = filter_of(&pull)?;
            let t = Traversal {
                assoc_class: result_class,
                role,
                ..Default::default()
            };
            let insts = assoc::references(cimom, ctx, ns, &instance_name, &t).await?;
            open(
                cimom,
                ns,
                paths(apply_filter(cimom, ns, &filter, insts)),
                pull.max_object_count,
                timeout,
                None,
            )
        }
        Operation::OpenQueryInstances {
            filter_query_language,
            filter_query,
            return_query_result_class,
            pull,
        } => {
            let timeout = check_params(cimom, &pull)?;
            let (q, class) = query_ops::prepare(cimom, ns, &filter_query_language, &filter_query)?;
            let insts = query_ops::run(cimom, ctx, ns, &q, &class).await?;
            let result_class = return_query_result_class.then(|| {
                crate::dispatch::filter::class(&class, false, false, false, q.select.as_deref())
            });
            open(
                cimom,
                ns,
                PullItems::Instances(insts),
                pull.max_object_count,
                timeout,
                result_class,
            )
        }
        Operation::PullInstancesWithPath {
            enumeration_context,
            max_object_count,
        } => pull(
            cimom,
            ns,
            &enumeration_context,
            max_object_count,
            PullItems::InstancesWithPath(Vec::new()),
        ),
        Operation::PullInstancePaths {
            enumeration_context,
            max_object_count,
        } => pull(
            cimom,
            ns,
            &enumeration_context,
            max_object_count,
            PullItems::InstancePaths(Vec::new()),
        ),
        Operation::PullInstances {
            enumeration_context,
            max_object_count,
        } => pull(
            cimom,
            ns,
            &enumeration_context,
            max_object_count,
            PullItems::Instances(Vec::new()),
        ),
        Operation::CloseEnumeration {
            enumeration_context,
        } => {
            let pulls = &cimom.inner().pulls;
            let mut map = pulls.lock();
            PullContexts::sweep(&mut map);
            match map.get(&enumeration_context) {
                Some(c) if c.ns == ns => {
                    map.remove(&enumeration_context);
                    Ok(Response::Empty)
                }
                _ => Err(invalid_context(&enumeration_context)),
            }
        }
        Operation::EnumerationCount {
            enumeration_context,
        } => {
            let pulls = &cimom.inner().pulls;
            let mut map = pulls.lock();
            PullContexts::sweep(&mut map);
            match map.get_mut(&enumeration_context) {
                Some(c) if c.ns == ns => {
                    c.expires = Instant::now() + c.timeout;
                    Ok(Response::Count(Some(len(&c.items) as u64)))
                }
                _ => Err(invalid_context(&enumeration_context)),
            }
        }
        other => Err(CimError::not_supported(format!(
            "{} is not supported",
            other.name()
        ))),
    }
}

fn open(
    cimom: &Cimom,
    ns: &str,
    mut items: PullItems,
    max: u32,
    timeout: Duration,
    query_result_class: Option<cim::Class>,
) -> Result<Response, CimError> {
    let first = take(&mut items, max as usize);
    if len(&items) == 0 {
        return Ok(Response::Pull(PullResult {
            items: first,
            end_of_sequence: true,
            enumeration_context: None,
            query_result_class,
        }));
    }
    let pulls = &cimom.inner().pulls;
    let mut map = pulls.lock();
    PullContexts::sweep(&mut map);
    if map.len() >= pulls.max {
        return Err(CimError::new(
            StatusCode::ServerLimitsExceeded,
            format!(
                "too many open enumeration contexts (limit {}); close some or let them expire",
                pulls.max
            ),
        ));
    }
    let id = uuid::Uuid::new_v4().to_string();
    map.insert(
        id.clone(),
        Context {
            ns: ns.to_owned(),
            items,
            timeout,
            expires: Instant::now() + timeout,
        },
    );
    tracing::debug!(context = %id, "enumeration context opened");
    Ok(Response::Pull(PullResult {
        items: first,
        end_of_sequence: false,
        enumeration_context: Some(id),
        query_result_class,
    }))
}

fn pull(
    cimom: &Cimom,
    ns: &str,
    id: &str,
    max: u32,
    kind: PullItems,
) -> Result<Response, CimError> {
    let pulls = &cimom.inner().pulls;
    let mut map = pulls.lock();
    PullContexts::sweep(&mut map);
    let c = match map.get_mut(id) {
        Some(c) if c.ns == ns => c,
        _ => return Err(invalid_context(id)),
    };
    if !same_kind(&c.items, &kind) {
        return Err(CimError::invalid_parameter(format!(
            "enumeration context {id:?} was opened by a different kind of Open operation"
        )));
    }
    let items = take(&mut c.items, max as usize);
    if len(&c.items) == 0 {
        map.remove(id);
        return Ok(Response::Pull(PullResult {
            items,
            end_of_sequence: true,
            enumeration_context: None,
            query_result_class: None,
        }));
    }
    c.expires = Instant::now() + c.timeout;
    Ok(Response::Pull(PullResult {
        items,
        end_of_sequence: false,
        enumeration_context: Some(id.to_owned()),
        query_result_class: None,
    }))
}
