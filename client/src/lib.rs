//! The Rust client of `cimomd`: a CIM-XML client library, a typed Instant
//! Image facade, and the `iiadm` command built on them.
//!
//! * [`conn`] — [`Client`]: DSP0200 requests over HTTP/HTTPS (hyper 1, rustls),
//!   Basic auth, timeouts, typed [`Error`]s.
//! * [`transport`] — the HTTP(S) transport and its one certificate policy
//!   ([`CertVerification`]), shared by [`Client`] and [`export`].
//! * [`ops`] — typed wrappers for every intrinsic operation, pull
//!   enumerations as batches and streams.
//! * [`ii`] — [`IiHost`], [`SetHandle`], [`GroupHandle`]: the `DS_II*` classes as Rust.
//! * [`export`] — `ExportIndication` to a listener (the object manager's
//!   indication delivery).
//! * [`listener`], [`live`] — an indication listener and a [`LiveView`] kept
//!   current from `CIM_InstCreation`/`Deletion`/`Modification`.
//! * [`fleet`] — [`Fleet`]: many hosts from a TOML file, `move_shadow`.
//! * [`blocking`] — wrappers that own a runtime, for scripts.
//! * `cli` — `iiadm`'s argument parser, output formats and runner (feature
//!   `cli`, on by default; the library builds without it).
//!
//! **Architecture invariant:** depends on `cim` and an HTTP stack only; never on
//! `cimom`, `providers` or `native`.

pub mod blocking;
#[cfg(feature = "cli")]
pub mod cli;
pub mod conn;
pub mod error;
pub mod export;
pub mod fleet;
pub mod ii;
pub mod listener;
pub mod live;
pub mod ops;
pub mod transport;

pub use conn::{Client, ClientConfig, DEFAULT_NAMESPACE, DEFAULT_URL, INTEROP_NAMESPACE};
pub use error::{Error, Result};
pub use fleet::{Fleet, FleetConfig};
pub use ii::{
    CopyParams, Direction, GroupHandle, GroupInfo, IiHost, OverflowInfo, SetHandle, SetInfo,
    SetSpec, SetType, VolumeInfo,
};
pub use listener::{Indication, IndicationKind, IndicationListener};
pub use live::{LiveEvent, LiveOptions, LiveView};
pub use ops::{PullEnumeration, PullItem, PullKind};
pub use transport::{CertVerification, HttpTransport};
