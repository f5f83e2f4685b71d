//! Golden tests against pywbem (see `tests/data/README.md`).
//!
//! * Every request body pywbem sent (`tests/data/requests/*.xml`) decodes, into
//!   the operation and parameters pywbem was asked for.
//! * Our encoded responses (`tests/data/responses/*.xml`) are stable: the test
//!   regenerates them and compares byte for byte (`UPDATE_GOLDEN=1` rewrites
//!   them). `tests/data/check_responses.py` feeds the same files to pywbem.

use cim::ops::*;
use cim::xml::{self, Limits};
use cim::*;
use std::path::{Path, PathBuf};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn request(name: &str) -> Message {
    let path = data().join("requests").join(format!("{name}.xml"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    xml::read_message(&bytes, &Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn op(name: &str) -> Operation {
    match request(name).body {
        MessageBody::IMethodCall(c) => {
            assert_eq!(c.namespace, "root/cimv2");
            assert_eq!(c.operation.name(), name);
            c.operation
        }
        other => panic!("{name}: {other:?}"),
    }
}

fn set_path() -> ObjectPath {
    ObjectPath::class(None, "DS_IISet")
        .with_key(
            "shadowVolume",
            Value::String("/dev/vx/rdsk/g/shadow & <1>".into()),
        )
        .with_key("setType", Value::String("dependent".into()))
}

#[test]
fn every_pywbem_request_decodes() {
    let mut n = 0;
    for entry in std::fs::read_dir(data().join("requests")).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let msg = xml::read_message(&bytes, &Limits::default())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(msg.protocol_version.starts_with("1."), "{}", path.display());
        n += 1;
    }
    assert!(n >= 35, "only {n} request files");
}

#[test]
fn pywbem_requests_carry_what_was_asked() {
    assert_eq!(
        op("GetClass"),
        Operation::GetClass {
            class_name: "DS_IISet".into(),
            local_only: false,
            include_qualifiers: true,
            include_class_origin: false,
            property_list: Some(vec!["setType".into()]),
        }
    );
    assert_eq!(
        op("EnumerateInstances"),
        Operation::EnumerateInstances {
            class_name: "DS_IISet".into(),
            local_only: true,
            deep_inheritance: true,
            include_qualifiers: false,
            include_class_origin: true,
            property_list: None,
        }
    );
    match op("GetInstance") {
        Operation::GetInstance {
            instance_name,
            property_list,
            ..
        } => {
            assert_eq!(instance_name, set_path());
            assert_eq!(property_list, Some(vec![]));
        }
        other => panic!("{other:?}"),
    }
    match op("ModifyInstance") {
        Operation::ModifyInstance {
            modified_instance,
            property_list,
            include_qualifiers,
        } => {
            assert_eq!(modified_instance.path, Some(set_path()));
            assert_eq!(
                modified_instance.get("chunkSize"),
                Some(&Value::Uint32(32768))
            );
            assert_eq!(
                modified_instance.get("tags"),
                Some(&Value::Array(vec![
                    Value::String("a".into()),
                    Value::String("b".into())
                ]))
            );
            assert!(matches!(
                modified_instance.get("created"),
                Some(Value::DateTime(_))
            ));
            assert_eq!(property_list, Some(vec!["chunkSize".into()]));
            assert!(include_qualifiers);
        }
        other => panic!("{other:?}"),
    }
    match op("References") {
        Operation::References { object_name, .. } => {
            assert_eq!(object_name, ObjectPath::class(None, "DS_IISet"))
        }
        other => panic!("{other:?}"),
    }
    match op("OpenEnumerateInstances") {
        Operation::OpenEnumerateInstances { pull, .. } => {
            assert_eq!(pull.max_object_count, 100);
            assert_eq!(pull.operation_timeout, Some(30));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        op("PullInstancesWithPath"),
        Operation::PullInstancesWithPath {
            enumeration_context: "ctx-1".into(),
            max_object_count: 50
        }
    );
    match op("OpenQueryInstances") {
        Operation::OpenQueryInstances {
            filter_query_language,
            return_query_result_class,
            ..
        } => {
            assert_eq!(filter_query_language, "DMTF:CQL");
            assert!(return_query_result_class);
        }
        other => panic!("{other:?}"),
    }
    match op("SetQualifier") {
        Operation::SetQualifier {
            qualifier_declaration: d,
        } => {
            assert!(d.scopes.class && !d.scopes.property);
            assert!(!d.flavors.overridable);
        }
        other => panic!("{other:?}"),
    }
    // pywbem's WBEMListener answer to our ExportIndication (check_export.py).
    assert_eq!(
        request("ExportIndicationResponse").body,
        MessageBody::ExportResponse(Ok(()))
    );
    match request("waitForCompletion").body {
        MessageBody::MethodCall(c) => {
            assert_eq!(c.namespace, "root/cimv2");
            assert_eq!(c.target, set_path());
            assert_eq!(
                c.params,
                vec![ParamValue::new(
                    "timeoutSeconds",
                    CimType::Uint32,
                    Value::Uint32(30)
                )]
            );
        }
        other => panic!("{other:?}"),
    }
}

/// The responses we send for each recorded operation.
fn responses() -> Vec<(&'static str, MessageBody)> {
    let mut inst = Instance::new("DS_IISet")
        .with(
            "shadowVolume",
            CimType::String,
            Value::String("/dev/vx/rdsk/g/shadow & <1>".into()),
        )
        .with(
            "setType",
            CimType::String,
            Value::String("dependent".into()),
        )
        .with("chunkSize", CimType::Uint32, Value::Uint32(32768))
        .with("copyPercent", CimType::Uint8, Value::Uint8(42))
        .with(
            "tags",
            CimType::String,
            Value::Array(vec![Value::String("a".into()), Value::Null]),
        )
        .with(
            "created",
            CimType::DateTime,
            Value::DateTime(DateTime::from_unix_seconds(1_700_000_000)),
        )
        .with("ratio", CimType::Real64, Value::Real64(0.25));
    inst.properties.push(Property::new(
        "lastError",
        CimType::EmbeddedInstance,
        Value::Instance(Box::new(Instance::new("CIM_Error").with(
            "Message",
            CimType::String,
            Value::String("disk <full>".into()),
        ))),
    ));
    inst.properties.push(Property::new(
        "group",
        CimType::Reference(Some("DS_IIGroup".into())),
        Value::Reference(
            ObjectPath::class(Some("root/cimv2"), "DS_IIGroup")
                .with_key("groupName", Value::String("g1".into())),
        ),
    ));
    let mut named = inst.clone();
    named.path = Some(set_path());
    let mut full = set_path();
    full.namespace = Some("root/cimv2".into());
    full.host = Some("acme".into());
    let mut with_path = inst.clone();
    with_path.path = Some(full.clone());
    let mut class = Class::new("DS_IISet", None);
    class.qualifiers.push(Qualifier::new(
        "Provider",
        CimType::String,
        Value::String("IISetProvider".into()),
    ));
    let mut key = Property::new("shadowVolume", CimType::String, Value::Null);
    key.qualifiers.push(Qualifier::flag("Key"));
    class.properties.push(key);
    class.methods.push(Method {
        name: "waitForCompletion".into(),
        return_type: CimType::Boolean,
        parameters: vec![Parameter {
            name: "timeoutSeconds".into(),
            ty: CimType::Uint32,
            is_array: false,
            array_size: None,
            qualifiers: vec![Qualifier::flag("In")],
        }],
        qualifiers: vec![],
        class_origin: None,
        propagated: false,
    });
    let decl = QualifierDecl {
        name: "Key".into(),
        ty: CimType::Boolean,
        is_array: false,
        array_size: None,
        default: Value::Boolean(false),
        scopes: Scopes {
            property: true,
            reference: true,
            ..Scopes::default()
        },
        flavors: Flavors {
            overridable: false,
            ..Flavors::default()
        },
    };
    let pull = |items| {
        Response::Pull(PullResult {
            items,
            end_of_sequence: false,
            enumeration_context: Some("ctx-2".into()),
            query_result_class: None,
        })
    };
    let r = |name: &'static str, resp: Response| {
        (
            name,
            MessageBody::IMethodResponse(IMethodResponse {
                name: name.into(),
                result: Ok(resp),
            }),
        )
    };
    vec![
        r("GetClass", Response::Class(class.clone())),
        r("EnumerateClasses", Response::Classes(vec![class.clone()])),
        r(
            "EnumerateClassNames",
            Response::ClassNames(vec!["DS_IISet".into(), "DS_IIGroup".into()]),
        ),
        r("CreateClass", Response::Empty),
        r("DeleteClass", Response::Empty),
        r("GetInstance", Response::Instance(inst.clone())),
        r(
            "EnumerateInstances",
            Response::NamedInstances(vec![named.clone(), named.clone()]),
        ),
        r(
            "EnumerateInstanceNames",
            Response::InstanceNames(vec![set_path()]),
        ),
        r("CreateInstance", Response::InstanceName(set_path())),
        r("ModifyInstance", Response::Empty),
        r("DeleteInstance", Response::Empty),
        r(
            "Associators",
            Response::ObjectsWithPath(vec![(full.clone(), CimObject::Instance(with_path.clone()))]),
        ),
        r("AssociatorNames", Response::ObjectPaths(vec![full.clone()])),
        r(
            "References",
            Response::ObjectsWithPath(vec![(
                ObjectPath::class(Some("root/cimv2"), "DS_IISet"),
                CimObject::Class(class.clone()),
            )]),
        ),
        r("ReferenceNames", Response::ObjectPaths(vec![full.clone()])),
        r(
            "GetProperty",
            Response::PropertyValue(Value::String("dependent".into())),
        ),
        r(
            "ExecQuery",
            Response::ObjectsWithPath(vec![(full.clone(), CimObject::Instance(with_path.clone()))]),
        ),
        r("GetQualifier", Response::QualifierDecl(decl.clone())),
        r("SetQualifier", Response::Empty),
        r("DeleteQualifier", Response::Empty),
        r("EnumerateQualifiers", Response::QualifierDecls(vec![decl])),
        r(
            "OpenEnumerateInstances",
            pull(PullItems::InstancesWithPath(vec![with_path.clone()])),
        ),
        r(
            "OpenEnumerateInstancePaths",
            pull(PullItems::InstancePaths(vec![full.clone()])),
        ),
        r(
            "OpenAssociatorInstances",
            pull(PullItems::InstancesWithPath(vec![with_path.clone()])),
        ),
        r(
            "OpenAssociatorInstancePaths",
            pull(PullItems::InstancePaths(vec![full.clone()])),
        ),
        r(
            "OpenReferenceInstances",
            pull(PullItems::InstancesWithPath(vec![with_path.clone()])),
        ),
        r(
            "OpenReferenceInstancePaths",
            pull(PullItems::InstancePaths(vec![full.clone()])),
        ),
        r(
            "OpenQueryInstances",
            Response::Pull(PullResult {
                items: PullItems::Instances(vec![inst.clone()]),
                end_of_sequence: true,
                enumeration_context: None,
                query_result_class: Some(class.clone()),
            }),
        ),
        r(
            "PullInstancesWithPath",
            Response::Pull(PullResult {
                items: PullItems::InstancesWithPath(vec![with_path]),
                end_of_sequence: true,
                enumeration_context: None,
                query_result_class: None,
            }),
        ),
        r(
            "PullInstancePaths",
            pull(PullItems::InstancePaths(vec![full])),
        ),
        r("PullInstances", pull(PullItems::Instances(vec![inst]))),
        r("CloseEnumeration", Response::Empty),
        (
            "waitForCompletion",
            MessageBody::MethodResponse(MethodResponse {
                name: "waitForCompletion".into(),
                result: Ok(MethodResult {
                    return_value: Value::Boolean(true),
                    return_type: Some(CimType::Boolean),
                    out_params: vec![ParamValue::new(
                        "elapsed",
                        CimType::Uint32,
                        Value::Uint32(7),
                    )],
                }),
            }),
        ),
        (
            "ExportIndication",
            MessageBody::ExportIndication(
                Instance::new("DS_IISetAlert")
                    .with("AlertType", CimType::Uint16, Value::Uint16(2))
                    .with(
                        "Description",
                        CimType::String,
                        Value::String("copy of set s1 finished".into()),
                    )
                    .with(
                        "shadowVolume",
                        CimType::String,
                        Value::String("/dev/vx/rdsk/g/s1".into()),
                    ),
            ),
        ),
        (
            "ModifyClass",
            MessageBody::IMethodResponse(IMethodResponse {
                name: "ModifyClass".into(),
                result: Err(CimError::new(
                    StatusCode::NotSupported,
                    "class DS_IISet is read-only",
                )),
            }),
        ),
    ]
}

#[test]
fn encoded_responses_match_golden_files_and_decode() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for (name, body) in responses() {
        let msg = Message {
            id: "1001".into(),
            protocol_version: "1.0".into(),
            body,
        };
        let text = xml::message_to_string(&msg);
        assert_eq!(
            xml::read_message(text.as_bytes(), &Limits::default()).as_ref(),
            Ok(&msg),
            "{name}"
        );
        let path = data().join("responses").join(format!("{name}.xml"));
        if update {
            std::fs::write(&path, &text).unwrap();
        } else {
            let golden = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(
                text, golden,
                "{name}: encoder output changed (UPDATE_GOLDEN=1 to accept)"
            );
        }
    }
}
