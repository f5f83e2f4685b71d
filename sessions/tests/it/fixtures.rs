//! Every fixture under `sessions/fixtures/`: the good ones parse and
//! validate with `xmllint --noout --schema`; each bad one fails our parser
//! with exactly the messages of its `.expected` file, and fails `xmllint`
//! too unless that file's first line says `xsd: accepts` (a rule only the
//! parser applies).

use std::path::{Path, PathBuf};
use std::process::Command;

fn dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(sub)
}

fn schema() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/copy-session-1.xsd")
}

fn xml_files(sub: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir(sub))
        .expect("fixtures folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    v.sort();
    v
}

/// Whether `xmllint --schema` accepts the file (libxml2-utils; scripts/test.sh installs it).
fn xmllint_accepts(file: &Path) -> bool {
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--nonet")
        .arg("--schema")
        .arg(schema())
        .arg(file)
        .output()
        .expect("xmllint (Debian package libxml2-utils) must be installed");
    out.status.success()
}

#[test]
fn schema_is_a_valid_xsd() {
    let out = Command::new("xmllint")
        .args(["--noout", "--nonet"])
        .arg(schema())
        .output()
        .expect("xmllint (Debian package libxml2-utils) must be installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn good_fixtures_parse_and_validate_with_xmllint() {
    let files = xml_files("good");
    assert!(files.len() >= 3, "{files:?}");
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read");
        if let Err(e) = sessions::parse(&text) {
            panic!("{}: {e}", f.display());
        }
        assert!(xmllint_accepts(&f), "xmllint rejects {}", f.display());
    }
}

#[test]
fn bad_fixtures_give_their_expected_messages() {
    let files = xml_files("bad");
    assert!(files.len() >= 30, "{} bad fixtures", files.len());
    let mut semantic_only = Vec::new();
    for f in files {
        let expected_file = f.with_extension("expected");
        let expected = std::fs::read_to_string(&expected_file)
            .unwrap_or_else(|e| panic!("{}: {e}", expected_file.display()));
        let mut lines = expected.lines();
        let xsd = lines.next().unwrap_or_default();
        let want: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();
        let bytes = std::fs::read(&f).expect("read");
        let got: Vec<String> = match sessions::parse_bytes(&bytes) {
            Ok(_) => panic!("{} parses, but must not", f.display()),
            Err(e) => e.diagnostics().iter().map(ToString::to_string).collect(),
        };
        assert_eq!(got, want, "{}", f.display());
        match xsd {
            "xsd: rejects" => assert!(!xmllint_accepts(&f), "xmllint accepts {}", f.display()),
            "xsd: accepts" => {
                assert!(
                    xmllint_accepts(&f),
                    "xmllint rejects {} (mark it xsd: rejects)",
                    f.display()
                );
                semantic_only.push(f);
            }
            other => panic!(
                "{}: first line {other:?} is not `xsd: rejects` or `xsd: accepts`",
                expected_file.display()
            ),
        }
    }
    // The schema carries most rules; the parser-only ones are the minority.
    assert!(!semantic_only.is_empty());
}

#[test]
fn canonical_forms_validate_with_xmllint() {
    let dir = std::env::temp_dir().join(format!("sessions-canonical-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for f in xml_files("good") {
        let s = sessions::parse(&std::fs::read_to_string(&f).expect("read")).expect("parses");
        let out = dir.join(f.file_name().expect("name"));
        std::fs::write(&out, sessions::to_xml(&s)).expect("write");
        assert!(
            xmllint_accepts(&out),
            "xmllint rejects the canonical form of {}",
            f.display()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
