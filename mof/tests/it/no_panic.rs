//! Property tests: arbitrary input never panics or hangs the compiler, and
//! every diagnostic it produces points inside the input.

use crate::common;
use mof::{compile_str_lossy, Options};
use proptest::prelude::*;

/// Fragments of MOF, so that generated inputs get past the first token.
const TOKENS: &[&str] = &[
    "class ",
    "Class ",
    "association ",
    "indication ",
    "instance of ",
    "Qualifier ",
    "#pragma ",
    "include",
    "namespace",
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    ";",
    ":",
    ",",
    "=",
    "$a",
    " as ",
    "REF ",
    "Key",
    "Description",
    "Association",
    "Override",
    "string ",
    "uint8 ",
    "sint64 ",
    "real32 ",
    "boolean ",
    "char16 ",
    "datetime ",
    "A ",
    "B ",
    "X",
    "\"s\"",
    "\"",
    "'c'",
    "'",
    "\\",
    "\\x",
    "0x1F",
    "017",
    "1010b",
    "-.5",
    "6.02E+23",
    "1e999",
    "TRUE",
    "null",
    "//c\n",
    "/*",
    "*/",
    "\n",
    " ",
    "Scope(any)",
    "Flavor(Restricted)",
    "ToSubclass",
    "instance of A {",
    "\u{00e9}",
    "\u{FEFF}",
    "\r\n",
    "[]",
    "[3]",
    "$",
    "..",
    "+",
    "-",
];

fn mofish() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..60).prop_map(|v| v.concat())
}

fn check(text: &str) {
    for with_prelude in [false, true] {
        let src = if with_prelude {
            format!("{}{text}", common::PRELUDE)
        } else {
            text.to_owned()
        };
        let (_, d) = compile_str_lossy("p.mof", &src, &Options::default());
        for diag in &d {
            if let Some(l) = &diag.location {
                assert!(
                    l.line >= 1 && (l.line as usize) <= src.lines().count().max(1) + 1,
                    "{diag}"
                );
                // Rendering never panics either.
                let _ = diag.to_string();
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(s in any::<String>()) {
        check(&s);
    }

    #[test]
    fn mof_like_token_soup_never_panics(s in mofish()) {
        check(&s);
    }

    #[test]
    fn truncated_valid_mof_never_panics(cut in 0usize..400) {
        let text = "[Association, Description(\"x\" \"y\")]\nclass L {\n [Key] A REF a;\n A REF b;\n uint32 M([In] string p, [Out] uint8 q[]);\n};\n\
                    class A { [Key] string Id = \"a\\n\"; real64 R = -.5; char16 C = '\\x41'; };\ninstance of A as $x { Id = \"1\"; };\n\
                    instance of L { a = $x; b = $x; };\n";
        let src = format!("{}{}", common::PRELUDE, text);
        let end = (common::PRELUDE.len() + cut).min(src.len());
        let mut end = end;
        while !src.is_char_boundary(end) { end -= 1; }
        check(&src[common::PRELUDE.len()..end]);
    }
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let mut s = String::from("class A { string S; };\ninstance of A { S = ");
    for _ in 0..5000 {
        s.push_str("instance of A { S = ");
    }
    s.push_str("\"x\"");
    let (_, d) = compile_str_lossy(
        "deep.mof",
        &format!("{}{s}", common::PRELUDE),
        &Options::default(),
    );
    assert!(d.has_errors());
}

#[test]
fn pathological_inputs_finish_quickly() {
    let start = std::time::Instant::now();
    let many_errors: String = (0..20_000).map(|_| "class ;\n").collect();
    let (_, d) = compile_str_lossy("m.mof", &many_errors, &Options::default());
    assert!(d.has_errors());
    let open_comment = format!("/*{}", "class A { };\n".repeat(20_000));
    let (_, d) = compile_str_lossy("c.mof", &open_comment, &Options::default());
    assert!(d.has_errors());
    let open_strings = "class A { string S = \"x;\n".repeat(5_000);
    let (_, d) = compile_str_lossy("s.mof", &open_strings, &Options::default());
    assert!(d.has_errors());
    assert!(start.elapsed().as_secs() < 20, "took {:?}", start.elapsed());
}
