//! Writing qualifiers: `QUALIFIER` with its non-default flavors, and
//! `QUALIFIER.DECLARATION` with its `SCOPE`.

use super::markup::{attr, attr_bool, raw};
use super::values::{value_array, value_element};
use crate::qualifier::{Flavors, Qualifier, QualifierDecl, Scopes};
use crate::value::Value;

pub(super) fn flavor_attrs(out: &mut Vec<u8>, f: &Flavors) {
    // Only non-default flavors are written, as pywbem and Pegasus do.
    if !f.overridable {
        attr_bool(out, "OVERRIDABLE", false);
    }
    if !f.to_subclass {
        attr_bool(out, "TOSUBCLASS", false);
    }
    if f.to_instance {
        attr_bool(out, "TOINSTANCE", true);
    }
    if f.translatable {
        attr_bool(out, "TRANSLATABLE", true);
    }
}

pub(super) fn qualifier(out: &mut Vec<u8>, q: &Qualifier) {
    raw(out, "<QUALIFIER");
    attr(out, "NAME", q.name.as_str());
    attr(out, "TYPE", q.ty.xml_name());
    if q.propagated {
        attr_bool(out, "PROPAGATED", true);
    }
    flavor_attrs(out, &q.flavors);
    out.push(b'>');
    match &q.value {
        Value::Null => {}
        Value::Array(items) => value_array(out, items),
        v => value_element(out, v),
    }
    raw(out, "</QUALIFIER>");
}

pub(super) fn qualifiers(out: &mut Vec<u8>, qs: &[Qualifier]) {
    for q in qs {
        qualifier(out, q);
    }
}

pub(super) fn scope(out: &mut Vec<u8>, s: &Scopes) {
    raw(out, "<SCOPE");
    attr_bool(out, "CLASS", s.class);
    attr_bool(out, "ASSOCIATION", s.association);
    attr_bool(out, "REFERENCE", s.reference);
    attr_bool(out, "PROPERTY", s.property);
    attr_bool(out, "METHOD", s.method);
    attr_bool(out, "PARAMETER", s.parameter);
    attr_bool(out, "INDICATION", s.indication);
    raw(out, "/>");
}

/// Writes a `QUALIFIER.DECLARATION` with its `SCOPE` and default value.
pub fn write_qualifier_decl(decl: &QualifierDecl, out: &mut Vec<u8>) {
    raw(out, "<QUALIFIER.DECLARATION");
    attr(out, "NAME", decl.name.as_str());
    attr(out, "TYPE", decl.ty.xml_name());
    if decl.is_array {
        attr_bool(out, "ISARRAY", true);
        if let Some(n) = decl.array_size {
            attr(out, "ARRAYSIZE", itoa::Buffer::new().format(n));
        }
    }
    flavor_attrs(out, &decl.flavors);
    out.push(b'>');
    scope(out, &decl.scopes);
    match &decl.default {
        Value::Null => {}
        Value::Array(items) => value_array(out, items),
        v => value_element(out, v),
    }
    raw(out, "</QUALIFIER.DECLARATION>");
}
