//! Pull operations: contexts, MaxObjectCount, expiry, filters, errors.
use crate::core_support::*;
use cim::ops::{
    IMethodResponse, Message, MessageBody, Operation, PullItems, PullParams, PullResult, Response,
};
use cim::{CimType, StatusCode, Value};
use cimom::CimomOptions;
use std::time::Duration;

const NS: &str = "root/cimv2";

fn pull_result(r: Response) -> PullResult {
    match r {
        Response::Pull(p) => p,
        other => panic!("expected a pull result, got {other:?}"),
    }
}

fn count(items: &PullItems) -> usize {
    match items {
        PullItems::InstancesWithPath(v) | PullItems::Instances(v) => v.len(),
        PullItems::InstancePaths(v) => v.len(),
        PullItems::Rendered(r) => r.len(),
    }
}

async fn setup(options: CimomOptions) -> (tempfile::TempDir, cimom::Cimom) {
    let dir = tempfile::tempdir().unwrap();
    let c = open_with(dir.path(), options);
    schema(&c).await;
    for n in 0..10u32 {
        create(
            &c,
            NS,
            inst(
                "T_Base",
                &[
                    ("Id", CimType::String, s(&format!("i{n}"))),
                    ("Count", CimType::Uint32, Value::Uint32(n)),
                ],
            ),
        )
        .await;
    }
    (dir, c)
}

fn open_enum(max: u32, timeout: Option<u32>) -> Operation {
    Operation::OpenEnumerateInstances {
        class_name: "T_Base".into(),
        deep_inheritance: true,
        include_class_origin: false,
        property_list: None,
        pull: PullParams {
            max_object_count: max,
            operation_timeout: timeout,
            ..Default::default()
        },
    }
}

#[tokio::test]
async fn open_pull_count_close() {
    let (_d, c) = setup(CimomOptions::default()).await;
    let r = pull_result(ok(&c, NS, open_enum(4, None)).await);
    assert_eq!(count(&r.items), 4);
    assert!(!r.end_of_sequence);
    let ctx = r.enumeration_context.unwrap();
    let Response::Count(n) = ok(
        &c,
        NS,
        Operation::EnumerationCount {
            enumeration_context: ctx.clone(),
        },
    )
    .await
    else {
        panic!()
    };
    assert_eq!(n, Some(6));
    // Wrong pull kind keeps the context.
    assert_eq!(
        err(
            &c,
            NS,
            Operation::PullInstancePaths {
                enumeration_context: ctx.clone(),
                max_object_count: 1
            }
        )
        .await,
        StatusCode::InvalidParameter
    );
    // Another namespace cannot use it.
    assert_eq!(
        err(
            &c,
            "interop",
            Operation::PullInstancesWithPath {
                enumeration_context: ctx.clone(),
                max_object_count: 1
            }
        )
        .await,
        StatusCode::InvalidEnumerationContext
    );
    let r = pull_result(
        ok(
            &c,
            NS,
            Operation::PullInstancesWithPath {
                enumeration_context: ctx.clone(),
                max_object_count: 0,
            },
        )
        .await,
    );
    assert_eq!(count(&r.items), 0);
    assert!(!r.end_of_sequence);
    let r = pull_result(
        ok(
            &c,
            NS,
            Operation::PullInstancesWithPath {
                enumeration_context: ctx.clone(),
                max_object_count: 5,
            },
        )
        .await,
    );
    assert_eq!(count(&r.items), 5);
    let r = pull_result(
        ok(
            &c,
            NS,
            Operation::PullInstancesWithPath {
                enumeration_context: ctx.clone(),
                max_object_count: 5,
            },
        )
        .await,
    );
    assert_eq!(count(&r.items), 1);
    assert!(r.end_of_sequence);
    // The context is gone at the end of the sequence.
    assert_eq!(
        err(
            &c,
            NS,
            Operation::PullInstancesWithPath {
                enumeration_context: ctx,
                max_object_count: 5
            }
        )
        .await,
        StatusCode::InvalidEnumerationContext
    );
    // Close frees a context early.
    let r = pull_result(ok(&c, NS, open_enum(1, None)).await);
    let ctx = r.enumeration_context.unwrap();
    ok(
        &c,
        NS,
        Operation::CloseEnumeration {
            enumeration_context: ctx.clone(),
        },
    )
    .await;
    assert_eq!(
        err(
            &c,
            NS,
            Operation::CloseEnumeration {
                enumeration_context: ctx
            }
        )
        .await,
        StatusCode::InvalidEnumerationContext
    );
    // Everything at once: no context.
    let r = pull_result(ok(&c, NS, open_enum(100, None)).await);
    assert!(r.end_of_sequence && r.enumeration_context.is_none());
    assert_eq!(count(&r.items), 10);
}

#[tokio::test]
async fn contexts_expire_and_are_limited() {
    let (_d, c) = setup(CimomOptions {
        max_pull_contexts: 2,
        ..Default::default()
    })
    .await;
    let r = pull_result(ok(&c, NS, open_enum(1, Some(1))).await);
    let ctx = r.enumeration_context.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        err(
            &c,
            NS,
            Operation::PullInstancesWithPath {
                enumeration_context: ctx,
                max_object_count: 1
            }
        )
        .await,
        StatusCode::InvalidEnumerationContext
    );
    // Another abandoned context is freed by the sweep on any request.
    ok(&c, NS, open_enum(1, Some(1))).await;
    assert_eq!(c.open_enumeration_contexts(), 1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    ok(&c, NS, get_class("T_Base")).await;
    assert_eq!(c.open_enumeration_contexts(), 0);
    ok(&c, NS, open_enum(1, None)).await;
    ok(&c, NS, open_enum(1, None)).await;
    assert_eq!(
        err(&c, NS, open_enum(1, None)).await,
        StatusCode::ServerLimitsExceeded
    );
    assert_eq!(
        err(&c, NS, open_enum(1, Some(0))).await,
        StatusCode::InvalidOperationTimeout
    );
    assert_eq!(
        err(&c, NS, open_enum(1, Some(100_000))).await,
        StatusCode::InvalidOperationTimeout
    );
}

#[tokio::test]
async fn filters_paths_queries_and_errors() {
    let (_d, c) = setup(CimomOptions::default()).await;
    let filtered = |lang: &str, q: &str| Operation::OpenEnumerateInstancePaths {
        class_name: "T_Base".into(),
        pull: PullParams {
            filter_query_language: Some(lang.into()),
            filter_query: Some(q.into()),
            max_object_count: 100,
            ..Default::default()
        },
    };
    let r = pull_result(
        ok(
            &c,
            NS,
            filtered("WQL", "SELECT * FROM T_Base WHERE Count < 3"),
        )
        .await,
    );
    assert_eq!(count(&r.items), 3);
    assert!(matches!(r.items, PullItems::InstancePaths(_)));
    let r = pull_result(ok(&c, NS, filtered("DMTF:FQL", "Count >= 8")).await);
    assert_eq!(count(&r.items), 2);
    assert_eq!(
        err(&c, NS, filtered("DMTF:CQL", "x")).await,
        StatusCode::QueryLanguageNotSupported
    );
    assert_eq!(
        err(&c, NS, filtered("WQL", "SELECT")).await,
        StatusCode::InvalidQuery
    );
    let coe = Operation::OpenEnumerateInstancePaths {
        class_name: "T_Base".into(),
        pull: PullParams {
            continue_on_error: true,
            ..Default::default()
        },
    };
    assert_eq!(
        err(&c, NS, coe).await,
        StatusCode::ContinuationOnErrorNotSupported
    );

    let q = Operation::OpenQueryInstances {
        filter_query_language: "WQL".into(),
        filter_query: "SELECT Id FROM T_Base WHERE Count > 4".into(),
        return_query_result_class: true,
        pull: PullParams {
            max_object_count: 2,
            ..Default::default()
        },
    };
    let r = pull_result(ok(&c, NS, q).await);
    assert!(
        matches!(&r.items, PullItems::Instances(v) if v.len() == 2 && v[0].properties.len() == 1)
    );
    assert_eq!(r.query_result_class.unwrap().properties.len(), 1);
    let ctx = r.enumeration_context.unwrap();
    assert_eq!(
        err(
            &c,
            NS,
            Operation::PullInstancesWithPath {
                enumeration_context: ctx.clone(),
                max_object_count: 5
            }
        )
        .await,
        StatusCode::InvalidParameter
    );
    let r = pull_result(
        ok(
            &c,
            NS,
            Operation::PullInstances {
                enumeration_context: ctx,
                max_object_count: 5,
            },
        )
        .await,
    );
    assert_eq!(count(&r.items), 3);
    assert!(r.end_of_sequence);
    assert_eq!(
        err(
            &c,
            NS,
            Operation::PullInstances {
                enumeration_context: "bogus".into(),
                max_object_count: 5
            }
        )
        .await,
        StatusCode::InvalidEnumerationContext
    );
}

/// The filter sees every property, even those the PropertyList leaves out
/// of the answer (Open/Pull pages the classic EnumerateInstances, which
/// projects; the filter must run before the projection).
#[tokio::test]
async fn filter_sees_properties_the_property_list_drops() {
    let (_d, c) = setup(CimomOptions::default()).await;
    for deep in [true, false] {
        let op = Operation::OpenEnumerateInstances {
            class_name: "T_Base".into(),
            deep_inheritance: deep,
            include_class_origin: false,
            property_list: Some(vec!["Id".into()]),
            pull: PullParams {
                filter_query_language: Some("DMTF:FQL".into()),
                filter_query: Some("Count >= 7".into()),
                max_object_count: 100,
                ..Default::default()
            },
        };
        let r = pull_result(ok(&c, NS, op).await);
        let PullItems::InstancesWithPath(v) = r.items else {
            panic!("instances with paths expected");
        };
        let mut ids: Vec<_> = v
            .iter()
            .map(|i| i.get_str("Id").unwrap().to_owned())
            .collect();
        ids.sort();
        assert_eq!(ids, ["i7", "i8", "i9"], "deep_inheritance={deep}");
        assert!(v.iter().all(|i| i.properties.len() == 1), "cut to Id");
    }
}

#[tokio::test]
async fn pull_associators_and_references() {
    let (_d, c) = setup(CimomOptions::default()).await;
    for n in 1..4 {
        let mut l = inst("T_Link", &[]);
        l.set(
            "A",
            CimType::Reference(None),
            Value::Reference(path("T_Base", &[("Id", s("i0"))])),
        );
        l.set(
            "B",
            CimType::Reference(None),
            Value::Reference(path("T_Base", &[("Id", s(&format!("i{n}")))])),
        );
        create(&c, NS, l).await;
    }
    let i0 = path("T_Base", &[("Id", s("i0"))]);
    let r = pull_result(
        ok(
            &c,
            NS,
            Operation::OpenAssociatorInstances {
                instance_name: i0.clone(),
                assoc_class: None,
                result_class: None,
                role: Some("A".into()),
                result_role: None,
                include_class_origin: false,
                property_list: Some(vec!["Count".into()]),
                pull: PullParams {
                    max_object_count: 10,
                    filter_query_language: Some("DMTF:FQL".into()),
                    filter_query: Some("Count <> 2".into()),
                    ..Default::default()
                },
            },
        )
        .await,
    );
    assert!(
        matches!(&r.items, PullItems::InstancesWithPath(v) if v.len() == 2 && v.iter().all(|i| i.properties.len() == 1))
    );
    let r = pull_result(
        ok(
            &c,
            NS,
            Operation::OpenReferenceInstancePaths {
                instance_name: i0.clone(),
                result_class: None,
                role: None,
                pull: PullParams {
                    max_object_count: 2,
                    ..Default::default()
                },
            },
        )
        .await,
    );
    assert_eq!(count(&r.items), 2);
    assert!(!r.end_of_sequence);
    let r = pull_result(
        ok(
            &c,
            NS,
            Operation::OpenAssociatorInstancePaths {
                instance_name: i0,
                assoc_class: Some("T_Link".into()),
                result_class: None,
                role: None,
                result_role: Some("B".into()),
                pull: PullParams {
                    max_object_count: 10,
                    ..Default::default()
                },
            },
        )
        .await,
    );
    assert_eq!(count(&r.items), 3);
}

/// The instances of a page as a client reads them (a rendered page is
/// written into a response and read back).
fn page_instances(r: &PullResult) -> Vec<cim::Instance> {
    let msg = Message {
        id: "1".into(),
        protocol_version: "1.0".into(),
        body: MessageBody::IMethodResponse(IMethodResponse {
            name: "OpenEnumerateInstances".into(),
            result: Ok(Response::Pull(r.clone())),
        }),
    };
    let mut text = Vec::new();
    cim::xml::write_message(&msg, &mut text);
    match cim::xml::read_message(&text, &cim::xml::Limits::default())
        .unwrap()
        .body
    {
        MessageBody::IMethodResponse(IMethodResponse {
            result: Ok(Response::Pull(p)),
            ..
        }) => match p.items {
            PullItems::InstancesWithPath(v) => v,
            other => panic!("expected instances with path, got {other:?}"),
        },
        other => panic!("expected a pull response, got {other:?}"),
    }
}

/// Every instance of an OpenEnumerateInstances of T_Base in pages of 3, and
/// the shared text of its first page.
async fn pull_all(c: &cimom::Cimom) -> (Vec<cim::Instance>, std::sync::Arc<Vec<u8>>) {
    let r = pull_result(ok(c, NS, open_enum(3, None)).await);
    let PullItems::Rendered(first) = &r.items else {
        panic!(
            "stored instances are paged from their rendering, got {:?}",
            r.items
        );
    };
    let text = first.text.clone();
    let mut all = page_instances(&r);
    let mut ctx = r.enumeration_context;
    while let Some(id) = ctx {
        let r = pull_result(
            ok(
                c,
                NS,
                Operation::PullInstancesWithPath {
                    enumeration_context: id,
                    max_object_count: 3,
                },
            )
            .await,
        );
        assert!(count(&r.items) <= 3);
        all.extend(page_instances(&r));
        ctx = r.enumeration_context;
    }
    (all, text)
}

#[tokio::test]
async fn open_enumerate_instances_pages_the_cached_rendering_and_sees_each_write_at_once() {
    let (_d, c) = setup(CimomOptions::default()).await;
    let classic = |r: Response| {
        let mut v = named(r);
        v.sort_by_key(|i| format!("{:?}", i.get("Id")));
        v
    };
    let sorted = |mut v: Vec<cim::Instance>| {
        v.sort_by_key(|i| format!("{:?}", i.get("Id")));
        v
    };
    let (first, text) = pull_all(&c).await;
    assert_eq!(first.len(), 10);
    // The same instances, paths and values as the classic operation.
    let want = classic(ok(&c, NS, enum_instances("T_Base")).await);
    assert_eq!(sorted(first.clone()), want);
    // A second enumeration pages the same cached text.
    let (again, text2) = pull_all(&c).await;
    assert_eq!(again, first);
    assert!(std::sync::Arc::ptr_eq(&text, &text2));

    // An instance write is seen by the very next Open.
    let mut changed = inst(
        "T_Base",
        &[
            ("Id", CimType::String, s("i3")),
            ("Count", CimType::Uint32, Value::Uint32(99)),
        ],
    );
    changed.path = Some(path("T_Base", &[("Id", s("i3"))]));
    ok(
        &c,
        NS,
        Operation::ModifyInstance {
            modified_instance: changed,
            include_qualifiers: false,
            property_list: Some(vec!["Count".into()]),
        },
    )
    .await;
    let (after, text3) = pull_all(&c).await;
    assert!(!std::sync::Arc::ptr_eq(&text, &text3));
    let i3 = after
        .iter()
        .find(|i| i.get("Id") == Some(&s("i3")))
        .unwrap();
    assert_eq!(i3.get("Count"), Some(&Value::Uint32(99)));

    // A schema change too: a new property of the subclass, then an instance of it.
    let mut sub = class(
        "T_Sub",
        Some("T_Base"),
        vec![
            prop("Extra", CimType::Boolean),
            prop("Note", CimType::String),
        ],
    );
    sub.properties[1].value = s("default note");
    ok(
        &c,
        NS,
        Operation::ModifyClass {
            modified_class: sub,
        },
    )
    .await;
    create(&c, NS, inst("T_Sub", &[("Id", CimType::String, s("sub1"))])).await;
    let (after, _) = pull_all(&c).await;
    assert_eq!(after.len(), 11);
    let sub1 = after
        .iter()
        .find(|i| i.get("Id") == Some(&s("sub1")))
        .unwrap();
    assert_eq!(sub1.class_name.as_str(), "T_Sub");
    assert_eq!(sub1.get("Note"), Some(&s("default note")));
    assert_eq!(
        sorted(after),
        classic(ok(&c, NS, enum_instances("T_Base")).await)
    );
}
