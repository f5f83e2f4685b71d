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

use super::Limits;
use crate::class::{Class, Method, Parameter, Property};
use crate::error::Error;
use crate::instance::Instance;
use crate::name::CimName;
use crate::ops::{
    CimObject, IMethodResponse, Message, MessageBody, MethodCall, MethodResponse, MethodResult,
    ParamValue, PullItems, PullResult, Response,
};
use crate::path::{KeyBinding, ObjectPath};
use crate::qualifier::{Flavors, Qualifier, QualifierDecl, Scopes};
use crate::status::{CimError, StatusCode};
use crate::types::CimType;
use crate::value::{parse_integer, parse_real, Value};
use quick_xml::events::{BytesStart, Event};
use std::borrow::Cow;

pub(super) type Result<T> = std::result::Result<T, Error>;

/// An element start tag handed to a `parse_*` function.
pub(super) struct Elem<'a> {
    /// The raw attribute text after the name, borrowed from the input.
    attrs_raw: &'a str,
    /// The element name, borrowed from the input.
    pub(super) name: &'a [u8],
    /// Byte offset of the `<`.
    pub(super) pos: u64,
}

/// The event-stream parser with limit bookkeeping.
pub(super) struct Parser<'a> {
    xml: quick_xml::Reader<&'a [u8]>,
    input: &'a [u8],
    /// The same input as `&str` (validated up front), so that text and
    /// attribute slices can be borrowed without re-validating UTF-8.
    src: &'a str,
    limits: Limits,
    depth: usize,
    elements: usize,
    /// The last element handed out was `<X/>`: its (empty) content is pending.
    pending_empty: bool,
    /// Name and position of the open elements, for error messages.
    stack: Vec<(&'a [u8], u64)>,
    /// Property count of the last instance, to size the next one's vector.
    prop_hint: usize,
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The offset of the first character outside XML 1.0's `Char` production in
/// (valid UTF-8) `input`: C0 controls other than tab, LF and CR, and the
/// non-characters U+FFFE and U+FFFF. Surrogates cannot occur in valid UTF-8.
/// Character references to controls (`&#1;`) are still tolerated.
fn illegal_char(input: &[u8]) -> Option<usize> {
    // Branch-free per 64-byte block so the scan vectorizes; locate only on a hit.
    for (n, block) in input.chunks(64).enumerate() {
        let mut bad = false;
        for &b in block {
            bad |= (b < 0x20) & (b != b'\t') & (b != b'\n') & (b != b'\r');
        }
        if bad {
            let i = block
                .iter()
                .position(|&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r'))?;
            return Some(n * 64 + i);
        }
    }
    memchr::memmem::find_iter(input, b"\xEF\xBF")
        .find(|&i| matches!(input.get(i + 2), Some(0xBE | 0xBF)))
}

fn is_xml_space(b: &[u8]) -> bool {
    b.iter().all(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
}

impl<'a> Parser<'a> {
    /// A parser over `input`, which must already be valid UTF-8 and within
    /// `limits.max_bytes`.
    pub(super) fn new(input: &'a str, limits: &Limits) -> Self {
        let src = input;
        let input = src.as_bytes();
        let mut xml = quick_xml::Reader::from_reader(input);
        let cfg = xml.config_mut();
        // End tags are matched against our own element stack (`close`), which
        // saves quick-xml a copy of every element name.
        cfg.check_end_names = false;
        cfg.expand_empty_elements = false;
        cfg.trim_text(false);
        Parser {
            xml,
            input,
            src,
            limits: limits.clone(),
            depth: 0,
            elements: 0,
            pending_empty: false,
            stack: Vec::with_capacity(16),
            prop_hint: 0,
        }
    }

    /// Checks size and encoding of a whole document.
    pub(super) fn check_input(input: &[u8], limits: &Limits) -> Result<()> {
        if input.len() > limits.max_bytes {
            return Err(Error::Limit {
                limit: "document size",
            });
        }
        if let Err(e) = std::str::from_utf8(input) {
            return Err(Error::Xml {
                position: e.valid_up_to() as u64,
                reason: "document is not valid UTF-8".into(),
            });
        }
        if let Some(pos) = illegal_char(input) {
            return Err(Error::Xml {
                position: pos as u64,
                reason: "character not allowed in XML 1.0 (control character, U+FFFE or U+FFFF)"
                    .into(),
            });
        }
        Ok(())
    }

    fn xml_err(&self, position: u64, reason: impl Into<String>) -> Error {
        Error::Xml {
            position,
            reason: reason.into(),
        }
    }

    /// A DSP0201 violation in element `e`.
    pub(super) fn err(&self, e: &Elem<'_>, reason: impl Into<String>) -> Error {
        Error::Cim {
            element: lossy(e.name),
            position: e.pos,
            reason: reason.into(),
        }
    }

    /// A DSP0201 violation in the innermost open element.
    fn err_here(&self, position: u64, reason: impl Into<String>) -> Error {
        let element = self
            .stack
            .last()
            .map(|(n, _)| lossy(n))
            .unwrap_or_else(|| "document".into());
        Error::Cim {
            element,
            position,
            reason: reason.into(),
        }
    }

    fn next_event(&mut self) -> Result<(u64, Event<'a>)> {
        let pos = self.xml.buffer_position();
        match self.xml.read_event() {
            Ok(ev) => Ok((pos, ev)),
            Err(e) => Err(self.xml_err(self.xml.error_position(), e.to_string())),
        }
    }

    fn enter(&mut self, pos: u64, start: BytesStart<'a>) -> Result<Elem<'a>> {
        self.elements += 1;
        if self.elements > self.limits.max_elements {
            return Err(Error::Limit {
                limit: "element count",
            });
        }
        self.depth += 1;
        if self.depth > self.limits.max_depth {
            return Err(Error::Limit {
                limit: "nesting depth",
            });
        }
        // The tag content (name and attributes) is borrowed from the input.
        let len = start.name().as_ref().len();
        let tag = self.borrow_str(&start)?;
        let name = tag.as_bytes().get(..len).unwrap_or(b"?");
        let attrs_raw = tag.get(len..).unwrap_or("");
        self.stack.push((name, pos));
        Ok(Elem {
            attrs_raw,
            name,
            pos,
        })
    }

    /// `bytes`, which quick-xml handed out as a slice of the input, as a
    /// `&str` borrowed from the (already validated) input.
    fn borrow_str(&self, bytes: &[u8]) -> Result<&'a str> {
        let off = (bytes.as_ptr() as usize).wrapping_sub(self.input.as_ptr() as usize);
        self.src
            .get(off..off.wrapping_add(bytes.len()))
            .ok_or_else(|| self.xml_err(off as u64, "parser returned a slice outside the input"))
    }

    /// Text content as `&str`, with XML 1.0 line-end normalization (§2.11).
    fn text_str(&self, bytes: &[u8]) -> Result<Cow<'a, str>> {
        let s = self.borrow_str(bytes)?;
        if !s.as_bytes().contains(&b'\r') {
            return Ok(Cow::Borrowed(s));
        }
        Ok(Cow::Owned(s.replace("\r\n", "\n").replace('\r', "\n")))
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        self.stack.pop();
    }

    /// An end tag: it must close the innermost open element.
    fn close(&mut self, pos: u64, end: &[u8]) -> Result<()> {
        match self.stack.last() {
            Some((open, _)) if *open == end => {
                self.leave();
                Ok(())
            }
            Some((open, _)) => Err(self.xml_err(
                pos,
                format!("end tag </{}> does not match <{}>", lossy(end), lossy(open)),
            )),
            None => Err(self.xml_err(pos, format!("unexpected end tag </{}>", lossy(end)))),
        }
    }

    /// Skips the prolog (XML declaration, comments, processing instructions,
    /// whitespace) and returns the root element.
    pub(super) fn root(&mut self) -> Result<Elem<'a>> {
        let mut first = true;
        loop {
            let (pos, ev) = self.next_event()?;
            match ev {
                Event::Decl(_) if first => {}
                Event::Start(s) => return self.enter(pos, s),
                Event::Empty(s) => {
                    let e = self.enter(pos, s)?;
                    self.pending_empty = true;
                    return Ok(e);
                }
                Event::Text(t) if is_xml_space(&t) => {}
                Event::Comment(_) | Event::PI(_) => {}
                Event::DocType(_) => {
                    return Err(
                        self.xml_err(pos, "DOCTYPE and entity declarations are not accepted")
                    )
                }
                Event::Eof => return Err(self.xml_err(pos, "empty document")),
                _ => return Err(self.xml_err(pos, "content before the root element")),
            }
            first = false;
        }
    }

    /// After the root element: only whitespace, comments and PIs may follow.
    pub(super) fn finish(&mut self) -> Result<()> {
        loop {
            let (pos, ev) = self.next_event()?;
            match ev {
                Event::Eof => return Ok(()),
                Event::Text(t) if is_xml_space(&t) => {}
                Event::Comment(_) | Event::PI(_) => {}
                Event::DocType(_) => {
                    return Err(
                        self.xml_err(pos, "DOCTYPE and entity declarations are not accepted")
                    )
                }
                _ => return Err(self.xml_err(pos, "content after the root element")),
            }
        }
    }

    /// The next child element of the current element, or `None` once its end
    /// tag has been consumed. Text other than whitespace is an error.
    pub(super) fn child(&mut self) -> Result<Option<Elem<'a>>> {
        if self.pending_empty {
            self.pending_empty = false;
            self.leave();
            return Ok(None);
        }
        loop {
            let (pos, ev) = self.next_event()?;
            match ev {
                Event::Start(s) => return self.enter(pos, s).map(Some),
                Event::Empty(s) => {
                    let e = self.enter(pos, s)?;
                    self.pending_empty = true;
                    return Ok(Some(e));
                }
                Event::End(end) => {
                    self.close(pos, end.name().as_ref())?;
                    return Ok(None);
                }
                Event::Text(t) => {
                    if !is_xml_space(&t) {
                        return Err(self.err_here(pos, "text is not allowed here"));
                    }
                }
                Event::CData(_) | Event::GeneralRef(_) => {
                    return Err(self.err_here(pos, "text is not allowed here"))
                }
                Event::Comment(_) | Event::PI(_) => {}
                Event::Decl(_) => return Err(self.xml_err(pos, "misplaced XML declaration")),
                Event::DocType(_) => {
                    return Err(
                        self.xml_err(pos, "DOCTYPE and entity declarations are not accepted")
                    )
                }
                Event::Eof => return Err(self.xml_err(pos, "unexpected end of document")),
            }
        }
    }

    /// Consumes the rest of an element that must have no children.
    pub(super) fn no_children(&mut self, e: &Elem<'_>) -> Result<()> {
        match self.child()? {
            None => Ok(()),
            Some(c) => Err(self.err(&c, format!("not allowed inside <{}>", lossy(e.name)))),
        }
    }

    /// The next child, which must exist.
    pub(super) fn required_child(&mut self, parent: &Elem<'_>, what: &str) -> Result<Elem<'a>> {
        match self.child()? {
            Some(c) => Ok(c),
            None => Err(self.err(parent, format!("missing {what}"))),
        }
    }

    /// The text content of the current element (which may have no child
    /// elements), with references resolved and line ends normalized.
    pub(super) fn text(&mut self) -> Result<Cow<'a, str>> {
        if self.pending_empty {
            self.pending_empty = false;
            self.leave();
            return Ok(Cow::Borrowed(""));
        }
        let mut acc: Cow<'a, str> = Cow::Borrowed("");
        loop {
            let (pos, ev) = self.next_event()?;
            let piece: Cow<'a, str> = match ev {
                Event::Text(t) => self.text_str(&t)?,
                Event::CData(c) => self.text_str(&c)?,
                Event::GeneralRef(r) => {
                    let ch = if r.is_char_ref() {
                        match r.resolve_char_ref() {
                            Ok(Some(c)) => c,
                            _ => return Err(self.xml_err(pos, "invalid character reference")),
                        }
                    } else {
                        match &*r {
                            b"lt" => '<',
                            b"gt" => '>',
                            b"amp" => '&',
                            b"quot" => '"',
                            b"apos" => '\'',
                            other => {
                                return Err(self
                                    .xml_err(pos, format!("undefined entity &{};", lossy(other))))
                            }
                        }
                    };
                    let mut s = acc.into_owned();
                    s.push(ch);
                    acc = Cow::Owned(s);
                    continue;
                }
                Event::End(end) => {
                    self.close(pos, end.name().as_ref())?;
                    return Ok(acc);
                }
                Event::Start(s) | Event::Empty(s) => {
                    let name = lossy(s.name().as_ref());
                    return Err(
                        self.err_here(pos, format!("element <{name}> is not allowed in text"))
                    );
                }
                Event::Comment(_) | Event::PI(_) => continue,
                Event::Decl(_) => return Err(self.xml_err(pos, "misplaced XML declaration")),
                Event::DocType(_) => {
                    return Err(
                        self.xml_err(pos, "DOCTYPE and entity declarations are not accepted")
                    )
                }
                Event::Eof => return Err(self.xml_err(pos, "unexpected end of document")),
            };
            if acc.is_empty() {
                acc = piece;
            } else {
                let mut s = acc.into_owned();
                s.push_str(&piece);
                acc = Cow::Owned(s);
            }
        }
    }

    /// Reads the attributes listed in `names` (matched ASCII
    /// case-insensitively; others are ignored), unescaped.
    ///
    /// A small scanner over the raw tag text rather than quick-xml's attribute
    /// iterator: it borrows from the input and checks only the names asked for
    /// against duplicates. Syntax: `S Name S? '=' S? ('"' [^<"]* '"' | "'" [^<']* "'")`.
    pub(super) fn attrs<const N: usize>(
        &self,
        e: &Elem<'a>,
        names: [&str; N],
    ) -> Result<[Option<Cow<'a, str>>; N]> {
        let mut out: [Option<Cow<'a, str>>; N] = std::array::from_fn(|_| None);
        let s = e.attrs_raw;
        let b = s.as_bytes();
        let bad = |reason: &str| self.xml_err(e.pos, format!("malformed attributes: {reason}"));
        let ws = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r');
        let mut i = 0;
        loop {
            let before = i;
            while i < b.len() && ws(b[i]) {
                i += 1;
            }
            if i == b.len() {
                return Ok(out);
            }
            if i == before {
                return Err(bad("attributes must be separated by whitespace"));
            }
            let ns = i;
            while i < b.len() && !ws(b[i]) && b[i] != b'=' {
                i += 1;
            }
            let key = &b[ns..i];
            while i < b.len() && ws(b[i]) {
                i += 1;
            }
            if b.get(i) != Some(&b'=') {
                return Err(bad("expected '=' after attribute name"));
            }
            i += 1;
            while i < b.len() && ws(b[i]) {
                i += 1;
            }
            let quote = match b.get(i) {
                Some(q @ (b'"' | b'\'')) => *q,
                _ => return Err(bad("attribute value must be quoted")),
            };
            i += 1;
            // One pass to the closing quote, noting what needs attention.
            // Attribute values are short: a byte loop beats memchr's setup.
            let vs = i;
            let (mut amp, mut wsp) = (false, false);
            loop {
                match b.get(i) {
                    None => return Err(bad("unterminated attribute value")),
                    Some(&c) if c == quote => break,
                    Some(b'<') => return Err(bad("'<' in attribute value")),
                    Some(b'&') => amp = true,
                    Some(b'\t' | b'\n' | b'\r') => wsp = true,
                    Some(_) => {}
                }
                i += 1;
            }
            let raw = s.get(vs..i).ok_or_else(|| bad("attribute value"))?;
            i += 1;
            if let Some(k) = names
                .iter()
                .position(|n| n.as_bytes().eq_ignore_ascii_case(key))
            {
                if out[k].is_some() {
                    return Err(bad(&format!("duplicate attribute {}", lossy(key))));
                }
                // Attribute-value normalization (XML 1.0 §3.3.3): literal
                // white space characters become spaces; character references stay.
                let unescape = |raw: &str| -> Result<String> {
                    quick_xml::escape::unescape(raw)
                        .map(Cow::into_owned)
                        .map_err(|err| {
                            self.xml_err(e.pos, format!("attribute {}: {err}", lossy(key)))
                        })
                };
                let v = if wsp {
                    let normalized = raw.replace(['\t', '\n', '\r'], " ");
                    Cow::Owned(if amp {
                        unescape(&normalized)?
                    } else {
                        normalized
                    })
                } else if amp {
                    Cow::Owned(unescape(raw)?)
                } else {
                    Cow::Borrowed(raw)
                };
                out[k] = Some(v);
            }
        }
    }

    /// One required attribute.
    pub(super) fn attr_req(&self, e: &Elem<'a>, name: &str) -> Result<String> {
        let [v] = self.attrs(e, [name])?;
        v.map(Cow::into_owned)
            .ok_or_else(|| self.err(e, format!("missing attribute {name}")))
    }

    /// Checks that `e` is the element `want`.
    pub(super) fn expect(&self, e: &Elem<'_>, want: &str) -> Result<()> {
        if e.name == want.as_bytes() {
            Ok(())
        } else {
            Err(self.err(e, format!("expected <{want}>")))
        }
    }

    /// A `NAME`-style attribute parsed as a CIM name.
    fn name_attr(&self, e: &Elem<'a>, attr: &str) -> Result<CimName> {
        let n = self.attr_req(e, attr)?;
        if n.is_empty() {
            return Err(self.err(e, format!("empty attribute {attr}")));
        }
        Ok(CimName::from(n))
    }

    fn bool_attr(&self, e: &Elem<'_>, name: &str, v: Option<&str>, default: bool) -> Result<bool> {
        match v {
            None => Ok(default),
            Some(s) if s.eq_ignore_ascii_case("true") => Ok(true),
            Some(s) if s.eq_ignore_ascii_case("false") => Ok(false),
            Some(s) => Err(self.err(e, format!("attribute {name}={s:?} is not true or false"))),
        }
    }

    fn type_attr(&self, e: &Elem<'_>, v: Option<&str>, name: &str) -> Result<CimType> {
        let v = v.ok_or_else(|| self.err(e, format!("missing attribute {name}")))?;
        match fast_type(v).or_else(|| CimType::from_name(v)) {
            Some(CimType::Reference(_)) | None => {
                Err(self.err(e, format!("attribute {name}={v:?} is not a CIM data type")))
            }
            Some(t) => Ok(t),
        }
    }

    fn array_size_attr(&self, e: &Elem<'_>, v: Option<&str>) -> Result<Option<u32>> {
        match v {
            None => Ok(None),
            Some(s) => s
                .trim()
                .parse::<u32>()
                .map(Some)
                .map_err(|_| self.err(e, format!("ARRAYSIZE={s:?} is not an unsigned integer"))),
        }
    }

    /// `EmbeddedObject` (`"object"`/`"instance"`) applied to a declared type.
    fn embedded_type(&self, e: &Elem<'_>, ty: CimType, emb: Option<&str>) -> Result<CimType> {
        match emb {
            None => Ok(ty),
            Some(k) if ty != CimType::String => Err(self.err(
                e,
                format!(
                    "EmbeddedObject={k:?} on a property of type {}",
                    ty.xml_name()
                ),
            )),
            Some(k) if k.eq_ignore_ascii_case("object") => Ok(CimType::EmbeddedObject),
            Some(k) if k.eq_ignore_ascii_case("instance") => Ok(CimType::EmbeddedInstance),
            Some(k) => Err(self.err(e, format!("EmbeddedObject={k:?} is not object or instance"))),
        }
    }

    // -----------------------------------------------------------------------
    // Values

    /// Converts the text of a `VALUE` to a value of `ty`.
    fn typed_value(&self, e: &Elem<'_>, text: &str, ty: &CimType) -> Result<Value> {
        match ty {
            CimType::EmbeddedObject | CimType::EmbeddedInstance => self.embedded(e, text, ty),
            _ => Value::parse_scalar(text, ty).map_err(|err| self.err(e, err.to_string())),
        }
    }

    /// Decodes escaped `INSTANCE`/`CLASS` XML carried in a string value, with
    /// what is left of the depth and element budgets.
    fn embedded(&self, e: &Elem<'_>, text: &str, ty: &CimType) -> Result<Value> {
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        let limits = Limits {
            max_depth: self.limits.max_depth.saturating_sub(self.depth),
            max_elements: self.limits.max_elements.saturating_sub(self.elements),
            max_bytes: self.limits.max_bytes,
        };
        let wrap = |inner: Error| match inner {
            Error::Limit { .. } => inner,
            other => self.err(e, format!("embedded object: {other}")),
        };
        let mut p = Parser::new(text, &limits);
        let root = p.root().map_err(wrap)?;
        let v = match (root.name, ty) {
            (b"INSTANCE", _) => Value::Instance(Box::new(p.parse_instance(&root).map_err(wrap)?)),
            (b"CLASS", CimType::EmbeddedObject) => {
                Value::Class(Box::new(p.parse_class(&root).map_err(wrap)?))
            }
            _ => {
                return Err(self.err(
                    e,
                    format!(
                        "embedded object holds <{}>, expected {}",
                        lossy(root.name),
                        if *ty == CimType::EmbeddedObject {
                            "INSTANCE or CLASS"
                        } else {
                            "INSTANCE"
                        }
                    ),
                ))
            }
        };
        p.finish().map_err(wrap)?;
        Ok(v)
    }

    /// `<!ELEMENT VALUE (#PCDATA)>` converted to `ty`.
    fn parse_value(&mut self, e: &Elem<'a>, ty: &CimType) -> Result<Value> {
        self.expect(e, "VALUE")?;
        let text = self.text()?;
        if *ty == CimType::String {
            // The common case: no conversion, and no second copy of owned text.
            return Ok(Value::String(text.into_owned()));
        }
        self.typed_value(e, &text, ty)
    }

    /// `<!ELEMENT VALUE.ARRAY (VALUE|VALUE.NULL)*>` converted to `ty`.
    fn parse_value_array(&mut self, e: &Elem<'a>, ty: &CimType) -> Result<Vec<Value>> {
        self.expect(e, "VALUE.ARRAY")?;
        let mut items = Vec::new();
        while let Some(c) = self.child()? {
            match c.name {
                b"VALUE" => items.push(self.parse_value(&c, ty)?),
                b"VALUE.NULL" => {
                    self.no_children(&c)?;
                    items.push(Value::Null)
                }
                _ => return Err(self.err(&c, "not allowed in VALUE.ARRAY")),
            }
        }
        Ok(items)
    }

    /// `VALUE.ARRAY` of untyped strings (`None` for `VALUE.NULL`).
    fn parse_string_array(&mut self, e: &Elem<'a>) -> Result<Vec<Option<String>>> {
        self.expect(e, "VALUE.ARRAY")?;
        let mut items = Vec::new();
        while let Some(c) = self.child()? {
            match c.name {
                b"VALUE" => items.push(Some(self.text()?.into_owned())),
                b"VALUE.NULL" => {
                    self.no_children(&c)?;
                    items.push(None)
                }
                _ => return Err(self.err(&c, "not allowed in VALUE.ARRAY")),
            }
        }
        Ok(items)
    }

    /// `<!ELEMENT VALUE.REFERENCE (CLASSPATH|LOCALCLASSPATH|CLASSNAME|
    /// INSTANCEPATH|LOCALINSTANCEPATH|INSTANCENAME)>`
    pub(super) fn parse_value_reference(&mut self, e: &Elem<'a>) -> Result<ObjectPath> {
        self.expect(e, "VALUE.REFERENCE")?;
        let c = self.required_child(e, "path element")?;
        let p = self.parse_any_path(&c)?;
        self.no_children(e)?;
        Ok(p)
    }

    /// `<!ELEMENT VALUE.REFARRAY (VALUE.REFERENCE|VALUE.NULL)*>`
    fn parse_value_refarray(&mut self, e: &Elem<'a>) -> Result<Vec<Value>> {
        let mut items = Vec::new();
        while let Some(c) = self.child()? {
            match c.name {
                b"VALUE.REFERENCE" => items.push(Value::Reference(self.parse_value_reference(&c)?)),
                b"VALUE.NULL" => {
                    self.no_children(&c)?;
                    items.push(Value::Null)
                }
                _ => return Err(self.err(&c, format!("not allowed in <{}>", lossy(e.name)))),
            }
        }
        Ok(items)
    }

    // -----------------------------------------------------------------------
    // Paths

    /// Any of the path elements a `VALUE.REFERENCE` may hold.
    pub(super) fn parse_any_path(&mut self, e: &Elem<'a>) -> Result<ObjectPath> {
        match e.name {
            b"INSTANCEPATH" => self.parse_instance_path(e),
            b"LOCALINSTANCEPATH" => self.parse_local_instance_path(e),
            b"INSTANCENAME" => self.parse_instance_name(e),
            b"CLASSPATH" => self.parse_class_path(e),
            b"LOCALCLASSPATH" => self.parse_local_class_path(e),
            b"CLASSNAME" => Ok(ObjectPath::class(None, self.parse_class_name(e)?)),
            b"OBJECTPATH" => self.parse_object_path(e),
            _ => Err(self.err(e, "expected a class or instance path")),
        }
    }

    /// `<!ELEMENT OBJECTPATH (INSTANCEPATH|CLASSPATH)>`
    pub(super) fn parse_object_path(&mut self, e: &Elem<'a>) -> Result<ObjectPath> {
        let c = self.required_child(e, "INSTANCEPATH or CLASSPATH")?;
        let p = match c.name {
            b"INSTANCEPATH" => self.parse_instance_path(&c)?,
            b"CLASSPATH" => self.parse_class_path(&c)?,
            _ => return Err(self.err(&c, "expected INSTANCEPATH or CLASSPATH")),
        };
        self.no_children(e)?;
        Ok(p)
    }

    /// `<!ELEMENT CLASSNAME EMPTY> <!ATTLIST CLASSNAME NAME>`
    pub(super) fn parse_class_name(&mut self, e: &Elem<'a>) -> Result<CimName> {
        self.expect(e, "CLASSNAME")?;
        let n = self.name_attr(e, "NAME")?;
        self.no_children(e)?;
        Ok(n)
    }

    /// `<!ELEMENT NAMESPACEPATH (HOST,LOCALNAMESPACEPATH)>` → (host, namespace)
    fn parse_namespace_path(&mut self, e: &Elem<'a>) -> Result<(String, String)> {
        self.expect(e, "NAMESPACEPATH")?;
        let h = self.required_child(e, "HOST")?;
        self.expect(&h, "HOST")?;
        let host = self.text()?.trim().to_owned();
        let l = self.required_child(e, "LOCALNAMESPACEPATH")?;
        let ns = self.parse_local_namespace_path(&l)?;
        self.no_children(e)?;
        Ok((host, ns))
    }

    /// `<!ELEMENT LOCALNAMESPACEPATH (NAMESPACE+)>`, `<!ELEMENT NAMESPACE EMPTY>`:
    /// the components joined with `/`.
    pub(super) fn parse_local_namespace_path(&mut self, e: &Elem<'a>) -> Result<String> {
        self.expect(e, "LOCALNAMESPACEPATH")?;
        let mut ns = String::new();
        let mut count = 0;
        while let Some(c) = self.child()? {
            self.expect(&c, "NAMESPACE")?;
            let part = self.attr_req(&c, "NAME")?;
            self.no_children(&c)?;
            let part = part.trim_matches('/');
            if !part.is_empty() {
                if !ns.is_empty() {
                    ns.push('/');
                }
                ns.push_str(part);
            }
            count += 1;
        }
        if count == 0 {
            return Err(self.err(e, "needs at least one NAMESPACE"));
        }
        Ok(ns)
    }

    /// `<!ELEMENT INSTANCEPATH (NAMESPACEPATH,INSTANCENAME)>`
    pub(super) fn parse_instance_path(&mut self, e: &Elem<'a>) -> Result<ObjectPath> {
        self.expect(e, "INSTANCEPATH")?;
        let n = self.required_child(e, "NAMESPACEPATH")?;
        let (host, ns) = self.parse_namespace_path(&n)?;
        let i = self.required_child(e, "INSTANCENAME")?;
        let mut p = self.parse_instance_name(&i)?;
        self.no_children(e)?;
        p.host = Some(host).filter(|h| !h.is_empty());
        p.namespace = Some(ns);
        Ok(p)
    }

    /// `<!ELEMENT LOCALINSTANCEPATH (LOCALNAMESPACEPATH,INSTANCENAME)>`
    pub(super) fn parse_local_instance_path(&mut self, e: &Elem<'a>) -> Result<ObjectPath> {
        self.expect(e, "LOCALINSTANCEPATH")?;
        let n = self.required_child(e, "LOCALNAMESPACEPATH")?;
        let ns = self.parse_local_namespace_path(&n)?;
        let i = self.required_child(e, "INSTANCENAME")?;
        let mut p = self.parse_instance_name(&i)?;
        self.no_children(e)?;
        p.namespace = Some(ns);
        Ok(p)
    }

    /// `<!ELEMENT CLASSPATH (NAMESPACEPATH,CLASSNAME)>`
    fn parse_class_path(&mut self, e: &Elem<'a>) -> Result<ObjectPath> {
        self.expect(e, "CLASSPATH")?;
        let n = self.required_child(e, "NAMESPACEPATH")?;
        let (host, ns) = self.parse_namespace_path(&n)?;
        let c = self.required_child(e, "CLASSNAME")?;
        let class = self.parse_class_name(&c)?;
        self.no_children(e)?;
        let mut p = ObjectPath::class(Some(&ns), class);
        p.host = Some(host).filter(|h| !h.is_empty());
        Ok(p)
    }

    /// `<!ELEMENT LOCALCLASSPATH (LOCALNAMESPACEPATH,CLASSNAME)>`
    pub(super) fn parse_local_class_path(&mut self, e: &Elem<'a>) -> Result<ObjectPath> {
        self.expect(e, "LOCALCLASSPATH")?;
        let n = self.required_child(e, "LOCALNAMESPACEPATH")?;
        let ns = self.parse_local_namespace_path(&n)?;
        let c = self.required_child(e, "CLASSNAME")?;
        let class = self.parse_class_name(&c)?;
        self.no_children(e)?;
        Ok(ObjectPath::class(Some(&ns), class))
    }

    /// `<!ELEMENT INSTANCENAME (KEYBINDING*|KEYVALUE?|VALUE.REFERENCE?)>`
    /// `<!ATTLIST INSTANCENAME %ClassName;>`. A lone `KEYVALUE` or
    /// `VALUE.REFERENCE` becomes a key binding with an empty name.
    pub(super) fn parse_instance_name(&mut self, e: &Elem<'a>) -> Result<ObjectPath> {
        self.expect(e, "INSTANCENAME")?;
        let class = self.name_attr(e, "CLASSNAME")?;
        let mut p = ObjectPath::class(None, class);
        let mut unnamed = false;
        while let Some(c) = self.child()? {
            if unnamed {
                return Err(self.err(
                    &c,
                    "INSTANCENAME holds a single KEYVALUE or VALUE.REFERENCE",
                ));
            }
            match c.name {
                b"KEYBINDING" => p.keys.push(self.parse_key_binding(&c)?),
                b"KEYVALUE" | b"VALUE.REFERENCE" if p.keys.is_empty() => {
                    let value = if c.name == b"KEYVALUE" {
                        self.parse_key_value(&c)?
                    } else {
                        Value::Reference(self.parse_value_reference(&c)?)
                    };
                    p.keys.push(KeyBinding {
                        name: CimName::default(),
                        value,
                    });
                    unnamed = true;
                }
                _ => return Err(self.err(&c, "not allowed in INSTANCENAME")),
            }
        }
        Ok(p)
    }

    /// `<!ELEMENT KEYBINDING (KEYVALUE|VALUE.REFERENCE)> <!ATTLIST KEYBINDING %CIMName;>`
    fn parse_key_binding(&mut self, e: &Elem<'a>) -> Result<KeyBinding> {
        let name = self.name_attr(e, "NAME")?;
        let c = self.required_child(e, "KEYVALUE or VALUE.REFERENCE")?;
        let value = match c.name {
            b"KEYVALUE" => self.parse_key_value(&c)?,
            b"VALUE.REFERENCE" => Value::Reference(self.parse_value_reference(&c)?),
            _ => return Err(self.err(&c, "expected KEYVALUE or VALUE.REFERENCE")),
        };
        self.no_children(e)?;
        Ok(KeyBinding { name, value })
    }

    /// `<!ELEMENT KEYVALUE (#PCDATA)> <!ATTLIST KEYVALUE VALUETYPE
    /// (string|boolean|numeric) "string" %CIMType; #IMPLIED>`. With `TYPE` the
    /// value gets that exact type; otherwise numbers become `sint64` when
    /// negative, `uint64` otherwise, or `real64` (the same convention as WBEM URIs).
    fn parse_key_value(&mut self, e: &Elem<'a>) -> Result<Value> {
        let [vt, ty] = self.attrs(e, ["VALUETYPE", "TYPE"])?;
        let vt = vt.map(Cow::into_owned);
        let ty = ty.map(Cow::into_owned);
        let text = self.text()?;
        if let Some(t) = ty.as_deref() {
            let cty = self.type_attr(e, Some(t), "TYPE")?;
            return self.typed_value(e, &text, &cty);
        }
        match vt.as_deref().unwrap_or("string") {
            "string" => Ok(Value::String(text.into_owned())),
            "boolean" => self.typed_value(e, &text, &CimType::Boolean),
            "numeric" => {
                let t = text.trim();
                if let Some(v) = parse_integer(t) {
                    if v < 0 {
                        i64::try_from(v).map(Value::Sint64)
                    } else {
                        u64::try_from(v).map(Value::Uint64)
                    }
                    .map_err(|_| self.err(e, format!("{t:?} is out of range")))
                } else if let Some(r) = parse_real(t) {
                    Ok(Value::Real64(r))
                } else {
                    Err(self.err(e, format!("{t:?} is not a number")))
                }
            }
            other => Err(self.err(
                e,
                format!("VALUETYPE={other:?} is not string, boolean or numeric"),
            )),
        }
    }

    // -----------------------------------------------------------------------
    // Qualifiers

    fn flavors(&self, e: &Elem<'_>, a: [Option<&str>; 4]) -> Result<Flavors> {
        let d = Flavors::default();
        Ok(Flavors {
            overridable: self.bool_attr(e, "OVERRIDABLE", a[0], d.overridable)?,
            to_subclass: self.bool_attr(e, "TOSUBCLASS", a[1], d.to_subclass)?,
            to_instance: self.bool_attr(e, "TOINSTANCE", a[2], d.to_instance)?,
            translatable: self.bool_attr(e, "TRANSLATABLE", a[3], d.translatable)?,
        })
    }

    /// `<!ELEMENT QUALIFIER ((VALUE|VALUE.ARRAY)?)> <!ATTLIST QUALIFIER %CIMName;
    /// %CIMType; #REQUIRED %Propagated; %QualifierFlavor; xml:lang>`
    fn parse_qualifier(&mut self, e: &Elem<'a>) -> Result<Qualifier> {
        let [name, ty, prop, ov, ts, ti, tr] = self.attrs(
            e,
            [
                "NAME",
                "TYPE",
                "PROPAGATED",
                "OVERRIDABLE",
                "TOSUBCLASS",
                "TOINSTANCE",
                "TRANSLATABLE",
            ],
        )?;
        let name = CimName::from(
            name.ok_or_else(|| self.err(e, "missing attribute NAME"))?
                .into_owned(),
        );
        let ty = self.type_attr(e, ty.as_deref(), "TYPE")?;
        let propagated = self.bool_attr(e, "PROPAGATED", prop.as_deref(), false)?;
        let flavors = self.flavors(
            e,
            [ov.as_deref(), ts.as_deref(), ti.as_deref(), tr.as_deref()],
        )?;
        let mut value = Value::Null;
        if let Some(c) = self.child()? {
            value = match c.name {
                b"VALUE" => self.parse_value(&c, &ty)?,
                b"VALUE.ARRAY" => Value::Array(self.parse_value_array(&c, &ty)?),
                _ => return Err(self.err(&c, "not allowed in QUALIFIER")),
            };
            self.no_children(e)?;
        }
        Ok(Qualifier {
            name,
            ty,
            value,
            propagated,
            flavors,
        })
    }

    /// `<!ELEMENT QUALIFIER.DECLARATION (SCOPE?,(VALUE|VALUE.ARRAY)?)>
    /// <!ATTLIST QUALIFIER.DECLARATION %CIMName; %CIMType; #REQUIRED ISARRAY
    /// %ArraySize; %QualifierFlavor;>`
    pub(super) fn parse_qualifier_decl(&mut self, e: &Elem<'a>) -> Result<QualifierDecl> {
        self.expect(e, "QUALIFIER.DECLARATION")?;
        let [name, ty, isarray, size, ov, ts, ti, tr] = self.attrs(
            e,
            [
                "NAME",
                "TYPE",
                "ISARRAY",
                "ARRAYSIZE",
                "OVERRIDABLE",
                "TOSUBCLASS",
                "TOINSTANCE",
                "TRANSLATABLE",
            ],
        )?;
        let name = CimName::from(
            name.ok_or_else(|| self.err(e, "missing attribute NAME"))?
                .into_owned(),
        );
        let ty = self.type_attr(e, ty.as_deref(), "TYPE")?;
        let mut is_array = self.bool_attr(e, "ISARRAY", isarray.as_deref(), false)?;
        let array_size = self.array_size_attr(e, size.as_deref())?;
        let flavors = self.flavors(
            e,
            [ov.as_deref(), ts.as_deref(), ti.as_deref(), tr.as_deref()],
        )?;
        let mut scopes = Scopes::default();
        let mut default = Value::Null;
        let mut seen_value = false;
        while let Some(c) = self.child()? {
            match c.name {
                b"SCOPE" if !seen_value => {
                    scopes = self.parse_scope(&c)?;
                }
                b"VALUE" if !seen_value => {
                    default = self.parse_value(&c, &ty)?;
                    seen_value = true;
                }
                b"VALUE.ARRAY" if !seen_value => {
                    default = Value::Array(self.parse_value_array(&c, &ty)?);
                    is_array = true;
                    seen_value = true;
                }
                _ => return Err(self.err(&c, "not allowed in QUALIFIER.DECLARATION")),
            }
        }
        Ok(QualifierDecl {
            name,
            ty,
            is_array,
            array_size,
            default,
            scopes,
            flavors,
        })
    }

    /// `<!ELEMENT SCOPE EMPTY> <!ATTLIST SCOPE CLASS ASSOCIATION REFERENCE
    /// PROPERTY METHOD PARAMETER INDICATION (true|false) "false">`
    fn parse_scope(&mut self, e: &Elem<'a>) -> Result<Scopes> {
        let a = self.attrs(
            e,
            [
                "CLASS",
                "ASSOCIATION",
                "REFERENCE",
                "PROPERTY",
                "METHOD",
                "PARAMETER",
                "INDICATION",
            ],
        )?;
        let b = |i: usize, n: &str| self.bool_attr(e, n, a[i].as_deref(), false);
        let s = Scopes {
            class: b(0, "CLASS")?,
            association: b(1, "ASSOCIATION")?,
            reference: b(2, "REFERENCE")?,
            property: b(3, "PROPERTY")?,
            method: b(4, "METHOD")?,
            parameter: b(5, "PARAMETER")?,
            indication: b(6, "INDICATION")?,
        };
        self.no_children(e)?;
        Ok(s)
    }

    // -----------------------------------------------------------------------
    // Properties, methods, parameters

    /// `PROPERTY`, `PROPERTY.ARRAY` or `PROPERTY.REFERENCE`:
    ///
    /// `<!ELEMENT PROPERTY (QUALIFIER*,VALUE?)> <!ATTLIST PROPERTY %CIMName;
    /// %CIMType; #REQUIRED %ClassOrigin; %Propagated; %EmbeddedObject; xml:lang>`
    ///
    /// `<!ELEMENT PROPERTY.ARRAY (QUALIFIER*,VALUE.ARRAY?)> <!ATTLIST
    /// PROPERTY.ARRAY %CIMName; %CIMType; #REQUIRED %ArraySize; %ClassOrigin;
    /// %Propagated; %EmbeddedObject; xml:lang>`
    ///
    /// `<!ELEMENT PROPERTY.REFERENCE (QUALIFIER*,(VALUE.REFERENCE)?)>
    /// <!ATTLIST PROPERTY.REFERENCE %CIMName; %ReferenceClass; %ClassOrigin; %Propagated;>`
    /// Appends the property to `out` (built in place: a `Property` is large).
    fn parse_property(&mut self, e: &Elem<'a>, out: &mut Vec<Property>) -> Result<()> {
        let [name, ty, size, origin, prop, emb, emb2, refclass] = self.attrs(
            e,
            [
                "NAME",
                "TYPE",
                "ARRAYSIZE",
                "CLASSORIGIN",
                "PROPAGATED",
                "EmbeddedObject",
                "EMBEDDEDOBJECT",
                "REFERENCECLASS",
            ],
        )?;
        let name = CimName::from(
            name.ok_or_else(|| self.err(e, "missing attribute NAME"))?
                .into_owned(),
        );
        let class_origin = origin.map(|o| CimName::from(o.into_owned()));
        let propagated = self.bool_attr(e, "PROPAGATED", prop.as_deref(), false)?;
        let emb = emb.or(emb2);
        let (ty, is_array, array_size) = match e.name {
            b"PROPERTY" => {
                let t = self.type_attr(e, ty.as_deref(), "TYPE")?;
                (self.embedded_type(e, t, emb.as_deref())?, false, None)
            }
            b"PROPERTY.ARRAY" => {
                let t = self.type_attr(e, ty.as_deref(), "TYPE")?;
                let n = self.array_size_attr(e, size.as_deref())?;
                (self.embedded_type(e, t, emb.as_deref())?, true, n)
            }
            _ => (
                CimType::Reference(refclass.map(|c| CimName::from(c.into_owned()))),
                false,
                None,
            ),
        };
        let mut qualifiers = Vec::new();
        let mut value = Value::Null;
        let mut seen_value = false;
        while let Some(c) = self.child()? {
            match (c.name, e.name) {
                (b"QUALIFIER", _) if !seen_value => qualifiers.push(self.parse_qualifier(&c)?),
                (b"VALUE", b"PROPERTY") if !seen_value => {
                    value = self.parse_value(&c, &ty)?;
                    seen_value = true;
                }
                (b"VALUE.ARRAY", b"PROPERTY.ARRAY") if !seen_value => {
                    value = Value::Array(self.parse_value_array(&c, &ty)?);
                    seen_value = true;
                }
                (b"VALUE.REFERENCE", b"PROPERTY.REFERENCE") if !seen_value => {
                    value = Value::Reference(self.parse_value_reference(&c)?);
                    seen_value = true;
                }
                _ => return Err(self.err(&c, format!("not allowed in <{}>", lossy(e.name)))),
            }
        }
        out.push(Property {
            name,
            ty,
            is_array,
            array_size,
            value,
            qualifiers,
            class_origin,
            propagated,
        });
        Ok(())
    }

    /// `PARAMETER`, `PARAMETER.REFERENCE`, `PARAMETER.ARRAY`, `PARAMETER.REFARRAY`
    /// (each `QUALIFIER*`; attributes NAME, TYPE or REFERENCECLASS, ARRAYSIZE).
    fn parse_parameter(&mut self, e: &Elem<'a>) -> Result<Parameter> {
        let [name, ty, refclass, size] =
            self.attrs(e, ["NAME", "TYPE", "REFERENCECLASS", "ARRAYSIZE"])?;
        let name = CimName::from(
            name.ok_or_else(|| self.err(e, "missing attribute NAME"))?
                .into_owned(),
        );
        let refclass = refclass.map(|c| CimName::from(c.into_owned()));
        let (ty, is_array, array_size) = match e.name {
            b"PARAMETER" => (self.type_attr(e, ty.as_deref(), "TYPE")?, false, None),
            b"PARAMETER.ARRAY" => (
                self.type_attr(e, ty.as_deref(), "TYPE")?,
                true,
                self.array_size_attr(e, size.as_deref())?,
            ),
            b"PARAMETER.REFERENCE" => (CimType::Reference(refclass), false, None),
            _ => (
                CimType::Reference(refclass),
                true,
                self.array_size_attr(e, size.as_deref())?,
            ),
        };
        let mut qualifiers = Vec::new();
        while let Some(c) = self.child()? {
            match c.name {
                b"QUALIFIER" => qualifiers.push(self.parse_qualifier(&c)?),
                _ => return Err(self.err(&c, format!("not allowed in <{}>", lossy(e.name)))),
            }
        }
        Ok(Parameter {
            name,
            ty,
            is_array,
            array_size,
            qualifiers,
        })
    }

    /// `<!ELEMENT METHOD (QUALIFIER*,(PARAMETER|PARAMETER.REFERENCE|
    /// PARAMETER.ARRAY|PARAMETER.REFARRAY)*)> <!ATTLIST METHOD %CIMName;
    /// %CIMType; #IMPLIED %ClassOrigin; %Propagated;>`
    fn parse_method(&mut self, e: &Elem<'a>) -> Result<Method> {
        let [name, ty, origin, prop] =
            self.attrs(e, ["NAME", "TYPE", "CLASSORIGIN", "PROPAGATED"])?;
        let name = CimName::from(
            name.ok_or_else(|| self.err(e, "missing attribute NAME"))?
                .into_owned(),
        );
        let return_type = self.type_attr(e, ty.as_deref(), "TYPE")?;
        let class_origin = origin.map(|o| CimName::from(o.into_owned()));
        let propagated = self.bool_attr(e, "PROPAGATED", prop.as_deref(), false)?;
        let mut qualifiers = Vec::new();
        let mut parameters = Vec::new();
        while let Some(c) = self.child()? {
            match c.name {
                b"QUALIFIER" if parameters.is_empty() => qualifiers.push(self.parse_qualifier(&c)?),
                b"PARAMETER"
                | b"PARAMETER.REFERENCE"
                | b"PARAMETER.ARRAY"
                | b"PARAMETER.REFARRAY" => parameters.push(self.parse_parameter(&c)?),
                _ => return Err(self.err(&c, "not allowed in METHOD")),
            }
        }
        Ok(Method {
            name,
            return_type,
            parameters,
            qualifiers,
            class_origin,
            propagated,
        })
    }

    /// `<!ELEMENT INSTANCE (QUALIFIER*,(PROPERTY|PROPERTY.ARRAY|PROPERTY.REFERENCE)*)>
    /// <!ATTLIST INSTANCE %ClassName; xml:lang>`
    pub(super) fn parse_instance(&mut self, e: &Elem<'a>) -> Result<Instance> {
        self.expect(e, "INSTANCE")?;
        let mut inst = Instance::new(self.name_attr(e, "CLASSNAME")?);
        inst.properties.reserve(self.prop_hint.min(1024));
        while let Some(c) = self.child()? {
            match c.name {
                b"PROPERTY" | b"PROPERTY.ARRAY" | b"PROPERTY.REFERENCE" => {
                    self.parse_property(&c, &mut inst.properties)?
                }
                b"QUALIFIER" if inst.properties.is_empty() => {
                    inst.qualifiers.push(self.parse_qualifier(&c)?)
                }
                _ => return Err(self.err(&c, "not allowed in INSTANCE")),
            }
        }
        self.prop_hint = inst.properties.len();
        Ok(inst)
    }

    /// `<!ELEMENT CLASS (QUALIFIER*,(PROPERTY|PROPERTY.ARRAY|PROPERTY.REFERENCE)*,METHOD*)>
    /// <!ATTLIST CLASS %CIMName; %SuperClass;>`
    pub(super) fn parse_class(&mut self, e: &Elem<'a>) -> Result<Class> {
        self.expect(e, "CLASS")?;
        let [name, sup] = self.attrs(e, ["NAME", "SUPERCLASS"])?;
        let name = CimName::from(
            name.ok_or_else(|| self.err(e, "missing attribute NAME"))?
                .into_owned(),
        );
        let superclass = sup
            .filter(|s| !s.is_empty())
            .map(|s| CimName::from(s.into_owned()));
        let mut class = Class::new(name, superclass);
        while let Some(c) = self.child()? {
            match c.name {
                b"QUALIFIER" if class.properties.is_empty() && class.methods.is_empty() => {
                    class.qualifiers.push(self.parse_qualifier(&c)?)
                }
                b"PROPERTY" | b"PROPERTY.ARRAY" | b"PROPERTY.REFERENCE"
                    if class.methods.is_empty() =>
                {
                    self.parse_property(&c, &mut class.properties)?
                }
                b"METHOD" => class.methods.push(self.parse_method(&c)?),
                _ => return Err(self.err(&c, "not allowed in CLASS")),
            }
        }
        Ok(class)
    }

    /// `<!ELEMENT VALUE.NAMEDINSTANCE (INSTANCENAME,INSTANCE)>`: the instance
    /// with its `path` set.
    pub(super) fn parse_value_named_instance(&mut self, e: &Elem<'a>) -> Result<Instance> {
        self.expect(e, "VALUE.NAMEDINSTANCE")?;
        let n = self.required_child(e, "INSTANCENAME")?;
        let path = self.parse_instance_name(&n)?;
        let i = self.required_child(e, "INSTANCE")?;
        let mut inst = self.parse_instance(&i)?;
        self.no_children(e)?;
        inst.path = Some(path);
        Ok(inst)
    }

    /// `<!ELEMENT VALUE.INSTANCEWITHPATH (INSTANCEPATH,INSTANCE)>`
    fn parse_value_instance_with_path(&mut self, e: &Elem<'a>) -> Result<Instance> {
        let n = self.required_child(e, "INSTANCEPATH")?;
        let path = self.parse_instance_path(&n)?;
        let i = self.required_child(e, "INSTANCE")?;
        let mut inst = self.parse_instance(&i)?;
        self.no_children(e)?;
        inst.path = Some(path);
        Ok(inst)
    }

    /// `VALUE.OBJECTWITHPATH ((CLASSPATH,CLASS)|(INSTANCEPATH,INSTANCE))` and
    /// `VALUE.OBJECTWITHLOCALPATH ((LOCALCLASSPATH,CLASS)|(LOCALINSTANCEPATH,INSTANCE))`.
    fn parse_object_with_path(&mut self, e: &Elem<'a>) -> Result<(ObjectPath, CimObject)> {
        let p = self.required_child(e, "path")?;
        let path = match (e.name, p.name) {
            (b"VALUE.OBJECTWITHPATH", b"CLASSPATH") => self.parse_class_path(&p)?,
            (b"VALUE.OBJECTWITHPATH", b"INSTANCEPATH") => self.parse_instance_path(&p)?,
            (b"VALUE.OBJECTWITHLOCALPATH", b"LOCALCLASSPATH") => self.parse_local_class_path(&p)?,
            (b"VALUE.OBJECTWITHLOCALPATH", b"LOCALINSTANCEPATH") => {
                self.parse_local_instance_path(&p)?
            }
            _ => return Err(self.err(&p, format!("not allowed in <{}>", lossy(e.name)))),
        };
        let o = self.required_child(e, "CLASS or INSTANCE")?;
        let obj = match (p.name, o.name) {
            (b"CLASSPATH" | b"LOCALCLASSPATH", b"CLASS") => CimObject::Class(self.parse_class(&o)?),
            (b"INSTANCEPATH" | b"LOCALINSTANCEPATH", b"INSTANCE") => {
                let mut i = self.parse_instance(&o)?;
                i.path = Some(path.clone());
                CimObject::Instance(i)
            }
            _ => return Err(self.err(&o, "does not match the path kind")),
        };
        self.no_children(e)?;
        Ok((path, obj))
    }

    /// `<!ELEMENT VALUE.OBJECT (CLASS|INSTANCE)>` and
    /// `<!ELEMENT VALUE.NAMEDOBJECT (CLASS|(INSTANCENAME,INSTANCE))>`.
    fn parse_value_object(&mut self, e: &Elem<'a>) -> Result<(ObjectPath, CimObject)> {
        let c = self.required_child(e, "CLASS or INSTANCE")?;
        let r = match (e.name, c.name) {
            (_, b"CLASS") => {
                let class = self.parse_class(&c)?;
                (
                    ObjectPath::class(None, class.name.clone()),
                    CimObject::Class(class),
                )
            }
            (b"VALUE.OBJECT", b"INSTANCE") => {
                let i = self.parse_instance(&c)?;
                (
                    ObjectPath::class(None, i.class_name.clone()),
                    CimObject::Instance(i),
                )
            }
            (b"VALUE.NAMEDOBJECT", b"INSTANCENAME") => {
                let path = self.parse_instance_name(&c)?;
                let ie = self.required_child(e, "INSTANCE")?;
                let mut i = self.parse_instance(&ie)?;
                i.path = Some(path.clone());
                (path, CimObject::Instance(i))
            }
            _ => return Err(self.err(&c, format!("not allowed in <{}>", lossy(e.name)))),
        };
        self.no_children(e)?;
        Ok(r)
    }

    // -----------------------------------------------------------------------
    // Messages

    /// `<!ELEMENT CIM (MESSAGE|DECLARATION)> <!ATTLIST CIM CIMVERSION DTDVERSION>`
    fn parse_cim(&mut self, e: &Elem<'a>) -> Result<Message> {
        self.expect(e, "CIM")?;
        let [cim_version, dtd_version] = self.attrs(e, ["CIMVERSION", "DTDVERSION"])?;
        let m = self.required_child(e, "MESSAGE")?;
        self.expect(&m, "MESSAGE")?;
        let msg = self.parse_message(&m)?;
        self.no_children(e)?;
        // Checked after the body so that a malformed document is reported as such.
        for (attribute, value) in [("CIMVERSION", cim_version), ("DTDVERSION", dtd_version)] {
            let value =
                value.ok_or_else(|| self.err(e, format!("missing attribute {attribute}")))?;
            // DSP0200: a 2.x document is understood; another major version is refused.
            let major = value.split('.').next().unwrap_or("");
            if major.trim() != "2" {
                return Err(Error::UnsupportedVersion {
                    attribute,
                    version: value.chars().take(40).collect(),
                });
            }
        }
        Ok(msg)
    }

    /// `<!ELEMENT MESSAGE (SIMPLEREQ|MULTIREQ|SIMPLERSP|MULTIRSP|SIMPLEEXPREQ|
    /// MULTIEXPREQ|SIMPLEEXPRSP|MULTIEXPRSP)> <!ATTLIST MESSAGE ID PROTOCOLVERSION>`
    fn parse_message(&mut self, e: &Elem<'a>) -> Result<Message> {
        let [id, pv] = self.attrs(e, ["ID", "PROTOCOLVERSION"])?;
        let id = id
            .ok_or_else(|| self.err(e, "missing attribute ID"))?
            .into_owned();
        let protocol_version = pv
            .ok_or_else(|| self.err(e, "missing attribute PROTOCOLVERSION"))?
            .into_owned();
        let b = self.required_child(e, "SIMPLEREQ, SIMPLERSP, SIMPLEEXPREQ or SIMPLEEXPRSP")?;
        let body = match b.name {
            b"SIMPLEREQ" => self.parse_simple_req(&b)?,
            b"SIMPLERSP" => self.parse_simple_rsp(&b)?,
            b"SIMPLEEXPREQ" => self.parse_simple_exp_req(&b)?,
            b"SIMPLEEXPRSP" => self.parse_simple_exp_rsp(&b)?,
            b"MULTIREQ" | b"MULTIRSP" | b"MULTIEXPREQ" | b"MULTIEXPRSP" => {
                return Err(self.err(&b, "multiple-operation messages are not supported"))
            }
            _ => return Err(self.err(&b, "not allowed in MESSAGE")),
        };
        self.no_children(e)?;
        Ok(Message {
            id,
            protocol_version,
            body,
        })
    }

    /// `<!ELEMENT SIMPLEREQ (CORRELATOR*,(METHODCALL|IMETHODCALL))>`
    fn parse_simple_req(&mut self, e: &Elem<'a>) -> Result<MessageBody> {
        loop {
            let c = self.required_child(e, "METHODCALL or IMETHODCALL")?;
            let body = match c.name {
                b"CORRELATOR" => {
                    self.skip(&c)?;
                    continue;
                }
                b"IMETHODCALL" => {
                    MessageBody::IMethodCall(super::params::parse_imethod_call(self, &c)?)
                }
                b"METHODCALL" => MessageBody::MethodCall(self.parse_method_call(&c)?),
                _ => return Err(self.err(&c, "not allowed in SIMPLEREQ")),
            };
            self.no_children(e)?;
            return Ok(body);
        }
    }

    /// Consumes an element and everything in it (for ignorable elements
    /// such as `CORRELATOR`).
    fn skip(&mut self, _e: &Elem<'a>) -> Result<()> {
        if self.pending_empty {
            self.pending_empty = false;
            self.leave();
            return Ok(());
        }
        let target = self.depth - 1;
        loop {
            let (pos, ev) = self.next_event()?;
            match ev {
                Event::Start(s) => {
                    self.enter(pos, s)?;
                }
                Event::Empty(s) => {
                    self.enter(pos, s)?;
                    self.leave();
                }
                Event::End(end) => {
                    self.close(pos, end.name().as_ref())?;
                    if self.depth == target {
                        return Ok(());
                    }
                }
                Event::DocType(_) => {
                    return Err(
                        self.xml_err(pos, "DOCTYPE and entity declarations are not accepted")
                    )
                }
                Event::Eof => return Err(self.xml_err(pos, "unexpected end of document")),
                _ => {}
            }
        }
    }

    /// `<!ELEMENT METHODCALL ((LOCALCLASSPATH|LOCALINSTANCEPATH),PARAMVALUE*)>
    /// <!ATTLIST METHODCALL %CIMName;>`. The target path is returned without
    /// namespace; the namespace is [`MethodCall::namespace`].
    fn parse_method_call(&mut self, e: &Elem<'a>) -> Result<MethodCall> {
        let method = self.name_attr(e, "NAME")?;
        let t = self.required_child(e, "LOCALINSTANCEPATH or LOCALCLASSPATH")?;
        let mut target = match t.name {
            b"LOCALINSTANCEPATH" => self.parse_local_instance_path(&t)?,
            b"LOCALCLASSPATH" => self.parse_local_class_path(&t)?,
            _ => return Err(self.err(&t, "expected LOCALINSTANCEPATH or LOCALCLASSPATH")),
        };
        let namespace = target.namespace.take().unwrap_or_default();
        let mut params = Vec::new();
        while let Some(c) = self.child()? {
            match c.name {
                b"PARAMVALUE" => params.push(self.parse_param_value(&c)?),
                _ => return Err(self.err(&c, "not allowed in METHODCALL")),
            }
        }
        Ok(MethodCall {
            namespace,
            target,
            method,
            params,
        })
    }

    /// `PARAMTYPE` and `EmbeddedObject` of a `PARAMVALUE` or `RETURNVALUE`.
    fn param_type(
        &self,
        e: &Elem<'_>,
        pt: Option<&str>,
        emb: Option<&str>,
    ) -> Result<Option<CimType>> {
        let Some(pt) = pt else {
            return match emb {
                None => Ok(None),
                Some(_) => self.embedded_type(e, CimType::String, emb).map(Some),
            };
        };
        // DSP0201 2.4's %ParamType also allows "object" and "instance".
        if pt.eq_ignore_ascii_case("object") {
            return Ok(Some(CimType::EmbeddedObject));
        }
        if pt.eq_ignore_ascii_case("instance") {
            return Ok(Some(CimType::EmbeddedInstance));
        }
        match CimType::from_name(pt) {
            Some(CimType::Reference(_)) => Ok(Some(CimType::Reference(None))),
            Some(t) => self.embedded_type(e, t, emb).map(Some),
            None => Err(self.err(e, format!("PARAMTYPE={pt:?} is not a CIM data type"))),
        }
    }

    /// `<!ELEMENT PARAMVALUE (VALUE|VALUE.REFERENCE|VALUE.ARRAY|VALUE.REFARRAY|
    /// CLASSNAME|INSTANCENAME|CLASS|INSTANCE|VALUE.NAMEDINSTANCE)?>
    /// <!ATTLIST PARAMVALUE %CIMName; %ParamType; #IMPLIED %EmbeddedObject;>`.
    /// Without `PARAMTYPE`, `VALUE` text stays a string.
    pub(super) fn parse_param_value(&mut self, e: &Elem<'a>) -> Result<ParamValue> {
        let [name, pt, pt2, emb, emb2] = self.attrs(
            e,
            [
                "NAME",
                "PARAMTYPE",
                "TYPE",
                "EmbeddedObject",
                "EMBEDDEDOBJECT",
            ],
        )?;
        let pt = pt.or(pt2);
        let name = CimName::from(
            name.ok_or_else(|| self.err(e, "missing attribute NAME"))?
                .into_owned(),
        );
        let ty = self.param_type(e, pt.as_deref(), emb.or(emb2).as_deref())?;
        let value = match self.child()? {
            None => {
                return Ok(ParamValue {
                    name,
                    ty,
                    value: Value::Null,
                })
            }
            Some(c) => {
                let v = self.any_value(&c, ty.as_ref(), "PARAMVALUE")?;
                self.no_children(e)?;
                v
            }
        };
        Ok(ParamValue { name, ty, value })
    }

    /// The value-carrying elements allowed in `PARAMVALUE`/`RETURNVALUE`.
    fn any_value(&mut self, c: &Elem<'a>, ty: Option<&CimType>, parent: &str) -> Result<Value> {
        let string = CimType::String;
        let untyped = ty.is_none();
        let ty = ty.unwrap_or(&string);
        // Objects only where a string (embedded object) may stand; paths only
        // where a reference may: the value must fit the declared PARAMTYPE.
        let refs_ok = untyped || ty.is_reference();
        let class_ok = matches!(ty, CimType::String | CimType::EmbeddedObject);
        let inst_ok = class_ok || *ty == CimType::EmbeddedInstance;
        Ok(match c.name {
            b"VALUE" if !ty.is_reference() => self.parse_value(c, ty)?,
            b"VALUE.ARRAY" if !ty.is_reference() => Value::Array(self.parse_value_array(c, ty)?),
            b"VALUE.REFERENCE" if refs_ok => Value::Reference(self.parse_value_reference(c)?),
            b"VALUE.REFARRAY" if refs_ok => Value::Array(self.parse_value_refarray(c)?),
            b"CLASSNAME" if refs_ok => {
                Value::Reference(ObjectPath::class(None, self.parse_class_name(c)?))
            }
            b"INSTANCENAME" if refs_ok => Value::Reference(self.parse_instance_name(c)?),
            b"CLASS" if class_ok => Value::Class(Box::new(self.parse_class(c)?)),
            b"INSTANCE" if inst_ok => Value::Instance(Box::new(self.parse_instance(c)?)),
            b"VALUE.NAMEDINSTANCE" if inst_ok => {
                Value::Instance(Box::new(self.parse_value_named_instance(c)?))
            }
            _ => {
                return Err(self.err(
                    c,
                    format!("not allowed in {parent} of type {}", ty.xml_name()),
                ))
            }
        })
    }

    /// `<!ELEMENT SIMPLERSP (METHODRESPONSE|IMETHODRESPONSE)>`
    fn parse_simple_rsp(&mut self, e: &Elem<'a>) -> Result<MessageBody> {
        let c = self.required_child(e, "METHODRESPONSE or IMETHODRESPONSE")?;
        let body = match c.name {
            b"IMETHODRESPONSE" => MessageBody::IMethodResponse(self.parse_imethod_response(&c)?),
            b"METHODRESPONSE" => MessageBody::MethodResponse(self.parse_method_response(&c)?),
            _ => return Err(self.err(&c, "not allowed in SIMPLERSP")),
        };
        self.no_children(e)?;
        Ok(body)
    }

    /// `<!ELEMENT ERROR (INSTANCE*)> <!ATTLIST ERROR CODE #REQUIRED DESCRIPTION #IMPLIED>`.
    /// Embedded `CIM_Error` instances are validated and dropped. An unknown
    /// code becomes `CIM_ERR_FAILED` with the number in the description.
    fn parse_error(&mut self, e: &Elem<'a>) -> Result<CimError> {
        let [code, desc] = self.attrs(e, ["CODE", "DESCRIPTION"])?;
        let code = code.ok_or_else(|| self.err(e, "missing attribute CODE"))?;
        let n: u32 = code
            .trim()
            .parse()
            .map_err(|_| self.err(e, format!("CODE={code:?} is not a number")))?;
        let mut description = desc.map(Cow::into_owned).unwrap_or_default();
        let status = match StatusCode::from_code(n) {
            Some(s) => s,
            None => {
                description = format!("(status code {n}) {description}");
                StatusCode::Failed
            }
        };
        while let Some(c) = self.child()? {
            match c.name {
                b"INSTANCE" => {
                    self.parse_instance(&c)?;
                }
                _ => return Err(self.err(&c, "not allowed in ERROR")),
            }
        }
        Ok(CimError::new(status, description))
    }

    /// `<!ELEMENT METHODRESPONSE (ERROR|(RETURNVALUE?,PARAMVALUE*))>`
    fn parse_method_response(&mut self, e: &Elem<'a>) -> Result<MethodResponse> {
        let name = self.name_attr(e, "NAME")?;
        let mut result = MethodResult {
            return_value: Value::Null,
            return_type: None,
            out_params: Vec::new(),
        };
        let mut first = true;
        while let Some(c) = self.child()? {
            match c.name {
                b"ERROR" if first => {
                    let err = self.parse_error(&c)?;
                    self.no_children(e)?;
                    return Ok(MethodResponse {
                        name,
                        result: Err(err),
                    });
                }
                b"RETURNVALUE" if first => {
                    // <!ELEMENT RETURNVALUE (VALUE|VALUE.REFERENCE)?>
                    let [pt, emb, emb2] =
                        self.attrs(&c, ["PARAMTYPE", "EmbeddedObject", "EMBEDDEDOBJECT"])?;
                    let ty = self.param_type(&c, pt.as_deref(), emb.or(emb2).as_deref())?;
                    if let Some(v) = self.child()? {
                        if !matches!(v.name, b"VALUE" | b"VALUE.REFERENCE") {
                            return Err(self.err(&v, "not allowed in RETURNVALUE"));
                        }
                        result.return_value = self.any_value(&v, ty.as_ref(), "RETURNVALUE")?;
                        self.no_children(&c)?;
                    }
                    result.return_type = ty;
                }
                b"PARAMVALUE" => result.out_params.push(self.parse_param_value(&c)?),
                _ => return Err(self.err(&c, "not allowed in METHODRESPONSE")),
            }
            first = false;
        }
        Ok(MethodResponse {
            name,
            result: Ok(result),
        })
    }

    /// `<!ELEMENT IMETHODRESPONSE (ERROR|(IRETURNVALUE?,PARAMVALUE*))>`; the
    /// `IRETURNVALUE` content is interpreted by the operation `NAME`, and the
    /// pull operations' `EnumerationContext`/`EndOfSequence` output parameters
    /// are folded into [`PullResult`].
    fn parse_imethod_response(&mut self, e: &Elem<'a>) -> Result<IMethodResponse> {
        let name = self.attr_req(e, "NAME")?;
        let mut items: Option<Vec<RetItem>> = None;
        let mut params: Vec<ParamValue> = Vec::new();
        let mut first = true;
        while let Some(c) = self.child()? {
            match c.name {
                b"ERROR" if first => {
                    let err = self.parse_error(&c)?;
                    self.no_children(e)?;
                    return Ok(IMethodResponse {
                        name,
                        result: Err(err),
                    });
                }
                b"IRETURNVALUE" if first => items = Some(self.parse_ireturn_value(&c)?),
                b"PARAMVALUE" => params.push(self.parse_param_value(&c)?),
                _ => return Err(self.err(&c, "not allowed in IMETHODRESPONSE")),
            }
            first = false;
        }
        let response = self.response_for(e, &name, items, params)?;
        Ok(IMethodResponse {
            name,
            result: Ok(response),
        })
    }

    /// `<!ELEMENT IRETURNVALUE (CLASSNAME*|INSTANCENAME*|VALUE*|VALUE.OBJECTWITHPATH*|
    /// VALUE.OBJECTWITHLOCALPATH*|VALUE.OBJECT*|OBJECTPATH*|QUALIFIER.DECLARATION*|
    /// VALUE.ARRAY?|VALUE.REFERENCE?|CLASS*|INSTANCE*|INSTANCEPATH*|
    /// VALUE.NAMEDINSTANCE*|VALUE.INSTANCEWITHPATH*)>`
    fn parse_ireturn_value(&mut self, _e: &Elem<'a>) -> Result<Vec<RetItem>> {
        let mut items = Vec::new();
        while let Some(c) = self.child()? {
            let item = match c.name {
                b"CLASSNAME" => RetItem::ClassName(self.parse_class_name(&c)?),
                b"INSTANCENAME" => RetItem::Path(self.parse_instance_name(&c)?),
                b"INSTANCEPATH" => RetItem::Path(self.parse_instance_path(&c)?),
                b"OBJECTPATH" => RetItem::Path(self.parse_object_path(&c)?),
                b"VALUE" => RetItem::Text(self.text()?.into_owned(), c.pos),
                b"VALUE.ARRAY" => RetItem::Array(self.parse_string_array(&c)?),
                b"VALUE.REFERENCE" => RetItem::Reference(self.parse_value_reference(&c)?),
                b"VALUE.OBJECTWITHPATH" | b"VALUE.OBJECTWITHLOCALPATH" => {
                    let (p, o) = self.parse_object_with_path(&c)?;
                    RetItem::Object(p, o)
                }
                b"VALUE.OBJECT" | b"VALUE.NAMEDOBJECT" => {
                    let (p, o) = self.parse_value_object(&c)?;
                    RetItem::Object(p, o)
                }
                b"QUALIFIER.DECLARATION" => RetItem::QualifierDecl(self.parse_qualifier_decl(&c)?),
                b"CLASS" => RetItem::Class(self.parse_class(&c)?),
                b"INSTANCE" => RetItem::Instance(self.parse_instance(&c)?),
                b"VALUE.NAMEDINSTANCE" => {
                    RetItem::NamedInstance(self.parse_value_named_instance(&c)?)
                }
                b"VALUE.INSTANCEWITHPATH" => {
                    RetItem::InstanceWithPath(self.parse_value_instance_with_path(&c)?)
                }
                _ => return Err(self.err(&c, "not allowed in IRETURNVALUE")),
            };
            items.push(item);
        }
        Ok(items)
    }

    /// Maps `IRETURNVALUE` items to the [`Response`] of operation `name`.
    fn response_for(
        &self,
        e: &Elem<'_>,
        name: &str,
        items: Option<Vec<RetItem>>,
        params: Vec<ParamValue>,
    ) -> Result<Response> {
        let items = items.unwrap_or_default();
        let bad = |what: &str| self.err(e, format!("{name} response holds {what}"));
        let kind = |i: &RetItem| i.kind();
        macro_rules! collect {
            ($variant:ident, $pat:pat => $out:expr) => {{
                let mut v = Vec::with_capacity(items.len());
                for i in items {
                    match i {
                        $pat => v.push($out),
                        other => return Err(bad(kind(&other))),
                    }
                }
                Response::$variant(v)
            }};
        }
        let lname = name.to_ascii_lowercase();
        let single = |items: Vec<RetItem>| -> Result<Option<RetItem>> {
            let mut it = items.into_iter();
            let first = it.next();
            if let Some(extra) = it.next() {
                return Err(bad(&format!("more than one item ({})", extra.kind())));
            }
            Ok(first)
        };
        Ok(match lname.as_str() {
            "getclass" => match single(items)? {
                Some(RetItem::Class(c)) => Response::Class(c),
                Some(other) => return Err(bad(other.kind())),
                None => return Err(bad("no CLASS")),
            },
            "enumerateclasses" => collect!(Classes, RetItem::Class(c) => c),
            "enumerateclassnames" => collect!(ClassNames, RetItem::ClassName(c) => c),
            "getinstance" => match single(items)? {
                Some(RetItem::Instance(i)) => Response::Instance(i),
                Some(other) => return Err(bad(other.kind())),
                None => return Err(bad("no INSTANCE")),
            },
            "enumerateinstances" => collect!(NamedInstances, RetItem::NamedInstance(i) => i),
            "enumerateinstancenames" => collect!(InstanceNames, RetItem::Path(p) => p),
            "createinstance" => match single(items)? {
                Some(RetItem::Path(p)) => Response::InstanceName(p),
                Some(other) => return Err(bad(other.kind())),
                None => return Err(bad("no INSTANCENAME")),
            },
            "associators" | "references" | "execquery" => {
                collect!(ObjectsWithPath, RetItem::Object(p, o) => (p, o))
            }
            "associatornames" | "referencenames" => collect!(ObjectPaths, RetItem::Path(p) => p),
            "getproperty" => Response::PropertyValue(match single(items)? {
                None => Value::Null,
                Some(RetItem::Text(t, _)) => Value::String(t),
                Some(RetItem::Array(a)) => Value::Array(
                    a.into_iter()
                        .map(|s| s.map(Value::String).unwrap_or(Value::Null))
                        .collect(),
                ),
                Some(RetItem::Reference(p)) => Value::Reference(p),
                Some(other) => return Err(bad(other.kind())),
            }),
            "getqualifier" => match single(items)? {
                Some(RetItem::QualifierDecl(d)) => Response::QualifierDecl(d),
                Some(other) => return Err(bad(other.kind())),
                None => return Err(bad("no QUALIFIER.DECLARATION")),
            },
            "enumeratequalifiers" => collect!(QualifierDecls, RetItem::QualifierDecl(d) => d),
            "enumerationcount" => match single(items)? {
                None => Response::Count(None),
                Some(RetItem::Text(t, _)) => Response::Count(Some(
                    t.trim()
                        .parse()
                        .map_err(|_| self.err(e, format!("count {t:?} is not a uint64")))?,
                )),
                Some(other) => return Err(bad(other.kind())),
            },
            "openenumerateinstances"
            | "openassociatorinstances"
            | "openreferenceinstances"
            | "pullinstanceswithpath" => {
                let mut v = Vec::with_capacity(items.len());
                for i in items {
                    match i {
                        RetItem::InstanceWithPath(i) => v.push(i),
                        other => return Err(bad(other.kind())),
                    }
                }
                self.pull_result(e, PullItems::InstancesWithPath(v), params)?
            }
            "openenumerateinstancepaths"
            | "openassociatorinstancepaths"
            | "openreferenceinstancepaths"
            | "pullinstancepaths" => {
                let mut v = Vec::with_capacity(items.len());
                for i in items {
                    match i {
                        RetItem::Path(p) => v.push(p),
                        other => return Err(bad(other.kind())),
                    }
                }
                self.pull_result(e, PullItems::InstancePaths(v), params)?
            }
            "openqueryinstances" | "pullinstances" => {
                let mut v = Vec::with_capacity(items.len());
                for i in items {
                    match i {
                        RetItem::Instance(i) => v.push(i),
                        other => return Err(bad(other.kind())),
                    }
                }
                self.pull_result(e, PullItems::Instances(v), params)?
            }
            _ => {
                if let Some(first) = items.first() {
                    return Err(bad(first.kind()));
                }
                Response::Empty
            }
        })
    }

    /// Folds the `EnumerationContext`, `EndOfSequence` and `QueryResultClass`
    /// output `PARAMVALUE`s of a pull response (DSP0200 1.4 §5.3.2) into a [`PullResult`].
    fn pull_result(
        &self,
        e: &Elem<'_>,
        items: PullItems,
        params: Vec<ParamValue>,
    ) -> Result<Response> {
        let mut r = PullResult {
            items,
            end_of_sequence: false,
            enumeration_context: None,
            query_result_class: None,
        };
        let mut saw_eos = false;
        for p in params {
            if p.name.is("EnumerationContext") {
                r.enumeration_context = match p.value {
                    Value::Null => None,
                    Value::String(s) => Some(s),
                    _ => return Err(self.err(e, "EnumerationContext is not a string")),
                };
            } else if p.name.is("EndOfSequence") {
                r.end_of_sequence = match p.value {
                    Value::Boolean(b) => b,
                    Value::String(s) if s.trim().eq_ignore_ascii_case("true") => true,
                    Value::String(s) if s.trim().eq_ignore_ascii_case("false") => false,
                    _ => return Err(self.err(e, "EndOfSequence is not a boolean")),
                };
                saw_eos = true;
            } else if p.name.is("QueryResultClass") {
                match p.value {
                    Value::Class(c) => r.query_result_class = Some(*c),
                    Value::Null => {}
                    _ => return Err(self.err(e, "QueryResultClass is not a CLASS")),
                }
            } else {
                return Err(self.err(e, format!("unexpected output parameter {}", p.name)));
            }
        }
        if !saw_eos {
            return Err(self.err(e, "pull response without EndOfSequence"));
        }
        Ok(Response::Pull(r))
    }

    /// `<!ELEMENT SIMPLEEXPREQ (CORRELATOR*,EXPMETHODCALL)>`,
    /// `<!ELEMENT EXPMETHODCALL (EXPPARAMVALUE*)>`, `<!ELEMENT EXPPARAMVALUE (INSTANCE?)>`:
    /// only `ExportIndication` with its `NewIndication` instance.
    fn parse_simple_exp_req(&mut self, e: &Elem<'a>) -> Result<MessageBody> {
        let call = loop {
            let c = self.required_child(e, "EXPMETHODCALL")?;
            if c.name == b"CORRELATOR" {
                self.skip(&c)?;
                continue;
            }
            self.expect(&c, "EXPMETHODCALL")?;
            break c;
        };
        let name = self.attr_req(&call, "NAME")?;
        if !name.eq_ignore_ascii_case("ExportIndication") {
            return Err(self.err(&call, format!("unknown export method {name:?}")));
        }
        let mut indication = None;
        while let Some(p) = self.child()? {
            self.expect(&p, "EXPPARAMVALUE")?;
            let pname = self.attr_req(&p, "NAME")?;
            if !pname.eq_ignore_ascii_case("NewIndication") || indication.is_some() {
                return Err(self.err(&p, format!("unexpected export parameter {pname:?}")));
            }
            let i = self.required_child(&p, "INSTANCE")?;
            indication = Some(self.parse_instance(&i)?);
            self.no_children(&p)?;
        }
        let indication = indication.ok_or_else(|| self.err(&call, "missing NewIndication"))?;
        self.no_children(e)?;
        Ok(MessageBody::ExportIndication(indication))
    }

    /// `<!ELEMENT SIMPLEEXPRSP (EXPMETHODRESPONSE)>`,
    /// `<!ELEMENT EXPMETHODRESPONSE (ERROR|IRETURNVALUE?)>`
    fn parse_simple_exp_rsp(&mut self, e: &Elem<'a>) -> Result<MessageBody> {
        let r = self.required_child(e, "EXPMETHODRESPONSE")?;
        self.expect(&r, "EXPMETHODRESPONSE")?;
        self.attr_req(&r, "NAME")?;
        let mut result = Ok(());
        if let Some(c) = self.child()? {
            match c.name {
                b"ERROR" => result = Err(self.parse_error(&c)?),
                b"IRETURNVALUE" => self.skip(&c)?,
                _ => return Err(self.err(&c, "not allowed in EXPMETHODRESPONSE")),
            }
            self.no_children(&r)?;
        }
        self.no_children(e)?;
        Ok(MessageBody::ExportResponse(result))
    }
}

/// The DSP0201 spellings of the types, without `from_name`'s lowercase copy.
fn fast_type(v: &str) -> Option<CimType> {
    Some(match v {
        "string" => CimType::String,
        "boolean" => CimType::Boolean,
        "uint8" => CimType::Uint8,
        "uint16" => CimType::Uint16,
        "uint32" => CimType::Uint32,
        "uint64" => CimType::Uint64,
        "sint8" => CimType::Sint8,
        "sint16" => CimType::Sint16,
        "sint32" => CimType::Sint32,
        "sint64" => CimType::Sint64,
        "datetime" => CimType::DateTime,
        "real32" => CimType::Real32,
        "real64" => CimType::Real64,
        "char16" => CimType::Char16,
        _ => return None,
    })
}

/// One item of an `IRETURNVALUE`, before the operation decides what it means.
enum RetItem {
    ClassName(CimName),
    Path(ObjectPath),
    Text(String, #[allow(dead_code)] u64),
    Array(Vec<Option<String>>),
    Reference(ObjectPath),
    Object(ObjectPath, CimObject),
    QualifierDecl(QualifierDecl),
    Class(Class),
    Instance(Instance),
    NamedInstance(Instance),
    InstanceWithPath(Instance),
}

impl RetItem {
    fn kind(&self) -> &'static str {
        match self {
            RetItem::ClassName(_) => "CLASSNAME",
            RetItem::Path(_) => "an instance or object path",
            RetItem::Text(..) => "VALUE",
            RetItem::Array(_) => "VALUE.ARRAY",
            RetItem::Reference(_) => "VALUE.REFERENCE",
            RetItem::Object(..) => "VALUE.OBJECT*",
            RetItem::QualifierDecl(_) => "QUALIFIER.DECLARATION",
            RetItem::Class(_) => "CLASS",
            RetItem::Instance(_) => "INSTANCE",
            RetItem::NamedInstance(_) => "VALUE.NAMEDINSTANCE",
            RetItem::InstanceWithPath(_) => "VALUE.INSTANCEWITHPATH",
        }
    }
}

// ---------------------------------------------------------------------------
// Entry points

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
