//! The CIM object manager: repository, CIM-XML operations over HTTP(S), the
//! provider API and indications.

/// The provider API, in its own crate so that providers build without the server.
pub use cimom_provider as provider;

pub mod announce;
pub mod auth;
pub mod config;
pub mod indication;
pub mod metrics;
pub mod selfsigned;
pub mod server;

mod answer_cache;
pub mod bundled;
mod core;
pub mod dispatch;
pub mod error;
pub mod interop;
mod pull_contexts;
pub mod repository;
mod static_instances;
pub mod wql;

pub use crate::core::{CacheBounds, Cimom, CimomOptions, IndicationSink, RequestCtx};
pub use bundled::{BundledMof, LoadReport};
pub use error::Error;
pub use interop::Subscription;
pub use server::serve;
