//! Writing instances: `INSTANCE`, and the named forms the operations return
//! (`VALUE.NAMEDINSTANCE`, `VALUE.INSTANCEWITHPATH`).

use super::classes::property;
use super::markup::{attr, raw};
use super::paths::{write_instance_name, write_instance_path};
use super::qualifiers::qualifiers;
use crate::instance::Instance;
use crate::path::ObjectPath;

/// Writes an `INSTANCE` element (qualifiers, then properties in order).
pub fn write_instance(inst: &Instance, out: &mut Vec<u8>) {
    raw(out, "<INSTANCE");
    attr(out, "CLASSNAME", inst.class_name.as_str());
    out.push(b'>');
    qualifiers(out, &inst.qualifiers);
    for p in &inst.properties {
        property(out, p);
    }
    raw(out, "</INSTANCE>");
}

/// Writes a `VALUE.NAMEDINSTANCE`.
pub(in crate::xml) fn write_value_named_instance(inst: &Instance, out: &mut Vec<u8>) {
    raw(out, "<VALUE.NAMEDINSTANCE>");
    match &inst.path {
        Some(p) => write_instance_name(p, out),
        None => write_instance_name(&ObjectPath::class(None, inst.class_name.clone()), out),
    }
    write_instance(inst, out);
    raw(out, "</VALUE.NAMEDINSTANCE>");
}

/// Writes a `VALUE.INSTANCEWITHPATH` (`INSTANCEPATH` from `inst.path`, then
/// the `INSTANCE`), as pull responses carry.
pub fn write_value_instance_with_path(inst: &Instance, out: &mut Vec<u8>) {
    raw(out, "<VALUE.INSTANCEWITHPATH>");
    let mut p = inst
        .path
        .clone()
        .unwrap_or_else(|| ObjectPath::class(None, inst.class_name.clone()));
    if p.namespace.is_none() {
        p.namespace = Some(String::new());
    }
    write_instance_path(&p, out);
    write_instance(inst, out);
    raw(out, "</VALUE.INSTANCEWITHPATH>");
}
