//! Fuzzes the NBD server's parsers in memory: greeting, client flags, option
//! haggling (STARTTLS, INFO/GO, LIST, EXPORT_NAME, ABORT, unknown options)
//! and transmission request headers, through `native::nbd::fuzzing::session`
//! (no sockets, no threads per execution; the input format is documented
//! there). `nbd_session` covers the same server over real sockets and TLS,
//! much more slowly.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    native::nbd::fuzzing::session(data);
});
