//! The interop namespace as pywbem's WBEMServer and WBEMSubscriptionManager
//! use it: CIM_ObjectManager, CIM_Namespace, and subscriptions.
use crate::core_support::*;
use cim::ops::{Operation, Response};
use cim::{CimType, StatusCode, Value};

#[tokio::test]
async fn object_manager_and_namespaces() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    // pywbem probes the interop namespace with EnumerateInstanceNames CIM_Namespace.
    let names = paths(
        ok(
            &c,
            "interop",
            Operation::EnumerateInstanceNames {
                class_name: "CIM_Namespace".into(),
            },
        )
        .await,
    );
    let ns: Vec<_> = names
        .iter()
        .map(|p| p.key_str("Name").unwrap().to_owned())
        .collect();
    assert!(ns.contains(&"interop".to_string()) && ns.contains(&"root/cimv2".to_string()));
    assert!(names.iter().all(|p| p.keys.len() == 6));
    let oms = named(ok(&c, "root/interop", enum_instances("CIM_ObjectManager")).await);
    assert_eq!(oms.len(), 1);
    let om = &oms[0];
    assert_eq!(om.get_str("ElementName"), Some("cimomd"));
    assert!(om.get_str("SystemName").is_some());
    assert!(om.get_str("Description").unwrap().contains("version"));
    // GetInstance of the object manager by its path.
    ok(&c, "interop", get_instance(om.path.clone().unwrap())).await;
    // Deep enumeration from a superclass reaches the live instances.
    let svc = named(ok(&c, "interop", enum_instances("CIM_Service")).await);
    assert_eq!(svc.len(), 1);
    // Registered profiles: the class exists, no instances.
    assert!(named(ok(&c, "interop", enum_instances("CIM_RegisteredProfile")).await).is_empty());

    // Namespace creation and deletion through CIM_Namespace.
    let mut n = om.clone();
    n.class_name = "CIM_Namespace".into();
    n.properties.clear();
    n.path = None;
    n.set("Name", CimType::String, s("root/test"));
    let p = create(&c, "interop", n).await;
    assert_eq!(p.key_str("Name"), Some("root/test"));
    assert!(c.repository().resolve_namespace("root/test").is_ok());
    ok(
        &c,
        "interop",
        Operation::DeleteInstance {
            instance_name: p.clone(),
        },
    )
    .await;
    assert_eq!(
        err(&c, "root/test", get_class("CIM_ManagedElement")).await,
        StatusCode::InvalidNamespace
    );
    assert_eq!(
        err(
            &c,
            "interop",
            Operation::DeleteInstance { instance_name: p }
        )
        .await,
        StatusCode::NotFound
    );
    let cimv2 = names
        .iter()
        .find(|p| p.key_str("Name") == Some("root/cimv2"))
        .unwrap()
        .clone();
    assert_eq!(
        err(
            &c,
            "interop",
            Operation::DeleteInstance {
                instance_name: cimv2
            }
        )
        .await,
        StatusCode::NamespaceNotEmpty
    );
}

#[tokio::test]
async fn subscriptions_like_pywbem() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    let mut changes = c.subscriptions_changed();
    let ns = "interop";
    // pywbem sets every key itself for filters and destinations.
    let filter = create(
        &c,
        ns,
        inst(
            "CIM_IndicationFilter",
            &[
                (
                    "CreationClassName",
                    CimType::String,
                    s("CIM_IndicationFilter"),
                ),
                (
                    "SystemCreationClassName",
                    CimType::String,
                    s("CIM_ComputerSystem"),
                ),
                ("SystemName", CimType::String, s("host1")),
                ("Name", CimType::String, s("pywbemfilter:owned:x:1")),
                (
                    "SourceNamespaces",
                    CimType::String,
                    Value::Array(vec![s("root/cimv2")]),
                ),
                (
                    "Query",
                    CimType::String,
                    s("SELECT * FROM CIM_InstCreation WHERE SourceInstance ISA DS_IISet"),
                ),
                ("QueryLanguage", CimType::String, s("WQL")),
            ],
        ),
    )
    .await;
    assert!(changes.has_changed().unwrap());
    changes.mark_unchanged();
    // Another client leaves the keys to the server.
    let dest = create(
        &c,
        ns,
        inst(
            "CIM_ListenerDestinationCIMXML",
            &[
                ("Destination", CimType::String, s("http://127.0.0.1:5990")),
                ("PersistenceType", CimType::Uint16, Value::Uint16(3)),
            ],
        ),
    )
    .await;
    assert_eq!(
        dest.key_str("CreationClassName"),
        Some("CIM_ListenerDestinationCIMXML")
    );
    assert_eq!(
        dest.key_str("SystemCreationClassName"),
        Some("CIM_ComputerSystem")
    );
    assert!(dest.key_str("Name").is_some_and(|n| !n.is_empty()));
    let Response::Instance(d) = ok(&c, ns, get_instance(dest.clone())).await else {
        panic!()
    };
    assert_eq!(d.get("PersistenceType"), Some(&Value::Uint16(3)));

    let mut sub = inst("CIM_IndicationSubscription", &[]);
    sub.set(
        "Filter",
        CimType::Reference(None),
        Value::Reference(filter.clone()),
    );
    sub.set(
        "Handler",
        CimType::Reference(None),
        Value::Reference(dest.clone()),
    );
    let sp = create(&c, ns, sub.clone()).await;
    assert_eq!(
        err(&c, ns, Operation::CreateInstance { new_instance: sub }).await,
        StatusCode::AlreadyExists
    );
    ok(&c, ns, get_instance(sp.clone())).await;

    let subs = c.subscriptions();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].destination, "http://127.0.0.1:5990");
    assert_eq!(subs[0].source_namespaces, ["root/cimv2"]);
    let q = cimom::wql::Query::parse(&subs[0].query).unwrap();
    assert_eq!(q.from_class(), "CIM_InstCreation");
    assert_eq!(
        subs[0].subscription.get("SubscriptionState"),
        Some(&Value::Uint16(2))
    );

    // References from the filter reach the subscription (reference index).
    let refs = paths(
        ok(
            &c,
            ns,
            Operation::ReferenceNames {
                object_name: filter.clone(),
                result_class: None,
                role: None,
            },
        )
        .await,
    );
    assert_eq!(refs.len(), 1);

    // A filter in use cannot be deleted; after the subscription goes, it can.
    assert_eq!(
        err(
            &c,
            ns,
            Operation::DeleteInstance {
                instance_name: filter.clone()
            }
        )
        .await,
        StatusCode::Failed
    );
    ok(&c, ns, Operation::DeleteInstance { instance_name: sp }).await;
    assert!(c.subscriptions().is_empty());
    ok(
        &c,
        ns,
        Operation::DeleteInstance {
            instance_name: filter.clone(),
        },
    )
    .await;

    // Bad filters and dangling subscriptions are refused.
    let bad = |q: &str, lang: &str| {
        inst(
            "CIM_IndicationFilter",
            &[
                ("Name", CimType::String, s("f2")),
                ("Query", CimType::String, s(q)),
                ("QueryLanguage", CimType::String, s(lang)),
            ],
        )
    };
    assert_eq!(
        err(
            &c,
            ns,
            Operation::CreateInstance {
                new_instance: bad("SELECT FROM", "WQL")
            }
        )
        .await,
        StatusCode::InvalidQuery
    );
    assert_eq!(
        err(
            &c,
            ns,
            Operation::CreateInstance {
                new_instance: bad("SELECT * FROM X", "DMTF:CQL")
            }
        )
        .await,
        StatusCode::QueryLanguageNotSupported
    );
    let mut dangling = inst("CIM_IndicationSubscription", &[]);
    dangling.set("Filter", CimType::Reference(None), Value::Reference(filter));
    dangling.set("Handler", CimType::Reference(None), Value::Reference(dest));
    assert_eq!(
        err(
            &c,
            ns,
            Operation::CreateInstance {
                new_instance: dangling
            }
        )
        .await,
        StatusCode::InvalidParameter
    );
}
