//! Association traversal: Associators, AssociatorNames, References,
//! ReferenceNames (their pull forms reuse the functions here).
//!
//! The association instances that refer to an object come from two places:
//! static association instances in the repository, found through its
//! reference index, and provider-served association classes, asked through
//! [`crate::provider::AssociationProvider::references`] (or, for a provider
//! with only an instance side, by enumerating and filtering). Each
//! association class is asked separately and only instances of exactly that
//! class are kept, so a provider serving a class and its subclasses is not
//! counted twice.
//!
//! A path without keys names a class: the class-level forms answer with the
//! association classes (References) or the classes at the other ends
//! (Associators) from the schema, as DSP0200 §5.3.2.14 describes.

use super::filter::InstanceShape;
use super::route::{self, call, provider_ctx, Source};
use crate::core::{Cimom, RequestCtx};
use cim::ops::{CimObject, Operation, Response};
use cim::{CimError, CimName, CimType, Class, Instance, ObjectPath, StatusCode};
use std::collections::HashSet;
use std::sync::Arc;

/// Filters of a traversal.
#[derive(Debug, Clone, Default)]
pub(crate) struct Traversal {
    pub assoc_class: Option<CimName>,
    pub result_class: Option<CimName>,
    pub role: Option<String>,
    pub result_role: Option<String>,
}

/// What an object name without keys names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Level {
    /// A class (classic operations: class-level traversal, DSP0200 §5.3.2.x).
    ClassWhenKeyless,
    /// Always an instance, a keyless one being a singleton (pull operations).
    Instances,
}

pub(super) async fn handle(
    cimom: &Cimom,
    ctx: &RequestCtx,
    ns: &str,
    op: Operation,
    level: Level,
) -> Result<Response, CimError> {
    if level == Level::ClassWhenKeyless {
        if let Some(answer) = class_level_answer(cimom, ns, &op) {
            return answer;
        }
    }
    match op {
        Operation::Associators {
            object_name,
            assoc_class,
            result_class,
            role,
            result_role,
            include_qualifiers,
            include_class_origin,
            property_list,
        } => {
            let t = Traversal {
                assoc_class,
                result_class,
                role,
                result_role,
            };
            let shape = InstanceShape {
                include_qualifiers,
                include_class_origin,
                property_list: property_list.as_deref(),
                restrict_to: None,
            };
            let insts = associator_instances(cimom, ctx, ns, &object_name, &t, &shape).await?;
            Ok(Response::ObjectsWithPath(with_paths(insts)))
        }
        Operation::AssociatorNames {
            object_name,
            assoc_class,
            result_class,
            role,
            result_role,
        } => {
            let t = Traversal {
                assoc_class,
                result_class,
                role,
                result_role,
            };
            Ok(Response::ObjectPaths(
                associator_names(cimom, ctx, ns, &object_name, &t).await?,
            ))
        }
        Operation::References {
            object_name,
            result_class,
            role,
            include_qualifiers,
            include_class_origin,
            property_list,
        } => {
            let t = Traversal {
                assoc_class: result_class,
                role,
                ..Default::default()
            };
            let shape = InstanceShape {
                include_qualifiers,
                include_class_origin,
                property_list: property_list.as_deref(),
                restrict_to: None,
            };
            let insts = reference_instances(cimom, ctx, ns, &object_name, &t, &shape).await?;
            Ok(Response::ObjectsWithPath(with_paths(insts)))
        }
        Operation::ReferenceNames {
            object_name,
            result_class,
            role,
        } => {
            let t = Traversal {
                assoc_class: result_class,
                role,
                ..Default::default()
            };
            let refs = references(cimom, ctx, ns, &object_name, &t).await?;
            Ok(Response::ObjectPaths(
                refs.into_iter().filter_map(|i| i.path).collect(),
            ))
        }
        other => Err(CimError::not_supported(format!(
            "{} is not an association operation",
            other.name()
        ))),
    }
}

/// The class-level answer (DSP0200 §5.3.2.14) of an association operation
/// whose object name has no keys, from the schema alone; `None` for any
/// other operation (what the rendered-answer cache may keep: it depends on
/// the schema only).
pub(super) fn class_level_answer(
    cimom: &Cimom,
    ns: &str,
    op: &Operation,
) -> Option<Result<Response, CimError>> {
    let t = |assoc_class: &Option<CimName>,
             result_class: &Option<CimName>,
             role: &Option<String>,
             result_role: &Option<String>| Traversal {
        assoc_class: assoc_class.clone(),
        result_class: result_class.clone(),
        role: role.clone(),
        result_role: result_role.clone(),
    };
    match op {
        Operation::Associators {
            object_name,
            assoc_class,
            result_class,
            role,
            result_role,
            include_qualifiers,
            include_class_origin,
            ..
        } if object_name.keys.is_empty() => Some(class_level(
            cimom,
            ns,
            object_name,
            &t(assoc_class, result_class, role, result_role),
            true,
            *include_qualifiers,
            *include_class_origin,
        )),
        Operation::AssociatorNames {
            object_name,
            assoc_class,
            result_class,
            role,
            result_role,
        } if object_name.keys.is_empty() => Some(class_level_names(
            cimom,
            ns,
            object_name,
            &t(assoc_class, result_class, role, result_role),
            true,
        )),
        Operation::References {
            object_name,
            result_class,
            role,
            include_qualifiers,
            include_class_origin,
            ..
        } if object_name.keys.is_empty() => Some(class_level(
            cimom,
            ns,
            object_name,
            &t(result_class, &None, role, &None),
            false,
            *include_qualifiers,
            *include_class_origin,
        )),
        Operation::ReferenceNames {
            object_name,
            result_class,
            role,
        } if object_name.keys.is_empty() => Some(class_level_names(
            cimom,
            ns,
            object_name,
            &t(result_class, &None, role, &None),
            false,
        )),
        _ => None,
    }
}

fn with_paths(insts: Vec<Instance>) -> Vec<(ObjectPath, CimObject)> {
    insts
        .into_iter()
        .map(|i| (i.path.clone().unwrap_or_default(), CimObject::Instance(i)))
        .collect()
}

fn check_class(
    cimom: &Cimom,
    ns: &str,
    name: &Option<CimName>,
    what: &str,
) -> Result<(), CimError> {
    if let Some(n) = name {
        if cimom.inner().repo.get_class(ns, n.as_str()).is_none() {
            return Err(CimError::invalid_parameter(format!(
                "{what} {n} does not exist in namespace {ns}"
            )));
        }
    }
    Ok(())
}

fn same_object(a: &ObjectPath, b: &ObjectPath) -> bool {
    a.local() == b.local()
}

/// True when `inst` refers to `object` through `role` (any reference property when `None`).
fn refers_to(inst: &Instance, object: &ObjectPath, role: Option<&str>) -> bool {
    inst.properties.iter().any(|p| {
        role.is_none_or(|r| p.name.is(r))
            && p.value
                .as_reference()
                .is_some_and(|r| same_object(r, object))
    })
}

/// The association instances referring to `object` (with paths), filtered by
/// association class (`t.assoc_class`) and `t.role`.
pub(crate) async fn references(
    cimom: &Cimom,
    ctx: &RequestCtx,
    ns: &str,
    object: &ObjectPath,
    t: &Traversal,
) -> Result<Vec<Instance>, CimError> {
    let repo = &cimom.inner().repo;
    let object_class = repo
        .get_class(ns, object.class_name.as_str())
        .ok_or_else(|| {
            CimError::invalid_parameter(format!(
                "class {} of the object name does not exist in namespace {ns}",
                object.class_name
            ))
        })?;
    let object = &super::instance_ops::typed_path(&object_class, object);
    check_class(cimom, ns, &t.assoc_class, "association class")?;
    check_class(cimom, ns, &t.result_class, "result class")?;
    let ns_name = repo.namespace_name(ns);
    let assoc_classes: Vec<Arc<Class>> = repo
        .associations_reaching(ns, object_class.name.as_str())?
        .into_iter()
        .filter(|c| {
            t.assoc_class
                .as_ref()
                .is_none_or(|a| repo.is_a(ns, c.name.as_str(), a.as_str()))
        })
        .collect();
    let mut out = Vec::new();
    let mut repo_backed = HashSet::new();
    for c in &assoc_classes {
        match route::source_of(cimom, ns, c) {
            Source::Repository => {
                repo_backed.insert(c.name.to_lowercase());
            }
            Source::Provider(name, entry) => {
                let pctx = provider_ctx(cimom, ctx, ns);
                let cc = c.clone();
                let mut target = object.local();
                target.namespace = Some(ns_name.clone());
                let got = if let Some(ap) = entry.association.clone() {
                    let role = t.role.clone();
                    call(cimom, &name, "References", async move {
                        ap.references(&pctx, &cc, &target, role.as_deref()).await
                    })
                    .await?
                } else if let Some(ip) = entry.instance.clone() {
                    call(cimom, &name, "EnumerateInstances", async move {
                        ip.enumerate_instances(&pctx, &cc).await
                    })
                    .await?
                } else {
                    continue;
                };
                for mut i in got {
                    if i.class_name == c.name && refers_to(&i, object, t.role.as_deref()) {
                        route::fix_path(&mut i, c, &ns_name);
                        out.push(i);
                    }
                }
            }
            Source::Missing(name) => {
                tracing::warn!(provider = %name, class = %c.name, "association provider not registered; skipped");
            }
        }
    }
    if !repo_backed.is_empty() {
        for i in repo.referencing(ns, object).map_err(|e| e.to_cim())? {
            if repo_backed.contains(&i.class_name.to_lowercase())
                && refers_to(&i, object, t.role.as_deref())
            {
                out.push(i);
            }
        }
    }
    Ok(out)
}

/// The paths at the other ends of the associations of `object`.
pub(crate) async fn associator_names(
    cimom: &Cimom,
    ctx: &RequestCtx,
    ns: &str,
    object: &ObjectPath,
    t: &Traversal,
) -> Result<Vec<ObjectPath>, CimError> {
    let repo = &cimom.inner().repo;
    let ns_name = repo.namespace_name(ns);
    let refs = references(cimom, ctx, ns, object, t).await?;
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for a in refs {
        for p in &a.properties {
            let Some(target) = p.value.as_reference() else {
                continue;
            };
            // Skip the end we came from (through the role, when one is given).
            if same_object(target, object) && t.role.as_deref().is_none_or(|r| p.name.is(r)) {
                continue;
            }
            if t.result_role.as_deref().is_some_and(|r| !p.name.is(r)) {
                continue;
            }
            if let Some(rc) = &t.result_class {
                if !repo.is_a(ns, target.class_name.as_str(), rc.as_str()) {
                    continue;
                }
            }
            let mut target = target.clone();
            target.host = None;
            if target.namespace.is_none() {
                target.namespace = Some(ns_name.clone());
            }
            if seen.insert((
                target
                    .namespace
                    .clone()
                    .unwrap_or_default()
                    .to_ascii_lowercase(),
                target.canonical_key(),
            )) {
                out.push(target);
            }
        }
    }
    Ok(out)
}

/// The instances at the other ends, fetched through their own sources and shaped.
pub(crate) async fn associator_instances(
    cimom: &Cimom,
    ctx: &RequestCtx,
    ns: &str,
    object: &ObjectPath,
    t: &Traversal,
    shape: &InstanceShape<'_>,
) -> Result<Vec<Instance>, CimError> {
    let repo = &cimom.inner().repo;
    let mut out = Vec::new();
    for target in associator_names(cimom, ctx, ns, object, t).await? {
        let tns = target
            .namespace
            .as_deref()
            .and_then(|n| repo.resolve_namespace(n).ok())
            .unwrap_or_else(|| ns.to_owned());
        match route::get(cimom, ctx, &tns, &target).await {
            Ok((mut inst, class)) => {
                shape.apply(&mut inst, Some(&class));
                out.push(inst);
            }
            Err(e) if matches!(e.status, StatusCode::NotFound | StatusCode::InvalidClass) => {
                tracing::debug!(target = %target, "association end does not exist; skipped");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// The association instances, shaped.
pub(crate) async fn reference_instances(
    cimom: &Cimom,
    ctx: &RequestCtx,
    ns: &str,
    object: &ObjectPath,
    t: &Traversal,
    shape: &InstanceShape<'_>,
) -> Result<Vec<Instance>, CimError> {
    let insts = references(cimom, ctx, ns, object, t).await?;
    Ok(super::instance_ops::shape_all(cimom, ns, insts, shape))
}

/// Association classes whose references can point at `class` (by `role`),
/// with the reference properties that can.
fn schema_refs<'a>(
    cimom: &Cimom,
    ns: &str,
    class: &str,
    assocs: &'a [Arc<Class>],
    role: Option<&str>,
) -> Vec<(&'a Arc<Class>, Vec<&'a cim::Property>)> {
    let repo = &cimom.inner().repo;
    assocs
        .iter()
        .filter_map(|a| {
            let props: Vec<&cim::Property> = a
                .properties
                .iter()
                .filter(|p| role.is_none_or(|r| p.name.is(r)))
                .filter(|p| match &p.ty {
                    CimType::Reference(Some(rc)) => repo.is_a(ns, class, rc.as_str()),
                    _ => false,
                })
                .collect();
            (!props.is_empty()).then_some((a, props))
        })
        .collect()
}

fn class_level_targets(
    cimom: &Cimom,
    ns: &str,
    object: &ObjectPath,
    t: &Traversal,
    associators: bool,
) -> Result<Vec<Arc<Class>>, CimError> {
    let repo = &cimom.inner().repo;
    repo.class(ns, object.class_name.as_str())?;
    check_class(cimom, ns, &t.assoc_class, "association class")?;
    check_class(cimom, ns, &t.result_class, "result class")?;
    let assocs: Vec<Arc<Class>> = repo
        .associations_reaching(ns, object.class_name.as_str())?
        .into_iter()
        .filter(|c| {
            t.assoc_class
                .as_ref()
                .is_none_or(|a| repo.is_a(ns, c.name.as_str(), a.as_str()))
        })
        .collect();
    let hits = schema_refs(
        cimom,
        ns,
        object.class_name.as_str(),
        &assocs,
        t.role.as_deref(),
    );
    let mut out: Vec<Arc<Class>> = Vec::new();
    for (a, props) in hits {
        if !associators {
            out.push(a.clone());
            continue;
        }
        for p in &a.properties {
            if props.iter().any(|x| x.name == p.name) && t.role.is_some() {
                continue;
            }
            if t.result_role.as_deref().is_some_and(|r| !p.name.is(r)) {
                continue;
            }
            if let CimType::Reference(Some(rc)) = &p.ty {
                if props.len() == 1 && props[0].name == p.name {
                    continue;
                }
                if t.result_class
                    .as_ref()
                    .is_some_and(|r| !repo.is_a(ns, rc.as_str(), r.as_str()))
                {
                    continue;
                }
                if let Some(c) = repo.get_class(ns, rc.as_str()) {
                    if !out.iter().any(|x| x.name == c.name) {
                        out.push(c);
                    }
                }
            }
        }
    }
    Ok(out)
}

fn class_level(
    cimom: &Cimom,
    ns: &str,
    object: &ObjectPath,
    t: &Traversal,
    associators: bool,
    include_qualifiers: bool,
    include_class_origin: bool,
) -> Result<Response, CimError> {
    let ns_name = cimom.inner().repo.namespace_name(ns);
    let classes = class_level_targets(cimom, ns, object, t, associators)?;
    Ok(Response::ObjectsWithPath(
        classes
            .iter()
            .map(|c| {
                (
                    ObjectPath::class(Some(&ns_name), c.name.clone()),
                    CimObject::Class(super::filter::class(
                        c,
                        false,
                        include_qualifiers,
                        include_class_origin,
                        None,
                    )),
                )
            })
            .collect(),
    ))
}

fn class_level_names(
    cimom: &Cimom,
    ns: &str,
    object: &ObjectPath,
    t: &Traversal,
    associators: bool,
) -> Result<Response, CimError> {
    let ns_name = cimom.inner().repo.namespace_name(ns);
    let classes = class_level_targets(cimom, ns, object, t, associators)?;
    Ok(Response::ObjectPaths(
        classes
            .iter()
            .map(|c| ObjectPath::class(Some(&ns_name), c.name.clone()))
            .collect(),
    ))
}
