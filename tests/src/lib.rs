//! tests crate (work in progress).
