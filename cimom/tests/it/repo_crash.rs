//! Crash atomicity: a child process writes to the repository in a loop and
//! is killed with SIGKILL at a random moment; the reopened repository must
//! hold a consistent state (every write either fully there or fully absent).
//!
//! The child is this same test binary, re-run with `CIMOM_CRASH_CHILD_DIR`
//! set and filtered to `crash_child`.
use crate::core_support::{open, open_repo};
use cim::{CimType, Class, Instance, ObjectPath, Property, Qualifier, Value};
use cimom::repository::Repository;
use std::time::Duration;

const NS: &str = "crash";

fn node(n: u64) -> ObjectPath {
    ObjectPath::class(None, "T_Node").with_key("Id", Value::Uint64(n))
}

fn schema(repo: &Repository) {
    repo.create_namespace(NS).unwrap();
    if repo.get_class(NS, "T_Node").is_some() {
        return;
    }
    let mut k = Property::new("Id", CimType::Uint64, Value::Null);
    k.qualifiers.push(Qualifier::flag("Key"));
    let mut nodec = Class::new("T_Node", None);
    nodec.properties = vec![k, Property::new("Payload", CimType::String, Value::Null)];
    repo.create_class(NS, &nodec).unwrap();
    let mut link = Class::new("T_Link", None);
    for r in ["A", "B"] {
        let mut p = Property::new(r, CimType::Reference(Some("T_Node".into())), Value::Null);
        p.qualifiers.push(Qualifier::flag("Key"));
        link.properties.push(p);
    }
    link.qualifiers.push(Qualifier::flag("Association"));
    repo.create_class(NS, &link).unwrap();
}

fn link(a: u64, b: u64) -> Instance {
    let mut i = Instance::new("T_Link")
        .with("A", CimType::Reference(None), Value::Reference(node(a)))
        .with("B", CimType::Reference(None), Value::Reference(node(b)));
    i.path = Some(
        ObjectPath::class(None, "T_Link")
            .with_key("A", Value::Reference(node(a)))
            .with_key("B", Value::Reference(node(b))),
    );
    i
}

/// The child's write loop: node n, then link (n-1 -> n), then re-point every
/// third link; each step one transaction. Runs until killed.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var("CIMOM_CRASH_CHILD_DIR") else {
        return;
    };
    let repo = open_repo(std::path::Path::new(&dir));
    schema(&repo);
    let start = repo.instances_of(NS, "T_Node").unwrap().len() as u64;
    for n in start.. {
        let mut i = Instance::new("T_Node")
            .with("Id", CimType::Uint64, Value::Uint64(n))
            .with(
                "Payload",
                CimType::String,
                Value::String("x".repeat((n % 7) as usize * 300)),
            );
        i.path = Some(node(n));
        repo.create_instance(NS, &i).unwrap();
        if n > 0 {
            repo.create_instance(NS, &link(n - 1, n)).unwrap();
        }
        if n % 3 == 2 {
            // Replace link (n-2 -> n-1) by (0 -> n-1): delete + create.
            let old = link(n - 2, n - 1);
            // Absent when an earlier run was killed before creating it.
            let _ = repo.delete_instance(NS, old.path.as_ref().unwrap());
            repo.create_instance(NS, &link(0, n - 1)).unwrap();
        }
    }
}

fn check(repo: &Repository) -> u64 {
    let nodes = repo.instances_of(NS, "T_Node").unwrap();
    let n = nodes.len() as u64;
    // Nodes are a gap-free prefix 0..n.
    let mut ids: Vec<u64> = nodes
        .iter()
        .map(|i| i.get("Id").unwrap().as_u64().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, (0..n).collect::<Vec<_>>());
    // Every link's ends exist, and the reference index agrees with the links both ways.
    let links = repo.instances_of(NS, "T_Link").unwrap();
    for l in &links {
        for end in ["A", "B"] {
            let target = l.get(end).unwrap().as_reference().unwrap();
            assert!(
                repo.get_instance(NS, target).unwrap().is_some(),
                "dangling {end} in {:?}",
                l.path
            );
            let via_index = repo.referencing(NS, target).unwrap();
            assert!(
                via_index.iter().any(|x| x.path == l.path),
                "index misses {:?}",
                l.path
            );
        }
    }
    for id in 0..n {
        for l in repo.referencing(NS, &node(id)).unwrap() {
            assert!(
                links.iter().any(|x| x.path == l.path),
                "index row for a deleted link"
            );
        }
    }
    // Never more links than steps that create them.
    assert!(
        links.len() as u64 <= n.saturating_sub(1),
        "{} links for {n} nodes",
        links.len()
    );
    n
}

#[test]
fn killed_writer_leaves_a_consistent_repository() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut last = 0;
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..4 {
        let mut child = std::process::Command::new(&exe)
            .args([
                "--exact",
                "repo_crash::crash_child",
                "--test-threads=1",
                "--nocapture",
            ])
            .env("CIMOM_CRASH_CHILD_DIR", dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(300 + rng % 400));
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        let repo = open_repo(dir.path());
        let n = check(&repo);
        assert!(
            n >= last,
            "round {round}: lost committed nodes ({n} < {last})"
        );
        last = n;
    }
    assert!(last > 3, "the child made progress ({last} nodes)");
}

const BATCH: usize = 200;

/// The child of the load test: `load_mof` batches of `BATCH` instances until killed.
#[test]
fn crash_load_child() {
    let Ok(dir) = std::env::var("CIMOM_CRASH_LOAD_DIR") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let c = open(&dir);
    let ns = "root/load";
    for round in 0.. {
        let mut mof = String::from("class L_Item { [Key] uint64 Id; string Text; };\n");
        for i in 0..BATCH {
            mof.push_str(&format!(
                "instance of L_Item {{ Id = {}; Text = \"{}\"; }};\n",
                std::process::id() as usize * 1_000_000 + round * BATCH + i,
                "y".repeat(200)
            ));
        }
        let f = dir.join(format!("load{round}.mof"));
        std::fs::write(&f, mof).unwrap();
        c.load_mof(ns, &[f]).unwrap();
    }
}

#[test]
fn killed_mof_load_is_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut last = 0;
    for (round, wait) in [800u64, 1500, 1100].into_iter().enumerate() {
        let mut child = std::process::Command::new(&exe)
            .args([
                "--exact",
                "repo_crash::crash_load_child",
                "--test-threads=1",
            ])
            .env("CIMOM_CRASH_LOAD_DIR", dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(wait));
        child.kill().unwrap();
        child.wait().unwrap();
        let repo = open_repo(dir.path());
        let n = match repo.resolve_namespace("root/load") {
            Ok(ns) => repo.instances_of(&ns, "L_Item").unwrap().len(),
            Err(_) => 0,
        };
        assert_eq!(
            n % BATCH,
            0,
            "round {round}: a partial load of {} instances survived",
            n % BATCH
        );
        assert!(n >= last, "round {round}: a durable load was lost");
        last = n;
        // The bundled MOF is complete too (loaded again if it was cut short).
        drop(repo);
        let c = open(dir.path());
        assert!(c
            .repository()
            .get_class("interop", "CIM_IndicationSubscription")
            .is_some());
    }
    eprintln!("instances after the killed loads: {last}");
    assert!(last > 0, "no load completed; the child made no progress");
}
