//! The `cim` crate's integration tests, in one binary: golden files from pywbem
//! (`golden`) and property-based codec round trips (`roundtrip`).

mod golden;
mod roundtrip;
