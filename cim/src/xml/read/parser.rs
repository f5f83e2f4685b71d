//! The reader's machinery: the [`Parser`] over quick-xml's event stream, with
//! the limit bookkeeping (depth, element count, size), UTF-8 and character
//! checks, child/text access and attribute decoding that every element
//! family builds on.

use crate::error::Error;
use crate::name::CimName;
use crate::types::CimType;
use crate::xml::Limits;
use quick_xml::events::{BytesStart, Event};
use std::borrow::Cow;

pub(in crate::xml) type Result<T> = std::result::Result<T, Error>;

/// An element start tag handed to a `parse_*` function.
pub(in crate::xml) struct Elem<'a> {
    /// The raw attribute text after the name, borrowed from the input.
    pub(super) attrs_raw: &'a str,
    /// The element name, borrowed from the input.
    pub(in crate::xml) name: &'a [u8],
    /// Byte offset of the `<`.
    pub(in crate::xml) pos: u64,
}

/// The event-stream parser with limit bookkeeping.
pub(in crate::xml) struct Parser<'a> {
    pub(super) xml: quick_xml::Reader<&'a [u8]>,
    pub(super) input: &'a [u8],
    /// The same input as `&str` (validated up front), so that text and
    /// attribute slices can be borrowed without re-validating UTF-8.
    pub(super) src: &'a str,
    pub(super) limits: Limits,
    pub(super) depth: usize,
    pub(super) elements: usize,
    /// The last element handed out was `<X/>`: its (empty) content is pending.
    pub(super) pending_empty: bool,
    /// Name and position of the open elements, for error messages.
    pub(super) stack: Vec<(&'a [u8], u64)>,
    /// Property count of the last instance, to size the next one's vector.
    pub(super) prop_hint: usize,
}

pub(super) fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The offset of the first character outside XML 1.0's `Char` production in
/// (valid UTF-8) `input`: C0 controls other than tab, LF and CR, and the
/// non-characters U+FFFE and U+FFFF. Surrogates cannot occur in valid UTF-8.
/// Character references to controls (`&#1;`) are still tolerated.
pub(super) fn illegal_char(input: &[u8]) -> Option<usize> {
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

pub(super) fn is_xml_space(b: &[u8]) -> bool {
    b.iter().all(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
}

impl<'a> Parser<'a> {
    /// A parser over `input`, which must already be valid UTF-8 and within
    /// `limits.max_bytes`.
    pub(in crate::xml) fn new(input: &'a str, limits: &Limits) -> Self {
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
    pub(in crate::xml) fn check_input(input: &[u8], limits: &Limits) -> Result<()> {
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

    pub(super) fn xml_err(&self, position: u64, reason: impl Into<String>) -> Error {
        Error::Xml {
            position,
            reason: reason.into(),
        }
    }

    /// A DSP0201 violation in element `e`.
    pub(in crate::xml) fn err(&self, e: &Elem<'_>, reason: impl Into<String>) -> Error {
        Error::Cim {
            element: lossy(e.name),
            position: e.pos,
            reason: reason.into(),
        }
    }

    /// A DSP0201 violation in the innermost open element.
    pub(super) fn err_here(&self, position: u64, reason: impl Into<String>) -> Error {
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

    pub(super) fn next_event(&mut self) -> Result<(u64, Event<'a>)> {
        let pos = self.xml.buffer_position();
        match self.xml.read_event() {
            Ok(ev) => Ok((pos, ev)),
            Err(e) => Err(self.xml_err(self.xml.error_position(), e.to_string())),
        }
    }

    pub(super) fn enter(&mut self, pos: u64, start: BytesStart<'a>) -> Result<Elem<'a>> {
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
    pub(super) fn borrow_str(&self, bytes: &[u8]) -> Result<&'a str> {
        let off = (bytes.as_ptr() as usize).wrapping_sub(self.input.as_ptr() as usize);
        self.src
            .get(off..off.wrapping_add(bytes.len()))
            .ok_or_else(|| self.xml_err(off as u64, "parser returned a slice outside the input"))
    }

    /// Text content as `&str`, with XML 1.0 line-end normalization (§2.11).
    pub(super) fn text_str(&self, bytes: &[u8]) -> Result<Cow<'a, str>> {
        let s = self.borrow_str(bytes)?;
        if !s.as_bytes().contains(&b'\r') {
            return Ok(Cow::Borrowed(s));
        }
        Ok(Cow::Owned(s.replace("\r\n", "\n").replace('\r', "\n")))
    }

    pub(super) fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        self.stack.pop();
    }

    /// An end tag: it must close the innermost open element.
    pub(super) fn close(&mut self, pos: u64, end: &[u8]) -> Result<()> {
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
    pub(in crate::xml) fn root(&mut self) -> Result<Elem<'a>> {
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
    pub(in crate::xml) fn finish(&mut self) -> Result<()> {
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
    pub(in crate::xml) fn child(&mut self) -> Result<Option<Elem<'a>>> {
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
    pub(in crate::xml) fn no_children(&mut self, e: &Elem<'_>) -> Result<()> {
        match self.child()? {
            None => Ok(()),
            Some(c) => Err(self.err(&c, format!("not allowed inside <{}>", lossy(e.name)))),
        }
    }

    /// The next child, which must exist.
    pub(in crate::xml) fn required_child(
        &mut self,
        parent: &Elem<'_>,
        what: &str,
    ) -> Result<Elem<'a>> {
        match self.child()? {
            Some(c) => Ok(c),
            None => Err(self.err(parent, format!("missing {what}"))),
        }
    }

    /// The text content of the current element (which may have no child
    /// elements), with references resolved and line ends normalized.
    pub(in crate::xml) fn text(&mut self) -> Result<Cow<'a, str>> {
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
    pub(in crate::xml) fn attrs<const N: usize>(
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
    pub(in crate::xml) fn attr_req(&self, e: &Elem<'a>, name: &str) -> Result<String> {
        let [v] = self.attrs(e, [name])?;
        v.map(Cow::into_owned)
            .ok_or_else(|| self.err(e, format!("missing attribute {name}")))
    }

    /// Checks that `e` is the element `want`.
    pub(in crate::xml) fn expect(&self, e: &Elem<'_>, want: &str) -> Result<()> {
        if e.name == want.as_bytes() {
            Ok(())
        } else {
            Err(self.err(e, format!("expected <{want}>")))
        }
    }

    /// A `NAME`-style attribute parsed as a CIM name.
    pub(super) fn name_attr(&self, e: &Elem<'a>, attr: &str) -> Result<CimName> {
        let n = self.attr_req(e, attr)?;
        if n.is_empty() {
            return Err(self.err(e, format!("empty attribute {attr}")));
        }
        Ok(CimName::from(n))
    }

    pub(super) fn bool_attr(
        &self,
        e: &Elem<'_>,
        name: &str,
        v: Option<&str>,
        default: bool,
    ) -> Result<bool> {
        match v {
            None => Ok(default),
            Some(s) if s.eq_ignore_ascii_case("true") => Ok(true),
            Some(s) if s.eq_ignore_ascii_case("false") => Ok(false),
            Some(s) => Err(self.err(e, format!("attribute {name}={s:?} is not true or false"))),
        }
    }

    pub(super) fn type_attr(&self, e: &Elem<'_>, v: Option<&str>, name: &str) -> Result<CimType> {
        let v = v.ok_or_else(|| self.err(e, format!("missing attribute {name}")))?;
        match fast_type(v).or_else(|| CimType::from_name(v)) {
            Some(CimType::Reference(_)) | None => {
                Err(self.err(e, format!("attribute {name}={v:?} is not a CIM data type")))
            }
            Some(t) => Ok(t),
        }
    }

    pub(super) fn array_size_attr(&self, e: &Elem<'_>, v: Option<&str>) -> Result<Option<u32>> {
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
    pub(super) fn embedded_type(
        &self,
        e: &Elem<'_>,
        ty: CimType,
        emb: Option<&str>,
    ) -> Result<CimType> {
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
}

/// The DSP0201 spellings of the types, without `from_name`'s lowercase copy.
pub(super) fn fast_type(v: &str) -> Option<CimType> {
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
