//! The plain data of the facade: class names, set types and copy directions,
//! what a new set needs ([`SetSpec`]), and serialisable snapshots of the
//! `DS_IISet`, `DS_IIGroup`, `DS_IIOverflowVol` and `DS_Volume` instances
//! read from the server.

use super::call::{overflow_path, set_path, with_ns};
use crate::error::{Error, Result};
use cim::{CimType, Instance, ObjectPath, Value};
use serde::Serialize;
use std::fmt;

/// `DS_IISet`.
pub const SET_CLASS: &str = "DS_IISet";
/// `DS_IIGroup`.
pub const GROUP_CLASS: &str = "DS_IIGroup";
/// `DS_IIOverflowVol`.
pub const OVERFLOW_CLASS: &str = "DS_IIOverflowVol";
/// `DS_Volume`.
pub const VOLUME_CLASS: &str = "DS_Volume";

/// The type of a set (`DS_IISet.setType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SetType {
    /// Full copy at enable; the shadow becomes a complete physical copy.
    Independent,
    /// Copy-on-write shadow reading through to the master.
    Dependent,
    /// A shadow imported from another host (`importShadow`).
    Imported,
}

impl SetType {
    /// The CIM spelling (`independent`, `dependent`, `imported`).
    pub fn as_str(self) -> &'static str {
        match self {
            SetType::Independent => "independent",
            SetType::Dependent => "dependent",
            SetType::Imported => "imported",
        }
    }

    /// Parses the CIM spelling or the classic short forms `ind` / `dep`.
    pub fn parse(s: &str) -> Option<SetType> {
        match s.to_ascii_lowercase().as_str() {
            "ind" | "independent" => Some(SetType::Independent),
            "dep" | "dependent" => Some(SetType::Dependent),
            "imported" => Some(SetType::Imported),
            _ => None,
        }
    }
}

impl fmt::Display for SetType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The direction of a copy or update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Master to shadow (`iiadm -c s`, `-u s`): refresh the point-in-time image.
    ToShadow,
    /// Shadow to master (`iiadm -c m`, `-u m`): roll the master back.
    ToMaster,
}

impl Direction {
    pub(super) fn copy_method(self) -> &'static str {
        match self {
            Direction::ToShadow => "copyMasterToShadow",
            Direction::ToMaster => "copyShadowToMaster",
        }
    }
    pub(super) fn update_method(self) -> &'static str {
        match self {
            Direction::ToShadow => "updateMasterToShadow",
            Direction::ToMaster => "updateShadowToMaster",
        }
    }
}

/// What [`IiHost::create_set`] needs (`iiadm -e`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetSpec {
    /// Master volume path.
    pub master: String,
    /// Shadow volume path (names the set).
    pub shadow: String,
    /// Bitmap volume path.
    pub bitmap: String,
    /// Independent or dependent.
    pub set_type: SetType,
    /// Optional set name (defaults to the shadow path on the server).
    pub name: Option<String>,
    /// Optional overflow volume to attach at enable.
    pub overflow: Option<String>,
}

impl SetSpec {
    /// A spec without name or overflow.
    pub fn new(set_type: SetType, master: &str, shadow: &str, bitmap: &str) -> Self {
        SetSpec {
            master: master.to_owned(),
            shadow: shadow.to_owned(),
            bitmap: bitmap.to_owned(),
            set_type,
            name: None,
            overflow: None,
        }
    }

    pub(super) fn to_instance(&self) -> Instance {
        let s = |v: &str| Value::String(v.to_owned());
        let mut i = Instance::new(SET_CLASS)
            .with("masterVolume", CimType::String, s(&self.master))
            .with("shadowVolume", CimType::String, s(&self.shadow))
            .with("bitmapVolume", CimType::String, s(&self.bitmap))
            .with("setType", CimType::String, s(self.set_type.as_str()));
        if let Some(n) = &self.name {
            i.set("setName", CimType::String, s(n));
        }
        if let Some(o) = &self.overflow {
            i.set("overflowVolume", CimType::String, s(o));
        }
        i
    }
}

/// A snapshot of one `DS_IISet` instance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetInfo {
    /// `setName` (the shadow path when none was given).
    pub name: String,
    /// `shadowVolume` (key).
    pub shadow: String,
    /// `masterVolume`.
    pub master: String,
    /// `bitmapVolume`.
    pub bitmap: String,
    /// `setType` as sent by the server (`independent`, `dependent`, `imported`).
    pub set_type: String,
    /// `state` (`idle`, `copying`, `updating`, `suspended`, `exported`, `imported`, `offline`, `needs-reset`).
    pub state: String,
    /// `status` (`normal`, `degraded`, `error`).
    pub status: String,
    /// `percentCompleted` of the running or last copy/update.
    pub percent_completed: f32,
    /// `percentSynchronized`.
    pub percent_synchronized: f32,
    /// `overflowVolume`, if attached.
    pub overflow: Option<String>,
    /// `groupName`, if in a group.
    pub group: Option<String>,
    /// `masterCapacity` in bytes.
    pub master_capacity: u64,
    /// `shadowCapacity` in bytes.
    pub shadow_capacity: u64,
    /// `bitmapCapacity` in bytes.
    pub bitmap_capacity: u64,
    /// `copyUnits` (chunks per burst).
    pub copy_units: u32,
    /// `copyDelay` (10 ms ticks between bursts).
    pub copy_delay: u32,
    /// The instance path (namespace set).
    #[serde(skip)]
    pub path: ObjectPath,
}

pub(super) fn opt_str(i: &Instance, name: &str) -> Option<String> {
    i.get_str(name).filter(|s| !s.is_empty()).map(str::to_owned)
}
pub(super) fn req_str(i: &Instance, name: &str) -> String {
    i.get_str(name).unwrap_or_default().to_owned()
}
pub(super) fn num_u64(i: &Instance, name: &str) -> u64 {
    i.get(name).and_then(Value::as_u64).unwrap_or(0)
}
pub(super) fn num_f32(i: &Instance, name: &str) -> f32 {
    i.get(name).and_then(Value::as_f64).unwrap_or(0.0) as f32
}

impl SetInfo {
    /// Reads a `DS_IISet` instance; its path is taken from the instance or built
    /// from the keys (`shadowVolume`, `setType`) in `namespace`.
    pub fn from_instance(i: &Instance, namespace: &str) -> Result<SetInfo> {
        let shadow = i.get_str("shadowVolume").ok_or_else(|| Error::Protocol {
            operation: SET_CLASS.into(),
            reason: "DS_IISet instance without shadowVolume".into(),
        })?;
        let set_type = req_str(i, "setType");
        let path = match &i.path {
            Some(p) if !p.keys.is_empty() => with_ns(p.clone(), namespace),
            _ => set_path(namespace, shadow, &set_type),
        };
        Ok(SetInfo {
            name: opt_str(i, "setName").unwrap_or_else(|| shadow.to_owned()),
            shadow: shadow.to_owned(),
            master: req_str(i, "masterVolume"),
            bitmap: req_str(i, "bitmapVolume"),
            set_type,
            state: req_str(i, "state"),
            status: req_str(i, "status"),
            percent_completed: num_f32(i, "percentCompleted"),
            percent_synchronized: num_f32(i, "percentSynchronized"),
            overflow: opt_str(i, "overflowVolume"),
            group: opt_str(i, "groupName"),
            master_capacity: num_u64(i, "masterCapacity"),
            shadow_capacity: num_u64(i, "shadowCapacity"),
            bitmap_capacity: num_u64(i, "bitmapCapacity"),
            copy_units: num_u64(i, "copyUnits") as u32,
            copy_delay: num_u64(i, "copyDelay") as u32,
            path,
        })
    }

    /// True when `name` is this set's shadow path or its set name.
    pub fn matches(&self, name: &str) -> bool {
        self.shadow == name || self.name == name
    }
}

/// A snapshot of one `DS_IIGroup` instance, with its members.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupInfo {
    /// `groupName`.
    pub name: String,
    /// `groupType` (`independent` or `dependent`).
    pub group_type: String,
    /// Shadow paths of the member sets.
    pub members: Vec<String>,
    /// The instance path.
    #[serde(skip)]
    pub path: ObjectPath,
}

/// A snapshot of one `DS_IIOverflowVol` instance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OverflowInfo {
    /// `overflowVolPath`.
    pub path: String,
    /// `capacity` in bytes.
    pub capacity: u64,
    /// `usedBytes`.
    pub used_bytes: u64,
    /// `attachedSets`.
    pub attached_sets: u32,
    /// `totalAttachedSets`: sets ever attached (every attach counts, a
    /// detach never lowers it); `None` from a server whose class lacks it.
    pub total_attached_sets: Option<u32>,
    /// `highWaterBytes`: end of the highest chunk ever handed out, header
    /// chunk included; `None` from a server whose class lacks it.
    pub high_water_bytes: Option<u64>,
    /// The instance path.
    #[serde(skip)]
    pub object_path: ObjectPath,
}

impl OverflowInfo {
    pub(super) fn from_instance(i: &Instance, namespace: &str) -> OverflowInfo {
        let path = req_str(i, "overflowVolPath");
        OverflowInfo {
            object_path: overflow_path(namespace, &path),
            capacity: num_u64(i, "capacity"),
            used_bytes: num_u64(i, "usedBytes"),
            attached_sets: num_u64(i, "attachedSets") as u32,
            total_attached_sets: i
                .get("totalAttachedSets")
                .and_then(Value::as_u64)
                .map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
            high_water_bytes: i.get("highWaterBytes").and_then(Value::as_u64),
            path,
        }
    }
}

/// A snapshot of one `DS_Volume` instance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VolumeInfo {
    /// `path`.
    pub path: String,
    /// `capacity` in bytes.
    pub capacity: u64,
    /// `usedBy` (empty when free).
    pub used_by: String,
    /// `nbdURIs`: how the volume is reachable over NBD (empty when not exported).
    pub nbd_uris: Vec<String>,
    /// `nbdAccess`: what guards that endpoint (empty when not exported).
    pub nbd_access: String,
}

/// Copy throttle of a set (interface.md §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CopyParams {
    /// `copyDelay`: 10 ms ticks between bursts (2–10000).
    pub delay: u32,
    /// `copyUnits`: chunks per burst (100–60000).
    pub units: u32,
}
