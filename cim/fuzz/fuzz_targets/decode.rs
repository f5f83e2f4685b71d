//! Fuzz target: `cim::xml::read_message` on arbitrary bytes must return
//! (Ok or a typed error) without panicking, and whatever it accepts must
//! survive an encode/decode round trip unchanged.
#![no_main]

use cim::xml::{read_message, write_message, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_bytes: 1 << 20,
        ..Limits::default()
    };
    if let Ok(msg) = read_message(data, &limits) {
        let mut out = Vec::new();
        write_message(&msg, &mut out);
        let again = read_message(&out, &Limits::default()).expect("re-encoded message decodes");
        // NaN reals compare unequal to themselves; compare the encodings instead.
        let mut out2 = Vec::new();
        write_message(&again, &mut out2);
        assert_eq!(out, out2, "encode(decode(encode(m))) differs");
    }
});
