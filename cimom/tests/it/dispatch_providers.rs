//! Provider routing: instance, method and association providers named by
//! the `Provider` qualifier (inherited by subclasses), merged deep
//! enumerations, a panicking and a slow provider.
use crate::core_support::*;
use async_trait::async_trait;
use cim::ops::{MethodCall, MethodResult, Operation, ParamValue, Response};
use cim::{CimError, CimName, CimType, Class, Instance, ObjectPath, Qualifier, StatusCode, Value};
use cimom::provider::*;
use cimom::{Cimom, CimomOptions};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const NS: &str = "root/cimv2";

/// Serves P_Thing (and subclasses) from memory; P_Bad panics; P_Slow sleeps.
#[derive(Default)]
struct Things {
    items: Mutex<Vec<Instance>>,
}

fn thing(class: &str, name: &str) -> Instance {
    let mut i = Instance::new(class)
        .with("Name", CimType::String, s(name))
        .with("Size", CimType::Uint64, Value::Uint64(1));
    i.path = Some(path(class, &[("Name", s(name))]));
    i
}

#[async_trait]
impl InstanceProvider for Things {
    async fn enumerate_instances(
        &self,
        _ctx: &ProviderContext,
        class: &Class,
    ) -> ProviderResult<Vec<Instance>> {
        if class.name.is("P_Bad") {
            panic!("boom");
        }
        if class.name.is("P_Slow") {
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        Ok(self
            .items
            .lock()
            .unwrap()
            .iter()
            .filter(|i| i.class_name == class.name)
            .cloned()
            .collect())
    }
    async fn create_instance(
        &self,
        _ctx: &ProviderContext,
        class: &Class,
        inst: Instance,
    ) -> ProviderResult<ObjectPath> {
        let name = inst
            .get_str("Name")
            .ok_or_else(|| CimError::invalid_parameter("Name is required"))?
            .to_owned();
        let t = thing(class.name.as_str(), &name);
        let p = t.path.clone().unwrap();
        self.items.lock().unwrap().push(t);
        Ok(p)
    }
    async fn delete_instance(
        &self,
        _ctx: &ProviderContext,
        _class: &Class,
        path: &ObjectPath,
    ) -> ProviderResult<()> {
        let mut items = self.items.lock().unwrap();
        let before = items.len();
        items.retain(|i| i.path.as_ref().unwrap().local() != path.local());
        if items.len() == before {
            return Err(CimError::not_found(format!("no {path}")));
        }
        Ok(())
    }
}

#[async_trait]
impl MethodProvider for Things {
    async fn invoke_method(
        &self,
        ctx: &ProviderContext,
        class: &Class,
        target: &ObjectPath,
        method: &CimName,
        params: Vec<ParamValue>,
    ) -> ProviderResult<MethodResult> {
        assert_eq!(ctx.namespace, "root/cimv2");
        assert!(ctx.cimom.get_class(NS, "P_Thing").is_ok());
        if method.is("Nap") {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        if method.is("Fail") {
            return Err(CimError::new(StatusCode::AccessDenied, "not allowed"));
        }
        let n = params
            .iter()
            .find(|p| p.name.is("N"))
            .and_then(|p| p.value.as_u64())
            .unwrap_or(0);
        Ok(MethodResult {
            return_value: Value::String(format!("{}:{}:{}", class.name, target.keys.len(), n * 2)),
            return_type: Some(CimType::String),
            out_params: vec![],
        })
    }
}

/// P_Owns associates P_Thing instances: every thing is owned by "root".
struct Owns;

#[async_trait]
impl AssociationProvider for Owns {
    async fn references(
        &self,
        _ctx: &ProviderContext,
        assoc: &Class,
        object: &ObjectPath,
        _role: Option<&str>,
    ) -> ProviderResult<Vec<Instance>> {
        let root = path("P_Thing", &[("Name", s("root"))]);
        let other = if object.key_str("Name") == Some("root") {
            path("P_Thing", &[("Name", s("leaf"))])
        } else {
            object.local()
        };
        let mut i = Instance::new(assoc.name.clone())
            .with(
                "Owner",
                CimType::Reference(None),
                Value::Reference(root.clone()),
            )
            .with(
                "Owned",
                CimType::Reference(None),
                Value::Reference(other.clone()),
            );
        i.path = Some(path(
            assoc.name.as_str(),
            &[
                ("Owner", Value::Reference(root)),
                ("Owned", Value::Reference(other)),
            ],
        ));
        Ok(vec![i])
    }
}

async fn setup(timeout: Duration) -> (tempfile::TempDir, Cimom, Arc<Things>) {
    setup_with(CimomOptions {
        provider_timeout: timeout,
        ..Default::default()
    })
    .await
}

async fn setup_with(options: CimomOptions) -> (tempfile::TempDir, Cimom, Arc<Things>) {
    let dir = tempfile::tempdir().unwrap();
    let c = open_with(dir.path(), options);
    let prov = |name: &str| Qualifier::new("Provider", CimType::String, s(name));
    let mut base = class(
        "P_Thing",
        None,
        vec![key("Name", CimType::String), prop("Size", CimType::Uint64)],
    );
    base.qualifiers.push(prov("Things"));
    base.methods.push(cim::Method {
        name: "Double".into(),
        return_type: CimType::String,
        parameters: vec![cim::Parameter {
            name: "N".into(),
            ty: CimType::Uint32,
            is_array: false,
            array_size: None,
            qualifiers: vec![],
        }],
        qualifiers: vec![Qualifier::flag("Static")],
        class_origin: None,
        propagated: false,
    });
    base.methods.push(cim::Method {
        name: "Nap".into(),
        return_type: CimType::String,
        parameters: vec![],
        qualifiers: vec![Qualifier::flag("Static")],
        class_origin: None,
        propagated: false,
    });
    base.methods.push(cim::Method {
        name: "Fail".into(),
        return_type: CimType::Uint32,
        parameters: vec![],
        qualifiers: vec![],
        class_origin: None,
        propagated: false,
    });
    ok(&c, NS, Operation::CreateClass { new_class: base }).await;
    // Subclass inherits the provider.
    ok(
        &c,
        NS,
        Operation::CreateClass {
            new_class: class("P_Big", Some("P_Thing"), vec![]),
        },
    )
    .await;
    let mut bad = class("P_Bad", Some("P_Thing"), vec![]);
    bad.qualifiers.push(prov("Things"));
    ok(&c, NS, Operation::CreateClass { new_class: bad }).await;
    ok(
        &c,
        NS,
        Operation::CreateClass {
            new_class: class("P_Slow", None, vec![key("Name", CimType::String)]),
        },
    )
    .await;
    let mut slow = class("P_Slow", None, vec![key("Name", CimType::String)]);
    slow.qualifiers.push(prov("Things"));
    ok(
        &c,
        NS,
        Operation::ModifyClass {
            modified_class: slow,
        },
    )
    .await;
    let mut owns = class(
        "P_Owns",
        None,
        vec![
            key("Owner", CimType::Reference(Some("P_Thing".into()))),
            key("Owned", CimType::Reference(Some("P_Thing".into()))),
        ],
    );
    owns.qualifiers.push(Qualifier::flag("Association"));
    owns.qualifiers.push(prov("OwnsProvider"));
    ok(&c, NS, Operation::CreateClass { new_class: owns }).await;
    let mut unregistered = class("P_Orphan", None, vec![key("Name", CimType::String)]);
    unregistered.qualifiers.push(prov("NobodyHome"));
    ok(
        &c,
        NS,
        Operation::CreateClass {
            new_class: unregistered,
        },
    )
    .await;

    let things = Arc::new(Things::default());
    let mut reg = ProviderRegistry::new();
    reg.register(
        "Things",
        ProviderEntry {
            instance: Some(things.clone()),
            method: Some(things.clone()),
            association: None,
        },
    );
    c.set_providers(reg);
    c.register_provider(
        "ownsprovider",
        ProviderEntry {
            instance: None,
            method: None,
            association: Some(Arc::new(Owns)),
        },
    );
    (dir, c, things)
}

#[tokio::test]
async fn instances_route_to_providers_and_merge_subclasses() {
    let (_d, c, things) = setup(Duration::from_secs(10)).await;
    create(
        &c,
        NS,
        inst("P_Thing", &[("Name", CimType::String, s("a"))]),
    )
    .await;
    let p = create(&c, NS, inst("P_Big", &[("Name", CimType::String, s("b"))])).await;
    assert_eq!(p.namespace.as_deref(), Some("root/cimv2"));
    assert_eq!(things.items.lock().unwrap().len(), 2);
    // Nothing went to the repository.
    assert!(c
        .repository()
        .instances_of("root/cimv2", "P_Thing")
        .unwrap()
        .is_empty());
    // A deep enumeration of P_Thing visits P_Big (same provider) and P_Bad (panics).
    let e = op(&c, NS, enum_instances("P_Big")).await.unwrap();
    assert_eq!(named(e).len(), 1);
    let e = op(&c, NS, enum_instances("P_Thing")).await.unwrap_err();
    assert_eq!(e.status, StatusCode::Failed);
    assert!(
        e.description.contains("Things") && e.description.contains("panicked"),
        "{e}"
    );
    // The object manager keeps serving after the panic.
    let Response::Instance(i) = ok(&c, NS, get_instance(path("P_Big", &[("Name", s("b"))]))).await
    else {
        panic!()
    };
    assert_eq!(i.get("Size"), Some(&Value::Uint64(1)));
    assert_eq!(
        err(&c, NS, get_instance(path("P_Big", &[("Name", s("zz"))]))).await,
        StatusCode::NotFound
    );
    assert_eq!(
        err(
            &c,
            NS,
            Operation::CreateInstance {
                new_instance: inst("P_Big", &[("Nope", CimType::String, s("x"))])
            }
        )
        .await,
        StatusCode::NoSuchProperty
    );
    ok(&c, NS, Operation::DeleteInstance { instance_name: p }).await;
    // ModifyInstance is not implemented by the provider: NOT_SUPPORTED from the trait default.
    let mut m = inst("P_Thing", &[("Size", CimType::Uint64, Value::Uint64(3))]);
    m.path = Some(path("P_Thing", &[("Name", s("a"))]));
    assert_eq!(
        err(
            &c,
            NS,
            Operation::ModifyInstance {
                modified_instance: m,
                include_qualifiers: false,
                property_list: None
            }
        )
        .await,
        StatusCode::NotSupported
    );
    // A class naming an unregistered provider fails clearly.
    let e = op(&c, NS, enum_instances("P_Orphan")).await.unwrap_err();
    assert_eq!(e.status, StatusCode::Failed);
    assert!(e.description.contains("NobodyHome"));
}

#[tokio::test]
async fn slow_provider_times_out_without_blocking_others() {
    let (_d, c, _t) = setup(Duration::from_millis(300)).await;
    let slow = {
        let c = c.clone();
        tokio::spawn(async move { op(&c, NS, enum_instances("P_Slow")).await })
    };
    // Meanwhile another request completes promptly.
    let t0 = std::time::Instant::now();
    ok(&c, NS, enum_instances("P_Big")).await;
    assert!(t0.elapsed() < Duration::from_millis(250));
    let e = slow.await.unwrap().unwrap_err();
    assert_eq!(e.status, StatusCode::Failed);
    assert!(e.description.contains("did not finish"), "{e}");
    // Extrinsic methods have no time limit by default (waitForCompletion).
    let nap = MethodCall {
        namespace: NS.into(),
        target: path("P_Thing", &[]),
        method: "Nap".into(),
        params: vec![],
    };
    c.handle_method(&ctx(), nap.clone()).await.unwrap();
}

#[tokio::test]
async fn method_time_limit_when_configured() {
    let (_d, c, _t) = setup_with(CimomOptions {
        method_timeout: Some(Duration::from_millis(100)),
        ..Default::default()
    })
    .await;
    let nap = MethodCall {
        namespace: NS.into(),
        target: path("P_Thing", &[]),
        method: "Nap".into(),
        params: vec![],
    };
    let e = c.handle_method(&ctx(), nap).await.unwrap_err();
    assert!(e.description.contains("did not finish InvokeMethod"), "{e}");
}

#[tokio::test]
async fn extrinsic_methods() {
    let (_d, c, _t) = setup(Duration::from_secs(10)).await;
    let call = |target: ObjectPath, method: &str, params: Vec<ParamValue>| MethodCall {
        namespace: NS.into(),
        target,
        method: method.into(),
        params,
    };
    let r = c
        .handle_method(
            &ctx(),
            call(
                path("P_Big", &[]),
                "double",
                vec![ParamValue::new("n", CimType::Uint32, Value::Uint32(21))],
            ),
        )
        .await
        .unwrap();
    assert_eq!(r.return_value, s("P_Big:0:42"));
    let e = c
        .handle_method(&ctx(), call(path("P_Big", &[]), "Nope", vec![]))
        .await
        .unwrap_err();
    assert_eq!(e.status, StatusCode::MethodNotFound);
    let e = c
        .handle_method(
            &ctx(),
            call(
                path("P_Big", &[]),
                "Double",
                vec![ParamValue::new("Bogus", CimType::Uint32, Value::Uint32(1))],
            ),
        )
        .await
        .unwrap_err();
    assert_eq!(e.status, StatusCode::InvalidParameter);
    // Fail is not static: needs an instance path; then the provider's error passes through.
    let e = c
        .handle_method(&ctx(), call(path("P_Big", &[]), "Fail", vec![]))
        .await
        .unwrap_err();
    assert_eq!(e.status, StatusCode::InvalidParameter);
    let e = c
        .handle_method(
            &ctx(),
            call(path("P_Big", &[("Name", s("x"))]), "Fail", vec![]),
        )
        .await
        .unwrap_err();
    assert_eq!(e.status, StatusCode::AccessDenied);
    let e = c
        .handle_method(&ctx(), call(path("P_Nope", &[]), "X", vec![]))
        .await
        .unwrap_err();
    assert_eq!(e.status, StatusCode::InvalidClass);
    let mut bad_ns = call(path("P_Big", &[]), "Double", vec![]);
    bad_ns.namespace = "root/none".into();
    assert_eq!(
        c.handle_method(&ctx(), bad_ns).await.unwrap_err().status,
        StatusCode::InvalidNamespace
    );
}

#[tokio::test]
async fn associations_from_an_association_provider() {
    let (_d, c, _t) = setup(Duration::from_secs(10)).await;
    create(
        &c,
        NS,
        inst("P_Thing", &[("Name", CimType::String, s("root"))]),
    )
    .await;
    create(
        &c,
        NS,
        inst("P_Thing", &[("Name", CimType::String, s("leaf"))]),
    )
    .await;
    let leaf = path("P_Thing", &[("Name", s("leaf"))]);
    let names = paths(
        ok(
            &c,
            NS,
            Operation::AssociatorNames {
                object_name: leaf.clone(),
                assoc_class: None,
                result_class: None,
                role: Some("Owned".into()),
                result_role: None,
            },
        )
        .await,
    );
    assert_eq!(names.len(), 1);
    assert_eq!(names[0].key_str("Name"), Some("root"));
    let Response::ObjectsWithPath(objs) = ok(
        &c,
        NS,
        Operation::Associators {
            object_name: leaf.clone(),
            assoc_class: Some("P_Owns".into()),
            result_class: Some("P_Thing".into()),
            role: None,
            result_role: Some("Owner".into()),
            include_qualifiers: false,
            include_class_origin: false,
            property_list: None,
        },
    )
    .await
    else {
        panic!()
    };
    assert_eq!(
        objs.len(),
        1,
        "the far end is fetched from the instance provider"
    );
    // Role filter: leaf is never the Owner.
    let refs = paths(
        ok(
            &c,
            NS,
            Operation::ReferenceNames {
                object_name: leaf.clone(),
                result_class: None,
                role: Some("Owner".into()),
            },
        )
        .await,
    );
    assert!(refs.is_empty());
    let refs = paths(
        ok(
            &c,
            NS,
            Operation::ReferenceNames {
                object_name: leaf,
                result_class: Some("P_Owns".into()),
                role: None,
            },
        )
        .await,
    );
    assert_eq!(refs.len(), 1);
}
