//! `iimgr`, the Instant Image management server, and the browser console it serves.
//!
//! * [`config`] — flags and `console.toml` (hosts, tags, limits).
//! * [`hosts`] — the host registry: configured hosts and hosts that announced
//!   themselves (the lookup service), each watched by one live view with a
//!   polling fallback; snapshots of their sets, groups and overflow volumes.
//! * [`events`] — the change journal fanned out to browsers as server-sent
//!   events with ids and `Last-Event-ID` resume.
//! * [`session`] — users-file login, session cookies and CSRF tokens.
//! * [`api`] — the JSON API (`/api/v1/…`), the service object of the design;
//!   its routes are listed there and in `openapi.json`.
//! * [`pages`] — the server-rendered HTML (maud) of the console.
//! * [`server`] — the HTTP(S) endpoints, routing, limits and security headers.
//!
//! **Architecture invariant:** hosts are reached only through the `client`
//! crate's facade ([`client::IiHost`]) and live view; nothing here writes
//! CIM-XML. Host credentials stay in this process: no response carries them.

pub mod api;
pub mod config;
pub mod error;
pub mod events;
pub mod hosts;
pub mod pages;
pub mod server;
pub mod session;

pub use error::Error;
