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
    // References to them are tolerated on input...
    let z = imethod(
        "GetQualifier",
        "<IPARAMVALUE NAME=\"QualifierName\"><VALUE>a&#1;b</VALUE></IPARAMVALUE>",
    );
    assert_eq!(
        op(&z),
        Operation::GetQualifier {
            qualifier_name: "a\u{1}b".into()
        }
    );
    // ...but the writer replaces them: no strict parser accepts them at all.
    let v = Value::String("a\u{1}\u{FFFE}\r\n\t<&>\"".into());
    let text = value_to_string(&v);
    assert_eq!(
        text,
        "<VALUE>a\u{FFFD}\u{FFFD}&#13;\n\t&lt;&amp;&gt;&quot;</VALUE>"
    );
    let mut out = Vec::new();
    write_instance(&Instance::new("C\tD"), &mut out);
    assert_eq!(
        std::str::from_utf8(&out).unwrap(),
        r#"<INSTANCE CLASSNAME="C&#9;D"></INSTANCE>"#
    );
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

fn rsp(body: &str) -> String {
    format!(
        r#"<CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="9" PROTOCOLVERSION="1.0"><SIMPLERSP>{body}</SIMPLERSP></MESSAGE></CIM>"#
    )
}

fn iresponse(xml: &str) -> Result<Response, crate::CimError> {
    match read_message(xml.as_bytes(), &Limits::default()) {
        Ok(Message {
            body: MessageBody::IMethodResponse(r),
            ..
        }) => r.result,
        other => panic!("not an IMETHODRESPONSE: {other:?}"),
    }
}

/// `KEYVALUE`: `TYPE` wins; otherwise `VALUETYPE` decides (DSP0201 §3.2.5.7).
#[test]
fn keyvalue_types() {
    let path = |kv: &str| {
        read_object_path(
            &format!(r#"<INSTANCENAME CLASSNAME="C"><KEYBINDING NAME="k">{kv}</KEYBINDING></INSTANCENAME>"#),
            &Limits::default(),
        )
        .map(|p| p.keys[0].value.clone())
    };
    assert_eq!(
        path(r#"<KEYVALUE>x</KEYVALUE>"#),
        Ok(Value::String("x".into()))
    );
    assert_eq!(
        path(r#"<KEYVALUE VALUETYPE="numeric">7</KEYVALUE>"#),
        Ok(Value::Uint64(7))
    );
    assert_eq!(
        path(r#"<KEYVALUE VALUETYPE="numeric">-7</KEYVALUE>"#),
        Ok(Value::Sint64(-7))
    );
    assert_eq!(
        path(r#"<KEYVALUE VALUETYPE="numeric">1.5</KEYVALUE>"#),
        Ok(Value::Real64(1.5))
    );
    assert_eq!(
        path(r#"<KEYVALUE VALUETYPE="numeric" TYPE="uint16">7</KEYVALUE>"#),
        Ok(Value::Uint16(7))
    );
    assert_eq!(
        path(r#"<KEYVALUE VALUETYPE="boolean">true</KEYVALUE>"#),
        Ok(Value::Boolean(true))
    );
    for bad in [
        r#"<KEYVALUE VALUETYPE="numeric">seven</KEYVALUE>"#,
        r#"<KEYVALUE VALUETYPE="boolean">yes</KEYVALUE>"#,
        r#"<KEYVALUE VALUETYPE="date">x</KEYVALUE>"#,
        r#"<KEYVALUE TYPE="uint8">300</KEYVALUE>"#,
    ] {
        let e = path(bad).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotValid, "{bad}: {e}");
    }
}

/// `VALUE.OBJECTWITHLOCALPATH`, `VALUE.NAMEDOBJECT` and `VALUE.OBJECT` in an
/// Associators/ExecQuery response all become objects with paths.
#[test]
fn object_response_forms() {
    let r = iresponse(&rsp(
        r#"<IMETHODRESPONSE NAME="ExecQuery"><IRETURNVALUE>
        <VALUE.OBJECTWITHLOCALPATH><LOCALINSTANCEPATH><LOCALNAMESPACEPATH><NAMESPACE NAME="root"/></LOCALNAMESPACEPATH>
          <INSTANCENAME CLASSNAME="A"><KEYBINDING NAME="k"><KEYVALUE>1</KEYVALUE></KEYBINDING></INSTANCENAME></LOCALINSTANCEPATH>
          <INSTANCE CLASSNAME="A"/></VALUE.OBJECTWITHLOCALPATH>
        <VALUE.NAMEDOBJECT><INSTANCENAME CLASSNAME="B"/><INSTANCE CLASSNAME="B"/></VALUE.NAMEDOBJECT>
        <VALUE.OBJECT><CLASS NAME="C"/></VALUE.OBJECT>
        </IRETURNVALUE></IMETHODRESPONSE>"#,
    ))
    .unwrap();
    let Response::ObjectsWithPath(objs) = r else {
        panic!("{r:?}")
    };
    assert_eq!(objs.len(), 3);
    assert_eq!(objs[0].0.namespace.as_deref(), Some("root"));
    assert_eq!(objs[0].0.key_str("k"), Some("1"));
    assert!(matches!(&objs[1].1, CimObject::Instance(i) if i.class_name == "B"));
    assert!(matches!(&objs[2].1, CimObject::Class(c) if c.name == "C"));
}

/// The operation name decides what `IRETURNVALUE` may hold.
#[test]
fn ireturnvalue_must_fit_the_operation() {
    let x = rsp(
        r#"<IMETHODRESPONSE NAME="EnumerateInstances"><IRETURNVALUE><CLASS NAME="C"/></IRETURNVALUE></IMETHODRESPONSE>"#,
    );
    let e = read_message(x.as_bytes(), &Limits::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotValid, "{e}");
    // A pull response must say whether the sequence ended.
    let x = rsp(r#"<IMETHODRESPONSE NAME="PullInstances"><IRETURNVALUE/></IMETHODRESPONSE>"#);
    let e = read_message(x.as_bytes(), &Limits::default()).unwrap_err();
    assert!(e.to_string().contains("EndOfSequence"), "{e}");
    // An empty IRETURNVALUE of an enumeration is an empty list.
    assert_eq!(
        iresponse(&rsp(
            r#"<IMETHODRESPONSE NAME="EnumerateInstanceNames"><IRETURNVALUE></IRETURNVALUE></IMETHODRESPONSE>"#
        )),
        Ok(Response::InstanceNames(vec![]))
    );
}

/// `ERROR` with a code DSP0200 does not define keeps the number.
#[test]
fn unknown_error_codes_become_failed() {
    let r = iresponse(&rsp(
        r#"<IMETHODRESPONSE NAME="GetClass"><ERROR CODE="99" DESCRIPTION="odd"/></IMETHODRESPONSE>"#,
    ));
    let e = r.unwrap_err();
    assert_eq!(e.status, StatusCode::Failed);
    assert!(e.description.contains("99") && e.description.contains("odd"));
}

/// `SCOPE`, `PARAMETER.REFARRAY` and method qualifiers inside a `CLASS`.
#[test]
fn class_with_method_parameters_and_scope() {
    let c = read_class(
        r#"<CLASS NAME="DS_IIGroup" SUPERCLASS="CIM_Collection">
          <QUALIFIER NAME="Provider" TYPE="string" TOSUBCLASS="false"><VALUE>P</VALUE></QUALIFIER>
          <PROPERTY.ARRAY NAME="members" TYPE="string" ARRAYSIZE="4"/>
          <METHOD NAME="add" TYPE="boolean">
            <PARAMETER.REFARRAY NAME="sets" REFERENCECLASS="DS_IISet" ARRAYSIZE="2"/>
            <PARAMETER.ARRAY NAME="names" TYPE="string"><QUALIFIER NAME="In" TYPE="boolean"><VALUE>true</VALUE></QUALIFIER></PARAMETER.ARRAY>
          </METHOD></CLASS>"#,
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(c.superclass, Some(CimName::new("CIM_Collection")));
    assert!(!c.qualifiers[0].flavors.to_subclass);
    assert_eq!(c.properties[0].array_size, Some(4));
    assert!(c.properties[0].is_array);
    let m = c.method("add").unwrap();
    assert_eq!(
        m.parameters[0].ty,
        CimType::Reference(Some("DS_IISet".into()))
    );
    assert!(m.parameters[0].is_array);
    assert!(m.parameters[1].is_in());
    let d = read_qualifier_decl(
        r#"<QUALIFIER.DECLARATION NAME="Key" TYPE="boolean"><SCOPE PROPERTY="true" REFERENCE="true"/><VALUE>FALSE</VALUE></QUALIFIER.DECLARATION>"#,
        &Limits::default(),
    )
    .unwrap();
    assert!(d.scopes.property && d.scopes.reference && !d.scopes.class);
    assert_eq!(d.default, Value::Boolean(false));
    // A method qualifier after a parameter breaks the content model.
    let e = read_class(
        r#"<CLASS NAME="X"><METHOD NAME="m" TYPE="uint32"><PARAMETER NAME="p" TYPE="uint8"/><QUALIFIER NAME="q" TYPE="boolean"/></METHOD></CLASS>"#,
        &Limits::default(),
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotValid);
}

/// `CORRELATOR`s are skipped; `MULTIREQ` and foreign export methods are refused.
#[test]
fn correlators_multireq_and_export_methods() {
    let x = req(
        r#"<CORRELATOR NAME="c" TYPE="string"><VALUE>v</VALUE></CORRELATOR><IMETHODCALL NAME="EnumerateQualifiers"><LOCALNAMESPACEPATH><NAMESPACE NAME="root"/><NAMESPACE NAME="cimv2"/></LOCALNAMESPACEPATH></IMETHODCALL>"#,
    );
    assert_eq!(op(&x), Operation::EnumerateQualifiers);
    let m = r#"<CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="1" PROTOCOLVERSION="1.0"><MULTIREQ/></MESSAGE></CIM>"#;
    assert_eq!(err(m).kind(), ErrorKind::NotValid);
    let x = r#"<CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="1" PROTOCOLVERSION="1.0"><SIMPLEEXPREQ><EXPMETHODCALL NAME="Other"/></SIMPLEEXPREQ></MESSAGE></CIM>"#;
    assert!(err(x).to_string().contains("Other"));
}

/// `PARAMVALUE` content must fit `PARAMTYPE`.
#[test]
fn param_value_content_fits_its_type() {
    let call = |pv: &str| {
        req(&format!(
            r#"<METHODCALL NAME="m"><LOCALCLASSPATH><LOCALNAMESPACEPATH><NAMESPACE NAME="root"/></LOCALNAMESPACEPATH><CLASSNAME NAME="C"/></LOCALCLASSPATH>{pv}</METHODCALL>"#
        ))
    };
    assert_eq!(
        err(&call(
            r#"<PARAMVALUE NAME="p" PARAMTYPE="uint8"><CLASSNAME NAME="X"/></PARAMVALUE>"#
        ))
        .kind(),
        ErrorKind::NotValid
    );
    assert_eq!(
        err(&call(
            r#"<PARAMVALUE NAME="p" PARAMTYPE="reference"><VALUE>x</VALUE></PARAMVALUE>"#
        ))
        .kind(),
        ErrorKind::NotValid
    );
    let ok = read_message(
        call(r#"<PARAMVALUE NAME="p" PARAMTYPE="reference"><CLASSNAME NAME="X"/></PARAMVALUE><PARAMVALUE NAME="q" TYPE="sint8"><VALUE>-3</VALUE></PARAMVALUE>"#).as_bytes(),
        &Limits::default(),
    )
    .unwrap();
    let MessageBody::MethodCall(c) = ok.body else {
        panic!()
    };
    assert_eq!(
        c.params[0].value,
        Value::Reference(ObjectPath::class(None, "X"))
    );
    assert_eq!(c.params[1].value, Value::Sint8(-3));
    assert_eq!(c.target, ObjectPath::class(None, "C"));
}
