//! Error reporting: every error kind the issue lists has a test checking the
//! cause, the line and column, the excerpt and the caret; independent errors
//! are all reported.

use crate::common::*;
use mof::{compile_str_lossy, Error, Options, Severity};

/// The single error `text` produces, checked to be on the line of `needle`
/// and, when `col` is given, at that column.
fn check_one(text: &str, needle: &str, col: Option<u32>) -> Error {
    let d = errors(text);
    let (e, line, c) = only_error(&d);
    assert_eq!(line, line_of(text, needle), "{d}");
    if let Some(col) = col {
        assert_eq!(c, col, "{d}");
    }
    e.clone()
}

/// The errors `text` produces, checked to be as many as `fragments` and, in
/// order, each to mention its fragment.
fn check_messages(text: &str, fragments: &[&str]) {
    let d = errors(text);
    let messages: Vec<String> = d.errors().map(|e| e.error.to_string()).collect();
    assert_eq!(messages.len(), fragments.len(), "{d}");
    for (m, f) in messages.iter().zip(fragments) {
        assert!(m.contains(f), "{m:?} does not mention {f:?}:\n{d}");
    }
}

#[test]
fn unknown_qualifier() {
    let text = "class A {\n   [Kee] string Name;\n};";
    let d = errors(text);
    let (e, line, col) = only_error(&d);
    assert_eq!(*e, Error::UnknownQualifier("Kee".into()));
    assert_eq!(line, line_of(text, "[Kee]"));
    assert_eq!(col, 5);
    let shown = d.to_string();
    assert!(shown.contains("test.mof:"), "{shown}");
    assert!(shown.contains("   [Kee] string Name;\n"), "{shown}");
    assert!(shown.contains("|     ^"), "caret under Kee: {shown}");
    assert!(shown.contains("unknown qualifier \"Kee\""), "{shown}");
}

#[test]
fn undefined_superclass() {
    let e = check_one("class B : Missing {\n};", "class B", Some(11));
    assert_eq!(
        e,
        Error::UndefinedSuperclass {
            class: "B".into(),
            superclass: "Missing".into()
        }
    );
}

#[test]
fn duplicate_property() {
    let text = "class A {\n  string Name;\n  uint32 name;\n};";
    let e = check_one(text, "uint32 name", Some(10));
    assert_eq!(e, Error::DuplicateProperty("name".into()));
}

#[test]
fn reference_in_non_association() {
    let text = "class A { };\nclass B {\n  A REF Target;\n};";
    let e = check_one(text, "A REF Target", None);
    assert!(
        matches!(&e, Error::ReferenceInNonAssociation { class, property } if class == "B" && property == "Target")
    );
}

#[test]
fn bad_literal() {
    let text = "class A {\n  uint8 Small = 300;\n  uint32 Oct = 09;\n};";
    let d = errors(text);
    let errs: Vec<_> = d.errors().collect();
    assert_eq!(errs.len(), 2, "{d}");
    assert!(
        matches!(&errs[0].error, Error::BadLiteral(m) if m.contains("300 is out of range for uint8")),
        "{d}"
    );
    assert_eq!(errs[0].location.as_ref().unwrap().column, 17);
    assert!(
        matches!(&errs[1].error, Error::BadLiteral(m) if m.contains("octal")),
        "{d}"
    );
}

#[test]
fn unterminated_string() {
    let text = "class A {\n  [Description(\"no end)]\n  string Name;\n};";
    let d = errors(text);
    let first = d.errors().next().unwrap();
    assert_eq!(first.error, Error::UnterminatedString);
    let loc = first.location.as_ref().unwrap();
    assert_eq!((loc.line, loc.column), (line_of(text, "[Description"), 16));
}

#[test]
fn syntax_error_names_what_was_expected() {
    let e = check_one("class A {\n  string ;\n};", "string ;", Some(10));
    assert!(
        matches!(&e, Error::Syntax(m) if m.contains("expected") && m.contains("found ';'")),
        "{e}"
    );
}

#[test]
fn every_independent_error_is_reported() {
    // A syntax error, then three semantic errors in later declarations.
    let text = "class Broken {\n  string = ;\n};\n\
                class A { [Nope] string X; };\n\
                class B : Nowhere { };\n\
                class C { string Y; string Y; };\n\
                class D { };\n";
    let (out, d) = compile_str_lossy("t.mof", &format!("{PRELUDE}{text}"), &Options::default());
    let kinds: Vec<&Error> = d.errors().map(|e| &e.error).collect();
    assert_eq!(kinds.len(), 4, "{d}");
    assert!(matches!(kinds[0], Error::Syntax(_)));
    assert!(matches!(kinds[1], Error::UnknownQualifier(_)));
    assert!(matches!(kinds[2], Error::UndefinedSuperclass { .. }));
    assert!(matches!(kinds[3], Error::DuplicateProperty(_)));
    // The good class still compiles (lossy mode delivers it).
    assert!(out.class("D").is_some());
}

#[test]
fn scope_and_type_of_qualifiers_are_checked() {
    let d = errors("class A { [In] string X; [MaxLen(\"ten\")] string Y; };");
    let kinds: Vec<&Error> = d.errors().map(|e| &e.error).collect();
    assert!(
        matches!(kinds[0], Error::QualifierScope { name, element: "property" } if name == "In"),
        "{d}"
    );
    assert!(
        matches!(kinds[1], Error::TypeMismatch(m) if m.contains("MaxLen")),
        "{d}"
    );
}

#[test]
fn disable_override_qualifier_cannot_change() {
    let d = errors(
        "[Association] class L { A REF x; A REF y; };\nclass A { };\n[Association(false)] class L2 : L { };",
    );
    assert!(
        d.errors()
            .any(|e| e.error == Error::QualifierOverride("Association".into())),
        "{d}"
    );
}

#[test]
fn override_must_name_an_inherited_feature() {
    let d = errors("class A { string X; };\nclass B : A { [Override(\"Y\")] string Y; };");
    assert!(
        d.errors()
            .any(|e| matches!(&e.error, Error::BadOverride(m) if m.contains("no property Y"))),
        "{d}"
    );
}

#[test]
fn association_needs_two_references_and_key_arrays_are_refused() {
    let d = errors("class A { };\n[Association] class L { A REF Only; };");
    assert!(
        d.errors()
            .any(|e| matches!(&e.error, Error::Association(_))),
        "{d}"
    );
    let d = errors("class K { [Key] string Names[]; };");
    assert!(d.errors().any(|e| matches!(&e.error, Error::Key(_))), "{d}");
}

#[test]
fn undefined_reference_class_is_found_at_the_end() {
    let text = "[Association] class L { Later REF a; Never REF b; };\nclass Later { };";
    let e = check_one(text, "Never REF", None);
    assert_eq!(e, Error::UndefinedClass("Never".into()));
}

#[test]
fn instance_errors() {
    check_messages(
        "class A { [Key] string Name; uint8 N; };\ninstance of A { Name = \"x\"; Bogus = 1; N = \"s\"; };\ninstance of Nope { };",
        &["has no property Bogus", "type mismatch", "undefined class \"Nope\""],
    );
}

#[test]
fn duplicate_class_and_conflicting_qualifier_declaration() {
    let d = errors(
        "class A { };\nclass a { string X; };\nclass A { };\nQualifier Key : string, Scope(class);",
    );
    let kinds: Vec<&Error> = d.errors().map(|e| &e.error).collect();
    assert_eq!(
        kinds,
        [
            &Error::DuplicateClass("a".into()),
            &Error::DuplicateQualifierDecl("Key".into())
        ]
    );
}

#[test]
fn unknown_pragma_is_a_warning_and_missing_include_an_error() {
    let (out, d) = compile_str_lossy(
        "t.mof",
        "#pragma frobnicate(\"x\")\n#pragma include(\"nope.mof\")\n",
        &Options::default(),
    );
    assert!(out.classes.is_empty());
    let w: Vec<_> = d.warnings().collect();
    assert_eq!(w.len(), 1);
    assert!(matches!(&w[0].error, Error::Pragma(m) if m.contains("frobnicate")));
    let e: Vec<_> = d.errors().collect();
    assert_eq!(e.len(), 1);
    assert!(matches!(&e[0].error, Error::Include { path, .. } if path == "nope.mof"));
    assert_eq!(e[0].severity, Severity::Error);
}

#[test]
fn bad_escape_and_char16() {
    check_messages(
        "class A { string S = \"a\\qb\"; char16 C = 'ab'; };",
        &["unknown escape", "char16"],
    );
}

#[test]
fn error_limit_stops_compilation() {
    let text: String = (0..50)
        .map(|i| format!("class C{i} : Missing {{ }};\n"))
        .collect();
    let opts = Options {
        max_errors: 10,
        ..Options::default()
    };
    let (_, d) = compile_str_lossy("t.mof", &text, &opts);
    assert!(d.errors().count() <= 12, "{}", d.errors().count());
    assert!(d.errors().any(|e| matches!(e.error, Error::Limit(_))));
}

#[test]
fn instances_need_keys_and_a_concrete_class() {
    check_messages(
        "[Abstract] class A { [Key] string Id; };\nclass B { [Key] string Id; string Other; };\ninstance of A { Id = \"x\"; };\ninstance of B { Other = \"y\"; };\ninstance of B { Id = NULL; };",
        &[
            "abstract",
            "no value for key property Id",
            "no value for key property Id",
        ],
    );
}

#[test]
fn subclasses_cannot_add_keys() {
    let text = "class A { [Key] string Id; string Other; };\nclass B : A { [Key] string More; };\nclass C : A { [Key, Override(\"Other\")] string Other; };\nclass D : A { [Key, Override(\"Id\")] string Id; };";
    let d = errors(text);
    let errs: Vec<_> = d.errors().collect();
    assert_eq!(errs.len(), 2, "{d}");
    assert!(
        matches!(&errs[0].error, Error::Key(m) if m.contains("class B cannot add key property More")),
        "{d}"
    );
    assert_eq!(
        errs[0].location.as_ref().unwrap().line,
        line_of(text, "class B")
    );
    assert!(
        matches!(&errs[1].error, Error::Key(m) if m.contains("Other")),
        "{d}"
    );
    // Keyless chains may introduce keys anywhere.
    ok("class K0 { string X; };\nclass K1 : K0 { [Key] string Id; };");
}

#[test]
fn an_alias_defined_twice_names_both_places() {
    let text = "class A { [Key] string Id; };\ninstance of A as $X { Id = \"1\"; };\n  instance of A as $x { Id = \"2\"; };\ninstance of A as $Y { Id = \"3\"; };";
    let d = errors(text);
    let (e, line, col) = only_error(&d);
    let (l1, l2) = (line_of(text, "as $X"), line_of(text, "as $x"));
    assert_eq!((line, col), (l2, 20));
    let Error::Instance(msg) = e else {
        panic!("{e:?}")
    };
    assert!(
        msg.contains(&format!("first at test.mof:{l1}:18"))
            && msg.contains(&format!("again at test.mof:{l2}:20")),
        "{msg}"
    );
    // Across files of one compilation as well.
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.mof"), dir.path().join("b.mof"));
    let text_a = format!(
        "{PRELUDE}class A {{ [Key] string Id; }};\ninstance of A as $X {{ Id = \"1\"; }};\n"
    );
    std::fs::write(&a, &text_a).unwrap();
    let line_a = text_a[..text_a.find("as $X").unwrap()]
        .matches('\n')
        .count()
        + 1;
    std::fs::write(&b, "\ninstance of A as $X { Id = \"2\"; };\n").unwrap();
    let d = mof::compile_files(&[&a, &b], &Options::default()).unwrap_err();
    let shown = d.to_string();
    let first = format!("first at {}:{line_a}:18", a.display());
    let again = format!("again at {}:2:18", b.display());
    assert!(shown.contains(&first) && shown.contains(&again), "{shown}");
}
