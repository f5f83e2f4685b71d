//! Criterion benchmark: the whole DMTF CIM Schema 2.41.0 parsed, resolved and
//! checked (`compile_files`), and printed back as MOF.
//!
//! Corpus: `MOF_CORPUS` or `<workspace>/../shared/corpus`.
//! Run: `cargo bench -p mof --bench schema`.

use criterion::{criterion_group, criterion_main, Criterion};
use mof::{compile_files, Options};
use std::path::PathBuf;
use std::time::Duration;

fn schema_file() -> PathBuf {
    let dir = std::env::var_os("MOF_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"));
    let f = dir.join("cim-schema/2.41.0/CIM_Schema.mof");
    assert!(
        f.is_file(),
        "MOF corpus not found at {} (set MOF_CORPUS)",
        f.display()
    );
    f
}

fn bench(c: &mut Criterion) {
    let file = schema_file();
    let opts = Options::default();
    let mut g = c.benchmark_group("cim_schema_2_41");
    g.sample_size(20).measurement_time(Duration::from_secs(10));
    // The model is freed outside the timed region: the goal is parse + resolve + check.
    g.bench_function("compile", |b| {
        b.iter_with_large_drop(|| {
            let out = compile_files(std::slice::from_ref(&file), &opts).expect("schema compiles");
            assert_eq!(out.classes.len(), 1438);
            out
        })
    });
    let compiled = compile_files(std::slice::from_ref(&file), &opts).expect("schema compiles");
    g.bench_function("print_mof", |b| b.iter(|| mof::print::to_mof(&compiled)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
