//! MOF literals (DSP0004 Annex A): their lexical forms, escapes, and conversion
//! to typed [`cim::Value`]s once the declared type is known.
//!
//! Integer forms: decimal `[+-]?(0|[1-9][0-9]*)`, hex `[+-]?0[xX][0-9a-fA-F]+`,
//! octal `[+-]?0[0-7]+`, binary `[+-]?[01]+[bB]`. Reals: `[+-]?[0-9]*\.[0-9]+`
//! with an optional exponent (a digit string with only an exponent is accepted
//! too). String escapes: `\b \t \n \f \r \" \' \\` and `\x`/`\X` with one to
//! four hex digits. Adjacent string literals concatenate.

use crate::diag::Error;
use cim::{CimType, DateTime, Instance, ObjectPath, Value};

/// A value as written, before its type is known, with its byte position.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Spanned {
    pub lit: Lit,
    pub pos: usize,
}

/// Literal kinds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lit {
    Null,
    Bool(bool),
    Int(i128),
    Real(f64),
    Str(String),
    Char(char),
    /// `$alias`, already resolved to the aliased instance's path when known.
    Alias(String, Option<ObjectPath>),
    Array(Vec<Spanned>),
    Instance(Box<Instance>),
}

impl Lit {
    fn kind(&self) -> &'static str {
        match self {
            Lit::Null => "null",
            Lit::Bool(_) => "a boolean",
            Lit::Int(_) => "an integer",
            Lit::Real(_) => "a real number",
            Lit::Str(_) => "a string",
            Lit::Char(_) => "a char16",
            Lit::Alias(..) => "an alias",
            Lit::Array(_) => "an array",
            Lit::Instance(_) => "an embedded instance",
        }
    }
}

/// Classifies a number-like token.
pub(crate) fn parse_number(tok: &str) -> Result<Lit, Error> {
    let bad = |why: &str| Error::BadLiteral(format!("{tok:?} is not a valid number: {why}"));
    let (neg, body) = match tok.as_bytes().first() {
        Some(b'-') => (true, &tok[1..]),
        Some(b'+') => (false, &tok[1..]),
        _ => (false, tok),
    };
    let signed = |v: u128| -> Result<Lit, Error> {
        let v = i128::try_from(v).map_err(|_| bad("too large"))?;
        Ok(Lit::Int(if neg { -v } else { v }))
    };
    let radix = |digits: &str, r: u32, what: &str| -> Result<Lit, Error> {
        if digits.is_empty() {
            return Err(bad(&format!("no {what} digits")));
        }
        if digits.len() > 130 {
            return Err(bad("too large"));
        }
        match u128::from_str_radix(digits, r) {
            Ok(v) => signed(v),
            Err(e) if *e.kind() == std::num::IntErrorKind::PosOverflow => Err(bad("too large")),
            Err(_) => Err(bad(&format!("invalid {what} digit"))),
        }
    };
    if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        return radix(hex, 16, "hexadecimal");
    }
    if let Some(bin) = body.strip_suffix(['b', 'B']) {
        if bin.bytes().all(|b| b == b'0' || b == b'1') {
            return radix(bin, 2, "binary");
        }
        return Err(bad("a binary number holds only 0 and 1"));
    }
    if body.contains(['.', 'e', 'E']) {
        let ok = body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
        return match (ok, body.parse::<f64>()) {
            (true, Ok(v)) if v.is_finite() => Ok(Lit::Real(if neg { -v } else { v })),
            (true, Ok(_)) => Err(bad("out of the range of real64")),
            _ => Err(bad("malformed real number")),
        };
    }
    if !body.bytes().all(|b| b.is_ascii_digit()) || body.is_empty() {
        return Err(bad("unexpected character"));
    }
    if body.len() > 1 && body.starts_with('0') {
        if body.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            return radix(&body[1..], 8, "octal");
        }
        return Err(bad(
            "a number with a leading 0 is octal and may hold only 0-7",
        ));
    }
    radix(body, 10, "decimal")
}

/// Processes the escapes of a string or char16 literal body (between the quotes).
pub(crate) fn unescape(body: &str) -> Result<String, Error> {
    if !body.contains('\\') {
        return Ok(body.to_owned());
    }
    let mut out = String::with_capacity(body.len());
    let mut it = body.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = it
            .next()
            .ok_or_else(|| Error::BadLiteral("a backslash ends the string".into()))?;
        match e {
            'b' => out.push('\u{8}'),
            't' => out.push('\t'),
            'n' => out.push('\n'),
            'f' => out.push('\u{c}'),
            'r' => out.push('\r'),
            '"' => out.push('"'),
            '\'' => out.push('\''),
            '\\' => out.push('\\'),
            'x' | 'X' => {
                let mut v: u32 = 0;
                let mut n = 0;
                while n < 4 {
                    match it.peek().and_then(|c| c.to_digit(16)) {
                        Some(d) => {
                            v = v * 16 + d;
                            n += 1;
                            it.next();
                        }
                        None => break,
                    }
                }
                if n == 0 {
                    return Err(Error::BadLiteral(format!(
                        "escape \\{e} needs one to four hexadecimal digits"
                    )));
                }
                let ch = char::from_u32(v).ok_or_else(|| {
                    Error::BadLiteral(format!("escape \\{e}{v:X} is not a valid character"))
                })?;
                out.push(ch);
            }
            other => {
                return Err(Error::BadLiteral(format!(
                "unknown escape sequence \\{other} (valid: \\b \\t \\n \\f \\r \\\" \\' \\\\ \\x)"
            )))
            }
        }
    }
    Ok(out)
}

/// Converts a literal to a value of the declared type. Errors carry the
/// position of the offending element.
pub(crate) fn to_value(sp: Spanned, ty: &CimType, is_array: bool) -> Result<Value, (usize, Error)> {
    let pos = sp.pos;
    match (sp.lit, is_array) {
        (Lit::Null, _) => Ok(Value::Null),
        (Lit::Array(items), true) => {
            let mut out = Vec::with_capacity(items.len());
            for it in items {
                if matches!(it.lit, Lit::Array(_)) {
                    return Err((
                        it.pos,
                        Error::TypeMismatch("arrays cannot be nested".into()),
                    ));
                }
                out.push(scalar(it, ty)?);
            }
            Ok(Value::Array(out))
        }
        // A single value where an array is declared: tolerated as a one-element array.
        (lit, true) => Ok(Value::Array(vec![scalar(Spanned { lit, pos }, ty)?])),
        (Lit::Array(_), false) => Err((
            pos,
            Error::TypeMismatch(format!("an array value given for a scalar of type {ty}")),
        )),
        (lit, false) => scalar(Spanned { lit, pos }, ty),
    }
}

fn scalar(sp: Spanned, ty: &CimType) -> Result<Value, (usize, Error)> {
    let mismatch = || {
        (
            sp.pos,
            Error::TypeMismatch(format!(
                "{} is not a valid {} value",
                sp.lit.kind(),
                ty_name(ty)
            )),
        )
    };
    let pos = sp.pos;
    let bad = |why: String| (pos, Error::BadLiteral(why));
    if let Lit::Str(_) | Lit::Instance(_) = sp.lit {
        if ty.is_string_like() {
            return Ok(match sp.lit {
                Lit::Str(s) => Value::String(s),
                Lit::Instance(i) => Value::Instance(i),
                _ => unreachable!("checked above"),
            });
        }
    }
    Ok(match (&sp.lit, ty) {
        (Lit::Null, _) => Value::Null,
        (Lit::Bool(b), CimType::Boolean) => Value::Boolean(*b),
        (Lit::Char(c), CimType::Char16) => Value::Char16(*c),
        (Lit::Str(s), CimType::Char16) => {
            let mut cs = s.chars();
            match (cs.next(), cs.next()) {
                (Some(c), None) => Value::Char16(c),
                _ => return Err(bad(format!("{s:?} is not a single char16 character"))),
            }
        }
        (Lit::Char(c), CimType::String) => Value::String(c.to_string()),
        (Lit::Str(s), CimType::DateTime) => {
            Value::DateTime(DateTime::parse(s).map_err(|e| bad(e.to_string()))?)
        }
        (Lit::Int(v), t) if t.is_integer() => Value::from_i128(*v, t).ok_or_else(|| {
            let (lo, hi) = t.integer_range().unwrap_or((0, 0));
            bad(format!("{v} is out of range for {t} ({lo} to {hi})"))
        })?,
        (Lit::Int(v), CimType::Real32) => Value::Real32(*v as f32),
        (Lit::Int(v), CimType::Real64) => Value::Real64(*v as f64),
        (Lit::Real(v), CimType::Real32) => {
            if v.is_finite() && v.abs() > f32::MAX as f64 {
                return Err(bad(format!("{v} is out of range for real32")));
            }
            Value::Real32(*v as f32)
        }
        (Lit::Real(v), CimType::Real64) => Value::Real64(*v),
        (Lit::Str(s), CimType::Reference(_)) => {
            Value::Reference(ObjectPath::parse(s).map_err(|e| bad(e.to_string()))?)
        }
        (Lit::Alias(name, path), CimType::Reference(_)) => match path {
            Some(p) => Value::Reference(p.clone()),
            None => {
                return Err((
                    pos,
                    Error::Instance(format!(
                        "alias {name} is not defined by an earlier instance"
                    )),
                ))
            }
        },
        _ => return Err(mismatch()),
    })
}

fn ty_name(ty: &CimType) -> String {
    match ty {
        CimType::Reference(Some(c)) => format!("reference to {c}"),
        t => t.xml_name().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(t: &str) -> Lit {
        parse_number(t).unwrap()
    }

    #[test]
    fn integer_forms() {
        assert_eq!(n("42"), Lit::Int(42));
        assert_eq!(n("-42"), Lit::Int(-42));
        assert_eq!(n("+7"), Lit::Int(7));
        assert_eq!(n("0x1F"), Lit::Int(31));
        assert_eq!(n("-0X10"), Lit::Int(-16));
        assert_eq!(n("017"), Lit::Int(15));
        assert_eq!(n("-017"), Lit::Int(-15));
        assert_eq!(n("1010b"), Lit::Int(10));
        assert_eq!(n("-101B"), Lit::Int(-5));
        assert_eq!(n("0"), Lit::Int(0));
        assert!(parse_number("09").is_err());
        assert!(parse_number("0x").is_err());
        assert!(parse_number("12ab").is_err());
        assert!(parse_number("102b").is_err());
        assert!(parse_number("999999999999999999999999999999999999999999").is_err());
    }

    #[test]
    fn real_forms() {
        assert_eq!(n("-.5"), Lit::Real(-0.5));
        assert_eq!(n("6.02E+23"), Lit::Real(6.02e23));
        assert_eq!(n("1e-7"), Lit::Real(1e-7));
        assert_eq!(n("+3.25"), Lit::Real(3.25));
        assert!(parse_number("1.2.3").is_err());
        assert!(parse_number("1e999").is_err());
    }

    #[test]
    fn escapes() {
        assert_eq!(unescape(r#"a\tb\n\"q\"\\\'"#).unwrap(), "a\tb\n\"q\"\\'");
        assert_eq!(unescape(r"\x41\X263a!").unwrap(), "A\u{263a}!");
        assert_eq!(unescape(r"\b\f\r").unwrap(), "\u{8}\u{c}\r");
        assert!(unescape(r"\q").is_err());
        assert!(unescape(r"\xZ").is_err());
        assert!(unescape(r"\xD800").is_err());
    }

    #[test]
    fn conversions_check_types_and_ranges() {
        let sp = |lit| Spanned { lit, pos: 3 };
        assert_eq!(
            to_value(sp(Lit::Int(255)), &CimType::Uint8, false),
            Ok(Value::Uint8(255))
        );
        assert!(matches!(
            to_value(sp(Lit::Int(256)), &CimType::Uint8, false),
            Err((3, Error::BadLiteral(_)))
        ));
        assert!(matches!(
            to_value(sp(Lit::Str("x".into())), &CimType::Uint8, false),
            Err((3, Error::TypeMismatch(_)))
        ));
        assert_eq!(
            to_value(sp(Lit::Int(1)), &CimType::Sint32, true),
            Ok(Value::Array(vec![Value::Sint32(1)]))
        );
        assert!(to_value(sp(Lit::Str("2026".into())), &CimType::DateTime, false).is_err());
        assert_eq!(
            to_value(sp(Lit::Int(2)), &CimType::Real64, false),
            Ok(Value::Real64(2.0))
        );
        // Regression (fuzzing): a non-ASCII character at a URI-scheme offset
        // once panicked in cim::ObjectPath::parse; it is an ordinary path.
        let r = CimType::Reference(None);
        assert!(to_value(
            sp(Lit::Str("root/\u{fffd}\u{fffd}est:T.Name=\"x\"".into())),
            &r,
            false
        )
        .is_ok());
        assert!(to_value(
            sp(Lit::Str("root/test:T.Name=\"\u{e9}\"".into())),
            &r,
            false
        )
        .is_ok());
        assert!(to_value(sp(Lit::Str("http://h/root:T.k=1".into())), &r, false).is_ok());
    }
}
