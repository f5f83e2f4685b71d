//! Provider tests: the providers called directly (no HTTP) over a real
//! `native::Engine` on temporary files.

use cim::ops::ParamValue;
use cim::{CimError, CimName, CimType, Class, Instance, ObjectPath, StatusCode, Value};
use cimom::provider::{
    AssociationProvider, CimomHandle, CimomServices, InstanceProvider, MethodProvider,
    ProviderContext, ProviderResult,
};
use native::{Engine, EngineConfig};
use providers::assoc::AssocProvider;
use providers::backend::Backend;
use providers::group::GroupProvider;
use providers::overflow::OverflowProvider;
use providers::set::SetProvider;
use providers::volume::VolumeProvider;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const MIB: u64 = 1 << 20;
const CHUNK: u64 = native::CHUNK_SIZE;

#[derive(Default)]
struct Services {
    published: Mutex<Vec<(String, Instance)>>,
}

impl CimomServices for Services {
    fn publish_indication(&self, namespace: &str, indication: Instance) {
        self.published
            .lock()
            .unwrap()
            .push((namespace.into(), indication));
    }
    fn get_class(&self, _namespace: &str, class_name: &str) -> ProviderResult<Class> {
        Err(CimError::not_found(format!(
            "no class {class_name} in this test"
        )))
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    state: PathBuf,
    engine: Engine,
    ctx: ProviderContext,
    sets: SetProvider,
    groups: GroupProvider,
    overflows: OverflowProvider,
    assocs: AssocProvider,
    volumes: VolumeProvider,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("volumes");
        std::fs::create_dir_all(&root).unwrap();
        let root = root.canonicalize().unwrap();
        let state = dir.path().join("engine");
        let engine = Engine::open(EngineConfig::new(&state, vec![root.clone()])).unwrap();
        let backend = Backend::new(engine.clone());
        let ctx = ProviderContext {
            namespace: "root/cimv2".into(),
            user: None,
            cimom: CimomHandle::new(Arc::new(Services::default())),
            waiting: Default::default(),
        };
        Fixture {
            _dir: dir,
            root,
            state,
            ctx,
            sets: SetProvider::new(backend.clone()),
            groups: GroupProvider::new(backend.clone()),
            overflows: OverflowProvider::new(backend.clone()),
            assocs: AssocProvider::new(backend.clone()),
            volumes: VolumeProvider::new(backend),
            engine,
        }
    }

    fn reopen(self) -> Fixture {
        let Fixture {
            _dir,
            root,
            state,
            engine,
            ctx,
            sets,
            groups,
            overflows,
            assocs,
            volumes,
        } = self;
        engine.shutdown();
        // Every provider holds an engine clone; the state directory's lock
        // is free only once the last one is gone.
        drop((sets, groups, overflows, assocs, volumes, engine));
        let engine = Engine::open(EngineConfig::new(&state, vec![root.clone()])).unwrap();
        let backend = Backend::new(engine.clone());
        Fixture {
            _dir,
            root,
            state,
            ctx,
            sets: SetProvider::new(backend.clone()),
            groups: GroupProvider::new(backend.clone()),
            overflows: OverflowProvider::new(backend.clone()),
            assocs: AssocProvider::new(backend.clone()),
            volumes: VolumeProvider::new(backend),
            engine,
        }
    }

    fn volume(&self, name: &str, size: u64) -> String {
        let p = self.root.join(name);
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .unwrap();
        f.set_len(size).unwrap();
        p.to_string_lossy().into_owned()
    }

    async fn enable(&self, kind: &str, m: &str, s: &str, b: &str) -> Result<ObjectPath, CimError> {
        let inst = Instance::new("DS_IISet")
            .with(
                "masterVolume",
                CimType::String,
                Value::String(self.volume(m, MIB)),
            )
            .with(
                "shadowVolume",
                CimType::String,
                Value::String(self.volume(s, MIB)),
            )
            .with(
                "bitmapVolume",
                CimType::String,
                Value::String(self.volume(b, 64 * 1024)),
            )
            .with("setType", CimType::String, Value::String(kind.into()));
        self.sets
            .create_instance(&self.ctx, &class("DS_IISet"), inst)
            .await
    }

    /// Calls a method that must answer true.
    async fn expect_true(&self, target: &ObjectPath, method: &str, params: Vec<ParamValue>) {
        let r = self.call(target, method, params).await;
        assert_eq!(r.unwrap(), Value::Boolean(true), "{method}");
    }

    async fn call(
        &self,
        target: &ObjectPath,
        method: &str,
        params: Vec<ParamValue>,
    ) -> Result<Value, CimError> {
        let c = class(target.class_name.as_str());
        let m = CimName::new(method);
        let provider: &dyn MethodProvider = if target.class_name.is("DS_IISet") {
            &self.sets
        } else if target.class_name.is("DS_IIGroup") {
            &self.groups
        } else {
            &self.overflows
        };
        provider
            .invoke_method(&self.ctx, &c, target, &m, params)
            .await
            .map(|r| {
                if r.out_params.is_empty() {
                    r.return_value
                } else {
                    Value::Array(vec![r.return_value, r.out_params[0].value.clone()])
                }
            })
    }

    async fn get(&self, path: &ObjectPath) -> Result<Instance, CimError> {
        self.sets
            .get_instance(&self.ctx, &class("DS_IISet"), path)
            .await
    }
}

fn class(name: &str) -> Class {
    Class::new(name, None)
}

fn s(v: &str) -> Value {
    Value::String(v.into())
}

fn u32p(name: &str, v: u32) -> ParamValue {
    ParamValue::new(name, CimType::Uint32, Value::Uint32(v))
}

fn refp(name: &str, p: &ObjectPath) -> ParamValue {
    ParamValue::new(name, CimType::Reference(None), Value::Reference(p.clone()))
}

fn code(r: Result<impl std::fmt::Debug, CimError>) -> StatusCode {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.status,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn set_life_cycle_and_methods() {
    let f = Fixture::new();
    let path = f.enable("independent", "m1", "s1", "b1").await.unwrap();
    assert_eq!(path.key_str("setType"), Some("independent"));
    let shadow = path.key_str("shadowVolume").unwrap().to_owned();
    assert!(shadow.ends_with("/s1"));

    assert_eq!(
        f.call(&path, "waitForCompletion", vec![u32p("timeoutSeconds", 0)])
            .await
            .unwrap(),
        Value::Boolean(true)
    );
    let inst = f.get(&path).await.unwrap();
    assert_eq!(inst.get_str("state"), Some("idle"));
    assert_eq!(inst.get_str("status"), Some("normal"));
    assert_eq!(inst.get("percentCompleted"), Some(&Value::Real32(100.0)));
    assert_eq!(inst.get("masterCapacity"), Some(&Value::Uint64(MIB)));
    assert_eq!(inst.get_str("setName"), Some(shadow.as_str()));
    assert_eq!(inst.get("copyUnits"), Some(&Value::Uint32(100)));

    let all = f
        .sets
        .enumerate_instances(&f.ctx, &class("DS_IISet"))
        .await
        .unwrap();
    assert_eq!(all.len(), 1);

    // Getters.
    assert_eq!(
        f.call(&path, "getType", vec![]).await.unwrap(),
        s("independent")
    );
    assert_eq!(
        f.call(&path, "getShadowVolume", vec![]).await.unwrap(),
        s(&shadow)
    );
    assert_eq!(
        f.call(&path, "getOverflowVolume", vec![]).await.unwrap(),
        s("")
    );
    assert!(
        matches!(f.call(&path, "getMasterVolume", vec![]).await.unwrap(), Value::String(m) if m.ends_with("/m1"))
    );
    assert!(
        matches!(f.call(&path, "getBitmapVolume", vec![]).await.unwrap(), Value::String(b) if b.ends_with("/b1"))
    );
    assert_eq!(
        f.call(&path, "getPercentCompleted", vec![]).await.unwrap(),
        Value::Real32(100.0)
    );
    assert!(matches!(
        f.call(&path, "getPercentSynchronized", vec![])
            .await
            .unwrap(),
        Value::Real32(_)
    ));

    // setName / getName.
    let r = f
        .call(
            &path,
            "setName",
            vec![ParamValue::new("name", CimType::String, s("nightly"))],
        )
        .await
        .unwrap();
    assert_eq!(r, s("nightly"));
    assert_eq!(
        f.call(&path, "getName", vec![]).await.unwrap(),
        s("nightly")
    );

    // Copy parameters: in range works, out of range is INVALID_PARAMETER and changes nothing.
    let ok = f
        .call(
            &path,
            "setCopyParameters",
            vec![u32p("delay", 5), u32p("units", 200)],
        )
        .await
        .unwrap();
    assert_eq!(ok, Value::Boolean(true));
    let e = f
        .call(
            &path,
            "setCopyParameters",
            vec![u32p("delay", 1), u32p("units", 200)],
        )
        .await
        .unwrap_err();
    assert_eq!(e.status, StatusCode::InvalidParameter);
    assert!(e.description.contains(&shadow), "{}", e.description);
    assert_eq!(
        code(
            f.call(
                &path,
                "setCopyParameters",
                vec![u32p("delay", 5), u32p("units", 60001)]
            )
            .await
        ),
        StatusCode::InvalidParameter
    );
    let inst = f.get(&path).await.unwrap();
    assert_eq!(inst.get("copyDelay"), Some(&Value::Uint32(5)));
    assert_eq!(inst.get("copyUnits"), Some(&Value::Uint32(200)));

    // Copies and updates in both directions, abort with nothing running.
    for m in [
        "updateMasterToShadow",
        "copyMasterToShadow",
        "updateShadowToMaster",
        "copyShadowToMaster",
    ] {
        assert_eq!(
            f.call(&path, m, vec![]).await.unwrap(),
            Value::Boolean(true),
            "{m}"
        );
        assert_eq!(
            f.call(&path, "waitForCompletion", vec![u32p("timeoutSeconds", 30)])
                .await
                .unwrap(),
            Value::Boolean(true)
        );
    }
    assert_eq!(
        f.call(&path, "abort", vec![]).await.unwrap(),
        Value::Boolean(true)
    );
    assert_eq!(
        f.call(&path, "suspend", vec![]).await.unwrap(),
        Value::Boolean(true)
    );
    assert_eq!(
        f.get(&path).await.unwrap().get_str("state"),
        Some("suspended")
    );
    assert_eq!(
        f.call(&path, "resume", vec![]).await.unwrap(),
        Value::Boolean(true)
    );
    assert_ne!(
        f.get(&path).await.unwrap().get_str("state"),
        Some("suspended")
    );

    // Unknown method, static method on an instance is fine, non-static on the class is not.
    assert_eq!(
        code(f.call(&path, "noSuchMethod", vec![]).await),
        StatusCode::NotSupported
    );
    let class_path = ObjectPath::class(Some("root/cimv2"), "DS_IISet");
    assert_eq!(
        code(f.call(&class_path, "abort", vec![]).await),
        StatusCode::InvalidParameter
    );

    // Delete disables; then it is gone.
    f.sets
        .delete_instance(&f.ctx, &class("DS_IISet"), &path)
        .await
        .unwrap();
    assert_eq!(code(f.get(&path).await), StatusCode::NotFound);
    assert_eq!(
        code(f.call(&path, "abort", vec![]).await),
        StatusCode::NotFound
    );
    assert_eq!(
        code(
            f.sets
                .delete_instance(&f.ctx, &class("DS_IISet"), &path)
                .await
        ),
        StatusCode::NotFound
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn create_errors_and_modify_rules() {
    let f = Fixture::new();
    // Outside the roots, and escaping through `..`: ACCESS_DENIED.
    let inst = Instance::new("DS_IISet")
        .with("masterVolume", CimType::String, s("/etc/hostname"))
        .with(
            "shadowVolume",
            CimType::String,
            Value::String(f.volume("s", MIB)),
        )
        .with(
            "bitmapVolume",
            CimType::String,
            Value::String(f.volume("b", 64 * 1024)),
        )
        .with("setType", CimType::String, s("dependent"));
    let e = f
        .sets
        .create_instance(&f.ctx, &class("DS_IISet"), inst)
        .await
        .unwrap_err();
    assert_eq!(e.status, StatusCode::AccessDenied, "{e}");
    assert!(e.description.contains("/etc/hostname"), "{}", e.description);
    // A `..` that leaves the root towards a file outside it.
    let outside = f.root.parent().unwrap().join("outside.img");
    std::fs::write(&outside, vec![0u8; MIB as usize]).unwrap();
    let sneaky = format!("{}/../outside.img", f.root.display());
    let inst = Instance::new("DS_IISet")
        .with("masterVolume", CimType::String, Value::String(sneaky))
        .with(
            "shadowVolume",
            CimType::String,
            Value::String(f.volume("s", MIB)),
        )
        .with(
            "bitmapVolume",
            CimType::String,
            Value::String(f.volume("b", 64 * 1024)),
        )
        .with("setType", CimType::String, s("dependent"));
    f.volume("m", MIB);
    assert_eq!(
        code(
            f.sets
                .create_instance(&f.ctx, &class("DS_IISet"), inst)
                .await
        ),
        StatusCode::AccessDenied
    );

    // Missing property, bad type.
    let inst = Instance::new("DS_IISet").with("shadowVolume", CimType::String, s("/x"));
    assert_eq!(
        code(
            f.sets
                .create_instance(&f.ctx, &class("DS_IISet"), inst)
                .await
        ),
        StatusCode::InvalidParameter
    );
    assert_eq!(
        code(f.enable("sideways", "m", "s", "b").await),
        StatusCode::InvalidParameter
    );

    let path = f.enable("dependent", "m", "s", "b").await.unwrap();
    // The same shadow again, or the master as another set's bitmap: conflicting role.
    let again = f.enable("dependent", "m2", "s", "b2").await.unwrap_err();
    assert!(
        matches!(again.status, StatusCode::AlreadyExists | StatusCode::Failed),
        "{again}"
    );
    let again = f.enable("dependent", "m3", "s3", "m").await.unwrap_err();
    assert!(
        matches!(again.status, StatusCode::AlreadyExists | StatusCode::Failed),
        "{again}"
    );

    // Modify: writable properties change; read-only ones are refused by name.
    let mut inst = f.get(&path).await.unwrap();
    inst.set("setName", CimType::String, s("renamed"));
    inst.set("copyUnits", CimType::Uint32, Value::Uint32(500));
    f.sets
        .modify_instance(&f.ctx, &class("DS_IISet"), inst.clone(), None)
        .await
        .unwrap();
    let now = f.get(&path).await.unwrap();
    assert_eq!(now.get_str("setName"), Some("renamed"));
    assert_eq!(now.get("copyUnits"), Some(&Value::Uint32(500)));

    let mut bad = now.clone();
    bad.set("masterVolume", CimType::String, s("/elsewhere"));
    let e = f
        .sets
        .modify_instance(&f.ctx, &class("DS_IISet"), bad, None)
        .await
        .unwrap_err();
    assert_eq!(e.status, StatusCode::Failed);
    assert!(e.description.contains("masterVolume"), "{}", e.description);

    let mut bad = now.clone();
    bad.set("copyDelay", CimType::Uint32, Value::Uint32(0));
    let e = f
        .sets
        .modify_instance(&f.ctx, &class("DS_IISet"), bad, None)
        .await
        .unwrap_err();
    assert_eq!(e.status, StatusCode::InvalidParameter);

    let list = [CimName::new("state")];
    let e = f
        .sets
        .modify_instance(&f.ctx, &class("DS_IISet"), now.clone(), Some(&list))
        .await
        .unwrap_err();
    assert!(e.description.contains("state"), "{}", e.description);

    // Mismatched setType key: not found.
    let mut wrong = path.clone();
    wrong.keys.retain(|k| !k.name.is("setType"));
    let wrong = wrong.with_key("setType", s("independent"));
    assert_eq!(code(f.get(&wrong).await), StatusCode::NotFound);

    // Export only of an up-to-date independent shadow.
    let e = f.call(&path, "exportVolume", vec![]).await.unwrap_err();
    assert_eq!(e.status, StatusCode::Failed);
    assert!(e.description.contains("independent"), "{}", e.description);

    // Detach with nothing attached.
    assert_eq!(
        code(f.call(&path, "detachOverflowVolume", vec![]).await),
        StatusCode::Failed
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn groups_associations_and_precondition() {
    let f = Fixture::new();
    let a = f.enable("dependent", "ma", "sa", "ba").await.unwrap();
    let b = f.enable("dependent", "mb", "sb", "bb").await.unwrap();
    let ind = f.enable("independent", "mi", "si", "bi").await.unwrap();

    let g = Instance::new("DS_IIGroup")
        .with("groupName", CimType::String, s("nightly"))
        .with("groupType", CimType::String, s("dependent"));
    let gp = f
        .groups
        .create_instance(&f.ctx, &class("DS_IIGroup"), g.clone())
        .await
        .unwrap();
    assert_eq!(gp.key_str("groupName"), Some("nightly"));
    assert_eq!(
        code(
            f.groups
                .create_instance(&f.ctx, &class("DS_IIGroup"), g)
                .await
        ),
        StatusCode::AlreadyExists
    );

    assert_eq!(f.call(&gp, "getName", vec![]).await.unwrap(), s("nightly"));
    assert_eq!(
        f.call(&gp, "getGroupType", vec![]).await.unwrap(),
        s("dependent")
    );
    // Empty group: copy refused.
    assert_eq!(
        code(f.call(&gp, "copyMasterToShadow", vec![]).await),
        StatusCode::Failed
    );

    assert_eq!(
        f.call(&gp, "addIISet", vec![refp("set", &a)])
            .await
            .unwrap(),
        Value::Boolean(true)
    );
    assert_eq!(
        f.call(&gp, "addIISet", vec![refp("set", &b)])
            .await
            .unwrap(),
        Value::Boolean(true)
    );
    // Type mismatch refused.
    assert!(f
        .call(&gp, "addIISet", vec![refp("set", &ind)])
        .await
        .is_err());
    assert_eq!(
        f.call(&gp, "isSetInGroup", vec![refp("set", &a)])
            .await
            .unwrap(),
        Value::Boolean(true)
    );
    assert_eq!(
        f.call(&gp, "isSetInGroup", vec![refp("set", &ind)])
            .await
            .unwrap(),
        Value::Boolean(false)
    );

    match f.call(&gp, "getIISets", vec![]).await.unwrap() {
        Value::Array(v) => {
            assert_eq!(v[0], Value::Uint32(2));
            assert_eq!(v[1].as_array().unwrap().len(), 2);
        }
        other => panic!("{other:?}"),
    }

    // A member can be updated on its own, as an ungrouped set.
    let wait30 = || vec![u32p("timeoutSeconds", 30)];
    f.expect_true(&a, "updateMasterToShadow", vec![]).await;
    f.expect_true(&a, "waitForCompletion", wait30()).await;
    // While the group is locked, member-level changes are refused, naming
    // the group and the lock; reads and waits still work.
    f.expect_true(&gp, "lock", vec![]).await;
    for m in ["updateMasterToShadow", "abort", "suspend", "resume"] {
        let e = f.call(&a, m, vec![]).await.unwrap_err();
        assert!(
            e.description.contains("nightly") && e.description.contains("locked"),
            "{m}: {}",
            e.description
        );
    }
    assert!(f.call(&a, "getPercentCompleted", vec![]).await.is_ok());
    f.expect_true(&a, "waitForCompletion", vec![u32p("timeoutSeconds", 1)])
        .await;
    f.expect_true(&gp, "unlock", vec![]).await;
    for m in ["updateMasterToShadow", "copyMasterToShadow"] {
        f.expect_true(&gp, m, vec![]).await;
        f.expect_true(&a, "waitForCompletion", wait30()).await;
        f.expect_true(&b, "waitForCompletion", wait30()).await;
    }
    assert!(
        matches!(f.call(&gp, "getPercentCompleted", vec![]).await.unwrap(), Value::Real32(p) if p == 100.0)
    );
    for m in ["abort", "suspend", "resume", "lock", "unlock"] {
        assert_eq!(
            f.call(&gp, m, vec![]).await.unwrap(),
            Value::Boolean(true),
            "{m}"
        );
    }

    // Associations, both directions.
    let assoc_class = class("DS_IIGroupSetAssoc");
    let all = f
        .assocs
        .enumerate_instances(&f.ctx, &assoc_class)
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    let from_group = f
        .assocs
        .references(&f.ctx, &assoc_class, &gp, Some("groups"))
        .await
        .unwrap();
    assert_eq!(from_group.len(), 2);
    let from_group_wrong_role = f
        .assocs
        .references(&f.ctx, &assoc_class, &gp, Some("groupedby"))
        .await
        .unwrap();
    assert!(from_group_wrong_role.is_empty());
    let from_set = f
        .assocs
        .references(&f.ctx, &assoc_class, &a, None)
        .await
        .unwrap();
    assert_eq!(from_set.len(), 1);
    let one = f
        .assocs
        .get_instance(&f.ctx, &assoc_class, from_set[0].path.as_ref().unwrap())
        .await
        .unwrap();
    assert_eq!(one, from_set[0]);
    let none = f
        .assocs
        .references(&f.ctx, &assoc_class, &ind, None)
        .await
        .unwrap();
    assert!(none.is_empty());

    // Member in the group shows it.
    assert_eq!(
        f.get(&a).await.unwrap().get_str("groupName"),
        Some("nightly")
    );

    // Remove, rename, delete (members stay enabled).
    assert_eq!(
        f.call(&gp, "removeIISet", vec![refp("set", &b)])
            .await
            .unwrap(),
        Value::Boolean(true)
    );
    assert_eq!(
        code(f.call(&gp, "removeIISet", vec![refp("set", &b)]).await),
        StatusCode::Failed
    );
    assert_eq!(
        f.call(
            &gp,
            "rename",
            vec![ParamValue::new("newName", CimType::String, s("weekly"))]
        )
        .await
        .unwrap(),
        Value::Boolean(true)
    );
    assert_eq!(
        code(
            f.groups
                .get_instance(&f.ctx, &class("DS_IIGroup"), &gp)
                .await
        ),
        StatusCode::NotFound
    );
    let wp = ObjectPath::class(None, "DS_IIGroup").with_key("groupName", s("weekly"));
    assert_eq!(
        f.get(&a).await.unwrap().get_str("groupName"),
        Some("weekly")
    );
    f.groups
        .delete_instance(&f.ctx, &class("DS_IIGroup"), &wp)
        .await
        .unwrap();
    assert_eq!(f.get(&a).await.unwrap().get_str("groupName"), Some(""));
    assert!(f
        .groups
        .enumerate_instances(&f.ctx, &class("DS_IIGroup"))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn overflow_volumes() {
    let f = Fixture::new();
    let ov = f.volume("ov", 4 * MIB);
    let inst = Instance::new("DS_IIOverflowVol").with(
        "overflowVolPath",
        CimType::String,
        Value::String(ov.clone()),
    );
    let op = f
        .overflows
        .create_instance(&f.ctx, &class("DS_IIOverflowVol"), inst)
        .await
        .unwrap();
    let got = f
        .overflows
        .get_instance(&f.ctx, &class("DS_IIOverflowVol"), &op)
        .await
        .unwrap();
    assert_eq!(got.get("capacity"), Some(&Value::Uint64(4 * MIB)));
    assert_eq!(got.get("attachedSets"), Some(&Value::Uint32(0)));
    assert_eq!(got.get("totalAttachedSets"), Some(&Value::Uint32(0)));
    // Only the header chunk so far, in both counts.
    assert_eq!(got.get("usedBytes"), Some(&Value::Uint64(CHUNK)));
    assert_eq!(got.get("highWaterBytes"), Some(&Value::Uint64(CHUNK)));

    // A compact dependent set (shadow smaller than master).
    let m = f.volume("cm", 4 * MIB);
    let sh = f.volume("cs", MIB);
    let bm = f.volume("cb", 256 * 1024);
    let inst = Instance::new("DS_IISet")
        .with("masterVolume", CimType::String, Value::String(m.clone()))
        .with("shadowVolume", CimType::String, Value::String(sh))
        .with("bitmapVolume", CimType::String, Value::String(bm))
        .with("setType", CimType::String, s("dependent"));
    let sp = f
        .sets
        .create_instance(&f.ctx, &class("DS_IISet"), inst)
        .await
        .unwrap();
    assert_eq!(
        f.call(
            &sp,
            "attachIIOverflowVolume",
            vec![ParamValue::new(
                "overflowVol",
                CimType::String,
                Value::String(ov.clone())
            )]
        )
        .await
        .unwrap(),
        Value::Boolean(true)
    );
    assert_eq!(
        f.call(&sp, "getOverflowVolume", vec![]).await.unwrap(),
        Value::String(ov.clone())
    );
    match f.call(&op, "getIISets", vec![]).await.unwrap() {
        Value::Array(v) => assert_eq!(v[0], Value::Uint32(1)),
        other => panic!("{other:?}"),
    }
    // (attachedSets, totalAttachedSets) as GetInstance reports them.
    let attached = || async {
        let i = f
            .overflows
            .get_instance(&f.ctx, &class("DS_IIOverflowVol"), &op)
            .await
            .unwrap();
        let n = |p: &str| match i.get(p) {
            Some(Value::Uint32(n)) => *n,
            other => panic!("{p}: {other:?}"),
        };
        (n("attachedSets"), n("totalAttachedSets"))
    };
    assert_eq!(attached().await, (1, 1));
    let ac = class("DS_IISetOverflowVolAssoc");
    assert_eq!(
        f.assocs
            .references(&f.ctx, &ac, &op, Some("ownedby"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        f.assocs
            .references(&f.ctx, &ac, &sp, Some("owns"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        f.assocs
            .enumerate_instances(&f.ctx, &ac)
            .await
            .unwrap()
            .len(),
        1
    );

    // Spill: the 1 MiB shadow holds 32 chunks, the next 3 go to the overflow.
    let md = f.engine.device(Path::new(&m)).unwrap();
    for c in 0..35u64 {
        md.write_at(&[0x5A; 512], c * CHUNK, false).unwrap();
    }
    drop(md);
    let ov_bytes = |i: &Instance, name: &str| match i.get(name) {
        Some(Value::Uint64(n)) => *n,
        other => panic!("{name}: {other:?}"),
    };
    let got = f
        .overflows
        .get_instance(&f.ctx, &class("DS_IIOverflowVol"), &op)
        .await
        .unwrap();
    assert_eq!(ov_bytes(&got, "usedBytes"), 4 * CHUNK);
    assert_eq!(ov_bytes(&got, "highWaterBytes"), 4 * CHUNK);
    // A new point in time frees the chunks; the high-water mark stays.
    assert_eq!(
        f.call(&sp, "updateMasterToShadow", vec![]).await.unwrap(),
        Value::Boolean(true)
    );
    assert_eq!(
        f.call(
            &sp,
            "waitForCompletion",
            vec![ParamValue::new(
                "timeoutSeconds",
                CimType::Uint32,
                Value::Uint32(60)
            )]
        )
        .await
        .unwrap(),
        Value::Boolean(true)
    );
    let listed = f
        .overflows
        .enumerate_instances(&f.ctx, &class("DS_IIOverflowVol"))
        .await
        .unwrap();
    assert_eq!(ov_bytes(&listed[0], "usedBytes"), CHUNK);
    assert_eq!(ov_bytes(&listed[0], "highWaterBytes"), 4 * CHUNK);

    // Attached: delete refused.
    assert_eq!(
        code(
            f.overflows
                .delete_instance(&f.ctx, &class("DS_IIOverflowVol"), &op)
                .await
        ),
        StatusCode::Failed
    );
    assert_eq!(
        f.call(&sp, "detachOverflowVolume", vec![]).await.unwrap(),
        Value::Boolean(true)
    );
    assert_eq!(attached().await, (0, 1), "none attached now, one ever");
    f.overflows
        .delete_instance(&f.ctx, &class("DS_IIOverflowVol"), &op)
        .await
        .unwrap();
    assert!(f
        .overflows
        .enumerate_instances(&f.ctx, &class("DS_IIOverflowVol"))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn volumes_and_roots() {
    let f = Fixture::new();
    let m = f.volume("vm", MIB);
    f.enable("dependent", "vm", "vs", "vb").await.unwrap();
    f.volume("free", 2 * MIB);
    let vols = f
        .volumes
        .enumerate_instances(&f.ctx, &class("DS_Volume"))
        .await
        .unwrap();
    let find = |name: &str| {
        vols.iter()
            .find(|v| v.get_str("path").is_some_and(|p| p.ends_with(name)))
            .cloned()
    };
    let vm = find("/vm").expect("master listed");
    assert!(
        vm.get_str("usedBy").unwrap().starts_with("master of"),
        "{vm:?}"
    );
    let free = find("/free").expect("free volume listed");
    assert_eq!(free.get_str("usedBy"), Some(""));
    assert_eq!(free.get("capacity"), Some(&Value::Uint64(2 * MIB)));

    let get = |p: &str| {
        let path = ObjectPath::class(None, "DS_Volume").with_key("path", s(p));
        let v = &f.volumes;
        let ctx = &f.ctx;
        async move { v.get_instance(ctx, &class("DS_Volume"), &path).await }
    };
    assert!(get(&m).await.is_ok());
    assert_eq!(code(get("/etc/hostname").await), StatusCode::AccessDenied);
    // Missing, and outside: still denied, so nothing is learnt about what
    // exists outside the roots.
    assert_eq!(
        code(get("/no-such-dir/vol").await),
        StatusCode::AccessDenied
    );
    let escape = format!("{}/../../etc/hostname", f.root.display());
    assert_eq!(code(get(&escape).await), StatusCode::AccessDenied);
    let link = f.root.join("link");
    std::os::unix::fs::symlink("/etc/hostname", &link).unwrap();
    assert_eq!(
        code(get(&link.to_string_lossy()).await),
        StatusCode::AccessDenied
    );
    assert_eq!(
        code(get(&format!("{}/absent", f.root.display())).await),
        StatusCode::NotFound
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn restart_keeps_the_cim_view() {
    let f = Fixture::new();
    f.enable("independent", "rm", "rs", "rb").await.unwrap();
    let dep = f.enable("dependent", "dm", "ds", "db").await.unwrap();
    let g = Instance::new("DS_IIGroup")
        .with("groupName", CimType::String, s("g1"))
        .with("groupType", CimType::String, s("dependent"));
    let gp = f
        .groups
        .create_instance(&f.ctx, &class("DS_IIGroup"), g)
        .await
        .unwrap();
    f.call(&gp, "addIISet", vec![refp("set", &dep)])
        .await
        .unwrap();
    f.call(
        &dep,
        "setName",
        vec![ParamValue::new("name", CimType::String, s("dep-set"))],
    )
    .await
    .unwrap();
    f.engine
        .wait(Path::new(&*f.volume("rs", MIB)), None)
        .unwrap();

    let before = f
        .sets
        .enumerate_instances(&f.ctx, &class("DS_IISet"))
        .await
        .unwrap();
    let groups_before = f
        .groups
        .enumerate_instances(&f.ctx, &class("DS_IIGroup"))
        .await
        .unwrap();
    let f = f.reopen();
    let after = f
        .sets
        .enumerate_instances(&f.ctx, &class("DS_IISet"))
        .await
        .unwrap();
    let groups_after = f
        .groups
        .enumerate_instances(&f.ctx, &class("DS_IIGroup"))
        .await
        .unwrap();
    let paths = |v: &[Instance]| {
        v.iter()
            .map(|i| i.path.clone().unwrap().canonical_key())
            .collect::<Vec<_>>()
    };
    assert_eq!(paths(&before), paths(&after));
    assert_eq!(groups_before, groups_after);
    for (b, a) in before.iter().zip(&after) {
        for p in [
            "masterVolume",
            "bitmapVolume",
            "setName",
            "groupName",
            "copyUnits",
            "copyDelay",
            "masterCapacity",
        ] {
            assert_eq!(b.get(p), a.get(p), "{p}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn engine_events_become_indications() {
    let f = Fixture::new();
    let rx = f.engine.subscribe();
    let mut state = providers::indication::State::new(f.engine.clone(), Vec::new());
    state.prime();
    // Events are handled after each step, as the forwarder thread would.
    let drain = |state: &mut providers::indication::State<Vec<Instance>>| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        while let Ok(ev) = rx.try_recv() {
            state.handle(ev);
        }
    };
    let path = f.enable("independent", "im", "is", "ib").await.unwrap();
    drain(&mut state);
    f.call(&path, "waitForCompletion", vec![u32p("timeoutSeconds", 30)])
        .await
        .unwrap();
    drain(&mut state);
    f.sets
        .delete_instance(&f.ctx, &class("DS_IISet"), &path)
        .await
        .unwrap();
    drain(&mut state);
    let got = state.sink();
    let classes: Vec<String> = got
        .iter()
        .map(|i| i.class_name.as_str().to_owned())
        .collect();
    assert_eq!(
        classes.first().map(String::as_str),
        Some("CIM_InstCreation"),
        "{classes:?}"
    );
    assert_eq!(
        classes.last().map(String::as_str),
        Some("CIM_InstDeletion"),
        "{classes:?}"
    );
    let del = got.last().unwrap();
    match del.get("SourceInstance") {
        Some(Value::Instance(i)) => {
            assert_eq!(i.get_str("shadowVolume"), path.key_str("shadowVolume"))
        }
        other => panic!("{other:?}"),
    }
    // The full copy's end is a modification with a previous instance.
    assert!(
        got.iter().any(|i| i.class_name.is("CIM_InstModification") && i.get("PreviousInstance").is_some()),
        "{classes:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn set_errors_raise_one_alert() {
    let f = Fixture::new();
    let path = f.enable("dependent", "em", "es", "eb").await.unwrap();
    let shadow = PathBuf::from(path.key_str("shadowVolume").unwrap());
    let mut state = providers::indication::State::new(f.engine.clone(), Vec::new());
    state.prime();
    for _ in 0..2 {
        state.handle(native::EngineEvent::SetError {
            shadow: shadow.clone(),
            reason: "master volume I/O error".into(),
        });
    }
    let alerts: Vec<&Instance> = state
        .sink()
        .iter()
        .filter(|i| i.class_name.is("CIM_AlertIndication"))
        .collect();
    assert_eq!(alerts.len(), 1, "{:?}", state.sink());
    let a = alerts[0];
    assert!(a
        .get_str("Description")
        .unwrap()
        .contains(&*shadow.to_string_lossy()));
    assert_eq!(
        a.get_str("ProbableCauseDescription"),
        Some("master volume I/O error")
    );
    assert!(a
        .get_str("AlertingManagedElement")
        .unwrap()
        .contains("DS_IISet"));
}
