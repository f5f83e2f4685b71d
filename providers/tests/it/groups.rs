//! Groups: `DS_IIGroup`, the associations between groups, sets and overflow
//! volumes, and the group precondition of set operations.

use crate::support::*;

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
