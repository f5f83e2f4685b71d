//! WQL parser and evaluator.
use cim::{CimType, Instance, Value};
use cimom::wql::{check_language, like, Query};

fn isa(sub: &str, sup: &str) -> bool {
    // A tiny hierarchy: DS_IISet < CIM_ManagedElement.
    sub.eq_ignore_ascii_case(sup)
        || (sub.eq_ignore_ascii_case("DS_IISet") && sup.eq_ignore_ascii_case("CIM_ManagedElement"))
}

fn set() -> Instance {
    Instance::new("DS_IISet")
        .with(
            "shadowVolume",
            CimType::String,
            Value::String("/v/shadow1".into()),
        )
        .with("state", CimType::String, Value::String("copying".into()))
        .with("percentCompleted", CimType::Real32, Value::Real32(42.5))
        .with("copyUnits", CimType::Uint32, Value::Uint32(100))
        .with("enabled", CimType::Boolean, Value::Boolean(true))
        .with("groupName", CimType::String, Value::Null)
}

fn creation(source: Instance) -> Instance {
    Instance::new("CIM_InstCreation").with(
        "SourceInstance",
        CimType::EmbeddedObject,
        Value::Instance(Box::new(source)),
    )
}

fn m(q: &str, i: &Instance) -> bool {
    Query::parse(q)
        .unwrap_or_else(|e| panic!("{q}: {e}"))
        .matches(i, &isa)
}

#[test]
fn parses_select_lists_and_from() {
    let q = Query::parse("SELECT * FROM CIM_InstCreation").unwrap();
    assert_eq!(q.from_class(), "CIM_InstCreation");
    assert!(q.select.is_none() && q.condition.is_none());
    let q = Query::parse("select a, B ,c from X where a = 1;").unwrap();
    assert_eq!(q.select.as_ref().unwrap().len(), 3);
    for bad in [
        "",
        "SELECT",
        "SELECT * FROM",
        "SELECT * X",
        "SELECT a,, b FROM X",
        "SELECT * FROM X WHERE",
        "SELECT * FROM X WHERE a =",
        "SELECT * FROM X WHERE (a = 1",
        "SELECT * FROM X WHERE a LIKE 5",
        "SELECT * FROM WHERE",
        "SELECT * FROM X WHERE a = 'unterminated",
        "SELECT * FROM X extra",
    ] {
        let e = Query::parse(bad).expect_err(bad);
        assert_eq!(e.to_cim().status, cim::StatusCode::InvalidQuery);
    }
    // Deep nesting is refused, not a stack overflow.
    let deep = format!(
        "SELECT * FROM X WHERE {}a = 1{}",
        "(".repeat(30000),
        ")".repeat(30000)
    );
    assert!(Query::parse(&deep).is_err());
    // A long flat chain is fine and evaluates without deep recursion.
    let chain = format!(
        "SELECT * FROM X WHERE {}copyUnits = 100",
        "copyUnits = 100 AND ".repeat(3000)
    );
    assert!(Query::parse(&chain).unwrap().matches(&set(), &isa));
}

#[test]
fn comparisons_and_logic() {
    let i = set();
    assert!(m("SELECT * FROM DS_IISet WHERE state = 'copying'", &i));
    assert!(
        m("SELECT * FROM DS_IISet WHERE STATE = \"copying\"", &i),
        "property names ignore case"
    );
    assert!(
        !m("SELECT * FROM DS_IISet WHERE state = 'Copying'", &i),
        "strings compare exactly"
    );
    assert!(m(
        "SELECT * FROM DS_IISet WHERE state <> 'idle' AND state != 'x'",
        &i
    ));
    assert!(m("SELECT * FROM DS_IISet WHERE copyUnits >= 100 AND copyUnits <= 100 AND copyUnits > 99 AND copyUnits < 0x65", &i));
    assert!(m(
        "SELECT * FROM DS_IISet WHERE percentCompleted > 42 and percentCompleted < 42.6",
        &i
    ));
    assert!(m("SELECT * FROM DS_IISet WHERE enabled = TRUE", &i));
    assert!(m("SELECT * FROM DS_IISet WHERE enabled", &i));
    assert!(m("SELECT * FROM DS_IISet WHERE NOT enabled = false", &i));
    assert!(m(
        "SELECT * FROM DS_IISet WHERE state = 'idle' OR (copyUnits = 100 AND NOT state = 'idle')",
        &i
    ));
    assert!(!m(
        "SELECT * FROM DS_IISet WHERE state = 'idle' OR copyUnits = 5",
        &i
    ));
    assert!(
        m("SELECT * FROM DS_IISet WHERE -5 < copyUnits", &i),
        "literal on the left"
    );
    assert!(
        !m("SELECT * FROM DS_IISet WHERE state = 5", &i),
        "incomparable types are unknown"
    );
}

#[test]
fn nulls_use_three_valued_logic() {
    let i = set();
    assert!(m("SELECT * FROM DS_IISet WHERE groupName IS NULL", &i));
    assert!(m("SELECT * FROM DS_IISet WHERE missing IS NULL", &i));
    assert!(m("SELECT * FROM DS_IISet WHERE state IS NOT NULL", &i));
    assert!(!m("SELECT * FROM DS_IISet WHERE groupName = 'g'", &i));
    assert!(
        !m("SELECT * FROM DS_IISet WHERE NOT groupName = 'g'", &i),
        "NOT unknown is unknown"
    );
    assert!(m(
        "SELECT * FROM DS_IISet WHERE groupName = 'g' OR enabled",
        &i
    ));
    assert!(!m("SELECT * FROM DS_IISet WHERE groupName = NULL", &i));
}

#[test]
fn like_patterns() {
    assert!(like("/v/shadow1", "/v/%"));
    assert!(like("/v/shadow1", "%shadow_"));
    assert!(!like("/v/shadow1", "%shadow"));
    assert!(like("", "%"));
    assert!(like("a%b", "a\\%b"));
    assert!(!like("axb", "a\\%b"));
    assert!(like("abcabc", "%b%c"));
    let i = set();
    assert!(m(
        "SELECT * FROM DS_IISet WHERE shadowVolume LIKE '/v/%'",
        &i
    ));
    assert!(m(
        "SELECT * FROM DS_IISet WHERE shadowVolume NOT LIKE '/w/%'",
        &i
    ));
}

#[test]
fn isa_and_embedded_instances() {
    let ind = creation(set());
    assert!(m(
        "SELECT * FROM CIM_InstCreation WHERE SourceInstance ISA DS_IISet",
        &ind
    ));
    assert!(m(
        "SELECT * FROM CIM_InstCreation WHERE SourceInstance ISA CIM_ManagedElement",
        &ind
    ));
    assert!(!m(
        "SELECT * FROM CIM_InstCreation WHERE SourceInstance ISA DS_IIGroup",
        &ind
    ));
    assert!(m(
        "SELECT * FROM CIM_InstCreation WHERE SourceInstance.state = 'copying'",
        &ind
    ));
    assert!(m("SELECT * FROM CIM_InstCreation WHERE SourceInstance ISA DS_IISet AND SourceInstance.copyUnits = 100", &ind));
    let empty = Instance::new("CIM_InstCreation");
    assert!(!m(
        "SELECT * FROM CIM_InstCreation WHERE SourceInstance ISA DS_IISet",
        &empty
    ));
}

#[test]
fn projection_and_languages() {
    let q = Query::parse("SELECT state, copyUnits FROM DS_IISet").unwrap();
    let mut i = set();
    q.project(&mut i);
    assert_eq!(i.properties.len(), 2);
    assert!(check_language("wql").is_ok());
    assert_eq!(
        check_language("DMTF:CQL").unwrap_err().status,
        cim::StatusCode::QueryLanguageNotSupported
    );
}
