//! [`SetHandle`]: every `DS_IISet` method (copy, update, abort, wait with a
//! progress callback, export, join, overflow attach/detach, suspend, resume,
//! reset, copy parameters, rename).

use super::call::{check_true, name_not_found, str_param, u32_param};
use super::group::GroupHandle;
use super::host::IiHost;
use super::model::{CopyParams, Direction, SetInfo, SET_CLASS};
use crate::error::{Error, Result};
use cim::ops::{MethodResult, ParamValue};
use cim::{CimError, CimType, Instance, ObjectPath, Value};
use std::time::Duration;

/// A handle on one set. Cheap to clone; holds no state beyond the path.
#[derive(Debug, Clone)]
pub struct SetHandle {
    pub(super) host: IiHost,
    pub(super) path: ObjectPath,
    pub(super) shadow: String,
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

    pub(super) async fn invoke(
        &self,
        method: &str,
        params: Vec<ParamValue>,
    ) -> Result<MethodResult> {
        // A NOT_FOUND here may be about a parameter (an overflow volume, a
        // bitmap), so the server's own description is kept.
        self.host.client.invoke(&self.path, method, params).await
    }

    pub(super) async fn invoke_bool(&self, method: &str, params: Vec<ParamValue>) -> Result<()> {
        let r = self.invoke(method, params).await?;
        check_true(r, method, &self.shadow)
    }

    pub(super) async fn invoke_f32(&self, method: &str) -> Result<f32> {
        let r = self.invoke(method, Vec::new()).await?;
        r.return_value
            .as_f64()
            .map(|v| v as f32)
            .ok_or_else(|| Error::Protocol {
                operation: method.to_owned(),
                reason: format!("expected a real32, got {:?}", r.return_value),
            })
    }

    pub(super) async fn invoke_string(&self, method: &str) -> Result<String> {
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
