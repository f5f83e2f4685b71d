//! `SVVolumeProvider`: `DS_Volume`, the storage-volume layer — every regular
//! file and block device under a `--volume-root`, with its capacity and use.
//!
//! GetInstance of a path outside every root (directly, through `..`, or
//! through a symlink that leaves the roots) is `CIM_ERR_ACCESS_DENIED`: the
//! engine canonicalises and checks the path without opening anything.
//! Volumes are files the administrator creates; CreateInstance and
//! DeleteInstance are not supported.

use crate::backend::Backend;
use crate::convert::{key_string, volume_instance, DS_VOLUME};
use crate::error::Error;
use crate::nbd_reach::NbdReach;
use async_trait::async_trait;
use cim::{CimType, Class, Instance, ObjectPath, Value};
use cimom_provider::{InstanceProvider, ProviderContext, ProviderResult};
use native::{ExportSource, VolumeInfo};
use std::path::PathBuf;

/// The `DS_Volume` provider.
#[derive(Clone)]
pub struct VolumeProvider {
    backend: Backend,
    nbd: NbdReach,
}

impl VolumeProvider {
    /// A provider over the shared engine handle (NBD reach: none).
    pub fn new(backend: Backend) -> Self {
        VolumeProvider {
            backend,
            nbd: NbdReach::default(),
        }
    }

    /// Reports `nbdURIs` and `nbdAccess` for the volumes the NBD server exports.
    pub fn with_nbd(mut self, reach: NbdReach) -> Self {
        self.nbd = reach;
        self
    }

    /// Adds how the volume is reachable: URIs when the NBD server exports it.
    fn with_reach(&self, mut inst: Instance, info: &VolumeInfo, exported: &[String]) -> Instance {
        let name = info.path.to_string_lossy();
        let uris = if exported.iter().any(|e| *e == name) {
            self.nbd.uris(&name)
        } else {
            Vec::new()
        };
        let access = if uris.is_empty() {
            String::new()
        } else {
            self.nbd.access()
        };
        inst = inst
            .with(
                "nbdURIs",
                CimType::String,
                Value::Array(uris.into_iter().map(Value::String).collect()),
            )
            .with("nbdAccess", CimType::String, Value::String(access));
        inst
    }
}

#[async_trait]
impl InstanceProvider for VolumeProvider {
    async fn enumerate_instances(
        &self,
        ctx: &ProviderContext,
        _class: &Class,
    ) -> ProviderResult<Vec<Instance>> {
        let (vols, exported) = self
            .backend
            .query(|e| (e.volumes(), e.export_names()))
            .await?;
        Ok(vols
            .iter()
            .map(|v| self.with_reach(volume_instance(v, Some(&ctx.namespace)), v, &exported))
            .collect())
    }

    async fn get_instance(
        &self,
        ctx: &ProviderContext,
        _class: &Class,
        path: &ObjectPath,
    ) -> ProviderResult<Instance> {
        let given = key_string(path, "path")?;
        self.backend.check_volume(&given, "volume").await?;
        let given = PathBuf::from(given);
        let g2 = given.clone();
        let canonical = self
            .backend
            .call(format!("look up volume {}", given.display()), move |e| {
                e.resolve_volume(&g2)
            })
            .await?;
        let (vols, exported) = self
            .backend
            .query(|e| (e.volumes(), e.export_names()))
            .await?;
        let found = vols.iter().find(|v| v.path == canonical).ok_or_else(|| {
            Error::NotFound(format!(
                "no {DS_VOLUME} {}: no regular file or block device there",
                given.display()
            ))
        })?;
        Ok(self.with_reach(
            volume_instance(found, Some(&ctx.namespace)),
            found,
            &exported,
        ))
    }
}
