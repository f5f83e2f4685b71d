//! `IIGroupProvider`: instances and methods of `DS_IIGroup`.
//!
//! Groups are explicit objects (interface.md §7): CreateInstance makes an empty
//! group of a type, DeleteInstance releases the members (they stay enabled)
//! and deletes it. Copies and updates of a group are one engine call
//! ([`native::Engine::group_copy`]), which validates every member first and
//! switches all bitmaps at one point in time: either every member starts or
//! none does.

use crate::backend::Backend;
use crate::convert::{
    group_instance, group_path, parse_kind, prop_string, required_string, ret, ret_set_refs,
    ret_true, set_path, Params, DS_IIGROUP,
};
use crate::error::{Error, Result};
use crate::set::copy_method;
use async_trait::async_trait;
use cim::ops::{MethodResult, ParamValue};
use cim::{CimName, CimType, Class, Instance, ObjectPath, Value};
use cimom_provider::{InstanceProvider, MethodProvider, ProviderContext, ProviderResult};
use native::{GroupInfo, SetKind};
use tracing::Instrument;

/// The `DS_IIGroup` provider.
#[derive(Clone)]
pub struct GroupProvider {
    backend: Backend,
}

impl GroupProvider {
    /// A provider over the shared engine handle.
    pub fn new(backend: Backend) -> Self {
        GroupProvider { backend }
    }

    async fn create(&self, ns: &str, inst: Instance) -> Result<ObjectPath> {
        let name = required_string(&inst, "groupName")?;
        let kind = match prop_string(&inst, "groupType")? {
            Some(t) => parse_kind(&t, "groupType")?,
            None => SetKind::Independent,
        };
        let n2 = name.clone();
        let info = self
            .backend
            .call(format!("create group {name}"), move |e| {
                e.create_group(&n2, kind)
            })
            .await?;
        tracing::info!(group = %info.name, kind = kind.as_str(), "group created");
        Ok(group_path(&info.name, Some(ns)))
    }

    async fn modify(&self, inst: Instance, plist: Option<&[CimName]>) -> Result<()> {
        let path = inst.path.clone().ok_or_else(|| {
            Error::InvalidParameter("ModifyInstance needs the instance's path".into())
        })?;
        let info = self.backend.group_for_path(&path).await?;
        let in_list = |n: &str| plist.is_none_or(|l| l.iter().any(|x| x.is(n)));
        if in_list("groupType") {
            if let Some(Value::String(t)) = inst.get("groupType") {
                if !t.eq_ignore_ascii_case(info.kind.as_str()) {
                    return Err(Error::ReadOnly {
                        property: "groupType",
                        class: DS_IIGROUP,
                        hint: "delete the group and create it again with the other type",
                    });
                }
            }
        }
        if in_list("groupName") {
            if let Some(Value::String(n)) = inst.get("groupName") {
                if *n != info.name {
                    return Err(Error::ReadOnly {
                        property: "groupName",
                        class: DS_IIGROUP,
                        hint: "use the rename method",
                    });
                }
            }
        }
        Ok(())
    }

    async fn delete(&self, path: &ObjectPath) -> Result<()> {
        let info = self.backend.group_for_path(path).await?;
        let name = info.name.clone();
        self.backend
            .call(format!("delete group {name}"), move |e| {
                e.delete_group(&name)
            })
            .await?;
        tracing::info!(group = %info.name, "group deleted");
        Ok(())
    }

    /// Runs a group operation that returns nothing and answers `true`.
    async fn act<F>(&self, info: &GroupInfo, method: &str, f: F) -> Result<MethodResult>
    where
        F: FnOnce(&native::Engine, &str) -> native::Result<()> + Send + 'static,
    {
        let name = info.name.clone();
        self.backend
            .call(format!("{method} on group {}", info.name), move |e| {
                f(e, &name)
            })
            .await?;
        Ok(ret_true())
    }

    /// The shadow path of a `DS_IISet` reference parameter (the set must exist).
    async fn set_param(&self, p: &Params<'_>) -> Result<native::SetInfo> {
        let r = p.reference("set")?;
        self.backend.set_for_path(&r).await
    }

    async fn invoke(
        &self,
        ns: &str,
        target: &ObjectPath,
        method: &CimName,
        params: &[ParamValue],
    ) -> Result<MethodResult> {
        let m = method.as_str();
        let p = Params::new(m, params);
        if target.keys.is_empty() {
            return Err(Error::InvalidParameter(format!(
                "{DS_IIGROUP}.{m} is not static: invoke it on a group's instance path"
            )));
        }
        let info = self.backend.group_for_path(target).await?;
        let group = info.name.clone();
        if let Some((dir, mode)) = copy_method(m) {
            if info.members.is_empty() {
                return Err(Error::Failed(format!(
                    "cannot {m} on group {group}: the group has no members; add sets with addIISet"
                )));
            }
            return self
                .act(&info, m, move |e, g| e.group_copy(g, dir, mode))
                .await;
        }
        match m.to_ascii_lowercase().as_str() {
            "getname" => Ok(ret(CimType::String, Value::String(group))),
            "getgrouptype" => Ok(ret(
                CimType::String,
                Value::String(info.kind.as_str().into()),
            )),
            "rename" => {
                let new = p.string("newName")?;
                self.act(&info, m, move |e, g| e.rename_group(g, &new))
                    .await
            }
            "addiiset" => {
                let set = self.set_param(&p).await?;
                if set.group.as_deref() == Some(group.as_str()) {
                    return Ok(ret_true());
                }
                let sh = set.shadow.clone();
                self.backend
                    .call(
                        format!("add set {} to group {group}", set.shadow.display()),
                        move |e| e.add_to_group(&sh, &group),
                    )
                    .await?;
                Ok(ret_true())
            }
            "removeiiset" => {
                let set = self.set_param(&p).await?;
                if set.group.as_deref() != Some(group.as_str()) {
                    return Err(Error::Failed(format!(
                        "cannot remove set {} from group {group}: it is not a member{}",
                        set.shadow.display(),
                        set.group
                            .as_deref()
                            .map(|g| format!(" (it belongs to group {g})"))
                            .unwrap_or_default()
                    )));
                }
                let sh = set.shadow.clone();
                self.backend
                    .call(
                        format!("remove set {} from group {group}", set.shadow.display()),
                        move |e| e.remove_from_group(&sh),
                    )
                    .await?;
                Ok(ret_true())
            }
            "issetingroup" => {
                let r = p.reference("set")?;
                // A set that does not exist is in no group: answer false.
                let member = match self.backend.set_for_path(&r).await {
                    Ok(set) => set.group.as_deref() == Some(group.as_str()),
                    Err(e) if e.status() == cim::StatusCode::NotFound => false,
                    Err(e) => return Err(e),
                };
                Ok(ret(CimType::Boolean, Value::Boolean(member)))
            }
            "getiisets" => {
                let sets = self.backend.query(|e| e.sets()).await?;
                let refs = sets
                    .iter()
                    .filter(|s| s.group.as_deref() == Some(group.as_str()))
                    .map(|s| set_path(s, Some(ns)))
                    .collect();
                Ok(ret_set_refs(refs))
            }
            "getpercentcompleted" => {
                let g = group.clone();
                let pc = self
                    .backend
                    .call(format!("read the progress of group {group}"), move |e| {
                        e.group_percent_completed(&g)
                    })
                    .await?;
                Ok(ret(CimType::Real32, Value::Real32(pc)))
            }
            "abort" => self.act(&info, m, |e, g| e.group_abort(g)).await,
            "suspend" => self.act(&info, m, |e, g| e.group_suspend(g)).await,
            "resume" => self.act(&info, m, |e, g| e.group_resume(g)).await,
            "lock" => self.act(&info, m, |e, g| e.lock_group(g)).await,
            "unlock" => self.act(&info, m, |e, g| e.unlock_group(g)).await,
            _ => Err(Error::NotSupported(format!(
                "{DS_IIGROUP} has no method {m}"
            ))),
        }
    }
}

#[async_trait]
impl InstanceProvider for GroupProvider {
    async fn enumerate_instances(
        &self,
        ctx: &ProviderContext,
        _class: &Class,
    ) -> ProviderResult<Vec<Instance>> {
        let groups = self.backend.query(|e| e.groups()).await?;
        Ok(groups
            .iter()
            .map(|g| group_instance(g, Some(&ctx.namespace)))
            .collect())
    }

    async fn get_instance(
        &self,
        ctx: &ProviderContext,
        _class: &Class,
        path: &ObjectPath,
    ) -> ProviderResult<Instance> {
        let info = self.backend.group_for_path(path).await?;
        Ok(group_instance(&info, Some(&ctx.namespace)))
    }

    async fn create_instance(
        &self,
        ctx: &ProviderContext,
        _class: &Class,
        instance: Instance,
    ) -> ProviderResult<ObjectPath> {
        let span = tracing::info_span!("provider", class = DS_IIGROUP, op = "CreateInstance");
        Ok(self
            .create(&ctx.namespace, instance)
            .instrument(span)
            .await?)
    }

    async fn modify_instance(
        &self,
        _ctx: &ProviderContext,
        _class: &Class,
        instance: Instance,
        property_list: Option<&[CimName]>,
    ) -> ProviderResult<()> {
        let span = tracing::info_span!("provider", class = DS_IIGROUP, op = "ModifyInstance");
        Ok(self
            .modify(instance, property_list)
            .instrument(span)
            .await?)
    }

    async fn delete_instance(
        &self,
        _ctx: &ProviderContext,
        _class: &Class,
        path: &ObjectPath,
    ) -> ProviderResult<()> {
        let span = tracing::info_span!("provider", class = DS_IIGROUP, op = "DeleteInstance");
        Ok(self.delete(path).instrument(span).await?)
    }
}

#[async_trait]
impl MethodProvider for GroupProvider {
    async fn invoke_method(
        &self,
        ctx: &ProviderContext,
        _class: &Class,
        target: &ObjectPath,
        method: &CimName,
        params: Vec<ParamValue>,
    ) -> ProviderResult<MethodResult> {
        let span = tracing::info_span!("provider", class = DS_IIGROUP, method = %method);
        Ok(self
            .invoke(&ctx.namespace, target, method, &params)
            .instrument(span)
            .await?)
    }
}
