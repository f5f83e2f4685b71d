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
use cim::xml::ClassShape;
use cim::{CimError, CimName, StatusCode};
use std::sync::Arc;

pub(super) fn handle(cimom: &Cimom, ns: &str, op: Operation) -> Result<Response, CimError> {
    let repo = &cimom.inner().repo;
    match op {
        op @ Operation::GetClass { .. } => {
            let mut class = None;
            visit(repo, ns, &op, |item| {
                if let Some(c) = item.into_class() {
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
                if let Some(c) = item.into_class() {
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
    /// A class shaped by the request's flags (GetClass with a PropertyList).
    Class(cim::Class),
    /// A resolved class and the flags that shape it (GetClass,
    /// EnumerateClasses): written shaped without a copy
    /// ([`cim::xml::write_class_shaped`]), or copied by [`Item::into_class`].
    Shaped(Arc<cim::Class>, ClassShape),
    /// A class name (EnumerateClassNames).
    Name(CimName),
}

impl Item {
    /// The class of a class item, shaped (a copy).
    pub(super) fn into_class(self) -> Option<cim::Class> {
        match self {
            Item::Class(c) => Some(c),
            Item::Shaped(c, s) => Some(filter::class(
                &c,
                s.local_only,
                s.include_qualifiers,
                s.include_class_origin,
                None,
            )),
            Item::Name(_) => None,
        }
    }
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
            let shape = ClassShape {
                local_only: *local_only,
                include_qualifiers: *include_qualifiers,
                include_class_origin: *include_class_origin,
            };
            f(match property_list {
                None => Item::Shaped(c, shape),
                Some(list) => Item::Class(filter::class(
                    &c,
                    *local_only,
                    *include_qualifiers,
                    *include_class_origin,
                    Some(list),
                )),
            });
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
            let shape = ClassShape {
                local_only: *local_only,
                include_qualifiers: *include_qualifiers,
                include_class_origin: *include_class_origin,
            };
            for n in names {
                if let Some(c) = repo.get_class(ns, n.as_str()) {
                    f(Item::Shaped(c, shape));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Writing a class shaped ([`cim::xml::write_class_shaped`], the cached
    /// path) gives the same bytes as writing the shaped copy
    /// ([`filter::class`], the other paths), for every combination of flags.
    #[test]
    fn shaped_writing_matches_the_shaped_copy() {
        let xml = "<CLASS NAME=\"T_Sub\" SUPERCLASS=\"T_Base\">\
            <QUALIFIER NAME=\"Description\" TYPE=\"string\" PROPAGATED=\"true\"><VALUE>base</VALUE></QUALIFIER>\
            <QUALIFIER NAME=\"Version\" TYPE=\"string\"><VALUE>1</VALUE></QUALIFIER>\
            <PROPERTY NAME=\"Id\" TYPE=\"string\" CLASSORIGIN=\"T_Base\" PROPAGATED=\"true\">\
            <QUALIFIER NAME=\"Key\" TYPE=\"boolean\"><VALUE>TRUE</VALUE></QUALIFIER></PROPERTY>\
            <PROPERTY.ARRAY NAME=\"Tags\" TYPE=\"string\" CLASSORIGIN=\"T_Sub\">\
            <QUALIFIER NAME=\"Description\" TYPE=\"string\"><VALUE>t</VALUE></QUALIFIER></PROPERTY.ARRAY>\
            <PROPERTY.REFERENCE NAME=\"Peer\" REFERENCECLASS=\"T_Base\" CLASSORIGIN=\"T_Sub\"/>\
            <METHOD NAME=\"Go\" TYPE=\"uint32\" CLASSORIGIN=\"T_Base\" PROPAGATED=\"true\">\
            <QUALIFIER NAME=\"Description\" TYPE=\"string\"><VALUE>go</VALUE></QUALIFIER>\
            <PARAMETER NAME=\"Speed\" TYPE=\"uint32\"><QUALIFIER NAME=\"In\" TYPE=\"boolean\">\
            <VALUE>TRUE</VALUE></QUALIFIER></PARAMETER></METHOD>\
            <METHOD NAME=\"Stop\" TYPE=\"uint32\" CLASSORIGIN=\"T_Sub\">\
            <PARAMETER.REFERENCE NAME=\"Who\" REFERENCECLASS=\"T_Base\"/></METHOD></CLASS>";
        let class = cim::xml::read_class(xml, &Default::default()).expect("class");
        for bits in 0..8u8 {
            let shape = ClassShape {
                local_only: bits & 1 != 0,
                include_qualifiers: bits & 2 != 0,
                include_class_origin: bits & 4 != 0,
            };
            let mut direct = Vec::new();
            cim::xml::write_class_shaped(&class, shape, &mut direct);
            let copy = Item::Shaped(Arc::new(class.clone()), shape)
                .into_class()
                .expect("a class");
            let mut via_copy = Vec::new();
            cim::xml::write_class(&copy, &mut via_copy);
            assert_eq!(
                String::from_utf8_lossy(&direct),
                String::from_utf8_lossy(&via_copy),
                "{shape:?}"
            );
        }
    }
}
