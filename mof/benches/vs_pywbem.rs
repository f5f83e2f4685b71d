//! Side-by-side comparison with pywbem's MOF compiler on the whole CIM Schema.
//!
//! Run: `cargo bench -p mof --bench vs_pywbem`. The Python interpreter comes
//! from `PYWBEM_PYTHON` (default `<workspace>/.venv/bin/python`; install with
//! `python3 -m venv .venv && .venv/bin/pip install pywbem`). Both sides are
//! timed in-process (pywbem excluding interpreter start-up and import); the
//! best of `MOF_BENCH_RUNS` runs (default 5) is taken for ours, one run for
//! each pywbem mode. Prints times, ratios and peak RSS figures.
//!
//! pywbem modes: `mock` compiles into `pywbem_mock.FakedWBEMConnection`'s
//! repository (what `pywbemcli --mock-server` and pywbem's own tests do, and the
//! closest analogue of compiling into a repository); `bare` is the compiler
//! with its plain `MOFWBEMConnection` store. `PYWBEM_MODES=mock` or `=bare`
//! runs only one.

use mof::{compile_files, Options};
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

const PYWBEM_BARE: &str = r#"
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

const PYWBEM_MOCK: &str = r#"
import os, sys, time, resource
import pywbem_mock
path = sys.argv[1]
conn = pywbem_mock.FakedWBEMConnection(default_namespace='root/cimv2')
t = time.perf_counter()
conn.compile_mof_file(path, namespace='root/cimv2', search_paths=[os.path.dirname(path)], verbose=False)
dt = time.perf_counter() - t
n = conn.cimrepository.get_class_store('root/cimv2').len()
print(f"{dt:.6f} {n} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}")
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
        "mof (Rust): {best:.3} s best of {runs}, {classes} classes, peak RSS {} MB",
        ours_rss / 1024
    );

    let python = std::env::var_os("PYWBEM_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv/bin/python"));
    let modes = std::env::var("PYWBEM_MODES").unwrap_or_default();
    let mut failed = false;
    for (mode, label, script) in [
        ("mock", "pywbem_mock (FakedWBEMConnection)", PYWBEM_MOCK),
        ("bare", "pywbem (MOFWBEMConnection)", PYWBEM_BARE),
    ] {
        if !modes.is_empty() && modes != mode {
            continue;
        }
        match Command::new(&python)
            .arg("-c")
            .arg(script)
            .arg(&file)
            .output()
        {
            Ok(o) if o.status.success() => {
                let text = String::from_utf8_lossy(&o.stdout);
                let mut f = text.split_whitespace();
                let secs: f64 = f.next().and_then(|s| s.parse().ok()).unwrap_or(f64::NAN);
                let n: usize = f.next().and_then(|s| s.parse().ok()).unwrap_or(0);
                let rss: u64 = f.next().and_then(|s| s.parse().ok()).unwrap_or(0);
                println!(
                    "{label}: {secs:.3} s, {n} classes, peak RSS {} MB",
                    rss / 1024
                );
                println!("  ratio: mof is {:.0}x faster", secs / best);
            }
            Ok(o) => {
                eprintln!(
                    "{label} failed ({}): {}",
                    python.display(),
                    String::from_utf8_lossy(&o.stderr)
                );
                failed = true;
            }
            Err(e) => {
                eprintln!("cannot run {} (set PYWBEM_PYTHON): {e}", python.display());
                failed = true;
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}
