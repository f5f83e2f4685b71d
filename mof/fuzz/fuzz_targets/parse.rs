//! Fuzz target: any bytes, read as (lossy) UTF-8, compiled as MOF on their own
//! and after a qualifier prelude (so that class bodies get checked too). The
//! compiler must return diagnostics, never panic, overflow or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mof::{compile_str_lossy, Options};

const PRELUDE: &str = "Qualifier Association : boolean = false, Scope(association), Flavor(DisableOverride, ToSubclass);\n\
Qualifier Key : boolean = false, Scope(property, reference), Flavor(DisableOverride, ToSubclass);\n\
Qualifier Description : string = null, Scope(any), Flavor(Translatable);\n\
Qualifier Override : string = null, Scope(property, reference, method), Flavor(Restricted);\n\
Qualifier ValueMap : string[], Scope(property, method, parameter);\n\
Qualifier In : boolean = true, Scope(parameter);\n";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let opts = Options::default();
    let (_, d) = compile_str_lossy("fuzz.mof", &text, &opts);
    for diag in &d {
        let _ = diag.to_string();
    }
    let with_prelude = format!("{PRELUDE}{text}");
    let (out, _) = compile_str_lossy("fuzz.mof", &with_prelude, &opts);
    // Whatever compiled must print without panicking.
    let _ = mof::print::to_mof(&out);
});
