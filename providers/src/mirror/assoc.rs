//! `IIMirrorAssociationProvider`: the mirror associations, derived from the
//! engine's mirrors and claims (nothing stored):
//!
//! | class | roles |
//! |---|---|
//! | `DS_IIMirrorPrimaryVolume` | `mirror` → `DS_IIMirror`, `primary` → `DS_Volume` |
//! | `DS_IIMirrorScoreboardVolume` | `mirror` → `DS_IIMirror`, `scoreboard` → `DS_Volume` |
//! | `DS_IIMirrorSecondaryVolume` | `mirror` → `DS_IIMirror`, `secondary` → `DS_Volume` (local secondaries only) |
//! | `DS_IIMirrorTargetVolume` | `target` → `DS_IIMirrorTarget`, `volume` → `DS_Volume` |
//! | `DS_IIMirrorGroupMember` | `group` → `DS_IIMirrorGroup`, `member` → `DS_IIMirror` |
//!
//! References compare the object a client names by canonical key; a volume
//! path is canonicalised through the engine first, as `DS_Volume` keys are.

use super::convert::{
    mirror_group_path, mirror_groups, mirror_path, target_path, DS_IIMIRROR, DS_IIMIRRORGROUP,
    DS_IIMIRRORTARGET,
};
use crate::assoc::{assoc, identity};
use crate::backend::Backend;
use crate::convert::{path_text, volume_path, DS_VOLUME};
use crate::error::{Error, Result};
use async_trait::async_trait;
use cim::{CimName, Class, Instance, ObjectPath};
use cimom_provider::{AssociationProvider, InstanceProvider, ProviderContext, ProviderResult};
use native::mirror::Secondary;
use std::path::PathBuf;

/// `DS_IIMirrorPrimaryVolume`.
pub const DS_IIMIRRORPRIMARYVOLUME: &str = "DS_IIMirrorPrimaryVolume";
/// `DS_IIMirrorScoreboardVolume`.
pub const DS_IIMIRRORSCOREBOARDVOLUME: &str = "DS_IIMirrorScoreboardVolume";
/// `DS_IIMirrorSecondaryVolume`.
pub const DS_IIMIRRORSECONDARYVOLUME: &str = "DS_IIMirrorSecondaryVolume";
/// `DS_IIMirrorTargetVolume`.
pub const DS_IIMIRRORTARGETVOLUME: &str = "DS_IIMirrorTargetVolume";
/// `DS_IIMirrorGroupMember`.
pub const DS_IIMIRRORGROUPMEMBER: &str = "DS_IIMirrorGroupMember";

/// The mirror association provider.
#[derive(Clone)]
pub struct MirrorAssocProvider {
    backend: Backend,
}

impl MirrorAssocProvider {
    /// A provider over the shared engine handle.
    pub fn new(backend: Backend) -> Self {
        MirrorAssocProvider { backend }
    }

    async fn instances(&self, ns: &str, class: &CimName) -> Result<Vec<Instance>> {
        let ns = Some(ns);
        let vol = |p: &PathBuf| volume_path(p, ns);
        if class.is(DS_IIMIRRORTARGETVOLUME) {
            let targets = self.backend.query(|e| e.targets()).await?;
            return Ok(targets
                .iter()
                .map(|t| {
                    assoc(
                        DS_IIMIRRORTARGETVOLUME,
                        (
                            "target",
                            DS_IIMIRRORTARGET,
                            target_path(&path_text(&t.volume), ns),
                        ),
                        ("volume", DS_VOLUME, vol(&t.volume)),
                    )
                })
                .collect());
        }
        let mirrors = self.backend.query(|e| e.mirrors()).await?;
        let mirror = |m| ("mirror", DS_IIMIRROR, mirror_path(m, ns));
        let out = if class.is(DS_IIMIRRORPRIMARYVOLUME) {
            mirrors
                .iter()
                .map(|m| {
                    assoc(
                        DS_IIMIRRORPRIMARYVOLUME,
                        mirror(m),
                        ("primary", DS_VOLUME, vol(&m.primary)),
                    )
                })
                .collect()
        } else if class.is(DS_IIMIRRORSCOREBOARDVOLUME) {
            mirrors
                .iter()
                .map(|m| {
                    assoc(
                        DS_IIMIRRORSCOREBOARDVOLUME,
                        mirror(m),
                        ("scoreboard", DS_VOLUME, vol(&m.scoreboard)),
                    )
                })
                .collect()
        } else if class.is(DS_IIMIRRORSECONDARYVOLUME) {
            mirrors
                .iter()
                .filter_map(|m| match &m.secondary {
                    Secondary::Local(p) => Some(assoc(
                        DS_IIMIRRORSECONDARYVOLUME,
                        mirror(m),
                        ("secondary", DS_VOLUME, vol(p)),
                    )),
                    Secondary::Remote { .. } => None,
                })
                .collect()
        } else if class.is(DS_IIMIRRORGROUPMEMBER) {
            mirror_groups(&mirrors)
                .iter()
                .flat_map(|(g, members)| {
                    members.iter().map(move |m| {
                        assoc(
                            DS_IIMIRRORGROUPMEMBER,
                            ("group", DS_IIMIRRORGROUP, mirror_group_path(g, ns)),
                            ("member", DS_IIMIRROR, mirror_path(m, ns)),
                        )
                    })
                })
                .collect()
        } else {
            return Err(Error::NotSupported(format!(
                "IIMirrorAssociationProvider does not serve class {class}"
            )));
        };
        Ok(out)
    }

    /// The identity a client's object name has in our instances: volume
    /// paths canonicalised, everything else as given.
    async fn normalise(&self, object: &ObjectPath) -> Result<String> {
        if object.class_name.is(DS_VOLUME) {
            if let Some(p) = object.key_str("path") {
                let p = PathBuf::from(p);
                let canonical = self
                    .backend
                    .query(move |e| e.resolve_volume(&p).ok())
                    .await?;
                if let Some(c) = canonical {
                    return Ok(identity(&volume_path(&c, None)));
                }
            }
        }
        Ok(identity(object))
    }
}

#[async_trait]
impl InstanceProvider for MirrorAssocProvider {
    async fn enumerate_instances(
        &self,
        ctx: &ProviderContext,
        class: &Class,
    ) -> ProviderResult<Vec<Instance>> {
        Ok(self.instances(&ctx.namespace, &class.name).await?)
    }

    async fn get_instance(
        &self,
        ctx: &ProviderContext,
        class: &Class,
        path: &ObjectPath,
    ) -> ProviderResult<Instance> {
        let want = identity(path);
        let all = self.instances(&ctx.namespace, &class.name).await?;
        all.into_iter()
            .find(|i| i.path.as_ref().is_some_and(|p| identity(p) == want))
            .ok_or_else(|| Error::NotFound(format!("no {} instance {path}", class.name)).into())
    }
}

#[async_trait]
impl AssociationProvider for MirrorAssocProvider {
    async fn references(
        &self,
        ctx: &ProviderContext,
        assoc_class: &Class,
        object_name: &ObjectPath,
        role: Option<&str>,
    ) -> ProviderResult<Vec<Instance>> {
        let want = self.normalise(object_name).await?;
        let all = self.instances(&ctx.namespace, &assoc_class.name).await?;
        Ok(all
            .into_iter()
            .filter(|i| {
                i.properties.iter().any(|p| {
                    role.is_none_or(|r| p.name.is(r))
                        && p.value.as_reference().is_some_and(|r| identity(r) == want)
                })
            })
            .collect())
    }
}
