//! ExecQuery (WQL): enumerate the `FROM` class with its subclasses, keep the
//! instances the `WHERE` condition accepts, project the selected properties.

use super::route;
use crate::core::{Cimom, RequestCtx};
use crate::wql::{self, Query};
use cim::ops::{CimObject, Operation, Response};
use cim::{CimError, Class, Instance, StatusCode};
use std::sync::Arc;

/// Parses and checks a WQL query against the namespace's classes.
pub(crate) fn prepare(
    cimom: &Cimom,
    ns: &str,
    language: &str,
    text: &str,
) -> Result<(Query, Arc<Class>), CimError> {
    wql::check_language(language)?;
    let q = Query::parse(text)?;
    let class = cimom
        .inner()
        .repo
        .get_class(ns, q.from_class())
        .ok_or_else(|| {
            CimError::new(
                StatusCode::InvalidQuery,
                format!(
                    "class {} of the query does not exist in namespace {ns}",
                    q.from_class()
                ),
            )
        })?;
    if let Some(sel) = &q.select {
        for p in sel {
            if class.property(p.as_str()).is_none() {
                return Err(CimError::new(
                    StatusCode::InvalidQuery,
                    format!(
                        "class {} has no property {p} (selected by the query)",
                        class.name
                    ),
                ));
            }
        }
    }
    Ok((q, class))
}

/// Runs a prepared query: matching instances, projected, with paths.
pub(crate) async fn run(
    cimom: &Cimom,
    ctx: &RequestCtx,
    ns: &str,
    q: &Query,
    class: &Arc<Class>,
) -> Result<Vec<Instance>, CimError> {
    let repo = &cimom.inner().repo;
    let isa = |sub: &str, sup: &str| repo.is_a(ns, sub, sup);
    let mut out = Vec::new();
    for mut i in route::enumerate(cimom, ctx, ns, class).await? {
        if q.matches(&i, &isa) {
            q.project(&mut i);
            for p in &mut i.properties {
                p.qualifiers.clear();
                p.class_origin = None;
            }
            out.push(i);
        }
    }
    Ok(out)
}

pub(super) async fn exec_query(
    cimom: &Cimom,
    ctx: &RequestCtx,
    ns: &str,
    op: Operation,
) -> Result<Response, CimError> {
    let Operation::ExecQuery {
        query_language,
        query,
    } = op
    else {
        return Err(CimError::not_supported("not ExecQuery"));
    };
    let (q, class) = prepare(cimom, ns, &query_language, &query)?;
    let insts = run(cimom, ctx, ns, &q, &class).await?;
    Ok(Response::ObjectsWithPath(
        insts
            .into_iter()
            .map(|i| (i.path.clone().unwrap_or_default(), CimObject::Instance(i)))
            .collect(),
    ))
}
