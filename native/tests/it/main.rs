//! The engine's integration tests, one binary with a module per area.

mod power_loss;
mod power_support;
