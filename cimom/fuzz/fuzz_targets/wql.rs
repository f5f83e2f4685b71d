//! Fuzz target: any bytes, read as (lossy) UTF-8, parsed as a WQL query (as
//! ExecQuery, OpenQueryInstances and indication filters do) and as a bare
//! `DMTF:FQL` condition (as a pull `FilterQuery` is); whatever parses is
//! evaluated against an instance holding every kind of value and projected.
//! The parser and evaluator must return errors, never panic, overflow or hang.
#![no_main]

use cim::{CimType, Instance, ObjectPath, Value};
use libfuzzer_sys::fuzz_target;
use wql::{check_language, like, Query};

/// The object manager's WQL module, compiled on its own (see Cargo.toml).
#[path = "../../src/wql/mod.rs"]
#[allow(dead_code)]
mod wql;

fn sample() -> Instance {
    let inner = Instance::new("CIM_InstCreation").with(
        "IndicationIdentifier",
        CimType::String,
        Value::String("id".into()),
    );
    Instance::new("DS_IISet")
        .with("Name", CimType::String, Value::String("vol/a%b_c".into()))
        .with("Count", CimType::Uint32, Value::Uint32(7))
        .with("Delta", CimType::Sint64, Value::Sint64(-3))
        .with("Ratio", CimType::Real64, Value::Real64(0.5))
        .with("Enabled", CimType::Boolean, Value::Boolean(true))
        .with("Missing", CimType::String, Value::Null)
        .with(
            "Tags",
            CimType::String,
            Value::Array(vec![Value::String("x".into()), Value::String("y".into())]),
        )
        .with(
            "Master",
            CimType::Reference(None),
            Value::Reference(ObjectPath::class(Some("root/cimv2"), "DS_Volume")),
        )
        .with(
            "SourceInstance",
            CimType::EmbeddedInstance,
            Value::Instance(Box::new(inner)),
        )
}

fn isa(sub: &str, sup: &str) -> bool {
    sub.eq_ignore_ascii_case(sup)
        || (sub.eq_ignore_ascii_case("DS_IISet") && sup.eq_ignore_ascii_case("CIM_ManagedElement"))
}

fn exercise(q: &Query, inst: &Instance) {
    let _ = q.from_class();
    let _ = q.matches(inst, &isa);
    let mut projected = inst.clone();
    q.project(&mut projected);
}

fuzz_target!(|data: &[u8]| {
    static SAMPLE: std::sync::OnceLock<Instance> = std::sync::OnceLock::new();
    let inst = SAMPLE.get_or_init(sample);
    let text = String::from_utf8_lossy(data);
    if let Ok(q) = Query::parse(&text) {
        exercise(&q, inst);
    }
    // A pull FilterQuery in DMTF:FQL is a bare condition, wrapped like this.
    if let Ok(q) = Query::parse(&format!("SELECT * FROM FQL_AnyClass WHERE {text}")) {
        exercise(&q, inst);
    }
    let _ = check_language(&text);
    // LIKE on its own: the first line is the text, the rest the pattern.
    if let Some((t, p)) = text.split_once('\n') {
        let _ = like(t, p);
    }
});
