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
//! * [`SetInfo`], [`GroupInfo`], [`OverflowInfo`], [`VolumeInfo`] — plain,
//!   serialisable snapshots of the instances.
//!
//! Methods that return `boolean` on the server are checked: `false` is turned
//! into a `CIM_ERR_FAILED` error naming the object (the contract says the
//! server reports failures as CIM errors, so this only guards odd servers).

use crate::conn::Client;
use crate::error::{Error, Result};
use cim::ops::{MethodResult, ParamValue};
use cim::{CimError, CimType, Instance, ObjectPath, StatusCode, Value};
use serde::Serialize;
use std::fmt;
use std::time::Duration;

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
    fn copy_method(self) -> &'static str {
        match self {
            Direction::ToShadow => "copyMasterToShadow",
            Direction::ToMaster => "copyShadowToMaster",
        }
    }
    fn update_method(self) -> &'static str {
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

    fn to_instance(&self) -> Instance {
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

fn opt_str(i: &Instance, name: &str) -> Option<String> {
    i.get_str(name).filter(|s| !s.is_empty()).map(str::to_owned)
}
fn req_str(i: &Instance, name: &str) -> String {
    i.get_str(name).unwrap_or_default().to_owned()
}
fn num_u64(i: &Instance, name: &str) -> u64 {
    i.get(name).and_then(Value::as_u64).unwrap_or(0)
}
fn num_f32(i: &Instance, name: &str) -> f32 {
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
    fn from_instance(i: &Instance, namespace: &str) -> OverflowInfo {
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

fn with_ns(mut p: ObjectPath, namespace: &str) -> ObjectPath {
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
fn check_true(r: MethodResult, method: &str, what: &str) -> Result<()> {
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
fn returned_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Boolean(b) => Some(*b),
        Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn ref_param(name: &str, path: &ObjectPath) -> ParamValue {
    ParamValue::new(
        name,
        CimType::Reference(Some(path.class_name.clone())),
        Value::Reference(path.local()),
    )
}

fn str_param(name: &str, v: &str) -> ParamValue {
    ParamValue::new(name, CimType::String, Value::String(v.to_owned()))
}

fn u32_param(name: &str, v: u32) -> ParamValue {
    ParamValue::new(name, CimType::Uint32, Value::Uint32(v))
}

/// Adds the object's name to a "not found" CIM error so messages say which object.
fn name_not_found(e: Error, make: impl FnOnce() -> Error) -> Error {
    if e.cim_status() == Some(StatusCode::NotFound) {
        make()
    } else {
        e
    }
}

/// The Instant Image facade over one host (cheap to clone).
#[derive(Debug, Clone)]
pub struct IiHost {
    client: Client,
    namespace: String,
}

impl IiHost {
    /// A facade over `client`, using its default namespace (normally `root/cimv2`).
    pub fn new(client: Client) -> IiHost {
        let namespace = client.namespace().to_owned();
        IiHost { client, namespace }
    }

    /// A facade over a new client for `url` with the default configuration.
    pub fn connect(url: &str) -> Result<IiHost> {
        Ok(IiHost::new(Client::connect(url)?))
    }

    /// The underlying CIM client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The namespace of the Instant Image classes.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    // ---- sets ----

    /// Enables a set (`CreateInstance DS_IISet`, `iiadm -e`).
    pub async fn create_set(&self, spec: &SetSpec) -> Result<SetHandle> {
        self.enable(spec, spec.to_instance()).await
    }

    /// Enables a set whose copy throttle is set from the start, so that the
    /// initial full copy of an independent set already runs at `params`.
    pub async fn create_set_throttled(
        &self,
        spec: &SetSpec,
        params: CopyParams,
    ) -> Result<SetHandle> {
        let inst = spec
            .to_instance()
            .with("copyDelay", CimType::Uint32, Value::Uint32(params.delay))
            .with("copyUnits", CimType::Uint32, Value::Uint32(params.units));
        self.enable(spec, inst).await
    }

    async fn enable(&self, spec: &SetSpec, inst: Instance) -> Result<SetHandle> {
        let path = self.client.create_instance(&self.namespace, inst).await?;
        let shadow = path
            .key_str("shadowVolume")
            .unwrap_or(&spec.shadow)
            .to_owned();
        tracing::info!(shadow = %shadow, "set enabled");
        Ok(SetHandle {
            host: self.clone(),
            path: with_ns(path, &self.namespace),
            shadow,
        })
    }

    /// Every set on the host.
    pub async fn list_sets(&self) -> Result<Vec<SetInfo>> {
        let insts = self
            .client
            .enumerate_instances(&self.namespace, SET_CLASS)
            .await?;
        insts
            .iter()
            .map(|i| SetInfo::from_instance(i, &self.namespace))
            .collect()
    }

    /// The set whose shadow volume or set name is `name` (shadow paths win).
    pub async fn set_info(&self, name: &str) -> Result<SetInfo> {
        let sets = self.list_sets().await?;
        pick_set(sets, name)
    }

    /// A handle on the set named by its shadow volume or set name.
    pub async fn find_set(&self, name: &str) -> Result<SetHandle> {
        let info = self.set_info(name).await?;
        Ok(self.handle_for(&info))
    }

    /// A handle from a snapshot (no I/O).
    pub fn handle_for(&self, info: &SetInfo) -> SetHandle {
        SetHandle {
            host: self.clone(),
            path: info.path.clone(),
            shadow: info.shadow.clone(),
        }
    }

    /// Disables a set (`DeleteInstance`, `iiadm -d`); also releases an imported shadow.
    pub async fn delete_set(&self, name: &str) -> Result<()> {
        self.find_set(name).await?.delete().await
    }

    /// Imports a shadow exported by another host (`DS_IISet.importShadow`, a
    /// static method invoked on the class path; `iiadm -I`).
    pub async fn import_shadow(&self, shadow: &str, bitmap: &str) -> Result<SetHandle> {
        let class = ObjectPath::class(Some(&self.namespace), SET_CLASS);
        let r = self
            .client
            .invoke(
                &class,
                "importShadow",
                vec![
                    str_param("shadowVolume", shadow),
                    str_param("bitmapVolume", bitmap),
                ],
            )
            .await?;
        check_true(r, "importShadow", shadow)?;
        Ok(SetHandle {
            host: self.clone(),
            path: set_path(&self.namespace, shadow, SetType::Imported.as_str()),
            shadow: shadow.to_owned(),
        })
    }

    /// Suspends every set (`iiadm -s all`); stops at the first failure.
    pub async fn suspend_all(&self) -> Result<()> {
        for s in self.list_sets().await? {
            self.handle_for(&s).suspend().await?;
        }
        Ok(())
    }

    /// Resumes every set (`iiadm -r all`); stops at the first failure.
    pub async fn resume_all(&self) -> Result<()> {
        for s in self.list_sets().await? {
            self.handle_for(&s).resume().await?;
        }
        Ok(())
    }

    // ---- groups ----

    /// Creates an empty group (`CreateInstance DS_IIGroup`, `iiadm -C`).
    /// Without a type the server decides (normally from the first member).
    pub async fn create_group(
        &self,
        name: &str,
        group_type: Option<SetType>,
    ) -> Result<GroupHandle> {
        let mut inst = Instance::new(GROUP_CLASS).with(
            "groupName",
            CimType::String,
            Value::String(name.to_owned()),
        );
        if let Some(t) = group_type {
            inst.set(
                "groupType",
                CimType::String,
                Value::String(t.as_str().to_owned()),
            );
        }
        let path = self.client.create_instance(&self.namespace, inst).await?;
        Ok(GroupHandle {
            host: self.clone(),
            path: with_ns(path, &self.namespace),
            name: name.to_owned(),
        })
    }

    /// A handle on an existing group ([`Error::GroupNotFound`] otherwise).
    pub async fn find_group(&self, name: &str) -> Result<GroupHandle> {
        let path = group_path(&self.namespace, name);
        self.client
            .get_instance(&path)
            .await
            .map_err(|e| name_not_found(e, || Error::GroupNotFound(name.to_owned())))?;
        Ok(GroupHandle {
            host: self.clone(),
            path,
            name: name.to_owned(),
        })
    }

    /// A handle on a group without checking that it exists (no I/O).
    pub fn group(&self, name: &str) -> GroupHandle {
        GroupHandle {
            host: self.clone(),
            path: group_path(&self.namespace, name),
            name: name.to_owned(),
        }
    }

    /// Every group with its members (members from the sets' `groupName`).
    pub async fn list_groups(&self) -> Result<Vec<GroupInfo>> {
        let groups = self
            .client
            .enumerate_instances(&self.namespace, GROUP_CLASS)
            .await?;
        let sets = self.list_sets().await?;
        Ok(groups
            .iter()
            .map(|g| {
                let name = req_str(g, "groupName");
                let members = sets
                    .iter()
                    .filter(|s| s.group.as_deref() == Some(name.as_str()))
                    .map(|s| s.shadow.clone())
                    .collect();
                GroupInfo {
                    path: group_path(&self.namespace, &name),
                    group_type: req_str(g, "groupType"),
                    members,
                    name,
                }
            })
            .collect())
    }

    /// Deletes a group; its members stay enabled outside any group (`iiadm -X`).
    pub async fn delete_group(&self, name: &str) -> Result<()> {
        self.client
            .delete_instance(&group_path(&self.namespace, name))
            .await
            .map_err(|e| name_not_found(e, || Error::GroupNotFound(name.to_owned())))
    }

    // ---- overflow volumes ----

    /// Initialises an overflow volume (`CreateInstance DS_IIOverflowVol`, `iiadm -O`).
    pub async fn create_overflow(&self, path: &str) -> Result<OverflowInfo> {
        let inst = Instance::new(OVERFLOW_CLASS).with(
            "overflowVolPath",
            CimType::String,
            Value::String(path.to_owned()),
        );
        self.client.create_instance(&self.namespace, inst).await?;
        self.overflow(path).await
    }

    /// One overflow volume (`GetInstance`, `iiadm -Q`).
    pub async fn overflow(&self, path: &str) -> Result<OverflowInfo> {
        let i = self
            .client
            .get_instance(&overflow_path(&self.namespace, path))
            .await
            .map_err(|e| name_not_found(e, || Error::OverflowNotFound(path.to_owned())))?;
        Ok(OverflowInfo::from_instance(&i, &self.namespace))
    }

    /// The sets attached to an overflow volume (`DS_IIOverflowVol.getIISets`).
    pub async fn overflow_sets(&self, path: &str) -> Result<Vec<SetHandle>> {
        let r = self
            .client
            .invoke(
                &overflow_path(&self.namespace, path),
                "getIISets",
                Vec::new(),
            )
            .await
            .map_err(|e| name_not_found(e, || Error::OverflowNotFound(path.to_owned())))?;
        Ok(self.handles_from_refs(&r))
    }

    /// Handles from the `sets` reference-array output parameter of `getIISets`.
    fn handles_from_refs(&self, r: &MethodResult) -> Vec<SetHandle> {
        let refs = r
            .out_params
            .iter()
            .find(|p| p.name.is("sets"))
            .map(|p| p.value.clone())
            .unwrap_or(Value::Null);
        let items: Vec<Value> = match refs {
            Value::Array(v) => v,
            Value::Null => Vec::new(),
            one => vec![one],
        };
        items
            .into_iter()
            .filter_map(|v| match v {
                Value::Reference(p) => Some(p),
                _ => None,
            })
            .map(|p| SetHandle {
                shadow: p.key_str("shadowVolume").unwrap_or_default().to_owned(),
                path: with_ns(p, &self.namespace),
                host: self.clone(),
            })
            .collect()
    }

    /// Every overflow volume (`iiadm -L`).
    pub async fn list_overflows(&self) -> Result<Vec<OverflowInfo>> {
        let v = self
            .client
            .enumerate_instances(&self.namespace, OVERFLOW_CLASS)
            .await?;
        Ok(v.iter()
            .map(|i| OverflowInfo::from_instance(i, &self.namespace))
            .collect())
    }

    /// Deletes an overflow volume (`iiadm -Z`).
    pub async fn delete_overflow(&self, path: &str) -> Result<()> {
        self.client
            .delete_instance(&overflow_path(&self.namespace, path))
            .await
            .map_err(|e| name_not_found(e, || Error::OverflowNotFound(path.to_owned())))
    }

    // ---- volumes ----

    /// Every volume the server may use (`DS_Volume`).
    pub async fn list_volumes(&self) -> Result<Vec<VolumeInfo>> {
        let v = self
            .client
            .enumerate_instances(&self.namespace, VOLUME_CLASS)
            .await?;
        Ok(v.iter()
            .map(|i| VolumeInfo {
                path: req_str(i, "path"),
                capacity: num_u64(i, "capacity"),
                used_by: req_str(i, "usedBy"),
                nbd_uris: match i.get("nbdURIs") {
                    Some(Value::Array(a)) => a
                        .iter()
                        .filter_map(|v| match v {
                            Value::String(s) => Some(s.clone()),
                            _ => None,
                        })
                        .collect(),
                    _ => Vec::new(),
                },
                nbd_access: match i.get("nbdAccess") {
                    Some(Value::String(s)) => s.clone(),
                    _ => String::new(),
                },
            })
            .collect())
    }
}

/// Picks the set named `name` (shadow path first, then set name).
fn pick_set(sets: Vec<SetInfo>, name: &str) -> Result<SetInfo> {
    if let Some(s) = sets.iter().find(|s| s.shadow == name) {
        return Ok(s.clone());
    }
    let mut named: Vec<SetInfo> = sets.into_iter().filter(|s| s.name == name).collect();
    match named.len() {
        0 => Err(Error::SetNotFound(name.to_owned())),
        1 => Ok(named.remove(0)),
        // Never act on one of several sets at random: ask for the shadow path.
        _ => Err(Error::Cim(cim::CimError::failed(format!(
            "set name {name:?} is shared by {} sets ({}): name the set by its shadow volume",
            named.len(),
            named
                .iter()
                .map(|s| s.shadow.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )))),
    }
}

/// A handle on one set. Cheap to clone; holds no state beyond the path.
#[derive(Debug, Clone)]
pub struct SetHandle {
    host: IiHost,
    path: ObjectPath,
    shadow: String,
}

impl SetHandle {
    /// The set's instance path.
    pub fn path(&self) -> &ObjectPath {
        &self.path
    }

    /// The shadow volume path (the set's identity).
    pub fn shadow(&self) -> &str {
        &self.shadow
    }

    /// The host this set lives on.
    pub fn host(&self) -> &IiHost {
        &self.host
    }

    async fn invoke(&self, method: &str, params: Vec<ParamValue>) -> Result<MethodResult> {
        // A NOT_FOUND here may be about a parameter (an overflow volume, a
        // bitmap), so the server's own description is kept.
        self.host.client.invoke(&self.path, method, params).await
    }

    async fn invoke_bool(&self, method: &str, params: Vec<ParamValue>) -> Result<()> {
        let r = self.invoke(method, params).await?;
        check_true(r, method, &self.shadow)
    }

    async fn invoke_f32(&self, method: &str) -> Result<f32> {
        let r = self.invoke(method, Vec::new()).await?;
        r.return_value
            .as_f64()
            .map(|v| v as f32)
            .ok_or_else(|| Error::Protocol {
                operation: method.to_owned(),
                reason: format!("expected a real32, got {:?}", r.return_value),
            })
    }

    async fn invoke_string(&self, method: &str) -> Result<String> {
        let r = self.invoke(method, Vec::new()).await?;
        match r.return_value {
            Value::String(s) => Ok(s),
            Value::Null => Ok(String::new()),
            v => Err(Error::Protocol {
                operation: method.to_owned(),
                reason: format!("expected a string, got {v:?}"),
            }),
        }
    }

    /// The current state (`GetInstance`).
    pub async fn info(&self) -> Result<SetInfo> {
        let i = self
            .host
            .client
            .get_instance(&self.path)
            .await
            .map_err(|e| name_not_found(e, || Error::SetNotFound(self.shadow.clone())))?;
        SetInfo::from_instance(&i, &self.host.namespace)
    }

    /// `getName()`.
    pub async fn name(&self) -> Result<String> {
        self.invoke_string("getName").await
    }

    /// `getType()`.
    pub async fn set_type(&self) -> Result<String> {
        self.invoke_string("getType").await
    }

    /// `getMasterVolume()`.
    pub async fn master_volume(&self) -> Result<String> {
        self.invoke_string("getMasterVolume").await
    }

    /// `getShadowVolume()`.
    pub async fn shadow_volume(&self) -> Result<String> {
        self.invoke_string("getShadowVolume").await
    }

    /// `getBitmapVolume()`.
    pub async fn bitmap_volume(&self) -> Result<String> {
        self.invoke_string("getBitmapVolume").await
    }

    /// `getOverflowVolume()` (empty when none).
    pub async fn overflow_volume(&self) -> Result<String> {
        self.invoke_string("getOverflowVolume").await
    }

    /// `getPercentCompleted()`.
    pub async fn percent_completed(&self) -> Result<f32> {
        self.invoke_f32("getPercentCompleted").await
    }

    /// `getPercentSynchronized()`.
    pub async fn percent_synchronized(&self) -> Result<f32> {
        self.invoke_f32("getPercentSynchronized").await
    }

    /// Starts a full copy (`copyMasterToShadow` / `copyShadowToMaster`, `iiadm -c`).
    pub async fn copy(&self, dir: Direction) -> Result<()> {
        self.invoke_bool(dir.copy_method(), Vec::new()).await
    }

    /// Starts an update of the changed chunks (`update*`, `iiadm -u`).
    pub async fn update(&self, dir: Direction) -> Result<()> {
        self.invoke_bool(dir.update_method(), Vec::new()).await
    }

    /// `abort()` (`iiadm -a`).
    pub async fn abort(&self) -> Result<()> {
        self.invoke_bool("abort", Vec::new()).await
    }

    /// `suspend()` (`iiadm -s`).
    pub async fn suspend(&self) -> Result<()> {
        self.invoke_bool("suspend", Vec::new()).await
    }

    /// `resume()` (`iiadm -r`).
    pub async fn resume(&self) -> Result<()> {
        self.invoke_bool("resume", Vec::new()).await
    }

    /// `reset()` (`iiadm -R`).
    pub async fn reset(&self) -> Result<()> {
        self.invoke_bool("reset", Vec::new()).await
    }

    /// `waitForCompletion(timeout)` (`None` = no limit, `iiadm -w`). The HTTP
    /// request has no client-side time limit beyond `timeout` plus a minute.
    pub async fn wait(&self, timeout: Option<Duration>) -> Result<()> {
        let secs = timeout
            .map(|t| t.as_secs().clamp(1, u32::MAX as u64) as u32)
            .unwrap_or(0);
        let http_limit = timeout.map(|t| t + Duration::from_secs(60));
        let r = self
            .host
            .client
            .invoke_with_timeout(
                &self.path,
                "waitForCompletion",
                vec![u32_param("timeoutSeconds", secs)],
                http_limit,
            )
            .await?;
        check_true(r, "waitForCompletion", &self.shadow)
    }

    /// Waits for the running copy or update, calling `progress` with
    /// `percentCompleted` every `interval` and once with the final value.
    pub async fn wait_with_progress(
        &self,
        interval: Duration,
        mut progress: impl FnMut(f32) + Send,
    ) -> Result<()> {
        let wait = self.wait(None);
        tokio::pin!(wait);
        let mut tick = tokio::time::interval(interval);
        loop {
            tokio::select! {
                r = &mut wait => {
                    r?;
                    let last = self.percent_completed().await.unwrap_or(100.0);
                    progress(last);
                    return Ok(());
                }
                _ = tick.tick() => {
                    // A failed poll is not fatal: the wait itself reports errors.
                    if let Ok(p) = self.percent_completed().await {
                        progress(p);
                    }
                }
            }
        }
    }

    /// `exportVolume()` (`iiadm -E`): the shadow may then be imported elsewhere.
    pub async fn export(&self) -> Result<()> {
        self.invoke_bool("exportVolume", Vec::new()).await
    }

    /// `joinVolume(bitmap)` (`iiadm -J`): takes an exported shadow back,
    /// merging the changes recorded in `bitmap` on the other host (`""`: none).
    pub async fn join(&self, bitmap: &str) -> Result<()> {
        self.invoke_bool("joinVolume", vec![str_param("BitmapVol", bitmap)])
            .await
    }

    /// `attachIIOverflowVolume(ovol)` (`iiadm -A`).
    pub async fn attach_overflow(&self, overflow: &str) -> Result<()> {
        self.invoke_bool(
            "attachIIOverflowVolume",
            vec![str_param("overflowVol", overflow)],
        )
        .await
    }

    /// `detachOverflowVolume()` (`iiadm -D`).
    pub async fn detach_overflow(&self) -> Result<()> {
        self.invoke_bool("detachOverflowVolume", Vec::new()).await
    }

    /// `setCopyParameters(delay, units)` (`iiadm -P DELAY UNITS SET`).
    pub async fn set_copy_parameters(&self, params: CopyParams) -> Result<()> {
        self.invoke_bool(
            "setCopyParameters",
            vec![
                u32_param("delay", params.delay),
                u32_param("units", params.units),
            ],
        )
        .await
    }

    /// The current copy parameters (`iiadm -P SET`).
    pub async fn copy_parameters(&self) -> Result<CopyParams> {
        let i = self.info().await?;
        Ok(CopyParams {
            delay: i.copy_delay,
            units: i.copy_units,
        })
    }

    /// `setName(name)`: renames the set (its identity, the shadow, stays).
    pub async fn rename(&self, name: &str) -> Result<()> {
        let r = self
            .invoke("setName", vec![str_param("name", name)])
            .await?;
        // setName returns the new name (string) on our server; accept true too.
        match r.return_value {
            Value::String(_) | Value::Boolean(true) | Value::Null => Ok(()),
            v => Err(Error::Cim(CimError::failed(format!(
                "setName on {} returned {v:?}",
                self.shadow
            )))),
        }
    }

    /// Changes the writable properties with `ModifyInstance` (interface.md
    /// §4: `setName`, `copyUnits`, `copyDelay`); `None` fields stay as they are.
    pub async fn modify(&self, name: Option<&str>, params: Option<CopyParams>) -> Result<()> {
        let mut inst = Instance::new(SET_CLASS);
        // The keys go along so servers that compare them with the path are satisfied.
        for k in &self.path.keys {
            if let Value::String(v) = &k.value {
                inst.set(k.name.as_str(), CimType::String, Value::String(v.clone()));
            }
        }
        let mut list = Vec::new();
        if let Some(n) = name {
            inst.set("setName", CimType::String, Value::String(n.to_owned()));
            list.push("setName".into());
        }
        if let Some(p) = params {
            inst.set("copyDelay", CimType::Uint32, Value::Uint32(p.delay));
            inst.set("copyUnits", CimType::Uint32, Value::Uint32(p.units));
            list.push("copyDelay".into());
            list.push("copyUnits".into());
        }
        if list.is_empty() {
            return Ok(());
        }
        inst.path = Some(self.path.clone());
        self.host
            .client
            .modify_instance(inst, Some(list))
            .await
            .map_err(|e| name_not_found(e, || Error::SetNotFound(self.shadow.clone())))
    }

    /// The set's group, if any.
    pub async fn group(&self) -> Result<Option<GroupHandle>> {
        Ok(self.info().await?.group.map(|g| self.host.group(&g)))
    }

    /// Disables the set (`DeleteInstance`).
    pub async fn delete(&self) -> Result<()> {
        self.host
            .client
            .delete_instance(&self.path)
            .await
            .map_err(|e| name_not_found(e, || Error::SetNotFound(self.shadow.clone())))?;
        tracing::info!(shadow = %self.shadow, "set disabled");
        Ok(())
    }
}

/// A handle on one group.
#[derive(Debug, Clone)]
pub struct GroupHandle {
    host: IiHost,
    path: ObjectPath,
    name: String,
}

impl GroupHandle {
    /// The group's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The group's instance path.
    pub fn path(&self) -> &ObjectPath {
        &self.path
    }

    async fn invoke(&self, method: &str, params: Vec<ParamValue>) -> Result<MethodResult> {
        // NOT_FOUND may name a member set rather than the group: keep the server's text.
        self.host.client.invoke(&self.path, method, params).await
    }

    async fn invoke_bool(&self, method: &str, params: Vec<ParamValue>) -> Result<()> {
        let r = self.invoke(method, params).await?;
        check_true(r, method, &format!("group {}", self.name))
    }

    /// The group with its members.
    pub async fn info(&self) -> Result<GroupInfo> {
        let i = self
            .host
            .client
            .get_instance(&self.path)
            .await
            .map_err(|e| name_not_found(e, || Error::GroupNotFound(self.name.clone())))?;
        let members = self
            .members()
            .await?
            .iter()
            .map(|s| s.shadow.clone())
            .collect();
        Ok(GroupInfo {
            name: self.name.clone(),
            group_type: req_str(&i, "groupType"),
            members,
            path: self.path.clone(),
        })
    }

    /// `getIISets()`: handles on the member sets.
    pub async fn members(&self) -> Result<Vec<SetHandle>> {
        let r = self.invoke("getIISets", Vec::new()).await?;
        Ok(self.host.handles_from_refs(&r))
    }

    /// `addIISet(set)` (`iiadm -M SET GROUP`, `-g GROUP -m SET`).
    pub async fn add(&self, set: &SetHandle) -> Result<()> {
        self.invoke_bool("addIISet", vec![ref_param("set", &set.path)])
            .await
    }

    /// `removeIISet(set)` (`iiadm -B SET`).
    pub async fn remove(&self, set: &SetHandle) -> Result<()> {
        self.invoke_bool("removeIISet", vec![ref_param("set", &set.path)])
            .await
    }

    /// `isSetInGroup(set)`.
    pub async fn contains(&self, set: &SetHandle) -> Result<bool> {
        let r = self
            .invoke("isSetInGroup", vec![ref_param("set", &set.path)])
            .await?;
        returned_bool(&r.return_value).ok_or_else(|| Error::Protocol {
            operation: "isSetInGroup".to_owned(),
            reason: format!("expected a boolean, got {:?}", r.return_value),
        })
    }

    /// `getName()` as the server reports it.
    pub async fn fetch_name(&self) -> Result<String> {
        let r = self.invoke("getName", Vec::new()).await?;
        Ok(r.return_value.as_str().unwrap_or_default().to_owned())
    }

    /// `getGroupType()`.
    pub async fn group_type(&self) -> Result<String> {
        let r = self.invoke("getGroupType", Vec::new()).await?;
        Ok(r.return_value.as_str().unwrap_or_default().to_owned())
    }

    /// Atomic group copy (`iiadm -g G -c s|m`).
    pub async fn copy(&self, dir: Direction) -> Result<()> {
        self.invoke_bool(dir.copy_method(), Vec::new()).await
    }

    /// Atomic group update (`iiadm -g G -u s|m`).
    pub async fn update(&self, dir: Direction) -> Result<()> {
        self.invoke_bool(dir.update_method(), Vec::new()).await
    }

    /// `getPercentCompleted()` over the group.
    pub async fn percent_completed(&self) -> Result<f32> {
        let r = self.invoke("getPercentCompleted", Vec::new()).await?;
        Ok(r.return_value.as_f64().unwrap_or(0.0) as f32)
    }

    /// `abort()` on every member.
    pub async fn abort(&self) -> Result<()> {
        self.invoke_bool("abort", Vec::new()).await
    }

    /// `suspend()` on every member.
    pub async fn suspend(&self) -> Result<()> {
        self.invoke_bool("suspend", Vec::new()).await
    }

    /// `resume()` on every member.
    pub async fn resume(&self) -> Result<()> {
        self.invoke_bool("resume", Vec::new()).await
    }

    /// `lock()`.
    pub async fn lock(&self) -> Result<()> {
        self.invoke_bool("lock", Vec::new()).await
    }

    /// `unlock()`.
    pub async fn unlock(&self) -> Result<()> {
        self.invoke_bool("unlock", Vec::new()).await
    }

    /// `rename(newName)` (`iiadm -N`); this handle follows the new name.
    pub async fn rename(&mut self, new_name: &str) -> Result<()> {
        self.invoke_bool("rename", vec![str_param("newName", new_name)])
            .await?;
        self.name = new_name.to_owned();
        self.path = group_path(&self.host.namespace, new_name);
        Ok(())
    }

    /// Waits for every member's copy or update (`iiadm -g G -w`).
    pub async fn wait(&self, timeout: Option<Duration>) -> Result<()> {
        for s in self.members().await? {
            s.wait(timeout).await?;
        }
        Ok(())
    }

    /// Waits for every member, reporting the group's `getPercentCompleted` every `interval`.
    pub async fn wait_with_progress(
        &self,
        interval: Duration,
        mut progress: impl FnMut(f32) + Send,
    ) -> Result<()> {
        let wait = self.wait(None);
        tokio::pin!(wait);
        let mut tick = tokio::time::interval(interval);
        loop {
            tokio::select! {
                r = &mut wait => {
                    r?;
                    progress(self.percent_completed().await.unwrap_or(100.0));
                    return Ok(());
                }
                _ = tick.tick() => {
                    if let Ok(p) = self.percent_completed().await {
                        progress(p);
                    }
                }
            }
        }
    }

    /// Deletes the group; members stay enabled (`iiadm -X`).
    pub async fn delete(self) -> Result<()> {
        self.host.delete_group(&self.name).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
