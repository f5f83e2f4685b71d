//! Side-by-side comparison with pywbem's MOF compiler on the whole CIM Schema.
//!
//! Run: `cargo bench -p mof --bench vs_pywbem`. The Python interpreter comes
//! from `PYWBEM_PYTHON` (default `<workspace>/.venv/bin/python`; install with
//! `python3 -m venv .venv && .venv/bin/pip install pywbem`). Both sides are
//! timed in-process (pywbem excluding interpreter start-up and import); the
//! best of `MOF_BENCH_RUNS` runs (default 5) is taken for ours, one run for
//! pywbem. Prints both times, the ratio and both peak RSS figures.

use mof::{compile_files, Options};
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

const PYWBEM_SCRIPT: &str = r#"
import os, sys, time, resource
import pywbem
path = sys.argv[1]
conn = pywbem.MOFWBEMConnection()
comp = pywbem.MOFCompiler(handle=conn, search_paths=[os.path.dirname(path)], verbose=False,
                          log_func=lambda msg: None)
t = time.perf_counter()
comp.compile_file(path, 'root/cimv2')
dt = time.perf_counter() - t
classes = conn.classes.get('root/cimv2', {})
print(f"{dt:.6f} {len(classes)} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}")
"#;

fn peak_rss_kb() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let corpus = std::env::var_os("MOF_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/corpus"));
    let file = corpus.join("cim-schema/2.41.0/CIM_Schema.mof");
    if !file.is_file() {
        eprintln!(
            "MOF corpus not found at {} (set MOF_CORPUS)",
            file.display()
        );
        std::process::exit(1);
    }
    let runs: usize = std::env::var("MOF_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let opts = Options::default();
    let mut best = f64::MAX;
    let mut classes = 0;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        let out = compile_files(std::slice::from_ref(&file), &opts).expect("schema compiles");
        best = best.min(t.elapsed().as_secs_f64());
        classes = out.classes.len();
    }
    let ours_rss = peak_rss_kb().unwrap_or(0);
    println!(
        "mof (Rust):  {best:.3} s best of {runs}, {classes} classes, peak RSS {} MB",
        ours_rss / 1024
    );

    let python = std::env::var_os("PYWBEM_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv/bin/python"));
    let out = Command::new(&python)
        .arg("-c")
        .arg(PYWBEM_SCRIPT)
        .arg(&file)
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            let mut f = text.split_whitespace();
            let secs: f64 = f.next().and_then(|s| s.parse().ok()).unwrap_or(f64::NAN);
            let n: usize = f.next().and_then(|s| s.parse().ok()).unwrap_or(0);
            let rss: u64 = f.next().and_then(|s| s.parse().ok()).unwrap_or(0);
            println!(
                "pywbem:      {secs:.3} s, {n} classes, peak RSS {} MB",
                rss / 1024
            );
            println!("ratio:       mof is {:.0}x faster than pywbem", secs / best);
        }
        Ok(o) => {
            eprintln!(
                "pywbem run failed ({}): {}",
                python.display(),
                String::from_utf8_lossy(&o.stderr)
            );
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("cannot run {} (set PYWBEM_PYTHON): {e}", python.display());
            std::process::exit(1);
        }
    }
}
