//! Inheritance resolution.
