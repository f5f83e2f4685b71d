//! The fixture of the provider tests: every provider over a real
//! `native::Engine` on temporary files, called directly (no HTTP), with a
//! stand-in for the object manager's services that records indications.

pub use cim::ops::ParamValue;
pub use cim::{CimError, CimName, CimType, Class, Instance, ObjectPath, StatusCode, Value};
pub use cimom_provider::{
    AssociationProvider, CimomHandle, CimomServices, InstanceProvider, MethodProvider,
    ProviderContext, ProviderResult,
};
pub use native::{Engine, EngineConfig};
pub use providers::assoc::AssocProvider;
pub use providers::backend::Backend;
pub use providers::group::GroupProvider;
pub use providers::overflow::OverflowProvider;
pub use providers::set::SetProvider;
pub use providers::volume::VolumeProvider;
pub use std::path::{Path, PathBuf};
pub use std::sync::{Arc, Mutex};

pub const MIB: u64 = 1 << 20;
pub const CHUNK: u64 = native::CHUNK_SIZE;

#[derive(Default)]
pub struct Services {
    pub published: Mutex<Vec<(String, Instance)>>,
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

pub struct Fixture {
    pub _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub state: PathBuf,
    pub engine: Engine,
    pub ctx: ProviderContext,
    pub sets: SetProvider,
    pub groups: GroupProvider,
    pub overflows: OverflowProvider,
    pub assocs: AssocProvider,
    pub volumes: VolumeProvider,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("volumes");
        std::fs::create_dir_all(&root).unwrap();
        let root = root.canonicalize().unwrap();
        let state = dir.path().join("engine");
        let engine = Engine::open(EngineConfig::new(&state, vec![root.clone()])).unwrap();
        // Services that record the indications published.
        let ctx = ProviderContext {
            namespace: "root/cimv2".into(),
            user: None,
            cimom: CimomHandle::new(Arc::new(Services::default())),
            waiting: Default::default(),
        };
        Fixture::over(dir, root, state, engine, ctx)
    }

    /// Every provider over `engine`, called with `ctx`.
    fn over(
        dir: tempfile::TempDir,
        root: PathBuf,
        state: PathBuf,
        engine: Engine,
        ctx: ProviderContext,
    ) -> Fixture {
        let backend = Backend::new(engine.clone());
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

    pub fn reopen(self) -> Fixture {
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
        Fixture::over(_dir, root, state, engine, ctx)
    }

    pub fn volume(&self, name: &str, size: u64) -> String {
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

    pub async fn enable(
        &self,
        kind: &str,
        m: &str,
        s: &str,
        b: &str,
    ) -> Result<ObjectPath, CimError> {
        let inst = set_instance(
            self.volume(m, MIB),
            self.volume(s, MIB),
            self.volume(b, 64 * 1024),
            kind,
        );
        self.sets
            .create_instance(&self.ctx, &class("DS_IISet"), inst)
            .await
    }

    /// Calls a method that must answer true.
    pub async fn expect_true(&self, target: &ObjectPath, method: &str, params: Vec<ParamValue>) {
        let r = self.call(target, method, params).await;
        assert_eq!(r.unwrap(), Value::Boolean(true), "{method}");
    }

    pub async fn call(
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

    pub async fn get(&self, path: &ObjectPath) -> Result<Instance, CimError> {
        self.sets
            .get_instance(&self.ctx, &class("DS_IISet"), path)
            .await
    }
}

/// A `DS_IISet` to create from its three volumes and its type.
pub fn set_instance(master: String, shadow: String, bitmap: String, kind: &str) -> Instance {
    Instance::new("DS_IISet")
        .with("masterVolume", CimType::String, Value::String(master))
        .with("shadowVolume", CimType::String, Value::String(shadow))
        .with("bitmapVolume", CimType::String, Value::String(bitmap))
        .with("setType", CimType::String, s(kind))
}

pub fn class(name: &str) -> Class {
    Class::new(name, None)
}

pub fn s(v: &str) -> Value {
    Value::String(v.into())
}

pub fn u32p(name: &str, v: u32) -> ParamValue {
    ParamValue::new(name, CimType::Uint32, Value::Uint32(v))
}

pub fn refp(name: &str, p: &ObjectPath) -> ParamValue {
    ParamValue::new(name, CimType::Reference(None), Value::Reference(p.clone()))
}

pub fn code(r: Result<impl std::fmt::Debug, CimError>) -> StatusCode {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.status,
    }
}

/// Hands every engine event received so far to the indication state, as the
/// forwarder thread would (after a moment for the events to arrive).
pub fn drain(
    rx: &std::sync::mpsc::Receiver<native::EngineEvent>,
    state: &mut providers::indication::State<Vec<Instance>>,
) {
    std::thread::sleep(std::time::Duration::from_millis(100));
    while let Ok(ev) = rx.try_recv() {
        state.handle(ev);
    }
}
