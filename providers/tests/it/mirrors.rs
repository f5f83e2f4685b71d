//! The mirror providers over a real engine with a local secondary
//! (`secondaryHost = "localhost"`): life cycle, methods, refusals before
//! anything moves, associations, the target side's write-only token, and
//! the indications of mirror events.

use crate::support::*;
use providers::mirror::assoc::MirrorAssocProvider;
use providers::mirror::target::TargetProvider;
use providers::mirror::MirrorProvider;

fn mirror_instance(p: &str, sec: &str, sb: &str, host: &str) -> Instance {
    Instance::new("DS_IIMirror")
        .with("primaryVolume", CimType::String, s(p))
        .with("secondaryHost", CimType::String, s(host))
        .with("secondaryVolume", CimType::String, s(sec))
        .with("scoreboardVolume", CimType::String, s(sb))
}

#[tokio::test(flavor = "multi_thread")]
async fn local_mirror_life_cycle_and_indications() {
    let f = Fixture::new();
    let backend = Backend::new(f.engine.clone());
    let mirrors = MirrorProvider::new(backend.clone());
    let assocs = MirrorAssocProvider::new(backend);
    let rx = f.engine.subscribe();
    let mut state = providers::indication::State::new(f.engine.clone(), Vec::new());
    state.prime();
    let (p, sec, sb) = (
        f.volume("lp", 4 * MIB),
        f.volume("ls", 4 * MIB),
        f.volume("lsb", MIB),
    );
    let cls = class("DS_IIMirror");

    // Refused before anything moves.
    let bad = mirror_instance(&p, &sec, &sb, "localhost").with("mode", CimType::String, s("semi"));
    let e = mirrors
        .create_instance(&f.ctx, &cls, bad)
        .await
        .unwrap_err();
    assert_eq!(e.status, StatusCode::InvalidParameter);
    assert!(e.description.contains("semi"), "{}", e.description);
    let e = mirrors
        .create_instance(&f.ctx, &cls, mirror_instance(&p, "/x", &sb, "hostz"))
        .await
        .unwrap_err();
    assert_eq!(e.status, StatusCode::InvalidParameter);
    assert!(
        e.description.contains("unknown peer hostz"),
        "{}",
        e.description
    );
    assert!(mirrors
        .enumerate_instances(&f.ctx, &cls)
        .await
        .unwrap()
        .is_empty());

    let path = mirrors
        .create_instance(
            &f.ctx,
            &cls,
            mirror_instance(&p, &sec, &sb, "localhost")
                .with("groupName", CimType::String, s("lg"))
                .with("linkTimeout", CimType::Uint32, Value::Uint32(2)),
        )
        .await
        .unwrap();
    assert_eq!(path.key_str("secondaryHost"), Some("localhost"));
    drain(&rx, &mut state);
    let inst = mirrors.get_instance(&f.ctx, &cls, &path).await.unwrap();
    assert_eq!(inst.get_str("state"), Some("need-sync"));
    assert_eq!(inst.get("linkTimeout"), Some(&Value::Uint32(2)));
    let again = mirrors
        .create_instance(&f.ctx, &cls, mirror_instance(&p, &sec, &sb, "localhost"))
        .await
        .unwrap_err();
    assert_eq!(again.status, StatusCode::AlreadyExists);

    let call = |m: &'static str, params: Vec<ParamValue>| {
        let (mirrors, ctx, cls, path) = (&mirrors, &f.ctx, &cls, &path);
        async move {
            mirrors
                .invoke_method(ctx, cls, path, &CimName::new(m), params)
                .await
                .map(|r| r.return_value)
        }
    };
    assert_eq!(
        call("fullSync", vec![]).await.unwrap(),
        Value::Boolean(true)
    );
    assert_eq!(
        call("waitForSync", vec![u32p("timeoutSeconds", 30)])
            .await
            .unwrap(),
        Value::Boolean(true)
    );
    assert_eq!(call("logging", vec![]).await.unwrap(), Value::Boolean(true));
    drain(&rx, &mut state);
    let e = call("waitForSync", vec![u32p("timeoutSeconds", 1)])
        .await
        .unwrap_err();
    assert_eq!(e.status, StatusCode::Failed);
    assert!(e.description.contains("logging"), "{}", e.description);
    let e = call(
        "setMode",
        vec![ParamValue::new("mode", CimType::String, s("x"))],
    )
    .await
    .unwrap_err();
    assert_eq!(e.status, StatusCode::InvalidParameter);

    // The group and the associations.
    let groups = mirrors
        .enumerate_instances(&f.ctx, &class("DS_IIMirrorGroup"))
        .await
        .unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].get("mirrorCount"), Some(&Value::Uint32(1)));
    let vol = ObjectPath::class(Some("root/cimv2"), "DS_Volume").with_key("path", s(&p));
    let refs = assocs
        .references(&f.ctx, &class("DS_IIMirrorPrimaryVolume"), &vol, None)
        .await
        .unwrap();
    assert_eq!(refs.len(), 1);
    let sec_refs = assocs
        .references(
            &f.ctx,
            &class("DS_IIMirrorSecondaryVolume"),
            &path,
            Some("mirror"),
        )
        .await
        .unwrap();
    assert_eq!(sec_refs.len(), 1);

    mirrors.delete_instance(&f.ctx, &cls, &path).await.unwrap();
    assert!(mirrors
        .enumerate_instances(&f.ctx, &cls)
        .await
        .unwrap()
        .is_empty());

    drain(&rx, &mut state);
    let mirror_events: Vec<&str> = state
        .sink()
        .iter()
        .filter(|i| {
            matches!(i.get("SourceInstance"), Some(Value::Instance(s)) if s.class_name.is("DS_IIMirror"))
        })
        .map(|i| i.class_name.as_str())
        .collect();
    assert_eq!(
        mirror_events.first(),
        Some(&"CIM_InstCreation"),
        "{mirror_events:?}"
    );
    assert_eq!(
        mirror_events.last(),
        Some(&"CIM_InstDeletion"),
        "{mirror_events:?}"
    );
    assert!(
        mirror_events.contains(&"CIM_InstModification"),
        "{mirror_events:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn target_claims_hide_their_token() {
    let f = Fixture::new();
    let targets = TargetProvider::new(Backend::new(f.engine.clone()));
    let cls = class("DS_IIMirrorTarget");
    let v = f.volume("t", 2 * MIB);
    let claim = |token: &str| {
        Instance::new("DS_IIMirrorTarget")
            .with("volume", CimType::String, s(&v))
            .with("owner", CimType::String, s("a:/v/p"))
            .with("token", CimType::String, s(token))
    };
    let e = targets
        .create_instance(&f.ctx, &cls, claim("short"))
        .await
        .unwrap_err();
    assert_eq!(e.status, StatusCode::InvalidParameter);
    let path = targets
        .create_instance(&f.ctx, &cls, claim("0123456789abcdef01"))
        .await
        .unwrap();
    let got = targets.get_instance(&f.ctx, &cls, &path).await.unwrap();
    assert_eq!(got.get_str("owner"), Some("a:/v/p"));
    assert_eq!(got.get("token"), Some(&Value::Null));
    assert_eq!(got.get("capacity"), Some(&Value::Uint64(2 * MIB)));
    let outside = Instance::new("DS_IIMirrorTarget")
        .with("volume", CimType::String, s("/etc/passwd"))
        .with("owner", CimType::String, s("a:/v/p"))
        .with("token", CimType::String, s("0123456789abcdef01"));
    let e = targets
        .create_instance(&f.ctx, &cls, outside)
        .await
        .unwrap_err();
    assert_eq!(e.status, StatusCode::AccessDenied);
    targets.delete_instance(&f.ctx, &cls, &path).await.unwrap();
    assert_eq!(
        code(targets.get_instance(&f.ctx, &cls, &path).await),
        StatusCode::NotFound
    );
}
