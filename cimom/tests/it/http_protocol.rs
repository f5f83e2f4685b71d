//! The HTTP side against DSP0200: successful calls, every request-level error
//! path with its status and `CIMError` header, limits, keep-alive, `M-POST`,
//! and the server surviving malformed input and many concurrent connections.

use crate::http_common::*;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn ecn_params() -> String {
    bool_param("DeepInheritance", true)
}

#[tokio::test]
async fn enumerate_class_names_succeeds_with_dsp0200_headers() {
    let s = TestServer::start(|_, _| {}).await;
    let mut c = Client::connect(s.addr).await;
    let r = c.imethod("EnumerateClassNames", NS, &ecn_params()).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("CIMOperation"), Some("MethodResponse"));
    assert_eq!(
        r.header("Content-Type"),
        Some("application/xml; charset=\"utf-8\"")
    );
    assert!(
        r.body
            .contains("<IMETHODRESPONSE NAME=\"EnumerateClassNames\""),
        "{}",
        r.body
    );
    assert!(r.body.contains("MESSAGE ID=\"1001\""), "{}", r.body);
    assert!(r.body.contains("CIM_Namespace"), "{}", r.body);
    assert!(!r.body.contains("<ERROR"), "{}", r.body);
    s.stop().await;
}

#[tokio::test]
async fn cim_errors_travel_in_a_200_response() {
    let s = TestServer::start(|_, _| {}).await;
    let mut c = Client::connect(s.addr).await;
    // A class that does not exist: CIM_ERR_NOT_FOUND (6) in an <ERROR>.
    let r = c
        .imethod(
            "GetClass",
            NS,
            &classname_param("ClassName", "No_Such_Class"),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("<ERROR CODE=\"6\""), "{}", r.body);
    // A namespace that does not exist: CIM_ERR_INVALID_NAMESPACE (3).
    let r = c
        .imethod("EnumerateClassNames", "no/such", &ecn_params())
        .await;
    assert!(r.body.contains("<ERROR CODE=\"3\""), "{}", r.body);
    s.stop().await;
}

#[tokio::test]
async fn unknown_intrinsic_and_bad_parameter_get_cim_errors() {
    let s = TestServer::start(|_, _| {}).await;
    let mut c = Client::connect(s.addr).await;
    let r = c.imethod("FrobnicateClasses", NS, "").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("<ERROR CODE=\"7\""), "{}", r.body);
    assert!(r.body.contains("MESSAGE ID=\"1001\""), "{}", r.body);
    // GetClass without its required ClassName: CIM_ERR_INVALID_PARAMETER (4).
    let r = c.imethod("GetClass", NS, "").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("<ERROR CODE=\"4\""), "{}", r.body);
    assert!(
        r.body.contains("IMETHODRESPONSE NAME=\"GetClass\""),
        "{}",
        r.body
    );
    s.stop().await;
}

#[tokio::test]
async fn request_level_failures_have_the_dsp0200_status_and_header() {
    let s = TestServer::start(|c, _| c.limits.max_xml_depth = 16).await;
    let mut c = Client::connect(s.addr).await;
    let good = imethod_body("EnumerateClassNames", NS, &ecn_params());
    let hdrs = cim_headers("EnumerateClassNames", NS);

    // GET: 405 with Allow.
    let r = c.send("GET", "/cimom", &[], "").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow"), Some("POST, M-POST"));
    // Unknown method: 501.
    let r = c.send("BREW", "/cimom", &hdrs, good.clone()).await;
    assert_eq!(r.status, 501);
    // Wrong path: 404.
    let r = c.send("POST", "/elsewhere", &hdrs, good.clone()).await;
    assert_eq!(r.status, 404);

    let check = |r: &Reply, status: u16, cim_error: &str| {
        assert_eq!(r.status, status, "{r:?}");
        assert_eq!(r.header("CIMError"), Some(cim_error), "{r:?}");
    };
    // Not XML at all.
    let r = c.send("POST", "/cimom", &hdrs, "<CIM><MESSAGE").await;
    check(&r, 400, "request-not-well-formed");
    let r = c.send("POST", "/cimom", &hdrs, "this is not xml").await;
    check(&r, 400, "request-not-well-formed");
    // XML, but not CIM-XML.
    let r = c
        .send(
            "POST",
            "/cimom",
            &hdrs,
            "<?xml version=\"1.0\"?><html><body/></html>",
        )
        .await;
    check(&r, 400, "request-not-valid");
    // Nesting deeper than --max-xml-depth.
    let deep = format!(
        "<CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\">{}{}</CIM>",
        "<MESSAGE>".repeat(40),
        "</MESSAGE>".repeat(40)
    );
    let r = c.send("POST", "/cimom", &hdrs, deep).await;
    check(&r, 400, "request-not-valid");
    // Missing CIMOperation.
    let r = c
        .send(
            "POST",
            "/cimom",
            &[("Content-Type", "application/xml")],
            good.clone(),
        )
        .await;
    check(&r, 400, "unsupported-operation");
    // CIMMethod disagreeing with the body.
    let mut h = hdrs.clone();
    h[2] = ("CIMMethod", "GetClass");
    let r = c.send("POST", "/cimom", &h, good.clone()).await;
    check(&r, 400, "header-mismatch");
    // CIMObject naming another namespace.
    let mut h = hdrs.clone();
    h[3] = ("CIMObject", "root/other");
    let r = c.send("POST", "/cimom", &h, good.clone()).await;
    check(&r, 400, "header-mismatch");
    // Unsupported protocol version (header and message attribute).
    let mut h = hdrs.clone();
    h[4] = ("CIMProtocolVersion", "2.0");
    let r = c.send("POST", "/cimom", &h, good.clone()).await;
    check(&r, 501, "unsupported-protocol-version");
    let r = c
        .send(
            "POST",
            "/cimom",
            &hdrs,
            good.replace("PROTOCOLVERSION=\"1.0\"", "PROTOCOLVERSION=\"3.1\""),
        )
        .await;
    check(&r, 501, "unsupported-protocol-version");
    // MULTIREQ.
    let call = format!(
        "<SIMPLEREQ><IMETHODCALL NAME=\"EnumerateClassNames\">{}</IMETHODCALL></SIMPLEREQ>",
        nspath(NS)
    );
    let multi = format!(
        "<CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\"><MESSAGE ID=\"7\" PROTOCOLVERSION=\"1.0\">\
         <MULTIREQ>{call}{call}</MULTIREQ></MESSAGE></CIM>"
    );
    let r = c.send("POST", "/cimom", &hdrs, multi).await;
    check(&r, 501, "multiple-requests-unsupported");
    // Wrong media type.
    let mut h = hdrs.clone();
    h[0] = ("Content-Type", "application/json");
    let r = c.send("POST", "/cimom", &h, good.clone()).await;
    assert_eq!(r.status, 415);

    // After all of that, the same keep-alive connection still serves.
    assert!(!c.is_closed());
    let r = c.imethod("EnumerateClassNames", NS, &ecn_params()).await;
    assert_eq!(r.status, 200);
    s.stop().await;
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let s = TestServer::start(|c, _| c.limits.max_request_bytes = 4096).await;
    let mut c = Client::connect(s.addr).await;
    let hdrs = cim_headers("EnumerateClassNames", NS);
    let big = imethod_body(
        "EnumerateClassNames",
        NS,
        &format!("<!-- {} -->", "x".repeat(10_000)),
    );
    let r = c.send("POST", "/cimom", &hdrs, big).await;
    assert_eq!(r.status, 413, "{r:?}");
    // Without Content-Length (chunked), the limit holds as well.
    let mut raw = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let chunk = "a".repeat(3000);
    let mut req = String::from(
        "POST /cimom HTTP/1.1\r\nHost: x\r\nCIMOperation: MethodCall\r\nCIMMethod: EnumerateClassNames\r\n\
         CIMObject: interop\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    for _ in 0..3 {
        req.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    req.push_str("0\r\n\r\n");
    raw.write_all(req.as_bytes()).await.unwrap();
    let head = read_head(&mut raw).await;
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    s.stop().await;
}

async fn read_head(s: &mut tokio::net::TcpStream) -> String {
    let mut buf = vec![0u8; 65536];
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Err(_) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Ok(Err(_)) => break,
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn m_post_with_man_header() {
    let s = TestServer::start(|_, _| {}).await;
    let mut c = Client::connect(s.addr).await;
    let body = imethod_body("EnumerateClassNames", NS, &ecn_params());
    let r = c
        .send(
            "M-POST",
            "/cimom",
            &[
                ("Content-Type", "application/xml; charset=\"utf-8\""),
                ("Man", "http://www.dmtf.org/cim/mapping.http/v1.0;ns=73"),
                ("73-CIMOperation", "MethodCall"),
                ("73-CIMMethod", "EnumerateClassNames"),
                ("73-CIMObject", "interop"),
            ],
            body.clone(),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("73-CIMOperation"), Some("MethodResponse"));
    assert!(r.headers.contains_key("Ext"));
    // M-POST without the Man extension: 510 Not Extended.
    let r = c
        .send(
            "M-POST",
            "/cimom",
            &cim_headers("EnumerateClassNames", NS),
            body,
        )
        .await;
    assert_eq!(r.status, 510, "{r:?}");
    s.stop().await;
}

#[tokio::test]
async fn percent_encoded_cimobject_is_accepted() {
    let s = TestServer::start(|_, _| {}).await;
    let mut c = Client::connect(s.addr).await;
    let mut h = cim_headers("EnumerateClassNames", "root/interop");
    h[3] = ("CIMObject", "root%2Finterop");
    let r = c
        .send(
            "POST",
            "/cimom",
            &h,
            imethod_body("EnumerateClassNames", "root/interop", &ecn_params()),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    s.stop().await;
}

#[tokio::test]
async fn garbage_and_slow_clients_do_not_hurt_the_server() {
    let s = TestServer::start(|c, _| c.limits.header_read_timeout = Duration::from_secs(1)).await;
    // Not HTTP at all: hyper answers 400 and closes.
    let mut raw = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    raw.write_all(b"\x16\x03\x01garbage\r\n\r\n").await.unwrap();
    let head = read_head(&mut raw).await;
    assert!(
        head.is_empty() || head.starts_with("HTTP/1.1 400"),
        "{head}"
    );
    // Slowloris: half a request head, then silence; the server hangs up.
    let mut slow = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    slow.write_all(b"POST /cimom HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let r = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match slow.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert_eq!(r, Ok(true), "the slow connection should have been closed");
    // A body that never completes: the connection is dropped, others go on.
    let mut partial = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    partial
        .write_all(b"POST /cimom HTTP/1.1\r\nHost: x\r\nCIMOperation: MethodCall\r\nContent-Length: 100000\r\n\r\n<CIM>")
        .await
        .unwrap();
    drop(partial);
    let mut c = Client::connect(s.addr).await;
    let r = c.imethod("EnumerateClassNames", NS, &ecn_params()).await;
    assert_eq!(r.status, 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_connections() {
    let s = TestServer::start(|c, _| c.limits.max_concurrent_requests = 8).await;
    let addr = s.addr;
    let mut tasks = Vec::new();
    for i in 0..64 {
        tasks.push(tokio::spawn(async move {
            let mut c = Client::connect(addr).await;
            let mut ok = 0;
            for j in 0..10 {
                let r = if (i + j) % 5 == 0 {
                    // Mix in malformed requests: they must not disturb the rest.
                    c.send(
                        "POST",
                        "/cimom",
                        &cim_headers("EnumerateClassNames", NS),
                        "<broken",
                    )
                    .await
                } else {
                    c.imethod(
                        "EnumerateClassNames",
                        NS,
                        &bool_param("DeepInheritance", true),
                    )
                    .await
                };
                if (i + j) % 5 == 0 {
                    assert_eq!(r.status, 400);
                } else if r.status == 200 && r.body.contains("CIM_Namespace") {
                    ok += 1;
                }
            }
            ok
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, 64 * 8, "every well-formed request succeeds");
    s.stop().await;
}

#[tokio::test]
async fn shutdown_stops_accepting() {
    let s = TestServer::start(|_, _| {}).await;
    let addr = s.addr;
    s.stop().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
