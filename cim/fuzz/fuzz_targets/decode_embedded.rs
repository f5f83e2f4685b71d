//! Fuzz target: the standalone readers used for embedded objects
//! (`read_instance`, `read_class`, `read_object_path`) never panic.
#![no_main]

use cim::xml::{read_class, read_instance, read_object_path, read_qualifier_decl, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let limits = Limits::default();
        let _ = read_instance(s, &limits);
        let _ = read_class(s, &limits);
        let _ = read_object_path(s, &limits);
        let _ = read_qualifier_decl(s, &limits);
    }
});
