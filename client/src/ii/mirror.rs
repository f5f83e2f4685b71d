//! Continuous copy on one host: `DS_IIMirror` as Rust — [`MirrorSpec`] to
//! enable a mirror, [`MirrorInfo`] snapshots (serialisable, for `--json`),
//! and [`MirrorHandle`] for every method (full/update/reverse sync,
//! logging, mode, wait, disable). A mirror is named by its primary volume.

use super::call::{check_true, with_ns};
use super::host::IiHost;
use crate::error::{Error, Result};
use cim::ops::ParamValue;
use cim::{CimError, CimType, Instance, ObjectPath, StatusCode, Value};
use serde::Serialize;
use std::time::Duration;

/// `DS_IIMirror`.
pub const MIRROR_CLASS: &str = "DS_IIMirror";
/// `DS_IIMirrorGroup`.
pub const MIRROR_GROUP_CLASS: &str = "DS_IIMirrorGroup";

/// What a new mirror needs (`CreateInstance DS_IIMirror`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MirrorSpec {
    /// Primary volume on the host.
    pub primary: String,
    /// Secondary's host (peer name, or `localhost`).
    pub secondary_host: String,
    /// Secondary volume on that host.
    pub secondary: String,
    /// Scoreboard bitmap volume on the host.
    pub scoreboard: String,
    /// `sync` / `async` (`None`: the server's default, sync).
    pub mode: Option<String>,
    /// Consistency group.
    pub group: Option<String>,
    /// `-E`: the volumes are known equal.
    pub volumes_equal: bool,
    /// Options by property name (`linkTimeout`, `protectTarget`, ...), as
    /// CIM values.
    pub options: Vec<(String, CimType, Value)>,
}

impl MirrorSpec {
    /// The instance to create.
    pub fn to_instance(&self) -> Instance {
        let s = |v: &str| Value::String(v.to_owned());
        let mut i = Instance::new(MIRROR_CLASS)
            .with("primaryVolume", CimType::String, s(&self.primary))
            .with("secondaryHost", CimType::String, s(&self.secondary_host))
            .with("secondaryVolume", CimType::String, s(&self.secondary))
            .with("scoreboardVolume", CimType::String, s(&self.scoreboard))
            .with(
                "volumesEqual",
                CimType::Boolean,
                Value::Boolean(self.volumes_equal),
            );
        if let Some(m) = &self.mode {
            i.set("mode", CimType::String, s(m));
        }
        if let Some(g) = &self.group {
            i.set("groupName", CimType::String, s(g));
        }
        for (name, ty, v) in &self.options {
            i.set(name, ty.clone(), v.clone());
        }
        i
    }
}

/// A snapshot of one mirror.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MirrorInfo {
    /// Primary volume.
    pub primary_volume: String,
    /// Secondary's host.
    pub secondary_host: String,
    /// Secondary volume.
    pub secondary_volume: String,
    /// Scoreboard volume.
    pub scoreboard_volume: String,
    /// `sync` / `async`.
    pub mode: String,
    /// `logging`, `syncing`, `replicating`, ...
    pub state: String,
    /// Share of chunks known equal.
    pub percent_synchronized: f32,
    /// Bytes not yet on the secondary.
    pub bytes_behind: u64,
    /// Writes queued or in flight.
    pub queue_depth: u64,
    /// Chunks marked in the scoreboard.
    pub dirty_chunks: u64,
    /// Primary size in bytes.
    pub capacity: u64,
    /// `up` / `down` / `connecting`.
    pub link_state: String,
    /// Last error, or empty.
    pub last_error: String,
    /// When last in step (CIM datetime text), or empty.
    pub when_synchronized: String,
    /// Consistency group, or empty.
    pub group_name: String,
    /// Options.
    pub queue_writes: u64,
    /// Options.
    pub queue_bytes: u64,
    /// Options.
    pub queue_full: String,
    /// Options (seconds).
    pub link_timeout: u64,
    /// Options.
    pub link_policy: String,
    /// Options.
    pub autosync: bool,
    /// Options.
    pub protect_target: bool,
    /// The instance path.
    #[serde(skip)]
    pub path: ObjectPath,
}

impl MirrorInfo {
    /// Reads a `DS_IIMirror` instance.
    pub fn from_instance(i: &Instance, namespace: &str) -> Result<MirrorInfo> {
        let text = |n: &str| i.get_str(n).unwrap_or_default().to_owned();
        let num = |n: &str| i.get(n).and_then(|v| v.as_u64()).unwrap_or(0);
        let flag = |n: &str| matches!(i.get(n), Some(Value::Boolean(true)));
        let primary = text("primaryVolume");
        if primary.is_empty() {
            return Err(Error::Protocol {
                operation: "GetInstance".into(),
                reason: "a DS_IIMirror instance without primaryVolume".into(),
            });
        }
        let path = match &i.path {
            Some(p) => with_ns(p.clone(), namespace),
            None => mirror_path(
                namespace,
                &primary,
                &text("secondaryHost"),
                &text("secondaryVolume"),
            ),
        };
        Ok(MirrorInfo {
            primary_volume: primary,
            secondary_host: text("secondaryHost"),
            secondary_volume: text("secondaryVolume"),
            scoreboard_volume: text("scoreboardVolume"),
            mode: text("mode"),
            state: text("state"),
            percent_synchronized: i
                .get("percentSynchronized")
                .and_then(|v| v.as_f64())
                .unwrap_or(0.0) as f32,
            bytes_behind: num("bytesBehind"),
            queue_depth: num("queueDepth"),
            dirty_chunks: num("dirtyChunks"),
            capacity: num("capacity"),
            link_state: text("linkState"),
            last_error: text("lastError"),
            when_synchronized: match i.get("whenSynchronized") {
                Some(Value::DateTime(d)) => d.to_string(),
                _ => String::new(),
            },
            group_name: text("groupName"),
            queue_writes: num("queueWrites"),
            queue_bytes: num("queueBytes"),
            queue_full: text("queueFull"),
            link_timeout: num("linkTimeout"),
            link_policy: text("linkPolicy"),
            autosync: flag("autosync"),
            protect_target: flag("protectTarget"),
            path,
        })
    }
}

/// The path of a mirror.
pub fn mirror_path(namespace: &str, primary: &str, host: &str, secondary: &str) -> ObjectPath {
    let s = |v: &str| Value::String(v.to_owned());
    ObjectPath::class(Some(namespace), MIRROR_CLASS)
        .with_key("primaryVolume", s(primary))
        .with_key("secondaryHost", s(host))
        .with_key("secondaryVolume", s(secondary))
}

/// A handle on one mirror.
#[derive(Debug, Clone)]
pub struct MirrorHandle {
    host: IiHost,
    path: ObjectPath,
    primary: String,
}

impl MirrorHandle {
    /// The mirror's instance path.
    pub fn path(&self) -> &ObjectPath {
        &self.path
    }

    /// The primary volume (the mirror's name).
    pub fn primary(&self) -> &str {
        &self.primary
    }

    async fn call(
        &self,
        method: &str,
        params: Vec<ParamValue>,
        timeout: Option<Duration>,
    ) -> Result<()> {
        let r = self
            .host
            .client
            .invoke_with_timeout(&self.path, method, params, timeout)
            .await?;
        check_true(r, method, &format!("mirror of {}", self.primary))
    }

    /// The current state.
    pub async fn info(&self) -> Result<MirrorInfo> {
        let i = self.host.client.get_instance(&self.path).await?;
        MirrorInfo::from_instance(&i, &self.host.namespace)
    }

    /// `fullSync()`.
    pub async fn full_sync(&self) -> Result<()> {
        self.call("fullSync", Vec::new(), self.host.client.config().timeout)
            .await
    }

    /// `updateSync()`.
    pub async fn update_sync(&self) -> Result<()> {
        self.call("updateSync", Vec::new(), self.host.client.config().timeout)
            .await
    }

    /// `reverseSync(full)`.
    pub async fn reverse_sync(&self, full: bool) -> Result<()> {
        let p = vec![ParamValue::new(
            "full",
            CimType::Boolean,
            Value::Boolean(full),
        )];
        self.call("reverseSync", p, self.host.client.config().timeout)
            .await
    }

    /// `logging()`.
    pub async fn logging(&self) -> Result<()> {
        self.call("logging", Vec::new(), self.host.client.config().timeout)
            .await
    }

    /// `setMode(mode)`.
    pub async fn set_mode(&self, mode: &str) -> Result<()> {
        let p = vec![ParamValue::new(
            "mode",
            CimType::String,
            Value::String(mode.to_owned()),
        )];
        self.call("setMode", p, self.host.client.config().timeout)
            .await
    }

    /// `waitForSync(timeoutSeconds)` (0 = no limit); the request itself has
    /// no time limit beyond the wait's.
    pub async fn wait_for_sync(&self, timeout_seconds: u32) -> Result<()> {
        let p = vec![ParamValue::new(
            "timeoutSeconds",
            CimType::Uint32,
            Value::Uint32(timeout_seconds),
        )];
        let limit =
            (timeout_seconds > 0).then(|| Duration::from_secs(u64::from(timeout_seconds) + 30));
        self.call("waitForSync", p, limit).await
    }

    /// `DeleteInstance`: disables the mirror and releases its claim.
    pub async fn delete(&self) -> Result<()> {
        self.host.client.delete_instance(&self.path).await
    }
}

impl IiHost {
    /// Enables a mirror (`CreateInstance DS_IIMirror`).
    pub async fn create_mirror(&self, spec: &MirrorSpec) -> Result<MirrorHandle> {
        let path = self
            .client
            .create_instance(&self.namespace, spec.to_instance())
            .await?;
        let primary = path
            .key_str("primaryVolume")
            .unwrap_or(&spec.primary)
            .to_owned();
        Ok(MirrorHandle {
            host: self.clone(),
            path: with_ns(path, &self.namespace),
            primary,
        })
    }

    /// Every mirror whose primary is on this host.
    pub async fn mirrors(&self) -> Result<Vec<MirrorInfo>> {
        let all = self
            .client
            .enumerate_instances(&self.namespace, MIRROR_CLASS)
            .await?;
        all.iter()
            .map(|i| MirrorInfo::from_instance(i, &self.namespace))
            .collect()
    }

    /// The mirror of `primary` (as given or canonical: a unique match of
    /// the primary's path, else its file name).
    pub async fn mirror(&self, primary: &str) -> Result<MirrorHandle> {
        let all = self.mirrors().await?;
        let found = all
            .iter()
            .find(|m| m.primary_volume == primary)
            .or_else(|| {
                let canon = std::fs::canonicalize(primary).ok()?;
                all.iter()
                    .find(|m| std::path::Path::new(&m.primary_volume) == canon)
            });
        match found {
            Some(m) => Ok(MirrorHandle {
                host: self.clone(),
                path: m.path.clone(),
                primary: m.primary_volume.clone(),
            }),
            None => Err(Error::Cim(CimError::new(
                StatusCode::NotFound,
                format!("no mirror of {primary} on this host (list them with iiadm mirror -P)"),
            ))),
        }
    }

    /// The members of mirror group `group`.
    pub async fn mirror_group(&self, group: &str) -> Result<Vec<MirrorHandle>> {
        let all = self.mirrors().await?;
        let members: Vec<MirrorHandle> = all
            .into_iter()
            .filter(|m| m.group_name == group)
            .map(|m| MirrorHandle {
                host: self.clone(),
                primary: m.primary_volume,
                path: m.path,
            })
            .collect();
        if members.is_empty() {
            return Err(Error::Cim(CimError::new(
                StatusCode::NotFound,
                format!("no mirror group {group}: no mirror names it"),
            )));
        }
        Ok(members)
    }

    /// Calls a `DS_IIMirrorGroup` method (`logging`, `updateSync`,
    /// `fullSync`, `waitForSync`).
    pub async fn mirror_group_call(
        &self,
        group: &str,
        method: &str,
        params: Vec<ParamValue>,
        timeout: Option<Duration>,
    ) -> Result<()> {
        let path = ObjectPath::class(Some(&self.namespace), MIRROR_GROUP_CLASS)
            .with_key("groupName", Value::String(group.to_owned()));
        let r = self
            .client
            .invoke_with_timeout(&path, method, params, timeout)
            .await?;
        check_true(r, method, &format!("mirror group {group}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_and_info_round_trip() {
        let spec = MirrorSpec {
            primary: "/v/p".into(),
            secondary_host: "b".into(),
            secondary: "/w/s".into(),
            scoreboard: "/v/sb".into(),
            mode: Some("async".into()),
            group: Some("g".into()),
            volumes_equal: true,
            options: vec![("linkTimeout".into(), CimType::Uint32, Value::Uint32(2))],
        };
        let i = spec
            .to_instance()
            .with(
                "state",
                CimType::String,
                Value::String("replicating".into()),
            )
            .with("bytesBehind", CimType::Uint64, Value::Uint64(7));
        assert_eq!(i.get("volumesEqual"), Some(&Value::Boolean(true)));
        let info = MirrorInfo::from_instance(&i, "root/cimv2").unwrap();
        assert_eq!(info.secondary_host, "b");
        assert_eq!(info.mode, "async");
        assert_eq!(info.group_name, "g");
        assert_eq!(info.bytes_behind, 7);
        assert_eq!(info.link_timeout, 2);
        assert_eq!(info.path.key_str("secondaryVolume"), Some("/w/s"));
        let json = serde_json::to_string(&info).unwrap();
        assert!(json.contains("\"bytesBehind\":7"), "{json}");
    }
}
