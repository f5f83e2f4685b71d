//! The CIM object model (DMTF DSP0004) and its CIM-XML representation (DSP0201),
//! shared by the object manager, the providers, the MOF compiler and the client.
//!
//! * [`name::CimName`] — case-insensitive, case-preserving names.
//! * [`types::CimType`], [`value::Value`], [`value::DateTime`] — types and values.
//! * [`qualifier`], [`class`], [`instance`] — declarations and instances.
//! * [`path::ObjectPath`] — object paths and their WBEM URI form (DSP0207).
//! * [`status::CimError`] — the boundary error type carrying a DSP0200 status code.
//! * [`ops`] — typed DSP0200 operation requests and responses.
//! * [`xml`] — the CIM-XML reader and writer.
//!
//! **Architecture invariant:** no I/O, no async, no HTTP; nothing panics on wire input.

pub mod class;
pub mod error;
pub mod instance;
pub mod name;
pub mod ops;
pub mod path;
pub mod qualifier;
pub mod status;
pub mod types;
pub mod value;
pub mod xml;

pub use class::{Class, Method, Parameter, Property};
pub use error::{Error, ErrorKind};
pub use instance::Instance;
pub use name::CimName;
pub use path::{KeyBinding, ObjectPath};
pub use qualifier::{Flavors, Qualifier, QualifierDecl, QualifierList, Scopes};
pub use status::{CimError, StatusCode};
pub use types::CimType;
pub use value::{DateTime, Value};
