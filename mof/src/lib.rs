//! mof crate (work in progress).
