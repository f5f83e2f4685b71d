//! providers crate (work in progress).
