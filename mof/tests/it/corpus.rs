//! Whole-schema acceptance tests against the DMTF CIM Schema 2.41.0 corpus.
//!
//! The corpus is found through `MOF_CORPUS` (default: `../shared/corpus`
//! relative to the workspace root); a missing corpus fails with a clear message.

use cim::{QualifierList, Value};
use mof::{compile_files, compile_str, print, Compiled, Options};
use std::path::PathBuf;
use std::sync::OnceLock;

fn corpus_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("MOF_CORPUS") {
        return PathBuf::from(dir);
    }
    // CARGO_MANIFEST_DIR is <workspace>/mof.
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("..")
        .join("shared")
        .join("corpus")
}

fn schema_file() -> PathBuf {
    let f = corpus_dir().join("cim-schema/2.41.0/CIM_Schema.mof");
    assert!(
        f.is_file(),
        "MOF corpus not found: {} does not exist. Set MOF_CORPUS to the directory holding \
         cim-schema/2.41.0/ (see ../shared/corpus/README.md)",
        f.display()
    );
    f
}

fn schema() -> &'static Compiled {
    static S: OnceLock<Compiled> = OnceLock::new();
    S.get_or_init(
        || match compile_files(&[schema_file()], &Options::default()) {
            Ok(c) => c,
            Err(d) => panic!("CIM schema failed to compile:\n{d}"),
        },
    )
}

#[test]
fn cim_schema_2_41_counts() {
    let s = schema();
    assert!(
        s.warnings.is_empty(),
        "unexpected warnings: {:?}",
        s.warnings
    );
    assert_eq!(s.qualifiers.len(), 70, "qualifier declarations");
    assert_eq!(s.classes.len(), 1438, "classes");
    assert_eq!(
        s.classes.iter().filter(|c| c.is_association()).count(),
        593,
        "associations"
    );
    assert_eq!(
        s.classes.iter().filter(|c| c.is_indication()).count(),
        20,
        "indications"
    );
    let refs: usize = s
        .classes
        .iter()
        .flat_map(|c| &c.properties)
        .filter(|p| !p.propagated && p.ty.is_reference())
        .count();
    assert_eq!(refs, 1167, "reference properties declared");
    let methods: usize = s
        .classes
        .iter()
        .flat_map(|c| &c.methods)
        .filter(|m| !m.propagated)
        .count();
    assert_eq!(methods, 221, "methods declared");
}

#[test]
fn classes_are_in_dependency_order_and_resolved() {
    let s = schema();
    let mut seen = std::collections::HashSet::new();
    for c in &s.classes {
        if let Some(sup) = &c.superclass {
            assert!(
                seen.contains(&sup.to_lowercase()),
                "{} before its superclass {sup}",
                c.name
            );
        }
        seen.insert(c.name.to_lowercase());
    }
    // CIM_ComputerSystem inherits Name (overridden along the way) and ElementName from CIM_ManagedElement.
    let cs = s.class("CIM_ComputerSystem").unwrap();
    let en = cs.property("ElementName").unwrap();
    assert!(en.propagated);
    assert_eq!(
        en.class_origin.as_ref().unwrap().as_str(),
        "CIM_ManagedElement"
    );
    assert!(en.qualifiers.iter().all(|q| q.propagated));
    // Description is ToSubclass: it propagates; Abstract is Restricted: it does not.
    assert!(cs.qualifiers.find("Description").is_some());
    assert!(s
        .class("CIM_ManagedElement")
        .unwrap()
        .qualifiers
        .is_true("Abstract"));
    assert!(!cs.qualifiers.is_true("Abstract"));
    let name = cs.property("Name").unwrap();
    assert!(name.is_key());
    // Keys survive inheritance; methods too.
    assert!(cs
        .method("RequestStateChange")
        .is_some_and(|m| m.propagated));
    let assoc = s.class("CIM_SystemDevice").unwrap();
    assert!(assoc.is_association());
    assert!(assoc
        .property("GroupComponent")
        .is_some_and(|p| p.ty.is_reference()));
}

#[test]
fn schema_round_trips_through_the_printer() {
    let s = schema();
    let text = print::to_mof(s);
    let again = match compile_str("printed.mof", &text, &Options::default()) {
        Ok(c) => c,
        Err(d) => panic!(
            "printed schema does not compile:\n{}",
            d.to_string().chars().take(4000).collect::<String>()
        ),
    };
    assert_eq!(again.qualifiers, s.qualifiers);
    assert_eq!(again.classes.len(), s.classes.len());
    for (a, b) in again.classes.iter().zip(&s.classes) {
        assert_eq!(a, b, "class {} differs after round trip", b.name);
    }
    assert_eq!(again.instances, s.instances);
    // Printing is deterministic.
    assert_eq!(print::to_mof(&again), text);
}

#[test]
fn value_map_values_are_string_arrays() {
    let s = schema();
    let p = s
        .class("CIM_ManagedSystemElement")
        .unwrap()
        .property("OperationalStatus")
        .unwrap();
    assert!(p.is_array);
    let vm = p.qualifiers.find("ValueMap").unwrap();
    assert!(matches!(&vm.value, Value::Array(v) if v.len() > 10));
}

#[test]
fn openpegasus_interface_files_compile_in_sequence_with_class_autoload() {
    let dir = schema_file().parent().unwrap().to_owned();
    let files: Vec<PathBuf> = [
        "Core_Qualifiers.mof",
        "CIM_Core.mof",
        "CIM_Event.mof",
        "CIM_Interop.mof",
        "CIM_Physical.mof",
        "CIM_System.mof",
    ]
    .iter()
    .map(|f| dir.join(f))
    .collect();
    let opts = Options {
        include_dirs: vec![dir.join("DMTF")],
        ..Options::default()
    };
    let c = compile_files(&files, &opts).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(c.qualifiers.len(), 70);
    assert_eq!(c.classes.len(), 435);
    // Superclasses first even for classes loaded on demand.
    let mut seen = std::collections::HashSet::new();
    for cl in &c.classes {
        if let Some(s) = &cl.superclass {
            assert!(seen.contains(&s.to_lowercase()), "{} before {s}", cl.name);
        }
        seen.insert(cl.name.to_lowercase());
    }
}
