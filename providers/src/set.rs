//! `IISetProvider`: instances and methods of `DS_IISet` (interface.md §4, §7).
//!
//! * EnumerateInstances / GetInstance read live snapshots from the engine.
//! * CreateInstance enables a set (`iiadm -e`; `volatileBitmap = TRUE` asks
//!   for in-memory bitmaps); DeleteInstance disables it
//!   (`iiadm -d`), or releases an imported one.
//! * ModifyInstance changes `setName`, `copyUnits`, `copyDelay`; a new value
//!   for any other property is `CIM_ERR_FAILED` naming the property.
//! * Every method of the contract; failures are CIM errors naming the set and
//!   the cause, success returns `true` (or the value asked for).
//!
//! Preconditions checked here, before the engine is asked (the engine checks
//! them too; checking first gives the client the contract's wording):
//! * a set that belongs to a group is driven on its own like any other (copy,
//!   update, abort, wait, suspend, resume act on it alone); while its group
//!   is locked the engine refuses the operations that change data;
//! * only an up-to-date independent set can be exported;
//! * copy parameters out of range are `CIM_ERR_INVALID_PARAMETER` and change
//!   nothing.

use crate::backend::Backend;
use crate::convert::{
    parse_kind, path_text, prop_bool, prop_string, required_string, ret, ret_true, set_instance,
    set_path, value_u32, Params, DS_IISET,
};
use crate::error::{Error, Result};
use async_trait::async_trait;
use cim::ops::{MethodResult, ParamValue};
use cim::{CimName, CimType, Class, Instance, ObjectPath, Value};
use cimom_provider::{InstanceProvider, MethodProvider, ProviderContext, ProviderResult};
use native::{flags, CopyMode, Direction, SetInfo, SetKind, SetSpec};
use native::{MAX_COPY_DELAY, MAX_COPY_UNITS, MIN_COPY_DELAY, MIN_COPY_UNITS};
use std::path::PathBuf;
use std::time::Duration;
use tracing::Instrument;

/// The `DS_IISet` provider.
#[derive(Clone)]
pub struct SetProvider {
    backend: Backend,
}

impl SetProvider {
    /// A provider over the shared engine handle.
    pub fn new(backend: Backend) -> Self {
        SetProvider { backend }
    }
}

/// Properties ModifyInstance may change.
const WRITABLE: &[&str] = &["setName", "copyUnits", "copyDelay"];
/// Properties that are read-only (keys included: a different key names a
/// different instance, which ModifyInstance cannot create).
const READ_ONLY: &[&str] = &[
    "shadowVolume",
    "setType",
    "masterVolume",
    "bitmapVolume",
    "overflowVolume",
    "groupName",
    "state",
    "status",
    "percentCompleted",
    "percentSynchronized",
    "masterCapacity",
    "shadowCapacity",
    "bitmapCapacity",
    "volatileBitmap",
];

/// Checks copy parameters against interface.md §7 before anything changes.
pub(crate) fn check_copy_params(set: &str, delay: u32, units: u32) -> Result<()> {
    if !(MIN_COPY_UNITS..=MAX_COPY_UNITS).contains(&units) {
        return Err(Error::InvalidParameter(format!(
            "copy units {units} for set {set} is out of range: use {MIN_COPY_UNITS} to {MAX_COPY_UNITS} chunks per burst"
        )));
    }
    if !(MIN_COPY_DELAY..=MAX_COPY_DELAY).contains(&delay) {
        return Err(Error::InvalidParameter(format!(
            "copy delay {delay} for set {set} is out of range: use {MIN_COPY_DELAY} to {MAX_COPY_DELAY} ticks of 10 ms"
        )));
    }
    Ok(())
}

/// Direction and mode of the four copy methods, shared with the group provider.
pub(crate) fn copy_method(method: &str) -> Option<(Direction, CopyMode)> {
    const TABLE: &[(&str, Direction, CopyMode)] = &[
        ("copyMasterToShadow", Direction::ToShadow, CopyMode::Full),
        (
            "updateMasterToShadow",
            Direction::ToShadow,
            CopyMode::Update,
        ),
        ("copyShadowToMaster", Direction::ToMaster, CopyMode::Full),
        (
            "updateShadowToMaster",
            Direction::ToMaster,
            CopyMode::Update,
        ),
    ];
    TABLE
        .iter()
        .find(|(n, _, _)| n.eq_ignore_ascii_case(method))
        .map(|&(_, d, m)| (d, m))
}

/// Values compare equal for ModifyInstance when they mean the same thing
/// (numbers of different widths, a real sent as text).
fn same_value(a: &Value, b: &Value) -> bool {
    if a == b {
        return true;
    }
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => (x - y).abs() < 1e-6,
        _ => match (a, b) {
            (Value::String(x), other) | (other, Value::String(x)) => other
                .as_f64()
                .zip(x.trim().parse::<f64>().ok())
                .is_some_and(|(p, q)| (p - q).abs() < 1e-6),
            _ => false,
        },
    }
}

impl SetProvider {
    async fn enumerate(&self, ns: &str) -> Result<Vec<Instance>> {
        let sets = self.backend.query(|e| e.sets()).await?;
        Ok(sets.iter().map(|s| set_instance(s, Some(ns))).collect())
    }

    async fn create(&self, ns: &str, inst: Instance) -> Result<ObjectPath> {
        let master = required_string(&inst, "masterVolume")?;
        let shadow = required_string(&inst, "shadowVolume")?;
        let bitmap = required_string(&inst, "bitmapVolume")?;
        let set_type = required_string(&inst, "setType")?;
        if set_type.eq_ignore_ascii_case("imported") {
            return Err(Error::InvalidParameter(format!(
                "a set of type imported cannot be enabled with CreateInstance: call {DS_IISET}.importShadow({shadow}, {bitmap}) instead"
            )));
        }
        let kind = parse_kind(&set_type, "setType")?;
        for (path, role) in [
            (&master, "master"),
            (&shadow, "shadow"),
            (&bitmap, "bitmap"),
        ] {
            self.backend.check_volume(path, role).await?;
        }
        if let Some(ov) = prop_string(&inst, "overflowVolume")? {
            self.backend.check_volume(&ov, "overflow volume").await?;
        }
        // Copy parameters go into the spec: the engine checks them before it
        // creates anything and has them in force from the first burst.
        let units = inst
            .get("copyUnits")
            .map(|v| value_u32(v, "copyUnits"))
            .transpose()?
            .flatten();
        let delay = inst
            .get("copyDelay")
            .map(|v| value_u32(v, "copyDelay"))
            .transpose()?
            .flatten();
        let spec = SetSpec {
            master: PathBuf::from(&master),
            shadow: PathBuf::from(&shadow),
            bitmap: PathBuf::from(&bitmap),
            kind,
            name: prop_string(&inst, "setName")?,
            group: prop_string(&inst, "groupName")?,
            overflow: prop_string(&inst, "overflowVolume")?.map(PathBuf::from),
            copy_units: units,
            copy_delay: delay,
            volatile_bitmap: prop_bool(&inst, "volatileBitmap")?.unwrap_or(false),
        };
        let info = self
            .backend
            .call(
                format!("enable {} set with shadow {shadow}", kind.as_str()),
                move |e| e.enable_set(spec),
            )
            .await?;
        tracing::info!(shadow = %info.shadow.display(), kind = kind.as_str(), "set enabled");
        Ok(set_path(&info, Some(ns)))
    }

    async fn modify(&self, inst: Instance, plist: Option<&[CimName]>) -> Result<()> {
        let path = inst.path.clone().ok_or_else(|| {
            Error::InvalidParameter("ModifyInstance needs the instance's path".into())
        })?;
        let info = self.backend.set_for_path(&path).await?;
        let shadow_text = path_text(&info.shadow);
        let current = set_instance(&info, None);
        let in_list = |name: &str| plist.is_none_or(|l| l.iter().any(|n| n.is(name)));

        // Read-only properties: refused when asked to change. Naming one in
        // the property list is a request to change it; without a list, a
        // client that sends back the instance it read unchanged is fine.
        for &name in READ_ONLY {
            if !in_list(name) {
                continue;
            }
            let new = inst.get(name);
            let changed = match new {
                _ if plist.is_some() => true,
                None | Some(Value::Null) => false,
                Some(v) => !current.get(name).is_some_and(|c| same_value(c, v)),
            };
            if changed {
                return Err(Error::ReadOnly {
                    property: name,
                    class: DS_IISET,
                    hint: "only setName, copyUnits and copyDelay can be modified; use the methods for the rest",
                });
            }
        }
        // Properties not in the class at all.
        for p in &inst.properties {
            let known = WRITABLE.iter().chain(READ_ONLY).any(|n| p.name.is(n));
            if !known && in_list(p.name.as_str()) {
                return Err(Error::Failed(format!(
                    "{DS_IISET} has no property {}; only setName, copyUnits and copyDelay can be modified",
                    p.name
                )));
            }
        }

        let new_name = if in_list("setName") {
            match inst.get("setName") {
                Some(Value::String(n)) if *n != info.name => Some(n.clone()),
                Some(Value::String(_)) | None => None,
                Some(Value::Null) => Some(shadow_text.clone()),
                Some(other) => {
                    return Err(Error::InvalidParameter(format!(
                        "setName must be a string, not {other:?}"
                    )))
                }
            }
        } else {
            None
        };
        let units = if in_list("copyUnits") {
            inst.get("copyUnits")
                .map(|v| value_u32(v, "copyUnits"))
                .transpose()?
                .flatten()
        } else {
            None
        };
        let delay = if in_list("copyDelay") {
            inst.get("copyDelay")
                .map(|v| value_u32(v, "copyDelay"))
                .transpose()?
                .flatten()
        } else {
            None
        };
        let params = match (units, delay) {
            (None, None) => None,
            (u, d) => {
                let (u, d) = (u.unwrap_or(info.copy_units), d.unwrap_or(info.copy_delay));
                check_copy_params(&shadow_text, d, u)?;
                (u != info.copy_units || d != info.copy_delay).then_some((d, u))
            }
        };
        if let Some((d, u)) = params {
            let sh = info.shadow.clone();
            self.backend
                .call(
                    format!("set copy parameters of set {shadow_text}"),
                    move |e| e.set_copy_params(&sh, d, u),
                )
                .await?;
        }
        if let Some(name) = new_name {
            let sh = info.shadow.clone();
            self.backend
                .call(format!("rename set {shadow_text}"), move |e| {
                    e.rename_set(&sh, &name)
                })
                .await?;
        }
        Ok(())
    }

    async fn delete(&self, path: &ObjectPath) -> Result<()> {
        let info = self.backend.set_for_path(path).await?;
        let sh = info.shadow.clone();
        self.backend
            .call(format!("disable set {}", info.shadow.display()), move |e| {
                e.disable_set(&sh)
            })
            .await?;
        tracing::info!(shadow = %info.shadow.display(), "set disabled");
        Ok(())
    }

    /// Runs a set operation that returns nothing and answers `true`.
    async fn act<F>(&self, info: &SetInfo, method: &str, f: F) -> Result<MethodResult>
    where
        F: FnOnce(&native::Engine, &std::path::Path) -> native::Result<()> + Send + 'static,
    {
        let sh = info.shadow.clone();
        self.backend
            .call(
                format!("{method} on set {}", info.shadow.display()),
                move |e| f(e, &sh),
            )
            .await?;
        Ok(ret_true())
    }

    async fn invoke(
        &self,
        target: &ObjectPath,
        method: &CimName,
        params: &[ParamValue],
        waiting: &cimom_provider::Waiting,
    ) -> Result<MethodResult> {
        let m = method.as_str();
        let p = Params::new(m, params);
        // The static method works on the class path.
        if method.is("importShadow") {
            let shadow = p.string("shadowVolume")?;
            let bitmap = p.string("bitmapVolume")?;
            self.backend
                .check_volume(&shadow, "imported shadow")
                .await?;
            self.backend.check_volume(&bitmap, "bitmap").await?;
            let info = self
                .backend
                .call(
                    format!("import shadow {shadow} with bitmap {bitmap}"),
                    move |e| e.import_shadow(&PathBuf::from(&shadow), &PathBuf::from(&bitmap)),
                )
                .await?;
            tracing::info!(shadow = %info.shadow.display(), "shadow imported");
            return Ok(ret_true());
        }
        if target.keys.is_empty() {
            return Err(Error::InvalidParameter(format!(
                "{DS_IISET}.{m} is not static: invoke it on a set's instance path"
            )));
        }
        let info = if method.is("resume") || m.to_ascii_lowercase().starts_with("get") {
            self.backend.set_for_path_or_taken_over(target).await?
        } else {
            self.backend.set_for_path(target).await?
        };
        let set = info.shadow.display().to_string();
        let string = |v: String| Ok(ret(CimType::String, Value::String(v)));
        let real = |v: f32| Ok(ret(CimType::Real32, Value::Real32(v)));

        if let Some((dir, mode)) = copy_method(m) {
            // A member of a group can be copied on its own (interface.md §7);
            // the engine refuses it while the group is locked.
            return self.act(&info, m, move |e, sh| e.copy(sh, dir, mode)).await;
        }
        match m.to_ascii_lowercase().as_str() {
            "getname" => string(info.name.clone()),
            "setname" => {
                let name = p.string("name")?;
                let n2 = name.clone();
                self.act(&info, m, move |e, sh| e.rename_set(sh, &n2))
                    .await?;
                string(name)
            }
            "getpercentcompleted" => real(info.percent_completed),
            "getpercentsynchronized" => real(info.percent_synchronized),
            "gettype" => string(crate::convert::set_type(&info).to_owned()),
            "getmastervolume" => string(path_text(&info.master)),
            "getshadowvolume" => string(path_text(&info.shadow)),
            "getbitmapvolume" => string(path_text(&info.bitmap)),
            "getoverflowvolume" => {
                string(info.overflow.as_deref().map(path_text).unwrap_or_default())
            }
            "abort" => self.act(&info, m, |e, sh| e.abort(sh)).await,
            "suspend" => self.act(&info, m, |e, sh| e.suspend(sh)).await,
            "resume" => self.act(&info, m, |e, sh| e.resume(sh)).await,
            "reset" => self.act(&info, m, |e, sh| e.reset(sh)).await,
            "waitforcompletion" => {
                // 0 = until the job ends. The wait holds no thread, and the
                // object manager neither times it out nor keeps it once the
                // client is gone (interface.md §7).
                let secs = p.opt_u32("timeoutSeconds")?.unwrap_or(0);
                waiting.begin();
                let end = self.backend.job_end(info.shadow.clone());
                if secs == 0 {
                    end.await?;
                    return Ok(ret_true());
                }
                match tokio::time::timeout(Duration::from_secs(secs.into()), end).await {
                    Ok(done) => done.map(|()| ret_true()),
                    Err(_) => Err(Error::Failed(format!(
                        "set {set} is still copying after {secs} s: wait longer (timeoutSeconds=0 waits until the copy ends) or abort the copy"
                    ))),
                }
            }
            "setcopyparameters" => {
                let delay = p.u32("delay")?;
                let units = p.u32("units")?;
                check_copy_params(&set, delay, units)?;
                self.act(&info, m, move |e, sh| e.set_copy_params(sh, delay, units))
                    .await
            }
            "exportvolume" => {
                exportable(&info)?;
                self.act(&info, m, |e, sh| e.export_shadow(sh)).await
            }
            "joinvolume" => {
                let bitmap = p.opt_string("BitmapVol")?;
                if let Some(b) = &bitmap {
                    self.backend.check_volume(b, "bitmap to join").await?;
                }
                let bitmap = bitmap.map(PathBuf::from);
                self.act(&info, m, move |e, sh| e.join(sh, bitmap.as_deref()))
                    .await
            }
            "attachiioverflowvolume" => {
                let ov = p.string("overflowVol")?;
                self.backend.check_volume(&ov, "overflow volume").await?;
                let ov = PathBuf::from(ov);
                self.act(&info, m, move |e, sh| e.attach_overflow(sh, &ov))
                    .await
            }
            "detachoverflowvolume" => {
                if info.overflow.is_none() {
                    return Err(Error::Failed(format!(
                        "cannot detach the overflow volume of set {set}: none is attached"
                    )));
                }
                if info.flags & flags::VOVERFLOW != 0 || info.overflow_chunks_used > 0 {
                    return Err(Error::Failed(format!(
                        "cannot detach the overflow volume of set {set}: the set keeps {} chunk(s) there (overflow volume still in use); update the shadow (updateMasterToShadow) or disable the set first",
                        info.overflow_chunks_used
                    )));
                }
                self.act(&info, m, |e, sh| e.detach_overflow(sh)).await
            }
            _ => Err(Error::NotSupported(format!("{DS_IISET} has no method {m}"))),
        }
    }
}

/// Export only of an up-to-date independent shadow (imaging.md §5).
fn exportable(info: &SetInfo) -> Result<()> {
    let set = info.shadow.display();
    if info.imported {
        return Err(Error::Failed(format!(
            "cannot export set {set}: it is an imported shadow; release it with DeleteInstance instead"
        )));
    }
    if info.kind != SetKind::Independent {
        return Err(Error::Failed(format!(
            "cannot export set {set}: only the shadow of an independent set can be exported"
        )));
    }
    if info.copy_active || info.flags & flags::COPYING != 0 || info.copy_bits > 0 {
        return Err(Error::Failed(format!(
            "cannot export set {set}: the shadow is not up to date (a copy is running or pending); wait for it (waitForCompletion) or update the shadow first"
        )));
    }
    Ok(())
}

#[async_trait]
impl InstanceProvider for SetProvider {
    async fn enumerate_instances(
        &self,
        ctx: &ProviderContext,
        _class: &Class,
    ) -> ProviderResult<Vec<Instance>> {
        let span = tracing::debug_span!("provider", class = DS_IISET, op = "EnumerateInstances");
        Ok(self.enumerate(&ctx.namespace).instrument(span).await?)
    }

    async fn get_instance(
        &self,
        ctx: &ProviderContext,
        _class: &Class,
        path: &ObjectPath,
    ) -> ProviderResult<Instance> {
        let span = tracing::debug_span!("provider", class = DS_IISET, op = "GetInstance");
        let info = self
            .backend
            .set_for_path_or_taken_over(path)
            .instrument(span)
            .await?;
        Ok(set_instance(&info, Some(&ctx.namespace)))
    }

    async fn create_instance(
        &self,
        ctx: &ProviderContext,
        _class: &Class,
        instance: Instance,
    ) -> ProviderResult<ObjectPath> {
        let span = tracing::info_span!("provider", class = DS_IISET, op = "CreateInstance");
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
        let span = tracing::info_span!("provider", class = DS_IISET, op = "ModifyInstance");
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
        let span = tracing::info_span!("provider", class = DS_IISET, op = "DeleteInstance");
        Ok(self.delete(path).instrument(span).await?)
    }
}

#[async_trait]
impl MethodProvider for SetProvider {
    async fn invoke_method(
        &self,
        ctx: &ProviderContext,
        _class: &Class,
        target: &ObjectPath,
        method: &CimName,
        params: Vec<ParamValue>,
    ) -> ProviderResult<MethodResult> {
        let span = tracing::info_span!("provider", class = DS_IISET, method = %method);
        Ok(self
            .invoke(target, method, &params, &ctx.waiting)
            .instrument(span)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_params_ranges() {
        assert!(check_copy_params("/v/s", 2, 100).is_ok());
        assert!(check_copy_params("/v/s", 10000, 60000).is_ok());
        let e = check_copy_params("/v/s", 2, 99).unwrap_err();
        assert!(matches!(e, Error::InvalidParameter(_)));
        assert!(e.to_string().contains("/v/s"));
        assert!(check_copy_params("/v/s", 1, 100).is_err());
        assert!(check_copy_params("/v/s", 10001, 100).is_err());
        assert!(check_copy_params("/v/s", 2, 60001).is_err());
    }

    #[test]
    fn copy_methods_table() {
        assert_eq!(
            copy_method("copyMasterToShadow"),
            Some((Direction::ToShadow, CopyMode::Full))
        );
        assert_eq!(
            copy_method("UPDATESHADOWTOMASTER"),
            Some((Direction::ToMaster, CopyMode::Update))
        );
        assert_eq!(copy_method("abort"), None);
    }

    #[test]
    fn value_equality_for_modify() {
        assert!(same_value(&Value::Uint32(5), &Value::Uint64(5)));
        assert!(same_value(
            &Value::Real32(50.0),
            &Value::String("50".into())
        ));
        assert!(!same_value(
            &Value::String("idle".into()),
            &Value::String("copying".into())
        ));
    }
}
