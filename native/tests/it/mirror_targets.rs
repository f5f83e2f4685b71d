//! The secondary side of a mirror: claims of target volumes (refusals,
//! persistence across reopen, `usedBy`, events) and the NBD export fence:
//! the claim's token connection writes, foreign clients (`qemu-io`, our own
//! client without the token) get EPERM, a wrong token is refused at
//! `NBD_OPT_GO`, and `NBD_OPT_LIST` shows plain paths only.

use crate::common::*;
use crate::nbd_common::{run_ok, run_tool, TestServer};
use native::mirror::TargetClaim;
use native::nbd::client::{ClientOptions, NbdClient};
use native::*;
use std::path::Path;
use std::sync::Arc;

const TOKEN: &str = "tok-0123456789abcdef";

fn claim(owner: &str, token: &str) -> TargetClaim {
    TargetClaim {
        owner: owner.into(),
        token: token.into(),
    }
}

fn used_by(e: &Engine, p: &Path) -> String {
    e.volumes()
        .into_iter()
        .find(|v| v.path == p)
        .map(|v| v.used_by)
        .unwrap_or_default()
}

#[test]
fn claims_persist_show_in_used_by_and_refuse_conflicts() {
    let env = Env::new();
    let t = env.vol("t", 4 * CH, 0);
    let m = env.vol("m", 4 * CH, 1);
    let s = env.vol("s", 4 * CH, 0);
    let b = env.vol("b", 64 * 1024, 0);
    {
        let e = env.open();
        let events = e.subscribe();
        let info = e.claim_target(&t, claim("hostA:/vols/p", TOKEN)).unwrap();
        assert_eq!(info.size, 4 * CH as u64);
        assert!(!info.connected);
        assert!(matches!(
            events.recv_timeout(std::time::Duration::from_secs(5)).unwrap(),
            EngineEvent::TargetClaimed { volume } if volume == t
        ));
        assert_eq!(used_by(&e, &t), "mirror target of hostA:/vols/p");
        // The token is on disk now: only the engine's user may read it.
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(env.state.join("engine.json"))
                .unwrap()
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "engine.json mode {mode:o}");
        // Same owner again: the token is renewed, not refused.
        e.claim_target(&t, claim("hostA:/vols/p", "tok-renewed-0000000000"))
            .unwrap();
        // Another owner: refused, naming the volume and the holder.
        let err = e
            .claim_target(&t, claim("hostB:/vols/q", TOKEN))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&t.display().to_string()) && err.contains("hostA:/vols/p"),
            "{err}"
        );
        // Outside the roots.
        let outside = env.dir.path().join("outside");
        std::fs::write(&outside, vec![0u8; CH]).unwrap();
        let err = e
            .claim_target(&outside, claim("hostA:/x", TOKEN))
            .unwrap_err();
        assert!(matches!(err, Error::AccessDenied { .. }), "{err}");
        // A set's bitmap and shadow: refused; its master: allowed.
        e.enable_set(spec(&m, &s, &b, SetKind::Dependent)).unwrap();
        for v in [&b, &s] {
            let err = e.claim_target(v, claim("hostA:/y", TOKEN)).unwrap_err();
            assert!(matches!(err, Error::InUse { .. }), "{err}");
            assert!(err.to_string().contains(&v.display().to_string()), "{err}");
        }
        // A token that cannot travel in an export name.
        let err = e.claim_target(&m, claim("hostA:/z", "short")).unwrap_err();
        assert!(matches!(err, Error::InvalidParameter { .. }), "{err}");
        let err = e
            .claim_target(&m, claim("hostA:/z", "has?mirror=and&more-chars"))
            .unwrap_err();
        assert!(matches!(err, Error::InvalidParameter { .. }), "{err}");
        // Not while another NBD client holds the volume.
        let held = e.open_export(&m.display().to_string()).unwrap();
        let err = e.claim_target(&m, claim("hostA:/z", TOKEN)).unwrap_err();
        assert!(err.to_string().contains("NBD client"), "{err}");
        drop(held);
        e.claim_target(&m, claim("hostA:/z", TOKEN)).unwrap();
        assert_eq!(
            used_by(&e, &m),
            format!("mirror target of hostA:/z; master of {}", s.display())
        );
        // A claimed volume cannot become a shadow or a bitmap.
        let s2 = env.vol("s2", 4 * CH, 0);
        let b2 = env.vol("b2", 64 * 1024, 0);
        let err = e
            .enable_set(spec(&s2, &t, &b2, SetKind::Dependent))
            .unwrap_err();
        assert!(err.to_string().contains("mirror target of"), "{err}");
    }
    // Reopen: both claims are back.
    let e = env.open();
    let mut owners: Vec<_> = e.targets().into_iter().map(|t| t.owner).collect();
    owners.sort();
    assert_eq!(owners, vec!["hostA:/vols/p", "hostA:/z"]);
    assert_eq!(used_by(&e, &t), "mirror target of hostA:/vols/p");
    // The fence comes back with the claim: the renewed token writes, the
    // first one and the plain name do not.
    let plain = t.display().to_string();
    let owner = e
        .open_export(&format!("{plain}?mirror=tok-renewed-0000000000"))
        .expect("the token export opens");
    owner.write_at(&[5; 512], 0, false).unwrap();
    assert!(e.open_export(&format!("{plain}?mirror={TOKEN}")).is_none());
    let foreign = e.open_export(&plain).expect("the plain export opens");
    let err = foreign.write_at(&[6; 512], 0, false).unwrap_err();
    assert!(matches!(err, Error::PermissionDenied { .. }), "{err}");
    assert!(err.to_string().contains("hostA:/vols/p"), "{err}");
    drop((owner, foreign));
    e.release_target(&t).unwrap();
    let err = e.release_target(&t).unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    drop(e);
    let e = env.open();
    assert_eq!(e.targets().len(), 1);
    assert_eq!(used_by(&e, &t), "");
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn only_the_token_connection_writes_a_claimed_target() {
    let env = Env::new();
    let t = env.vol("t", 4 * CH, 0);
    let e = env.open();
    e.claim_target(&t, claim("hostA:/vols/p", TOKEN)).unwrap();
    let server = TestServer::start(Arc::new(e.clone()));
    let plain = t.display().to_string();
    // A foreign client: reads work, writes get EPERM.
    let o = run_tool(
        "qemu-io",
        &[
            "-f",
            "raw",
            &server.uri(&plain),
            "-c",
            "write -P 0x55 0 4096",
        ],
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(text.contains("Operation not permitted"), "{text}");
    assert_eq!(std::fs::read(&t).unwrap()[0], 0, "the foreign write landed");
    run_ok(
        "qemu-io",
        &["-f", "raw", &server.uri(&plain), "-c", "read -P 0 0 4096"],
    );
    // LIST shows the plain path, never a token.
    let list = run_ok("nbdinfo", &["--list", &server.base_uri()]);
    assert!(list.contains(&plain) && !list.contains("mirror="), "{list}");
    let rt = rt();
    rt.block_on(async {
        let addr = server.addr.to_string();
        let o = ClientOptions::default();
        // The owner's connection writes (FUA), and counts as connected.
        let owner = NbdClient::connect(&addr, &format!("{plain}?mirror={TOKEN}"), &o)
            .await
            .unwrap();
        owner.write(0, vec![0x77; 8192], true).await.unwrap();
        assert!(e.targets()[0].connected);
        // Our client without the token: EPERM as PermissionDenied.
        let foreign = NbdClient::connect(&addr, &plain, &o).await.unwrap();
        let err = foreign.write(0, vec![1; 512], false).await.unwrap_err();
        assert!(matches!(err, Error::PermissionDenied { .. }), "{err}");
        assert!(
            foreign.is_up(),
            "an error reply must not break the connection"
        );
        assert_eq!(foreign.read(0, 4).await.unwrap(), vec![0x77; 4]);
        // A wrong token is refused at NBD_OPT_GO.
        let err = NbdClient::connect(&addr, &format!("{plain}?mirror=tok-wrong-wrong-wrong"), &o)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown export") && !err.contains("tok-wrong"),
            "{err}"
        );
        // Released: the owner's open connection stops writing.
        e.release_target(&t).unwrap();
        let err = owner.write(0, vec![2; 512], false).await.unwrap_err();
        assert!(matches!(err, Error::PermissionDenied { .. }), "{err}");
        owner.close().await;
        foreign.close().await;
    });
    assert_eq!(std::fs::read(&t).unwrap()[..8192], [0x77; 8192]);
}

#[test]
fn a_claimed_master_keeps_copy_on_write_for_its_set() {
    let env = Env::new();
    let m = env.vol("m", 4 * CH, 1);
    let s = env.vol("s", 4 * CH, 0);
    let b = env.vol("b", 64 * 1024, 0);
    let e = env.open();
    e.enable_set(spec(&m, &s, &b, SetKind::Dependent)).unwrap();
    e.claim_target(&m, claim("hostA:/vols/p", TOKEN)).unwrap();
    let server = TestServer::start(Arc::new(e.clone()));
    let rt = rt();
    rt.block_on(async {
        let c = NbdClient::connect(
            &server.addr.to_string(),
            &format!("{}?mirror={TOKEN}", m.display()),
            &ClientOptions::default(),
        )
        .await
        .unwrap();
        c.write(0, vec![9; 4096], false).await.unwrap();
        c.close().await;
    });
    // The shadow still shows the point in time: the master's old data.
    let shadow = dev(&e, &s);
    let mut buf = vec![0u8; 4096];
    shadow.read_at(&mut buf, 0).unwrap();
    assert_eq!(buf, vec![1u8; 4096]);
    let master = dev(&e, &m);
    master.read_at(&mut buf, 0).unwrap();
    assert_eq!(buf, vec![9u8; 4096]);
}
