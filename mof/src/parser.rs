//! The pest parser for `mof.pest`, one top-level production at a time, and the
//! translation of pest failures into plain-English syntax errors.
//!
//! Real-world quirks accepted (all seen in published MOF):
//! include paths with backslashes (`"System\CIM_X.mof"`, read raw), keywords
//! in any case (`Instance of`, `CLASS`, `ref`, `TRUE`), comments anywhere
//! whitespace may appear (including inside `[ ]` array brackets), qualifier
//! array values written as `{...}` without parentheses, a trailing comma in
//! qualifier lists and array initializers, a final `//` comment without a
//! newline, and stray `;` between declarations.

use pest::error::{ErrorVariant, InputLocation};
pub(crate) use pest::iterators::Pair;
use pest::Parser;

/// The generated parser.
#[derive(pest_derive::Parser)]
#[grammar = "mof.pest"]
pub(crate) struct MofParser;

/// One parsed production: the pair (or `None` at end of input) and the byte
/// length consumed from the start of the slice.
pub(crate) type Parsed<'i> = (Option<Pair<'i, Rule>>, usize);

/// A syntax error: byte offset in the slice and an English message.
pub(crate) struct SyntaxError {
    pub pos: usize,
    pub message: String,
}

/// Parses the next production of `text` (leading whitespace and comments included).
pub(crate) fn parse_production(text: &str) -> Result<Parsed<'_>, SyntaxError> {
    match MofParser::parse(Rule::production, text) {
        Ok(mut pairs) => {
            let prod = pairs.next().expect("production rule always yields a pair");
            let end = prod.as_span().end();
            let inner = prod
                .into_inner()
                .next()
                .filter(|p| p.as_rule() != Rule::EOI);
            Ok((inner, end))
        }
        Err(e) => {
            let pos = match e.location {
                InputLocation::Pos(p) => p,
                InputLocation::Span((s, _)) => s,
            };
            let message = match &e.variant {
                ErrorVariant::ParsingError { positives, .. } => {
                    let mut names: Vec<&str> = positives.iter().filter_map(describe).collect();
                    names.sort_unstable();
                    names.dedup();
                    let found = found_at(text, pos);
                    let mut m = if names.is_empty() {
                        format!("unexpected {found}")
                    } else {
                        format!("expected {}, found {found}", join_or(&names))
                    };
                    if missing_semicolon_before(text, pos) {
                        m.push_str(" (is a ';' missing at the end of the previous line?)");
                    }
                    m
                }
                ErrorVariant::CustomError { message } => message.clone(),
            };
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

/// Plain-English names of the grammar rules a user can be expected to write.
fn describe(rule: &Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::identifier | Rule::bad_token => "a name",
        Rule::alias => "an alias ($name)",
        Rule::kw_pragma => "#pragma",
        Rule::kw_qualifier => "\"Qualifier\"",
        Rule::kw_class => "\"class\"",
        Rule::kw_association => "\"association\"",
        Rule::kw_indication => "\"indication\"",
        Rule::kw_instance => "\"instance of\"",
        Rule::kw_of => "\"of\"",
        Rule::kw_as => "\"as\"",
        Rule::kw_ref => "\"REF\"",
        Rule::kw_scope => "Scope(...)",
        Rule::kw_flavor => "Flavor(...)",
        Rule::kw_null | Rule::kw_true | Rule::kw_false | Rule::number | Rule::char_lit => "a value",
        Rule::string_value | Rule::string_lit | Rule::unterminated_string => "a string",
        Rule::init_value | Rule::array_init | Rule::embedded_instance => "a value",
        Rule::pragma => "#pragma",
        Rule::qualifier_decl => "a qualifier declaration",
        Rule::qualified_decl | Rule::class_decl | Rule::class_kind => {
            "a class or instance declaration"
        }
        Rule::instance_decl => "\"instance of\"",
        Rule::qualifier_list => "'['",
        Rule::qualifier => "a qualifier",
        Rule::qualifier_param => "a qualifier value",
        Rule::qualifier_flavors => "':' and flavors",
        Rule::feature | Rule::ref_head | Rule::type_head => "a property or method",
        Rule::property_tail => "';'",
        Rule::method_tail => "'('",
        Rule::parameter => "a parameter",
        Rule::array_spec => "'['",
        Rule::array_size => "an array size",
        Rule::superclass => "':' and a superclass",
        Rule::property_value => "a property assignment",
        Rule::scope_spec => "Scope(...)",
        Rule::flavor_spec => "Flavor(...)",
        Rule::pragma_arg => "a string",
        Rule::stray_semicolon => "';'",
        Rule::EOI => "end of file",
        _ => return None,
    })
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
        let (p, end) = parse_production(text).ok().unwrap();
        assert_eq!(p.unwrap().as_rule(), Rule::qualifier_decl);
        let (p, _) = parse_production(&text[end..]).ok().unwrap();
        assert_eq!(p.unwrap().as_rule(), Rule::qualified_decl);
        let (p, _) = parse_production("  // only a comment").ok().unwrap();
        assert!(p.is_none());
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
    fn resync_finds_next_declaration() {
        let t = "class A {\n  x y z\n  [Key] string k;\n};\n[Abstract]\nclass B {};";
        let r = resync(t, 12);
        assert!(t[r..].starts_with("[Abstract]"));
    }
}
