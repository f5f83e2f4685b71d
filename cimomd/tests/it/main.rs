//! The integration tests of `cimomd`, one binary with a module per area.

mod binary;
