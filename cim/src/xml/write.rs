//! CIM-XML writer (DSP0201 2.4): renders the model straight into a byte buffer.
//!
//! Output conventions, chosen so that pywbem's strict tuple parser and
//! OpenPegasus accept it:
//!
//! * No whitespace between elements; attributes in DSP0201's order; every
//!   attribute value and text escaped (`&lt; &gt; &amp; &quot;`, `&#13;` for
//!   CR so that line-end normalization keeps it, and `&#9;`/`&#10;` in
//!   attributes so that attribute-value normalization does).
//! * Characters XML 1.0 cannot carry at all (C0 controls other than tab, LF
//!   and CR; U+FFFE; U+FFFF) are replaced by U+FFFD: strict parsers (expat in
//!   pywbem, libxml2) refuse them even as character references.
//! * Booleans `TRUE`/`FALSE`, reals in Rust's shortest round-trip form.
//! * A scalar NULL property is the property element without `VALUE`; a NULL
//!   array element is `VALUE.NULL`.
//! * Embedded instances and classes are `TYPE="string"` with
//!   `EmbeddedObject="instance"`/`"object"` and the escaped `INSTANCE`/`CLASS`
//!   text as the `VALUE`.
//! * References choose their path element by what the [`ObjectPath`] holds:
//!   host and namespace → `INSTANCEPATH` (`CLASSPATH` without keys), namespace
//!   only → `LOCALINSTANCEPATH` (`LOCALCLASSPATH`), neither → `INSTANCENAME`
//!   (`CLASSNAME`). A keyless path is therefore written as a class path.

use crate::class::{Class, Method, Parameter, Property};
use crate::instance::Instance;
use crate::name::CimName;
use crate::ops::{
    CimObject, IMethodCall, IMethodResponse, Message, MessageBody, MethodCall, MethodResponse,
    Operation, ParamValue, PullItems, PullParams, PullResult, Response,
};
use crate::path::{KeyBinding, ObjectPath};
use crate::qualifier::{Flavors, Qualifier, QualifierDecl, Scopes};
use crate::status::CimError;
use crate::types::CimType;
use crate::value::Value;

// ---------------------------------------------------------------------------
// Low-level helpers

#[inline]
fn raw(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
}

/// Appends `s` escaped for use in text content or a double-quoted attribute.
fn escape(out: &mut Vec<u8>, s: &str) {
    escape_impl(out, s, false)
}

/// Appends `s` escaped for a double-quoted attribute value: tab and line feed
/// become character references too, so attribute-value normalization (XML 1.0
/// §3.3.3) does not turn them into spaces.
fn escape_attr(out: &mut Vec<u8>, s: &str) {
    escape_impl(out, s, true)
}

/// Index of the first byte that `escape_impl` may have to replace: a control
/// character (below 0x20, which covers tab, LF and CR), `<`, `>`, `&`, `"`, or
/// 0xEF (the lead byte of U+FFFE/U+FFFF). Scans eight bytes at a time, since
/// most strings need no escaping at all and this runs for every value written.
fn first_special(bytes: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // High bit set in each byte of `x` that is zero (exact for the lowest one).
    let zero_bytes = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let mut i = 0;
    while i + 8 <= bytes.len() {
        let mut chunk = [0u8; 8];
        chunk.copy_from_slice(&bytes[i..i + 8]);
        let x = u64::from_le_bytes(chunk);
        // Bytes below 0x20: subtracting 0x20 borrows into the high bit, and
        // `!x` excludes bytes that already had it (non-ASCII).
        let controls = x.wrapping_sub(ONES * 0x20) & !x & HIGHS;
        let hits = controls
            | zero_bytes(x ^ (ONES * u64::from(b'<')))
            | zero_bytes(x ^ (ONES * u64::from(b'>')))
            | zero_bytes(x ^ (ONES * u64::from(b'&')))
            | zero_bytes(x ^ (ONES * u64::from(b'"')))
            | zero_bytes(x ^ (ONES * 0xEF));
        if hits != 0 {
            // Borrows can flag a byte after a true hit, never before one, so
            // the lowest flag is the first candidate; the byte loop re-checks.
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    // The tail (and short strings, such as most names) byte by byte, so that a
    // clean string is always copied in one piece.
    bytes[i..]
        .iter()
        .position(|&b| b < 0x20 || matches!(b, b'<' | b'>' | b'&' | b'"' | 0xEF))
        .map_or(bytes.len(), |p| i + p)
}

fn escape_impl(out: &mut Vec<u8>, s: &str, in_attr: bool) {
    let bytes = s.as_bytes();
    let first = first_special(bytes);
    if first == bytes.len() {
        out.extend_from_slice(bytes);
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate().skip(first) {
        let rep: &[u8] = match b {
            b'\t' if in_attr => b"&#9;",
            b'\n' if in_attr => b"&#10;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'&' => b"&amp;",
            b'"' => b"&quot;",
            b'\r' => b"&#13;",
            // Other C0 controls, U+FFFE and U+FFFF are not XML 1.0 characters
            // at all, not even as references (expat, hence pywbem, and libxml2
            // reject `&#1;`): they become U+FFFD REPLACEMENT CHARACTER.
            0..=8 | 11 | 12 | 14..=31 => "\u{FFFD}".as_bytes(),
            0xEF if matches!(bytes.get(i + 1..i + 3), Some([0xBF, 0xBE | 0xBF])) => {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice("\u{FFFD}".as_bytes());
                start = i + 3;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(rep);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// ` NAME="value"` with the value escaped.
#[inline]
fn attr(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(b' ');
    raw(out, name);
    raw(out, "=\"");
    escape_attr(out, value);
    out.push(b'"');
}

/// ` NAME="value"` for a value known to need no escaping (a type name).
#[inline]
fn attr_static(out: &mut Vec<u8>, name: &str, value: &'static str) {
    debug_assert_eq!(first_special(value.as_bytes()), value.len());
    out.push(b' ');
    raw(out, name);
    raw(out, "=\"");
    raw(out, value);
    out.push(b'"');
}

#[inline]
fn attr_bool(out: &mut Vec<u8>, name: &str, value: bool) {
    attr(out, name, if value { "true" } else { "false" });
}

#[inline]
fn open(out: &mut Vec<u8>, name: &str) {
    out.push(b'<');
    raw(out, name);
}

#[inline]
fn close(out: &mut Vec<u8>, name: &str) {
    raw(out, "</");
    raw(out, name);
    out.push(b'>');
}

/// `<NAME>escaped text</NAME>`.
fn text_element(out: &mut Vec<u8>, name: &str, text: &str) {
    open(out, name);
    out.push(b'>');
    escape(out, text);
    close(out, name);
}

fn embedded_attr(out: &mut Vec<u8>, ty: &CimType, value: &Value) {
    let kind = match (ty, first_scalar(value)) {
        (CimType::EmbeddedInstance, _) => Some("instance"),
        (CimType::EmbeddedObject, _) => Some("object"),
        (_, Some(Value::Instance(_))) => Some("instance"),
        (_, Some(Value::Class(_))) => Some("object"),
        _ => None,
    };
    if let Some(k) = kind {
        attr(out, "EmbeddedObject", k);
    }
}

fn first_scalar(v: &Value) -> Option<&Value> {
    match v {
        Value::Array(items) => items.iter().find(|i| !i.is_null()),
        Value::Null => None,
        other => Some(other),
    }
}

/// The text of a scalar value, written escaped. Embedded objects become the
/// escaped XML of their `INSTANCE`/`CLASS`.
fn scalar_text(out: &mut Vec<u8>, v: &Value) {
    let mut buf = itoa::Buffer::new();
    match v {
        Value::Boolean(true) => raw(out, "TRUE"),
        Value::Boolean(false) => raw(out, "FALSE"),
        Value::String(s) => escape(out, s),
        Value::Uint8(n) => raw(out, buf.format(*n)),
        Value::Sint8(n) => raw(out, buf.format(*n)),
        Value::Uint16(n) => raw(out, buf.format(*n)),
        Value::Sint16(n) => raw(out, buf.format(*n)),
        Value::Uint32(n) => raw(out, buf.format(*n)),
        Value::Sint32(n) => raw(out, buf.format(*n)),
        Value::Uint64(n) => raw(out, buf.format(*n)),
        Value::Sint64(n) => raw(out, buf.format(*n)),
        Value::DateTime(d) => escape(out, d.as_str()),
        Value::Instance(inst) => {
            let mut inner = Vec::new();
            write_instance(inst, &mut inner);
            escape(out, std::str::from_utf8(&inner).unwrap_or_default());
        }
        Value::Class(class) => {
            let mut inner = Vec::new();
            write_class(class, &mut inner);
            escape(out, std::str::from_utf8(&inner).unwrap_or_default());
        }
        other => {
            if let Some(t) = other.to_xml_text() {
                escape(out, &t);
            }
        }
    }
}

/// `<VALUE>text</VALUE>` for a non-NULL scalar.
fn value_element(out: &mut Vec<u8>, v: &Value) {
    raw(out, "<VALUE>");
    scalar_text(out, v);
    raw(out, "</VALUE>");
}

fn value_array(out: &mut Vec<u8>, items: &[Value]) {
    raw(out, "<VALUE.ARRAY>");
    for item in items {
        if item.is_null() {
            raw(out, "<VALUE.NULL/>");
        } else {
            value_element(out, item);
        }
    }
    raw(out, "</VALUE.ARRAY>");
}

fn value_refarray(out: &mut Vec<u8>, items: &[Value]) {
    raw(out, "<VALUE.REFARRAY>");
    for item in items {
        match item {
            Value::Reference(p) => value_reference(out, p),
            _ => raw(out, "<VALUE.NULL/>"),
        }
    }
    raw(out, "</VALUE.REFARRAY>");
}

fn is_ref_array(items: &[Value]) -> bool {
    items.iter().any(|v| matches!(v, Value::Reference(_)))
}

/// `VALUE.REFERENCE` around the path element that fits what the path holds.
fn value_reference(out: &mut Vec<u8>, p: &ObjectPath) {
    raw(out, "<VALUE.REFERENCE>");
    match (&p.host, &p.namespace, p.keys.is_empty()) {
        (Some(_), Some(_), false) => write_instance_path(p, out),
        (Some(_), Some(_), true) => class_path(out, p),
        (None, Some(ns), false) => {
            raw(out, "<LOCALINSTANCEPATH>");
            local_namespace_path(out, ns);
            write_instance_name(p, out);
            raw(out, "</LOCALINSTANCEPATH>");
        }
        (None, Some(ns), true) => {
            raw(out, "<LOCALCLASSPATH>");
            local_namespace_path(out, ns);
            write_class_name(&p.class_name, out);
            raw(out, "</LOCALCLASSPATH>");
        }
        (_, None, false) => write_instance_name(p, out),
        (_, None, true) => write_class_name(&p.class_name, out),
    }
    raw(out, "</VALUE.REFERENCE>");
}

fn local_namespace_path(out: &mut Vec<u8>, ns: &str) {
    raw(out, "<LOCALNAMESPACEPATH>");
    let mut parts = 0;
    for part in ns.split('/').filter(|s| !s.is_empty()) {
        raw(out, "<NAMESPACE");
        attr(out, "NAME", part);
        raw(out, "/>");
        parts += 1;
    }
    if parts == 0 {
        // DSP0201 needs one NAMESPACE; a path that should have named its
        // namespace but did not gets an empty one rather than an invalid document.
        raw(out, "<NAMESPACE NAME=\"\"/>");
    }
    raw(out, "</LOCALNAMESPACEPATH>");
}

fn namespace_path(out: &mut Vec<u8>, host: Option<&str>, ns: &str) {
    raw(out, "<NAMESPACEPATH>");
    text_element(out, "HOST", host.unwrap_or("localhost"));
    local_namespace_path(out, ns);
    raw(out, "</NAMESPACEPATH>");
}

fn class_path(out: &mut Vec<u8>, p: &ObjectPath) {
    raw(out, "<CLASSPATH>");
    namespace_path(out, p.host.as_deref(), p.namespace.as_deref().unwrap_or(""));
    write_class_name(&p.class_name, out);
    raw(out, "</CLASSPATH>");
}

fn key_binding(out: &mut Vec<u8>, k: &KeyBinding) {
    raw(out, "<KEYBINDING");
    attr(out, "NAME", k.name.as_str());
    out.push(b'>');
    match &k.value {
        Value::Reference(p) => value_reference(out, p),
        v => key_value(out, v),
    }
    raw(out, "</KEYBINDING>");
}

/// `KEYVALUE` with `VALUETYPE` and `TYPE` (DSP0201 2.4 §3.2.5.7), so the
/// exact type survives the trip.
fn key_value(out: &mut Vec<u8>, v: &Value) {
    // DSP0203 2.4.0 declares TYPE #REQUIRED on KEYVALUE; pywbem always sends it.
    let (vt, ty) = match v {
        Value::String(_) | Value::Null => ("string", Some("string")),
        Value::Boolean(_) => ("boolean", Some("boolean")),
        Value::Char16(_) | Value::DateTime(_) => ("string", v.cim_type().map(|t| t.xml_name())),
        other => ("numeric", other.cim_type().map(|t| t.xml_name())),
    };
    raw(out, "<KEYVALUE");
    attr(out, "VALUETYPE", vt);
    if let Some(t) = ty {
        attr(out, "TYPE", t);
    }
    out.push(b'>');
    if !v.is_null() {
        scalar_text(out, v);
    }
    raw(out, "</KEYVALUE>");
}

fn flavor_attrs(out: &mut Vec<u8>, f: &Flavors) {
    // Only non-default flavors are written, as pywbem and Pegasus do.
    if !f.overridable {
        attr_bool(out, "OVERRIDABLE", false);
    }
    if !f.to_subclass {
        attr_bool(out, "TOSUBCLASS", false);
    }
    if f.to_instance {
        attr_bool(out, "TOINSTANCE", true);
    }
    if f.translatable {
        attr_bool(out, "TRANSLATABLE", true);
    }
}

fn qualifier(out: &mut Vec<u8>, q: &Qualifier) {
    raw(out, "<QUALIFIER");
    attr(out, "NAME", q.name.as_str());
    attr(out, "TYPE", q.ty.xml_name());
    if q.propagated {
        attr_bool(out, "PROPAGATED", true);
    }
    flavor_attrs(out, &q.flavors);
    out.push(b'>');
    match &q.value {
        Value::Null => {}
        Value::Array(items) => value_array(out, items),
        v => value_element(out, v),
    }
    raw(out, "</QUALIFIER>");
}

fn qualifiers(out: &mut Vec<u8>, qs: &[Qualifier]) {
    for q in qs {
        qualifier(out, q);
    }
}

fn origin_attrs(out: &mut Vec<u8>, class_origin: &Option<CimName>, propagated: bool) {
    if let Some(o) = class_origin {
        attr(out, "CLASSORIGIN", o.as_str());
    }
    if propagated {
        attr_bool(out, "PROPAGATED", true);
    }
}

fn property(out: &mut Vec<u8>, p: &Property) {
    if let CimType::Reference(class) = &p.ty {
        raw(out, "<PROPERTY.REFERENCE");
        attr(out, "NAME", p.name.as_str());
        if let Some(c) = class {
            attr(out, "REFERENCECLASS", c.as_str());
        }
        origin_attrs(out, &p.class_origin, p.propagated);
        out.push(b'>');
        qualifiers(out, &p.qualifiers);
        if let Value::Reference(path) = &p.value {
            value_reference(out, path);
        }
        raw(out, "</PROPERTY.REFERENCE>");
    } else if p.is_array || matches!(p.value, Value::Array(_)) {
        raw(out, "<PROPERTY.ARRAY");
        attr(out, "NAME", p.name.as_str());
        attr_static(out, "TYPE", p.ty.xml_name());
        if let Some(n) = p.array_size {
            attr(out, "ARRAYSIZE", itoa::Buffer::new().format(n));
        }
        origin_attrs(out, &p.class_origin, p.propagated);
        embedded_attr(out, &p.ty, &p.value);
        out.push(b'>');
        qualifiers(out, &p.qualifiers);
        if let Value::Array(items) = &p.value {
            value_array(out, items);
        }
        raw(out, "</PROPERTY.ARRAY>");
    } else {
        raw(out, "<PROPERTY");
        attr(out, "NAME", p.name.as_str());
        attr_static(out, "TYPE", p.ty.xml_name());
        origin_attrs(out, &p.class_origin, p.propagated);
        embedded_attr(out, &p.ty, &p.value);
        out.push(b'>');
        qualifiers(out, &p.qualifiers);
        if !p.value.is_null() {
            value_element(out, &p.value);
        }
        raw(out, "</PROPERTY>");
    }
}

fn parameter(out: &mut Vec<u8>, p: &Parameter) {
    let (elem, class) = match (&p.ty, p.is_array) {
        (CimType::Reference(c), false) => ("PARAMETER.REFERENCE", Some(c)),
        (CimType::Reference(c), true) => ("PARAMETER.REFARRAY", Some(c)),
        (_, false) => ("PARAMETER", None),
        (_, true) => ("PARAMETER.ARRAY", None),
    };
    open(out, elem);
    attr(out, "NAME", p.name.as_str());
    match class {
        Some(Some(c)) => attr(out, "REFERENCECLASS", c.as_str()),
        Some(None) => {}
        None => attr(out, "TYPE", p.ty.xml_name()),
    }
    if p.is_array {
        if let Some(n) = p.array_size {
            attr(out, "ARRAYSIZE", itoa::Buffer::new().format(n));
        }
    }
    out.push(b'>');
    qualifiers(out, &p.qualifiers);
    close(out, elem);
}

fn method(out: &mut Vec<u8>, m: &Method) {
    raw(out, "<METHOD");
    attr(out, "NAME", m.name.as_str());
    attr(out, "TYPE", m.return_type.xml_name());
    origin_attrs(out, &m.class_origin, m.propagated);
    out.push(b'>');
    qualifiers(out, &m.qualifiers);
    for p in &m.parameters {
        parameter(out, p);
    }
    raw(out, "</METHOD>");
}

fn scope(out: &mut Vec<u8>, s: &Scopes) {
    raw(out, "<SCOPE");
    attr_bool(out, "CLASS", s.class);
    attr_bool(out, "ASSOCIATION", s.association);
    attr_bool(out, "REFERENCE", s.reference);
    attr_bool(out, "PROPERTY", s.property);
    attr_bool(out, "METHOD", s.method);
    attr_bool(out, "PARAMETER", s.parameter);
    attr_bool(out, "INDICATION", s.indication);
    raw(out, "/>");
}

// ---------------------------------------------------------------------------
// Public pieces

/// Writes an `INSTANCE` element (qualifiers, then properties in order).
pub fn write_instance(inst: &Instance, out: &mut Vec<u8>) {
    raw(out, "<INSTANCE");
    attr(out, "CLASSNAME", inst.class_name.as_str());
    out.push(b'>');
    qualifiers(out, &inst.qualifiers);
    for p in &inst.properties {
        property(out, p);
    }
    raw(out, "</INSTANCE>");
}

/// Writes a `CLASS` element (qualifiers, properties, methods).
pub fn write_class(class: &Class, out: &mut Vec<u8>) {
    raw(out, "<CLASS");
    attr(out, "NAME", class.name.as_str());
    if let Some(s) = &class.superclass {
        attr(out, "SUPERCLASS", s.as_str());
    }
    out.push(b'>');
    qualifiers(out, &class.qualifiers);
    for p in &class.properties {
        property(out, p);
    }
    for m in &class.methods {
        method(out, m);
    }
    raw(out, "</CLASS>");
}

/// Writes a value as it appears inside a property, qualifier or parameter:
/// `VALUE`, `VALUE.ARRAY`, `VALUE.REFERENCE` or `VALUE.REFARRAY`; nothing for NULL.
pub fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => {}
        Value::Reference(p) => value_reference(out, p),
        Value::Array(items) if is_ref_array(items) => value_refarray(out, items),
        Value::Array(items) => value_array(out, items),
        v => value_element(out, v),
    }
}

/// Writes a `CLASSNAME` element.
pub fn write_class_name(name: &CimName, out: &mut Vec<u8>) {
    raw(out, "<CLASSNAME");
    attr(out, "NAME", name.as_str());
    raw(out, "/>");
}

/// Writes an `INSTANCENAME` (class name and key bindings; host and namespace
/// of `path` are not written).
pub fn write_instance_name(path: &ObjectPath, out: &mut Vec<u8>) {
    raw(out, "<INSTANCENAME");
    attr(out, "CLASSNAME", path.class_name.as_str());
    out.push(b'>');
    for k in &path.keys {
        if k.name.as_str().is_empty() {
            // A single unnamed key (DSP0201 allows INSTANCENAME/KEYVALUE).
            match &k.value {
                Value::Reference(p) => value_reference(out, p),
                v => key_value(out, v),
            }
        } else {
            key_binding(out, k);
        }
    }
    raw(out, "</INSTANCENAME>");
}

/// Writes an `INSTANCEPATH` (`NAMESPACEPATH` with `HOST` — `localhost` when
/// the path has none — then `INSTANCENAME`). A path without namespace is
/// written as a bare `INSTANCENAME`, since `INSTANCEPATH` requires one.
pub fn write_instance_path(path: &ObjectPath, out: &mut Vec<u8>) {
    match &path.namespace {
        Some(ns) => {
            raw(out, "<INSTANCEPATH>");
            namespace_path(out, path.host.as_deref(), ns);
            write_instance_name(path, out);
            raw(out, "</INSTANCEPATH>");
        }
        None => write_instance_name(path, out),
    }
}

/// Writes an `OBJECTPATH` holding an `INSTANCEPATH`, or a `CLASSPATH` when the
/// path has no keys.
pub fn write_object_path(path: &ObjectPath, out: &mut Vec<u8>) {
    raw(out, "<OBJECTPATH>");
    if path.keys.is_empty() {
        class_path(out, path);
    } else {
        let mut p = path.clone();
        if p.namespace.is_none() {
            p.namespace = Some(String::new());
        }
        write_instance_path(&p, out);
    }
    raw(out, "</OBJECTPATH>");
}

/// Writes a `QUALIFIER.DECLARATION` with its `SCOPE` and default value.
pub fn write_qualifier_decl(decl: &QualifierDecl, out: &mut Vec<u8>) {
    raw(out, "<QUALIFIER.DECLARATION");
    attr(out, "NAME", decl.name.as_str());
    attr(out, "TYPE", decl.ty.xml_name());
    if decl.is_array {
        attr_bool(out, "ISARRAY", true);
        if let Some(n) = decl.array_size {
            attr(out, "ARRAYSIZE", itoa::Buffer::new().format(n));
        }
    }
    flavor_attrs(out, &decl.flavors);
    out.push(b'>');
    scope(out, &decl.scopes);
    match &decl.default {
        Value::Null => {}
        Value::Array(items) => value_array(out, items),
        v => value_element(out, v),
    }
    raw(out, "</QUALIFIER.DECLARATION>");
}

/// Writes a `VALUE.NAMEDINSTANCE`.
pub(super) fn write_value_named_instance(inst: &Instance, out: &mut Vec<u8>) {
    raw(out, "<VALUE.NAMEDINSTANCE>");
    match &inst.path {
        Some(p) => write_instance_name(p, out),
        None => write_instance_name(&ObjectPath::class(None, inst.class_name.clone()), out),
    }
    write_instance(inst, out);
    raw(out, "</VALUE.NAMEDINSTANCE>");
}

/// Writes a `VALUE.INSTANCEWITHPATH` (`INSTANCEPATH` from `inst.path`, then
/// the `INSTANCE`), as pull responses carry.
pub fn write_value_instance_with_path(inst: &Instance, out: &mut Vec<u8>) {
    raw(out, "<VALUE.INSTANCEWITHPATH>");
    let mut p = inst
        .path
        .clone()
        .unwrap_or_else(|| ObjectPath::class(None, inst.class_name.clone()));
    if p.namespace.is_none() {
        p.namespace = Some(String::new());
    }
    write_instance_path(&p, out);
    write_instance(inst, out);
    raw(out, "</VALUE.INSTANCEWITHPATH>");
}

fn xml_head(out: &mut Vec<u8>, id: &str, protocol_version: &str) {
    raw(
        out,
        "<?xml version=\"1.0\" encoding=\"utf-8\" ?>\n<CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\"><MESSAGE",
    );
    attr(out, "ID", id);
    attr(out, "PROTOCOLVERSION", protocol_version);
    out.push(b'>');
}

fn xml_tail(out: &mut Vec<u8>) {
    raw(out, "</MESSAGE></CIM>\n");
}

pub(super) fn write_imethod_response_head(id: &str, method: &str, out: &mut Vec<u8>) {
    xml_head(out, id, "1.0");
    raw(out, "<SIMPLERSP><IMETHODRESPONSE");
    attr(out, "NAME", method);
    raw(out, "><IRETURNVALUE>");
}

pub(super) fn write_imethod_response_tail(out: &mut Vec<u8>) {
    raw(out, "</IRETURNVALUE></IMETHODRESPONSE></SIMPLERSP>");
    xml_tail(out);
}

/// Closes a streamed pull-operation response: `</IRETURNVALUE>`, the
/// `EnumerationContext` and `EndOfSequence` output `PARAMVALUE`s (DSP0200 1.4
/// §5.3.2), then the rest of the document.
pub fn write_pull_response_tail(
    end_of_sequence: bool,
    enumeration_context: Option<&str>,
    out: &mut Vec<u8>,
) {
    raw(out, "</IRETURNVALUE>");
    pull_params(out, end_of_sequence, enumeration_context);
    raw(out, "</IMETHODRESPONSE></SIMPLERSP>");
    xml_tail(out);
}

fn pull_params(out: &mut Vec<u8>, end_of_sequence: bool, ctx: Option<&str>) {
    raw(
        out,
        "<PARAMVALUE NAME=\"EnumerationContext\" PARAMTYPE=\"string\">",
    );
    if let Some(c) = ctx {
        text_element(out, "VALUE", c);
    }
    raw(
        out,
        "</PARAMVALUE><PARAMVALUE NAME=\"EndOfSequence\" PARAMTYPE=\"boolean\"><VALUE>",
    );
    raw(out, if end_of_sequence { "TRUE" } else { "FALSE" });
    raw(out, "</VALUE></PARAMVALUE>");
}

// ---------------------------------------------------------------------------
// Whole messages

pub(super) fn write_message(msg: &Message, out: &mut Vec<u8>) {
    xml_head(out, &msg.id, &msg.protocol_version);
    match &msg.body {
        MessageBody::IMethodCall(call) => {
            raw(out, "<SIMPLEREQ>");
            imethod_call(out, call);
            raw(out, "</SIMPLEREQ>");
        }
        MessageBody::MethodCall(call) => {
            raw(out, "<SIMPLEREQ>");
            method_call(out, call);
            raw(out, "</SIMPLEREQ>");
        }
        MessageBody::IMethodResponse(resp) => {
            raw(out, "<SIMPLERSP>");
            imethod_response(out, resp);
            raw(out, "</SIMPLERSP>");
        }
        MessageBody::MethodResponse(resp) => {
            raw(out, "<SIMPLERSP>");
            method_response(out, resp);
            raw(out, "</SIMPLERSP>");
        }
        MessageBody::ExportIndication(inst) => {
            raw(
                out,
                "<SIMPLEEXPREQ><EXPMETHODCALL NAME=\"ExportIndication\"><EXPPARAMVALUE NAME=\"NewIndication\">",
            );
            write_instance(inst, out);
            raw(out, "</EXPPARAMVALUE></EXPMETHODCALL></SIMPLEEXPREQ>");
        }
        MessageBody::ExportResponse(result) => {
            raw(
                out,
                "<SIMPLEEXPRSP><EXPMETHODRESPONSE NAME=\"ExportIndication\">",
            );
            match result {
                Ok(()) => raw(out, "<IRETURNVALUE></IRETURNVALUE>"),
                Err(e) => error(out, e),
            }
            raw(out, "</EXPMETHODRESPONSE></SIMPLEEXPRSP>");
        }
    }
    xml_tail(out);
}

fn error(out: &mut Vec<u8>, e: &CimError) {
    raw(out, "<ERROR");
    attr(out, "CODE", itoa::Buffer::new().format(e.status.code()));
    if !e.description.is_empty() {
        attr(out, "DESCRIPTION", &e.description);
    }
    raw(out, "/>");
}

// --- requests ---------------------------------------------------------------

/// An `IPARAMVALUE` writer: one call per parameter.
struct IParams<'a> {
    out: &'a mut Vec<u8>,
}

impl IParams<'_> {
    fn start(&mut self, name: &str) {
        raw(self.out, "<IPARAMVALUE");
        attr(self.out, "NAME", name);
        self.out.push(b'>');
    }
    fn end(&mut self) {
        raw(self.out, "</IPARAMVALUE>");
    }
    fn boolean(&mut self, name: &str, v: bool) {
        self.start(name);
        raw(
            self.out,
            if v {
                "<VALUE>TRUE</VALUE>"
            } else {
                "<VALUE>FALSE</VALUE>"
            },
        );
        self.end();
    }
    fn string(&mut self, name: &str, v: &str) {
        self.start(name);
        text_element(self.out, "VALUE", v);
        self.end();
    }
    fn opt_string(&mut self, name: &str, v: &Option<String>) {
        if let Some(s) = v {
            self.string(name, s);
        }
    }
    fn uint(&mut self, name: &str, v: u32) {
        self.start(name);
        raw(self.out, "<VALUE>");
        raw(self.out, itoa::Buffer::new().format(v));
        raw(self.out, "</VALUE>");
        self.end();
    }
    fn class_name(&mut self, name: &str, v: &CimName) {
        self.start(name);
        write_class_name(v, self.out);
        self.end();
    }
    fn opt_class_name(&mut self, name: &str, v: &Option<CimName>) {
        if let Some(c) = v {
            self.class_name(name, c);
        }
    }
    fn instance_name(&mut self, name: &str, v: &ObjectPath) {
        self.start(name);
        write_instance_name(v, self.out);
        self.end();
    }
    /// `ObjectName`: an `INSTANCENAME`, or a `CLASSNAME` for a keyless path.
    fn object_name(&mut self, name: &str, v: &ObjectPath) {
        if v.keys.is_empty() {
            self.class_name(name, &v.class_name);
        } else {
            self.instance_name(name, v);
        }
    }
    fn property_list(&mut self, v: &Option<Vec<CimName>>) {
        if let Some(list) = v {
            self.start("PropertyList");
            raw(self.out, "<VALUE.ARRAY>");
            for p in list {
                text_element(self.out, "VALUE", p.as_str());
            }
            raw(self.out, "</VALUE.ARRAY>");
            self.end();
        }
    }
    fn pull(&mut self, p: &PullParams) {
        self.opt_string("FilterQueryLanguage", &p.filter_query_language);
        self.opt_string("FilterQuery", &p.filter_query);
        if let Some(t) = p.operation_timeout {
            self.uint("OperationTimeout", t);
        }
        self.boolean("ContinueOnError", p.continue_on_error);
        self.uint("MaxObjectCount", p.max_object_count);
    }
}

fn imethod_call(out: &mut Vec<u8>, call: &IMethodCall) {
    let op = &call.operation;
    raw(out, "<IMETHODCALL");
    attr(out, "NAME", op.name());
    out.push(b'>');
    local_namespace_path(out, &call.namespace);
    let mut w = IParams { out };
    use Operation as O;
    match op {
        O::GetClass {
            class_name,
            local_only,
            include_qualifiers,
            include_class_origin,
            property_list,
        } => {
            w.class_name("ClassName", class_name);
            w.boolean("LocalOnly", *local_only);
            w.boolean("IncludeQualifiers", *include_qualifiers);
            w.boolean("IncludeClassOrigin", *include_class_origin);
            w.property_list(property_list);
        }
        O::EnumerateClasses {
            class_name,
            deep_inheritance,
            local_only,
            include_qualifiers,
            include_class_origin,
        } => {
            w.opt_class_name("ClassName", class_name);
            w.boolean("DeepInheritance", *deep_inheritance);
            w.boolean("LocalOnly", *local_only);
            w.boolean("IncludeQualifiers", *include_qualifiers);
            w.boolean("IncludeClassOrigin", *include_class_origin);
        }
        O::EnumerateClassNames {
            class_name,
            deep_inheritance,
        } => {
            w.opt_class_name("ClassName", class_name);
            w.boolean("DeepInheritance", *deep_inheritance);
        }
        O::CreateClass { new_class } => {
            w.start("NewClass");
            write_class(new_class, w.out);
            w.end();
        }
        O::ModifyClass { modified_class } => {
            w.start("ModifiedClass");
            write_class(modified_class, w.out);
            w.end();
        }
        O::DeleteClass { class_name } => w.class_name("ClassName", class_name),
        O::GetInstance {
            instance_name,
            local_only,
            include_qualifiers,
            include_class_origin,
            property_list,
        } => {
            w.instance_name("InstanceName", instance_name);
            w.boolean("LocalOnly", *local_only);
            w.boolean("IncludeQualifiers", *include_qualifiers);
            w.boolean("IncludeClassOrigin", *include_class_origin);
            w.property_list(property_list);
        }
        O::EnumerateInstances {
            class_name,
            local_only,
            deep_inheritance,
            include_qualifiers,
            include_class_origin,
            property_list,
        } => {
            w.class_name("ClassName", class_name);
            w.boolean("LocalOnly", *local_only);
            w.boolean("DeepInheritance", *deep_inheritance);
            w.boolean("IncludeQualifiers", *include_qualifiers);
            w.boolean("IncludeClassOrigin", *include_class_origin);
            w.property_list(property_list);
        }
        O::EnumerateInstanceNames { class_name } => w.class_name("ClassName", class_name),
        O::CreateInstance { new_instance } => {
            w.start("NewInstance");
            write_instance(new_instance, w.out);
            w.end();
        }
        O::ModifyInstance {
            modified_instance,
            include_qualifiers,
            property_list,
        } => {
            w.start("ModifiedInstance");
            write_value_named_instance(modified_instance, w.out);
            w.end();
            w.boolean("IncludeQualifiers", *include_qualifiers);
            w.property_list(property_list);
        }
        O::DeleteInstance { instance_name } => w.instance_name("InstanceName", instance_name),
        O::Associators {
            object_name,
            assoc_class,
            result_class,
            role,
            result_role,
            include_qualifiers,
            include_class_origin,
            property_list,
        } => {
            w.object_name("ObjectName", object_name);
            w.opt_class_name("AssocClass", assoc_class);
            w.opt_class_name("ResultClass", result_class);
            w.opt_string("Role", role);
            w.opt_string("ResultRole", result_role);
            w.boolean("IncludeQualifiers", *include_qualifiers);
            w.boolean("IncludeClassOrigin", *include_class_origin);
            w.property_list(property_list);
        }
        O::AssociatorNames {
            object_name,
            assoc_class,
            result_class,
            role,
            result_role,
        } => {
            w.object_name("ObjectName", object_name);
            w.opt_class_name("AssocClass", assoc_class);
            w.opt_class_name("ResultClass", result_class);
            w.opt_string("Role", role);
            w.opt_string("ResultRole", result_role);
        }
        O::References {
            object_name,
            result_class,
            role,
            include_qualifiers,
            include_class_origin,
            property_list,
        } => {
            w.object_name("ObjectName", object_name);
            w.opt_class_name("ResultClass", result_class);
            w.opt_string("Role", role);
            w.boolean("IncludeQualifiers", *include_qualifiers);
            w.boolean("IncludeClassOrigin", *include_class_origin);
            w.property_list(property_list);
        }
        O::ReferenceNames {
            object_name,
            result_class,
            role,
        } => {
            w.object_name("ObjectName", object_name);
            w.opt_class_name("ResultClass", result_class);
            w.opt_string("Role", role);
        }
        O::GetProperty {
            instance_name,
            property_name,
        } => {
            w.instance_name("InstanceName", instance_name);
            w.string("PropertyName", property_name.as_str());
        }
        O::SetProperty {
            instance_name,
            property_name,
            new_value,
        } => {
            w.instance_name("InstanceName", instance_name);
            w.string("PropertyName", property_name.as_str());
            if !new_value.is_null() {
                w.start("NewValue");
                write_value(new_value, w.out);
                w.end();
            }
        }
        O::ExecQuery {
            query_language,
            query,
        } => {
            w.string("QueryLanguage", query_language);
            w.string("Query", query);
        }
        O::GetQualifier { qualifier_name } | O::DeleteQualifier { qualifier_name } => {
            w.string("QualifierName", qualifier_name.as_str())
        }
        O::SetQualifier {
            qualifier_declaration,
        } => {
            w.start("QualifierDeclaration");
            write_qualifier_decl(qualifier_declaration, w.out);
            w.end();
        }
        O::EnumerateQualifiers => {}
        O::OpenEnumerateInstances {
            class_name,
            deep_inheritance,
            include_class_origin,
            property_list,
            pull,
        } => {
            w.class_name("ClassName", class_name);
            w.boolean("DeepInheritance", *deep_inheritance);
            w.boolean("IncludeClassOrigin", *include_class_origin);
            w.property_list(property_list);
            w.pull(pull);
        }
        O::OpenEnumerateInstancePaths { class_name, pull } => {
            w.class_name("ClassName", class_name);
            w.pull(pull);
        }
        O::OpenAssociatorInstances {
            instance_name,
            assoc_class,
            result_class,
            role,
            result_role,
            include_class_origin,
            property_list,
            pull,
        } => {
            w.instance_name("InstanceName", instance_name);
            w.opt_class_name("AssocClass", assoc_class);
            w.opt_class_name("ResultClass", result_class);
            w.opt_string("Role", role);
            w.opt_string("ResultRole", result_role);
            w.boolean("IncludeClassOrigin", *include_class_origin);
            w.property_list(property_list);
            w.pull(pull);
        }
        O::OpenAssociatorInstancePaths {
            instance_name,
            assoc_class,
            result_class,
            role,
            result_role,
            pull,
        } => {
            w.instance_name("InstanceName", instance_name);
            w.opt_class_name("AssocClass", assoc_class);
            w.opt_class_name("ResultClass", result_class);
            w.opt_string("Role", role);
            w.opt_string("ResultRole", result_role);
            w.pull(pull);
        }
        O::OpenReferenceInstances {
            instance_name,
            result_class,
            role,
            include_class_origin,
            property_list,
            pull,
        } => {
            w.instance_name("InstanceName", instance_name);
            w.opt_class_name("ResultClass", result_class);
            w.opt_string("Role", role);
            w.boolean("IncludeClassOrigin", *include_class_origin);
            w.property_list(property_list);
            w.pull(pull);
        }
        O::OpenReferenceInstancePaths {
            instance_name,
            result_class,
            role,
            pull,
        } => {
            w.instance_name("InstanceName", instance_name);
            w.opt_class_name("ResultClass", result_class);
            w.opt_string("Role", role);
            w.pull(pull);
        }
        O::OpenQueryInstances {
            filter_query_language,
            filter_query,
            return_query_result_class,
            pull,
        } => {
            w.string("FilterQueryLanguage", filter_query_language);
            w.string("FilterQuery", filter_query);
            w.boolean("ReturnQueryResultClass", *return_query_result_class);
            // FilterQuery* are already written: only the common rest of `pull`.
            if let Some(t) = pull.operation_timeout {
                w.uint("OperationTimeout", t);
            }
            w.boolean("ContinueOnError", pull.continue_on_error);
            w.uint("MaxObjectCount", pull.max_object_count);
        }
        O::PullInstancesWithPath {
            enumeration_context,
            max_object_count,
        }
        | O::PullInstancePaths {
            enumeration_context,
            max_object_count,
        }
        | O::PullInstances {
            enumeration_context,
            max_object_count,
        } => {
            w.string("EnumerationContext", enumeration_context);
            w.uint("MaxObjectCount", *max_object_count);
        }
        O::CloseEnumeration {
            enumeration_context,
        }
        | O::EnumerationCount {
            enumeration_context,
        } => w.string("EnumerationContext", enumeration_context),
    }
    raw(out, "</IMETHODCALL>");
}

/// `PARAMTYPE` (and `EmbeddedObject`) attributes of a `PARAMVALUE` or `RETURNVALUE`.
fn param_type_attrs(out: &mut Vec<u8>, ty: Option<&CimType>, value: &Value) {
    let inferred;
    let ty = match ty {
        Some(t) => Some(t),
        None => {
            inferred = value.cim_type();
            inferred.as_ref()
        }
    };
    if let Some(t) = ty {
        attr(out, "PARAMTYPE", t.xml_name());
        embedded_attr(out, t, value);
    }
}

fn param_value(out: &mut Vec<u8>, p: &ParamValue) {
    raw(out, "<PARAMVALUE");
    attr(out, "NAME", p.name.as_str());
    param_type_attrs(out, p.ty.as_ref(), &p.value);
    out.push(b'>');
    match (&p.ty, &p.value) {
        // A reference array stays a VALUE.REFARRAY even when empty or all NULL.
        (Some(CimType::Reference(_)), Value::Array(items)) => value_refarray(out, items),
        (_, v) => write_value(v, out),
    }
    raw(out, "</PARAMVALUE>");
}

fn method_call(out: &mut Vec<u8>, call: &MethodCall) {
    raw(out, "<METHODCALL");
    attr(out, "NAME", call.method.as_str());
    out.push(b'>');
    if call.target.keys.is_empty() {
        raw(out, "<LOCALCLASSPATH>");
        local_namespace_path(out, &call.namespace);
        write_class_name(&call.target.class_name, out);
        raw(out, "</LOCALCLASSPATH>");
    } else {
        raw(out, "<LOCALINSTANCEPATH>");
        local_namespace_path(out, &call.namespace);
        write_instance_name(&call.target, out);
        raw(out, "</LOCALINSTANCEPATH>");
    }
    for p in &call.params {
        param_value(out, p);
    }
    raw(out, "</METHODCALL>");
}

// --- responses ---------------------------------------------------------------

fn imethod_response(out: &mut Vec<u8>, resp: &IMethodResponse) {
    raw(out, "<IMETHODRESPONSE");
    attr(out, "NAME", &resp.name);
    out.push(b'>');
    match &resp.result {
        Err(e) => error(out, e),
        Ok(r) => response(out, r),
    }
    raw(out, "</IMETHODRESPONSE>");
}

fn response(out: &mut Vec<u8>, r: &Response) {
    if matches!(r, Response::Empty) {
        return;
    }
    raw(out, "<IRETURNVALUE>");
    match r {
        Response::Empty => {}
        Response::Rendered(b) => out.extend_from_slice(b),
        Response::Class(c) => write_class(c, out),
        Response::Classes(cs) => cs.iter().for_each(|c| write_class(c, out)),
        Response::ClassNames(ns) => ns.iter().for_each(|n| write_class_name(n, out)),
        Response::Instance(i) => write_instance(i, out),
        Response::NamedInstances(is) => is.iter().for_each(|i| write_value_named_instance(i, out)),
        Response::SharedNamedInstances(is) => {
            is.iter().for_each(|i| write_value_named_instance(i, out))
        }
        Response::InstanceNames(ps) => ps.iter().for_each(|p| write_instance_name(p, out)),
        Response::InstanceName(p) => write_instance_name(p, out),
        Response::ObjectsWithPath(objs) => {
            for (path, obj) in objs {
                if path.namespace.is_none() {
                    // No namespace to give: VALUE.NAMEDOBJECT keeps the
                    // instance name, VALUE.OBJECT carries just the object.
                    match obj {
                        CimObject::Instance(i) if !path.keys.is_empty() => {
                            raw(out, "<VALUE.NAMEDOBJECT>");
                            write_instance_name(path, out);
                            write_instance(i, out);
                            raw(out, "</VALUE.NAMEDOBJECT>");
                        }
                        CimObject::Instance(i) => {
                            raw(out, "<VALUE.OBJECT>");
                            write_instance(i, out);
                            raw(out, "</VALUE.OBJECT>");
                        }
                        CimObject::Class(c) => {
                            raw(out, "<VALUE.OBJECT>");
                            write_class(c, out);
                            raw(out, "</VALUE.OBJECT>");
                        }
                    }
                    continue;
                }
                raw(out, "<VALUE.OBJECTWITHPATH>");
                match obj {
                    CimObject::Class(c) => {
                        class_path(out, path);
                        write_class(c, out);
                    }
                    CimObject::Instance(i) => {
                        let mut p = path.clone();
                        if p.namespace.is_none() {
                            p.namespace = Some(String::new());
                        }
                        write_instance_path(&p, out);
                        write_instance(i, out);
                    }
                }
                raw(out, "</VALUE.OBJECTWITHPATH>");
            }
        }
        Response::ObjectPaths(ps) => ps.iter().for_each(|p| write_object_path(p, out)),
        Response::PropertyValue(v) => write_value(v, out),
        Response::QualifierDecl(d) => write_qualifier_decl(d, out),
        Response::QualifierDecls(ds) => ds.iter().for_each(|d| write_qualifier_decl(d, out)),
        Response::Pull(p) => {
            pull_items(out, p);
            raw(out, "</IRETURNVALUE>");
            pull_params(out, p.end_of_sequence, p.enumeration_context.as_deref());
            if let Some(c) = &p.query_result_class {
                // OpenQueryInstances' QueryResultClass output parameter (DSP0200 1.4 §5.3.2.8).
                raw(out, "<PARAMVALUE NAME=\"QueryResultClass\">");
                write_class(c, out);
                raw(out, "</PARAMVALUE>");
            }
            return;
        }
        Response::Count(c) => {
            if let Some(n) = c {
                value_element(out, &Value::Uint64(*n));
            }
        }
    }
    raw(out, "</IRETURNVALUE>");
}

fn pull_items(out: &mut Vec<u8>, p: &PullResult) {
    match &p.items {
        PullItems::InstancesWithPath(is) => is
            .iter()
            .for_each(|i| write_value_instance_with_path(i, out)),
        PullItems::InstancePaths(ps) => {
            for path in ps {
                let mut q = path.clone();
                if q.namespace.is_none() {
                    q.namespace = Some(String::new());
                }
                write_instance_path(&q, out);
            }
        }
        PullItems::Instances(is) => is.iter().for_each(|i| write_instance(i, out)),
    }
}

fn method_response(out: &mut Vec<u8>, resp: &MethodResponse) {
    raw(out, "<METHODRESPONSE");
    attr(out, "NAME", resp.name.as_str());
    out.push(b'>');
    match &resp.result {
        Err(e) => error(out, e),
        Ok(r) => {
            raw(out, "<RETURNVALUE");
            param_type_attrs(out, r.return_type.as_ref(), &r.return_value);
            out.push(b'>');
            write_value(&r.return_value, out);
            raw(out, "</RETURNVALUE>");
            for p in &r.out_params {
                param_value(out, p);
            }
        }
    }
    raw(out, "</METHODRESPONSE>");
}

#[cfg(test)]
mod escape_tests {
    use super::*;

    fn slow_first_special(bytes: &[u8]) -> usize {
        bytes
            .iter()
            .position(|&b| b < 0x20 || matches!(b, b'<' | b'>' | b'&' | b'"' | 0xEF))
            .unwrap_or(bytes.len())
    }

    #[test]
    fn fast_scan_never_skips_a_byte_that_needs_escaping() {
        let mut samples: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"plain text without anything".to_vec(),
            b"0123456<".to_vec(),
            b"01234567<".to_vec(),
            b"a\tb".to_vec(),
            b"\x1f\x20\x21".to_vec(),
            "caf\u{e9} \u{ffff} end".as_bytes().to_vec(),
            b"\x7f\x80\x81 & more".to_vec(),
            b"\"quoted\"".to_vec(),
        ];
        // Every special byte at every offset of a 17-byte string.
        for special in [0u8, b'\n', 0x1f, b'<', b'>', b'&', b'"', 0xEF] {
            for at in 0..17 {
                let mut s = vec![b'x'; 17];
                s[at] = special;
                samples.push(s);
            }
        }
        for s in &samples {
            let fast = first_special(s);
            let slow = slow_first_special(s);
            // The fast scan stops at the first candidate chunk or the tail,
            // never after a byte that needs escaping.
            assert!(fast <= slow, "{s:?}: {fast} > {slow}");
            // A clean string is reported clean (copied in one piece).
            if slow == s.len() {
                assert_eq!(fast, s.len(), "{s:?}");
            }
        }
        let mut out = Vec::new();
        escape_impl(&mut out, "a<b>&\"c\u{ffff}\u{1}\t", true);
        assert_eq!(out, "a&lt;b&gt;&amp;&quot;c\u{FFFD}\u{FFFD}&#9;".as_bytes());
        out.clear();
        escape_impl(&mut out, "a long string with no specials at all", false);
        assert_eq!(out, b"a long string with no specials at all");
    }
}
