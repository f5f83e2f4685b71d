//! Element-by-element unit tests of the CIM-XML reader and writer: each test
//! feeds DSP0201 text and checks the decoded model (or the typed error).

use super::*;
use crate::error::ErrorKind;
use crate::ops::*;
use crate::types::CimType;
use crate::{CimName, Property, StatusCode};

fn req(body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8" ?>
<CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="1001" PROTOCOLVERSION="1.0">
<SIMPLEREQ>{body}</SIMPLEREQ></MESSAGE></CIM>"#
    )
}

fn imethod(name: &str, params: &str) -> String {
    req(&format!(
        r#"<IMETHODCALL NAME="{name}"><LOCALNAMESPACEPATH><NAMESPACE NAME="root"/><NAMESPACE NAME="cimv2"/></LOCALNAMESPACEPATH>{params}</IMETHODCALL>"#
    ))
}

fn op(xml: &str) -> Operation {
    match read_message(xml.as_bytes(), &Limits::default()) {
        Ok(Message {
            body: MessageBody::IMethodCall(c),
            ..
        }) => {
            assert_eq!(c.namespace, "root/cimv2");
            c.operation
        }
        other => panic!("not an IMETHODCALL: {other:?}"),
    }
}

fn err(xml: &str) -> Error {
    read_message(xml.as_bytes(), &Limits::default()).expect_err("must fail")
}

#[test]
fn enumerate_instances_defaults_apply() {
    let o = op(&imethod(
        "EnumerateInstances",
        r#"<IPARAMVALUE NAME="ClassName"><CLASSNAME NAME="DS_IISet"/></IPARAMVALUE>"#,
    ));
    assert_eq!(
        o,
        Operation::EnumerateInstances {
            class_name: CimName::new("DS_IISet"),
            local_only: true,
            deep_inheritance: true,
            include_qualifiers: false,
            include_class_origin: false,
            property_list: None,
        }
    );
}

#[test]
fn parameter_names_are_case_insensitive_and_property_list_shapes() {
    let o = op(&imethod(
        "GetInstance",
        r#"<IPARAMVALUE NAME="instancename"><INSTANCENAME CLASSNAME="DS_IISet">
            <KEYBINDING NAME="shadowVolume"><KEYVALUE VALUETYPE="string">/dev/s&amp;1</KEYVALUE></KEYBINDING>
            <KEYBINDING NAME="n"><KEYVALUE VALUETYPE="numeric">-5</KEYVALUE></KEYBINDING>
           </INSTANCENAME></IPARAMVALUE>
           <IPARAMVALUE NAME="LOCALONLY"><VALUE>false</VALUE></IPARAMVALUE>
           <IPARAMVALUE NAME="PropertyList"><VALUE.ARRAY/></IPARAMVALUE>"#,
    ));
    let Operation::GetInstance {
        instance_name,
        local_only,
        property_list,
        include_qualifiers,
        ..
    } = o
    else {
        panic!("{o:?}")
    };
    assert!(!local_only);
    assert!(!include_qualifiers);
    assert_eq!(property_list, Some(vec![]));
    assert_eq!(instance_name.key_str("SHADOWVOLUME"), Some("/dev/s&1"));
    assert_eq!(instance_name.key("n"), Some(&Value::Sint64(-5)));
}

#[test]
fn missing_unknown_and_bad_parameters_are_invalid_parameter() {
    let e = err(&imethod("GetClass", ""));
    assert_eq!(e.kind(), ErrorKind::InvalidParameter, "{e}");
    assert_eq!(
        e.to_cim_error().map(|c| c.status),
        Some(StatusCode::InvalidParameter)
    );
    let e = err(&imethod(
        "EnumerateClassNames",
        r#"<IPARAMVALUE NAME="Bogus"><VALUE>1</VALUE></IPARAMVALUE>"#,
    ));
    assert_eq!(e.kind(), ErrorKind::InvalidParameter, "{e}");
    let e = err(&imethod(
        "EnumerateClassNames",
        r#"<IPARAMVALUE NAME="DeepInheritance"><VALUE>maybe</VALUE></IPARAMVALUE>"#,
    ));
    assert_eq!(e.kind(), ErrorKind::InvalidParameter, "{e}");
    let e = err(&imethod("FrobnicateInstances", ""));
    assert_eq!(e.kind(), ErrorKind::UnknownMethod, "{e}");
    assert_eq!(
        e.to_cim_error().map(|c| c.status),
        Some(StatusCode::NotSupported)
    );
}

#[test]
fn hostile_documents_are_refused() {
    let doctype = r#"<?xml version="1.0"?><!DOCTYPE CIM [<!ENTITY x "aaaa">]><CIM/>"#;
    assert_eq!(err(doctype).kind(), ErrorKind::NotWellFormed);
    let entity = imethod(
        "GetQualifier",
        r#"<IPARAMVALUE NAME="QualifierName"><VALUE>&x;</VALUE></IPARAMVALUE>"#,
    );
    assert_eq!(err(&entity).kind(), ErrorKind::NotWellFormed);
    let mut bad_utf8 = imethod("EnumerateQualifiers", "").into_bytes();
    bad_utf8.insert(60, 0xff);
    let e = read_message(&bad_utf8, &Limits::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotWellFormed);
    assert_eq!(e.position(), Some(60));
    // References nest without bound in the DTD; the depth limit stops them.
    let mut deep = String::from("<VALUE.REFERENCE>");
    for _ in 0..40 {
        deep.push_str(r#"<INSTANCENAME CLASSNAME="C"><KEYBINDING NAME="k"><VALUE.REFERENCE>"#);
    }
    let x = req(&format!(
        r#"<METHODCALL NAME="m"><LOCALCLASSPATH><LOCALNAMESPACEPATH><NAMESPACE NAME="root"/></LOCALNAMESPACEPATH><CLASSNAME NAME="C"/></LOCALCLASSPATH><PARAMVALUE NAME="p">{deep}"#
    ));
    assert_eq!(err(&x).kind(), ErrorKind::LimitExceeded);
    let tight = Limits {
        max_elements: 5,
        ..Limits::default()
    };
    let e = read_message(imethod("EnumerateQualifiers", "").as_bytes(), &tight).unwrap_err();
    assert_eq!(
        e,
        Error::Limit {
            limit: "element count"
        }
    );
    let small = Limits {
        max_bytes: 10,
        ..Limits::default()
    };
    let e = read_message(imethod("EnumerateQualifiers", "").as_bytes(), &small).unwrap_err();
    assert_eq!(
        e,
        Error::Limit {
            limit: "document size"
        }
    );
    // Unknown element where DSP0201 allows none, with its name and position.
    let x = imethod("EnumerateQualifiers", "<FOO/>");
    match err(&x) {
        Error::Cim {
            element, position, ..
        } => {
            assert_eq!(element, "FOO");
            assert_eq!(&x[position as usize..position as usize + 4], "<FOO");
        }
        other => panic!("{other}"),
    }
}

#[test]
fn values_that_do_not_parse_name_their_element() {
    let x = req(
        r#"<METHODCALL NAME="m"><LOCALCLASSPATH><LOCALNAMESPACEPATH><NAMESPACE NAME="root"/></LOCALNAMESPACEPATH><CLASSNAME NAME="C"/></LOCALCLASSPATH>
        <PARAMVALUE NAME="n" PARAMTYPE="uint8"><VALUE>300</VALUE></PARAMVALUE></METHODCALL>"#,
    );
    match err(&x) {
        Error::Cim {
            element, position, ..
        } => {
            assert_eq!(element, "VALUE");
            assert!(x[position as usize..].starts_with("<VALUE>300"));
        }
        other => panic!("{other}"),
    }
}

#[test]
fn embedded_instance_round_trips() {
    let inner = Instance::new("CIM_Error").with(
        "Message",
        CimType::String,
        Value::String("a <b> & \"c\"".into()),
    );
    let mut outer = Instance::new("DS_Alert");
    outer.properties.push(Property::new(
        "Err",
        CimType::EmbeddedInstance,
        Value::Instance(Box::new(inner.clone())),
    ));
    let mut out = Vec::new();
    write_instance(&outer, &mut out);
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains(r#"EmbeddedObject="instance""#), "{text}");
    let back = read_instance(&text, &Limits::default()).unwrap();
    assert_eq!(back, outer);
}

#[test]
fn pull_response_carries_context_and_end_of_sequence() {
    let inst = Instance::new("DS_Volume").with("Name", CimType::String, Value::String("v1".into()));
    let mut inst = inst;
    inst.path = Some(
        ObjectPath::class(Some("root/cimv2"), "DS_Volume")
            .with_key("Name", Value::String("v1".into())),
    );
    let msg = Message {
        id: "7".into(),
        protocol_version: "1.0".into(),
        body: MessageBody::IMethodResponse(IMethodResponse {
            name: "OpenEnumerateInstances".into(),
            result: Ok(Response::Pull(PullResult {
                items: PullItems::InstancesWithPath(vec![inst]),
                end_of_sequence: false,
                enumeration_context: Some("ctx-1".into()),
                query_result_class: None,
            })),
        }),
    };
    let text = message_to_string(&msg);
    let back = read_message(text.as_bytes(), &Limits::default()).unwrap();
    assert_eq!(back, msg);
}

#[test]
fn streamed_response_equals_whole_message() {
    let mut a = Instance::new("C").with("k", CimType::Uint32, Value::Uint32(1));
    a.path = Some(ObjectPath::class(None, "C").with_key("k", Value::Uint32(1)));
    let mut streamed = Vec::new();
    write_imethod_response_head("5", "EnumerateInstances", &mut streamed);
    write_value_named_instance(&a, &mut streamed);
    write_imethod_response_tail(&mut streamed);
    let whole = message_to_string(&Message {
        id: "5".into(),
        protocol_version: "1.0".into(),
        body: MessageBody::IMethodResponse(IMethodResponse {
            name: "EnumerateInstances".into(),
            result: Ok(Response::NamedInstances(vec![a])),
        }),
    });
    assert_eq!(String::from_utf8(streamed).unwrap(), whole);
}

#[test]
fn error_response_with_embedded_cim_error() {
    let x = r#"<CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="1" PROTOCOLVERSION="1.0"><SIMPLERSP>
      <IMETHODRESPONSE NAME="GetInstance"><ERROR CODE="6" DESCRIPTION="no such set">
      <INSTANCE CLASSNAME="CIM_Error"><PROPERTY NAME="Message" TYPE="string"><VALUE>x</VALUE></PROPERTY></INSTANCE>
      </ERROR></IMETHODRESPONSE></SIMPLERSP></MESSAGE></CIM>"#;
    let m = read_message(x.as_bytes(), &Limits::default()).unwrap();
    let MessageBody::IMethodResponse(r) = m.body else {
        panic!()
    };
    assert_eq!(
        r.result,
        Err(crate::CimError::new(StatusCode::NotFound, "no such set"))
    );
}

#[test]
fn literal_control_characters_are_refused_but_written_as_references() {
    let x = imethod(
        "GetQualifier",
        "<IPARAMVALUE NAME=\"QualifierName\"><VALUE>a\u{1}b</VALUE></IPARAMVALUE>",
    );
    let e = err(&x);
    assert_eq!(e.kind(), ErrorKind::NotWellFormed, "{e}");
    assert_eq!(e.position(), Some(x.find('\u{1}').unwrap() as u64));
    let y = imethod(
        "GetQualifier",
        "<IPARAMVALUE NAME=\"QualifierName\"><VALUE>\u{FFFE}</VALUE></IPARAMVALUE>",
    );
    assert_eq!(err(&y).kind(), ErrorKind::NotWellFormed);
    // The writer turns them into character references, which read back.
    let v = Value::String("a\u{1}\u{FFFE}\r\n\t<&>\"".into());
    let text = value_to_string(&v);
    assert_eq!(
        text,
        "<VALUE>a&#1;&#65534;&#13;\n\t&lt;&amp;&gt;&quot;</VALUE>"
    );
    let inst = Instance::new("C").with("p", CimType::String, v.clone());
    let mut out = Vec::new();
    write_instance(&inst, &mut out);
    let back = read_instance(std::str::from_utf8(&out).unwrap(), &Limits::default()).unwrap();
    assert_eq!(back.get("p"), Some(&v));
}

#[test]
fn mismatched_end_tags_are_not_well_formed() {
    let x = imethod("EnumerateQualifiers", "").replace("</IMETHODCALL>", "</IMETHODCALLX>");
    assert_eq!(err(&x).kind(), ErrorKind::NotWellFormed);
}

#[test]
fn deeply_nested_embedded_instances_hit_the_depth_limit() {
    let mut inst = Instance::new("Leaf");
    for _ in 0..40 {
        let mut outer = Instance::new("Outer");
        outer.properties.push(Property::new(
            "inner",
            CimType::EmbeddedInstance,
            Value::Instance(Box::new(inst)),
        ));
        inst = outer;
    }
    let mut out = Vec::new();
    write_instance(&inst, &mut out);
    let text = std::str::from_utf8(&out).unwrap();
    // Each level costs three elements of depth (INSTANCE, PROPERTY, VALUE).
    let e = read_instance(text, &Limits::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::LimitExceeded, "{e}");
    let deep = Limits {
        max_depth: 200,
        ..Limits::default()
    };
    assert_eq!(read_instance(text, &deep), Ok(inst));
}
