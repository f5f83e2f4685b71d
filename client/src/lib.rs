//! client crate (work in progress).
