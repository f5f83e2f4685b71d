//! CIM-XML reader and writer (DMTF DSP0201 2.4, the message forms DSP0200 1.4 uses).
//!
//! * [`read_message`] decodes a whole `<CIM>` document — requests
//!   (`SIMPLEREQ/IMETHODCALL|METHODCALL`), responses (`SIMPLERSP`), indication
//!   export (`SIMPLEEXPREQ`, `SIMPLEEXPRSP`) — straight into [`crate::ops::Message`],
//!   streaming over quick-xml events without building a DOM.
//! * [`write_message`] renders a [`crate::ops::Message`] as a complete document;
//!   the `write_*` piece functions render single elements, for streamed
//!   responses (`write_imethod_response_head` … `write_imethod_response_tail`)
//!   and embedded objects.
//!
//! # Hostile input
//!
//! The reader refuses `<!DOCTYPE>` (hence every entity declaration) and any entity
//! reference other than the five predefined ones and numeric character
//! references, and bounds nesting depth, element count and document size by
//! [`Limits`]. Invalid UTF-8, unknown elements where DSP0201 allows none, and
//! values that do not parse as their declared type give a typed
//! [`crate::Error`] naming the element and its byte offset. Nothing panics.
//!
//! # Deviations and tolerated quirks
//!
//! * Unknown attributes are ignored (DSP0201 allows extension attributes; pywbem
//!   ignores them too). `EMBEDDEDOBJECT` is accepted for `EmbeddedObject`, and
//!   `TYPE` for `PARAMTYPE` on `PARAMVALUE` (VMAX sends it; pywbem tolerates it).
//! * Whitespace-only text between elements is ignored; comments and processing
//!   instructions are skipped; `CORRELATOR` elements are skipped.
//! * `VALUE` text of non-string types is trimmed before parsing (as pywbem does).
//! * Literal characters outside XML 1.0's `Char` production are refused, but
//!   character references to C0 controls (`&#1;`) are tolerated on input
//!   (only `&#0;` is refused). The writer never emits either: such characters
//!   in strings are written as U+FFFD.
//! * `ERROR` may hold `INSTANCE` children (embedded `CIM_Error`s); they are
//!   validated and then dropped, because [`crate::CimError`] has no room for
//!   them. An unknown `CODE` becomes `CIM_ERR_FAILED` with the number in the
//!   description.
//! * Values whose type the wire does not carry stay strings: `NewValue` of
//!   `SetProperty`, the `GetProperty` result, and `PARAMVALUE`s without
//!   `PARAMTYPE`; the object manager or client converts them with the
//!   declared type.
//! * A `METHODCALL` target is returned without namespace; the namespace is
//!   [`crate::ops::MethodCall::namespace`].
//! * A lone `KEYVALUE` or `VALUE.REFERENCE` in `INSTANCENAME` becomes a key
//!   binding with an empty name, and is written back the same way.
//! * `KEYVALUE` without `TYPE`: `numeric` becomes `sint64` when negative,
//!   `uint64` otherwise (or `real64`); the writer always adds `TYPE`
//!   (DSP0203 2.4.0 requires it) so exact types survive.
//! * `PARAMTYPE="object"`/`"instance"` (DSP0201 2.4) are read as embedded
//!   object/instance; the writer uses `PARAMTYPE="string"` with
//!   `EmbeddedObject`, which every peer understands.
//! * `METHOD` without `TYPE` (allowed by the DTD) is refused: the model has no
//!   void return type.
//! * `MULTIREQ`/`MULTIRSP` and the `DECLARATION` form of `CIM` are refused
//!   with [`crate::ErrorKind::NotValid`].
//!
//! # Validation
//!
//! Output is checked against pywbem's parser (`tests/data/check_responses.py`,
//! `check_export.py`) and the DSP0203 2.4.0 DTD (`tests/data/validate_dtd.py`).
//!
//! # What the writer needs from callers
//!
//! * Paths in `INSTANCEPATH`/`CLASSPATH` positions (pull results,
//!   `ObjectPaths`, `ObjectsWithPath`) should carry a namespace; a missing one
//!   is written as a single empty `NAMESPACE` so the document stays valid.
//!   `ObjectsWithPath` entries without namespace are written as
//!   `VALUE.NAMEDOBJECT`/`VALUE.OBJECT` instead. A missing host is `localhost`.
//! * A keyless [`ObjectPath`] is written as a class path (`CLASSNAME`,
//!   `CLASSPATH`), since the model does not tell a keyless singleton instance
//!   from a class.
//! * Scalar NULL property values are the property element without `VALUE`; NULL
//!   array elements are `VALUE.NULL`.
//!
//! # Limits and recursion
//!
//! The reader is recursive descent; `max_depth` bounds its recursion (also
//! through embedded objects, which inherit the remaining depth and element
//! budgets). Keep `max_depth` in the low hundreds at most.

mod params;
mod read;
mod write;

use crate::class::Class;
use crate::error::Error;
use crate::instance::Instance;
use crate::ops::Message;
use crate::path::ObjectPath;
use crate::qualifier::QualifierDecl;
use crate::value::Value;

pub use write::{
    write_class, write_class_name, write_class_shaped, write_instance, write_instance_name,
    write_instance_path, write_object_path, write_pull_response_tail, write_qualifier_decl,
    write_return_value_items, write_value, write_value_instance_with_path, ClassShape,
};

/// Bounds on what [`read_message`] accepts from the wire. The defaults suit a
/// server; a client reading large enumerations may raise `max_elements` and
/// `max_bytes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Maximum element nesting depth (`<CIM>` is depth 1).
    pub max_depth: usize,
    /// Maximum number of elements in the document.
    pub max_elements: usize,
    /// Maximum document size in bytes.
    pub max_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 64,
            max_elements: 4 * 1024 * 1024,
            max_bytes: 256 * 1024 * 1024,
        }
    }
}

/// Decodes a complete CIM-XML document (`<?xml?>` optional, then `<CIM>`).
pub fn read_message(input: &[u8], limits: &Limits) -> Result<Message, Error> {
    read::read_message(input, limits)
}

/// Decodes a standalone `<INSTANCE>` element (an embedded instance, a test fixture).
pub fn read_instance(xml: &str, limits: &Limits) -> Result<Instance, Error> {
    read::read_instance(xml, limits)
}

/// Decodes a standalone `<CLASS>` element (an embedded class, a test fixture).
pub fn read_class(xml: &str, limits: &Limits) -> Result<Class, Error> {
    read::read_class(xml, limits)
}

/// Decodes a standalone `<QUALIFIER.DECLARATION>` element.
pub fn read_qualifier_decl(xml: &str, limits: &Limits) -> Result<QualifierDecl, Error> {
    read::read_qualifier_decl(xml, limits)
}

/// Decodes a standalone `INSTANCEPATH`, `LOCALINSTANCEPATH`, `INSTANCENAME`,
/// `CLASSPATH`, `LOCALCLASSPATH`, `CLASSNAME` or `OBJECTPATH` element.
pub fn read_object_path(xml: &str, limits: &Limits) -> Result<ObjectPath, Error> {
    read::read_object_path(xml, limits)
}

/// Renders a complete document: `<?xml version="1.0" encoding="utf-8" ?>`,
/// `<CIM CIMVERSION="2.0" DTDVERSION="2.0">`, the `MESSAGE` and its body.
pub fn write_message(msg: &Message, out: &mut Vec<u8>) {
    write::write_message(msg, out)
}

/// Writes the start of an `IMETHODRESPONSE` document, up to and including the
/// `<IRETURNVALUE>` start tag, so that a server can stream the items
/// ([`write_value_named_instance`], [`write_instance_name`], ...) and finish
/// with [`write_imethod_response_tail`] (or [`write_pull_response_tail`]).
pub fn write_imethod_response_head(id: &str, method: &str, out: &mut Vec<u8>) {
    write::write_imethod_response_head(id, method, out)
}

/// Writes a `VALUE.NAMEDINSTANCE` (`INSTANCENAME` from `inst.path`, or from
/// nothing but the class name when the path is unknown, then the `INSTANCE`).
pub fn write_value_named_instance(inst: &Instance, out: &mut Vec<u8>) {
    write::write_value_named_instance(inst, out)
}

/// Closes what [`write_imethod_response_head`] opened:
/// `</IRETURNVALUE></IMETHODRESPONSE></SIMPLERSP></MESSAGE></CIM>`.
pub fn write_imethod_response_tail(out: &mut Vec<u8>) {
    write::write_imethod_response_tail(out)
}

/// A convenience for tests and small callers: [`write_message`] into a new `String`.
pub fn message_to_string(msg: &Message) -> String {
    let mut out = Vec::new();
    write_message(msg, &mut out);
    // The writer only ever emits UTF-8 (it escapes from `&str` input).
    String::from_utf8(out).unwrap_or_default()
}

/// Writes a value as it appears in a property or parameter: `VALUE`,
/// `VALUE.ARRAY`, `VALUE.REFERENCE` or `VALUE.REFARRAY`; nothing for NULL.
/// Embedded instances and classes are written as escaped `INSTANCE`/`CLASS` text.
pub fn value_to_string(value: &Value) -> String {
    let mut out = Vec::new();
    write_value(value, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests;
