//! [`IiHost`]: the facade over one host's namespace — create, find, list and
//! delete sets, groups and overflow volumes, list volumes, import a shadow,
//! suspend and resume everything.

use super::call::{
    check_true, group_path, name_not_found, overflow_path, set_path, str_param, with_ns,
};
use super::group::GroupHandle;
use super::model::{
    num_u64, req_str, CopyParams, GroupInfo, OverflowInfo, SetInfo, SetSpec, SetType, VolumeInfo,
    GROUP_CLASS, OVERFLOW_CLASS, SET_CLASS, VOLUME_CLASS,
};
use super::set::SetHandle;
use crate::conn::Client;
use crate::error::{Error, Result};
use cim::ops::MethodResult;
use cim::{CimType, Instance, ObjectPath, Value};

/// The Instant Image facade over one host (cheap to clone).
#[derive(Debug, Clone)]
pub struct IiHost {
    pub(super) client: Client,
    pub(super) namespace: String,
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

    pub(super) async fn enable(&self, spec: &SetSpec, inst: Instance) -> Result<SetHandle> {
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
    pub(super) fn handles_from_refs(&self, r: &MethodResult) -> Vec<SetHandle> {
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
pub(super) fn pick_set(sets: Vec<SetInfo>, name: &str) -> Result<SetInfo> {
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
