//! Shared test helpers: a small qualifier prelude and compile shorthands.

use mof::{compile_str, compile_str_lossy, Compiled, Diagnostics, Error, Options};

/// The qualifier declarations the tests use (as in DMTF qualifiers.mof).
pub const PRELUDE: &str = r#"
Qualifier Association : boolean = false, Scope(association), Flavor(DisableOverride, ToSubclass);
Qualifier Indication : boolean = false, Scope(class, indication), Flavor(DisableOverride, ToSubclass);
Qualifier Abstract : boolean = false, Scope(class, association, indication), Flavor(EnableOverride, Restricted);
Qualifier Aggregate : boolean = false, Scope(reference), Flavor(DisableOverride, ToSubclass);
Qualifier Description : string = null, Scope(any), Flavor(EnableOverride, ToSubclass, Translatable);
Qualifier Key : boolean = false, Scope(property, reference), Flavor(DisableOverride, ToSubclass);
Qualifier Override : string = null, Scope(property, reference, method), Flavor(EnableOverride, Restricted);
Qualifier ValueMap : string[], Scope(property, method, parameter);
Qualifier Values : string[], Scope(property, method, parameter), Flavor(EnableOverride, ToSubclass, Translatable);
Qualifier In : boolean = true, Scope(parameter), Flavor(DisableOverride, ToSubclass);
Qualifier Out : boolean = false, Scope(parameter), Flavor(DisableOverride, ToSubclass);
Qualifier MaxLen : uint32 = null, Scope(property, method, parameter);
Qualifier Units : string = null, Scope(property, method, parameter), Flavor(EnableOverride, ToSubclass, Translatable);
Qualifier EmbeddedInstance : string = null, Scope(property, method, parameter);
Qualifier Version : string = null, Scope(class, association, indication), Flavor(EnableOverride, Restricted, Translatable);
Qualifier Weight : real32 = 1.5, Scope(property);
Qualifier Counts : sint64[] = {1, -2}, Scope(property);
"#;

/// Compiles `PRELUDE + text`, panicking with the diagnostics on failure.
pub fn ok(text: &str) -> Compiled {
    let src = format!("{PRELUDE}{text}");
    match compile_str("test.mof", &src, &Options::default()) {
        Ok(c) => c,
        Err(d) => panic!("unexpected errors:\n{d}"),
    }
}

/// Compiles `PRELUDE + text` expecting errors; returns the diagnostics.
pub fn errors(text: &str) -> Diagnostics {
    let src = format!("{PRELUDE}{text}");
    let (_, d) = compile_str_lossy("test.mof", &src, &Options::default());
    assert!(d.has_errors(), "expected errors, got none");
    d
}

/// The line of `needle` within `PRELUDE + text` (1-based), for location checks.
pub fn line_of(text: &str, needle: &str) -> u32 {
    let src = format!("{PRELUDE}{text}");
    let pos = src.find(needle).expect("needle in source");
    (src[..pos].matches('\n').count() + 1) as u32
}

/// The single error's cause and its line/column.
pub fn only_error(d: &Diagnostics) -> (&Error, u32, u32) {
    let errs: Vec<_> = d.errors().collect();
    assert_eq!(errs.len(), 1, "expected exactly one error, got:\n{d}");
    let loc = errs[0].location.as_ref().expect("located");
    (&errs[0].error, loc.line, loc.column)
}
