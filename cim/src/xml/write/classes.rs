//! Writing class elements: `CLASS` and its members, `PROPERTY` (and its array
//! and reference forms), `METHOD` and the `PARAMETER` family.

use super::markup::{attr, attr_bool, attr_static, close, open, raw};
use super::qualifiers::qualifiers;
use super::values::{embedded_attr, value_array, value_element, value_reference};
use crate::class::{Class, Method, Parameter, Property};
use crate::name::CimName;
use crate::types::CimType;
use crate::value::Value;

pub(super) fn origin_attrs(out: &mut Vec<u8>, class_origin: &Option<CimName>, propagated: bool) {
    if let Some(o) = class_origin {
        attr(out, "CLASSORIGIN", o.as_str());
    }
    if propagated {
        attr_bool(out, "PROPAGATED", true);
    }
}

pub(super) fn property(out: &mut Vec<u8>, p: &Property) {
    if let CimType::Reference(class) = &p.ty {
        raw(out, "<PROPERTY.REFERENCE");
        attr(out, "NAME", p.name.as_str());
        if let Some(c) = class {
            attr(out, "REFERENCECLASS", c.as_str());
        }
        origin_attrs(out, &p.class_origin, p.propagated);
        out.push(b'>');
        qualifiers(out, &p.qualifiers);
        if let Value::Reference(path) = &p.value {
            value_reference(out, path);
        }
        raw(out, "</PROPERTY.REFERENCE>");
    } else if p.is_array || matches!(p.value, Value::Array(_)) {
        raw(out, "<PROPERTY.ARRAY");
        attr(out, "NAME", p.name.as_str());
        attr_static(out, "TYPE", p.ty.xml_name());
        if let Some(n) = p.array_size {
            attr(out, "ARRAYSIZE", itoa::Buffer::new().format(n));
        }
        origin_attrs(out, &p.class_origin, p.propagated);
        embedded_attr(out, &p.ty, &p.value);
        out.push(b'>');
        qualifiers(out, &p.qualifiers);
        if let Value::Array(items) = &p.value {
            value_array(out, items);
        }
        raw(out, "</PROPERTY.ARRAY>");
    } else {
        raw(out, "<PROPERTY");
        attr(out, "NAME", p.name.as_str());
        attr_static(out, "TYPE", p.ty.xml_name());
        origin_attrs(out, &p.class_origin, p.propagated);
        embedded_attr(out, &p.ty, &p.value);
        out.push(b'>');
        qualifiers(out, &p.qualifiers);
        if !p.value.is_null() {
            value_element(out, &p.value);
        }
        raw(out, "</PROPERTY>");
    }
}

pub(super) fn parameter(out: &mut Vec<u8>, p: &Parameter) {
    let (elem, class) = match (&p.ty, p.is_array) {
        (CimType::Reference(c), false) => ("PARAMETER.REFERENCE", Some(c)),
        (CimType::Reference(c), true) => ("PARAMETER.REFARRAY", Some(c)),
        (_, false) => ("PARAMETER", None),
        (_, true) => ("PARAMETER.ARRAY", None),
    };
    open(out, elem);
    attr(out, "NAME", p.name.as_str());
    match class {
        Some(Some(c)) => attr(out, "REFERENCECLASS", c.as_str()),
        Some(None) => {}
        None => attr(out, "TYPE", p.ty.xml_name()),
    }
    if p.is_array {
        if let Some(n) = p.array_size {
            attr(out, "ARRAYSIZE", itoa::Buffer::new().format(n));
        }
    }
    out.push(b'>');
    qualifiers(out, &p.qualifiers);
    close(out, elem);
}

pub(super) fn method(out: &mut Vec<u8>, m: &Method) {
    raw(out, "<METHOD");
    attr(out, "NAME", m.name.as_str());
    attr(out, "TYPE", m.return_type.xml_name());
    origin_attrs(out, &m.class_origin, m.propagated);
    out.push(b'>');
    qualifiers(out, &m.qualifiers);
    for p in &m.parameters {
        parameter(out, p);
    }
    raw(out, "</METHOD>");
}

/// Writes a `CLASS` element (qualifiers, properties, methods).
pub fn write_class(class: &Class, out: &mut Vec<u8>) {
    raw(out, "<CLASS");
    attr(out, "NAME", class.name.as_str());
    if let Some(s) = &class.superclass {
        attr(out, "SUPERCLASS", s.as_str());
    }
    out.push(b'>');
    qualifiers(out, &class.qualifiers);
    for p in &class.properties {
        property(out, p);
    }
    for m in &class.methods {
        method(out, m);
    }
    raw(out, "</CLASS>");
}
