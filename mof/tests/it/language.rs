//! The MOF language as compiled: literals, quirks, qualifiers and flavors,
//! inheritance, instances and aliases, the sink and resolver hooks.

use crate::common::*;
use cim::{CimError, CimType, Class, DateTime, Instance, QualifierDecl, QualifierList, Value};
use mof::{compile_files, compile_str, Compiler, MofSink, Options, Resolver};
use std::sync::Arc;

fn default_of(c: &mof::Compiled, class: &str, prop: &str) -> Value {
    c.class(class)
        .unwrap()
        .property(prop)
        .unwrap()
        .value
        .clone()
}

#[test]
fn integer_literals_in_every_form() {
    let c = ok("class N {\n\
        sint32 Dec = -42; uint32 Hex = 0x1F; sint32 NegHex = -0X10;\n\
        uint16 Oct = 017; sint16 NegOct = -017; uint8 Bin = 1010b; sint8 NegBin = -101B;\n\
        uint64 Big = 18446744073709551615; sint64 Min = -9223372036854775808; uint8 Zero = 0; sint32 Plus = +5;\n\
      };");
    let v = |p| default_of(&c, "N", p);
    assert_eq!(v("Dec"), Value::Sint32(-42));
    assert_eq!(v("Hex"), Value::Uint32(31));
    assert_eq!(v("NegHex"), Value::Sint32(-16));
    assert_eq!(v("Oct"), Value::Uint16(15));
    assert_eq!(v("NegOct"), Value::Sint16(-15));
    assert_eq!(v("Bin"), Value::Uint8(10));
    assert_eq!(v("NegBin"), Value::Sint8(-5));
    assert_eq!(v("Big"), Value::Uint64(u64::MAX));
    assert_eq!(v("Min"), Value::Sint64(i64::MIN));
    assert_eq!(v("Zero"), Value::Uint8(0));
    assert_eq!(v("Plus"), Value::Sint32(5));
}

#[test]
fn reals_booleans_null_chars_datetimes() {
    let c = ok("class R {\n\
        real64 A = -.5; real64 B = 6.02E+23; real32 C = 1.25; real64 D = 3;\n\
        boolean T = TRUE; boolean F = false; string Nul = NULL; char16 Ch = 'x'; char16 Esc = '\\n';\n\
        datetime When = \"20261122024930.123456+060\"; datetime Span = \"00000001020304.000005:000\";\n\
      };");
    let v = |p| default_of(&c, "R", p);
    assert_eq!(v("A"), Value::Real64(-0.5));
    assert_eq!(v("B"), Value::Real64(6.02e23));
    assert_eq!(v("C"), Value::Real32(1.25));
    assert_eq!(v("D"), Value::Real64(3.0));
    assert_eq!(v("T"), Value::Boolean(true));
    assert_eq!(v("F"), Value::Boolean(false));
    assert_eq!(v("Nul"), Value::Null);
    assert_eq!(v("Ch"), Value::Char16('x'));
    assert_eq!(v("Esc"), Value::Char16('\n'));
    assert_eq!(
        v("When"),
        Value::DateTime(DateTime::parse("20261122024930.123456+060").unwrap())
    );
    assert_eq!(
        v("Span"),
        Value::DateTime(DateTime::interval(1, 2, 3, 4, 5))
    );
}

#[test]
fn strings_concatenate_and_unescape() {
    let c = ok(r#"class S {
        string A = "one " "two" /* between */ " three";
        string B = "tab\there \"q\" back\\slash \x41\X263A \b\f\r\n\'";
        string C = "";
        string Arr[] = {"a", NULL, "c" "d"};
        uint8 Fixed[4] = {1, 2};
      };"#);
    let v = |p| default_of(&c, "S", p);
    assert_eq!(v("A"), Value::String("one two three".into()));
    assert_eq!(
        v("B"),
        Value::String("tab\there \"q\" back\\slash A\u{263A} \u{8}\u{c}\r\n'".into())
    );
    assert_eq!(v("C"), Value::String(String::new()));
    assert_eq!(
        v("Arr"),
        Value::Array(vec![
            Value::String("a".into()),
            Value::Null,
            Value::String("cd".into())
        ])
    );
    let fixed = c.class("S").unwrap().property("Fixed").unwrap();
    assert_eq!(fixed.array_size, Some(4));
    assert!(c
        .class("S")
        .unwrap()
        .property("Arr")
        .unwrap()
        .array_size
        .is_none());
}

#[test]
fn real_world_quirks() {
    // Case-insensitive keywords, comments inside array brackets, qualifier brace
    // arrays without parentheses, a trailing // comment without newline,
    // property names in another case than declared, keyword-named identifiers.
    let c = ok("[VERSION(\"1\"), description(\"x\")]\nCLASS Base {\n\
          [key, ValueMap{\"0\", \"1\"}, Values {\"Off\", \"On\"}] string Name;\n\
          uint8 Data[ /* sized later */ ];\n\
          string Class; string Instance; string Ref; uint32 Of;\n\
        };\n\
        [Association] class Link { base ref A; Base Ref B; };\n\
        Instance OF Base as $b { NAME = \"n\"; data = {1, 2}; CLASS = \"c\"; };\n\
        instance of Link { a = $B; b = \"//h/root/cimv2:Base.Name=\\\"n\\\"\"; };\n\
        // ends without newline");
    let base = c.class("Base").unwrap();
    assert_eq!(base.qualifiers.string("Version"), Some("1"));
    // Qualifier names take the declaration's spelling.
    assert_eq!(
        base.qualifiers.find("version").unwrap().name.as_str(),
        "Version"
    );
    let name = base.property("Name").unwrap();
    assert!(name.is_key());
    assert_eq!(
        name.qualifiers
            .find("Values")
            .unwrap()
            .value
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert!(base.property("Data").unwrap().is_array);
    for p in ["Class", "Instance", "Ref", "Of"] {
        assert!(base.property(p).is_some(), "{p}");
    }
    let link = c.class("Link").unwrap();
    assert_eq!(
        link.property("A").unwrap().ty,
        CimType::Reference(Some("Base".into()))
    );
    let inst = &c.instances[0];
    // The declared spelling wins.
    assert_eq!(inst.properties[0].name.as_str(), "Name");
    assert_eq!(
        inst.get("Data"),
        Some(&Value::Array(vec![Value::Uint8(1), Value::Uint8(2)]))
    );
    let path = inst.path.as_ref().unwrap();
    assert_eq!(path.key_str("Name"), Some("n"));
    // Alias reference and the same path written as a string are equal.
    let l = &c.instances[1];
    assert_eq!(l.get("A"), l.get("B"));
    assert_eq!(l.get("A").unwrap().as_reference().unwrap(), path);
}

#[test]
fn association_and_indication_keywords() {
    let c = ok("class E { };\nassociation L { E REF a; E REF b; };\nindication Ev { string Msg; };\n[Indication] class Ev2 { };\nclass Ev3 : Ev { };");
    assert!(c.class("L").unwrap().is_association());
    assert!(c.class("Ev").unwrap().is_indication());
    assert!(c.class("Ev2").unwrap().is_indication());
    assert!(
        c.class("Ev3").unwrap().is_indication(),
        "Indication propagates (ToSubclass)"
    );
}

#[test]
fn flavors_propagation_and_overrides() {
    let c = ok(
        "[Abstract, Version(\"1\"), Description(\"base\")]\nclass A {\n\
          [Key, Description(\"id\"), Units(\"Bytes\") : Restricted] string Id;\n\
          [Description(\"sz\")] uint64 Size = 7;\n\
          [Description(\"m\")] uint32 Go([In, Description(\"p\")] string Arg, [Out] string Res);\n\
        };\n\
        [Description(\"sub\")]\nclass B : A {\n\
          [Override(\"Size\"), Description(\"bigger\")] uint64 size = 9;\n\
          [Override(\"Go\")] uint32 Go([In] string Arg, [Out] string Res);\n\
          string Extra;\n\
        };",
    );
    let a = c.class("A").unwrap();
    let b = c.class("B").unwrap();
    // Restricted qualifiers (Abstract, Version, Units-made-Restricted) do not propagate.
    assert!(b.qualifiers.find("Abstract").is_none());
    assert!(b.qualifiers.find("Version").is_none());
    assert_eq!(b.qualifiers.string("Description"), Some("sub"));
    let id = b.property("Id").unwrap();
    assert!(id.propagated && id.is_key());
    assert_eq!(id.class_origin.as_ref().unwrap().as_str(), "A");
    assert!(id.qualifiers.find("Units").is_none());
    assert!(a.property("Id").unwrap().qualifiers.find("Units").is_some());
    let translatable = a
        .property("Id")
        .unwrap()
        .qualifiers
        .find("Description")
        .unwrap()
        .flavors;
    assert!(translatable.translatable && translatable.overridable && translatable.to_subclass);
    // The override takes the inherited place, is not propagated, origin = B.
    let names: Vec<&str> = b.properties.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["Id", "size", "Extra"]);
    let size = b.property("Size").unwrap();
    assert!(!size.propagated);
    assert_eq!(size.class_origin.as_ref().unwrap().as_str(), "B");
    assert_eq!(size.value, Value::Uint64(9));
    assert_eq!(size.qualifiers.string("Description"), Some("bigger"));
    assert!(size
        .qualifiers
        .find("Override")
        .is_some_and(|q| !q.propagated));
    // Overridden method: parameter qualifiers merge from the superclass.
    let go = b.method("Go").unwrap();
    assert!(!go.propagated);
    assert_eq!(go.qualifiers.string("Description"), Some("m"));
    let arg = &go.parameters[0];
    assert!(arg.is_in());
    assert!(arg
        .qualifiers
        .find("Description")
        .is_some_and(|q| q.propagated));
    assert!(go.parameters[1].is_out());
}

#[test]
fn qualifier_declarations_with_defaults_arrays_scopes_flavors() {
    let c = ok("");
    let w = c.qualifier("Weight").unwrap();
    assert_eq!(w.ty, CimType::Real32);
    assert_eq!(w.default, Value::Real32(1.5));
    let counts = c.qualifier("counts").unwrap();
    assert!(counts.is_array);
    assert_eq!(
        counts.default,
        Value::Array(vec![Value::Sint64(1), Value::Sint64(-2)])
    );
    let key = c.qualifier("Key").unwrap();
    assert!(key.scopes.property && key.scopes.reference && !key.scopes.class);
    assert!(!key.flavors.overridable && key.flavors.to_subclass);
    assert!(c.qualifier("Description").unwrap().scopes.is_any());
    // Qualifier values use the declared type: a missing value on a boolean is TRUE,
    // elsewhere it is the default.
    let c = ok("class Q { [Weight] real32 W; [Key(false)] string K; };");
    let q = c.class("Q").unwrap();
    assert_eq!(
        q.property("W")
            .unwrap()
            .qualifiers
            .find("Weight")
            .unwrap()
            .value,
        Value::Real32(1.5)
    );
    assert!(!q.property("K").unwrap().is_key());
}

#[test]
fn embedded_instances_as_values() {
    let c = ok("class Part { string Label; };\nclass Holder { [EmbeddedInstance(\"Part\")] string Item; string Items[]; };\n\
        instance of Holder { Item = instance of Part { Label = \"one\"; }; Items = { instance of Part { Label = \"a\"; }, instance of Part { Label = \"b\"; } }; };");
    let h = &c.instances[0];
    let Some(Value::Instance(p)) = h.get("Item") else {
        panic!("{:?}", h.get("Item"))
    };
    assert_eq!(p.get_str("Label"), Some("one"));
    assert!(matches!(h.get("Items"), Some(Value::Array(v)) if v.len() == 2));
}

#[test]
fn includes_resolve_against_the_including_file_with_backslashes() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("System");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(dir.path().join("quals.mof"), PRELUDE).unwrap();
    std::fs::write(
        sub.join("CIM_X.mof"),
        "#pragma include (\"../more/Y.mof\")\nclass X : Y { };",
    )
    .unwrap();
    let more = dir.path().join("more");
    std::fs::create_dir(&more).unwrap();
    std::fs::write(
        more.join("Y.mof"),
        "[Description(\"y\")] class Y { string P; };",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("top.mof"),
        "#pragma locale (\"en_US\")\n#pragma instancelocale (\"en_US\")\n#pragma NameSpace (\"root/cimv2\")\n#pragma include (\"quals.mof\")\n#pragma include (\"System\\CIM_X.mof\")\n// trailing comment",
    )
    .unwrap();
    let c = compile_files(&[dir.path().join("top.mof")], &Options::default()).unwrap();
    assert!(
        c.warnings.is_empty(),
        "known pragmas are silent: {:?}",
        c.warnings
    );
    let names: Vec<&str> = c.classes.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["Y", "X"]);
    assert!(c.class("X").unwrap().property("P").unwrap().propagated);
    // A search path finds files not next to the includer.
    let inc = tempfile::tempdir().unwrap();
    std::fs::write(inc.path().join("quals2.mof"), PRELUDE).unwrap();
    let opts = Options {
        include_dirs: vec![inc.path().to_owned()],
        ..Options::default()
    };
    let c = compile_str(
        "/nonexistent/x.mof",
        "#pragma include(\"quals2.mof\")\n[Key] class Bad { };",
        &opts,
    );
    assert!(c.is_err(), "Key is not class-scoped");
    // Include cycles are reported, not followed forever.
    std::fs::write(dir.path().join("loop.mof"), "#pragma include(\"loop.mof\")").unwrap();
    let e = compile_files(&[dir.path().join("loop.mof")], &Options::default()).unwrap_err();
    assert!(e.to_string().contains("include cycle"), "{e}");
}

/// A sink recording events, with a pre-existing repository behind it.
#[derive(Default)]
struct Repo {
    events: Vec<String>,
    existing: Vec<Class>,
    quals: Vec<QualifierDecl>,
}

impl MofSink for Repo {
    fn namespace(&mut self, ns: &str) -> Result<(), CimError> {
        self.events.push(format!("ns {ns}"));
        Ok(())
    }
    fn qualifier_decl(&mut self, ns: &str, q: QualifierDecl) -> Result<(), CimError> {
        self.events.push(format!("qualifier {ns} {}", q.name));
        Ok(())
    }
    fn class(&mut self, ns: &str, c: Class) -> Result<(), CimError> {
        if c.name.is("Refused") {
            return Err(CimError::new(
                cim::StatusCode::AlreadyExists,
                "Refused exists",
            ));
        }
        self.events.push(format!("class {ns} {}", c.name));
        Ok(())
    }
    fn instance(&mut self, ns: &str, i: Instance) -> Result<(), CimError> {
        self.events.push(format!("instance {ns} {}", i.class_name));
        Ok(())
    }
    fn find_class(&self, _ns: &str, name: &str) -> Option<Class> {
        self.existing.iter().find(|c| c.name.is(name)).cloned()
    }
    fn find_qualifier_decl(&self, _ns: &str, name: &str) -> Option<QualifierDecl> {
        self.quals.iter().find(|q| q.name.is(name)).cloned()
    }
}

#[test]
fn sink_receives_namespaces_and_declarations_in_order() {
    let mut repo = Repo::default();
    let opts = Options::default();
    let text = format!(
        "{PRELUDE}class A {{ [Key] string K; }};\n#pragma namespace(\"/root/other\")\n{PRELUDE}class B {{ }};\ninstance of B {{ }};"
    );
    let d = {
        let mut c = Compiler::new(&opts, &mut repo);
        c.compile_source(std::path::Path::new("t.mof"), &text);
        c.finish()
    };
    assert!(!d.has_errors(), "{d}");
    let ev: Vec<&str> = repo
        .events
        .iter()
        .map(String::as_str)
        .filter(|e| !e.starts_with("qualifier"))
        .collect();
    assert_eq!(
        ev,
        [
            "ns root/cimv2",
            "class root/cimv2 A",
            "ns root/other",
            "class root/other B",
            "instance root/other B"
        ]
    );
    assert!(repo.events.iter().any(|e| e == "qualifier root/other Key"));
}

#[test]
fn compiles_against_an_existing_repository() {
    // Qualifiers and a superclass known only to the repository (sink lookups).
    let base = ok("[Description(\"repo\")] class Repo_Base { [Key] string Id; };");
    let mut repo = Repo {
        existing: vec![base.class("Repo_Base").unwrap().clone()],
        quals: base.qualifiers.clone(),
        ..Repo::default()
    };
    let opts = Options::default();
    let d = {
        let mut c = Compiler::new(&opts, &mut repo);
        c.compile_source(std::path::Path::new("t.mof"), "class Sub : Repo_Base { [Description(\"s\")] string More; };\ninstance of Sub { Id = \"1\"; };");
        c.finish()
    };
    assert!(!d.has_errors(), "{d}");
    assert_eq!(
        repo.events,
        [
            "ns root/cimv2",
            "class root/cimv2 Sub",
            "instance root/cimv2 Sub"
        ]
    );

    // The same through Options::resolver with compile_str.
    struct R(mof::Compiled);
    impl Resolver for R {
        fn class(&self, _ns: &str, name: &str) -> Option<Class> {
            self.0.class(name).cloned()
        }
        fn qualifier_decl(&self, _ns: &str, name: &str) -> Option<QualifierDecl> {
            self.0.qualifier(name).cloned()
        }
    }
    let opts = Options {
        resolver: Some(Arc::new(R(base))),
        ..Options::default()
    };
    let c = compile_str("t.mof", "class Sub : Repo_Base { string More; };", &opts).unwrap();
    assert_eq!(c.classes.len(), 1, "repository classes are not re-emitted");
    let sub = &c.classes[0];
    assert!(sub.property("Id").unwrap().is_key());
    assert_eq!(sub.qualifiers.string("Description"), Some("repo"));
}

#[test]
fn sink_refusal_is_a_located_error_and_errors_make_loading_all_or_nothing() {
    let mut repo = Repo::default();
    let opts = Options::default();
    let text = format!("{PRELUDE}class Fine {{ }};\nclass Refused {{ }};");
    let d = {
        let mut c = Compiler::new(&opts, &mut repo);
        c.compile_source(std::path::Path::new("t.mof"), &text);
        c.finish()
    };
    let e: Vec<_> = d.errors().collect();
    assert_eq!(e.len(), 1);
    assert!(matches!(&e[0].error, mof::Error::Sink(m) if m.contains("Refused exists")));
    assert_eq!(
        e[0].location.as_ref().unwrap().line,
        line_of("class Fine { };\nclass Refused { };", "class Refused")
    );

    let mut repo = Repo::default();
    let text = format!("{PRELUDE}class Fine {{ }};\nclass Bad : Missing {{ }};");
    let d = {
        let mut c = Compiler::new(&opts, &mut repo);
        c.compile_source(std::path::Path::new("t.mof"), &text);
        c.finish()
    };
    assert!(d.has_errors());
    assert!(
        repo.events.is_empty(),
        "nothing delivered: {:?}",
        repo.events
    );
}

#[test]
fn xml_dump_reads_back_with_the_cim_xml_reader() {
    let c = ok("[Description(\"d\")] class A { [Key] string Id; uint8 N[] = {1, 2}; uint32 M([In] string P); };\n\
                [Association] class L { A REF x; A REF y; };\ninstance of A { Id = \"i\"; };");
    let xml = mof::print::to_xml(&c);
    assert!(xml.starts_with("<?xml"));
    assert!(xml.contains("<DECLGROUP>"));
    let limits = cim::xml::Limits::default();
    let lines: Vec<&str> = xml.lines().collect();
    let q = lines
        .iter()
        .find(|l| l.starts_with("<QUALIFIER.DECLARATION NAME=\"Key\""))
        .unwrap();
    assert_eq!(
        &cim::xml::read_qualifier_decl(q, &limits).unwrap(),
        c.qualifier("Key").unwrap()
    );
    let class_line = lines
        .iter()
        .find(|l| l.contains("<CLASS NAME=\"A\""))
        .unwrap();
    let inner = class_line
        .trim_start_matches("<VALUE.OBJECT>")
        .trim_end_matches("</VALUE.OBJECT>");
    let a = cim::xml::read_class(inner, &limits).unwrap();
    assert_eq!(a.name.as_str(), "A");
    assert_eq!(a.properties.len(), 2);
    assert!(a.property("Id").unwrap().is_key());
    assert_eq!(a.method("M").unwrap().parameters.len(), 1);
    let inst_line = lines.iter().find(|l| l.contains("<INSTANCE")).unwrap();
    let inner = inst_line
        .trim_start_matches("<VALUE.OBJECT>")
        .trim_end_matches("</VALUE.OBJECT>");
    assert_eq!(
        cim::xml::read_instance(inner, &limits)
            .unwrap()
            .get_str("Id"),
        Some("i")
    );
}

#[test]
fn printer_round_trips_every_feature() {
    let c = ok("[Description(\"multi\\nline \\\"quoted\\\" \\\\ \\x01 caf\\x00e9\"), Version(\"2\") : ToSubclass]\nclass P {\n\
          [Key, Units(\"B\") : Restricted DisableOverride] string Id;\n\
          real32 F = 0.1; real64 G = -6.02E+23; real64 H = 1e-300; char16 Q = '\\''; char16 Z = '\\x0000';\n\
          uint8 Fixed[3] = {1, 2, 3}; sint64 Neg = -9223372036854775808; boolean B = false; string Empty = \"\";\n\
          datetime D = \"2026****024930.******+060\"; string N[] = {NULL, \"x\"};\n\
          [Description(\"m\")] uint32 M([In, Out] uint8 Buf[], [In(false)] P REF Self, string S[4]);\n\
        };\n\
        [Association] class PL { [Key] P REF A; [Key, Aggregate] P REF B; };\n\
        class Child : P { [Override(\"F\")] real32 F = 2.5; [Override(\"M\")] uint32 M([In] uint8 Buf[], P REF Self, string S[4]); };\n\
        instance of P as $p { Id = \"one\"; Fixed = {9, 8, 7}; Q = 'q'; };\n\
        instance of PL { A = $p; B = \"root/cimv2:P.Id=\\\"two\\\"\"; };\n\
        [Description(\"e\")] class Holder { [EmbeddedInstance(\"P\")] string E; };\n\
        instance of Holder { E = instance of P { Id = \"inner\"; }; };");
    let text = mof::print::to_mof(&c);
    let again = compile_str("printed.mof", &text, &Options::default())
        .unwrap_or_else(|d| panic!("{d}\n{text}"));
    assert_eq!(again.qualifiers, c.qualifiers);
    assert_eq!(again.classes, c.classes, "{text}");
    assert_eq!(again.instances, c.instances);
    // Standalone printing (no declarations at hand) spells flavors out and still recompiles.
    let mut one = String::new();
    mof::print::class(c.class("P").unwrap(), &mut one);
    assert!(
        one.contains("Units (\"B\") : DisableOverride Restricted"),
        "{one}"
    );
    let again = compile_str("one.mof", &format!("{PRELUDE}{one}"), &Options::default()).unwrap();
    assert_eq!(again.classes[0], *c.class("P").unwrap());
}

#[test]
fn classes_load_from_files_named_after_them_and_identical_redefinitions_pass() {
    let dir = tempfile::tempdir().unwrap();
    let deep = dir.path().join("Area").join("Sub");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(dir.path().join("quals.mof"), PRELUDE).unwrap();
    std::fs::write(
        deep.join("CIM_Base.mof"),
        "class CIM_Base { [Key] string Id; };",
    )
    .unwrap();
    std::fs::write(
        deep.join("cim_peer.MOF"),
        "class CIM_Peer : CIM_Base { };\n[Association] class CIM_Link { CIM_Peer REF a; CIM_Base REF b; };",
    )
    .unwrap();
    let top = dir.path().join("top.mof");
    std::fs::write(
        &top,
        "#pragma include(\"quals.mof\")\nclass Mine : CIM_Base { CIM_Peer REF Nope; };\n",
    )
    .unwrap();
    // Without include directories: the superclass is undefined.
    assert!(compile_files(&[&top], &Options::default()).is_err());
    // With them, CIM_Base.mof is found by name (any depth, any case); the
    // reference in a non-association is still an error.
    let opts = Options {
        include_dirs: vec![dir.path().to_owned()],
        ..Options::default()
    };
    let e = compile_files(&[&top], &opts).unwrap_err();
    let errs: Vec<_> = e.errors().collect();
    assert_eq!(errs.len(), 1, "{e}");
    assert!(matches!(
        errs[0].error,
        mof::Error::ReferenceInNonAssociation { .. }
    ));
    std::fs::write(
        &top,
        "#pragma include(\"quals.mof\")\n[Association] class Mine { CIM_Peer REF A; CIM_Link REF B; };\n\
         #pragma include(\"Area/Sub/CIM_Base.mof\")\n",
    )
    .unwrap();
    let c = compile_files(&[&top], &opts).unwrap();
    let names: Vec<&str> = c.classes.iter().map(|c| c.name.as_str()).collect();
    // Loaded on demand (reference classes at the end), superclasses first; the
    // explicit second include of CIM_Base.mof is identical and accepted.
    assert_eq!(names, ["Mine", "CIM_Base", "CIM_Peer", "CIM_Link"]);
}

/// Classes leave the compiler's bounded working set of resolved classes and
/// are resolved again when a later subclass, instance, repeated definition or
/// the final delivery needs them: the result must not depend on that.
#[test]
fn classes_far_apart_in_the_input_resolve_the_same() {
    let mut text = String::from(
        "[Description(\"base\")] class Base { [Key, Description(\"the key\")] string K; uint32 N = 7; };\n\
         class Mid : Base { [Override(\"N\")] uint32 N = 8; string M; };\n",
    );
    for i in 0..200 {
        text.push_str(&format!("class Filler{i} : Mid {{ string F{i}; }};\n"));
    }
    text.push_str("class Leaf : Mid { string L; };\n");
    text.push_str("class Mid : Base { [Override(\"N\")] uint32 N = 8; string M; };\n");
    text.push_str("instance of Leaf { K = \"k\"; N = 9; L = \"l\"; };\n");
    let c = ok(&text);
    let leaf = c.class("Leaf").unwrap();
    let names: Vec<&str> = leaf.properties.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["K", "N", "M", "L"]);
    assert_eq!(default_of(&c, "Leaf", "N"), Value::Uint32(8));
    let k = leaf.property("K").unwrap();
    assert!(k.propagated);
    assert_eq!(k.class_origin.as_ref().unwrap().as_str(), "Base");
    assert_eq!(
        k.qualifiers.find("Description").unwrap().value,
        Value::String("the key".into())
    );
    assert_eq!(
        leaf.qualifiers.find("Description").unwrap().value,
        Value::String("base".into())
    );
    // Every filler, delivered long after Mid left the working set, is whole.
    for i in [0, 100, 199] {
        let f = c.class(&format!("Filler{i}")).unwrap();
        assert_eq!(f.properties.len(), 4, "Filler{i}");
    }
    assert_eq!(c.classes.len(), 203);
    assert_eq!(c.instances.len(), 1);
    // A different redefinition of a class long out of the working set is still refused.
    let changed = text.replace(
        "class Mid : Base { [Override(\"N\")] uint32 N = 8; string M; };\ninstance",
        "class Mid : Base { string Other; };\ninstance",
    );
    let errs = errors(&changed);
    assert!(
        format!("{errs}").contains("class \"Mid\" is already defined"),
        "{errs}"
    );
}
