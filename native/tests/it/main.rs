//! The engine's integration tests, one binary with a module per area (so
//! the crate's dependency tree links once): engine scenarios, guards and
//! preconditions, overflow statistics, volatile bitmaps, the model-based and
//! crash tests, and the NBD server on the wire, over TLS and with real
//! clients, the engine's NBD client and the mirror target fence
//! (`nbd_client`, `mirror_targets`), and the power-loss suite on the storage seam's I/O trace. `common`, `power_support` and `nbd_common` are the shared helpers. The crash and
//! volatile tests re-invoke this binary with a test filter naming their child
//! test (`crash::crash_child`, `volatile::volatile_child`).

mod common;
mod mirror_support;
mod nbd_common;
mod power_support;

mod crash;
mod engine;
mod guards;
mod mirror;
mod mirror_crash;
mod mirror_nbd;
mod mirror_targets;
mod model;
mod nbd_client;
mod nbd_clients;
mod nbd_tls;
mod nbd_wire;
mod overflow_attach_count;
mod overflow_high_water;
mod power_loss;
mod preconditions;
mod volatile;
