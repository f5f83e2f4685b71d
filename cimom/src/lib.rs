//! The CIM object manager: repository, CIM-XML operations over HTTP(S), the
//! provider API and indications.

pub mod provider;
