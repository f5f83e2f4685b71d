//! Time and concurrency limits: an operation slower than `--request-timeout`
//! is answered with `CIM_ERR_FAILED` naming the limit (and the server goes
//! on), and with `--max-concurrent-requests 1` a request that cannot get a
//! slot within the timeout gets `503` with `Retry-After`. A method whose
//! provider declared it waiting outlives the request timeout and is cancelled
//! when its client disconnects.
//!
//! Timing margins are wide (hundreds of milliseconds) because the tests share
//! a loaded two-core machine with everything else.

use crate::http_common::*;
use async_trait::async_trait;
use cim::{Class, Instance};
use cimom::provider::{InstanceProvider, ProviderContext, ProviderEntry, ProviderResult};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Serves `Test_Slow`, taking five seconds per enumeration.
struct Slow;

#[async_trait]
impl InstanceProvider for Slow {
    async fn enumerate_instances(
        &self,
        _ctx: &ProviderContext,
        _class: &Class,
    ) -> ProviderResult<Vec<Instance>> {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok(Vec::new())
    }
}

async fn slow_server(max_concurrent: usize, timeout: Duration) -> TestServer {
    let s = TestServer::start(|c, _| {
        c.limits.request_timeout = timeout;
        c.limits.max_concurrent_requests = max_concurrent;
    })
    .await;
    let mof = s.dir.path().join("slow.mof");
    std::fs::write(
        &mof,
        "[Provider(\"Slow\")] class Test_Slow { [Key] string Id; };\n",
    )
    .unwrap();
    s.cimom
        .load_mof("root/cimv2", &[mof])
        .expect("load Test_Slow");
    s.cimom.register_provider(
        "Slow",
        ProviderEntry {
            instance: Some(Arc::new(Slow)),
            ..Default::default()
        },
    );
    s
}

async fn enumerate_slow(c: &mut Client) -> Reply {
    c.imethod(
        "EnumerateInstanceNames",
        "root/cimv2",
        &classname_param("ClassName", "Test_Slow"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_operations_time_out_with_a_cim_error() {
    let s = slow_server(8, Duration::from_secs(1)).await;
    let mut c = Client::connect(s.addr).await;
    let started = Instant::now();
    let r = enumerate_slow(&mut c).await;
    let took = started.elapsed();
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("<ERROR CODE=\"1\""), "{}", r.body);
    assert!(r.body.contains("request-timeout"), "{}", r.body);
    assert!(
        took < Duration::from_millis(3000),
        "answered after {took:?}"
    );
    // The same connection goes on serving.
    c.assert_serves().await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_server_answers_503_after_the_timeout() {
    let s = slow_server(1, Duration::from_secs(2)).await;
    let addr = s.addr;
    // The only slot is taken by a request whose body trickles in (1.5 s,
    // within the 2 s body timeout) and whose operation then runs into the 2 s
    // operation timeout: the slot stays taken for about 3.5 s, longer than a
    // second request (arriving at 0.3 s) may wait for it (2 s).
    let busy = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let body = imethod_body(
            "EnumerateInstanceNames",
            "root/cimv2",
            &classname_param("ClassName", "Test_Slow"),
        );
        let head = format!(
            "POST /cimom HTTP/1.1\r\nHost: x\r\nCIMOperation: MethodCall\r\nCIMMethod: EnumerateInstanceNames\r\n\
             CIMObject: root/cimv2\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
        raw.write_all(head.as_bytes()).await.unwrap();
        raw.write_all(&body.as_bytes()[..10]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        raw.write_all(&body.as_bytes()[10..]).await.unwrap();
        let mut reply = String::new();
        let _ = raw.read_to_string(&mut reply).await;
        reply
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut c = Client::connect(addr).await;
    let r = c
        .imethod(
            "EnumerateClassNames",
            NS,
            &bool_param("DeepInheritance", false),
        )
        .await;
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(r.header("Retry-After"), Some("1"));
    let first = busy.await.unwrap();
    assert!(first.contains("<ERROR CODE=\"1\""), "{first}");
    // Once the slot is free again, requests succeed.
    c.assert_serves().await;
    s.stop().await;
}

/// Serves `Test_Wait.Wait(Ms, Declare)`: sleeps `Ms` milliseconds, having
/// declared the request waiting when `Declare` is true. Counts the calls that
/// are still in progress (a cancelled one is dropped, and uncounts itself).
#[derive(Default)]
struct Waiter {
    in_progress: Arc<std::sync::atomic::AtomicUsize>,
}

struct Uncount(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Uncount {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[async_trait]
impl cimom::provider::MethodProvider for Waiter {
    async fn invoke_method(
        &self,
        ctx: &ProviderContext,
        _class: &Class,
        _target: &cim::ObjectPath,
        _method: &cim::CimName,
        params: Vec<cim::ops::ParamValue>,
    ) -> ProviderResult<cim::ops::MethodResult> {
        let arg = |n: &str| {
            params
                .iter()
                .find(|p| p.name.is(n))
                .map(|p| p.value.clone())
        };
        let ms = match arg("Ms") {
            Some(cim::Value::Uint32(ms)) => ms,
            other => panic!("Ms: {other:?}"),
        };
        if arg("Declare") == Some(cim::Value::Boolean(true)) {
            ctx.waiting.begin();
        }
        self.in_progress
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let _uncount = Uncount(self.in_progress.clone());
        tokio::time::sleep(Duration::from_millis(ms.into())).await;
        Ok(cim::ops::MethodResult {
            return_value: cim::Value::Boolean(true),
            return_type: Some(cim::CimType::Boolean),
            out_params: Vec::new(),
        })
    }
}

async fn wait_server(
    timeout: Duration,
    max_concurrent: usize,
) -> (TestServer, Arc<std::sync::atomic::AtomicUsize>) {
    let s = TestServer::start(|c, _| {
        c.limits.request_timeout = timeout;
        c.limits.max_concurrent_requests = max_concurrent;
    })
    .await;
    let mof = s.dir.path().join("wait.mof");
    std::fs::write(
        &mof,
        "[Provider(\"Waiter\")] class Test_Wait { boolean Wait(uint32 Ms, boolean Declare); };\n",
    )
    .unwrap();
    s.cimom.load_mof("root/cimv2", &[mof]).expect("load");
    let w = Waiter::default();
    let count = w.in_progress.clone();
    s.cimom.register_provider(
        "Waiter",
        ProviderEntry {
            method: Some(Arc::new(w)),
            ..Default::default()
        },
    );
    (s, count)
}

fn wait_request(ms: u32, declare: bool) -> (Vec<(&'static str, &'static str)>, String) {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\" ?>\n<CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\">\
         <MESSAGE ID=\"7\" PROTOCOLVERSION=\"1.0\"><SIMPLEREQ><METHODCALL NAME=\"Wait\">\
         <LOCALCLASSPATH>{}<CLASSNAME NAME=\"Test_Wait\"/></LOCALCLASSPATH>\
         <PARAMVALUE NAME=\"Ms\" PARAMTYPE=\"uint32\"><VALUE>{ms}</VALUE></PARAMVALUE>\
         <PARAMVALUE NAME=\"Declare\" PARAMTYPE=\"boolean\"><VALUE>{}</VALUE></PARAMVALUE>\
         </METHODCALL></SIMPLEREQ></MESSAGE></CIM>",
        nspath("root/cimv2"),
        if declare { "TRUE" } else { "FALSE" }
    );
    let headers = vec![
        ("Content-Type", "application/xml; charset=\"utf-8\""),
        ("CIMOperation", "MethodCall"),
        ("CIMMethod", "Wait"),
        ("CIMObject", "root/cimv2:Test_Wait"),
        ("CIMProtocolVersion", "1.0"),
    ];
    (headers, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_request_outlives_the_request_timeout_and_ends_with_its_client() {
    let (s, in_progress) = wait_server(Duration::from_secs(1), 8).await;
    let mut c = Client::connect(s.addr).await;
    // A method that does not declare a wait is cut at the request timeout.
    let (h, b) = wait_request(2500, false);
    let r = c.send("POST", "/cimom", &h, b).await;
    assert!(r.body.contains("request-timeout"), "{}", r.body);
    // A declared wait runs as long as it needs.
    let started = Instant::now();
    let (h, b) = wait_request(2500, true);
    let r = c.send("POST", "/cimom", &h, b).await;
    assert!(r.body.contains("<VALUE>TRUE</VALUE>"), "{}", r.body);
    assert!(started.elapsed() >= Duration::from_millis(2400));
    // A client that disconnects ends its wait: nothing is left waiting.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(in_progress.load(std::sync::atomic::Ordering::SeqCst), 0);
    let addr = s.addr;
    let gone = tokio::spawn(async move {
        let mut c = Client::connect(addr).await;
        let (h, b) = wait_request(600_000, true);
        c.send("POST", "/cimom", &h, b).await
    });
    let t0 = Instant::now();
    while in_progress.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the wait never began"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gone.abort();
    let _ = gone.await;
    let t0 = Instant::now();
    while in_progress.load(std::sync::atomic::Ordering::SeqCst) != 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "the wait goes on after its client disconnected"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The server goes on serving.
    c.assert_serves().await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_request_still_counts_against_the_concurrency_limit() {
    let (s, _) = wait_server(Duration::from_secs(1), 1).await;
    let addr = s.addr;
    let waiting = tokio::spawn(async move {
        let mut c = Client::connect(addr).await;
        let (h, b) = wait_request(3000, true);
        c.send("POST", "/cimom", &h, b).await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut c = Client::connect(addr).await;
    let r = c
        .imethod(
            "EnumerateClassNames",
            NS,
            &bool_param("DeepInheritance", false),
        )
        .await;
    assert_eq!(r.status, 503, "{r:?}");
    let w = waiting.await.unwrap();
    assert!(w.body.contains("<VALUE>TRUE</VALUE>"), "{}", w.body);
    s.stop().await;
}
