//! The `cimomd` daemon around the object manager: its flags and TOML file
//! ([`config`], checked with file:line errors in [`config_check`], NBD flags
//! in [`nbd_settings`]), the NBD export it binds ([`nbd`]), the mirror peers
//! file and what is built from it ([`peers`]), logging and
//! systemd integration ([`service`]) and the engine's metrics ([`metrics`]).
//! `main.rs` is the glue that opens the engine, the object manager with the
//! providers registered, and the NBD and HTTP servers. This is the only crate
//! that sees HTTP settings, NBD endpoints and volume roots side by side.

pub mod config;
pub mod config_check;
pub mod metrics;
pub mod nbd;
pub mod nbd_settings;
pub mod peers;
pub mod service;
