//! Sets: the life cycle and methods of `DS_IISet`, create errors and the
//! rules of ModifyInstance.

use crate::support::*;

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
    let inst = set_instance(
        "/etc/hostname".into(),
        f.volume("s", MIB),
        f.volume("b", 64 * 1024),
        "dependent",
    );
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
    let inst = set_instance(
        sneaky,
        f.volume("s", MIB),
        f.volume("b", 64 * 1024),
        "dependent",
    );
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
