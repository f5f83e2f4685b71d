//! Volumes: `DS_Volume` and the configured volume roots.

use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn volumes_and_roots() {
    let f = Fixture::new();
    let m = f.volume("vm", MIB);
    f.enable("dependent", "vm", "vs", "vb").await.unwrap();
    f.volume("free", 2 * MIB);
    let vols = f
        .volumes
        .enumerate_instances(&f.ctx, &class("DS_Volume"))
        .await
        .unwrap();
    let find = |name: &str| {
        vols.iter()
            .find(|v| v.get_str("path").is_some_and(|p| p.ends_with(name)))
            .cloned()
    };
    let vm = find("/vm").expect("master listed");
    assert!(
        vm.get_str("usedBy").unwrap().starts_with("master of"),
        "{vm:?}"
    );
    let free = find("/free").expect("free volume listed");
    assert_eq!(free.get_str("usedBy"), Some(""));
    assert_eq!(free.get("capacity"), Some(&Value::Uint64(2 * MIB)));

    let get = |p: &str| {
        let path = ObjectPath::class(None, "DS_Volume").with_key("path", s(p));
        let v = &f.volumes;
        let ctx = &f.ctx;
        async move { v.get_instance(ctx, &class("DS_Volume"), &path).await }
    };
    assert!(get(&m).await.is_ok());
    assert_eq!(code(get("/etc/hostname").await), StatusCode::AccessDenied);
    // Missing, and outside: still denied, so nothing is learnt about what
    // exists outside the roots.
    assert_eq!(
        code(get("/no-such-dir/vol").await),
        StatusCode::AccessDenied
    );
    let escape = format!("{}/../../etc/hostname", f.root.display());
    assert_eq!(code(get(&escape).await), StatusCode::AccessDenied);
    let link = f.root.join("link");
    std::os::unix::fs::symlink("/etc/hostname", &link).unwrap();
    assert_eq!(
        code(get(&link.to_string_lossy()).await),
        StatusCode::AccessDenied
    );
    assert_eq!(
        code(get(&format!("{}/absent", f.root.display())).await),
        StatusCode::NotFound
    );
}
