//! Lowering: builds the model from the parsed pairs of one production. This
//! file holds what every kind of declaration shares (qualifier targets,
//! literals, feature heads); `qualifiers`, `class` and `instance` lower one
//! kind each, checking qualifiers against their declarations (existence,
//! scope, type, flavors), literals against declared types, and duplicate
//! names, and hand classes to `resolve` for inheritance.

mod class;
mod instance;
mod qualifiers;

use crate::compiler::{Compiler, FileCtx};
use crate::diag::Error;
use crate::literal::{parse_number, unescape, Lit, Spanned};
use crate::parser::{Pair, Rule};
use cim::{CimName, CimType, Scopes};

/// Embedded instance values nest at most this deep (bounds recursion on hostile input).
const MAX_EMBED_DEPTH: usize = 16;

/// What a qualifier list is attached to, for scope checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Element {
    Class,
    Association,
    Indication,
    Property,
    Reference,
    Method,
    Parameter,
    /// Instances and their property values: DSP0004 has no scope for them.
    Instance,
}

impl Element {
    fn name(self) -> &'static str {
        match self {
            Element::Class => "class",
            Element::Association => "association",
            Element::Indication => "indication",
            Element::Property => "property",
            Element::Reference => "reference",
            Element::Method => "method",
            Element::Parameter => "parameter",
            Element::Instance => "instance",
        }
    }

    fn allowed(self, s: &Scopes) -> bool {
        match self {
            Element::Class => s.class,
            // Associations and indications are classes too (pywbem and
            // OpenPegasus accept class-scoped qualifiers on them).
            Element::Association => s.association || s.class,
            Element::Indication => s.indication || s.class,
            Element::Property => s.property,
            Element::Reference => s.reference,
            Element::Method => s.method,
            Element::Parameter => s.parameter,
            Element::Instance => true,
        }
    }
}

/// A qualifier as written, before its declaration is applied.
pub(crate) struct RawQualifier<'i> {
    pub(super) name: &'i str,
    pub(super) pos: usize,
    pub(super) value: Option<Spanned>,
    pub(super) flavors: Vec<(&'i str, usize)>,
}

/// A parsed feature head: type and name.
struct Head<'i> {
    ty: CimType,
    name: &'i str,
    name_pos: usize,
}

impl Compiler<'_> {
    /// Lowers a value pair (`init_value`, `array_init` or a scalar) into a
    /// literal; `None` after reporting a bad literal.
    pub(crate) fn literal(&mut self, f: &FileCtx<'_>, p: Pair<'_>) -> Option<Spanned> {
        let pos = f.pos(&p);
        let lit = match p.as_rule() {
            Rule::init_value => return p.into_inner().next().and_then(|i| self.literal(f, i)),
            Rule::array_init => {
                let mut items = Vec::new();
                for i in p.into_inner() {
                    items.push(self.literal(f, i)?);
                }
                Lit::Array(items)
            }
            Rule::string_value => {
                let mut s = String::new();
                let mut ok = true;
                for piece in p.into_inner() {
                    let piece_pos = f.pos(&piece);
                    let raw = piece.as_str();
                    let body = if piece.as_rule() == Rule::string_lit {
                        &raw[1..raw.len() - 1]
                    } else {
                        self.error(f, piece_pos, Error::UnterminatedString);
                        ok = false;
                        &raw[1..]
                    };
                    match unescape(body) {
                        // The usual single piece is moved, not copied.
                        Ok(u) if s.is_empty() => s = u,
                        Ok(u) => s.push_str(&u),
                        Err(e) => {
                            self.error(f, piece_pos, e);
                            ok = false;
                        }
                    }
                }
                if !ok {
                    return None;
                }
                Lit::Str(s)
            }
            Rule::char_lit => {
                let raw = p.as_str();
                let res = unescape(&raw[1..raw.len() - 1]).and_then(|s| {
                    let mut cs = s.chars();
                    match (cs.next(), cs.next()) {
                        (Some(c), None) if (c as u32) <= 0xFFFF => Ok(Lit::Char(c)),
                        _ => Err(Error::BadLiteral(format!(
                            "{raw} is not a char16 literal (exactly one UCS-2 character)"
                        ))),
                    }
                });
                match res {
                    Ok(l) => l,
                    Err(e) => {
                        self.error(f, pos, e);
                        return None;
                    }
                }
            }
            Rule::kw_null => Lit::Null,
            Rule::kw_true => Lit::Bool(true),
            Rule::kw_false => Lit::Bool(false),
            Rule::number => match parse_number(p.as_str()) {
                Ok(l) => l,
                Err(e) => {
                    self.error(f, pos, e);
                    return None;
                }
            },
            Rule::alias => {
                let name = p.as_str().to_owned();
                let path = self.aliases.get(&name.to_ascii_lowercase()).cloned();
                Lit::Alias(name, path)
            }
            Rule::embedded_instance => {
                let inst = self.lower_instance_body(f, p, None, false)?;
                Lit::Instance(Box::new(inst))
            }
            Rule::bad_token => {
                self.error(
                    f,
                    pos,
                    Error::BadLiteral(format!(
                        "{:?} is not a value (expected a number, a string, a char16, TRUE, FALSE, NULL or an alias)",
                        p.as_str()
                    )),
                );
                return None;
            }
            _ => return None,
        };
        Some(Spanned { lit, pos })
    }

    fn array_size(&mut self, f: &FileCtx<'_>, spec: Pair<'_>) -> Option<u32> {
        let p = spec.into_inner().next()?;
        match p.as_str().parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.error(
                    f,
                    f.pos(&p),
                    Error::BadLiteral(format!("array size {} is too large", p.as_str())),
                );
                None
            }
        }
    }

    fn head<'i>(&mut self, f: &FileCtx<'_>, p: Pair<'i>) -> Option<Head<'i>> {
        let rule = p.as_rule();
        let mut it = p.into_inner();
        let first = it.next()?;
        if rule == Rule::ref_head {
            it.next(); // REF
            let name = it.next()?;
            return Some(Head {
                ty: CimType::Reference(Some(CimName::new(first.as_str()))),
                name: name.as_str(),
                name_pos: f.pos(&name),
            });
        }
        let name = it.next()?;
        let ty = match CimType::from_name(first.as_str()).filter(|t| !t.is_reference()) {
            Some(t) => t,
            None => {
                self.error(
                    f,
                    f.pos(&first),
                    Error::UnknownType(first.as_str().to_owned()),
                );
                return None;
            }
        };
        Some(Head {
            ty,
            name: name.as_str(),
            name_pos: f.pos(&name),
        })
    }
}
