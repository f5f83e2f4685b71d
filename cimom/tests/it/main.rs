//! The object manager's integration tests, one binary with one module per
//! area: `dispatch_*` drive [`cimom::Cimom`] in process through
//! `core_support`'s `op`, `http_*` drive a server on a loopback port through
//! `http_common`'s `TestServer`, `repo_*` open the repository directly and
//! `wql_eval` checks the WQL parser and evaluator. `tests/py` holds data.

mod core_support;
mod http_common;

mod dispatch_classes;
mod dispatch_instances;
mod dispatch_interop;
mod dispatch_providers;
mod dispatch_pull;
mod http_auth_tls;
mod http_class_cache;
mod http_indications;
mod http_limits;
mod http_protocol;
mod repo_crash;
mod repo_smoke;
mod repo_store;
mod wql_eval;
