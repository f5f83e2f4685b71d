//! `IIAssociationProvider`: the association classes `DS_IIGroupSetAssoc`
//! (roles `groups` → `DS_IIGroup`, `groupedby` → `DS_IISet`) and
//! `DS_IISetOverflowVolAssoc` (roles `owns` → `DS_IISet`, `ownedby` →
//! `DS_IIOverflowVol`).
//!
//! Association instances are derived from the sets' group and overflow
//! fields; nothing is stored. The object manager builds Associators,
//! References and their name and pull forms from
//! [`AssociationProvider::references`].
//!
//! A client may name an object with a key spelt differently from ours (a
//! shadow path that is not canonical, a missing `setType`), so the object name
//! is first resolved through the engine and re-built, then compared by
//! canonical key.

use crate::backend::Backend;
use crate::convert::{
    group_path, overflow_path, set_path, DS_IIGROUP, DS_IIGROUPSETASSOC, DS_IIOVERFLOWVOL,
    DS_IISET, DS_IISETOVERFLOWVOLASSOC,
};
use crate::error::{Error, Result};
use async_trait::async_trait;
use cim::{CimName, CimType, Class, Instance, ObjectPath, StatusCode, Value};
use cimom_provider::{AssociationProvider, InstanceProvider, ProviderContext, ProviderResult};
use tracing::Instrument;

/// The association provider.
#[derive(Clone)]
pub struct AssocProvider {
    backend: Backend,
}

/// One association instance with two reference keys.
pub(crate) fn assoc(
    class: &str,
    (r1, c1, p1): (&str, &str, ObjectPath),
    (r2, c2, p2): (&str, &str, ObjectPath),
) -> Instance {
    let ref_ty = |c: &str| CimType::Reference(Some(CimName::new(c)));
    let mut i = Instance::new(class)
        .with(r1, ref_ty(c1), Value::Reference(p1.clone()))
        .with(r2, ref_ty(c2), Value::Reference(p2.clone()));
    i.path = Some(
        ObjectPath::class(None, class)
            .with_key(r1, Value::Reference(p1))
            .with_key(r2, Value::Reference(p2)),
    );
    i
}

/// A reference's identity: class and keys, without namespace or host, with
/// nested references stripped the same way.
pub(crate) fn identity(p: &ObjectPath) -> String {
    let mut p = p.local();
    for k in &mut p.keys {
        if let Value::Reference(r) = &k.value {
            k.value = Value::Reference(r.local());
        }
    }
    p.canonical_key()
}

impl AssocProvider {
    /// A provider over the shared engine handle.
    pub fn new(backend: Backend) -> Self {
        AssocProvider { backend }
    }

    /// Every instance of `class` (one of the two association classes).
    async fn instances(&self, ns: &str, class: &CimName) -> Result<Vec<Instance>> {
        let sets = self.backend.query(|e| e.sets()).await?;
        let ns = Some(ns);
        if class.is(DS_IIGROUPSETASSOC) {
            Ok(sets
                .iter()
                .filter_map(|s| {
                    let g = s.group.as_deref()?;
                    Some(assoc(
                        DS_IIGROUPSETASSOC,
                        ("groups", DS_IIGROUP, group_path(g, ns)),
                        ("groupedby", DS_IISET, set_path(s, ns)),
                    ))
                })
                .collect())
        } else if class.is(DS_IISETOVERFLOWVOLASSOC) {
            Ok(sets
                .iter()
                .filter_map(|s| {
                    let o = s.overflow.as_deref()?;
                    Some(assoc(
                        DS_IISETOVERFLOWVOLASSOC,
                        ("owns", DS_IISET, set_path(s, ns)),
                        ("ownedby", DS_IIOVERFLOWVOL, overflow_path(o, ns)),
                    ))
                })
                .collect())
        } else {
            Err(Error::NotSupported(format!(
                "IIAssociationProvider does not serve class {class}"
            )))
        }
    }

    /// Our own path for the object a client named, or `None` when it does not
    /// exist or is not one of our classes.
    async fn normalise(&self, ns: &str, object: &ObjectPath) -> Result<Option<ObjectPath>> {
        let ns = Some(ns);
        let found = if object.class_name.is(DS_IISET) {
            self.backend
                .set_for_path(object)
                .await
                .map(|s| set_path(&s, ns))
        } else if object.class_name.is(DS_IIGROUP) {
            self.backend
                .group_for_path(object)
                .await
                .map(|g| group_path(&g.name, ns))
        } else if object.class_name.is(DS_IIOVERFLOWVOL) {
            self.backend
                .overflow_for_path(object)
                .await
                .map(|o| overflow_path(&o.path, ns))
        } else {
            return Ok(None);
        };
        match found {
            Ok(p) => Ok(Some(p)),
            Err(e)
                if matches!(
                    e.status(),
                    StatusCode::NotFound | StatusCode::InvalidParameter
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    async fn refs(
        &self,
        ns: &str,
        class: &CimName,
        object: &ObjectPath,
        role: Option<&str>,
    ) -> Result<Vec<Instance>> {
        let Some(target) = self.normalise(ns, object).await? else {
            return Ok(Vec::new());
        };
        let want = target.local().canonical_key();
        let all = self.instances(ns, class).await?;
        Ok(all
            .into_iter()
            .filter(|i| {
                i.properties.iter().any(|p| {
                    role.is_none_or(|r| p.name.is(r))
                        && p.value
                            .as_reference()
                            .is_some_and(|r| r.local().canonical_key() == want)
                })
            })
            .collect())
    }
}

#[async_trait]
impl InstanceProvider for AssocProvider {
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
        let want = path.local().canonical_key();
        let all = self.instances(&ctx.namespace, &class.name).await?;
        // Compare with the namespaces of the references stripped: a client may
        // or may not send them.
        let strip = identity;
        let want_stripped = strip(path);
        all.into_iter()
            .find(|i| {
                i.path
                    .as_ref()
                    .is_some_and(|p| p.local().canonical_key() == want || strip(p) == want_stripped)
            })
            .ok_or_else(|| Error::NotFound(format!("no {} instance {path}", class.name)).into())
    }
}

#[async_trait]
impl AssociationProvider for AssocProvider {
    async fn references(
        &self,
        ctx: &ProviderContext,
        assoc_class: &Class,
        object_name: &ObjectPath,
        role: Option<&str>,
    ) -> ProviderResult<Vec<Instance>> {
        let span = tracing::debug_span!("provider", class = %assoc_class.name, op = "references");
        Ok(self
            .refs(&ctx.namespace, &assoc_class.name, object_name, role)
            .instrument(span)
            .await?)
    }
}
