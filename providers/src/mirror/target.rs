//! `IIMirrorTargetProvider`: `DS_IIMirrorTarget`, the secondary side of a
//! mirror — a volume of this host claimed for one mirror of another host.
//!
//! * CreateInstance (`volume`, `owner`, `token`) claims the volume
//!   ([`native::Engine::claim_target`]); the token is write-only: instances
//!   always show it NULL.
//! * DeleteInstance drops the protection snapshot, if any, and releases the
//!   claim.
//! * `protect()` takes a dependent point-in-time snapshot of the volume
//!   before a resync (the primary's `protectTarget`): a `DS_IISet` whose
//!   sparse shadow and bitmap the engine makes in the reserved folder
//!   `.mirror-protect` of the volume's root ([`Engine::protect_volume`]);
//!   `unprotect()` disables that set and removes both files.

use super::convert::{target_instance, DS_IIMIRRORTARGET};
use crate::backend::Backend;
use crate::convert::{key_string, path_text, required_string, ret_true};
use crate::error::{Error, Result};
use async_trait::async_trait;
use cim::ops::{MethodResult, ParamValue};
use cim::{CimName, Class, Instance, ObjectPath};
use cimom_provider::{InstanceProvider, MethodProvider, ProviderContext, ProviderResult};
use native::mirror::{TargetClaim, TargetInfo};
use native::Engine;
use std::path::{Path, PathBuf};
use tracing::Instrument;

/// The `DS_IIMirrorTarget` provider.
#[derive(Clone)]
pub struct TargetProvider {
    backend: Backend,
}

/// The shadow of the snapshot protecting `volume`, if one is taken.
fn protection(engine: &Engine, volume: &Path) -> Option<PathBuf> {
    let (shadow, _) = engine.protect_paths(volume).ok()?;
    engine.set_info(&shadow).ok().map(|s| s.shadow)
}

impl TargetProvider {
    /// A provider over the shared engine handle.
    pub fn new(backend: Backend) -> Self {
        TargetProvider { backend }
    }

    async fn instances(&self, ns: &str) -> Result<Vec<Instance>> {
        let found = self
            .backend
            .query(move |e| {
                e.targets()
                    .into_iter()
                    .map(|t| {
                        let p = protection(e, &t.volume).map(|p| path_text(&p));
                        (t, p)
                    })
                    .collect::<Vec<_>>()
            })
            .await?;
        Ok(found
            .into_iter()
            .map(|(t, p)| target_instance(&t, p, Some(ns)))
            .collect())
    }

    /// The claim a `DS_IIMirrorTarget` path names.
    async fn target_for_path(&self, path: &ObjectPath) -> Result<TargetInfo> {
        if !path.class_name.is(DS_IIMIRRORTARGET) {
            return Err(Error::InvalidParameter(format!(
                "{path} is not a {DS_IIMIRRORTARGET} path"
            )));
        }
        let volume = key_string(path, "volume")?;
        let v = PathBuf::from(&volume);
        let (canonical, all) = self
            .backend
            .call(format!("find mirror target {volume}"), move |e| {
                Ok((e.resolve_volume(&v).ok(), e.targets()))
            })
            .await?;
        all.into_iter()
            .find(|t| Some(&t.volume) == canonical.as_ref() || path_text(&t.volume) == volume)
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "no {DS_IIMIRRORTARGET} {volume}: the volume is not claimed as a mirror target"
                ))
            })
    }

    async fn create(&self, ns: &str, inst: Instance) -> Result<ObjectPath> {
        let volume = required_string(&inst, "volume")?;
        let owner = required_string(&inst, "owner")?;
        let token = required_string(&inst, "token")?;
        if token.len() < 16 || !token.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(Error::InvalidParameter(format!(
                "cannot claim {volume}: the token must be at least 16 letters or digits"
            )));
        }
        self.backend.check_volume(&volume, "mirror target").await?;
        let v = PathBuf::from(&volume);
        let info = self
            .backend
            .call(
                format!("claim {volume} as mirror target of {owner}"),
                move |e| e.claim_target(&v, TargetClaim { owner, token }),
            )
            .await?;
        tracing::info!(volume = %info.volume.display(), owner = %info.owner, "mirror target claimed");
        Ok(super::convert::target_path(
            &path_text(&info.volume),
            Some(ns),
        ))
    }

    async fn delete(&self, path: &ObjectPath) -> Result<()> {
        let info = self.target_for_path(path).await?;
        let vol = info.volume.clone();
        self.backend
            .call(
                format!("release mirror target {}", info.volume.display()),
                move |e| {
                    e.unprotect_volume(&vol)?;
                    e.release_target(&vol)
                },
            )
            .await?;
        tracing::info!(volume = %info.volume.display(), "mirror target released");
        Ok(())
    }

    async fn invoke(&self, target: &ObjectPath, method: &CimName) -> Result<MethodResult> {
        let info = self.target_for_path(target).await?;
        let vol = info.volume.clone();
        let action = format!("{method} mirror target {}", info.volume.display());
        if method.is("protect") {
            let owner = info.owner.clone();
            self.backend
                .call(action, move |e| e.protect_volume(&vol, &owner).map(|_| ()))
                .await?;
        } else if method.is("unprotect") {
            self.backend
                .call(action, move |e| e.unprotect_volume(&vol))
                .await?;
        } else {
            return Err(Error::NotSupported(format!(
                "{DS_IIMIRRORTARGET} has no method {method}"
            )));
        }
        Ok(ret_true())
    }
}

#[async_trait]
impl InstanceProvider for TargetProvider {
    async fn enumerate_instances(
        &self,
        ctx: &ProviderContext,
        _class: &Class,
    ) -> ProviderResult<Vec<Instance>> {
        let span = tracing::debug_span!(
            "provider",
            class = DS_IIMIRRORTARGET,
            op = "EnumerateInstances"
        );
        Ok(self.instances(&ctx.namespace).instrument(span).await?)
    }

    async fn get_instance(
        &self,
        ctx: &ProviderContext,
        _class: &Class,
        path: &ObjectPath,
    ) -> ProviderResult<Instance> {
        let info = self.target_for_path(path).await?;
        let all = self.instances(&ctx.namespace).await?;
        let vol = path_text(&info.volume);
        all.into_iter()
            .find(|i| i.get_str("volume") == Some(vol.as_str()))
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "no {DS_IIMIRRORTARGET} {vol}: it was just released"
                ))
                .into()
            })
    }

    async fn create_instance(
        &self,
        ctx: &ProviderContext,
        _class: &Class,
        instance: Instance,
    ) -> ProviderResult<ObjectPath> {
        let span =
            tracing::info_span!("provider", class = DS_IIMIRRORTARGET, op = "CreateInstance");
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
        let span =
            tracing::info_span!("provider", class = DS_IIMIRRORTARGET, op = "DeleteInstance");
        Ok(self.delete(path).instrument(span).await?)
    }
}

#[async_trait]
impl MethodProvider for TargetProvider {
    async fn invoke_method(
        &self,
        _ctx: &ProviderContext,
        _class: &Class,
        target: &ObjectPath,
        method: &CimName,
        _params: Vec<ParamValue>,
    ) -> ProviderResult<MethodResult> {
        let span = tracing::info_span!("provider", class = DS_IIMIRRORTARGET, method = %method);
        Ok(self.invoke(target, method).instrument(span).await?)
    }
}
