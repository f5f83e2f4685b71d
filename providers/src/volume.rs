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
use async_trait::async_trait;
use cim::{Class, Instance, ObjectPath};
use cimom::provider::{InstanceProvider, ProviderContext, ProviderResult};
use std::path::PathBuf;

/// The `DS_Volume` provider.
#[derive(Clone)]
pub struct VolumeProvider {
    backend: Backend,
}

impl VolumeProvider {
    /// A provider over the shared engine handle.
    pub fn new(backend: Backend) -> Self {
        VolumeProvider { backend }
    }
}

#[async_trait]
impl InstanceProvider for VolumeProvider {
    async fn enumerate_instances(
        &self,
        ctx: &ProviderContext,
        _class: &Class,
    ) -> ProviderResult<Vec<Instance>> {
        let vols = self.backend.query(|e| e.volumes()).await?;
        Ok(vols
            .iter()
            .map(|v| volume_instance(v, Some(&ctx.namespace)))
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
        let vols = self.backend.query(|e| e.volumes()).await?;
        let found = vols.iter().find(|v| v.path == canonical).ok_or_else(|| {
            Error::NotFound(format!(
                "no {DS_VOLUME} {}: no regular file or block device there",
                given.display()
            ))
        })?;
        Ok(volume_instance(found, Some(&ctx.namespace)))
    }
}
