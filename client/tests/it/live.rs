//! The indication listener and the live view: subscriptions created in
//! `interop` against a canned responder, indications posted to the listener
//! as a CIM server would, and the clean-up on close.

use crate::responder::*;
use cim::ops::{Message, MessageBody};
use cim::{CimType, Instance, Value};
use client::{
    Client, ClientConfig, IiHost, IndicationKind, IndicationListener, LiveEvent, LiveOptions,
    LiveView,
};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Posts raw bytes to the listener the way a WBEM server exports an indication.
async fn post(url: &str, body: &[u8]) -> String {
    let addr = url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /cimlistener HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/xml; charset=\"utf-8\"\r\n\
         CIMExport: MethodRequest\r\nCIMExportMethod: ExportIndication\r\nCIMProtocolVersion: 1.0\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

fn indication(class: &str, source: Instance) -> Vec<u8> {
    let ind = Instance::new(class)
        .with(
            "SourceInstance",
            CimType::EmbeddedInstance,
            Value::Instance(Box::new(source)),
        )
        .with(
            "IndicationIdentifier",
            CimType::String,
            Value::String("42".into()),
        );
    let msg = Message {
        id: "77".into(),
        protocol_version: "1.0".into(),
        body: MessageBody::ExportIndication(ind),
    };
    let mut out = Vec::new();
    cim::xml::write_message(&msg, &mut out);
    out
}

fn set_source(shadow: &str, state: &str) -> Instance {
    let s = |v: &str| Value::String(v.into());
    Instance::new("DS_IISet")
        .with("shadowVolume", CimType::String, s(shadow))
        .with("setType", CimType::String, s("dependent"))
        .with("masterVolume", CimType::String, s("/vol/m"))
        .with("bitmapVolume", CimType::String, s("/vol/b"))
        .with("state", CimType::String, s(state))
        .with("status", CimType::String, s("normal"))
}

#[tokio::test]
async fn listener_accepts_exports_and_refuses_garbage() {
    let mut l = IndicationListener::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = l.url();
    let reply = post(
        &url,
        &indication("CIM_InstCreation", set_source("/vol/s", "idle")),
    )
    .await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(
        reply
            .to_ascii_lowercase()
            .contains("cimexport: methodresponse"),
        "{reply}"
    );
    assert!(reply.contains("MESSAGE ID=\"77\""), "{reply}");
    assert!(reply.contains("EXPMETHODRESPONSE"), "{reply}");
    let got = tokio::time::timeout(Duration::from_secs(5), l.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.kind(), IndicationKind::Creation);
    assert_eq!(
        got.source_instance()
            .and_then(|i| i.get_str("shadowVolume")),
        Some("/vol/s")
    );
    let bad = post(&url, b"<CIM><oops").await;
    assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");
    assert!(
        bad.to_ascii_lowercase()
            .contains("cimerror: request-not-well-formed"),
        "{bad}"
    );
}

fn created(class: &'static str, name: &str) -> String {
    iresp(
        "CreateInstance",
        &format!(
            "<INSTANCENAME CLASSNAME=\"{class}\">\
             <KEYBINDING NAME=\"CreationClassName\"><KEYVALUE VALUETYPE=\"string\">{class}</KEYVALUE></KEYBINDING>\
             <KEYBINDING NAME=\"Name\"><KEYVALUE VALUETYPE=\"string\">{name}</KEYVALUE></KEYBINDING>\
             </INSTANCENAME>"
        ),
    )
}

fn sub_created(n: u32) -> String {
    iresp(
        "CreateInstance",
        &format!(
            "<INSTANCENAME CLASSNAME=\"CIM_IndicationSubscription\">\
             <KEYBINDING NAME=\"Filter\"><KEYVALUE VALUETYPE=\"string\">f{n}</KEYVALUE></KEYBINDING>\
             </INSTANCENAME>"
        ),
    )
}

/// What `LiveView` sends to subscribe: the destination, then a filter and a
/// subscription for each of the four indication classes.
fn subscribe_script() -> Vec<Exchange> {
    let mut script = vec![Exchange {
        method: "CreateInstance",
        object: Some("interop"),
        body_has: vec![
            "CIM_ListenerDestinationCIMXML",
            "NAME=\"Destination\"",
            "http://127.0.0.1:",
        ],
        reply: created("CIM_ListenerDestinationCIMXML", "d"),
        ..Default::default()
    }];
    for (i, class) in [
        "CIM_InstCreation",
        "CIM_InstDeletion",
        "CIM_InstModification",
        "CIM_AlertIndication",
    ]
    .into_iter()
    .enumerate()
    {
        script.push(Exchange {
            method: "CreateInstance",
            object: Some("interop"),
            body_has: vec!["CIM_IndicationFilter", class, "<VALUE>WQL</VALUE>"],
            reply: created("CIM_IndicationFilter", &format!("f{i}")),
            ..Default::default()
        });
        script.push(Exchange {
            method: "CreateInstance",
            object: Some("interop"),
            body_has: vec![
                "CIM_IndicationSubscription",
                "NAME=\"Filter\"",
                "NAME=\"Handler\"",
            ],
            reply: sub_created(i as u32),
            ..Default::default()
        });
    }
    script
}

/// What `LiveView` sends to read the state: sets, groups, overflow volumes.
fn refresh_script(shadow: &str) -> Vec<Exchange> {
    let mut script = vec![Exchange {
        method: "EnumerateInstances",
        body_has: vec!["DS_IISet"],
        reply: iresp(
            "EnumerateInstances",
            &named_set(shadow, "dependent", "idle", None),
        ),
        ..Default::default()
    }];
    script.push(Exchange {
        method: "EnumerateInstances",
        body_has: vec!["DS_IIGroup"],
        reply: iresp("EnumerateInstances", ""),
        ..Default::default()
    });
    script.push(Exchange {
        method: "EnumerateInstances",
        body_has: vec!["DS_IIOverflowVol"],
        reply: iresp("EnumerateInstances", ""),
        ..Default::default()
    });
    script
}

#[tokio::test]
async fn live_view_subscribes_follows_indications_and_cleans_up() {
    let mut script = subscribe_script();
    script.extend(refresh_script("/vol/old"));
    // close(): subscriptions first, then filters, the destination last.
    for _ in 0..9 {
        script.push(Exchange {
            method: "DeleteInstance",
            object: Some("interop"),
            reply: iresp_empty("DeleteInstance"),
            ..Default::default()
        });
    }
    let r = Responder::start(script).await;
    let host = IiHost::new(Client::new(ClientConfig::new(r.url.clone())).unwrap());
    let opts = LiveOptions {
        health_interval: Duration::from_secs(3600),
        ..Default::default()
    };
    let view = LiveView::start(host, opts).await.unwrap();
    assert_eq!(view.sets().len(), 1);
    assert!(view.set("/vol/old").is_some());
    assert!(view.is_connected());
    let mut events = view.events();

    let reply = post(
        view.destination(),
        &indication("CIM_InstCreation", set_source("/vol/new", "copying")),
    )
    .await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    let ev = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap()
        .unwrap();
    match ev {
        LiveEvent::SetCreated(info) => {
            assert_eq!(info.shadow, "/vol/new");
            assert_eq!(info.state, "copying");
        }
        other => panic!("{other:?}"),
    }
    assert!(view.set("/vol/new").is_some());

    post(
        view.destination(),
        &indication("CIM_InstModification", set_source("/vol/new", "idle")),
    )
    .await;
    let ev = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(&ev, LiveEvent::SetModified(i) if i.state == "idle"),
        "{ev:?}"
    );

    post(
        view.destination(),
        &indication("CIM_InstDeletion", set_source("/vol/old", "idle")),
    )
    .await;
    let ev = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ev, LiveEvent::SetDeleted("/vol/old".into()));
    assert!(view.set("/vol/old").is_none());
    assert_eq!(view.sets().len(), 1);

    view.close().await.unwrap();
    r.check();
    // Deleted newest first: the last subscription, and the destination last of all.
    let seen = r.seen.lock().unwrap();
    let deletes: Vec<&String> = seen
        .iter()
        .filter(|s| s.body.contains("DeleteInstance"))
        .map(|s| &s.body)
        .collect();
    assert!(
        deletes[0].contains("CIM_IndicationSubscription"),
        "{}",
        deletes[0]
    );
    assert!(
        deletes[8].contains("CIM_ListenerDestinationCIMXML"),
        "{}",
        deletes[8]
    );
}

#[tokio::test]
async fn live_view_resubscribes_and_rereads_after_the_server_comes_back() {
    let mut script = subscribe_script();
    script.extend(refresh_script("/vol/old"));
    // The server goes away (the health check fails) ...
    script.push(Exchange {
        method: "EnumerateInstanceNames",
        status: 503,
        ..Default::default()
    });
    // ... and comes back without our (transient) subscriptions.
    script.push(Exchange {
        method: "EnumerateInstanceNames",
        reply: iresp("EnumerateInstanceNames", ""),
        ..Default::default()
    });
    script.push(Exchange {
        method: "GetInstance",
        object: Some("interop"),
        reply: ierror("GetInstance", 6, "no such destination"),
        ..Default::default()
    });
    for _ in 0..9 {
        script.push(Exchange {
            method: "DeleteInstance",
            reply: ierror("DeleteInstance", 6, "gone"),
            ..Default::default()
        });
    }
    script.extend(subscribe_script());
    script.extend(refresh_script("/vol/new"));
    for _ in 0..9 {
        script.push(Exchange {
            method: "DeleteInstance",
            reply: iresp_empty("DeleteInstance"),
            ..Default::default()
        });
    }
    let r = Responder::start_lenient(script, vec!["EnumerateInstanceNames"]).await;
    let host = IiHost::new(Client::new(ClientConfig::new(r.url.clone())).unwrap());
    let opts = LiveOptions {
        health_interval: Duration::from_millis(100),
        ..Default::default()
    };
    let view = LiveView::start(host, opts).await.unwrap();
    let mut events = view.events();
    let mut got = Vec::new();
    while got.last() != Some(&LiveEvent::Reconnected) {
        let e = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .unwrap()
            .unwrap();
        got.push(e);
    }
    assert_eq!(got[0], LiveEvent::Disconnected);
    assert!(
        got.contains(&LiveEvent::SetDeleted("/vol/old".into())),
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|e| matches!(e, LiveEvent::SetCreated(i) if i.shadow == "/vol/new")),
        "{got:?}"
    );
    assert!(view.is_connected());
    assert!(view.set("/vol/new").is_some() && view.set("/vol/old").is_none());
    view.close().await.unwrap();
    r.check();
}
