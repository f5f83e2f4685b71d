//! Writing values: `VALUE`, `VALUE.ARRAY`, `VALUE.REFERENCE`, `VALUE.REFARRAY`,
//! and the `EmbeddedObject` attribute of embedded instances and classes.

use super::classes::write_class;
use super::instances::write_instance;
use super::markup::{attr, escape, raw};
use super::paths::{
    class_path, local_namespace_path, write_class_name, write_instance_name, write_instance_path,
};
use crate::path::ObjectPath;
use crate::types::CimType;
use crate::value::Value;

pub(super) fn embedded_attr(out: &mut Vec<u8>, ty: &CimType, value: &Value) {
    let kind = match (ty, first_scalar(value)) {
        (CimType::EmbeddedInstance, _) => Some("instance"),
        (CimType::EmbeddedObject, _) => Some("object"),
        (_, Some(Value::Instance(_))) => Some("instance"),
        (_, Some(Value::Class(_))) => Some("object"),
        _ => None,
    };
    if let Some(k) = kind {
        attr(out, "EmbeddedObject", k);
    }
}

pub(super) fn first_scalar(v: &Value) -> Option<&Value> {
    match v {
        Value::Array(items) => items.iter().find(|i| !i.is_null()),
        Value::Null => None,
        other => Some(other),
    }
}

/// The text of a scalar value, written escaped. Embedded objects become the
/// escaped XML of their `INSTANCE`/`CLASS`.
pub(super) fn scalar_text(out: &mut Vec<u8>, v: &Value) {
    let mut buf = itoa::Buffer::new();
    match v {
        Value::Boolean(true) => raw(out, "TRUE"),
        Value::Boolean(false) => raw(out, "FALSE"),
        Value::String(s) => escape(out, s),
        Value::Uint8(n) => raw(out, buf.format(*n)),
        Value::Sint8(n) => raw(out, buf.format(*n)),
        Value::Uint16(n) => raw(out, buf.format(*n)),
        Value::Sint16(n) => raw(out, buf.format(*n)),
        Value::Uint32(n) => raw(out, buf.format(*n)),
        Value::Sint32(n) => raw(out, buf.format(*n)),
        Value::Uint64(n) => raw(out, buf.format(*n)),
        Value::Sint64(n) => raw(out, buf.format(*n)),
        Value::DateTime(d) => escape(out, d.as_str()),
        Value::Instance(inst) => {
            let mut inner = Vec::new();
            write_instance(inst, &mut inner);
            escape(out, std::str::from_utf8(&inner).unwrap_or_default());
        }
        Value::Class(class) => {
            let mut inner = Vec::new();
            write_class(class, &mut inner);
            escape(out, std::str::from_utf8(&inner).unwrap_or_default());
        }
        other => {
            if let Some(t) = other.to_xml_text() {
                escape(out, &t);
            }
        }
    }
}

/// `<VALUE>text</VALUE>` for a non-NULL scalar.
pub(super) fn value_element(out: &mut Vec<u8>, v: &Value) {
    raw(out, "<VALUE>");
    scalar_text(out, v);
    raw(out, "</VALUE>");
}

pub(super) fn value_array(out: &mut Vec<u8>, items: &[Value]) {
    raw(out, "<VALUE.ARRAY>");
    for item in items {
        if item.is_null() {
            raw(out, "<VALUE.NULL/>");
        } else {
            value_element(out, item);
        }
    }
    raw(out, "</VALUE.ARRAY>");
}

pub(super) fn value_refarray(out: &mut Vec<u8>, items: &[Value]) {
    raw(out, "<VALUE.REFARRAY>");
    for item in items {
        match item {
            Value::Reference(p) => value_reference(out, p),
            _ => raw(out, "<VALUE.NULL/>"),
        }
    }
    raw(out, "</VALUE.REFARRAY>");
}

pub(super) fn is_ref_array(items: &[Value]) -> bool {
    items.iter().any(|v| matches!(v, Value::Reference(_)))
}

/// `VALUE.REFERENCE` around the path element that fits what the path holds.
pub(super) fn value_reference(out: &mut Vec<u8>, p: &ObjectPath) {
    raw(out, "<VALUE.REFERENCE>");
    match (&p.host, &p.namespace, p.keys.is_empty()) {
        (Some(_), Some(_), false) => write_instance_path(p, out),
        (Some(_), Some(_), true) => class_path(out, p),
        (None, Some(ns), false) => {
            raw(out, "<LOCALINSTANCEPATH>");
            local_namespace_path(out, ns);
            write_instance_name(p, out);
            raw(out, "</LOCALINSTANCEPATH>");
        }
        (None, Some(ns), true) => {
            raw(out, "<LOCALCLASSPATH>");
            local_namespace_path(out, ns);
            write_class_name(&p.class_name, out);
            raw(out, "</LOCALCLASSPATH>");
        }
        (_, None, false) => write_instance_name(p, out),
        (_, None, true) => write_class_name(&p.class_name, out),
    }
    raw(out, "</VALUE.REFERENCE>");
}

/// Writes a value as it appears inside a property, qualifier or parameter:
/// `VALUE`, `VALUE.ARRAY`, `VALUE.REFERENCE` or `VALUE.REFARRAY`; nothing for NULL.
pub fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => {}
        Value::Reference(p) => value_reference(out, p),
        Value::Array(items) if is_ref_array(items) => value_refarray(out, items),
        Value::Array(items) => value_array(out, items),
        v => value_element(out, v),
    }
}
