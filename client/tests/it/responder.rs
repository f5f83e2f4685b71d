//! A canned CIM-XML responder for client tests, in the style of pywbem's
//! functiontest: every exchange states what the request must look like
//! (HTTP headers and body fragments) and the recorded reply to send back.
//! The reply body may contain `{ID}`, replaced by the request's `MESSAGE ID`.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

/// One expected request and its reply.
#[derive(Debug, Clone, Default)]
pub struct Exchange {
    /// Expected `CIMMethod` header.
    pub method: &'static str,
    /// Expected `CIMObject` header (exact, still percent-encoded), if checked.
    pub object: Option<&'static str>,
    /// Fragments the request body must contain.
    pub body_has: Vec<&'static str>,
    /// HTTP status of the reply (200 when 0).
    pub status: u16,
    /// Extra reply headers.
    pub headers: Vec<(&'static str, &'static str)>,
    /// Reply body (`{ID}` is replaced).
    pub reply: String,
    /// Delay before answering.
    pub delay: Option<Duration>,
}

/// What the responder saw.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Request headers.
    pub headers: http::HeaderMap,
    /// Request body.
    pub body: String,
}

/// A running responder.
pub struct Responder {
    pub url: String,
    script: Arc<Mutex<VecDeque<Exchange>>>,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub failures: Arc<Mutex<Vec<String>>>,
}

impl Responder {
    /// Starts a responder that plays `script` in order.
    pub async fn start(script: Vec<Exchange>) -> Responder {
        Responder::start_lenient(script, Vec::new()).await
    }

    /// Like [`Responder::start`], but requests for the `lenient` methods that
    /// are not next in the script get an empty success (periodic health checks).
    pub async fn start_lenient(script: Vec<Exchange>, lenient: Vec<&'static str>) -> Responder {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let (s2, seen2, f2) = (script.clone(), seen.clone(), failures.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (s3, seen3, f3) = (s2.clone(), seen2.clone(), f2.clone());
                let lenient = lenient.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        handle(req, s3.clone(), seen3.clone(), f3.clone(), lenient.clone())
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Responder {
            url,
            script,
            seen,
            failures,
        }
    }

    /// Asserts that every exchange ran and every expectation held.
    pub fn check(&self) {
        let f = self.failures.lock().unwrap();
        assert!(f.is_empty(), "request expectations failed: {f:#?}");
        let left = self.script.lock().unwrap().len();
        assert_eq!(left, 0, "{left} scripted exchanges were not used");
    }
}

fn message_id(body: &str) -> String {
    body.split_once("MESSAGE ID=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(id, _)| id.to_owned())
        .unwrap_or_default()
}

async fn handle(
    req: http::Request<hyper::body::Incoming>,
    script: Arc<Mutex<VecDeque<Exchange>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    failures: Arc<Mutex<Vec<String>>>,
    lenient: Vec<&'static str>,
) -> Result<http::Response<Full<Bytes>>, std::convert::Infallible> {
    let (parts, body) = req.into_parts();
    let body = String::from_utf8_lossy(&body.collect().await.unwrap().to_bytes()).into_owned();
    let h = |k: &str| {
        parts
            .headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let fail = |m: String| failures.lock().unwrap().push(m);
    let method = h("CIMMethod");
    let next = {
        let mut sc = script.lock().unwrap();
        let scripted = sc.front().is_some_and(|x| x.method == method);
        if !scripted && lenient.iter().any(|m| *m == method) {
            let reply = iresp(&method, "").replace("{ID}", &message_id(&body));
            return Ok(http::Response::new(Full::new(Bytes::from(reply))));
        }
        sc.pop_front()
    };
    seen.lock().unwrap().push(Seen {
        headers: parts.headers.clone(),
        body: body.clone(),
    });
    let Some(x) = next else {
        fail(format!(
            "unexpected request {} {}",
            h("CIMMethod"),
            h("CIMObject")
        ));
        return Ok(http::Response::builder()
            .status(500)
            .body(Full::new(Bytes::new()))
            .unwrap());
    };
    // DSP0200 headers every request must carry.
    if parts.method != http::Method::POST {
        fail(format!("method {}", parts.method));
    }
    if parts.uri.path() != "/cimom" {
        fail(format!("path {}", parts.uri.path()));
    }
    for (k, v) in [
        ("CIMOperation", "MethodCall"),
        ("CIMProtocolVersion", "1.0"),
        ("Content-Type", "application/xml; charset=\"utf-8\""),
    ] {
        if h(k) != v {
            fail(format!("header {k}: {:?}", h(k)));
        }
    }
    if h("CIMMethod") != x.method {
        fail(format!(
            "CIMMethod {:?}, expected {:?}",
            h("CIMMethod"),
            x.method
        ));
    }
    if let Some(o) = x.object {
        if h("CIMObject") != o {
            fail(format!("CIMObject {:?}, expected {o:?}", h("CIMObject")));
        }
    }
    for frag in &x.body_has {
        if !body.contains(frag) {
            fail(format!("{} body lacks {frag:?}: {body}", x.method));
        }
    }
    if let Some(d) = x.delay {
        tokio::time::sleep(d).await;
    }
    let mut resp = http::Response::builder().status(if x.status == 0 { 200 } else { x.status });
    resp = resp.header("Content-Type", "application/xml; charset=\"utf-8\"");
    if x.status == 0 || x.status == 200 {
        resp = resp.header("CIMOperation", "MethodResponse");
    }
    for (k, v) in &x.headers {
        resp = resp.header(*k, *v);
    }
    let reply = x.reply.replace("{ID}", &message_id(&body));
    Ok(resp.body(Full::new(Bytes::from(reply))).unwrap())
}

/// Wraps a `SIMPLERSP` payload in the document envelope.
pub fn doc(inner: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\" ?>\n<CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\">\
         <MESSAGE ID=\"{{ID}}\" PROTOCOLVERSION=\"1.0\"><SIMPLERSP>{inner}</SIMPLERSP></MESSAGE></CIM>"
    )
}

/// An `IMETHODRESPONSE` with an `IRETURNVALUE`.
pub fn iresp(name: &str, ret: &str) -> String {
    doc(&format!(
        "<IMETHODRESPONSE NAME=\"{name}\"><IRETURNVALUE>{ret}</IRETURNVALUE></IMETHODRESPONSE>"
    ))
}

/// An empty `IMETHODRESPONSE`.
pub fn iresp_empty(name: &str) -> String {
    doc(&format!("<IMETHODRESPONSE NAME=\"{name}\"/>"))
}

/// An `IMETHODRESPONSE` carrying an `ERROR`.
pub fn ierror(name: &str, code: u32, desc: &str) -> String {
    doc(&format!(
        "<IMETHODRESPONSE NAME=\"{name}\"><ERROR CODE=\"{code}\" DESCRIPTION=\"{desc}\"/></IMETHODRESPONSE>"
    ))
}

/// A `METHODRESPONSE` returning a boolean.
pub fn mresp_bool(name: &str, v: bool) -> String {
    doc(&format!(
        "<METHODRESPONSE NAME=\"{name}\"><RETURNVALUE PARAMTYPE=\"boolean\"><VALUE>{}</VALUE></RETURNVALUE></METHODRESPONSE>",
        if v { "TRUE" } else { "FALSE" }
    ))
}

/// A `METHODRESPONSE` with a raw return value element.
pub fn mresp(name: &str, inner: &str) -> String {
    doc(&format!(
        "<METHODRESPONSE NAME=\"{name}\">{inner}</METHODRESPONSE>"
    ))
}

/// A `METHODRESPONSE` carrying an `ERROR`.
pub fn merror(name: &str, code: u32, desc: &str) -> String {
    doc(&format!(
        "<METHODRESPONSE NAME=\"{name}\"><ERROR CODE=\"{code}\" DESCRIPTION=\"{desc}\"/></METHODRESPONSE>"
    ))
}

/// The `INSTANCENAME` of a set.
pub fn set_name(shadow: &str, ty: &str) -> String {
    format!(
        "<INSTANCENAME CLASSNAME=\"DS_IISet\">\
         <KEYBINDING NAME=\"setType\"><KEYVALUE VALUETYPE=\"string\">{ty}</KEYVALUE></KEYBINDING>\
         <KEYBINDING NAME=\"shadowVolume\"><KEYVALUE VALUETYPE=\"string\">{shadow}</KEYVALUE></KEYBINDING>\
         </INSTANCENAME>"
    )
}

fn prop(name: &str, ty: &str, v: &str) -> String {
    format!("<PROPERTY NAME=\"{name}\" TYPE=\"{ty}\"><VALUE>{v}</VALUE></PROPERTY>")
}

/// A `DS_IISet` `INSTANCE` as cimomd sends it.
pub fn set_instance(shadow: &str, ty: &str, state: &str, group: Option<&str>, pct: &str) -> String {
    let mut s = String::from("<INSTANCE CLASSNAME=\"DS_IISet\">");
    s += &prop("shadowVolume", "string", shadow);
    s += &prop("setType", "string", ty);
    s += &prop("masterVolume", "string", "/vol/master");
    s += &prop("bitmapVolume", "string", &format!("{shadow}.bmp"));
    s += &prop("setName", "string", shadow);
    s += "<PROPERTY NAME=\"overflowVolume\" TYPE=\"string\"></PROPERTY>";
    match group {
        Some(g) => s += &prop("groupName", "string", g),
        None => s += "<PROPERTY NAME=\"groupName\" TYPE=\"string\"></PROPERTY>",
    }
    s += &prop("state", "string", state);
    s += &prop("status", "string", "normal");
    s += &prop("percentCompleted", "real32", pct);
    s += &prop("percentSynchronized", "real32", "100");
    s += &prop("masterCapacity", "uint64", "1048576");
    s += &prop("shadowCapacity", "uint64", "1048576");
    s += &prop("bitmapCapacity", "uint64", "32768");
    s += &prop("copyUnits", "uint32", "100");
    s += &prop("copyDelay", "uint32", "2");
    s += "</INSTANCE>";
    s
}

/// A `VALUE.NAMEDINSTANCE` of a set.
pub fn named_set(shadow: &str, ty: &str, state: &str, group: Option<&str>) -> String {
    format!(
        "<VALUE.NAMEDINSTANCE>{}{}</VALUE.NAMEDINSTANCE>",
        set_name(shadow, ty),
        set_instance(shadow, ty, state, group, "100")
    )
}
