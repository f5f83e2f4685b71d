//! Writing names and paths: `CLASSNAME`, `INSTANCENAME` with its key bindings,
//! the (local) namespace, class and instance paths and `OBJECTPATH`.

use super::markup::{attr, raw, text_element};
use super::values::{scalar_text, value_reference};
use crate::name::CimName;
use crate::path::{KeyBinding, ObjectPath};
use crate::value::Value;

pub(super) fn local_namespace_path(out: &mut Vec<u8>, ns: &str) {
    raw(out, "<LOCALNAMESPACEPATH>");
    let mut parts = 0;
    for part in ns.split('/').filter(|s| !s.is_empty()) {
        raw(out, "<NAMESPACE");
        attr(out, "NAME", part);
        raw(out, "/>");
        parts += 1;
    }
    if parts == 0 {
        // DSP0201 needs one NAMESPACE; a path that should have named its
        // namespace but did not gets an empty one rather than an invalid document.
        raw(out, "<NAMESPACE NAME=\"\"/>");
    }
    raw(out, "</LOCALNAMESPACEPATH>");
}

pub(super) fn namespace_path(out: &mut Vec<u8>, host: Option<&str>, ns: &str) {
    raw(out, "<NAMESPACEPATH>");
    text_element(out, "HOST", host.unwrap_or("localhost"));
    local_namespace_path(out, ns);
    raw(out, "</NAMESPACEPATH>");
}

pub(super) fn class_path(out: &mut Vec<u8>, p: &ObjectPath) {
    raw(out, "<CLASSPATH>");
    namespace_path(out, p.host.as_deref(), p.namespace.as_deref().unwrap_or(""));
    write_class_name(&p.class_name, out);
    raw(out, "</CLASSPATH>");
}

pub(super) fn key_binding(out: &mut Vec<u8>, k: &KeyBinding) {
    raw(out, "<KEYBINDING");
    attr(out, "NAME", k.name.as_str());
    out.push(b'>');
    match &k.value {
        Value::Reference(p) => value_reference(out, p),
        v => key_value(out, v),
    }
    raw(out, "</KEYBINDING>");
}

/// `KEYVALUE` with `VALUETYPE` and `TYPE` (DSP0201 2.4 §3.2.5.7), so the
/// exact type survives the trip.
pub(super) fn key_value(out: &mut Vec<u8>, v: &Value) {
    // DSP0203 2.4.0 declares TYPE #REQUIRED on KEYVALUE; pywbem always sends it.
    let (vt, ty) = match v {
        Value::String(_) | Value::Null => ("string", Some("string")),
        Value::Boolean(_) => ("boolean", Some("boolean")),
        Value::Char16(_) | Value::DateTime(_) => ("string", v.cim_type().map(|t| t.xml_name())),
        other => ("numeric", other.cim_type().map(|t| t.xml_name())),
    };
    raw(out, "<KEYVALUE");
    attr(out, "VALUETYPE", vt);
    if let Some(t) = ty {
        attr(out, "TYPE", t);
    }
    out.push(b'>');
    if !v.is_null() {
        scalar_text(out, v);
    }
    raw(out, "</KEYVALUE>");
}

/// Writes a `CLASSNAME` element.
pub fn write_class_name(name: &CimName, out: &mut Vec<u8>) {
    raw(out, "<CLASSNAME");
    attr(out, "NAME", name.as_str());
    raw(out, "/>");
}

/// Writes an `INSTANCENAME` (class name and key bindings; host and namespace
/// of `path` are not written).
pub fn write_instance_name(path: &ObjectPath, out: &mut Vec<u8>) {
    raw(out, "<INSTANCENAME");
    attr(out, "CLASSNAME", path.class_name.as_str());
    out.push(b'>');
    for k in &path.keys {
        if k.name.as_str().is_empty() {
            // A single unnamed key (DSP0201 allows INSTANCENAME/KEYVALUE).
            match &k.value {
                Value::Reference(p) => value_reference(out, p),
                v => key_value(out, v),
            }
        } else {
            key_binding(out, k);
        }
    }
    raw(out, "</INSTANCENAME>");
}

/// Writes an `INSTANCEPATH` (`NAMESPACEPATH` with `HOST` — `localhost` when
/// the path has none — then `INSTANCENAME`). A path without namespace is
/// written as a bare `INSTANCENAME`, since `INSTANCEPATH` requires one.
pub fn write_instance_path(path: &ObjectPath, out: &mut Vec<u8>) {
    match &path.namespace {
        Some(ns) => {
            raw(out, "<INSTANCEPATH>");
            namespace_path(out, path.host.as_deref(), ns);
            write_instance_name(path, out);
            raw(out, "</INSTANCEPATH>");
        }
        None => write_instance_name(path, out),
    }
}

/// Writes an `OBJECTPATH` holding an `INSTANCEPATH`, or a `CLASSPATH` when the
/// path has no keys.
pub fn write_object_path(path: &ObjectPath, out: &mut Vec<u8>) {
    raw(out, "<OBJECTPATH>");
    if path.keys.is_empty() {
        class_path(out, path);
    } else {
        let mut p = path.clone();
        if p.namespace.is_none() {
            p.namespace = Some(String::new());
        }
        write_instance_path(&p, out);
    }
    raw(out, "</OBJECTPATH>");
}
