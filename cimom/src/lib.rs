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

pub mod bundled;
pub mod dispatch;
pub mod error;
pub mod interop;
pub mod pull;
pub mod repository;
pub mod wql;

pub use dispatch::{
    BundledMof, CacheBounds, Cimom, CimomOptions, IndicationSink, LoadReport, RequestCtx,
};
pub use error::Error;
pub use interop::Subscription;
pub use server::serve;
