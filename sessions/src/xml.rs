//! The XML layer under the parser: quick-xml events turned into a small tree
//! of [`Node`]s with a line:column on every element, attribute and text, and
//! the document-level rules of `copy-session/1` (UTF-8 only, no DOCTYPE or
//! entity declarations, only the five predefined entities and character
//! references, no prefixes, bounded size and depth). Element-level rules live
//! in `parse.rs`.

use crate::{Diagnostic, Pos};
use quick_xml::events::attributes::AttrError;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// Deeper than any valid document (4 levels) by far, shallow enough that
/// dropping a hostile tree cannot exhaust the stack.
const MAX_DEPTH: usize = 32;
/// More than any sensible session; bounds memory on hostile input.
const MAX_ELEMENTS: usize = 100_000;

/// Byte offsets to line:column.
pub(crate) struct Lines<'a> {
    src: &'a str,
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    pub(crate) fn new(src: &'a str) -> Lines<'a> {
        let mut starts = vec![0];
        starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        Lines { src, starts }
    }

    pub(crate) fn pos(&self, offset: usize) -> Pos {
        let offset = offset.min(self.src.len());
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        let col = self
            .src
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        Pos {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            col: u32::try_from(col + 1).unwrap_or(u32::MAX),
        }
    }
}

/// An attribute as written, value unescaped (not yet trimmed).
#[derive(Debug)]
pub(crate) struct Attr {
    pub name: String,
    pub value: String,
    pub pos: Pos,
}

/// An element with its attributes, child elements and text.
#[derive(Debug, Default)]
pub(crate) struct Node {
    pub name: String,
    pub pos: Pos,
    pub attrs: Vec<Attr>,
    pub children: Vec<Node>,
    /// The character data, references resolved (not yet trimmed).
    pub text: String,
    /// Where the first non-blank character of the text is (or the element).
    pub text_pos: Pos,
    /// Where the first non-blank text is, if any (element-only content must have none).
    pub stray_text: Option<Pos>,
}

struct Builder<'a> {
    lines: Lines<'a>,
    src: &'a str,
    elements: usize,
}

impl<'a> Builder<'a> {
    fn at(&self, offset: u64) -> Pos {
        self.lines
            .pos(usize::try_from(offset).unwrap_or(usize::MAX))
    }

    /// Offset of a slice quick-xml handed out from the input.
    fn offset_of(&self, bytes: &[u8]) -> usize {
        (bytes.as_ptr() as usize).wrapping_sub(self.src.as_ptr() as usize)
    }

    fn open(&mut self, offset: u64, start: &BytesStart<'_>) -> Result<Node, Diagnostic> {
        let pos = self.at(offset);
        self.elements += 1;
        if self.elements > MAX_ELEMENTS {
            return Err(Diagnostic::new(pos, "too many elements"));
        }
        let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
        if name.contains(':') {
            return Err(Diagnostic::new(
                pos,
                format!("element <{name}>: namespace prefixes are not used in copy-session/1"),
            ));
        }
        let mut node = Node {
            name,
            pos,
            text_pos: pos,
            ..Node::default()
        };
        let mut attrs = start.attributes();
        attrs.with_checks(true);
        for a in attrs {
            let a = a.map_err(|e| self.attr_error(offset, &e))?;
            let apos = self.lines.pos(self.offset_of(a.key.as_ref()));
            let aname = String::from_utf8_lossy(a.key.as_ref()).into_owned();
            let value = a
                .unescape_value()
                .map_err(|e| Diagnostic::new(apos, format!("attribute {aname}: {e}")))?;
            node.attrs.push(Attr {
                name: aname,
                value: value.into_owned(),
                pos: apos,
            });
        }
        Ok(node)
    }

    /// An attribute syntax error of the tag at `offset`, placed where it is
    /// (quick-xml counts from the first byte after `<`).
    fn attr_error(&self, offset: u64, e: &AttrError) -> Diagnostic {
        let (at, what) = match e {
            AttrError::Duplicated(at, _) => (*at, "duplicated attribute"),
            AttrError::ExpectedEq(at) => (*at, "expected '=' after the attribute name"),
            AttrError::ExpectedValue(at) => (*at, "expected an attribute value"),
            AttrError::UnquotedValue(at) => (*at, "attribute values must be quoted"),
            AttrError::ExpectedQuote(at, _) => (*at, "unclosed attribute value"),
        };
        Diagnostic::new(
            self.at(offset + 1 + at as u64),
            format!("malformed attribute: {what}"),
        )
    }

    fn text(&self, node: &mut Node, offset: u64, piece: &str) {
        if let Some(i) = piece.find(|c: char| !c.is_ascii_whitespace()) {
            if node.stray_text.is_none() && node.text.trim().is_empty() {
                let p = self.at(offset + i as u64);
                node.text_pos = p;
                node.stray_text = Some(p);
            }
        }
        node.text.push_str(piece);
    }
}

const NO_DOCTYPE: &str = "DOCTYPE and entity declarations are not accepted";

/// Reads `src` into the root [`Node`]. The first violation ends reading.
pub(crate) fn read_tree(src: &str) -> Result<Node, Diagnostic> {
    let mut b = Builder {
        lines: Lines::new(src),
        src,
        elements: 0,
    };
    let mut reader = Reader::from_str(src);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    loop {
        let offset = reader.buffer_position();
        let ev = reader.read_event().map_err(|e| {
            Diagnostic::new(b.at(reader.error_position()), format!("malformed XML: {e}"))
        })?;
        let pos = b.at(offset);
        match ev {
            Event::Decl(d) => {
                if offset != 0 {
                    return Err(Diagnostic::new(pos, "misplaced XML declaration"));
                }
                if let Some(enc) = d.encoding() {
                    let enc = enc.map_err(|e| {
                        Diagnostic::new(pos, format!("malformed XML declaration: {e}"))
                    })?;
                    if !enc.eq_ignore_ascii_case(b"utf-8") {
                        return Err(Diagnostic::new(pos, "only UTF-8 documents are accepted"));
                    }
                }
            }
            Event::DocType(_) => return Err(Diagnostic::new(pos, NO_DOCTYPE)),
            Event::Start(s) => {
                if root.is_some() {
                    return Err(Diagnostic::new(pos, "content after the root element"));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(Diagnostic::new(pos, "elements nested too deeply"));
                }
                let node = b.open(offset, &s)?;
                stack.push(node);
            }
            Event::Empty(s) => {
                if root.is_some() {
                    return Err(Diagnostic::new(pos, "content after the root element"));
                }
                let node = b.open(offset, &s)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => root = Some(node),
                }
            }
            Event::End(_) => {
                // quick-xml checked that the name matches.
                let Some(node) = stack.pop() else {
                    return Err(Diagnostic::new(pos, "unexpected end tag"));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => root = Some(node),
                }
            }
            Event::Text(t) => {
                let piece = t
                    .xml_content()
                    .map_err(|e| Diagnostic::new(pos, format!("malformed text: {e}")))?;
                match stack.last_mut() {
                    Some(node) => b.text(node, offset, &piece),
                    None if piece.trim().is_empty() => {}
                    None => return Err(Diagnostic::new(pos, "text outside the root element")),
                }
            }
            Event::CData(t) => {
                let piece = String::from_utf8_lossy(&t).into_owned();
                match stack.last_mut() {
                    Some(node) => b.text(node, offset, &piece),
                    None => return Err(Diagnostic::new(pos, "text outside the root element")),
                }
            }
            Event::GeneralRef(r) => {
                let name = String::from_utf8_lossy(&r).into_owned();
                let ch = if r.is_char_ref() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        _ => return Err(Diagnostic::new(pos, "invalid character reference")),
                    }
                } else if let Some(v) = quick_xml::escape::resolve_predefined_entity(&name) {
                    v.to_owned()
                } else {
                    return Err(Diagnostic::new(
                        pos,
                        format!("undefined entity &{name};: {NO_DOCTYPE}"),
                    ));
                };
                match stack.last_mut() {
                    Some(node) => b.text(node, offset, &ch),
                    None => return Err(Diagnostic::new(pos, "text outside the root element")),
                }
            }
            Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => {
                if let Some(open) = stack.last() {
                    return Err(Diagnostic::new(
                        b.at(offset),
                        format!(
                            "unexpected end of document: <{}> (at {}) is not closed",
                            open.name, open.pos
                        ),
                    ));
                }
                return root.ok_or_else(|| Diagnostic::new(pos, "empty document"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_characters() {
        let l = Lines::new("ab\nçé<x\n\nz");
        assert_eq!((l.pos(0).line, l.pos(0).col), (1, 1));
        assert_eq!((l.pos(3).line, l.pos(3).col), (2, 1));
        // `<` after two 2-byte characters is column 3.
        assert_eq!((l.pos(7).line, l.pos(7).col), (2, 3));
        assert_eq!((l.pos(11).line, l.pos(11).col), (4, 1));
    }

    #[test]
    fn deep_nesting_and_prefixes_are_refused() {
        let deep = format!("{}{}", "<a>".repeat(40), "</a>".repeat(40));
        assert_eq!(
            read_tree(&deep).unwrap_err().message,
            "elements nested too deeply"
        );
        let e = read_tree("<cs:SESSION xmlns:cs='urn:ds:copy-session:1'/>").unwrap_err();
        assert!(e.message.contains("namespace prefixes"), "{}", e.message);
        let e = read_tree("<?xml version='1.0' encoding='ISO-8859-1'?><a/>").unwrap_err();
        assert_eq!(e.message, "only UTF-8 documents are accepted");
        let n = read_tree("<a x='1&amp;2'>t&#x41;<![CDATA[<b>]]></a>").unwrap();
        assert_eq!(
            (n.attrs[0].value.as_str(), n.text.as_str()),
            ("1&2", "tA<b>")
        );
    }
}
