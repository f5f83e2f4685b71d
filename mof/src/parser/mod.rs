//! The parser's interface: one top-level production at a time (so that a
//! syntax error is reported and parsing resumes at the next declaration) as a
//! small parse [`Tree`] read through [`Pair`]s, plain-English syntax errors,
//! and the recovery helpers (where to resume, which unterminated string
//! caused an error). The grammar itself is in `grammar`.
//!
//! Real-world quirks accepted (all seen in published MOF):
//! include paths with backslashes (`"System\CIM_X.mof"`, read raw), keywords
//! in any case (`Instance of`, `CLASS`, `ref`, `TRUE`), comments anywhere
//! whitespace may appear (including inside `[ ]` array brackets), qualifier
//! array values written as `{...}` without parentheses, a trailing comma in
//! qualifier lists and array initializers, a final `//` comment without a
//! newline, and stray `;` between declarations.

mod grammar;

use grammar::{Fail, Parser};

/// The kinds of node in a parsed production (the names of the grammar's rules).
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rule {
    stray_semicolon,
    identifier,
    alias,
    kw_pragma,
    kw_qualifier,
    kw_class,
    kw_association,
    kw_indication,
    kw_instance,
    kw_of,
    kw_as,
    kw_ref,
    kw_scope,
    kw_flavor,
    kw_null,
    kw_true,
    kw_false,
    pragma,
    pragma_arg,
    qualifier_decl,
    scope_spec,
    flavor_spec,
    qualified_decl,
    class_decl,
    class_kind,
    superclass,
    feature,
    ref_head,
    type_head,
    property_tail,
    method_tail,
    parameter,
    array_spec,
    array_size,
    instance_decl,
    property_value,
    qualifier_list,
    qualifier,
    qualifier_param,
    qualifier_flavors,
    init_value,
    array_init,
    embedded_instance,
    string_value,
    string_lit,
    unterminated_string,
    char_lit,
    number,
    bad_token,
}

/// One node: its rule, its byte span, and the index just past its subtree
/// (nodes are stored in pre-order, so the children of node `i` run from
/// `i + 1` to `next`, each child's own `next` leading to its sibling).
#[derive(Debug, Clone, Copy)]
struct Node {
    rule: Rule,
    start: u32,
    end: u32,
    next: u32,
}

/// The parse tree of one production over its text; node 0 is the production.
pub(crate) struct Tree<'i> {
    text: &'i str,
    nodes: Vec<Node>,
}

impl<'i> Tree<'i> {
    fn open(&mut self, rule: Rule, start: usize) -> usize {
        self.nodes.push(Node {
            rule,
            start: start as u32,
            end: start as u32,
            next: 0,
        });
        self.nodes.len() - 1
    }

    fn close(&mut self, node: usize, end: usize) {
        let next = self.nodes.len() as u32;
        let n = &mut self.nodes[node];
        n.end = (end as u32).max(n.start);
        n.next = next;
    }

    fn push_leaf(&mut self, rule: Rule, start: usize, end: usize) {
        let next = self.nodes.len() as u32 + 1;
        self.nodes.push(Node {
            rule,
            start: start as u32,
            end: end as u32,
            next,
        });
    }

    /// The production.
    pub(crate) fn root(&self) -> Pair<'_> {
        Pair { tree: self, idx: 0 }
    }

    /// The byte length of the text the production spans from the start of the slice.
    pub(crate) fn end(&self) -> usize {
        self.nodes[0].end as usize
    }
}

/// A node of a [`Tree`], with the accessors the lowering reads.
#[derive(Clone, Copy)]
pub(crate) struct Pair<'t> {
    tree: &'t Tree<'t>,
    idx: usize,
}

impl<'t> Pair<'t> {
    pub(crate) fn as_rule(&self) -> Rule {
        self.tree.nodes[self.idx].rule
    }

    /// The text of the node.
    pub(crate) fn as_str(&self) -> &'t str {
        let n = &self.tree.nodes[self.idx];
        &self.tree.text[n.start as usize..n.end as usize]
    }

    /// Byte offset of the node in the parsed slice.
    pub(crate) fn start(&self) -> usize {
        self.tree.nodes[self.idx].start as usize
    }

    /// The node's children, in order.
    pub(crate) fn into_inner(self) -> Children<'t> {
        Children {
            tree: self.tree,
            cur: self.idx + 1,
            end: self.tree.nodes[self.idx].next as usize,
        }
    }
}

/// The children of a [`Pair`].
pub(crate) struct Children<'t> {
    tree: &'t Tree<'t>,
    cur: usize,
    end: usize,
}

impl<'t> Iterator for Children<'t> {
    type Item = Pair<'t>;

    fn next(&mut self) -> Option<Pair<'t>> {
        if self.cur >= self.end {
            return None;
        }
        let p = Pair {
            tree: self.tree,
            idx: self.cur,
        };
        self.cur = self.tree.nodes[self.cur].next as usize;
        Some(p)
    }
}

/// A syntax error: byte offset in the slice and an English message.
pub(crate) struct SyntaxError {
    pub pos: usize,
    pub message: String,
}

/// Parses the next production of `text` (leading whitespace and comments
/// included); `Ok(None)` when only whitespace and comments are left.
pub(crate) fn parse_production(text: &str) -> Result<Option<Tree<'_>>, SyntaxError> {
    let mut parser = Parser::new(text);
    match parser.production() {
        Ok(None) => Ok(None),
        Ok(Some(_)) => Ok(Some(parser.into_tree())),
        Err(Fail {
            pos,
            limit: Some(limit),
            ..
        }) => Err(SyntaxError {
            pos,
            message: limit.to_owned(),
        }),
        Err(Fail { pos, expected, .. }) => {
            let mut names: Vec<&str> = expected.to_vec();
            names.sort_unstable();
            names.dedup();
            let found = found_at(text, pos);
            let mut message = if names.is_empty() {
                format!("unexpected {found}")
            } else {
                format!("expected {}, found {found}", join_or(&names))
            };
            if missing_semicolon_before(text, pos) {
                message.push_str(" (is a ';' missing at the end of the previous line?)");
            }
            Err(SyntaxError { pos, message })
        }
    }
}

/// True when `pos` starts a line's first token and the previous line ends in
/// something that could end a declaration but for its `;`.
fn missing_semicolon_before(text: &str, pos: usize) -> bool {
    let before = &text[..pos.min(text.len())];
    let trimmed = before.trim_end_matches([' ', '\t']);
    if !trimmed.ends_with('\n') {
        return false;
    }
    let prev = trimmed.trim_end();
    prev.ends_with(|c: char| c.is_alphanumeric() || matches!(c, '_' | '"' | ')' | ']' | '\''))
}

fn join_or(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// What the text at `pos` looks like, for "found ..." in messages.
fn found_at(text: &str, pos: usize) -> String {
    let rest = text.get(pos..).unwrap_or("");
    let Some(c) = rest.chars().next() else {
        return "end of file".to_owned();
    };
    if c.is_alphanumeric() || c == '_' {
        let word: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .take(40)
            .collect();
        format!("{word:?}")
    } else if c == '\n' || c == '\r' {
        "end of line".to_owned()
    } else {
        format!("'{c}'")
    }
}

/// Where to resume after a syntax error at `pos`: the start of the next line
/// (after `pos`) that begins a top-level declaration, or the end of the text.
pub(crate) fn resync(text: &str, pos: usize) -> usize {
    let bytes = text.as_bytes();
    let mut i = pos;
    loop {
        // Next line start strictly after `pos`.
        let Some(nl) = memchr_nl(&bytes[i.min(bytes.len())..]) else {
            return text.len();
        };
        i += nl + 1;
        let line = &text[i..];
        let t = line.trim_start_matches([' ', '\t']);
        let indented = t.len() != line.len();
        let starts = |kw: &str| {
            t.len() >= kw.len()
                && t.as_bytes()[..kw.len()].eq_ignore_ascii_case(kw.as_bytes())
                && !t[kw.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
        };
        if starts("class")
            || starts("qualifier")
            || starts("instance")
            || starts("association")
            || starts("indication")
            || t.starts_with("#pragma")
            || (!indented && t.starts_with('['))
        {
            return i;
        }
    }
}

/// The position of the opening quote of a string literal that ends at a line
/// break or at `to`, scanning `text[from..to]` as MOF (skipping comments and
/// char16 literals). A syntax error is usually the consequence of such a
/// string, so it is reported instead.
pub(crate) fn find_unterminated_string(text: &str, from: usize, to: usize) -> Option<usize> {
    let b = text.as_bytes();
    let to = to.min(b.len());
    let mut i = from;
    while i < to {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                i = memchr_nl(&b[i..]).map_or(b.len(), |n| i + n);
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = text[i + 2..].find("*/").map_or(b.len(), |n| i + 2 + n + 2);
            }
            q @ (b'"' | b'\'') => {
                let start = i;
                i += 1;
                loop {
                    match b.get(i) {
                        None | Some(b'\n') | Some(b'\r') => {
                            return (q == b'"').then_some(start);
                        }
                        Some(b'\\') => i += 2,
                        Some(&c) if c == q => {
                            i += 1;
                            break;
                        }
                        Some(_) => i += 1,
                    }
                }
            }
            _ => i += 1,
        }
    }
    None
}

fn memchr_nl(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_one_production_at_a_time() {
        let text = "// c\nQualifier Key : boolean = false, Scope(property);\nclass A { };";
        let t = parse_production(text).ok().unwrap().unwrap();
        assert_eq!(t.root().as_rule(), Rule::qualifier_decl);
        let end = t.end();
        assert!(text[..end].ends_with(';'));
        let t = parse_production(&text[end..]).ok().unwrap().unwrap();
        assert_eq!(t.root().as_rule(), Rule::qualified_decl);
        assert!(parse_production("  // only a comment")
            .ok()
            .unwrap()
            .is_none());
    }

    #[test]
    fn syntax_error_is_described() {
        let e = parse_production("class A { string }; ").err().unwrap();
        assert!(e.message.contains("expected"), "{}", e.message);
        assert!(e.message.contains("found '}'"), "{}", e.message);
    }

    #[test]
    fn finds_unterminated_strings_outside_comments() {
        let t = "// \"x\n/* \" */ a = \"ok\\\"\" b = 'c'\n d = \"open\n";
        let p = find_unterminated_string(t, 0, t.len()).unwrap();
        assert_eq!(&t[p..p + 5], "\"open");
        assert_eq!(find_unterminated_string("a \"b\" c", 0, 7), None);
    }

    #[test]
    fn hints_at_a_missing_semicolon() {
        let e = parse_production("class A {\n  string Name\n  uint32 X;\n};")
            .err()
            .unwrap();
        assert!(e.message.contains("is a ';' missing"), "{}", e.message);
        let e = parse_production("class A { string }; ").err().unwrap();
        assert!(!e.message.contains("missing"), "{}", e.message);
    }

    #[test]
    fn errors_point_at_the_unexpected_token() {
        let text = "class A : B C { };";
        let e = parse_production(text).err().unwrap();
        assert_eq!(e.pos, text.find('C').unwrap());
        assert_eq!(e.message, "expected '{', found \"C\"");
        let text = "[Description(\"d\" Key)] class A { };";
        let e = parse_production(text).err().unwrap();
        assert_eq!(e.pos, text.find("Key").unwrap());
        let e = parse_production("class A { string Ref; A REF B; };");
        assert!(e.is_ok(), "REF is a name where no name follows it");
    }

    #[test]
    fn embedded_instance_nesting_is_bounded() {
        let text = "instance of A { S = ".repeat(200);
        let e = parse_production(&text).err().unwrap();
        assert!(e.message.contains("nested too deeply"), "{}", e.message);
    }

    #[test]
    fn resync_finds_next_declaration() {
        let t = "class A {\n  x y z\n  [Key] string k;\n};\n[Abstract]\nclass B {};";
        let r = resync(t, 12);
        assert!(t[r..].starts_with("[Abstract]"));
    }
}
