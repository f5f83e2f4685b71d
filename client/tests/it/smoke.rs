//! Optional end-to-end smoke test of the facade against a running `cimomd`.
//! It runs only when `IICLIENT_SMOKE_URL` (the server) and
//! `IICLIENT_SMOKE_DIR` (a writable directory under one of the server's
//! `--volume-root`s) are set; otherwise it returns at once. The lead's
//! `tests/` crate covers the same ground with an in-process server.

use client::{CopyParams, Direction, IiHost, LiveEvent, LiveOptions, LiveView, SetSpec, SetType};
use std::time::Duration;

#[tokio::test]
async fn facade_against_a_real_server() {
    let (Ok(url), Ok(dir)) = (
        std::env::var("IICLIENT_SMOKE_URL"),
        std::env::var("IICLIENT_SMOKE_DIR"),
    ) else {
        return;
    };
    let vol = |n: &str, size: u64| {
        let p = format!("{dir}/smoke-{}-{n}", std::process::id());
        let f = std::fs::File::create(&p).unwrap();
        f.set_len(size).unwrap();
        p
    };
    let (m, s, b) = (vol("m", 4 << 20), vol("s", 4 << 20), vol("b", 64 << 10));
    let host = IiHost::connect(&url).unwrap();
    let view = LiveView::start(host.clone(), LiveOptions::default())
        .await
        .unwrap();
    let mut events = view.events();

    let spec = SetSpec::new(SetType::Independent, &m, &s, &b);
    let set = host.create_set(&spec).await.unwrap();
    set.wait(None).await.unwrap();
    set.modify(
        Some("smoke"),
        Some(CopyParams {
            delay: 3,
            units: 200,
        }),
    )
    .await
    .unwrap();
    let info = host.set_info("smoke").await.unwrap();
    assert_eq!(
        (info.shadow.as_str(), info.copy_delay, info.copy_units),
        (s.as_str(), 3, 200)
    );
    set.update(Direction::ToShadow).await.unwrap();
    let mut seen = Vec::new();
    set.wait_with_progress(Duration::from_millis(100), |p| seen.push(p))
        .await
        .unwrap();
    assert_eq!(seen.last().copied(), Some(100.0));

    let created = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(LiveEvent::SetCreated(i)) = events.recv().await {
                if i.shadow == s {
                    return i;
                }
            }
        }
    })
    .await
    .expect("the live view saw the new set");
    assert_eq!(created.master, m);

    set.delete().await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        while view.set(&s).is_some() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the live view dropped the deleted set");
    view.close().await.unwrap();
    for p in [m, s, b] {
        let _ = std::fs::remove_file(p);
    }
}
