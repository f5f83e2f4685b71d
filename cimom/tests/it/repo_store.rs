//! Repository round trips across reopen, bundled/extra MOF loading, and
//! `load_mof`.
use crate::core_support::{open, open_bundled, open_repo};
use cim::{CimType, Value};
use cimom::repository::Repository;
use cimom::{BundledMof, Error};

const EXTRA: &str = r#"
[Provider("IISetProvider"), Description("A set.")]
class DS_IISet : CIM_ManagedElement {
  [Key] string shadowVolume;
  [Key] string setType;
  uint32 copyUnits = 100;
  boolean abort();
  [Static] boolean importShadow([IN] string shadowVolume, [IN] string bitmapVolume);
};
class DS_IIBig : DS_IISet { };
"#;

#[test]
fn extra_bundled_mof_goes_to_its_namespace_once() {
    let dir = tempfile::tempdir().unwrap();
    let extra = [BundledMof {
        namespace: "root/cimv2",
        name: "DS_II.mof",
        text: EXTRA,
    }];
    let c = open_bundled(dir.path(), &extra);
    let set = c.repository().get_class("root/cimv2", "DS_IISet").unwrap();
    assert_eq!(set.provider(), Some("IISetProvider"));
    assert!(set.property("ElementName").is_some_and(|p| p.propagated));
    let big = c.repository().get_class("root/cimv2", "ds_iibig").unwrap();
    assert_eq!(
        big.provider(),
        Some("IISetProvider"),
        "Provider is inherited"
    );
    assert_eq!(big.property("copyUnits").unwrap().value, Value::Uint32(100));
    assert!(big.method("importShadow").is_some());
    drop(c);
    // Reopen: nothing recompiled, everything still there.
    let c = open_bundled(dir.path(), &extra);
    assert!(c.repository().get_class("root/cimv2", "DS_IIBig").is_some());
    assert!(c
        .repository()
        .get_class("interop", "CIM_ListenerDestinationCIMXML")
        .is_some());
    // A changed text is recompiled (classes modified in place).
    let changed = EXTRA.replace("uint32 copyUnits = 100;", "uint32 copyUnits = 200;");
    let changed: &'static str = Box::leak(changed.into_boxed_str());
    drop(c);
    let c = open_bundled(
        dir.path(),
        &[BundledMof {
            namespace: "root/cimv2",
            name: "DS_II.mof",
            text: changed,
        }],
    );
    let big = c.repository().get_class("root/cimv2", "DS_IIBig").unwrap();
    assert_eq!(
        big.property("copyUnits").unwrap().value,
        Value::Uint32(200),
        "subclass re-resolved"
    );
}

#[test]
fn load_mof_reports_and_refuses_bad_mof() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    let f = dir.path().join("x.mof");
    std::fs::write(
        &f,
        "class X_A { [Key] string K; uint8 V; };\ninstance of X_A { K = \"one\"; V = 3; };\n",
    )
    .unwrap();
    let r = c.load_mof("root/extra", std::slice::from_ref(&f)).unwrap();
    assert_eq!((r.classes_created, r.instances), (1, 1));
    let ns = c.repository().resolve_namespace("root/extra").unwrap();
    let insts = c.repository().instances_of(&ns, "X_A").unwrap();
    assert_eq!(insts[0].get("V"), Some(&Value::Uint8(3)));
    // Loading again modifies in place.
    let r = c.load_mof("root/extra", &[f]).unwrap();
    assert_eq!((r.classes_created, r.classes_modified), (0, 1));
    // A MOF with an error writes nothing and reports every diagnostic.
    let bad = dir.path().join("bad.mof");
    std::fs::write(
        &bad,
        "class X_B { string S; };\nclass X_C : X_Missing { };\nclass X_D { unknowntype Z; };\n",
    )
    .unwrap();
    match c.load_mof("root/extra", &[bad]) {
        Err(Error::Mof { diagnostics, .. }) => assert!(
            diagnostics.contains("X_Missing") && diagnostics.lines().count() > 4,
            "{diagnostics}"
        ),
        other => panic!("expected a MOF error, got {other:?}"),
    }
    assert!(
        c.repository().get_class(&ns, "X_B").is_none(),
        "all or nothing"
    );
    let missing = c.load_mof("root/extra", &[dir.path().join("none.mof")]);
    assert!(matches!(missing, Err(Error::Io { .. })));
}

#[test]
fn raw_repository_round_trip_and_version_check() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("repository.redb");
    {
        let repo = Repository::open(&file).unwrap();
        repo.create_namespace("Root/Mixed").unwrap();
        let ns = repo.resolve_namespace("root/mixed").unwrap();
        let mut c = cim::Class::new("R_A", None);
        let mut k = cim::Property::new("K", CimType::Sint64, Value::Null);
        k.qualifiers.push(cim::Qualifier::flag("Key"));
        c.properties.push(k);
        repo.create_class(&ns, &c).unwrap();
        let mut i = cim::Instance::new("R_A").with("K", CimType::Sint64, Value::Sint64(-9));
        i.path = Some(cim::ObjectPath::class(None, "R_A").with_key("K", Value::Sint64(-9)));
        repo.create_instance(&ns, &i).unwrap();
        repo.set_meta("format_version", &7u32.to_le_bytes())
            .unwrap_or(());
    }
    match Repository::open(&file) {
        Err(Error::FormatVersion {
            found: 7,
            supported: 1,
        }) => {}
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a repository of another format version was opened"),
    }
    {
        // Put the version back: the data is intact.
        let db = redb::Database::create(&file).unwrap();
        let t = db.begin_write().unwrap();
        {
            let def: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta");
            t.open_table(def)
                .unwrap()
                .insert("format_version", 1u32.to_le_bytes().as_slice())
                .unwrap();
        }
        t.commit().unwrap();
    }
    let repo = Repository::open(&file).unwrap();
    assert_eq!(repo.namespaces(), ["Root/Mixed"]);
    let ns = repo.resolve_namespace("ROOT/MIXED").unwrap();
    let got = repo
        .get_instance(
            &ns,
            &cim::ObjectPath::class(None, "r_a").with_key("k", Value::Sint64(-9)),
        )
        .unwrap()
        .unwrap();
    assert_eq!(got.path.unwrap().namespace.as_deref(), Some("Root/Mixed"));
}

/// The decoded-instance cache: served again without a write, dropped by
/// every write to the class (create, replace, upsert, delete, failed create),
/// never by a write to another class.
#[test]
fn instance_cache_follows_every_write() {
    let dir = tempfile::tempdir().unwrap();
    let repo = open_repo(dir.path());
    repo.create_namespace("root/c").unwrap();
    let ns = repo.resolve_namespace("root/c").unwrap();
    for name in ["C_A", "C_B"] {
        let mut c = cim::Class::new(name, None);
        let mut k = cim::Property::new("K", CimType::String, Value::Null);
        k.qualifiers.push(cim::Qualifier::flag("Key"));
        c.properties.push(k);
        c.properties
            .push(cim::Property::new("V", CimType::Uint32, Value::Null));
        repo.create_class(&ns, &c).unwrap();
    }
    let inst = |class: &str, k: &str, v: u32| {
        let mut i = cim::Instance::new(class)
            .with("K", CimType::String, Value::String(k.into()))
            .with("V", CimType::Uint32, Value::Uint32(v));
        i.path = Some(cim::ObjectPath::class(None, class).with_key("K", Value::String(k.into())));
        i
    };
    let values = |class: &str| -> Vec<(String, u32)> {
        let mut v: Vec<(String, u32)> = repo
            .instances_of(&ns, class)
            .unwrap()
            .iter()
            .map(|i| {
                let Some(Value::Uint32(n)) = i.get("V") else {
                    panic!("V missing")
                };
                (i.get_str("K").unwrap().to_owned(), *n)
            })
            .collect();
        v.sort();
        v
    };
    assert!(values("C_A").is_empty());
    repo.create_instance(&ns, &inst("C_A", "one", 1)).unwrap();
    assert_eq!(values("C_A"), [("one".to_owned(), 1)]);
    // Served from the cache: the same shared list.
    let a = repo.shared_instances_of(&ns, "c_a").unwrap();
    let b = repo.shared_instances_of(&ns, "C_A").unwrap();
    assert!(std::sync::Arc::ptr_eq(&a, &b));
    assert_eq!(
        a[0].path.as_ref().unwrap().namespace.as_deref(),
        Some("root/c")
    );
    // A write to another class keeps it; writes to this one drop it.
    repo.create_instance(&ns, &inst("C_B", "x", 9)).unwrap();
    assert!(std::sync::Arc::ptr_eq(
        &a,
        &repo.shared_instances_of(&ns, "C_A").unwrap()
    ));
    repo.replace_instance(&ns, &inst("C_A", "one", 2)).unwrap();
    assert_eq!(values("C_A"), [("one".to_owned(), 2)]);
    repo.upsert_instance(&ns, &inst("C_A", "two", 3)).unwrap();
    assert_eq!(
        values("C_A"),
        [("one".to_owned(), 2), ("two".to_owned(), 3)]
    );
    assert!(repo.create_instance(&ns, &inst("C_A", "two", 4)).is_err());
    assert_eq!(
        values("C_A"),
        [("one".to_owned(), 2), ("two".to_owned(), 3)]
    );
    repo.delete_instance(
        &ns,
        &cim::ObjectPath::class(None, "C_A").with_key("K", Value::String("one".into())),
    )
    .unwrap();
    assert_eq!(values("C_A"), [("two".to_owned(), 3)]);
    assert_eq!(values("C_B"), [("x".to_owned(), 9)]);
}
