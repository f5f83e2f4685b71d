//! Instance, association and query operations on static (repository)
//! instances through `Cimom::handle_imethod`.
use crate::core_support::*;
use cim::ops::{CimObject, Operation, Response};
use cim::{CimType, StatusCode, Value};

const NS: &str = "root/cimv2";

async fn populated() -> (tempfile::TempDir, cimom::Cimom) {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    schema(&c).await;
    create(
        &c,
        NS,
        inst(
            "T_Base",
            &[
                ("Id", CimType::String, s("b1")),
                ("Count", CimType::Uint32, Value::Uint32(5)),
            ],
        ),
    )
    .await;
    create(
        &c,
        NS,
        inst(
            "T_Sub",
            &[
                ("Id", CimType::String, s("s1")),
                ("Label", CimType::String, s("hello")),
                ("Extra", CimType::Boolean, Value::Boolean(true)),
            ],
        ),
    )
    .await;
    create(
        &c,
        NS,
        inst(
            "T_Link",
            &[
                (
                    "A",
                    CimType::Reference(None),
                    Value::Reference(path("T_Base", &[("Id", s("b1"))])),
                ),
                (
                    "B",
                    CimType::Reference(None),
                    Value::Reference(path("T_Sub", &[("Id", s("s1"))])),
                ),
            ],
        ),
    )
    .await;
    (dir, c)
}

#[tokio::test]
async fn create_get_enumerate() {
    let (_d, c) = populated().await;
    // Values are converted to the declared type; defaults and NULLs are filled in.
    let p = create(
        &c,
        NS,
        inst(
            "T_Base",
            &[
                ("Id", CimType::String, s("b2")),
                ("Count", CimType::Uint8, Value::Uint8(7)),
            ],
        ),
    )
    .await;
    assert_eq!(p.namespace.as_deref(), Some("root/cimv2"));
    let Response::Instance(i) = ok(&c, NS, get_instance(p.clone())).await else {
        panic!()
    };
    assert_eq!(i.get("Count"), Some(&Value::Uint32(7)));
    assert_eq!(i.get("Label"), Some(&Value::Null));
    assert_eq!(
        err(
            &c,
            NS,
            Operation::CreateInstance {
                new_instance: inst("T_Base", &[("Id", CimType::String, s("b2"))])
            }
        )
        .await,
        StatusCode::AlreadyExists
    );
    assert_eq!(
        err(
            &c,
            NS,
            Operation::CreateInstance {
                new_instance: inst("T_Base", &[("Nope", CimType::String, s("x"))])
            }
        )
        .await,
        StatusCode::NoSuchProperty
    );
    assert_eq!(
        err(
            &c,
            NS,
            Operation::CreateInstance {
                new_instance: inst("T_Base", &[("Label", CimType::String, s("x"))])
            }
        )
        .await,
        StatusCode::InvalidParameter
    );
    assert_eq!(
        err(
            &c,
            NS,
            Operation::CreateInstance {
                new_instance: inst(
                    "T_Base",
                    &[
                        ("Id", CimType::String, s("z")),
                        ("Count", CimType::String, s("many"))
                    ]
                )
            }
        )
        .await,
        StatusCode::TypeMismatch
    );
    assert_eq!(
        err(
            &c,
            NS,
            Operation::CreateInstance {
                new_instance: inst("T_Nope", &[])
            }
        )
        .await,
        StatusCode::InvalidClass
    );

    // Deep enumeration of the base includes the subclass; DeepInheritance=false trims its properties.
    let all = named(ok(&c, NS, enum_instances("T_Base")).await);
    assert_eq!(all.len(), 3);
    let sub = all.iter().find(|i| i.class_name.is("T_Sub")).unwrap();
    assert_eq!(sub.get("Extra"), Some(&Value::Boolean(true)));
    assert!(sub.path.as_ref().unwrap().namespace.is_some());
    let shallow = named(
        ok(
            &c,
            NS,
            Operation::EnumerateInstances {
                class_name: "T_Base".into(),
                local_only: false,
                deep_inheritance: false,
                include_qualifiers: false,
                include_class_origin: true,
                property_list: None,
            },
        )
        .await,
    );
    let sub = shallow.iter().find(|i| i.class_name.is("T_Sub")).unwrap();
    assert!(sub.property("Extra").is_none());
    assert_eq!(
        sub.property("Label")
            .unwrap()
            .class_origin
            .as_ref()
            .unwrap()
            .as_str(),
        "T_Base"
    );
    let listed = named(
        ok(
            &c,
            NS,
            Operation::EnumerateInstances {
                class_name: "T_Sub".into(),
                local_only: false,
                deep_inheritance: true,
                include_qualifiers: false,
                include_class_origin: false,
                property_list: Some(vec!["Label".into()]),
            },
        )
        .await,
    );
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].properties.len(), 1);
    let names = paths(
        ok(
            &c,
            NS,
            Operation::EnumerateInstanceNames {
                class_name: "T_Base".into(),
            },
        )
        .await,
    );
    assert_eq!(names.len(), 3);
    assert_eq!(
        err(&c, NS, enum_instances("T_Nope")).await,
        StatusCode::InvalidClass
    );
    assert_eq!(
        err(&c, NS, get_instance(path("T_Base", &[("Id", s("zz"))]))).await,
        StatusCode::NotFound
    );
    assert_eq!(
        err(&c, NS, get_instance(path("T_Nope", &[("Id", s("zz"))]))).await,
        StatusCode::InvalidClass
    );
    // Key lookups ignore name case.
    ok(&c, NS, get_instance(path("t_base", &[("ID", s("b1"))]))).await;
}

#[tokio::test]
async fn modify_delete_property_ops() {
    let (dir, c) = populated().await;
    let p = path("T_Base", &[("Id", s("b1"))]);
    let mut m = inst(
        "T_Base",
        &[
            ("Label", CimType::String, s("new")),
            ("Count", CimType::Uint32, Value::Uint32(9)),
        ],
    );
    m.path = Some(p.clone());
    ok(
        &c,
        NS,
        Operation::ModifyInstance {
            modified_instance: m.clone(),
            include_qualifiers: false,
            property_list: Some(vec!["Label".into()]),
        },
    )
    .await;
    let Response::Instance(i) = ok(&c, NS, get_instance(p.clone())).await else {
        panic!()
    };
    assert_eq!(i.get_str("Label"), Some("new"));
    assert_eq!(
        i.get("Count"),
        Some(&Value::Uint32(5)),
        "not in the property list"
    );
    // Keys cannot change.
    let mut k = inst("T_Base", &[("Id", CimType::String, s("other"))]);
    k.path = Some(p.clone());
    assert_eq!(
        err(
            &c,
            NS,
            Operation::ModifyInstance {
                modified_instance: k,
                include_qualifiers: false,
                property_list: None
            }
        )
        .await,
        StatusCode::InvalidParameter
    );
    let mut missing = m.clone();
    missing.path = Some(path("T_Base", &[("Id", s("nope"))]));
    assert_eq!(
        err(
            &c,
            NS,
            Operation::ModifyInstance {
                modified_instance: missing,
                include_qualifiers: false,
                property_list: None
            }
        )
        .await,
        StatusCode::NotFound
    );

    ok(
        &c,
        NS,
        Operation::SetProperty {
            instance_name: p.clone(),
            property_name: "Count".into(),
            new_value: Value::Uint32(11),
        },
    )
    .await;
    let Response::PropertyValue(v) = ok(
        &c,
        NS,
        Operation::GetProperty {
            instance_name: p.clone(),
            property_name: "count".into(),
        },
    )
    .await
    else {
        panic!()
    };
    assert_eq!(v, Value::Uint32(11));
    assert_eq!(
        err(
            &c,
            NS,
            Operation::GetProperty {
                instance_name: p.clone(),
                property_name: "Nope".into()
            }
        )
        .await,
        StatusCode::NoSuchProperty
    );

    // Persisted across a restart.
    drop(c);
    let c = open(dir.path());
    let Response::Instance(i) = ok(&c, NS, get_instance(p.clone())).await else {
        panic!()
    };
    assert_eq!(i.get("Count"), Some(&Value::Uint32(11)));

    ok(
        &c,
        NS,
        Operation::DeleteInstance {
            instance_name: p.clone(),
        },
    )
    .await;
    assert_eq!(
        err(
            &c,
            NS,
            Operation::DeleteInstance {
                instance_name: p.clone()
            }
        )
        .await,
        StatusCode::NotFound
    );
    assert_eq!(err(&c, NS, get_instance(p)).await, StatusCode::NotFound);
}

#[tokio::test]
async fn associations_from_static_instances() {
    let (_d, c) = populated().await;
    let b1 = path("T_Base", &[("Id", s("b1"))]);
    let assoc = |role: Option<&str>, result_role: Option<&str>, result_class: Option<&str>| {
        Operation::AssociatorNames {
            object_name: b1.clone(),
            assoc_class: None,
            result_class: result_class.map(Into::into),
            role: role.map(Into::into),
            result_role: result_role.map(Into::into),
        }
    };
    let far = paths(ok(&c, NS, assoc(None, None, None)).await);
    assert_eq!(far.len(), 1);
    assert_eq!(far[0].key_str("Id"), Some("s1"));
    assert_eq!(
        paths(ok(&c, NS, assoc(Some("A"), Some("B"), Some("T_Sub"))).await).len(),
        1
    );
    assert!(
        paths(ok(&c, NS, assoc(Some("B"), None, None)).await).is_empty(),
        "b1 is not the B end"
    );
    assert!(paths(ok(&c, NS, assoc(None, None, Some("T_Link"))).await).is_empty());
    assert_eq!(
        err(&c, NS, assoc(None, None, Some("T_Nope"))).await,
        StatusCode::InvalidParameter
    );

    let Response::ObjectsWithPath(objs) = ok(
        &c,
        NS,
        Operation::Associators {
            object_name: b1.clone(),
            assoc_class: Some("T_Link".into()),
            result_class: None,
            role: None,
            result_role: None,
            include_qualifiers: false,
            include_class_origin: false,
            property_list: Some(vec!["Label".into()]),
        },
    )
    .await
    else {
        panic!()
    };
    assert_eq!(objs.len(), 1);
    let CimObject::Instance(i) = &objs[0].1 else {
        panic!()
    };
    assert_eq!(i.get_str("Label"), Some("hello"));
    assert_eq!(i.properties.len(), 1);

    let refs = paths(
        ok(
            &c,
            NS,
            Operation::ReferenceNames {
                object_name: b1.clone(),
                result_class: None,
                role: Some("a".into()),
            },
        )
        .await,
    );
    assert_eq!(refs.len(), 1);
    assert!(refs[0].class_name.is("T_Link"));
    let Response::ObjectsWithPath(objs) = ok(
        &c,
        NS,
        Operation::References {
            object_name: path("T_Sub", &[("Id", s("s1"))]),
            result_class: Some("T_Link".into()),
            role: None,
            include_qualifiers: false,
            include_class_origin: false,
            property_list: None,
        },
    )
    .await
    else {
        panic!()
    };
    assert_eq!(objs.len(), 1);

    // The reference index follows deletes.
    ok(
        &c,
        NS,
        Operation::DeleteInstance {
            instance_name: refs[0].clone(),
        },
    )
    .await;
    assert!(paths(ok(&c, NS, assoc(None, None, None)).await).is_empty());

    // Class-level traversal from the schema.
    let classes = paths(
        ok(
            &c,
            NS,
            Operation::ReferenceNames {
                object_name: path("T_Sub", &[]),
                result_class: None,
                role: None,
            },
        )
        .await,
    );
    assert!(classes.iter().any(|p| p.class_name.is("T_Link")));
}

#[tokio::test]
async fn exec_query_wql() {
    let (_d, c) = populated().await;
    let q = |text: &str| Operation::ExecQuery {
        query_language: "WQL".into(),
        query: text.into(),
    };
    let Response::ObjectsWithPath(rows) = ok(
        &c,
        NS,
        q("SELECT Id, Label FROM T_Base WHERE Label LIKE 'hel%'"),
    )
    .await
    else {
        panic!()
    };
    assert_eq!(rows.len(), 1);
    let CimObject::Instance(i) = &rows[0].1 else {
        panic!()
    };
    assert_eq!(i.properties.len(), 2);
    assert_eq!(rows[0].0.key_str("Id"), Some("s1"));
    let Response::ObjectsWithPath(rows) = ok(
        &c,
        NS,
        q("select * from T_Base where Count >= 5 or Extra = true"),
    )
    .await
    else {
        panic!()
    };
    assert_eq!(rows.len(), 2);
    let Response::ObjectsWithPath(rows) =
        ok(&c, NS, q("SELECT * FROM T_Base WHERE T_Base ISA T_Sub")).await
    else {
        panic!()
    };
    assert_eq!(rows.len(), 1);
    assert_eq!(
        err(&c, NS, q("SELECT FROM")).await,
        StatusCode::InvalidQuery
    );
    assert_eq!(
        err(&c, NS, q("SELECT * FROM T_Nope")).await,
        StatusCode::InvalidQuery
    );
    assert_eq!(
        err(&c, NS, q("SELECT Nope FROM T_Base")).await,
        StatusCode::InvalidQuery
    );
    assert_eq!(
        err(
            &c,
            NS,
            Operation::ExecQuery {
                query_language: "DMTF:CQL".into(),
                query: "SELECT * FROM T_Base".into()
            }
        )
        .await,
        StatusCode::QueryLanguageNotSupported
    );
}

#[tokio::test]
async fn keys_sent_as_text_find_typed_instances() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    let cl = class(
        "T_Num",
        None,
        vec![
            key("N", CimType::Uint32),
            key("Flag", CimType::Boolean),
            prop("V", CimType::String),
        ],
    );
    ok(&c, NS, Operation::CreateClass { new_class: cl }).await;
    create(
        &c,
        NS,
        inst(
            "T_Num",
            &[
                ("N", CimType::Uint32, Value::Uint32(5)),
                ("Flag", CimType::Boolean, Value::Boolean(true)),
            ],
        ),
    )
    .await;
    for p in [
        path("T_Num", &[("N", s("5")), ("Flag", s("TRUE"))]),
        path(
            "t_num",
            &[("flag", Value::Boolean(true)), ("n", Value::Sint64(5))],
        ),
    ] {
        let Response::Instance(i) = ok(&c, NS, get_instance(p.clone())).await else {
            panic!()
        };
        assert_eq!(i.get("N"), Some(&Value::Uint32(5)));
    }
    ok(
        &c,
        NS,
        Operation::DeleteInstance {
            instance_name: path("T_Num", &[("N", s("5")), ("Flag", s("true"))]),
        },
    )
    .await;
    assert!(named(ok(&c, NS, enum_instances("T_Num")).await).is_empty());
}
