//! The MOF printer: renders qualifier declarations, classes (their local
//! features only: what is not `propagated`) and instances as MOF that compiles
//! back to an equal model.

use crate::Compiled;
use cim::{Class, Instance, QualifierDecl};

/// The whole compilation as one MOF document: qualifier declarations, classes
/// (superclasses first), instances.
pub fn to_mof(compiled: &Compiled) -> String {
    let _ = compiled;
    String::new()
}

/// Appends a qualifier declaration.
pub fn qualifier_decl(q: &QualifierDecl, out: &mut String) {
    let _ = (q, out);
}

/// Appends a class declaration (local features only).
pub fn class(c: &Class, out: &mut String) {
    let _ = (c, out);
}

/// Appends an instance declaration.
pub fn instance(i: &Instance, out: &mut String) {
    let _ = (i, out);
}
