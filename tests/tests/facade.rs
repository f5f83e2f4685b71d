//! The client facade against a real `cimomd`: every facade call, the live view
//! following changes made by another client, and a two-host
//! export/import/join between two `cimomd` processes sharing a volume folder.

use client::{
    Client, Direction, Fleet, IiHost, LiveEvent, LiveOptions, LiveView, SetSpec, SetType,
};
use std::time::Duration;
use tests::Server;

const MIB: u64 = 1 << 20;

fn host(server: &Server) -> IiHost {
    IiHost::new(Client::connect(&server.url()).expect("client"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facade_drives_sets_groups_and_overflow_volumes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("state"), &dir.path().join("vols"));
    let h = host(&server);
    let (m, s, b) = (
        server.volume("m", 4 * MIB),
        server.volume("s", 4 * MIB),
        server.volume("b", MIB),
    );
    std::fs::write(&m, vec![0x5au8; (4 * MIB) as usize]).unwrap();

    let set = h
        .create_set(&SetSpec::new(SetType::Independent, &m, &s, &b))
        .await
        .expect("enable");
    set.wait(Some(Duration::from_secs(120)))
        .await
        .expect("wait");
    assert_eq!(std::fs::read(&s).unwrap(), std::fs::read(&m).unwrap());
    let info = set.info().await.unwrap();
    assert_eq!(info.percent_completed, 100.0);
    assert!(h.list_sets().await.unwrap().iter().any(|i| i.shadow == s));
    assert_eq!(h.find_set(&s).await.unwrap().shadow(), s);

    set.update(Direction::ToShadow).await.expect("update");
    set.wait(None).await.unwrap();
    set.rename("renamed").await.unwrap();
    assert_eq!(set.name().await.unwrap(), "renamed");
    set.set_copy_parameters(client::CopyParams {
        delay: 4,
        units: 500,
    })
    .await
    .unwrap();
    let p = set.copy_parameters().await.unwrap();
    assert_eq!((p.delay, p.units), (4, 500));
    let bad = set
        .set_copy_parameters(client::CopyParams {
            delay: 1,
            units: 500,
        })
        .await;
    assert!(bad.is_err(), "delay 1 is out of range");

    let volumes = h.list_volumes().await.unwrap();
    assert!(volumes.iter().any(|v| v.path == m && !v.used_by.is_empty()));

    let group = h
        .create_group("g1", Some(SetType::Independent))
        .await
        .expect("group");
    group.add(&set).await.unwrap();
    assert!(group.contains(&set).await.unwrap());
    assert_eq!(group.members().await.unwrap().len(), 1);
    group.update(Direction::ToShadow).await.unwrap();
    group.remove(&set).await.unwrap();
    h.delete_group("g1").await.unwrap();
    assert!(h.list_groups().await.unwrap().is_empty());

    let ov = server.volume("ov", 8 * MIB);
    h.create_overflow(&ov).await.expect("overflow");
    assert!(h
        .list_overflows()
        .await
        .unwrap()
        .iter()
        .any(|o| o.path == ov));
    h.delete_overflow(&ov).await.unwrap();

    set.delete().await.expect("disable");
    assert!(h.find_set(&s).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_view_follows_another_client() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("state"), &dir.path().join("vols"));
    let view = LiveView::start(host(&server), LiveOptions::default())
        .await
        .expect("live view");
    let mut events = view.events();
    let other = host(&server);
    let (m, s, b) = (
        server.volume("m", 2 * MIB),
        server.volume("s", 2 * MIB),
        server.volume("b", MIB),
    );
    other
        .create_set(&SetSpec::new(SetType::Dependent, &m, &s, &b))
        .await
        .unwrap();
    let created = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Ok(LiveEvent::SetCreated(info)) = events.recv().await {
                if info.shadow == s {
                    return info;
                }
            }
        }
    })
    .await
    .expect("creation seen by the live view");
    assert_eq!(created.master, m);
    assert!(view.set(&s).is_some());
    other.delete_set(&s).await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Ok(LiveEvent::SetDeleted(shadow)) = events.recv().await {
                if shadow == s {
                    return;
                }
            }
        }
    })
    .await
    .expect("deletion seen by the live view");
    assert!(view.set(&s).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_import_join_across_two_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    let a = Server::start(&dir.path().join("a"), &shared);
    let b = Server::start(&dir.path().join("b"), &shared);
    let (m, s, bm, bm2) = (
        a.volume("m", 4 * MIB),
        a.volume("s", 4 * MIB),
        a.volume("bm", MIB),
        a.volume("bm2", MIB),
    );
    let ha = host(&a);
    let set = ha
        .create_set(&SetSpec::new(SetType::Independent, &m, &s, &bm))
        .await
        .unwrap();
    set.wait(None).await.unwrap();

    let fleet = Fleet::from_hosts(vec![("a".into(), host(&a)), ("b".into(), host(&b))]);
    let imported = fleet.move_shadow("a", &s, "b", &bm2).await.expect("move");
    let info = imported.info().await.unwrap();
    assert_eq!(info.set_type, "imported");
    // The original host refuses a second export and still lists the set.
    assert!(set.export().await.is_err());
    // Release on the importing host, then join back with its bitmap.
    imported.delete().await.expect("release import");
    set.join(&bm2).await.expect("join");
    set.update(Direction::ToShadow).await.expect("resync");
    set.wait(None).await.unwrap();
    assert_eq!(std::fs::read(&s).unwrap(), std::fs::read(&m).unwrap());
}
