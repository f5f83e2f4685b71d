//! cimom crate (work in progress).
