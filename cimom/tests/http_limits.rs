//! Time and concurrency limits: an operation slower than `--request-timeout`
//! is answered with `CIM_ERR_FAILED` naming the limit (and the server goes
//! on), and with `--max-concurrent-requests 1` a request that cannot get a
//! slot within the timeout gets `503` with `Retry-After`.
//!
//! Timing margins are wide (hundreds of milliseconds) because the tests share
//! a loaded two-core machine with everything else.

mod http_common;

use async_trait::async_trait;
use cim::{Class, Instance};
use cimom::provider::{InstanceProvider, ProviderContext, ProviderEntry, ProviderResult};
use http_common::*;
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
    let r = c
        .imethod(
            "EnumerateClassNames",
            NS,
            &bool_param("DeepInheritance", false),
        )
        .await;
    assert_eq!(r.status, 200);
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
    let r = c
        .imethod(
            "EnumerateClassNames",
            NS,
            &bool_param("DeepInheritance", false),
        )
        .await;
    assert_eq!(r.status, 200);
    s.stop().await;
}
