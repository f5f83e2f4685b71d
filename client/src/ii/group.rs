//! [`GroupHandle`]: every `DS_IIGroup` method (membership, group-wide
//! copy/update/abort/suspend/resume, lock, rename).

use super::call::{check_true, group_path, name_not_found, ref_param, returned_bool, str_param};
use super::host::IiHost;
use super::model::{req_str, Direction, GroupInfo};
use super::set::SetHandle;
use crate::error::{Error, Result};
use cim::ops::{MethodResult, ParamValue};
use cim::ObjectPath;
use std::time::Duration;

/// A handle on one group.
#[derive(Debug, Clone)]
pub struct GroupHandle {
    pub(super) host: IiHost,
    pub(super) path: ObjectPath,
    pub(super) name: String,
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

    pub(super) async fn invoke(
        &self,
        method: &str,
        params: Vec<ParamValue>,
    ) -> Result<MethodResult> {
        // NOT_FOUND may name a member set rather than the group: keep the server's text.
        self.host.client.invoke(&self.path, method, params).await
    }

    pub(super) async fn invoke_bool(&self, method: &str, params: Vec<ParamValue>) -> Result<()> {
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
