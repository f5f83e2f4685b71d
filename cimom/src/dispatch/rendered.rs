//! Rendered answers of the class operations (GetClass, EnumerateClasses,
//! EnumerateClassNames, and Associators, AssociatorNames, References and
//! ReferenceNames of a class) and of EnumerateInstances and EnumerateInstanceNames
//! of classes whose instances are stored in the repository (and the same
//! enumerations as pull items, [`pull_items`]): the CIM-XML inside `IRETURNVALUE`, cached
//! per namespace, operation, class and flags, so that a repeated request is
//! one lookup, sent without a copy.
//!
//! Invalidation: every entry is valid for one value of the repository's
//! schema generation ([`Repository::schema_generation`]), which every class,
//! qualifier-declaration and namespace change bumps under the repository's
//! write lock, and instance enumerations also on the static-instance
//! generation ([`Repository::instance_generation`]), which every committed
//! instance write bumps; a change of the provider registry drops them all.
//! A lookup that sees a newer generation drops every entry, and
//! an answer rendered while the generation moved is not installed, so the
//! request after a schema change never gets an answer from before it.
//!
//! Bounds: the entries' bytes stay under `--class-answer-cache-bytes` and
//! `--instance-answer-cache-bytes` (for each of the two instance caches)
//! (least recently used evicted first; an answer larger than the bound is not
//! kept, but shared with identical requests while it is being sent).
//! Enumerations are rendered one at a time on a blocking thread, and the
//! server sends a rendered answer without copying it into each response: many
//! concurrent enumerations of the whole schema hold one copy of the answer,
//! not one each.

use super::{assoc, class_ops, instance_ops, route};
use crate::answer_cache::RenderedPages;
use crate::core::{Cimom, RequestCtx};
use cim::ops::{Operation, PullItems, RenderedItems, Response};
use cim::{CimError, CimName};
use std::sync::Arc;

/// The part of a cache key for a `PropertyList` (none and empty differ).
fn props_key(list: &Option<Vec<CimName>>) -> Option<String> {
    list.as_ref().map(|l| {
        l.iter()
            .map(|p| p.to_lowercase())
            .collect::<Vec<_>>()
            .join(",")
    })
}

/// The cache key of a class read, or `None` for any other operation.
fn key_of(ns: &str, op: &Operation) -> Option<String> {
    let lc = |n: &Option<CimName>| n.as_ref().map(CimName::to_lowercase).unwrap_or_default();
    // Roles are matched without regard to case; `None` and "" differ.
    let ls = |r: &Option<String>| format!("{:?}", r.as_ref().map(|r| r.to_ascii_lowercase()));
    Some(match op {
        Operation::GetClass {
            class_name,
            local_only,
            include_qualifiers,
            include_class_origin,
            property_list,
        } => {
            let props = props_key(property_list);
            format!(
                "{ns}\0gc\0{}\0{}{}{}\0{props:?}",
                class_name.to_lowercase(),
                *local_only as u8,
                *include_qualifiers as u8,
                *include_class_origin as u8
            )
        }
        Operation::EnumerateClasses {
            class_name,
            deep_inheritance,
            local_only,
            include_qualifiers,
            include_class_origin,
        } => format!(
            "{ns}\0ec\0{}\0{}{}{}{}",
            lc(class_name),
            *deep_inheritance as u8,
            *local_only as u8,
            *include_qualifiers as u8,
            *include_class_origin as u8
        ),
        Operation::EnumerateClassNames {
            class_name,
            deep_inheritance,
        } => format!("{ns}\0ecn\0{}\0{}", lc(class_name), *deep_inheritance as u8),
        // Association operations on a class (no keys): answered from the schema.
        Operation::Associators {
            object_name,
            assoc_class,
            result_class,
            role,
            result_role,
            include_qualifiers,
            include_class_origin,
            property_list,
        } if object_name.keys.is_empty() => format!(
            "{ns}\0a\0{}\0{}\0{}\0{}\0{}\0{}{}\0{:?}",
            object_name.class_name.to_lowercase(),
            lc(assoc_class),
            lc(result_class),
            ls(role),
            ls(result_role),
            *include_qualifiers as u8,
            *include_class_origin as u8,
            props_key(property_list)
        ),
        Operation::AssociatorNames {
            object_name,
            assoc_class,
            result_class,
            role,
            result_role,
        } if object_name.keys.is_empty() => format!(
            "{ns}\0an\0{}\0{}\0{}\0{}\0{}",
            object_name.class_name.to_lowercase(),
            lc(assoc_class),
            lc(result_class),
            ls(role),
            ls(result_role)
        ),
        Operation::References {
            object_name,
            result_class,
            role,
            include_qualifiers,
            include_class_origin,
            property_list,
        } if object_name.keys.is_empty() => format!(
            "{ns}\0r\0{}\0{}\0{}\0{}{}\0{:?}",
            object_name.class_name.to_lowercase(),
            lc(result_class),
            ls(role),
            *include_qualifiers as u8,
            *include_class_origin as u8,
            props_key(property_list)
        ),
        Operation::ReferenceNames {
            object_name,
            result_class,
            role,
        } if object_name.keys.is_empty() => format!(
            "{ns}\0rn\0{}\0{}\0{}",
            object_name.class_name.to_lowercase(),
            lc(result_class),
            ls(role)
        ),
        _ => return None,
    })
}

/// Renders the `IRETURNVALUE` content of a class read.
fn render(cimom: &Cimom, ns: &str, op: &Operation) -> Result<Vec<u8>, CimError> {
    let mut out = Vec::new();
    if let Some(r) = assoc::class_level_answer(cimom, ns, op) {
        cim::xml::write_return_value_items(&r?, &mut out);
        return Ok(out);
    }
    class_ops::visit(&cimom.inner().repo, ns, op, |item| match item {
        class_ops::Item::Class(c) => cim::xml::write_class(&c, &mut out),
        class_ops::Item::Shaped(c, shape) => cim::xml::write_class_shaped(&c, shape, &mut out),
        class_ops::Item::Name(n) => cim::xml::write_class_name(&n, &mut out),
    })?;
    // Kept (cached or shared) as long as it is sent: without the slack of
    // the last doubling.
    out.shrink_to_fit();
    Ok(out)
}

/// Serves a class read from the cache (rendering and caching it on a miss),
/// or an enumeration of static instances, or `None` for any other operation.
pub(crate) async fn answer(
    cimom: &Cimom,
    ctx: &RequestCtx,
    ns: &str,
    op: &Operation,
) -> Option<Result<Response, CimError>> {
    if matches!(
        op,
        Operation::EnumerateInstances { .. } | Operation::EnumerateInstanceNames { .. }
    ) {
        return instances(cimom, ctx, ns, op).await;
    }
    let key = key_of(ns, op)?;
    let inner = cimom.inner();
    let cache = &inner.rendered;
    let now = || (inner.repo.schema_generation(), 0);
    let generation = now();
    if let Some(b) = cache.get(generation, &key) {
        return Some(Ok(Response::Rendered(b)));
    }
    if matches!(op, Operation::GetClass { .. }) {
        return Some(render(cimom, ns, op).map(|b| {
            let b = Arc::new(b);
            cache.put(now(), generation, key, b.clone());
            Response::Rendered(b)
        }));
    }
    let _permit = cache.render.acquire().await.ok();
    // Rendered by the request that held the permit before us?
    let generation = now();
    if let Some(b) = cache.get(generation, &key) {
        return Some(Ok(Response::Rendered(b)));
    }
    let c = cimom.clone();
    let (ns, op) = (ns.to_owned(), op.clone());
    let rendered = tokio::task::spawn_blocking(move || render(&c, &ns, &op))
        .await
        .unwrap_or_else(|e| Err(CimError::failed(format!("rendering failed: {e}"))));
    Some(rendered.map(|b| {
        let b = Arc::new(b);
        cache.put(now(), generation, key, b.clone());
        Response::Rendered(b)
    }))
}

/// EnumerateInstances or EnumerateInstanceNames of a class whose instances
/// (its own and its subclasses') all come from the repository: the rendered
/// answer, cached per operation, class and flags until the next schema
/// change or static-instance write. Classes served by providers are answered
/// as usual (`None`).
async fn instances(
    cimom: &Cimom,
    ctx: &RequestCtx,
    ns: &str,
    op: &Operation,
) -> Option<Result<Response, CimError>> {
    let key = match op {
        Operation::EnumerateInstances {
            class_name,
            local_only: _,
            deep_inheritance,
            include_qualifiers,
            include_class_origin,
            property_list,
        } => format!(
            "{ns}\0ei\0{}\0{}{}{}\0{:?}",
            class_name.to_lowercase(),
            *deep_inheritance as u8,
            *include_qualifiers as u8,
            *include_class_origin as u8,
            props_key(property_list)
        ),
        Operation::EnumerateInstanceNames { class_name } => {
            format!("{ns}\0ein\0{}", class_name.to_lowercase())
        }
        _ => return None,
    };
    let inner = cimom.inner();
    let cache = &inner.rendered_instances;
    let generation = instance_generation(cimom);
    if let Some(b) = cache.get(generation, &key) {
        return Some(Ok(Response::Rendered(b)));
    }
    if let Err(e) = served_by_repository(cimom, ns, op)? {
        return Some(Err(e));
    }
    let mut out = Vec::new();
    match instance_ops::handle(cimom, ctx, ns, op.clone()).await {
        Ok(Response::SharedNamedInstances(v)) => v
            .iter()
            .for_each(|i| cim::xml::write_value_named_instance(i, &mut out)),
        Ok(Response::InstanceNames(v)) => v
            .iter()
            .for_each(|p| cim::xml::write_instance_name(p, &mut out)),
        Ok(other) => return Some(Ok(other)),
        Err(e) => return Some(Err(e)),
    }
    out.shrink_to_fit();
    let b = Arc::new(out);
    cache.put(instance_generation(cimom), generation, key, b.clone());
    Some(Ok(Response::Rendered(b)))
}

/// What a rendered static-instance enumeration depends on.
fn instance_generation(cimom: &Cimom) -> crate::answer_cache::Generation {
    let repo = &cimom.inner().repo;
    (repo.schema_generation(), repo.instance_generation())
}

/// `Some(Ok)` when every instance an EnumerateInstances(Names) of this class
/// visits comes from the repository, `None` when a provider serves some, an
/// error when the class does not exist.
fn served_by_repository(cimom: &Cimom, ns: &str, op: &Operation) -> Option<Result<(), CimError>> {
    let class_name = match op {
        Operation::EnumerateInstances { class_name, .. }
        | Operation::EnumerateInstanceNames { class_name } => class_name,
        _ => return None,
    };
    let class = match cimom
        .inner()
        .repo
        .class_for_instances(ns, class_name.as_str())
    {
        Ok(c) => c,
        Err(e) => return Some(Err(e)),
    };
    let classes = match route::class_and_subclasses(cimom, ns, &class) {
        Ok(c) => c,
        Err(e) => return Some(Err(e)),
    };
    classes
        .iter()
        .all(|c| matches!(route::source_of(cimom, ns, c), route::Source::Repository))
        .then_some(Ok(()))
}

/// The items of an OpenEnumerateInstances without a filter, whose classic
/// EnumerateInstances `op` visits only stored instances: every instance
/// rendered once as `VALUE.INSTANCEWITHPATH`, cached like the classic answer
/// (same key parts, same generations) and cut into pages without rendering
/// again. `None` for classes served by providers.
pub(crate) async fn pull_items(
    cimom: &Cimom,
    ctx: &RequestCtx,
    ns: &str,
    op: &Operation,
) -> Option<Result<PullItems, CimError>> {
    let Operation::EnumerateInstances {
        class_name,
        local_only: _,
        deep_inheritance,
        include_qualifiers: _,
        include_class_origin,
        property_list,
    } = op
    else {
        return None;
    };
    let key = format!(
        "{ns}\0pei\0{}\0{}{}\0{:?}",
        class_name.to_lowercase(),
        *deep_inheritance as u8,
        *include_class_origin as u8,
        props_key(property_list)
    );
    let cache = &cimom.inner().rendered_pulls;
    let items = |p: &RenderedPages| RenderedItems::all(p.text.clone(), p.ends.clone());
    let generation = instance_generation(cimom);
    if let Some(p) = cache.get(generation, &key) {
        return Some(Ok(PullItems::Rendered(items(&p))));
    }
    if let Err(e) = served_by_repository(cimom, ns, op)? {
        return Some(Err(e));
    }
    let insts = match instance_ops::handle(cimom, ctx, ns, op.clone()).await {
        Ok(Response::SharedNamedInstances(v)) => v,
        Ok(_) => return None,
        Err(e) => return Some(Err(e)),
    };
    let mut text = Vec::new();
    let mut ends = Vec::with_capacity(insts.len());
    for i in insts.iter() {
        cim::xml::write_value_instance_with_path(i, &mut text);
        ends.push(text.len());
    }
    text.shrink_to_fit();
    let pages = Arc::new(RenderedPages {
        text: Arc::new(text),
        ends: Arc::new(ends),
    });
    cache.put(instance_generation(cimom), generation, key, pages.clone());
    Some(Ok(PullItems::Rendered(items(&pages))))
}
