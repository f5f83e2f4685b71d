//! Class and qualifier operations through `Cimom::handle_imethod`, with their
//! DSP0200 flags and error codes.
use crate::core_support::*;
use cim::ops::{Operation, Response};
use cim::{CimType, StatusCode, Value};

#[tokio::test]
async fn get_class_flags() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    schema(&c).await;
    let Response::Class(cl) = ok(&c, "root/cimv2", get_class("t_sub")).await else {
        panic!()
    };
    assert_eq!(cl.name.as_str(), "T_Sub");
    let names: Vec<_> = cl.properties.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["Id", "Label", "Count", "Extra"]);
    assert!(cl.properties[0].propagated);
    assert_eq!(
        cl.properties[0].class_origin.as_ref().unwrap().as_str(),
        "T_Base"
    );
    assert!(cl.properties[0].is_key(), "Key is inherited");
    assert!(cl
        .qualifiers
        .iter()
        .any(|q| q.name.is("Description") && q.propagated));

    let Response::Class(local) = ok(
        &c,
        "root/cimv2",
        Operation::GetClass {
            class_name: "T_Sub".into(),
            local_only: true,
            include_qualifiers: false,
            include_class_origin: false,
            property_list: None,
        },
    )
    .await
    else {
        panic!()
    };
    assert_eq!(local.properties.len(), 1);
    assert!(local.qualifiers.is_empty());
    assert!(local.properties[0].class_origin.is_none());

    let Response::Class(pl) = ok(
        &c,
        "root/cimv2",
        Operation::GetClass {
            class_name: "T_Sub".into(),
            local_only: false,
            include_qualifiers: true,
            include_class_origin: false,
            property_list: Some(vec!["label".into()]),
        },
    )
    .await
    else {
        panic!()
    };
    assert_eq!(pl.properties.len(), 1);
    assert_eq!(pl.properties[0].name.as_str(), "Label");

    assert_eq!(
        err(&c, "root/cimv2", get_class("Nope")).await,
        StatusCode::NotFound
    );
    assert_eq!(
        err(&c, "root/nope", get_class("T_Sub")).await,
        StatusCode::InvalidNamespace
    );
    // root/interop is an alias of interop.
    ok(&c, "root/interop", get_class("CIM_ObjectManager")).await;
    ok(&c, "/interop/", get_class("CIM_IndicationFilter")).await;
}

#[tokio::test]
async fn enumerate_classes_and_names() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    schema(&c).await;
    let ns = "root/cimv2";
    let names = |r: Response| match r {
        Response::ClassNames(v) => v.into_iter().map(|n| n.into_string()).collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    let top = names(
        ok(
            &c,
            ns,
            Operation::EnumerateClassNames {
                class_name: None,
                deep_inheritance: false,
            },
        )
        .await,
    );
    assert!(top.contains(&"T_Base".to_string()) && top.contains(&"T_Link".to_string()));
    assert!(!top.contains(&"T_Sub".to_string()), "not deep");
    let deep = names(
        ok(
            &c,
            ns,
            Operation::EnumerateClassNames {
                class_name: None,
                deep_inheritance: true,
            },
        )
        .await,
    );
    assert!(deep.contains(&"T_Sub".to_string()));
    assert!(deep.contains(&"CIM_InstCreation".to_string()));
    let below = names(
        ok(
            &c,
            ns,
            Operation::EnumerateClassNames {
                class_name: Some("T_Base".into()),
                deep_inheritance: true,
            },
        )
        .await,
    );
    assert_eq!(below, ["T_Sub"]);
    let Response::Classes(cls) = ok(
        &c,
        ns,
        Operation::EnumerateClasses {
            class_name: Some("CIM_Indication".into()),
            deep_inheritance: true,
            local_only: false,
            include_qualifiers: false,
            include_class_origin: false,
        },
    )
    .await
    else {
        panic!()
    };
    assert!(cls.iter().any(|c| c.name.is("CIM_InstModification")));
    assert!(cls.iter().all(|c| c.qualifiers.is_empty()));
    assert_eq!(
        err(
            &c,
            ns,
            Operation::EnumerateClassNames {
                class_name: Some("Nope".into()),
                deep_inheritance: false
            }
        )
        .await,
        StatusCode::InvalidClass
    );
}

#[tokio::test]
async fn create_modify_delete_class_rules() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    schema(&c).await;
    let ns = "root/cimv2";
    // Existing class, missing superclass.
    assert_eq!(
        err(
            &c,
            ns,
            Operation::CreateClass {
                new_class: class("T_Base", None, vec![])
            }
        )
        .await,
        StatusCode::AlreadyExists
    );
    assert_eq!(
        err(
            &c,
            ns,
            Operation::CreateClass {
                new_class: class("T_X", Some("T_Missing"), vec![])
            }
        )
        .await,
        StatusCode::InvalidSuperclass
    );
    // Undeclared qualifier.
    let mut bad = class("T_Q", None, vec![]);
    bad.qualifiers.push(cim::Qualifier::flag("NoSuchQualifier"));
    assert_eq!(
        err(&c, ns, Operation::CreateClass { new_class: bad }).await,
        StatusCode::InvalidParameter
    );

    // ModifyClass propagates to subclasses.
    let base = class(
        "T_Base",
        None,
        vec![
            key("Id", CimType::String),
            prop("Label", CimType::String),
            prop("Count", CimType::Uint32),
            prop("Added", CimType::Sint64),
        ],
    );
    ok(
        &c,
        ns,
        Operation::ModifyClass {
            modified_class: base,
        },
    )
    .await;
    let Response::Class(sub) = ok(&c, ns, get_class("T_Sub")).await else {
        panic!()
    };
    assert!(sub.property("Added").is_some_and(|p| p.propagated));
    // Changing the superclass is refused.
    assert_eq!(
        err(
            &c,
            ns,
            Operation::ModifyClass {
                modified_class: class("T_Sub", Some("T_Link"), vec![])
            }
        )
        .await,
        StatusCode::InvalidSuperclass
    );
    assert_eq!(
        err(
            &c,
            ns,
            Operation::ModifyClass {
                modified_class: class("T_None", None, vec![])
            }
        )
        .await,
        StatusCode::NotFound
    );

    // DeleteClass: children and instances refuse; unknown is NOT_FOUND.
    assert_eq!(
        err(
            &c,
            ns,
            Operation::DeleteClass {
                class_name: "T_Base".into()
            }
        )
        .await,
        StatusCode::ClassHasChildren
    );
    create(&c, ns, inst("T_Sub", &[("Id", CimType::String, s("a"))])).await;
    assert_eq!(
        err(
            &c,
            ns,
            Operation::DeleteClass {
                class_name: "T_Sub".into()
            }
        )
        .await,
        StatusCode::ClassHasInstances
    );
    // ModifyClass of a class with instances (or whose subclass has some) is refused too (OpenPegasus).
    assert_eq!(
        err(
            &c,
            ns,
            Operation::ModifyClass {
                modified_class: class("T_Base", None, vec![key("Id", CimType::String)])
            }
        )
        .await,
        StatusCode::ClassHasInstances
    );
    assert_eq!(
        err(
            &c,
            ns,
            Operation::ModifyClass {
                modified_class: class("T_Sub", Some("T_Base"), vec![])
            }
        )
        .await,
        StatusCode::ClassHasInstances
    );
    ok(
        &c,
        ns,
        Operation::DeleteInstance {
            instance_name: path("T_Sub", &[("Id", s("a"))]),
        },
    )
    .await;
    ok(
        &c,
        ns,
        Operation::DeleteClass {
            class_name: "T_Sub".into(),
        },
    )
    .await;
    assert_eq!(err(&c, ns, get_class("T_Sub")).await, StatusCode::NotFound);
    assert_eq!(
        err(
            &c,
            ns,
            Operation::DeleteClass {
                class_name: "T_Sub".into()
            }
        )
        .await,
        StatusCode::NotFound
    );
    ok(
        &c,
        ns,
        Operation::DeleteClass {
            class_name: "T_Base".into(),
        },
    )
    .await;

    // Survives a restart.
    drop(c);
    let c = open(dir.path());
    let Response::Class(link) = ok(&c, ns, get_class("T_Link")).await else {
        panic!()
    };
    assert!(link.is_association());
    assert_eq!(err(&c, ns, get_class("T_Base")).await, StatusCode::NotFound);
}

#[tokio::test]
async fn qualifier_declarations() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    let ns = "root/cimv2";
    let Response::QualifierDecl(key) = ok(
        &c,
        ns,
        Operation::GetQualifier {
            qualifier_name: "key".into(),
        },
    )
    .await
    else {
        panic!()
    };
    assert_eq!(key.ty, CimType::Boolean);
    assert!(!key.flavors.overridable);
    let decl = cim::QualifierDecl {
        name: "MyQual".into(),
        ty: CimType::String,
        is_array: false,
        array_size: None,
        default: Value::String("x".into()),
        scopes: cim::Scopes::ANY,
        flavors: cim::Flavors::default(),
    };
    ok(
        &c,
        ns,
        Operation::SetQualifier {
            qualifier_declaration: decl.clone(),
        },
    )
    .await;
    let Response::QualifierDecls(all) = ok(&c, ns, Operation::EnumerateQualifiers).await else {
        panic!()
    };
    assert!(all.contains(&decl));
    ok(
        &c,
        ns,
        Operation::DeleteQualifier {
            qualifier_name: "myqual".into(),
        },
    )
    .await;
    assert_eq!(
        err(
            &c,
            ns,
            Operation::GetQualifier {
                qualifier_name: "MyQual".into()
            }
        )
        .await,
        StatusCode::NotFound
    );
    assert_eq!(
        err(
            &c,
            ns,
            Operation::DeleteQualifier {
                qualifier_name: "MyQual".into()
            }
        )
        .await,
        StatusCode::NotFound
    );
}
