//! The client and the facade against a canned CIM-XML responder: each test
//! states the requests it expects (headers and body fragments) and replays
//! recorded cimomd-style replies, so the client is tested without a server.

use crate::responder::*;
use client::ii::set_path;
use client::{Client, ClientConfig, Direction, Error, IiHost, SetSpec, SetType};
use std::time::Duration;

fn client(url: &str) -> Client {
    Client::new(ClientConfig::new(url).with_credentials("admin", "pw")).unwrap()
}

fn x(
    method: &'static str,
    object: Option<&'static str>,
    body_has: Vec<&'static str>,
    reply: String,
) -> Exchange {
    Exchange {
        method,
        object,
        body_has,
        reply,
        ..Default::default()
    }
}

const SET_OBJECT: &str = "root/cimv2:DS_IISet.setType=%22dependent%22,shadowVolume=%22/vol/s1%22";

#[tokio::test]
async fn get_instance_sends_dsp0200_headers_and_decodes_the_reply() {
    let r = Responder::start(vec![x(
        "GetInstance",
        Some("root/cimv2"),
        vec![
            "<IMETHODCALL NAME=\"GetInstance\">",
            "<NAMESPACE NAME=\"root\"/><NAMESPACE NAME=\"cimv2\"/>",
            "IPARAMVALUE NAME=\"InstanceName\"",
            "/vol/s1",
        ],
        iresp(
            "GetInstance",
            &set_instance("/vol/s1", "dependent", "copying", None, "42.5"),
        ),
    )])
    .await;
    let c = client(&r.url);
    let inst = c
        .get_instance(&set_path("root/cimv2", "/vol/s1", "dependent"))
        .await
        .unwrap();
    assert_eq!(inst.get_str("state"), Some("copying"));
    assert_eq!(
        inst.get("percentCompleted").and_then(|v| v.as_f64()),
        Some(42.5)
    );
    assert_eq!(
        inst.path.as_ref().and_then(|p| p.namespace.as_deref()),
        Some("root/cimv2")
    );
    r.check();
    let seen = r.seen.lock().unwrap();
    assert_eq!(
        seen[0].headers.get("authorization").unwrap(),
        "Basic YWRtaW46cHc="
    );
    assert_eq!(seen[0].headers.get("cimmethod").unwrap(), "GetInstance");
}

#[tokio::test]
async fn facade_lists_finds_and_drives_sets() {
    let two = format!(
        "{}{}",
        named_set("/vol/s1", "dependent", "idle", Some("g1")),
        named_set("/vol/s2", "independent", "suspended", None)
    );
    let r = Responder::start(vec![
        x(
            "EnumerateInstances",
            Some("root/cimv2"),
            vec!["<CLASSNAME NAME=\"DS_IISet\"/>"],
            iresp("EnumerateInstances", &two),
        ),
        x(
            "EnumerateInstances",
            Some("root/cimv2"),
            vec![],
            iresp("EnumerateInstances", &two),
        ),
        x(
            "copyMasterToShadow",
            Some(SET_OBJECT),
            vec![
                "<METHODCALL NAME=\"copyMasterToShadow\">",
                "<LOCALINSTANCEPATH>",
                ">/vol/s1</KEYVALUE>",
            ],
            mresp_bool("copyMasterToShadow", true),
        ),
        x(
            "setCopyParameters",
            Some(SET_OBJECT),
            vec![
                "<PARAMVALUE NAME=\"delay\" PARAMTYPE=\"uint32\"><VALUE>10</VALUE>",
                "<PARAMVALUE NAME=\"units\" PARAMTYPE=\"uint32\"><VALUE>200</VALUE>",
            ],
            mresp_bool("setCopyParameters", true),
        ),
        x(
            "abort",
            Some(SET_OBJECT),
            vec![],
            mresp_bool("abort", false),
        ),
        x(
            "ModifyInstance",
            Some("root/cimv2"),
            vec![
                "<PROPERTY NAME=\"setName\" TYPE=\"string\"><VALUE>renamed</VALUE>",
                "<IPARAMVALUE NAME=\"PropertyList\"><VALUE.ARRAY><VALUE>setName</VALUE></VALUE.ARRAY>",
                ">/vol/s1</KEYVALUE>",
            ],
            iresp_empty("ModifyInstance"),
        ),
        x(
            "getPercentCompleted",
            Some(SET_OBJECT),
            vec![],
            mresp(
                "getPercentCompleted",
                "<RETURNVALUE PARAMTYPE=\"real32\"><VALUE>12.5</VALUE></RETURNVALUE>",
            ),
        ),
    ])
    .await;
    let host = IiHost::new(client(&r.url));
    let sets = host.list_sets().await.unwrap();
    assert_eq!(sets.len(), 2);
    assert_eq!(sets[0].group.as_deref(), Some("g1"));
    assert_eq!(sets[0].overflow, None);
    assert_eq!(sets[1].set_type, "independent");
    assert_eq!(
        sets[1].path,
        set_path("root/cimv2", "/vol/s2", "independent")
    );
    let s1 = host.find_set("/vol/s1").await.unwrap();
    s1.copy(Direction::ToShadow).await.unwrap();
    s1.set_copy_parameters(client::CopyParams {
        delay: 10,
        units: 200,
    })
    .await
    .unwrap();
    // A `false` return is an error naming the set.
    let e = s1.abort().await.unwrap_err();
    assert!(e.to_string().contains("abort on /vol/s1"), "{e}");
    s1.modify(Some("renamed"), None).await.unwrap();
    s1.modify(None, None).await.unwrap(); // nothing to change: no request
    assert_eq!(s1.percent_completed().await.unwrap(), 12.5);
    r.check();
}

#[tokio::test]
async fn create_set_import_and_group_membership() {
    let r = Responder::start(vec![
        x(
            "CreateInstance",
            Some("root/cimv2"),
            vec![
                "<INSTANCE CLASSNAME=\"DS_IISet\">",
                "<PROPERTY NAME=\"masterVolume\" TYPE=\"string\"><VALUE>/vol/m</VALUE>",
                "<PROPERTY NAME=\"setType\" TYPE=\"string\"><VALUE>dependent</VALUE>",
                "<PROPERTY NAME=\"setName\" TYPE=\"string\"><VALUE>nightly</VALUE>",
            ],
            iresp("CreateInstance", &set_name("/vol/s1", "dependent")),
        ),
        x(
            "importShadow",
            Some("root/cimv2:DS_IISet"),
            vec![
                "<LOCALCLASSPATH>",
                "<CLASSNAME NAME=\"DS_IISet\"/>",
                "<PARAMVALUE NAME=\"shadowVolume\" PARAMTYPE=\"string\"><VALUE>/vol/x</VALUE>",
                "<PARAMVALUE NAME=\"bitmapVolume\" PARAMTYPE=\"string\"><VALUE>/vol/xb</VALUE>",
            ],
            mresp_bool("importShadow", true),
        ),
        x("GetInstance", Some("root/cimv2"), vec!["groupName", "g1"], iresp("GetInstance", "<INSTANCE CLASSNAME=\"DS_IIGroup\"><PROPERTY NAME=\"groupName\" TYPE=\"string\"><VALUE>g1</VALUE></PROPERTY></INSTANCE>")),
        x(
            "addIISet",
            Some("root/cimv2:DS_IIGroup.groupName=%22g1%22"),
            vec!["<PARAMVALUE NAME=\"set\" PARAMTYPE=\"reference\"><VALUE.REFERENCE>", "/vol/s1"],
            mresp_bool("addIISet", true),
        ),
        x(
            "getIISets",
            Some("root/cimv2:DS_IIGroup.groupName=%22g1%22"),
            vec![],
            mresp(
                "getIISets",
                &format!(
                    "<RETURNVALUE PARAMTYPE=\"uint32\"><VALUE>1</VALUE></RETURNVALUE>\
                     <PARAMVALUE NAME=\"sets\" PARAMTYPE=\"reference\"><VALUE.REFARRAY><VALUE.REFERENCE>{}</VALUE.REFERENCE></VALUE.REFARRAY></PARAMVALUE>",
                    set_name("/vol/s1", "dependent")
                ),
            ),
        ),
        x("GetInstance", Some("root/cimv2"), vec!["g9"], ierror("GetInstance", 6, "no group g9")),
    ])
    .await;
    let host = IiHost::new(client(&r.url));
    let mut spec = SetSpec::new(SetType::Dependent, "/vol/m", "/vol/s1", "/vol/b");
    spec.name = Some("nightly".into());
    let set = host.create_set(&spec).await.unwrap();
    assert_eq!(set.shadow(), "/vol/s1");
    assert_eq!(set.path().namespace.as_deref(), Some("root/cimv2"));
    let imported = host.import_shadow("/vol/x", "/vol/xb").await.unwrap();
    assert_eq!(imported.path().key_str("setType"), Some("imported"));
    let g = host.find_group("g1").await.unwrap();
    g.add(&set).await.unwrap();
    let members = g.members().await.unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].shadow(), "/vol/s1");
    let e = host.find_group("g9").await.unwrap_err();
    assert!(matches!(&e, Error::GroupNotFound(g) if g == "g9"), "{e:?}");
    r.check();
}

#[tokio::test]
async fn errors_are_typed() {
    let r = Responder::start(vec![
        x(
            "DeleteInstance",
            None,
            vec![],
            ierror(
                "DeleteInstance",
                1,
                "set /vol/s1 is copying; wait with iiadm -w",
            ),
        ),
        Exchange {
            method: "EnumerateInstances",
            status: 400,
            headers: vec![("CIMError", "request-not-valid")],
            ..Default::default()
        },
        Exchange {
            method: "EnumerateInstances",
            status: 401,
            headers: vec![("WWW-Authenticate", "Basic realm=\"cimom\"")],
            ..Default::default()
        },
        x("EnumerateInstances", None, vec![], "this is not xml".into()),
        x(
            "EnumerateInstances",
            None,
            vec![],
            iresp("EnumerateInstances", "").replace("{ID}", "wrong-id"),
        ),
        x(
            "EnumerateInstances",
            None,
            vec![],
            iresp("EnumerateClassNames", ""),
        ),
        Exchange {
            method: "EnumerateInstances",
            delay: Some(Duration::from_millis(1500)),
            reply: iresp("EnumerateInstances", ""),
            ..Default::default()
        },
    ])
    .await;
    let c = client(&r.url);
    let e = c
        .delete_instance(&set_path("root/cimv2", "/vol/s1", "dependent"))
        .await
        .unwrap_err();
    match &e {
        Error::Cim(ce) => {
            assert_eq!(ce.status, cim::StatusCode::Failed);
            assert!(ce.description.contains("wait with iiadm -w"));
        }
        other => panic!("{other:?}"),
    }
    let e = c
        .enumerate_instances("root/cimv2", "DS_IISet")
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::CimErrorHeader { status: 400, cim_error } if cim_error == "request-not-valid"),
        "{e:?}"
    );
    let e = c
        .enumerate_instances("root/cimv2", "DS_IISet")
        .await
        .unwrap_err();
    assert!(matches!(&e, Error::HttpStatus { status: 401, .. }), "{e:?}");
    let e = c
        .enumerate_instances("root/cimv2", "DS_IISet")
        .await
        .unwrap_err();
    assert!(matches!(&e, Error::XmlDecode(_)), "{e:?}");
    let e = c
        .enumerate_instances("root/cimv2", "DS_IISet")
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Protocol { .. }) && e.to_string().contains("message id"),
        "{e:?}"
    );
    let e = c
        .enumerate_instances("root/cimv2", "DS_IISet")
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Protocol { .. }) && e.to_string().contains("EnumerateClassNames"),
        "{e:?}"
    );
    let mut cfg = ClientConfig::new(r.url.clone());
    cfg.timeout = Some(Duration::from_millis(300));
    let slow = Client::new(cfg).unwrap();
    let e = slow
        .enumerate_instances("root/cimv2", "DS_IISet")
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Timeout { .. }) && e.is_connection_failure(),
        "{e:?}"
    );
    r.check();
}

#[tokio::test]
async fn unreachable_server_is_a_transport_error() {
    // Bind and drop to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = Client::connect(&format!("http://127.0.0.1:{port}")).unwrap();
    let e = c
        .enumerate_instance_names("root/cimv2", "DS_IISet")
        .await
        .unwrap_err();
    assert!(matches!(&e, Error::Transport { .. }), "{e:?}");
    assert!(e.is_connection_failure());
}

fn pull_reply(name: &str, shadows: &[&str], eos: bool, ctx: &str) -> String {
    let items: String = shadows
        .iter()
        .map(|s| {
            format!(
                "<VALUE.INSTANCEWITHPATH><INSTANCEPATH><NAMESPACEPATH><HOST>localhost</HOST>\
                 <LOCALNAMESPACEPATH><NAMESPACE NAME=\"root\"/><NAMESPACE NAME=\"cimv2\"/></LOCALNAMESPACEPATH>\
                 </NAMESPACEPATH>{}</INSTANCEPATH>{}</VALUE.INSTANCEWITHPATH>",
                set_name(s, "dependent"),
                set_instance(s, "dependent", "idle", None, "100")
            )
        })
        .collect();
    doc(&format!(
        "<IMETHODRESPONSE NAME=\"{name}\"><IRETURNVALUE>{items}</IRETURNVALUE>\
         <PARAMVALUE NAME=\"EndOfSequence\" PARAMTYPE=\"boolean\"><VALUE>{}</VALUE></PARAMVALUE>\
         <PARAMVALUE NAME=\"EnumerationContext\" PARAMTYPE=\"string\"><VALUE>{ctx}</VALUE></PARAMVALUE>\
         </IMETHODRESPONSE>",
        if eos { "TRUE" } else { "FALSE" }
    ))
}

#[tokio::test]
async fn pull_enumerations_batch_stream_and_close() {
    use futures::StreamExt;
    let r = Responder::start(vec![
        x(
            "OpenEnumerateInstances",
            Some("root/cimv2"),
            vec!["NAME=\"MaxObjectCount\"><VALUE>2</VALUE>"],
            pull_reply(
                "OpenEnumerateInstances",
                &["/vol/a", "/vol/b"],
                false,
                "ctx-1",
            ),
        ),
        x(
            "PullInstancesWithPath",
            None,
            vec!["<VALUE>ctx-1</VALUE>"],
            pull_reply("PullInstancesWithPath", &[], false, "ctx-2"),
        ),
        x(
            "PullInstancesWithPath",
            None,
            vec!["<VALUE>ctx-2</VALUE>"],
            pull_reply("PullInstancesWithPath", &["/vol/c"], true, ""),
        ),
        // Second enumeration: streamed, then closed early.
        x(
            "OpenEnumerateInstances",
            None,
            vec![],
            pull_reply("OpenEnumerateInstances", &["/vol/a"], false, "ctx-9"),
        ),
        x(
            "CloseEnumeration",
            None,
            vec!["<VALUE>ctx-9</VALUE>"],
            iresp_empty("CloseEnumeration"),
        ),
    ])
    .await;
    let c = client(&r.url);
    let en = c
        .open_enumerate_instances("root/cimv2", "DS_IISet", 2)
        .await
        .unwrap();
    let items: Vec<_> = en.into_stream().collect().await;
    let shadows: Vec<String> = items
        .into_iter()
        .map(|i| {
            i.unwrap()
                .into_instance()
                .unwrap()
                .get_str("shadowVolume")
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(shadows, ["/vol/a", "/vol/b", "/vol/c"]);
    let mut en = c
        .open_enumerate_instances("root/cimv2", "DS_IISet", 2)
        .await
        .unwrap();
    let first = en.next_batch().await.unwrap().unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(
        first[0].path().and_then(|p| p.key_str("shadowVolume")),
        Some("/vol/a")
    );
    assert_eq!(en.context(), Some("ctx-9"));
    en.close().await.unwrap();
    r.check();
}

#[tokio::test]
async fn wait_with_progress_reports_percentages() {
    let r = Responder::start(vec![
        Exchange {
            method: "waitForCompletion",
            object: Some(SET_OBJECT),
            body_has: vec![
                "<PARAMVALUE NAME=\"timeoutSeconds\" PARAMTYPE=\"uint32\"><VALUE>0</VALUE>",
            ],
            delay: Some(Duration::from_millis(700)),
            reply: mresp_bool("waitForCompletion", true),
            ..Default::default()
        },
        x(
            "getPercentCompleted",
            None,
            vec![],
            mresp(
                "getPercentCompleted",
                "<RETURNVALUE PARAMTYPE=\"real32\"><VALUE>30</VALUE></RETURNVALUE>",
            ),
        ),
        x(
            "getPercentCompleted",
            None,
            vec![],
            mresp(
                "getPercentCompleted",
                "<RETURNVALUE PARAMTYPE=\"real32\"><VALUE>99.5</VALUE></RETURNVALUE>",
            ),
        ),
    ])
    .await;
    let host = IiHost::new(client(&r.url));
    let info = client::SetInfo::from_instance(
        &{
            let mut i = cim::Instance::new("DS_IISet");
            i.set(
                "shadowVolume",
                cim::CimType::String,
                cim::Value::String("/vol/s1".into()),
            );
            i.set(
                "setType",
                cim::CimType::String,
                cim::Value::String("dependent".into()),
            );
            i
        },
        "root/cimv2",
    )
    .unwrap();
    let set = host.handle_for(&info);
    let mut seen = Vec::new();
    // One tick at once; the next (10 s) never comes because the wait ends at
    // 700 ms, so the test does not depend on the machine's speed.
    set.wait_with_progress(Duration::from_secs(10), |p| seen.push(p))
        .await
        .unwrap();
    // The tick at 0 ms while the wait runs, then the final read.
    assert_eq!(seen, vec![30.0, 99.5]);
    r.check();
}

const INSTPATH_S1: &str = "<INSTANCEPATH><NAMESPACEPATH><HOST>localhost</HOST><LOCALNAMESPACEPATH>\
    <NAMESPACE NAME=\"root\"/><NAMESPACE NAME=\"cimv2\"/></LOCALNAMESPACEPATH></NAMESPACEPATH>\
    <INSTANCENAME CLASSNAME=\"DS_IIGroup\"><KEYBINDING NAME=\"groupName\"><KEYVALUE VALUETYPE=\"string\">g1</KEYVALUE></KEYBINDING></INSTANCENAME></INSTANCEPATH>";

#[tokio::test]
async fn every_typed_operation_names_itself_and_checks_the_reply_shape() {
    let group_inst = "<INSTANCE CLASSNAME=\"DS_IIGroup\"><PROPERTY NAME=\"groupName\" TYPE=\"string\"><VALUE>g1</VALUE></PROPERTY></INSTANCE>";
    let r = Responder::start(vec![
        x("GetClass", Some("root/cimv2"), vec!["<CLASSNAME NAME=\"DS_IISet\"/>", "IncludeQualifiers"],
          iresp("GetClass", "<CLASS NAME=\"DS_IISet\"><PROPERTY NAME=\"shadowVolume\" TYPE=\"string\"/></CLASS>")),
        x("EnumerateClassNames", None, vec!["DeepInheritance"],
          iresp("EnumerateClassNames", "<CLASSNAME NAME=\"DS_IISet\"/><CLASSNAME NAME=\"DS_IIGroup\"/>")),
        x("EnumerateInstanceNames", None, vec![], iresp("EnumerateInstanceNames", &set_name("/vol/s1", "dependent"))),
        x("AssociatorNames", None, vec!["<IPARAMVALUE NAME=\"ObjectName\">", "<IPARAMVALUE NAME=\"AssocClass\"><CLASSNAME NAME=\"DS_IIGroupSetAssoc\"/>"],
          iresp("AssociatorNames", &format!("<OBJECTPATH>{INSTPATH_S1}</OBJECTPATH>"))),
        x("Associators", None, vec![],
          iresp("Associators", &format!("<VALUE.OBJECTWITHPATH>{INSTPATH_S1}{group_inst}</VALUE.OBJECTWITHPATH>"))),
        x("ReferenceNames", None, vec![], iresp("ReferenceNames", "")),
        x("GetProperty", None, vec!["<IPARAMVALUE NAME=\"PropertyName\"><VALUE>state</VALUE>"],
          iresp("GetProperty", "<VALUE>idle</VALUE>")),
        x("SetProperty", None, vec!["<IPARAMVALUE NAME=\"NewValue\"><VALUE>n2</VALUE>"], iresp_empty("SetProperty")),
        x("ExecQuery", None, vec!["<IPARAMVALUE NAME=\"QueryLanguage\"><VALUE>WQL</VALUE>", "SELECT * FROM DS_IIGroup"],
          iresp("ExecQuery", &format!("<VALUE.OBJECTWITHPATH>{INSTPATH_S1}{group_inst}</VALUE.OBJECTWITHPATH>"))),
        x("DeleteClass", None, vec!["<CLASSNAME NAME=\"X_Old\"/>"], iresp_empty("DeleteClass")),
        x("ModifyInstance", None, vec!["<VALUE.NAMEDINSTANCE>", "<PROPERTY NAME=\"copyDelay\" TYPE=\"uint32\"><VALUE>5</VALUE>", "<IPARAMVALUE NAME=\"PropertyList\">"],
          iresp_empty("ModifyInstance")),
        // An operation answered with the wrong shape is an error, not a panic.
        x("GetInstance", None, vec![], iresp_empty("GetInstance")),
    ])
    .await;
    let c = client(&r.url);
    let class = c.get_class("root/cimv2", "DS_IISet").await.unwrap();
    assert!(class.name.is("DS_IISet"));
    let names = c.enumerate_class_names("root/cimv2", None).await.unwrap();
    assert_eq!(names.len(), 2);
    let paths = c
        .enumerate_instance_names("root/cimv2", "DS_IISet")
        .await
        .unwrap();
    assert_eq!(paths[0].namespace.as_deref(), Some("root/cimv2"));
    let p = &paths[0];
    let assoc = c
        .associator_names(p, Some("DS_IIGroupSetAssoc"), None)
        .await
        .unwrap();
    assert_eq!(assoc[0].key_str("groupName"), Some("g1"));
    let groups = c.associators(p, None, None).await.unwrap();
    assert_eq!(groups[0].get_str("groupName"), Some("g1"));
    assert_eq!(
        groups[0].path.as_ref().and_then(|p| p.key_str("groupName")),
        Some("g1")
    );
    assert!(c.reference_names(p, None).await.unwrap().is_empty());
    let v = c.get_property(p, "state").await.unwrap();
    assert_eq!(v.as_str(), Some("idle"));
    c.set_property(p, "setName", cim::Value::String("n2".into()))
        .await
        .unwrap();
    let q = c
        .exec_query("root/cimv2", "WQL", "SELECT * FROM DS_IIGroup")
        .await
        .unwrap();
    assert_eq!(q.len(), 1);
    c.delete_class("root/cimv2", "X_Old").await.unwrap();
    let mut inst = cim::Instance::new("DS_IISet").with(
        "copyDelay",
        cim::CimType::Uint32,
        cim::Value::Uint32(5),
    );
    inst.path = Some(p.clone());
    c.modify_instance(inst, Some(vec!["copyDelay".into()]))
        .await
        .unwrap();
    let e = c.get_instance(p).await.unwrap_err();
    // The codec already refuses an IMETHODRESPONSE whose shape does not fit
    // its name; the client's own shape check covers codecs that are laxer.
    assert!(
        matches!(&e, Error::XmlDecode(_) | Error::Protocol { .. }),
        "{e:?}"
    );
    r.check();
}

#[tokio::test]
async fn a_cim_status_code_trailer_is_a_cim_error() {
    use bytes::Bytes;
    use http_body_util::{BodyExt, StreamBody};
    use hyper::body::Frame;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let svc =
            hyper::service::service_fn(|req: http::Request<hyper::body::Incoming>| async move {
                assert_eq!(req.headers().get("te").unwrap(), "trailers");
                let _ = req.into_body().collect().await;
                let mut trailers = http::HeaderMap::new();
                trailers.insert("CIMStatusCode", "27".parse().unwrap());
                trailers.insert(
                    "CIMStatusCodeDescription",
                    "too%20many%20instances".parse().unwrap(),
                );
                let frames: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = vec![
                    Ok(Frame::data(Bytes::from_static(
                        b"<?xml version=\"1.0\"?><CIM><MESSAGE",
                    ))),
                    Ok(Frame::trailers(trailers)),
                ];
                let body = StreamBody::new(futures::stream::iter(frames));
                Ok::<_, std::convert::Infallible>(
                    http::Response::builder()
                        .header("Trailer", "CIMStatusCode, CIMStatusCodeDescription")
                        .body(body)
                        .unwrap(),
                )
            });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(hyper_util::rt::TokioIo::new(tcp), svc)
            .await;
    });
    let e = client(&url)
        .enumerate_instances("root/cimv2", "DS_IISet")
        .await
        .unwrap_err();
    match e {
        Error::Cim(ce) => {
            assert_eq!(ce.status, cim::StatusCode::ServerLimitsExceeded);
            assert_eq!(ce.description, "too many instances");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn boolean_results_decode_false_as_false() {
    let group = "root/cimv2:DS_IIGroup.groupName=%22g1%22";
    let untyped = |v: &str| {
        mresp(
            "isSetInGroup",
            &format!("<RETURNVALUE><VALUE>{v}</VALUE></RETURNVALUE>"),
        )
    };
    let ask = |reply: String| x("isSetInGroup", Some(group), vec!["/vol/s1"], reply);
    let group_instance = || {
        x(
            "GetInstance",
            Some("root/cimv2"),
            vec!["g1"],
            iresp("GetInstance", "<INSTANCE CLASSNAME=\"DS_IIGroup\"><PROPERTY NAME=\"groupName\" TYPE=\"string\"><VALUE>g1</VALUE></PROPERTY></INSTANCE>"),
        )
    };
    let r = Responder::start(vec![
        x(
            "EnumerateInstances",
            Some("root/cimv2"),
            vec!["DS_IISet"],
            iresp(
                "EnumerateInstances",
                &named_set("/vol/s1", "dependent", "idle", None),
            ),
        ),
        group_instance(),
        ask(mresp_bool("isSetInGroup", false)),
        ask(mresp_bool("isSetInGroup", true)),
        ask(untyped("FALSE")),
        ask(untyped("TRUE")),
        ask(untyped("false")),
        ask(untyped("maybe")),
        x(
            "abort",
            Some(SET_OBJECT),
            vec![],
            mresp_bool("abort", false),
        ),
        x(
            "abort",
            Some(SET_OBJECT),
            vec![],
            mresp("abort", "<RETURNVALUE><VALUE>FALSE</VALUE></RETURNVALUE>"),
        ),
        x(
            "abort",
            Some(SET_OBJECT),
            vec![],
            mresp("abort", "<RETURNVALUE><VALUE>TRUE</VALUE></RETURNVALUE>"),
        ),
    ])
    .await;
    let host = IiHost::new(client(&r.url));
    let set = host.find_set("/vol/s1").await.unwrap();
    let g = host.find_group("g1").await.unwrap();
    assert!(!g.contains(&set).await.unwrap(), "typed FALSE");
    assert!(g.contains(&set).await.unwrap(), "typed TRUE");
    assert!(!g.contains(&set).await.unwrap(), "untyped FALSE");
    assert!(g.contains(&set).await.unwrap(), "untyped TRUE");
    assert!(!g.contains(&set).await.unwrap(), "untyped false");
    let e = g.contains(&set).await.unwrap_err();
    assert!(matches!(e, Error::Protocol { .. }), "{e:?}");
    for what in ["typed FALSE", "untyped FALSE"] {
        let e = set.abort().await.unwrap_err();
        assert!(e.to_string().contains("instead of true"), "{what}: {e}");
    }
    set.abort().await.unwrap();
    r.check();
}
