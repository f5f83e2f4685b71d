//! The MOF grammar (DSP0004 v2.x Annex A plus the v3 `association` /
//! `indication` keywords) as a hand-written recursive-descent parser over
//! bytes, building the [`Tree`] of one top-level production.
//!
//! Each rule decides by looking at the next token, so nothing is parsed twice
//! and the first failure is also the furthest one: that is where the syntax
//! error points, naming what the rule could have accepted there. Tokens are
//! separated by whitespace (space, `\t`..`\r`, BOM) and `//` or `/* */`
//! comments. Keywords are case-insensitive and are ordinary names wherever
//! the structure already tells what comes next. Values are lexed loosely (any
//! number-like token, any escape) and checked when lowered, so that a bad
//! literal gets a precise diagnostic rather than a generic syntax error.

use super::{Rule, Tree};

/// A failed rule: where, and what could have come there.
pub(crate) struct Fail {
    pub pos: usize,
    pub expected: &'static [&'static str],
    /// A limit that was hit, instead of a token that was missing.
    pub limit: Option<&'static str>,
}

/// Embedded instance values nest at most this deep while parsing (the
/// lowering allows less; this only bounds the recursion on hostile input).
const MAX_NESTING: usize = 64;

type PResult<T = ()> = Result<T, Fail>;

const A_NAME: &str = "a name";
const A_VALUE: &str = "a value";
const A_STRING: &str = "a string";

/// The parser state for one production: the text, the cursor, the tree so far.
pub(crate) struct Parser<'i> {
    b: &'i [u8],
    pos: usize,
    /// End of the last token consumed: where an open node ends when closed.
    tok_end: usize,
    /// Embedded instances open around the cursor.
    nesting: usize,
    tree: Tree<'i>,
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

/// The byte length of the UTF-8 character whose first byte is `c`.
fn char_len(c: u8) -> usize {
    match c {
        0..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

impl<'i> Parser<'i> {
    pub(crate) fn new(text: &'i str) -> Self {
        Parser {
            b: text.as_bytes(),
            pos: 0,
            tok_end: 0,
            nesting: 0,
            tree: Tree {
                text,
                nodes: Vec::new(),
            },
        }
    }

    pub(crate) fn into_tree(self) -> Tree<'i> {
        self.tree
    }

    // ----- lexing -----

    /// Skips whitespace and comments. An unterminated `/*` is left in place
    /// (it then fails as an unexpected '/').
    fn skip(&mut self) {
        let b = self.b;
        let mut i = self.pos;
        loop {
            match b.get(i) {
                Some(b' ' | b'\t'..=b'\r') => i += 1,
                Some(0xEF) if b.get(i + 1) == Some(&0xBB) && b.get(i + 2) == Some(&0xBF) => i += 3,
                Some(b'/') => match b.get(i + 1) {
                    Some(b'/') => {
                        i = memchr::memchr(b'\n', &b[i..]).map_or(b.len(), |n| i + n);
                    }
                    Some(b'*') => match memchr::memmem::find(&b[i + 2..], b"*/") {
                        Some(n) => i += 2 + n + 2,
                        None => break,
                    },
                    _ => break,
                },
                _ => break,
            }
        }
        self.pos = i;
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn fail<T>(&self, expected: &'static [&'static str]) -> PResult<T> {
        Err(Fail {
            pos: self.pos,
            expected,
            limit: None,
        })
    }

    /// Consumes the punctuation `c` (after trivia), or fails.
    fn punct(&mut self, c: u8, expected: &'static [&'static str]) -> PResult {
        self.skip();
        if self.peek() == Some(c) {
            self.pos += 1;
            self.tok_end = self.pos;
            Ok(())
        } else {
            self.fail(expected)
        }
    }

    /// Consumes `c` if it comes next (after trivia).
    fn eat(&mut self, c: u8) -> bool {
        self.skip();
        if self.peek() == Some(c) {
            self.pos += 1;
            self.tok_end = self.pos;
            true
        } else {
            false
        }
    }

    /// The end of the name starting at `at`, if one starts there.
    fn ident_end(&self, at: usize) -> Option<usize> {
        let b = self.b;
        if !b.get(at).is_some_and(|&c| is_ident_start(c)) {
            return None;
        }
        let mut i = at + 1;
        while b.get(i).is_some_and(|&c| is_ident_char(c)) {
            i += 1;
        }
        Some(i)
    }

    /// Whether the keyword `kw` (lowercase) is at `at`, not followed by a name character.
    fn keyword_at(&self, at: usize, kw: &str) -> bool {
        let end = at + kw.len();
        self.b
            .get(at..end)
            .is_some_and(|w| w.eq_ignore_ascii_case(kw.as_bytes()))
            && !self.b.get(end).is_some_and(|&c| is_ident_char(c))
    }

    /// Whether keyword `kw` comes next (after trivia).
    fn at_keyword(&mut self, kw: &str) -> bool {
        self.skip();
        self.keyword_at(self.pos, kw)
    }

    /// Consumes keyword `kw` as a leaf of rule `rule`, or fails.
    fn keyword(&mut self, kw: &str, rule: Rule, expected: &'static [&'static str]) -> PResult {
        if self.at_keyword(kw) {
            self.leaf(rule, self.pos, self.pos + kw.len());
            Ok(())
        } else {
            self.fail(expected)
        }
    }

    /// Adds a token node and moves past it.
    fn leaf(&mut self, rule: Rule, start: usize, end: usize) {
        self.tree.push_leaf(rule, start, end);
        self.pos = end;
        self.tok_end = end;
    }

    /// A name (`identifier`), or fails with `expected`.
    fn ident(&mut self, expected: &'static [&'static str]) -> PResult {
        self.skip();
        match self.ident_end(self.pos) {
            Some(end) => {
                self.leaf(Rule::identifier, self.pos, end);
                Ok(())
            }
            None => self.fail(expected),
        }
    }

    /// Opens a node of `rule` at the next token.
    fn open(&mut self, rule: Rule) -> usize {
        self.skip();
        self.tree.open(rule, self.pos)
    }

    fn close(&mut self, node: usize) {
        self.tree.close(node, self.tok_end);
    }

    /// Consumes the one-byte token at the cursor (already checked).
    fn bump(&mut self) {
        self.pos += 1;
        self.tok_end = self.pos;
    }

    // ----- productions -----

    /// One top-level production; `Ok(None)` at the end of the input.
    pub(crate) fn production(&mut self) -> PResult<Option<usize>> {
        self.skip();
        let Some(c) = self.peek() else {
            return Ok(None);
        };
        let node = match c {
            b'#' if self.keyword_at(self.pos + 1, "pragma") => self.pragma()?,
            b';' => {
                let n = self.open(Rule::stray_semicolon);
                self.bump();
                self.close(n);
                n
            }
            b'[' => self.qualified_decl()?,
            _ if self.keyword_at(self.pos, "qualifier") => self.qualifier_decl()?,
            _ if self.at_class_keyword() || self.keyword_at(self.pos, "instance") => {
                self.qualified_decl()?
            }
            _ => {
                return self.fail(&[
                    "#pragma",
                    "\"Qualifier\"",
                    "'['",
                    "a class or instance declaration",
                    "end of file",
                ])
            }
        };
        Ok(Some(node))
    }

    fn at_class_keyword(&self) -> bool {
        self.keyword_at(self.pos, "class")
            || self.keyword_at(self.pos, "association")
            || self.keyword_at(self.pos, "indication")
    }

    /// `#pragma name ("arg", ...)`: arguments are kept raw.
    fn pragma(&mut self) -> PResult<usize> {
        let n = self.open(Rule::pragma);
        self.leaf(Rule::kw_pragma, self.pos, self.pos + "#pragma".len());
        self.ident(&[A_NAME])?;
        if self.eat(b'(') {
            self.skip();
            if self.peek() != Some(b')') {
                loop {
                    let a = self.open(Rule::pragma_arg);
                    if self.peek() == Some(b'"') {
                        self.string_piece(true)?;
                    } else {
                        self.ident(&[A_STRING])?;
                    }
                    self.close(a);
                    if !self.eat(b',') {
                        break;
                    }
                }
            }
            self.punct(b')', &["')'", "','"])?;
        }
        self.close(n);
        Ok(n)
    }

    /// `Qualifier Name : type[size] = default, Scope(...), Flavor(...);`
    fn qualifier_decl(&mut self) -> PResult<usize> {
        let n = self.open(Rule::qualifier_decl);
        self.keyword("qualifier", Rule::kw_qualifier, &["\"Qualifier\""])?;
        self.ident(&[A_NAME])?;
        self.punct(b':', &["':'"])?;
        self.ident(&[A_NAME])?;
        self.skip();
        if self.peek() == Some(b'[') {
            self.array_spec()?;
        }
        if self.eat(b'=') {
            self.init_value()?;
        }
        let mut scope_done = false;
        loop {
            if !self.eat(b',') {
                break;
            }
            if !scope_done && self.at_keyword("scope") {
                scope_done = true;
                self.word_list(Rule::scope_spec, "scope", Rule::kw_scope)?;
            } else if self.at_keyword("flavor") {
                self.word_list(Rule::flavor_spec, "flavor", Rule::kw_flavor)?;
                break;
            } else if scope_done {
                return self.fail(&["Flavor(...)"]);
            } else {
                return self.fail(&["Scope(...)", "Flavor(...)"]);
            }
        }
        self.punct(b';', &["';'", "','"])?;
        self.close(n);
        Ok(n)
    }

    /// `Scope(a, b)` / `Flavor(a, b)`.
    fn word_list(&mut self, rule: Rule, kw: &str, kw_rule: Rule) -> PResult {
        let n = self.open(rule);
        self.keyword(kw, kw_rule, &[A_NAME])?;
        self.punct(b'(', &["'('"])?;
        loop {
            self.ident(&[A_NAME])?;
            if !self.eat(b',') {
                break;
            }
        }
        self.punct(b')', &["')'", "','"])?;
        self.close(n);
        Ok(())
    }

    /// `[quals] class ...` or `[quals] instance of ...`.
    fn qualified_decl(&mut self) -> PResult<usize> {
        let n = self.open(Rule::qualified_decl);
        if self.peek() == Some(b'[') {
            self.qualifier_list()?;
            self.skip();
        }
        if self.at_class_keyword() {
            self.class_decl()?;
        } else if self.keyword_at(self.pos, "instance") {
            self.instance_decl()?;
        } else {
            return self.fail(&[
                "\"class\"",
                "\"association\"",
                "\"indication\"",
                "\"instance of\"",
            ]);
        }
        self.close(n);
        Ok(n)
    }

    /// `class Name [as $alias] [: Super] { features };`
    fn class_decl(&mut self) -> PResult {
        let n = self.open(Rule::class_decl);
        let k = self.open(Rule::class_kind);
        let (kw, rule) = if self.keyword_at(self.pos, "class") {
            ("class", Rule::kw_class)
        } else if self.keyword_at(self.pos, "association") {
            ("association", Rule::kw_association)
        } else {
            ("indication", Rule::kw_indication)
        };
        self.leaf(rule, self.pos, self.pos + kw.len());
        self.close(k);
        self.ident(&[A_NAME])?;
        if self.at_keyword("as") {
            self.leaf(Rule::kw_as, self.pos, self.pos + 2);
            self.alias()?;
        }
        if self.eat(b':') {
            let s = self.tree.open(Rule::superclass, self.pos - 1);
            self.ident(&[A_NAME])?;
            self.close(s);
            self.punct(b'{', &["'{'"])?;
        } else {
            self.punct(b'{', &["'{'", "':' and a superclass"])?;
        }
        loop {
            self.skip();
            match self.peek() {
                Some(b'}') => break,
                Some(b'[') => self.feature()?,
                Some(c) if is_ident_start(c) => self.feature()?,
                _ => return self.fail(&["'}'", "'['", "a property or method"]),
            }
        }
        self.bump();
        self.punct(b';', &["';'"])?;
        self.close(n);
        Ok(())
    }

    /// `$name`
    fn alias(&mut self) -> PResult {
        self.skip();
        if self.peek() == Some(b'$') {
            if let Some(end) = self.ident_end(self.pos + 1) {
                self.leaf(Rule::alias, self.pos, end);
                return Ok(());
            }
        }
        self.fail(&["an alias ($name)"])
    }

    /// `Type Name` or `Class REF Name`.
    fn head(&mut self) -> PResult {
        self.skip();
        // REF followed by a name makes a reference; otherwise `ref` is the name.
        let start = self.pos;
        let Some(t_end) = self.ident_end(start) else {
            return self.fail(&[A_NAME]);
        };
        let mut after = t_end;
        let save = self.pos;
        self.pos = t_end;
        self.skip();
        let is_ref = self.keyword_at(self.pos, "ref") && {
            let r = self.pos + 3;
            self.pos = r;
            self.skip();
            let named = self.ident_end(self.pos).is_some();
            after = r;
            named
        };
        self.pos = save;
        if is_ref {
            let h = self.tree.open(Rule::ref_head, start);
            self.leaf(Rule::identifier, start, t_end);
            self.leaf(Rule::kw_ref, after - 3, after);
            self.ident(&[A_NAME])?;
            self.close(h);
        } else {
            let h = self.tree.open(Rule::type_head, start);
            self.leaf(Rule::identifier, start, t_end);
            self.ident(&["\"REF\"", A_NAME])?;
            self.close(h);
        }
        Ok(())
    }

    /// `[quals] head (property_tail | method_tail)`
    fn feature(&mut self) -> PResult {
        let n = self.open(Rule::feature);
        if self.peek() == Some(b'[') {
            self.qualifier_list()?;
        }
        self.head()?;
        self.skip();
        if self.peek() == Some(b'(') {
            let t = self.open(Rule::method_tail);
            self.bump();
            self.skip();
            if self.peek() != Some(b')') {
                loop {
                    self.parameter()?;
                    if !self.eat(b',') {
                        break;
                    }
                }
            }
            self.punct(b')', &["')'", "','"])?;
            self.punct(b';', &["';'"])?;
            self.close(t);
        } else {
            let t = self.open(Rule::property_tail);
            if self.peek() == Some(b'[') {
                self.array_spec()?;
            }
            if self.eat(b'=') {
                self.init_value()?;
            }
            self.punct(b';', &["';'", "'='", "'('", "'['"])?;
            self.close(t);
        }
        self.close(n);
        Ok(())
    }

    /// `[quals] head [array] [= default]`
    fn parameter(&mut self) -> PResult {
        let n = self.open(Rule::parameter);
        if self.peek() == Some(b'[') {
            self.qualifier_list()?;
        }
        self.skip();
        if self.ident_end(self.pos).is_none() {
            return self.fail(&["a parameter"]);
        }
        self.head()?;
        self.skip();
        if self.peek() == Some(b'[') {
            self.array_spec()?;
        }
        if self.eat(b'=') {
            self.init_value()?;
        }
        self.close(n);
        Ok(())
    }

    /// `[` digits? `]`
    fn array_spec(&mut self) -> PResult {
        let n = self.open(Rule::array_spec);
        self.bump(); // '['
        self.skip();
        let start = self.pos;
        let len = self.b[start..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if len > 0 {
            self.leaf(Rule::array_size, start, start + len);
        }
        self.punct(b']', &["an array size", "']'"])?;
        self.close(n);
        Ok(())
    }

    /// `instance of Class [as $alias] { property values };`
    fn instance_decl(&mut self) -> PResult {
        let n = self.open(Rule::instance_decl);
        self.instance_body(true)?;
        self.punct(b';', &["';'"])?;
        self.close(n);
        Ok(())
    }

    /// `instance of Class [as $alias] { ... }` (the alias only at top level).
    fn instance_body(&mut self, top: bool) -> PResult {
        self.keyword("instance", Rule::kw_instance, &["\"instance of\""])?;
        self.keyword("of", Rule::kw_of, &["\"of\""])?;
        self.ident(&[A_NAME])?;
        if top && self.at_keyword("as") {
            self.leaf(Rule::kw_as, self.pos, self.pos + 2);
            self.alias()?;
        }
        self.punct(b'{', &["'{'", "\"as\""])?;
        loop {
            self.skip();
            match self.peek() {
                Some(b'}') => break,
                Some(b'[') => self.property_value()?,
                Some(c) if is_ident_start(c) => self.property_value()?,
                _ => return self.fail(&["'}'", "a property assignment"]),
            }
        }
        self.bump();
        Ok(())
    }

    /// `[quals] Name = value;`
    fn property_value(&mut self) -> PResult {
        let n = self.open(Rule::property_value);
        if self.peek() == Some(b'[') {
            self.qualifier_list()?;
        }
        self.ident(&[A_NAME])?;
        self.punct(b'=', &["'='"])?;
        self.init_value()?;
        self.punct(b';', &["';'"])?;
        self.close(n);
        Ok(())
    }

    /// `[Name, Name(value), Name{array}, Name("a") : ToSubclass Restricted]`
    fn qualifier_list(&mut self) -> PResult {
        let n = self.open(Rule::qualifier_list);
        self.bump(); // '['
        self.qualifier()?;
        loop {
            if self.eat(b']') {
                break;
            }
            self.punct(b',', &["',' or ']'"])?;
            if self.eat(b']') {
                break;
            }
            self.qualifier()?;
        }
        self.close(n);
        Ok(())
    }

    fn qualifier(&mut self) -> PResult {
        let n = self.open(Rule::qualifier);
        self.ident(&["a qualifier"])?;
        self.skip();
        match self.peek() {
            Some(b'(') => {
                let p = self.open(Rule::qualifier_param);
                self.bump();
                self.skip();
                match self.peek() {
                    Some(b')') => {}
                    Some(b'{') => self.array_init()?,
                    _ => self.scalar()?,
                }
                self.punct(b')', &["')'"])?;
                self.close(p);
            }
            Some(b'{') => {
                let p = self.open(Rule::qualifier_param);
                self.array_init()?;
                self.close(p);
            }
            _ => {}
        }
        if self.eat(b':') {
            let fl = self.tree.open(Rule::qualifier_flavors, self.pos - 1);
            self.ident(&[A_NAME])?;
            loop {
                self.skip();
                match self.ident_end(self.pos) {
                    Some(end) => self.leaf(Rule::identifier, self.pos, end),
                    None => break,
                }
            }
            self.close(fl);
        }
        self.close(n);
        Ok(())
    }

    /// `init_value = array_init | scalar`
    fn init_value(&mut self) -> PResult {
        let n = self.open(Rule::init_value);
        if self.peek() == Some(b'{') {
            self.array_init()?;
        } else {
            self.scalar()?;
        }
        self.close(n);
        Ok(())
    }

    /// `{ v, v, ... [,] }`
    fn array_init(&mut self) -> PResult {
        let n = self.open(Rule::array_init);
        self.bump(); // '{'
        if !self.eat(b'}') {
            loop {
                self.scalar()?;
                if self.eat(b'}') {
                    break;
                }
                self.punct(b',', &["',' or '}'"])?;
                if self.eat(b'}') {
                    break;
                }
            }
        }
        self.close(n);
        Ok(())
    }

    /// One value: strings, numbers, NULL/TRUE/FALSE, char16, alias, embedded
    /// instance, or any name (reported as a bad literal when lowered).
    fn scalar(&mut self) -> PResult {
        self.skip();
        let start = self.pos;
        let Some(c) = self.peek() else {
            return self.fail(&[A_VALUE, A_STRING]);
        };
        match c {
            b'"' => {
                let n = self.tree.open(Rule::string_value, start);
                self.string_piece(false)?;
                loop {
                    self.skip();
                    if self.peek() != Some(b'"') {
                        break;
                    }
                    self.string_piece(false)?;
                }
                self.close(n);
            }
            b'\'' => self.char_lit()?,
            b'$' => self.alias()?,
            b'+' | b'-' | b'.' | b'0'..=b'9' => self.number()?,
            _ if is_ident_start(c) => {
                let end = self.ident_end(start).unwrap_or(start + 1);
                let word = &self.b[start..end];
                let kw = |k: &str| word.eq_ignore_ascii_case(k.as_bytes());
                if kw("null") {
                    self.leaf(Rule::kw_null, start, end);
                } else if kw("true") {
                    self.leaf(Rule::kw_true, start, end);
                } else if kw("false") {
                    self.leaf(Rule::kw_false, start, end);
                } else if kw("instance") && self.of_follows(end) {
                    if self.nesting >= MAX_NESTING {
                        return Err(Fail {
                            pos: start,
                            expected: &[],
                            limit: Some("embedded instances are nested too deeply"),
                        });
                    }
                    self.nesting += 1;
                    let n = self.tree.open(Rule::embedded_instance, start);
                    self.instance_body(false)?;
                    self.close(n);
                    self.nesting -= 1;
                } else {
                    self.leaf(Rule::bad_token, start, end);
                }
            }
            _ => return self.fail(&[A_VALUE, A_STRING]),
        }
        Ok(())
    }

    /// Whether `of` follows (after trivia) the word ending at `end`.
    fn of_follows(&mut self, end: usize) -> bool {
        let save = self.pos;
        self.pos = end;
        let yes = self.at_keyword("of");
        self.pos = save;
        yes
    }

    /// A number-like token: sign, digits or `.digit`, then letters, digits,
    /// dots and signed exponents (classified when lowered).
    fn number(&mut self) -> PResult {
        let b = self.b;
        let start = self.pos;
        let mut i = start;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        match (b.get(i), b.get(i + 1)) {
            (Some(c), _) if c.is_ascii_digit() => i += 1,
            (Some(b'.'), Some(c)) if c.is_ascii_digit() => i += 2,
            _ => return self.fail(&[A_VALUE, A_STRING]),
        }
        loop {
            match b.get(i) {
                Some(b'e' | b'E') if matches!(b.get(i + 1), Some(b'+' | b'-')) => i += 2,
                Some(c) if c.is_ascii_alphanumeric() || *c == b'.' => i += 1,
                _ => break,
            }
        }
        self.leaf(Rule::number, start, i);
        Ok(())
    }

    /// `'c'` with escapes.
    fn char_lit(&mut self) -> PResult {
        let b = self.b;
        let start = self.pos;
        let mut i = start + 1;
        loop {
            match b.get(i) {
                Some(b'\'') => break,
                Some(b'\\') if i + 1 < b.len() => i += 1 + char_len(b[i + 1]),
                None | Some(b'\\' | b'\n') => return self.fail(&[A_VALUE, A_STRING]),
                Some(&c) => i += char_len(c),
            }
        }
        self.leaf(Rule::char_lit, start, i + 1);
        Ok(())
    }

    /// One `"..."` piece at the cursor: a `string_lit`, or an
    /// `unterminated_string` ending at a line break or the end of the text.
    /// `raw_only` (pragma arguments) accepts terminated strings only.
    fn string_piece(&mut self, raw_only: bool) -> PResult {
        let b = self.b;
        let start = self.pos;
        let mut i = start + 1;
        loop {
            let Some(n) = memchr::memchr3(b'"', b'\\', b'\n', &b[i..]) else {
                i = b.len();
                break;
            };
            i += n;
            match b[i] {
                b'"' => {
                    self.leaf(Rule::string_lit, start, i + 1);
                    return Ok(());
                }
                b'\\' if i + 1 < b.len() => i += 1 + char_len(b[i + 1]),
                b'\\' => return self.fail(&[A_STRING]),
                _ => break, // '\n'
            }
        }
        if raw_only {
            return self.fail(&[A_STRING]);
        }
        self.leaf(Rule::unterminated_string, start, i);
        Ok(())
    }
}
