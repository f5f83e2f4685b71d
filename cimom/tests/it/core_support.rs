//! Helpers shared by the object manager core tests (repo_*, dispatch_*): one
//! function per way of opening the object manager or its repository and of
//! running an operation, so that an API change touches one place.
#![allow(dead_code)]

use cim::ops::{IMethodCall, Operation, Response};
use cim::{
    CimError, CimName, CimType, Class, Instance, ObjectPath, Property, Qualifier, StatusCode, Value,
};
use cimom::provider::ProviderRegistry;
use cimom::{Cimom, CimomOptions, RequestCtx};
use std::sync::Arc;

pub fn open(dir: &std::path::Path) -> Cimom {
    Cimom::open(dir, ProviderRegistry::new(), &[]).expect("open")
}

/// The object manager with `bundled` MOF compiled in on first start.
pub fn open_bundled(dir: &std::path::Path, bundled: &[cimom::BundledMof]) -> Cimom {
    Cimom::open(dir, ProviderRegistry::new(), bundled).expect("open")
}

/// The repository file of state directory `dir`, opened on its own.
pub fn open_repo(dir: &std::path::Path) -> cimom::repository::Repository {
    cimom::repository::Repository::open(&dir.join(cimom::repository::FILE_NAME))
        .expect("open repository")
}

pub fn open_with(dir: &std::path::Path, options: CimomOptions) -> Cimom {
    Cimom::open_with_options(dir, ProviderRegistry::new(), &[], options).expect("open")
}

pub fn ctx() -> RequestCtx {
    RequestCtx {
        user: None,
        message_id: "1".into(),
        waiting: Default::default(),
    }
}

pub async fn op(c: &Cimom, ns: &str, operation: Operation) -> Result<Response, CimError> {
    c.handle_imethod(
        &ctx(),
        IMethodCall {
            namespace: ns.into(),
            operation,
        },
    )
    .await
}

pub async fn ok(c: &Cimom, ns: &str, operation: Operation) -> Response {
    let name = operation.name();
    match op(c, ns, operation).await {
        Ok(r) => r,
        Err(e) => panic!("{name} failed: {e}"),
    }
}

pub async fn err(c: &Cimom, ns: &str, operation: Operation) -> StatusCode {
    let name = operation.name();
    match op(c, ns, operation).await {
        Ok(r) => panic!("{name} succeeded unexpectedly: {r:?}"),
        Err(e) => e.status,
    }
}

pub fn key(name: &str, ty: CimType) -> Property {
    let mut p = Property::new(name, ty, Value::Null);
    p.qualifiers.push(Qualifier::flag("Key"));
    p
}

pub fn prop(name: &str, ty: CimType) -> Property {
    Property::new(name, ty, Value::Null)
}

pub fn class(name: &str, sup: Option<&str>, props: Vec<Property>) -> Class {
    let mut c = Class::new(name, sup.map(CimName::from));
    c.properties = props;
    c
}

pub fn s(v: &str) -> Value {
    Value::String(v.into())
}

pub fn inst(class: &str, props: &[(&str, CimType, Value)]) -> Instance {
    let mut i = Instance::new(class);
    for (n, t, v) in props {
        i.set(n, t.clone(), v.clone());
    }
    i
}

pub fn path(class: &str, keys: &[(&str, Value)]) -> ObjectPath {
    let mut p = ObjectPath::class(None, class);
    for (n, v) in keys {
        p = p.with_key(*n, v.clone());
    }
    p
}

pub fn get_class(name: &str) -> Operation {
    Operation::GetClass {
        class_name: name.into(),
        local_only: false,
        include_qualifiers: true,
        include_class_origin: true,
        property_list: None,
    }
}

pub fn enum_instances(class: &str) -> Operation {
    Operation::EnumerateInstances {
        class_name: class.into(),
        local_only: false,
        deep_inheritance: true,
        include_qualifiers: false,
        include_class_origin: false,
        property_list: None,
    }
}

pub fn get_instance(p: ObjectPath) -> Operation {
    Operation::GetInstance {
        instance_name: p,
        local_only: false,
        include_qualifiers: false,
        include_class_origin: false,
        property_list: None,
    }
}

pub fn named(r: Response) -> Vec<Instance> {
    match r {
        Response::NamedInstances(v) => v,
        Response::SharedNamedInstances(v) => v.into_iter().map(Arc::unwrap_or_clone).collect(),
        other => panic!("expected NamedInstances, got {other:?}"),
    }
}

pub fn paths(r: Response) -> Vec<ObjectPath> {
    match r {
        Response::InstanceNames(v) | Response::ObjectPaths(v) => v,
        other => panic!("expected paths, got {other:?}"),
    }
}

/// A small schema in root/cimv2: T_Base(Id key, Label), T_Sub : T_Base (Extra),
/// T_Link association (A, B refs to T_Base).
pub async fn schema(c: &Cimom) {
    let ns = "root/cimv2";
    let mut base = class(
        "T_Base",
        None,
        vec![
            key("Id", CimType::String),
            prop("Label", CimType::String),
            prop("Count", CimType::Uint32),
        ],
    );
    base.qualifiers
        .push(Qualifier::new("Description", CimType::String, s("base")));
    ok(c, ns, Operation::CreateClass { new_class: base }).await;
    let sub = class(
        "T_Sub",
        Some("T_Base"),
        vec![prop("Extra", CimType::Boolean)],
    );
    ok(c, ns, Operation::CreateClass { new_class: sub }).await;
    let mut link = class(
        "T_Link",
        None,
        vec![
            key("A", CimType::Reference(Some("T_Base".into()))),
            key("B", CimType::Reference(Some("T_Base".into()))),
        ],
    );
    link.qualifiers.push(Qualifier::flag("Association"));
    ok(c, ns, Operation::CreateClass { new_class: link }).await;
}

pub async fn create(c: &Cimom, ns: &str, i: Instance) -> ObjectPath {
    match ok(c, ns, Operation::CreateInstance { new_instance: i }).await {
        Response::InstanceName(p) => p,
        other => panic!("expected InstanceName, got {other:?}"),
    }
}
