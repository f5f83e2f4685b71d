//! Property tests: model → CIM-XML → model is the identity for every element
//! kind the codec handles, and no input bytes make the reader panic.

use cim::ops::*;
use cim::xml::{self, Limits};
use cim::*;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

fn ident() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_]{0,10}"
}

fn name() -> impl Strategy<Value = CimName> {
    ident().prop_map(CimName::from)
}

/// An XML 1.0 `Char`: the writer replaces anything else by U+FFFD.
fn xml_char(c: &char) -> bool {
    matches!(*c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Any text XML 1.0 can carry.
fn text() -> impl Strategy<Value = String> {
    vec(any::<char>().prop_filter("XML Char", xml_char), 0..16).prop_map(String::from_iter)
}

fn namespace() -> impl Strategy<Value = String> {
    "[a-z]{1,6}(/[a-z]{1,6}){0,2}"
}

fn scalar_type() -> impl Strategy<Value = CimType> {
    prop_oneof![
        Just(CimType::Boolean),
        Just(CimType::Char16),
        Just(CimType::String),
        Just(CimType::DateTime),
        Just(CimType::Uint8),
        Just(CimType::Sint8),
        Just(CimType::Uint16),
        Just(CimType::Sint16),
        Just(CimType::Uint32),
        Just(CimType::Sint32),
        Just(CimType::Uint64),
        Just(CimType::Sint64),
        Just(CimType::Real32),
        Just(CimType::Real64),
    ]
}

fn datetime() -> impl Strategy<Value = DateTime> {
    prop_oneof![
        (0u64..10_000_000_000).prop_map(DateTime::from_unix_seconds),
        (0u32..99_999_999, 0u8..24, 0u8..60, 0u8..60, 0u32..1_000_000)
            .prop_map(|(d, h, m, s, u)| DateTime::interval(d, h, m, s, u)),
    ]
}

/// A non-NULL scalar of `ty`.
fn scalar(ty: CimType) -> BoxedStrategy<Value> {
    match ty {
        CimType::Boolean => any::<bool>().prop_map(Value::Boolean).boxed(),
        CimType::Char16 => any::<char>()
            .prop_filter("UCS-2 XML Char", |c| xml_char(c) && (*c as u32) <= 0xFFFF)
            .prop_map(Value::Char16)
            .boxed(),
        CimType::DateTime => datetime().prop_map(Value::DateTime).boxed(),
        CimType::Uint8 => any::<u8>().prop_map(Value::Uint8).boxed(),
        CimType::Sint8 => any::<i8>().prop_map(Value::Sint8).boxed(),
        CimType::Uint16 => any::<u16>().prop_map(Value::Uint16).boxed(),
        CimType::Sint16 => any::<i16>().prop_map(Value::Sint16).boxed(),
        CimType::Uint32 => any::<u32>().prop_map(Value::Uint32).boxed(),
        CimType::Sint32 => any::<i32>().prop_map(Value::Sint32).boxed(),
        CimType::Uint64 => any::<u64>().prop_map(Value::Uint64).boxed(),
        CimType::Sint64 => any::<i64>().prop_map(Value::Sint64).boxed(),
        CimType::Real32 => any::<f32>()
            .prop_filter("not NaN", |v| !v.is_nan())
            .prop_map(Value::Real32)
            .boxed(),
        CimType::Real64 => any::<f64>()
            .prop_filter("not NaN", |v| !v.is_nan())
            .prop_map(Value::Real64)
            .boxed(),
        _ => text().prop_map(Value::String).boxed(),
    }
}

/// A scalar, NULL, or array value of `ty`.
fn value_of(ty: CimType) -> impl Strategy<Value = (bool, Value)> {
    prop_oneof![
        3 => scalar(ty.clone()).prop_map(|v| (false, v)),
        1 => Just((false, Value::Null)),
        1 => Just((true, Value::Null)),
        2 => vec(prop_oneof![4 => scalar(ty), 1 => Just(Value::Null)], 0..4)
            .prop_map(|v| (true, Value::Array(v))),
    ]
}

fn typed_value() -> impl Strategy<Value = (CimType, bool, Value)> {
    scalar_type().prop_flat_map(|t| value_of(t.clone()).prop_map(move |(a, v)| (t.clone(), a, v)))
}

fn key_value(depth: u32) -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        text().prop_map(Value::String),
        any::<bool>().prop_map(Value::Boolean),
        any::<u32>().prop_map(Value::Uint32),
        any::<i64>().prop_map(Value::Sint64),
        datetime().prop_map(Value::DateTime),
    ];
    if depth == 0 {
        leaf.boxed()
    } else {
        prop_oneof![4 => leaf, 1 => path(depth - 1).prop_map(Value::Reference)].boxed()
    }
}

/// A path with arbitrary host/namespace presence and keys.
fn path(depth: u32) -> BoxedStrategy<ObjectPath> {
    (
        option::of("[a-z]{1,8}(:[0-9]{2,4})?"),
        option::of(namespace()),
        name(),
        vec((name(), key_value(depth)), 0..3),
    )
        .prop_map(|(host, ns, class, keys)| {
            let mut p = ObjectPath::class(ns.as_deref(), class);
            p.host = host;
            for (k, v) in keys {
                p = p.with_key(k, v);
            }
            p
        })
        .boxed()
}

/// A path without host and namespace (an `INSTANCENAME`), with keys.
fn instance_name() -> impl Strategy<Value = ObjectPath> {
    (name(), vec((name(), key_value(1)), 1..3)).prop_map(|(class, keys)| {
        keys.into_iter()
            .fold(ObjectPath::class(None, class), |p, (k, v)| p.with_key(k, v))
    })
}

/// A path with a namespace (an `INSTANCEPATH`), with keys.
fn instance_path() -> impl Strategy<Value = ObjectPath> {
    (instance_name(), namespace(), option::of("[a-z]{1,8}")).prop_map(|(mut p, ns, h)| {
        p.namespace = Some(ns);
        p.host = h;
        p
    })
}

fn flavors() -> impl Strategy<Value = Flavors> {
    (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(a, b, c, d)| Flavors {
        overridable: a,
        to_subclass: b,
        to_instance: c,
        translatable: d,
    })
}

fn qualifier() -> impl Strategy<Value = Qualifier> {
    (name(), typed_value(), any::<bool>(), flavors()).prop_map(
        |(name, (ty, _, value), propagated, flavors)| Qualifier {
            name,
            ty,
            value,
            propagated,
            flavors,
        },
    )
}

fn qualifier_decl() -> impl Strategy<Value = QualifierDecl> {
    (
        name(),
        typed_value(),
        option::of(1u32..10),
        vec(any::<bool>(), 7),
        flavors(),
    )
        .prop_map(|(name, (ty, is_array, default), size, s, flavors)| {
            let is_array = is_array || matches!(default, Value::Array(_));
            QualifierDecl {
                name,
                ty,
                is_array,
                array_size: if is_array { size } else { None },
                default,
                scopes: Scopes {
                    class: s[0],
                    association: s[1],
                    indication: s[2],
                    property: s[3],
                    reference: s[4],
                    method: s[5],
                    parameter: s[6],
                },
                flavors,
            }
        })
}

/// A property: plain typed, reference, or embedded instance (when depth allows).
fn property(depth: u32) -> BoxedStrategy<Property> {
    let common = || {
        (
            name(),
            vec(qualifier(), 0..2),
            option::of(name()),
            any::<bool>(),
        )
    };
    let plain = (common(), typed_value(), option::of(1u32..5)).prop_map(
        |((name, qualifiers, class_origin, propagated), (ty, is_array, value), size)| Property {
            name,
            ty,
            is_array,
            array_size: if is_array { size } else { None },
            value,
            qualifiers,
            class_origin,
            propagated,
        },
    );
    let reference = (common(), option::of(name()), option::of(path(1))).prop_map(
        |((name, qualifiers, class_origin, propagated), rc, p)| Property {
            name,
            ty: CimType::Reference(rc),
            is_array: false,
            array_size: None,
            value: p.map(Value::Reference).unwrap_or(Value::Null),
            qualifiers,
            class_origin,
            propagated,
        },
    );
    if depth == 0 {
        return prop_oneof![4 => plain, 1 => reference].boxed();
    }
    let embedded = (common(), instance(depth - 1), any::<bool>()).prop_map(
        |((name, qualifiers, class_origin, propagated), inst, as_object)| Property {
            name,
            ty: if as_object {
                CimType::EmbeddedObject
            } else {
                CimType::EmbeddedInstance
            },
            is_array: false,
            array_size: None,
            value: Value::Instance(Box::new(inst)),
            qualifiers,
            class_origin,
            propagated,
        },
    );
    prop_oneof![4 => plain, 1 => reference, 1 => embedded].boxed()
}

fn instance(depth: u32) -> BoxedStrategy<Instance> {
    (name(), vec(qualifier(), 0..2), vec(property(depth), 0..5))
        .prop_map(|(class, qualifiers, properties)| Instance {
            class_name: class,
            properties,
            qualifiers,
            path: None,
        })
        .boxed()
}

fn parameter() -> impl Strategy<Value = Parameter> {
    (
        name(),
        prop_oneof![
            3 => scalar_type(),
            1 => option::of(name()).prop_map(CimType::Reference),
        ],
        any::<bool>(),
        option::of(1u32..9),
        vec(qualifier(), 0..2),
    )
        .prop_map(|(name, ty, is_array, size, qualifiers)| Parameter {
            name,
            ty,
            is_array,
            array_size: if is_array { size } else { None },
            qualifiers,
        })
}

fn method() -> impl Strategy<Value = Method> {
    (
        name(),
        scalar_type(),
        vec(parameter(), 0..3),
        vec(qualifier(), 0..2),
        option::of(name()),
        any::<bool>(),
    )
        .prop_map(
            |(name, return_type, parameters, qualifiers, class_origin, propagated)| Method {
                name,
                return_type,
                parameters,
                qualifiers,
                class_origin,
                propagated,
            },
        )
}

fn class() -> impl Strategy<Value = Class> {
    (
        name(),
        option::of(name()),
        vec(qualifier(), 0..3),
        vec(property(0), 0..4),
        vec(method(), 0..2),
    )
        .prop_map(
            |(name, superclass, qualifiers, properties, methods)| Class {
                name,
                superclass,
                qualifiers,
                properties,
                methods,
            },
        )
}

fn named_instance() -> impl Strategy<Value = Instance> {
    (instance(1), instance_name()).prop_map(|(mut i, p)| {
        i.path = Some(p);
        i
    })
}

fn instance_with_path() -> impl Strategy<Value = Instance> {
    (instance(1), instance_path()).prop_map(|(mut i, p)| {
        i.path = Some(p);
        i
    })
}

fn property_list() -> impl Strategy<Value = Option<Vec<CimName>>> {
    option::of(vec(name(), 0..3))
}

fn pull_params(filter: bool) -> impl Strategy<Value = PullParams> {
    (
        option::of(text()),
        option::of(text()),
        option::of(any::<u32>()),
        any::<bool>(),
        any::<u32>(),
    )
        .prop_map(move |(l, q, t, c, m)| PullParams {
            filter_query_language: l.filter(|_| filter),
            filter_query: q.filter(|_| filter),
            operation_timeout: t,
            continue_on_error: c,
            max_object_count: m,
        })
}

/// `ObjectName`: an instance name or a class name (keyless path).
fn object_name() -> impl Strategy<Value = ObjectPath> {
    prop_oneof![
        instance_name(),
        name().prop_map(|c| ObjectPath::class(None, c))
    ]
}

fn operation() -> impl Strategy<Value = Operation> {
    let b = any::<bool>;
    let oc = || option::of(name());
    let os = || option::of(text());
    prop_oneof![
        (name(), b(), b(), b(), property_list()).prop_map(|(c, l, q, o, p)| Operation::GetClass {
            class_name: c,
            local_only: l,
            include_qualifiers: q,
            include_class_origin: o,
            property_list: p
        }),
        (oc(), b(), b(), b(), b()).prop_map(|(c, d, l, q, o)| Operation::EnumerateClasses {
            class_name: c,
            deep_inheritance: d,
            local_only: l,
            include_qualifiers: q,
            include_class_origin: o
        }),
        (oc(), b()).prop_map(|(c, d)| Operation::EnumerateClassNames {
            class_name: c,
            deep_inheritance: d
        }),
        class().prop_map(|c| Operation::CreateClass { new_class: c }),
        class().prop_map(|c| Operation::ModifyClass { modified_class: c }),
        name().prop_map(|c| Operation::DeleteClass { class_name: c }),
        (instance_name(), b(), b(), b(), property_list()).prop_map(|(n, l, q, o, p)| {
            Operation::GetInstance {
                instance_name: n,
                local_only: l,
                include_qualifiers: q,
                include_class_origin: o,
                property_list: p,
            }
        }),
        (name(), b(), b(), b(), b(), property_list()).prop_map(|(c, l, d, q, o, p)| {
            Operation::EnumerateInstances {
                class_name: c,
                local_only: l,
                deep_inheritance: d,
                include_qualifiers: q,
                include_class_origin: o,
                property_list: p,
            }
        }),
        name().prop_map(|c| Operation::EnumerateInstanceNames { class_name: c }),
        instance(1).prop_map(|i| Operation::CreateInstance { new_instance: i }),
        (named_instance(), b(), property_list()).prop_map(|(i, q, p)| Operation::ModifyInstance {
            modified_instance: i,
            include_qualifiers: q,
            property_list: p
        }),
        instance_name().prop_map(|n| Operation::DeleteInstance { instance_name: n }),
        (
            object_name(),
            oc(),
            oc(),
            os(),
            os(),
            b(),
            b(),
            property_list()
        )
            .prop_map(|(n, a, r, ro, rr, q, o, p)| Operation::Associators {
                object_name: n,
                assoc_class: a,
                result_class: r,
                role: ro,
                result_role: rr,
                include_qualifiers: q,
                include_class_origin: o,
                property_list: p
            }),
        (object_name(), oc(), oc(), os(), os()).prop_map(|(n, a, r, ro, rr)| {
            Operation::AssociatorNames {
                object_name: n,
                assoc_class: a,
                result_class: r,
                role: ro,
                result_role: rr,
            }
        }),
        (object_name(), oc(), os(), b(), b(), property_list()).prop_map(|(n, r, ro, q, o, p)| {
            Operation::References {
                object_name: n,
                result_class: r,
                role: ro,
                include_qualifiers: q,
                include_class_origin: o,
                property_list: p,
            }
        }),
        (object_name(), oc(), os()).prop_map(|(n, r, ro)| Operation::ReferenceNames {
            object_name: n,
            result_class: r,
            role: ro
        }),
        (instance_name(), name()).prop_map(|(n, p)| Operation::GetProperty {
            instance_name: n,
            property_name: p
        }),
        (
            instance_name(),
            name(),
            prop_oneof![
                Just(Value::Null),
                text().prop_map(Value::String),
                vec(option::of(text()), 0..3).prop_map(|v| Value::Array(
                    v.into_iter()
                        .map(|s| s.map(Value::String).unwrap_or(Value::Null))
                        .collect()
                )),
                path(0).prop_map(Value::Reference),
            ]
        )
            .prop_map(|(n, p, v)| Operation::SetProperty {
                instance_name: n,
                property_name: p,
                new_value: v
            }),
        (text(), text()).prop_map(|(l, q)| Operation::ExecQuery {
            query_language: l,
            query: q
        }),
        name().prop_map(|n| Operation::GetQualifier { qualifier_name: n }),
        qualifier_decl().prop_map(|d| Operation::SetQualifier {
            qualifier_declaration: d
        }),
        name().prop_map(|n| Operation::DeleteQualifier { qualifier_name: n }),
        Just(Operation::EnumerateQualifiers),
        (name(), b(), b(), property_list(), pull_params(true)).prop_map(|(c, d, o, p, pull)| {
            Operation::OpenEnumerateInstances {
                class_name: c,
                deep_inheritance: d,
                include_class_origin: o,
                property_list: p,
                pull,
            }
        }),
        (name(), pull_params(true)).prop_map(|(c, pull)| Operation::OpenEnumerateInstancePaths {
            class_name: c,
            pull
        }),
        (
            instance_name(),
            oc(),
            oc(),
            os(),
            os(),
            b(),
            property_list(),
            pull_params(true)
        )
            .prop_map(
                |(n, a, r, ro, rr, o, p, pull)| Operation::OpenAssociatorInstances {
                    instance_name: n,
                    assoc_class: a,
                    result_class: r,
                    role: ro,
                    result_role: rr,
                    include_class_origin: o,
                    property_list: p,
                    pull
                }
            ),
        (instance_name(), oc(), oc(), os(), os(), pull_params(true)).prop_map(
            |(n, a, r, ro, rr, pull)| {
                Operation::OpenAssociatorInstancePaths {
                    instance_name: n,
                    assoc_class: a,
                    result_class: r,
                    role: ro,
                    result_role: rr,
                    pull,
                }
            }
        ),
        (
            instance_name(),
            oc(),
            os(),
            b(),
            property_list(),
            pull_params(true)
        )
            .prop_map(|(n, r, ro, o, p, pull)| Operation::OpenReferenceInstances {
                instance_name: n,
                result_class: r,
                role: ro,
                include_class_origin: o,
                property_list: p,
                pull
            }),
        (instance_name(), oc(), os(), pull_params(true)).prop_map(|(n, r, ro, pull)| {
            Operation::OpenReferenceInstancePaths {
                instance_name: n,
                result_class: r,
                role: ro,
                pull,
            }
        }),
        (text(), text(), b(), pull_params(false)).prop_map(|(l, q, r, pull)| {
            Operation::OpenQueryInstances {
                filter_query_language: l,
                filter_query: q,
                return_query_result_class: r,
                pull,
            }
        }),
        (text(), any::<u32>()).prop_map(|(c, m)| Operation::PullInstancesWithPath {
            enumeration_context: c,
            max_object_count: m
        }),
        (text(), any::<u32>()).prop_map(|(c, m)| Operation::PullInstancePaths {
            enumeration_context: c,
            max_object_count: m
        }),
        (text(), any::<u32>()).prop_map(|(c, m)| Operation::PullInstances {
            enumeration_context: c,
            max_object_count: m
        }),
        text().prop_map(|c| Operation::CloseEnumeration {
            enumeration_context: c
        }),
        text().prop_map(|c| Operation::EnumerationCount {
            enumeration_context: c
        }),
    ]
}

fn cim_error() -> impl Strategy<Value = CimError> {
    (
        prop_oneof![
            Just(StatusCode::Failed),
            Just(StatusCode::NotFound),
            Just(StatusCode::InvalidParameter),
            Just(StatusCode::ServerIsShuttingDown),
        ],
        text(),
    )
        .prop_map(|(s, d)| CimError::new(s, d))
}

fn object_with_path() -> impl Strategy<Value = (ObjectPath, CimObject)> {
    prop_oneof![
        instance_with_path().prop_map(|i| (i.path.clone().unwrap(), CimObject::Instance(i))),
        (class(), namespace()).prop_map(|(c, ns)| (
            ObjectPath::class(Some(&ns), c.name.clone()),
            CimObject::Class(c)
        )),
    ]
}

fn object_path() -> impl Strategy<Value = ObjectPath> {
    prop_oneof![
        instance_path(),
        (name(), namespace()).prop_map(|(c, ns)| ObjectPath::class(Some(&ns), c)),
    ]
}

fn pull_result() -> impl Strategy<Value = (&'static str, Response)> {
    (
        prop_oneof![
            vec(instance_with_path(), 0..3)
                .prop_map(|v| ("PullInstancesWithPath", PullItems::InstancesWithPath(v))),
            vec(instance_path(), 0..3)
                .prop_map(|v| ("OpenEnumerateInstancePaths", PullItems::InstancePaths(v))),
            vec(instance(1), 0..3).prop_map(|v| ("OpenQueryInstances", PullItems::Instances(v))),
        ],
        any::<bool>(),
        option::of(text()),
        option::of(class()),
    )
        .prop_map(|((name, items), eos, ctx, qrc)| {
            (
                name,
                Response::Pull(PullResult {
                    items,
                    end_of_sequence: eos,
                    enumeration_context: ctx,
                    query_result_class: qrc,
                }),
            )
        })
}

fn response() -> impl Strategy<Value = (&'static str, Response)> {
    prop_oneof![
        Just(("DeleteInstance", Response::Empty)),
        class().prop_map(|c| ("GetClass", Response::Class(c))),
        vec(class(), 0..3).prop_map(|c| ("EnumerateClasses", Response::Classes(c))),
        vec(name(), 0..3).prop_map(|c| ("EnumerateClassNames", Response::ClassNames(c))),
        instance(1).prop_map(|i| ("GetInstance", Response::Instance(i))),
        vec(named_instance(), 0..3)
            .prop_map(|i| ("EnumerateInstances", Response::NamedInstances(i))),
        vec(instance_name(), 0..3)
            .prop_map(|i| ("EnumerateInstanceNames", Response::InstanceNames(i))),
        instance_name().prop_map(|i| ("CreateInstance", Response::InstanceName(i))),
        vec(object_with_path(), 0..3).prop_map(|o| ("Associators", Response::ObjectsWithPath(o))),
        vec(object_path(), 0..3).prop_map(|o| ("ReferenceNames", Response::ObjectPaths(o))),
        prop_oneof![
            Just(Value::Null),
            text().prop_map(Value::String),
            path(0).prop_map(Value::Reference),
        ]
        .prop_map(|v| ("GetProperty", Response::PropertyValue(v))),
        qualifier_decl().prop_map(|d| ("GetQualifier", Response::QualifierDecl(d))),
        vec(qualifier_decl(), 0..3)
            .prop_map(|d| ("EnumerateQualifiers", Response::QualifierDecls(d))),
        pull_result(),
        option::of(any::<u64>()).prop_map(|c| ("EnumerationCount", Response::Count(c))),
    ]
}

fn param_value() -> impl Strategy<Value = ParamValue> {
    prop_oneof![
        (name(), typed_value()).prop_map(|(n, (t, _, v))| ParamValue::new(n, t, v)),
        (name(), option::of(path(1))).prop_map(|(n, p)| ParamValue::new(
            n,
            CimType::Reference(None),
            p.map(Value::Reference).unwrap_or(Value::Null)
        )),
        (name(), vec(path(0), 0..3)).prop_map(|(n, ps)| ParamValue::new(
            n,
            CimType::Reference(None),
            Value::Array(ps.into_iter().map(Value::Reference).collect())
        )),
        (name(), instance(1)).prop_map(|(n, i)| ParamValue::new(
            n,
            CimType::EmbeddedInstance,
            Value::Instance(Box::new(i))
        )),
    ]
}

fn body() -> impl Strategy<Value = MessageBody> {
    prop_oneof![
        (namespace(), operation()).prop_map(|(ns, op)| MessageBody::IMethodCall(IMethodCall {
            namespace: ns,
            operation: op
        })),
        (
            namespace(),
            prop_oneof![
                instance_name(),
                name().prop_map(|c| ObjectPath::class(None, c))
            ],
            name(),
            vec(param_value(), 0..3)
        )
            .prop_map(
                |(ns, target, method, params)| MessageBody::MethodCall(MethodCall {
                    namespace: ns,
                    target,
                    method,
                    params
                })
            ),
        (response(), option::of(cim_error())).prop_map(|((name, r), e)| {
            MessageBody::IMethodResponse(IMethodResponse {
                name: name.to_owned(),
                result: e.map(Err).unwrap_or(Ok(r)),
            })
        }),
        (
            name(),
            scalar_type()
                .prop_flat_map(|t| (Just(t.clone()), prop_oneof![Just(Value::Null), scalar(t)])),
            vec(param_value(), 0..3),
            option::of(cim_error())
        )
            .prop_map(|(name, (t, v), out, e)| MessageBody::MethodResponse(
                MethodResponse {
                    name,
                    result: e.map(Err).unwrap_or(Ok(MethodResult {
                        return_value: v,
                        return_type: Some(t),
                        out_params: out
                    }))
                }
            )),
        instance(1).prop_map(MessageBody::ExportIndication),
        option::of(cim_error())
            .prop_map(|e| MessageBody::ExportResponse(e.map(Err).unwrap_or(Ok(())))),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    ("[0-9]{1,6}", body()).prop_map(|(id, body)| Message {
        id,
        protocol_version: "1.0".into(),
        body,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn messages_round_trip(msg in message()) {
        let text = xml::message_to_string(&msg);
        let back = xml::read_message(text.as_bytes(), &Limits::default());
        prop_assert_eq!(back.as_ref(), Ok(&msg), "document:\n{}", text);
    }

    #[test]
    fn instances_round_trip(inst in instance(2)) {
        let mut out = Vec::new();
        xml::write_instance(&inst, &mut out);
        let text = String::from_utf8(out).unwrap();
        prop_assert_eq!(xml::read_instance(&text, &Limits::default()), Ok(inst));
    }

    #[test]
    fn classes_round_trip(c in class()) {
        let mut out = Vec::new();
        xml::write_class(&c, &mut out);
        let text = String::from_utf8(out).unwrap();
        prop_assert_eq!(xml::read_class(&text, &Limits::default()), Ok(c));
    }

    #[test]
    fn qualifier_decls_round_trip(d in qualifier_decl()) {
        let mut out = Vec::new();
        xml::write_qualifier_decl(&d, &mut out);
        let text = String::from_utf8(out).unwrap();
        prop_assert_eq!(xml::read_qualifier_decl(&text, &Limits::default()), Ok(d));
    }

    #[test]
    fn paths_round_trip(p in instance_path()) {
        let mut out = Vec::new();
        xml::write_instance_path(&p, &mut out);
        let text = String::from_utf8(out).unwrap();
        let back = xml::read_object_path(&text, &Limits::default()).unwrap();
        prop_assert_eq!(back.host.as_deref(), Some(p.host.as_deref().unwrap_or("localhost")));
        prop_assert_eq!(back, p);
    }

    /// Arbitrary bytes never panic the reader.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..512)) {
        let _ = xml::read_message(&bytes, &Limits::default());
    }

    /// Valid documents with a few bytes changed never panic the reader and,
    /// when they fail, report a position inside the document.
    #[test]
    fn mutated_documents_never_panic(
        msg in message(),
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut doc = xml::message_to_string(&msg).into_bytes();
        for (at, byte) in edits {
            let i = at.index(doc.len());
            doc[i] = byte;
        }
        if let Err(e) = xml::read_message(&doc, &Limits::default()) {
            if let Some(p) = e.position() {
                prop_assert!(p as usize <= doc.len(), "{} beyond {}", e, doc.len());
            }
        }
    }
}

/// With `CIM_XML_SAMPLES=<dir>`, writes 500 generated messages there, for
/// `tests/data/validate_dtd.py` to check against the DSP0203 DTD (slow path,
/// off by default).
#[test]
fn dump_samples_for_dtd_validation() {
    use proptest::strategy::ValueTree;
    let Some(dir) = std::env::var_os("CIM_XML_SAMPLES") else {
        return;
    };
    std::fs::create_dir_all(&dir).unwrap();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = message();
    for i in 0..500 {
        let msg = strategy.new_tree(&mut runner).unwrap().current();
        let path = std::path::Path::new(&dir).join(format!("sample-{i:03}.xml"));
        std::fs::write(path, xml::message_to_string(&msg)).unwrap();
    }
}
