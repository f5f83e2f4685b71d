//! Object paths of the `DS_II*` classes and the small pieces every method
//! call shares: typed parameters, the boolean-result check and not-found
//! errors that name the object.

use super::model::{GROUP_CLASS, OVERFLOW_CLASS, SET_CLASS};
use crate::error::{Error, Result};
use cim::ops::{MethodResult, ParamValue};
use cim::{CimError, CimType, ObjectPath, StatusCode, Value};

pub(super) fn with_ns(mut p: ObjectPath, namespace: &str) -> ObjectPath {
    p.host = None;
    if p.namespace.is_none() {
        p.namespace = Some(namespace.to_owned());
    }
    p
}

/// The path of a set: `DS_IISet.setType=..,shadowVolume=..`.
pub fn set_path(namespace: &str, shadow: &str, set_type: &str) -> ObjectPath {
    ObjectPath::class(Some(namespace), SET_CLASS)
        .with_key("setType", Value::String(set_type.to_owned()))
        .with_key("shadowVolume", Value::String(shadow.to_owned()))
}

/// The path of a group.
pub fn group_path(namespace: &str, name: &str) -> ObjectPath {
    ObjectPath::class(Some(namespace), GROUP_CLASS)
        .with_key("groupName", Value::String(name.to_owned()))
}

/// The path of an overflow volume.
pub fn overflow_path(namespace: &str, path: &str) -> ObjectPath {
    ObjectPath::class(Some(namespace), OVERFLOW_CLASS)
        .with_key("overflowVolPath", Value::String(path.to_owned()))
}

/// Turns a boolean method result into `Ok` or a `CIM_ERR_FAILED` naming the target.
pub(super) fn check_true(r: MethodResult, method: &str, what: &str) -> Result<()> {
    match returned_bool(&r.return_value) {
        Some(true) => Ok(()),
        // Some servers answer uint32 0 for success; accept it.
        _ if r.return_value.as_u64() == Some(0) => Ok(()),
        _ => Err(Error::Cim(CimError::failed(format!(
            "{method} on {what} returned {:?} instead of true",
            r.return_value
        )))),
    }
}

/// A boolean return value: typed (`PARAMTYPE="boolean"`), or the text
/// `TRUE`/`FALSE` of an untyped `RETURNVALUE` (any case, DSP0201). Never
/// the truth of the text itself: "FALSE" is false.
pub(super) fn returned_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Boolean(b) => Some(*b),
        Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

pub(super) fn ref_param(name: &str, path: &ObjectPath) -> ParamValue {
    ParamValue::new(
        name,
        CimType::Reference(Some(path.class_name.clone())),
        Value::Reference(path.local()),
    )
}

pub(super) fn str_param(name: &str, v: &str) -> ParamValue {
    ParamValue::new(name, CimType::String, Value::String(v.to_owned()))
}

pub(super) fn u32_param(name: &str, v: u32) -> ParamValue {
    ParamValue::new(name, CimType::Uint32, Value::Uint32(v))
}

/// Adds the object's name to a "not found" CIM error so messages say which object.
pub(super) fn name_not_found(e: Error, make: impl FnOnce() -> Error) -> Error {
    if e.cim_status() == Some(StatusCode::NotFound) {
        make()
    } else {
        e
    }
}
