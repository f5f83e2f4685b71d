//! Writing class elements: `CLASS` and its members, `PROPERTY` (and its array
//! and reference forms), `METHOD` and the `PARAMETER` family.

use super::markup::{attr, attr_bool, attr_static, close, open, raw};
use super::qualifiers::qualifiers;
use super::values::{embedded_attr, value_array, value_element, value_reference};
use crate::class::{Class, Method, Parameter, Property};
use crate::name::CimName;
use crate::types::CimType;
use crate::value::Value;

/// How a class is written: the `LocalOnly`, `IncludeQualifiers` and
/// `IncludeClassOrigin` flags of GetClass and EnumerateClasses (DSP0200
/// §5.3.2.1), applied while writing rather than on a copy of the class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassShape {
    /// Leave out propagated qualifiers of the class, properties and methods.
    pub local_only: bool,
    /// Write qualifiers (of the class, properties, methods and parameters).
    pub include_qualifiers: bool,
    /// Write `CLASSORIGIN` attributes.
    pub include_class_origin: bool,
}

impl ClassShape {
    /// Everything the class holds, as [`write_class`] writes it.
    pub const FULL: ClassShape = ClassShape {
        local_only: false,
        include_qualifiers: true,
        include_class_origin: true,
    };
}

pub(super) fn origin_attrs(out: &mut Vec<u8>, class_origin: &Option<CimName>, propagated: bool) {
    if let Some(o) = class_origin {
        attr(out, "CLASSORIGIN", o.as_str());
    }
    if propagated {
        attr_bool(out, "PROPAGATED", true);
    }
}

pub(super) fn property(out: &mut Vec<u8>, p: &Property) {
    shaped_property(out, p, ClassShape::FULL);
}

fn shaped_property(out: &mut Vec<u8>, p: &Property, shape: ClassShape) {
    let origin = if shape.include_class_origin {
        &p.class_origin
    } else {
        &None
    };
    let quals: &[crate::qualifier::Qualifier] = if shape.include_qualifiers {
        &p.qualifiers
    } else {
        &[]
    };
    if let CimType::Reference(class) = &p.ty {
        raw(out, "<PROPERTY.REFERENCE");
        attr(out, "NAME", p.name.as_str());
        if let Some(c) = class {
            attr(out, "REFERENCECLASS", c.as_str());
        }
        origin_attrs(out, origin, p.propagated);
        out.push(b'>');
        qualifiers(out, quals);
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
        origin_attrs(out, origin, p.propagated);
        embedded_attr(out, &p.ty, &p.value);
        out.push(b'>');
        qualifiers(out, quals);
        if let Value::Array(items) = &p.value {
            value_array(out, items);
        }
        raw(out, "</PROPERTY.ARRAY>");
    } else {
        raw(out, "<PROPERTY");
        attr(out, "NAME", p.name.as_str());
        attr_static(out, "TYPE", p.ty.xml_name());
        origin_attrs(out, origin, p.propagated);
        embedded_attr(out, &p.ty, &p.value);
        out.push(b'>');
        qualifiers(out, quals);
        if !p.value.is_null() {
            value_element(out, &p.value);
        }
        raw(out, "</PROPERTY>");
    }
}

fn parameter(out: &mut Vec<u8>, p: &Parameter, shape: ClassShape) {
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
    if shape.include_qualifiers {
        qualifiers(out, &p.qualifiers);
    }
    close(out, elem);
}

fn method(out: &mut Vec<u8>, m: &Method, shape: ClassShape) {
    raw(out, "<METHOD");
    attr(out, "NAME", m.name.as_str());
    attr(out, "TYPE", m.return_type.xml_name());
    let origin = if shape.include_class_origin {
        &m.class_origin
    } else {
        &None
    };
    origin_attrs(out, origin, m.propagated);
    out.push(b'>');
    if shape.include_qualifiers {
        qualifiers(out, &m.qualifiers);
    }
    for p in &m.parameters {
        parameter(out, p, shape);
    }
    raw(out, "</METHOD>");
}

/// Writes a `CLASS` element (qualifiers, properties, methods).
pub fn write_class(class: &Class, out: &mut Vec<u8>) {
    write_class_shaped(class, ClassShape::FULL, out);
}

/// Writes a `CLASS` element shaped by the request's flags: what
/// [`write_class`] writes of a copy of `class` with the propagated elements
/// (`local_only`), the qualifiers and the class origins left out.
pub fn write_class_shaped(class: &Class, shape: ClassShape, out: &mut Vec<u8>) {
    raw(out, "<CLASS");
    attr(out, "NAME", class.name.as_str());
    if let Some(s) = &class.superclass {
        attr(out, "SUPERCLASS", s.as_str());
    }
    out.push(b'>');
    if shape.include_qualifiers {
        for q in &class.qualifiers {
            if !(shape.local_only && q.propagated) {
                qualifiers(out, std::slice::from_ref(q));
            }
        }
    }
    for p in &class.properties {
        if !(shape.local_only && p.propagated) {
            shaped_property(out, p, shape);
        }
    }
    for m in &class.methods {
        if !(shape.local_only && m.propagated) {
            method(out, m, shape);
        }
    }
    raw(out, "</CLASS>");
}
