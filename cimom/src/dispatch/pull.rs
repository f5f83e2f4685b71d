//! Pull operations (DSP0200 §5.3.2.x, "Open/Pull"): each `Open*` operation
//! runs its classic counterpart through the same handler (`OpenEnumerateInstances`
//! → EnumerateInstances, `OpenAssociatorInstancePaths` → AssociatorNames,
//! `OpenQueryInstances` → ExecQuery, ...), applies the filter query, returns
//! the first `MaxObjectCount` items and keeps the rest in an enumeration
//! context ([`crate::pull_contexts`], where its rules are) that `Pull*`
//! operations drain, `EnumerationCount` counts and `CloseEnumeration` frees.
//!
//! * `OperationTimeout` (seconds) is the idle time after which a context
//!   expires; `None` gives [`crate::CimomOptions::pull_default_timeout`], `0`
//!   (never expire) and values above
//!   [`crate::CimomOptions::pull_max_timeout`] are refused with
//!   `CIM_ERR_INVALID_OPERATION_TIMEOUT`.
//! * At most [`crate::CimomOptions::max_pull_contexts`] contexts are open at
//!   once (`CIM_ERR_SERVER_LIMITS_EXCEEDED`).
//! * `ContinueOnError = true` is refused with
//!   `CIM_ERR_CONTINUATION_ON_ERROR_NOT_SUPPORTED`.
//! * `FilterQuery` is supported with `FilterQueryLanguage` `WQL` (a whole
//!   query whose `WHERE` condition is applied; its `FROM` class further
//!   restricts the result when it names a class) and `DMTF:FQL` (a bare
//!   condition in the same syntax); other languages get
//!   `CIM_ERR_QUERY_LANGUAGE_NOT_SUPPORTED`. The filter sees every property:
//!   with a filter, the classic query runs without `PropertyList` (and with
//!   `DeepInheritance`) and the result is cut to them after filtering.
//! * The instance name of an `Open*Associator*`/`Open*Reference*` operation
//!   always names an instance, even without keys (a singleton), never a class.
//!
//! OpenEnumerateInstances without a filter of a class whose instances are
//! all stored takes the same cached path as the classic EnumerateInstances
//! (`rendered::pull_items`): every instance is rendered once as
//! `VALUE.INSTANCEWITHPATH`, with where each one ends, and the context keeps
//! a range of that shared text, so each page is a slice of it. Other
//! operations keep their items decoded and render each page.

use super::{assoc, instance_ops, query_ops};
use crate::core::{Cimom, RequestCtx};
use crate::wql::Query;
use cim::ops::{CimObject, Operation, PullItems, PullParams, Response};
use cim::{CimError, CimName, Class, Instance, ObjectPath, StatusCode};
use std::sync::Arc;
use std::time::Duration;

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

/// Instances passing the filter, cut to `property_list` (and, for
/// `DeepInheritance = false`, to the properties of `restrict_to`) afterwards,
/// so that the condition sees every property.
fn filter_then_project(
    cimom: &Cimom,
    ns: &str,
    filter: &Option<Query>,
    insts: Vec<Instance>,
    property_list: Option<&[CimName]>,
    restrict_to: Option<&Class>,
) -> Vec<Instance> {
    let mut insts = apply_filter(cimom, ns, filter, insts);
    if property_list.is_some() || restrict_to.is_some() {
        for i in &mut insts {
            i.properties.retain(|p| {
                property_list.is_none_or(|l| l.contains(&p.name))
                    && restrict_to.is_none_or(|c| c.property(p.name.as_str()).is_some())
            });
        }
    }
    insts
}

/// The instances of a classic answer.
fn instances(r: Response) -> Vec<Instance> {
    match r {
        Response::NamedInstances(v) => v,
        Response::SharedNamedInstances(v) => v.into_iter().map(Arc::unwrap_or_clone).collect(),
        Response::ObjectsWithPath(v) => v
            .into_iter()
            .filter_map(|(_, o)| match o {
                CimObject::Instance(i) => Some(i),
                CimObject::Class(_) => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The instance paths of a classic answer.
fn paths(r: Response) -> Vec<ObjectPath> {
    match r {
        Response::InstanceNames(v) | Response::ObjectPaths(v) => v,
        other => instances(other)
            .into_iter()
            .filter_map(|i| i.path)
            .collect(),
    }
}

/// Runs the classic operation an `Open*` operation pages.
async fn classic(
    cimom: &Cimom,
    ctx: &RequestCtx,
    ns: &str,
    op: Operation,
) -> Result<Response, CimError> {
    match op {
        op @ (Operation::EnumerateInstances { .. } | Operation::EnumerateInstanceNames { .. }) => {
            instance_ops::handle(cimom, ctx, ns, op).await
        }
        op @ Operation::ExecQuery { .. } => query_ops::exec_query(cimom, ctx, ns, op).await,
        op => assoc::handle(cimom, ctx, ns, op, assoc::Level::Instances).await,
    }
}

/// The classic operation behind an `Open*` operation, its parameters and
/// what to do with its answer.
struct Plan {
    classic: Operation,
    max_object_count: u32,
    timeout: Duration,
    filter: Option<Query>,
    /// Instances (`true`) or paths.
    instances: bool,
    /// `PropertyList` to apply after filtering.
    property_list: Option<Vec<CimName>>,
    /// `DeepInheritance = false` of a filtered OpenEnumerateInstances.
    restrict_to: Option<CimName>,
}

/// The pull parameters of an `Open*` operation that pages a classic one
/// (OpenQueryInstances carries its query outside them).
fn params_of(op: &Operation) -> Option<&PullParams> {
    match op {
        Operation::OpenEnumerateInstances { pull, .. }
        | Operation::OpenEnumerateInstancePaths { pull, .. }
        | Operation::OpenAssociatorInstances { pull, .. }
        | Operation::OpenAssociatorInstancePaths { pull, .. }
        | Operation::OpenReferenceInstances { pull, .. }
        | Operation::OpenReferenceInstancePaths { pull, .. } => Some(pull),
        _ => None,
    }
}

/// Maps an `Open*` operation onto its classic counterpart after checking its
/// pull parameters; gives back the operations that need no plan.
fn plan(cimom: &Cimom, op: Operation) -> Result<Result<Plan, Operation>, CimError> {
    let Some(params) = params_of(&op) else {
        return Ok(Err(op));
    };
    let timeout = check_params(cimom, params)?;
    let filter = filter_of(params)?;
    let filtered = filter.is_some();
    let (classic, pull, instances, property_list, restrict_to) = match op {
        Operation::OpenEnumerateInstances {
            class_name,
            deep_inheritance,
            include_class_origin,
            property_list,
            pull,
        } => {
            let restrict = (filtered && !deep_inheritance).then(|| class_name.clone());
            let (pl, after) = if filtered {
                (None, property_list)
            } else {
                (property_list, None)
            };
            let classic = Operation::EnumerateInstances {
                class_name,
                local_only: false,
                deep_inheritance: deep_inheritance || filtered,
                include_qualifiers: false,
                include_class_origin,
                property_list: pl,
            };
            (classic, pull, true, after, restrict)
        }
        Operation::OpenEnumerateInstancePaths { class_name, pull } => {
            let classic = if filtered {
                enumerate_all(class_name)
            } else {
                Operation::EnumerateInstanceNames { class_name }
            };
            (classic, pull, false, None, None)
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
            let classic = Operation::Associators {
                object_name: instance_name,
                assoc_class,
                result_class,
                role,
                result_role,
                include_qualifiers: false,
                include_class_origin,
                property_list: None,
            };
            (classic, pull, true, property_list, None)
        }
        Operation::OpenAssociatorInstancePaths {
            instance_name,
            assoc_class,
            result_class,
            role,
            result_role,
            pull,
        } => {
            let classic = if filtered {
                Operation::Associators {
                    object_name: instance_name,
                    assoc_class,
                    result_class,
                    role,
                    result_role,
                    include_qualifiers: false,
                    include_class_origin: false,
                    property_list: None,
                }
            } else {
                Operation::AssociatorNames {
                    object_name: instance_name,
                    assoc_class,
                    result_class,
                    role,
                    result_role,
                }
            };
            (classic, pull, false, None, None)
        }
        Operation::OpenReferenceInstances {
            instance_name,
            result_class,
            role,
            include_class_origin,
            property_list,
            pull,
        } => {
            let classic = Operation::References {
                object_name: instance_name,
                result_class,
                role,
                include_qualifiers: false,
                include_class_origin,
                property_list: None,
            };
            (classic, pull, true, property_list, None)
        }
        Operation::OpenReferenceInstancePaths {
            instance_name,
            result_class,
            role,
            pull,
        } => {
            let classic = if filtered {
                Operation::References {
                    object_name: instance_name,
                    result_class,
                    role,
                    include_qualifiers: false,
                    include_class_origin: false,
                    property_list: None,
                }
            } else {
                Operation::ReferenceNames {
                    object_name: instance_name,
                    result_class,
                    role,
                }
            };
            (classic, pull, false, None, None)
        }
        other => return Ok(Err(other)),
    };
    Ok(Ok(Plan {
        max_object_count: pull.max_object_count,
        timeout,
        filter,
        classic,
        instances,
        property_list,
        restrict_to,
    }))
}

/// EnumerateInstances of every instance, unshaped (for filters).
fn enumerate_all(class_name: CimName) -> Operation {
    Operation::EnumerateInstances {
        class_name,
        local_only: false,
        deep_inheritance: true,
        include_qualifiers: false,
        include_class_origin: false,
        property_list: None,
    }
}

/// Serves every pull operation.
pub(super) async fn handle(
    cimom: &Cimom,
    ctx: &RequestCtx,
    ns: &str,
    op: Operation,
) -> Result<Response, CimError> {
    let pulls = &cimom.inner().pulls;
    let op = match plan(cimom, op)? {
        Ok(p) => {
            if p.instances && p.filter.is_none() && p.property_list.is_none() {
                if let Some(items) = super::rendered::pull_items(cimom, ctx, ns, &p.classic).await {
                    let first = pulls.open(ns, items?, p.max_object_count, p.timeout, None)?;
                    return Ok(Response::Pull(first));
                }
            }
            let answer = classic(cimom, ctx, ns, p.classic).await?;
            let items = if p.instances {
                let restrict = match &p.restrict_to {
                    Some(c) => Some(cimom.inner().repo.class_for_instances(ns, c.as_str())?),
                    None => None,
                };
                PullItems::InstancesWithPath(filter_then_project(
                    cimom,
                    ns,
                    &p.filter,
                    instances(answer),
                    p.property_list.as_deref(),
                    restrict.as_deref(),
                ))
            } else if p.filter.is_some() {
                let insts = apply_filter(cimom, ns, &p.filter, instances(answer));
                PullItems::InstancePaths(insts.into_iter().filter_map(|i| i.path).collect())
            } else {
                PullItems::InstancePaths(paths(answer))
            };
            let first = pulls.open(ns, items, p.max_object_count, p.timeout, None)?;
            return Ok(Response::Pull(first));
        }
        Err(op) => op,
    };
    match op {
        Operation::OpenQueryInstances {
            filter_query_language,
            filter_query,
            return_query_result_class,
            pull,
        } => {
            let timeout = check_params(cimom, &pull)?;
            let exec = Operation::ExecQuery {
                query_language: filter_query_language.clone(),
                query: filter_query.clone(),
            };
            let insts = instances(query_ops::exec_query(cimom, ctx, ns, exec).await?);
            let result_class = if return_query_result_class {
                let (q, class) =
                    query_ops::prepare(cimom, ns, &filter_query_language, &filter_query)?;
                Some(super::filter::class(
                    &class,
                    false,
                    false,
                    false,
                    q.select.as_deref(),
                ))
            } else {
                None
            };
            let first = pulls.open(
                ns,
                PullItems::Instances(insts),
                pull.max_object_count,
                timeout,
                result_class,
            )?;
            Ok(Response::Pull(first))
        }
        Operation::PullInstancesWithPath {
            enumeration_context: id,
            max_object_count: max,
        } => next_page(
            cimom,
            ns,
            &id,
            max,
            PullItems::InstancesWithPath(Vec::new()),
        ),
        Operation::PullInstancePaths {
            enumeration_context: id,
            max_object_count: max,
        } => next_page(cimom, ns, &id, max, PullItems::InstancePaths(Vec::new())),
        Operation::PullInstances {
            enumeration_context: id,
            max_object_count: max,
        } => next_page(cimom, ns, &id, max, PullItems::Instances(Vec::new())),
        Operation::CloseEnumeration {
            enumeration_context: id,
        } => pulls.close(ns, &id).map(|()| Response::Empty),
        Operation::EnumerationCount {
            enumeration_context: id,
        } => pulls.count(ns, &id).map(|n| Response::Count(Some(n))),
        other => Err(CimError::not_supported(format!(
            "{} is not supported",
            other.name()
        ))),
    }
}

/// A `Pull*` operation: the next page of context `id`, of `kind`'s kind.
fn next_page(
    cimom: &Cimom,
    ns: &str,
    id: &str,
    max: u32,
    kind: PullItems,
) -> Result<Response, CimError> {
    cimom
        .inner()
        .pulls
        .pull(ns, id, max, kind)
        .map(Response::Pull)
}
