//! The typed Instant Image facade over one host: sets, groups, overflow
//! volumes and volumes of `root/cimv2` (interface.md §4), as Rust types and
//! handles instead of instances and method calls.
//!
//! * [`IiHost`] — create, find, list and delete sets, groups and overflow
//!   volumes; list volumes; import a shadow; suspend/resume everything.
//! * [`SetHandle`] — every `DS_IISet` method (copy, update, abort, wait with a
//!   progress callback, export, join, overflow attach/detach, suspend, resume,
//!   reset, copy parameters, rename).
//! * [`GroupHandle`] — every `DS_IIGroup` method (membership, group-wide
//!   copy/update/abort/suspend/resume, lock, rename).
//! * [`MirrorHandle`], [`MirrorSpec`], [`MirrorInfo`] — continuous copy
//!   (`DS_IIMirror`): enable, sync, reverse, logging, mode, wait, disable.
//! * [`SetInfo`], [`GroupInfo`], [`OverflowInfo`], [`VolumeInfo`] — plain,
//!   serialisable snapshots of the instances.
//!
//! Methods that return `boolean` on the server are checked: `false` is turned
//! into a `CIM_ERR_FAILED` error naming the object (the contract says the
//! server reports failures as CIM errors, so this only guards odd servers).

mod call;
mod group;
mod host;
mod mirror;
mod model;
mod set;

pub use call::{group_path, overflow_path, set_path};
pub use group::GroupHandle;
pub use host::IiHost;
pub use mirror::{
    mirror_path, MirrorHandle, MirrorInfo, MirrorSpec, MIRROR_CLASS, MIRROR_GROUP_CLASS,
};
pub use model::{
    CopyParams, Direction, GroupInfo, OverflowInfo, SetInfo, SetSpec, SetType, VolumeInfo,
    GROUP_CLASS, OVERFLOW_CLASS, SET_CLASS, VOLUME_CLASS,
};
pub use set::SetHandle;

#[cfg(test)]
mod tests {
    use super::call::*;
    use super::host::*;
    use super::*;
    use crate::Error;
    use cim::ops::MethodResult;
    use cim::{CimType, Instance, Value};

    fn set_instance(shadow: &str, name: Option<&str>) -> Instance {
        let s = |v: &str| Value::String(v.into());
        let mut i = Instance::new(SET_CLASS)
            .with("shadowVolume", CimType::String, s(shadow))
            .with("setType", CimType::String, s("dependent"))
            .with("masterVolume", CimType::String, s("/v/m"))
            .with("bitmapVolume", CimType::String, s("/v/b"))
            .with("state", CimType::String, s("idle"))
            .with("percentCompleted", CimType::Real32, Value::Real32(42.5))
            .with("copyUnits", CimType::Uint32, Value::Uint32(100))
            .with("overflowVolume", CimType::String, s(""))
            .with("masterCapacity", CimType::Uint64, Value::Uint64(1 << 20));
        if let Some(n) = name {
            i.set("setName", CimType::String, s(n));
        }
        i
    }

    #[test]
    fn set_info_reads_instances_and_builds_paths() {
        let info = SetInfo::from_instance(&set_instance("/v/s", None), "root/cimv2").unwrap();
        assert_eq!(info.name, "/v/s");
        assert_eq!(info.percent_completed, 42.5);
        assert_eq!(info.copy_units, 100);
        assert_eq!(info.overflow, None, "empty overflow means none");
        assert_eq!(info.master_capacity, 1 << 20);
        assert_eq!(info.path, set_path("root/cimv2", "/v/s", "dependent"));
        assert!(SetInfo::from_instance(&Instance::new(SET_CLASS), "root/cimv2").is_err());
    }

    #[test]
    fn sets_are_found_by_shadow_before_name() {
        let a = SetInfo::from_instance(&set_instance("/v/a", Some("/v/b")), "ns").unwrap();
        let b = SetInfo::from_instance(&set_instance("/v/b", Some("bee")), "ns").unwrap();
        let sets = vec![a, b];
        assert_eq!(pick_set(sets.clone(), "/v/b").unwrap().shadow, "/v/b");
        assert_eq!(pick_set(sets.clone(), "bee").unwrap().shadow, "/v/b");
        assert!(matches!(pick_set(sets, "nope"), Err(Error::SetNotFound(n)) if n == "nope"));
    }

    #[test]
    fn set_types_parse_short_and_long_forms() {
        assert_eq!(SetType::parse("ind"), Some(SetType::Independent));
        assert_eq!(SetType::parse("Dependent"), Some(SetType::Dependent));
        assert_eq!(SetType::parse("shd"), None);
        let i = SetSpec::new(SetType::Dependent, "/m", "/s", "/b").to_instance();
        assert_eq!(i.get_str("setType"), Some("dependent"));
        assert_eq!(i.get("setName"), None);
    }

    #[test]
    fn boolean_results_are_checked() {
        let ok = MethodResult {
            return_value: Value::Boolean(true),
            return_type: None,
            out_params: vec![],
        };
        assert!(check_true(ok, "abort", "/v/s").is_ok());
        let bad = MethodResult {
            return_value: Value::Boolean(false),
            return_type: None,
            out_params: vec![],
        };
        let e = check_true(bad, "abort", "/v/s").unwrap_err();
        assert!(e.to_string().contains("abort on /v/s"), "{e}");
    }
}
