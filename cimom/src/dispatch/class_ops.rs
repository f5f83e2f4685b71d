//! Class and qualifier-declaration operations, served from the repository's
//! class cache: GetClass, EnumerateClasses, EnumerateClassNames, CreateClass,
//! ModifyClass, DeleteClass, GetQualifier, SetQualifier, DeleteQualifier,
//! EnumerateQualifiers.
//!
//! DeleteClass of a class with subclasses is refused with
//! `CIM_ERR_CLASS_HAS_CHILDREN` (OpenPegasus behaviour, rather than DSP0200's
//! cascading delete): deleting a whole subtree by accident is worse than one
//! more request per subclass.

use super::filter;
use crate::core::Cimom;
use crate::repository::Repository;
use cim::ops::{Operation, Response};
use cim::{CimError, CimName, StatusCode};

pub(super) fn handle(cimom: &Cimom, ns: &str, op: Operation) -> Result<Response, CimError> {
    let repo = &cimom.inner().repo;
    match op {
        op @ Operation::GetClass { .. } => {
            let mut class = None;
            visit(repo, ns, &op, |item| {
                if let Item::Class(c) = item {
                    class = Some(c);
                }
            })?;
            class
                .map(Response::Class)
                .ok_or_else(|| CimError::failed("GetClass produced no class"))
        }
        op @ Operation::EnumerateClasses { .. } => {
            let mut classes = Vec::new();
            visit(repo, ns, &op, |item| {
                if let Item::Class(c) = item {
                    classes.push(c);
                }
            })?;
            Ok(Response::Classes(classes))
        }
        op @ Operation::EnumerateClassNames { .. } => {
            let mut names = Vec::new();
            visit(repo, ns, &op, |item| {
                if let Item::Name(n) = item {
                    names.push(n);
                }
            })?;
            Ok(Response::ClassNames(names))
        }
        Operation::CreateClass { new_class } => {
            check_qualifiers(cimom, ns, &new_class)?;
            repo.create_class(ns, &new_class)?;
            tracing::info!(class = %new_class.name, ns, "class created");
            Ok(Response::Empty)
        }
        Operation::ModifyClass { modified_class } => {
            check_qualifiers(cimom, ns, &modified_class)?;
            repo.modify_class(ns, &modified_class, true)?;
            tracing::info!(class = %modified_class.name, ns, "class modified");
            Ok(Response::Empty)
        }
        Operation::DeleteClass { class_name } => {
            repo.delete_class(ns, class_name.as_str())?;
            tracing::info!(class = %class_name, ns, "class deleted");
            Ok(Response::Empty)
        }
        Operation::GetQualifier { qualifier_name } => Ok(Response::QualifierDecl(
            repo.qualifier(ns, qualifier_name.as_str())?,
        )),
        Operation::SetQualifier {
            qualifier_declaration,
        } => {
            repo.set_qualifier(ns, qualifier_declaration)?;
            Ok(Response::Empty)
        }
        Operation::DeleteQualifier { qualifier_name } => {
            repo.delete_qualifier(ns, qualifier_name.as_str())?;
            Ok(Response::Empty)
        }
        Operation::EnumerateQualifiers => Ok(Response::QualifierDecls(repo.qualifiers(ns))),
        other => Err(CimError::not_supported(format!(
            "{} is not a class operation",
            other.name()
        ))),
    }
}

/// One item of a class read's answer.
pub(super) enum Item {
    /// A class shaped by the request's flags (GetClass, EnumerateClasses).
    Class(cim::Class),
    /// A class name (EnumerateClassNames).
    Name(CimName),
}

/// Produces the answer of a class read (GetClass, EnumerateClasses,
/// EnumerateClassNames) item by item, resolving one class at a time, so
/// that a renderer never holds the whole schema; other operations produce
/// nothing.
pub(super) fn visit(
    repo: &Repository,
    ns: &str,
    op: &Operation,
    mut f: impl FnMut(Item),
) -> Result<(), CimError> {
    match op {
        Operation::GetClass {
            class_name,
            local_only,
            include_qualifiers,
            include_class_origin,
            property_list,
        } => {
            let c = repo.class(ns, class_name.as_str())?;
            f(Item::Class(filter::class(
                &c,
                *local_only,
                *include_qualifiers,
                *include_class_origin,
                property_list.as_deref(),
            )));
        }
        Operation::EnumerateClasses {
            class_name,
            deep_inheritance,
            local_only,
            include_qualifiers,
            include_class_origin,
        } => {
            let names = repo.subclass_names(
                ns,
                class_name.as_ref().map(CimName::as_str),
                *deep_inheritance,
            )?;
            for n in names {
                if let Some(c) = repo.get_class(ns, n.as_str()) {
                    f(Item::Class(filter::class(
                        &c,
                        *local_only,
                        *include_qualifiers,
                        *include_class_origin,
                        None,
                    )));
                }
            }
        }
        Operation::EnumerateClassNames {
            class_name,
            deep_inheritance,
        } => {
            for n in repo.subclass_names(
                ns,
                class_name.as_ref().map(CimName::as_str),
                *deep_inheritance,
            )? {
                f(Item::Name(n));
            }
        }
        _ => {}
    }
    Ok(())
}

/// Refuses qualifiers that are not declared in the namespace (as OpenPegasus
/// does), when the namespace declares any qualifiers at all.
fn check_qualifiers(cimom: &Cimom, ns: &str, class: &cim::Class) -> Result<(), CimError> {
    let repo = &cimom.inner().repo;
    let declared = repo.qualifiers(ns);
    if declared.is_empty() {
        return Ok(());
    }
    let known = |n: &CimName| declared.iter().any(|d| d.name == *n);
    let all = class
        .qualifiers
        .iter()
        .chain(class.properties.iter().flat_map(|p| p.qualifiers.iter()))
        .chain(class.methods.iter().flat_map(|m| {
            m.qualifiers
                .iter()
                .chain(m.parameters.iter().flat_map(|p| p.qualifiers.iter()))
        }));
    for q in all {
        if !q.propagated && !known(&q.name) {
            return Err(CimError::new(
                StatusCode::InvalidParameter,
                format!(
                    "qualifier {} used in class {} is not declared in namespace {ns}",
                    q.name, class.name
                ),
            ));
        }
    }
    Ok(())
}
