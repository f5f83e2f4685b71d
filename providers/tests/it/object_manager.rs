//! The providers inside the object manager: the bundled MOF compiled, the
//! provider names matching the `Provider` qualifiers, methods routed through
//! the dispatcher.

use cim::ops::{MethodCall, ParamValue};
use cim::{CimName, CimType, ObjectPath, StatusCode, Value};
use cimom::{BundledMof, Cimom, RequestCtx};
use native::{Engine, EngineConfig};

fn bundled() -> [BundledMof; 1] {
    [BundledMof {
        namespace: providers::NAMESPACE,
        name: providers::DS_II_MOF_NAME,
        text: providers::DS_II_MOF,
    }]
}

#[tokio::test(flavor = "multi_thread")]
async fn bundled_mof_and_providers_in_the_object_manager() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("volumes");
    std::fs::create_dir_all(&root).unwrap();
    let root = root.canonicalize().unwrap();
    let engine = Engine::open(EngineConfig::new(
        dir.path().join("engine"),
        vec![root.clone()],
    ))
    .unwrap();
    let cimom = Cimom::open(
        &dir.path().join("repo"),
        providers::registry(&engine),
        &bundled(),
    )
    .unwrap();
    let h = cimom.handle();

    // Every class is there with its keys, and names the provider we register.
    let expect = [
        (
            "DS_IISet",
            providers::names::SET,
            vec!["shadowVolume", "setType"],
        ),
        ("DS_IIGroup", providers::names::GROUP, vec!["groupName"]),
        (
            "DS_IIOverflowVol",
            providers::names::OVERFLOW,
            vec!["overflowVolPath"],
        ),
        (
            "DS_IIGroupSetAssoc",
            providers::names::ASSOCIATION,
            vec!["groups", "groupedby"],
        ),
        (
            "DS_IISetOverflowVolAssoc",
            providers::names::ASSOCIATION,
            vec!["owns", "ownedby"],
        ),
        ("DS_Volume", providers::names::VOLUME, vec!["path"]),
    ];
    for (class, provider, keys) in expect {
        let c = h.get_class("root/cimv2", class).unwrap();
        assert_eq!(c.provider(), Some(provider), "{class}");
        let got: Vec<&str> = c.keys().map(|k| k.name.as_str()).collect();
        assert_eq!(got, keys, "{class}");
    }
    let set = h.get_class("root/cimv2", "DS_IISet").unwrap();
    assert_eq!(set.methods.len(), 24);
    let import = set.method("importShadow").unwrap();
    assert!(import.qualifiers.iter().any(|q| q.name.is("Static")));
    let group = h.get_class("root/cimv2", "DS_IIGroup").unwrap();
    let out = &group.method("getIISets").unwrap().parameters[0];
    assert!(out.is_out() && !out.is_in() && out.is_array);
    assert!(h
        .get_class("root/cimv2", "DS_IIGroupSetAssoc")
        .unwrap()
        .is_association());

    // A method through the dispatcher: create a set with the engine, then
    // call getType and a static method on the class path.
    for (n, size) in [("m", 1 << 20), ("s", 1 << 20), ("b", 64 << 10)] {
        std::fs::File::create(root.join(n))
            .unwrap()
            .set_len(size)
            .unwrap();
    }
    let spec = native::SetSpec {
        master: root.join("m"),
        shadow: root.join("s"),
        bitmap: root.join("b"),
        kind: native::SetKind::Dependent,
        name: None,
        group: None,
        overflow: None,
        ..Default::default()
    };
    let info = engine.enable_set(spec).unwrap();
    let target = providers::convert::set_path(&info, Some("root/cimv2"));
    let r = cimom
        .handle_method(
            &RequestCtx::default(),
            MethodCall {
                namespace: "root/cimv2".into(),
                target,
                method: CimName::new("getType"),
                params: vec![],
            },
        )
        .await
        .unwrap();
    assert_eq!(r.return_value, Value::String("dependent".into()));
    let e = cimom
        .handle_method(
            &RequestCtx::default(),
            MethodCall {
                namespace: "root/cimv2".into(),
                target: ObjectPath::class(Some("root/cimv2"), "DS_IISet"),
                method: CimName::new("importShadow"),
                params: vec![
                    ParamValue::new(
                        "shadowVolume",
                        CimType::String,
                        Value::String(info.shadow.display().to_string()),
                    ),
                    ParamValue::new(
                        "bitmapVolume",
                        CimType::String,
                        Value::String("/outside/bitmap".into()),
                    ),
                ],
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.status, StatusCode::AccessDenied, "{e}");
}
