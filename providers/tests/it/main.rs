//! The integration tests of the providers, one binary with a module per
//! area: the providers called directly over a real engine ([`support`]), and
//! inside the object manager ([`object_manager`]).

mod groups;
mod indications;
mod mirrors;
mod object_manager;
mod overflow;
mod restart;
mod sets;
mod support;
mod volumes;
