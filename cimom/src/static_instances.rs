//! Static instances (stored in the repository): the rules every write
//! follows, whoever serves the class (the repository arm of
//! `dispatch/instance_ops.rs`, the interop provider for subscriptions, MOF
//! loading in [`crate::bundled`]).
//!
//! Instances are normalised before they are stored: every property
//! must exist in the class (`CIM_ERR_NO_SUCH_PROPERTY`), values are converted
//! to the declared type (`CIM_ERR_TYPE_MISMATCH` when impossible), missing
//! properties take the class default, and every key must have a value. A
//! modification changes the properties named by the property list (else every
//! property sent) and never a key.

use crate::repository::Repository;
use cim::{CimError, CimName, CimType, Class, Instance, ObjectPath, Property, StatusCode, Value};

pub(crate) fn no_such_property(class: &Class, name: &CimName) -> CimError {
    CimError::new(
        StatusCode::NoSuchProperty,
        format!("class {} has no property {name}", class.name),
    )
}

/// Converts a value to a declared type, or `None` when it cannot be.
pub(crate) fn coerce(v: Value, ty: &CimType, is_array: bool) -> Option<Value> {
    match v {
        Value::Null => Some(Value::Null),
        Value::Array(items) => {
            if !is_array {
                return None;
            }
            items
                .into_iter()
                .map(|i| coerce(i, ty, false))
                .collect::<Option<Vec<_>>>()
                .map(Value::Array)
        }
        _ if is_array => None,
        v => coerce_scalar(v, ty),
    }
}

fn coerce_scalar(v: Value, ty: &CimType) -> Option<Value> {
    match (ty, v) {
        (CimType::Reference(_), v @ Value::Reference(_)) => Some(v),
        (CimType::Reference(_), Value::String(s)) => {
            ObjectPath::parse(&s).ok().map(Value::Reference)
        }
        (
            CimType::EmbeddedInstance | CimType::EmbeddedObject,
            v @ (Value::Instance(_) | Value::Class(_)),
        ) => Some(v),
        (CimType::EmbeddedInstance | CimType::EmbeddedObject, Value::String(s)) => {
            cim::xml::read_instance(&s, &cim::xml::Limits::default())
                .ok()
                .map(|i| Value::Instance(Box::new(i)))
        }
        (CimType::String, v @ Value::String(_)) => Some(v),
        (CimType::String, Value::Char16(c)) => Some(Value::String(c.to_string())),
        (t, Value::String(s)) if !t.is_string_like() => Value::parse_scalar(&s, t).ok(),
        (t, v) if t.is_integer() => v.as_i128().and_then(|i| Value::from_i128(i, t)),
        (CimType::Real32, v) => v.as_f64().map(|f| Value::Real32(f as f32)),
        (CimType::Real64, v) => v.as_f64().map(Value::Real64),
        (CimType::Boolean, v @ Value::Boolean(_)) => Some(v),
        (CimType::Char16, v @ Value::Char16(_)) => Some(v),
        (CimType::DateTime, v @ Value::DateTime(_)) => Some(v),
        _ => None,
    }
}

/// The path with its class name and key names spelled as in the class and
/// key values converted to the declared key types (a client may send a
/// numeric key as text), so that lookups by canonical key match.
pub(crate) fn typed_path(class: &Class, path: &ObjectPath) -> ObjectPath {
    let mut p = path.clone();
    p.class_name = class.name.clone();
    for k in &mut p.keys {
        if let Some(d) = class.property(k.name.as_str()) {
            if let Some(v) = coerce(k.value.clone(), &d.ty, false) {
                k.value = v;
            }
            k.name = d.name.clone();
        }
    }
    p
}

/// Builds the stored form of a static instance of `class` (see the module doc).
pub(crate) fn normalize(
    class: &Class,
    inst: &Instance,
    ns_name: &str,
) -> Result<Instance, CimError> {
    for p in &inst.properties {
        if class.property(p.name.as_str()).is_none() {
            return Err(no_such_property(class, &p.name));
        }
    }
    let mut out = Instance::new(class.name.clone());
    for decl in &class.properties {
        let value = match inst.property(decl.name.as_str()) {
            Some(p) => coerce(p.value.clone(), &decl.ty, decl.is_array).ok_or_else(|| {
                CimError::new(
                    StatusCode::TypeMismatch,
                    format!(
                        "value of property {} does not fit its type {}{}",
                        decl.name,
                        decl.ty,
                        if decl.is_array { "[]" } else { "" }
                    ),
                )
            })?,
            None => decl.value.clone(),
        };
        out.properties.push(Property {
            name: decl.name.clone(),
            ty: decl.ty.clone(),
            is_array: decl.is_array,
            array_size: decl.array_size,
            value,
            qualifiers: Vec::new(),
            class_origin: None,
            propagated: false,
        });
    }
    for k in class.keys() {
        if out.get(k.name.as_str()).is_none_or(Value::is_null) {
            return Err(CimError::invalid_parameter(format!(
                "key property {} of class {} has no value",
                k.name, class.name
            )));
        }
    }
    out.path = Some(out.path_from_class(class, Some(ns_name)));
    Ok(out)
}

/// ModifyInstance of a stored instance of `class` at `path` (typed): `inst`'s
/// properties (those in `property_list`, when given) replace the stored ones.
pub(crate) fn modify(
    repo: &Repository,
    ns: &str,
    class: &Class,
    path: &ObjectPath,
    inst: &Instance,
    property_list: Option<&[CimName]>,
) -> Result<(), CimError> {
    let mut old = repo
        .get_instance(ns, path)
        .map_err(|e| e.to_cim())?
        .ok_or_else(|| CimError::not_found(format!("instance {} does not exist", path.local())))?;
    // Properties to change: the property list, else every property sent.
    let names: Vec<CimName> = match property_list {
        Some(l) => l.to_vec(),
        None => inst.properties.iter().map(|p| p.name.clone()).collect(),
    };
    for n in names {
        let decl = class
            .property(n.as_str())
            .ok_or_else(|| no_such_property(class, &n))?;
        let new = inst.get(n.as_str()).cloned().unwrap_or(Value::Null);
        let new = coerce(new, &decl.ty, decl.is_array).ok_or_else(|| {
            CimError::new(
                StatusCode::TypeMismatch,
                format!("value of property {n} does not fit its type {}", decl.ty),
            )
        })?;
        if decl.is_key() {
            if old.get(n.as_str()) != Some(&new) {
                return Err(CimError::invalid_parameter(format!(
                    "key property {n} of {} cannot be modified",
                    path.local()
                )));
            }
            continue;
        }
        old.set(decl.name.as_str(), decl.ty.clone(), new);
    }
    old.path = Some(path.local());
    repo.replace_instance(ns, &old)
}
