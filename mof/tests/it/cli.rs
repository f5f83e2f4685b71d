//! The `mofc` binary: exit codes, diagnostics on stderr, dumps on stdout.

use crate::common;
use std::process::Command;

fn mofc(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mofc"))
        .args(args)
        .output()
        .expect("run mofc");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_dump_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.mof");
    std::fs::write(&good, format!("{}[Description(\"d\")] class A {{ [Key] string Id; }};\ninstance of A {{ Id = \"1\"; }};\n#pragma odd(\"x\")\n", common::PRELUDE)).unwrap();
    let g = good.to_str().unwrap();

    let (code, out, err) = mofc(&["check", g]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 classes"), "{out}");
    assert!(err.contains("warning: unknown pragma \"odd\""), "{err}");

    let (code, out, _) = mofc(&["dump", "--format", "mof", g]);
    assert_eq!(code, 0);
    assert!(out.contains("class A {"), "{out}");
    let printed = dir.path().join("printed.mof");
    std::fs::write(&printed, &out).unwrap();
    let (code, _, err) = mofc(&["check", "-q", printed.to_str().unwrap()]);
    assert_eq!(code, 0, "printed MOF recompiles: {err}");

    let (code, out, _) = mofc(&["dump", "--format", "xml", g]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("<?xml") && out.contains("<CLASS NAME=\"A\""),
        "{out}"
    );

    let bad = dir.path().join("bad.mof");
    std::fs::write(
        &bad,
        "class A {\n  [Nope] string X;\n};\nclass B : Gone { };\n",
    )
    .unwrap();
    let (code, _, err) = mofc(&["check", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("bad.mof:2:4"), "{err}");
    assert!(err.contains("  [Nope] string X;"), "{err}");
    assert!(err.contains("bad.mof:4:11"), "{err}");
    assert!(err.contains("2 error(s)"), "{err}");

    let (code, _, _) = mofc(&["frobnicate"]);
    assert_eq!(code, 2, "bad usage");
    let (code, _, err) = mofc(&["check", "/nonexistent/x.mof"]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot read /nonexistent/x.mof"), "{err}");
}
