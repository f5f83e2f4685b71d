//! CIM ⇄ engine conversions: engine snapshots to instances and object paths,
//! object paths and method parameters to engine arguments.
//!
//! Property and key names are spelt exactly as in interface.md §4; CIM compares
//! them case-insensitively, so lookups here use [`CimName::is`].
//!
//! | class | keys | from |
//! |---|---|---|
//! | `DS_IISet` | `shadowVolume` (shadow path), `setType` (`independent`/`dependent`/`imported`) | [`SetInfo`] |
//! | `DS_IIGroup` | `groupName` | [`GroupInfo`] |
//! | `DS_IIOverflowVol` | `overflowVolPath` | [`OverflowInfo`] |
//! | `DS_Volume` | `path` (canonical) | [`VolumeInfo`] |

use crate::error::{Error, Result};
use cim::ops::{MethodResult, ParamValue};
use cim::{CimName, CimType, Instance, ObjectPath, Value};
use native::{GroupInfo, OverflowInfo, SetInfo, SetKind, VolumeInfo};
use std::path::{Path, PathBuf};

/// `DS_IISet`.
pub const DS_IISET: &str = "DS_IISet";
/// `DS_IIGroup`.
pub const DS_IIGROUP: &str = "DS_IIGroup";
/// `DS_IIOverflowVol`.
pub const DS_IIOVERFLOWVOL: &str = "DS_IIOverflowVol";
/// `DS_Volume`.
pub const DS_VOLUME: &str = "DS_Volume";
/// `DS_IIGroupSetAssoc`.
pub const DS_IIGROUPSETASSOC: &str = "DS_IIGroupSetAssoc";
/// `DS_IISetOverflowVolAssoc`.
pub const DS_IISETOVERFLOWVOLASSOC: &str = "DS_IISetOverflowVolAssoc";

/// A path as the string CIM shows (lossy for non-UTF-8 names, which the
/// engine refuses anyway).
pub fn path_text(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn s(v: impl Into<String>) -> Value {
    Value::String(v.into())
}

/// The `setType` key of a set.
pub fn set_type(info: &SetInfo) -> &'static str {
    if info.imported {
        "imported"
    } else {
        info.kind.as_str()
    }
}

/// Parses a `setType` / `groupType` value (also the short `ind` / `dep`).
pub fn parse_kind(text: &str, what: &str) -> Result<SetKind> {
    match text.trim().to_ascii_lowercase().as_str() {
        "independent" | "ind" => Ok(SetKind::Independent),
        "dependent" | "dep" => Ok(SetKind::Dependent),
        other => Err(Error::InvalidParameter(format!(
            "{what} {other:?} is not valid: use \"independent\" or \"dependent\""
        ))),
    }
}

/// The object path of a set.
pub fn set_path(info: &SetInfo, ns: Option<&str>) -> ObjectPath {
    ObjectPath::class(ns, DS_IISET)
        .with_key("shadowVolume", s(path_text(&info.shadow)))
        .with_key("setType", s(set_type(info)))
}

/// The instance of a set with its live state.
pub fn set_instance(info: &SetInfo, ns: Option<&str>) -> Instance {
    let opt_path = |p: &Option<PathBuf>| s(p.as_deref().map(path_text).unwrap_or_default());
    let mut i = Instance::new(DS_IISET)
        .with("shadowVolume", CimType::String, s(path_text(&info.shadow)))
        .with("setType", CimType::String, s(set_type(info)))
        .with("masterVolume", CimType::String, s(path_text(&info.master)))
        .with("bitmapVolume", CimType::String, s(path_text(&info.bitmap)))
        .with("setName", CimType::String, s(info.name.clone()))
        .with("overflowVolume", CimType::String, opt_path(&info.overflow))
        .with(
            "groupName",
            CimType::String,
            s(info.group.clone().unwrap_or_default()),
        )
        .with("state", CimType::String, s(info.state.as_str()))
        .with("status", CimType::String, s(info.status.as_str()))
        .with(
            "percentCompleted",
            CimType::Real32,
            Value::Real32(info.percent_completed),
        )
        .with(
            "percentSynchronized",
            CimType::Real32,
            Value::Real32(info.percent_synchronized),
        )
        .with(
            "masterCapacity",
            CimType::Uint64,
            Value::Uint64(info.master_capacity),
        )
        .with(
            "shadowCapacity",
            CimType::Uint64,
            Value::Uint64(info.shadow_capacity),
        )
        .with(
            "bitmapCapacity",
            CimType::Uint64,
            Value::Uint64(info.bitmap_capacity),
        )
        .with("copyUnits", CimType::Uint32, Value::Uint32(info.copy_units))
        .with("copyDelay", CimType::Uint32, Value::Uint32(info.copy_delay))
        .with(
            "volatileBitmap",
            CimType::Boolean,
            Value::Boolean(info.volatile_bitmap),
        );
    i.path = Some(set_path(info, ns));
    i
}

/// The object path of a group.
pub fn group_path(name: &str, ns: Option<&str>) -> ObjectPath {
    ObjectPath::class(ns, DS_IIGROUP).with_key("groupName", s(name))
}

/// The instance of a group.
pub fn group_instance(info: &GroupInfo, ns: Option<&str>) -> Instance {
    let mut i = Instance::new(DS_IIGROUP)
        .with("groupName", CimType::String, s(info.name.clone()))
        .with("groupType", CimType::String, s(info.kind.as_str()));
    i.path = Some(group_path(&info.name, ns));
    i
}

/// The object path of an overflow volume.
pub fn overflow_path(path: &Path, ns: Option<&str>) -> ObjectPath {
    ObjectPath::class(ns, DS_IIOVERFLOWVOL).with_key("overflowVolPath", s(path_text(path)))
}

/// The instance of an overflow volume.
pub fn overflow_instance(info: &OverflowInfo, ns: Option<&str>) -> Instance {
    let mut i = Instance::new(DS_IIOVERFLOWVOL)
        .with("overflowVolPath", CimType::String, s(path_text(&info.path)))
        .with("capacity", CimType::Uint64, Value::Uint64(info.capacity))
        .with("usedBytes", CimType::Uint64, Value::Uint64(info.used_bytes))
        .with(
            "attachedSets",
            CimType::Uint32,
            Value::Uint32(info.attached_sets),
        )
        .with(
            "totalAttachedSets",
            CimType::Uint32,
            Value::Uint32(info.total_attached),
        )
        .with(
            "highWaterBytes",
            CimType::Uint64,
            Value::Uint64(high_water_bytes(info)),
        );
    i.path = Some(overflow_path(&info.path, ns));
    i
}

/// `highWaterBytes`: the end of the highest chunk ever handed out, the header
/// chunk (chunk 0) counted as in `usedBytes`.
fn high_water_bytes(info: &OverflowInfo) -> u64 {
    info.high_water_chunks
        .saturating_add(1)
        .saturating_mul(native::CHUNK_SIZE)
}

/// The object path of a volume.
pub fn volume_path(path: &Path, ns: Option<&str>) -> ObjectPath {
    ObjectPath::class(ns, DS_VOLUME).with_key("path", s(path_text(path)))
}

/// The instance of a volume.
pub fn volume_instance(info: &VolumeInfo, ns: Option<&str>) -> Instance {
    let mut i = Instance::new(DS_VOLUME)
        .with("path", CimType::String, s(path_text(&info.path)))
        .with("capacity", CimType::Uint64, Value::Uint64(info.capacity))
        .with("usedBy", CimType::String, s(info.used_by.clone()));
    i.path = Some(volume_path(&info.path, ns));
    i
}

/// A string key of an instance path; `CIM_ERR_NOT_FOUND` style errors name
/// the class and the key.
pub fn key_string(path: &ObjectPath, key: &str) -> Result<String> {
    match path.key(key) {
        Some(Value::String(v)) if !v.is_empty() => Ok(v.clone()),
        Some(Value::String(_)) | None | Some(Value::Null) => Err(Error::InvalidParameter(format!(
            "the path {path} lacks the key {key} of {}",
            path.class_name
        ))),
        Some(other) => Err(Error::InvalidParameter(format!(
            "key {key} of {} must be a string, not {other:?}",
            path.class_name
        ))),
    }
}

/// A string property of an instance being created (`None` when absent,
/// NULL or empty).
pub fn prop_string(inst: &Instance, name: &str) -> Result<Option<String>> {
    match inst.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(v)) if v.is_empty() => Ok(None),
        Some(Value::String(v)) => Ok(Some(v.clone())),
        Some(other) => Err(Error::InvalidParameter(format!(
            "property {name} of {} must be a string, not {other:?}",
            inst.class_name
        ))),
    }
}

/// A boolean property of an instance being created (`None` when absent or
/// NULL; "true"/"false" strings are accepted, as some clients send them).
pub fn prop_bool(inst: &Instance, name: &str) -> Result<Option<bool>> {
    match inst.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Boolean(b)) => Ok(Some(*b)),
        Some(Value::String(t)) if t.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(t)) if t.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(other) => Err(Error::InvalidParameter(format!(
            "property {name} of {} must be a boolean, not {other:?}",
            inst.class_name
        ))),
    }
}

/// A required string property of an instance being created.
pub fn required_string(inst: &Instance, name: &str) -> Result<String> {
    prop_string(inst, name)?.ok_or_else(|| {
        Error::InvalidParameter(format!(
            "property {name} is required to create a {} instance",
            inst.class_name
        ))
    })
}

/// A uint32 value from any integer (or decimal string) value, with a name for
/// the error.
pub fn value_u32(v: &Value, what: &str) -> Result<Option<u32>> {
    let n = match v {
        Value::Null => return Ok(None),
        Value::String(t) => t.trim().parse::<i128>().ok(),
        other => other.as_i128(),
    };
    match n {
        Some(n) => u32::try_from(n)
            .map(Some)
            .map_err(|_| Error::InvalidParameter(format!("{what} = {n} does not fit a uint32"))),
        None => Err(Error::InvalidParameter(format!(
            "{what} must be a uint32, not {v:?}"
        ))),
    }
}

/// The IN parameters of an extrinsic method call, looked up by name
/// case-insensitively.
pub struct Params<'a> {
    method: &'a str,
    params: &'a [ParamValue],
}

impl<'a> Params<'a> {
    /// Wraps the parameters of `method`.
    pub fn new(method: &'a str, params: &'a [ParamValue]) -> Self {
        Params { method, params }
    }

    /// A parameter's value as sent (`None` when absent or NULL).
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.params
            .iter()
            .find(|p| p.name.is(name))
            .map(|p| &p.value)
            .filter(|v| !v.is_null())
    }

    fn missing(&self, name: &str) -> Error {
        Error::InvalidParameter(format!("{} needs the parameter {name}", self.method))
    }

    /// An optional string parameter (`None` when absent, NULL or empty).
    pub fn opt_string(&self, name: &str) -> Result<Option<String>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(v)) if v.is_empty() => Ok(None),
            Some(Value::String(v)) => Ok(Some(v.clone())),
            Some(other) => Err(Error::InvalidParameter(format!(
                "parameter {name} of {} must be a string, not {other:?}",
                self.method
            ))),
        }
    }

    /// A required, non-empty string parameter.
    pub fn string(&self, name: &str) -> Result<String> {
        self.opt_string(name)?.ok_or_else(|| self.missing(name))
    }

    /// A required uint32 parameter.
    pub fn u32(&self, name: &str) -> Result<u32> {
        let v = self.get(name).ok_or_else(|| self.missing(name))?;
        value_u32(v, &format!("parameter {name} of {}", self.method))?
            .ok_or_else(|| self.missing(name))
    }

    /// An optional uint32 parameter.
    pub fn opt_u32(&self, name: &str) -> Result<Option<u32>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => value_u32(v, &format!("parameter {name} of {}", self.method)),
        }
    }

    /// An optional boolean parameter ("true"/"false" strings accepted).
    pub fn get_bool(&self, name: &str) -> Result<Option<bool>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Boolean(b)) => Ok(Some(*b)),
            Some(Value::String(t)) if t.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Value::String(t)) if t.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(other) => Err(Error::InvalidParameter(format!(
                "parameter {name} of {} must be a boolean, not {other:?}",
                self.method
            ))),
        }
    }

    /// A required reference parameter (a REF value, or a WBEM URI string as
    /// some clients send).
    pub fn reference(&self, name: &str) -> Result<ObjectPath> {
        match self.get(name) {
            None => Err(self.missing(name)),
            Some(Value::Reference(p)) => Ok(p.clone()),
            Some(Value::String(t)) => ObjectPath::parse(t).map_err(|e| {
                Error::InvalidParameter(format!("parameter {name} of {}: {e}", self.method))
            }),
            Some(other) => Err(Error::InvalidParameter(format!(
                "parameter {name} of {} must be a reference, not {other:?}",
                self.method
            ))),
        }
    }
}

/// `boolean` return value `true`.
pub fn ret_true() -> MethodResult {
    ret(CimType::Boolean, Value::Boolean(true))
}

/// A return value without output parameters.
pub fn ret(ty: CimType, value: Value) -> MethodResult {
    MethodResult {
        return_value: value,
        return_type: Some(ty),
        out_params: Vec::new(),
    }
}

/// `uint32 count` plus an OUT array of `DS_IISet` references named `sets`.
pub fn ret_set_refs(refs: Vec<ObjectPath>) -> MethodResult {
    let count = refs.len() as u32;
    let array = Value::Array(refs.into_iter().map(Value::Reference).collect());
    MethodResult {
        return_value: Value::Uint32(count),
        return_type: Some(CimType::Uint32),
        out_params: vec![ParamValue::new(
            "sets",
            CimType::Reference(Some(CimName::new(DS_IISET))),
            array,
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_long_and_short_forms() {
        assert_eq!(
            parse_kind("independent", "setType").unwrap(),
            SetKind::Independent
        );
        assert_eq!(parse_kind("DEP", "setType").unwrap(), SetKind::Dependent);
        let e = parse_kind("imported", "setType").unwrap_err();
        assert!(e.to_string().contains("imported"));
    }

    #[test]
    fn params_are_case_insensitive_and_typed() {
        let params = vec![
            ParamValue::new("Delay", CimType::Uint32, Value::Uint32(5)),
            ParamValue::new("units", CimType::String, Value::String("200".into())),
            ParamValue::new("big", CimType::Uint64, Value::Uint64(1 << 40)),
        ];
        let p = Params::new("setCopyParameters", &params);
        assert_eq!(p.u32("delay").unwrap(), 5);
        assert_eq!(p.u32("Units").unwrap(), 200);
        assert!(matches!(p.u32("big"), Err(Error::InvalidParameter(_))));
        let e = p.u32("absent").unwrap_err();
        assert!(e
            .to_string()
            .contains("setCopyParameters needs the parameter absent"));
        assert_eq!(p.opt_string("nothing").unwrap(), None);
    }

    #[test]
    fn reference_params_accept_uris() {
        let params = vec![ParamValue::new(
            "set",
            CimType::String,
            Value::String(r#"root/cimv2:DS_IISet.shadowVolume="/v/s",setType="dependent""#.into()),
        )];
        let p = Params::new("addIISet", &params);
        let r = p.reference("set").unwrap();
        assert!(r.class_name.is("ds_iiset"));
        assert_eq!(r.key_str("shadowVolume"), Some("/v/s"));
    }

    #[test]
    fn out_array_of_references() {
        let r = ret_set_refs(vec![ObjectPath::class(None, DS_IISET)]);
        assert_eq!(r.return_value, Value::Uint32(1));
        assert_eq!(r.out_params.len(), 1);
        assert!(r.out_params[0].name.is("sets"));
    }
}
