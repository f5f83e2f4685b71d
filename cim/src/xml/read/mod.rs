//! CIM-XML reader (DSP0201 2.4): a recursive-descent parser over quick-xml's
//! event stream that builds the model directly, with no DOM in between.
//!
//! Each `parse_*` function implements one DSP0201 element and quotes its DTD
//! content model. The [`Parser`] hands out child elements one at a time
//! ([`Parser::child`]) or the text content of a leaf ([`Parser::text`]); a
//! function that receives an element must consume it completely before
//! returning, which keeps depth and end-tag bookkeeping in one place.
//!
//! Hostile input: the whole document is checked for UTF-8 and size first;
//! `DOCTYPE` is refused (so no entity can be declared), references other than
//! the five predefined entities and character references are refused, and
//! depth and element count are checked on every start tag.

mod classes;
mod instances;
mod message;
mod parser;
mod paths;
mod qualifiers;
mod requests;
mod responses;
mod values;

use super::Limits;
use crate::class::Class;
use crate::error::Error;
use crate::instance::Instance;
use crate::ops::Message;
use crate::path::ObjectPath;
use crate::qualifier::QualifierDecl;
use crate::types::CimType;
use crate::value::Value;
pub(super) use parser::{Elem, Parser, Result};

/// Parses a standalone document whose root is handled by `f`.
fn standalone<T>(
    input: &[u8],
    limits: &Limits,
    f: impl for<'p> FnOnce(&mut Parser<'p>, &Elem<'p>) -> Result<T>,
) -> Result<T> {
    Parser::check_input(input, limits)?;
    let src = std::str::from_utf8(input).map_err(|e| Error::Xml {
        position: e.valid_up_to() as u64,
        reason: "document is not valid UTF-8".into(),
    })?;
    let mut p = Parser::new(src, limits);
    let root = p.root()?;
    let v = f(&mut p, &root)?;
    p.finish()?;
    Ok(v)
}

pub(super) fn read_message(input: &[u8], limits: &Limits) -> Result<Message> {
    standalone(input, limits, |p, e| p.parse_cim(e))
}

pub(super) fn read_instance(xml: &str, limits: &Limits) -> Result<Instance> {
    standalone(xml.as_bytes(), limits, |p, e| p.parse_instance(e))
}

pub(super) fn read_class(xml: &str, limits: &Limits) -> Result<Class> {
    standalone(xml.as_bytes(), limits, |p, e| p.parse_class(e))
}

pub(super) fn read_qualifier_decl(xml: &str, limits: &Limits) -> Result<QualifierDecl> {
    standalone(xml.as_bytes(), limits, |p, e| p.parse_qualifier_decl(e))
}

pub(super) fn read_object_path(xml: &str, limits: &Limits) -> Result<ObjectPath> {
    standalone(xml.as_bytes(), limits, |p, e| p.parse_any_path(e))
}

/// Access for the intrinsic-parameter decoder in `params.rs`.
impl<'a> Parser<'a> {
    pub(super) fn value_typed(&mut self, e: &Elem<'a>, ty: &CimType) -> Result<Value> {
        self.parse_value(e, ty)
    }
    pub(super) fn string_array(&mut self, e: &Elem<'a>) -> Result<Vec<Option<String>>> {
        self.parse_string_array(e)
    }
}
