//! `IIOverflowVolumeProvider`: instances and the `getIISets` method of
//! `DS_IIOverflowVol`.
//!
//! CreateInstance with `overflowVolPath` initialises the volume (`iiadm -O`);
//! DeleteInstance deletes it (`iiadm -Z`), which the engine refuses while a
//! set is attached.

use crate::backend::Backend;
use crate::convert::{
    overflow_instance, overflow_path, required_string, ret_set_refs, set_path, DS_IIOVERFLOWVOL,
};
use crate::error::{Error, Result};
use async_trait::async_trait;
use cim::ops::{MethodResult, ParamValue};
use cim::{CimName, Class, Instance, ObjectPath};
use cimom_provider::{InstanceProvider, MethodProvider, ProviderContext, ProviderResult};
use std::path::PathBuf;
use tracing::Instrument;

/// The `DS_IIOverflowVol` provider.
#[derive(Clone)]
pub struct OverflowProvider {
    backend: Backend,
}

impl OverflowProvider {
    /// A provider over the shared engine handle.
    pub fn new(backend: Backend) -> Self {
        OverflowProvider { backend }
    }

    async fn create(&self, ns: &str, inst: Instance) -> Result<ObjectPath> {
        let path = required_string(&inst, "overflowVolPath")?;
        self.backend.check_volume(&path, "overflow volume").await?;
        let path = PathBuf::from(path);
        let p2 = path.clone();
        let info = self
            .backend
            .call(
                format!("initialise overflow volume {}", path.display()),
                move |e| e.init_overflow(&p2),
            )
            .await?;
        tracing::info!(overflow = %info.path.display(), "overflow volume initialised");
        Ok(overflow_path(&info.path, Some(ns)))
    }

    async fn delete(&self, path: &ObjectPath) -> Result<()> {
        let info = self.backend.overflow_for_path(path).await?;
        if info.attached_sets > 0 {
            return Err(Error::Failed(format!(
                "cannot delete overflow volume {}: {} set(s) are attached; detach them first (detachOverflowVolume)",
                info.path.display(),
                info.attached_sets
            )));
        }
        let p = info.path.clone();
        self.backend
            .call(
                format!("delete overflow volume {}", info.path.display()),
                move |e| e.delete_overflow(&p),
            )
            .await?;
        tracing::info!(overflow = %info.path.display(), "overflow volume deleted");
        Ok(())
    }

    async fn invoke(
        &self,
        ns: &str,
        target: &ObjectPath,
        method: &CimName,
    ) -> Result<MethodResult> {
        if !method.is("getIISets") {
            return Err(Error::NotSupported(format!(
                "{DS_IIOVERFLOWVOL} has no method {method}"
            )));
        }
        let info = self.backend.overflow_for_path(target).await?;
        let sets = self.backend.query(|e| e.sets()).await?;
        let refs = sets
            .iter()
            .filter(|s| s.overflow.as_deref() == Some(info.path.as_path()))
            .map(|s| set_path(s, Some(ns)))
            .collect();
        Ok(ret_set_refs(refs))
    }
}

#[async_trait]
impl InstanceProvider for OverflowProvider {
    async fn enumerate_instances(
        &self,
        ctx: &ProviderContext,
        _class: &Class,
    ) -> ProviderResult<Vec<Instance>> {
        let all = self.backend.query(|e| e.overflows()).await?;
        Ok(all
            .iter()
            .map(|o| overflow_instance(o, Some(&ctx.namespace)))
            .collect())
    }

    async fn get_instance(
        &self,
        ctx: &ProviderContext,
        _class: &Class,
        path: &ObjectPath,
    ) -> ProviderResult<Instance> {
        let info = self.backend.overflow_for_path(path).await?;
        Ok(overflow_instance(&info, Some(&ctx.namespace)))
    }

    async fn create_instance(
        &self,
        ctx: &ProviderContext,
        _class: &Class,
        instance: Instance,
    ) -> ProviderResult<ObjectPath> {
        let span = tracing::info_span!("provider", class = DS_IIOVERFLOWVOL, op = "CreateInstance");
        Ok(self
            .create(&ctx.namespace, instance)
            .instrument(span)
            .await?)
    }

    async fn delete_instance(
        &self,
        _ctx: &ProviderContext,
        _class: &Class,
        path: &ObjectPath,
    ) -> ProviderResult<()> {
        let span = tracing::info_span!("provider", class = DS_IIOVERFLOWVOL, op = "DeleteInstance");
        Ok(self.delete(path).instrument(span).await?)
    }
}

#[async_trait]
impl MethodProvider for OverflowProvider {
    async fn invoke_method(
        &self,
        ctx: &ProviderContext,
        _class: &Class,
        target: &ObjectPath,
        method: &CimName,
        _params: Vec<ParamValue>,
    ) -> ProviderResult<MethodResult> {
        let span = tracing::info_span!("provider", class = DS_IIOVERFLOWVOL, method = %method);
        Ok(self
            .invoke(&ctx.namespace, target, method)
            .instrument(span)
            .await?)
    }
}
