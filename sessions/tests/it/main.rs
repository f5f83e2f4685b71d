//! The `sessions` crate's integration tests, one binary: the fixtures
//! against our parser and against `xmllint --schema` ([`fixtures`]), and
//! whole-document properties (canonical form, plan, state machine over the
//! reference session) in [`documents`].

mod documents;
mod fixtures;
