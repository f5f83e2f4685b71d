//! Object paths: namespace, class and key bindings, and their WBEM URI text form
//! (DSP0207 untyped form: `//host/root/cimv2:CIM_Foo.Name="a",Num=5`).

use crate::name::CimName;
use crate::value::Value;
use std::fmt;

/// One key property and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyBinding {
    /// Key property name.
    pub name: CimName,
    /// Key value: a string, boolean, number, datetime or reference.
    pub value: Value,
}

/// The path of a class (no keys) or of an instance (with keys).
#[derive(Debug, Clone, Default)]
pub struct ObjectPath {
    /// Host (`host[:port]`), if the path is absolute.
    pub host: Option<String>,
    /// Namespace such as `root/cimv2`, without a leading slash.
    pub namespace: Option<String>,
    /// Class name.
    pub class_name: CimName,
    /// Key bindings (empty for a class path or a singleton).
    pub keys: Vec<KeyBinding>,
}

/// A WBEM URI that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid object path {text:?}: {reason}")]
pub struct PathParseError {
    /// The text (truncated to 200 characters).
    pub text: String,
    /// What is wrong.
    pub reason: &'static str,
}

impl ObjectPath {
    /// A path to a class (or to the keyless singleton instance).
    pub fn class(namespace: Option<&str>, class_name: impl Into<CimName>) -> Self {
        ObjectPath {
            host: None,
            namespace: namespace.map(normalize_namespace),
            class_name: class_name.into(),
            keys: Vec::new(),
        }
    }

    /// Adds a key binding (builder style).
    pub fn with_key(mut self, name: impl Into<CimName>, value: Value) -> Self {
        self.keys.push(KeyBinding {
            name: name.into(),
            value,
        });
        self
    }

    /// The value bound to a key.
    pub fn key(&self, name: &str) -> Option<&Value> {
        self.keys.iter().find(|k| k.name.is(name)).map(|k| &k.value)
    }

    /// The string value bound to a key.
    pub fn key_str(&self, name: &str) -> Option<&str> {
        self.key(name).and_then(Value::as_str)
    }

    /// A copy without host and namespace (a DSP0201 `INSTANCENAME`).
    pub fn local(&self) -> ObjectPath {
        ObjectPath {
            host: None,
            namespace: None,
            class_name: self.class_name.clone(),
            keys: self.keys.clone(),
        }
    }

    /// A canonical text that is equal for equal paths regardless of key order
    /// and name case: the storage key of an instance within its namespace.
    pub fn canonical_key(&self) -> String {
        let mut keys: Vec<(String, String)> = self
            .keys
            .iter()
            .map(|k| (k.name.to_lowercase(), key_value_text(&k.value, true)))
            .collect();
        keys.sort();
        let mut s = self.class_name.to_lowercase();
        for (i, (n, v)) in keys.iter().enumerate() {
            s.push(if i == 0 { '.' } else { ',' });
            s.push_str(n);
            s.push('=');
            s.push_str(v);
        }
        s
    }

    /// Parses a WBEM URI: an optional scheme (`http:`, `https:`), an optional
    /// `//host`, an optional namespace followed by `:`, the class name, and
    /// optional key bindings after `.` (or `.=` for singletons... written `Class.@`
    /// in DSP0207 is not used here; a keyless path is just the class name).
    pub fn parse(text: &str) -> Result<ObjectPath, PathParseError> {
        let err = |reason| PathParseError {
            text: text.chars().take(200).collect(),
            reason,
        };
        let mut rest = text.trim();
        for scheme in ["http:", "https:", "cimxml.wbem:", "cimxml.wbems:"] {
            // `get` rather than slicing: the prefix may end inside a multi-byte character.
            if rest
                .get(..scheme.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(scheme))
            {
                rest = &rest[scheme.len()..];
            }
        }
        let mut host = None;
        if let Some(after) = rest.strip_prefix("//") {
            let end = after
                .find('/')
                .ok_or_else(|| err("host without namespace"))?;
            host = Some(after[..end].to_owned());
            rest = &after[end..];
        }
        // The namespace ends at the first ':' that precedes the class name; a
        // ':' inside key values comes after the first '.', so split there first.
        let head_end = rest.find('.').unwrap_or(rest.len());
        let (namespace, class_and_keys) = match rest[..head_end].rfind(':') {
            Some(colon) => (
                Some(normalize_namespace(&rest[..colon])),
                &rest[colon + 1..],
            ),
            None => (None, rest),
        };
        let (class_name, key_text) = match class_and_keys.find('.') {
            Some(dot) => (&class_and_keys[..dot], Some(&class_and_keys[dot + 1..])),
            None => (class_and_keys, None),
        };
        if class_name.is_empty() || !is_identifier(class_name) {
            return Err(err("missing or malformed class name"));
        }
        let mut keys = Vec::new();
        if let Some(kt) = key_text {
            let mut p = KeyParser {
                s: kt.as_bytes(),
                pos: 0,
                text: kt,
            };
            loop {
                let name = p
                    .identifier()
                    .ok_or_else(|| err("malformed key name"))?
                    .to_owned();
                if !p.eat(b'=') {
                    return Err(err("expected '=' after key name"));
                }
                let value = p.value().map_err(err)?;
                keys.push(KeyBinding {
                    name: CimName::new(name),
                    value,
                });
                if p.pos == p.s.len() {
                    break;
                }
                if !p.eat(b',') {
                    return Err(err("expected ',' between key bindings"));
                }
            }
        }
        Ok(ObjectPath {
            host,
            namespace: namespace.filter(|n| !n.is_empty()),
            class_name: CimName::new(class_name),
            keys,
        })
    }
}

impl PartialEq for ObjectPath {
    /// Paths are equal when namespace (case-insensitively), class and the set
    /// of key bindings agree; the host is not compared.
    fn eq(&self, other: &Self) -> bool {
        let ns_eq = match (&self.namespace, &other.namespace) {
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            (None, None) => true,
            _ => false,
        };
        ns_eq && self.canonical_key() == other.canonical_key()
    }
}

fn normalize_namespace(ns: &str) -> String {
    ns.trim_matches('/').to_owned()
}

fn is_identifier(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80)
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn key_value_text(v: &Value, canonical: bool) -> String {
    match v {
        Value::String(s) => quote(s),
        Value::Char16(c) => quote(&c.to_string()),
        Value::DateTime(d) => quote(d.as_str()),
        Value::Reference(p) => {
            let inner = if canonical {
                p.canonical_key()
            } else {
                p.to_string()
            };
            quote(&inner)
        }
        Value::Null => "NULL".to_owned(),
        other => other.to_xml_text().unwrap_or_default(),
    }
}

impl fmt::Display for ObjectPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(h) = &self.host {
            write!(f, "//{h}/")?;
        } else if self.namespace.is_some() {
            f.write_str("/")?;
        }
        if let Some(ns) = &self.namespace {
            write!(f, "{ns}:")?;
        }
        f.write_str(self.class_name.as_str())?;
        for (i, k) in self.keys.iter().enumerate() {
            f.write_str(if i == 0 { "." } else { "," })?;
            write!(f, "{}={}", k.name, key_value_text(&k.value, false))?;
        }
        Ok(())
    }
}

struct KeyParser<'a> {
    s: &'a [u8],
    pos: usize,
    text: &'a str,
}

impl KeyParser<'_> {
    fn eat(&mut self, b: u8) -> bool {
        if self.s.get(self.pos) == Some(&b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn identifier(&mut self) -> Option<&str> {
        let start = self.pos;
        while self
            .s
            .get(self.pos)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b >= 0x80)
        {
            self.pos += 1;
        }
        (self.pos > start).then(|| &self.text[start..self.pos])
    }

    fn value(&mut self) -> Result<Value, &'static str> {
        if self.eat(b'"') {
            let mut out = Vec::new();
            loop {
                match self.s.get(self.pos) {
                    None => return Err("unterminated string key value"),
                    Some(b'\\') => {
                        let next = *self.s.get(self.pos + 1).ok_or("dangling backslash")?;
                        out.push(next);
                        self.pos += 2;
                    }
                    Some(b'"') => {
                        self.pos += 1;
                        break;
                    }
                    Some(&b) => {
                        out.push(b);
                        self.pos += 1;
                    }
                }
            }
            let s = String::from_utf8(out).map_err(|_| "key value is not UTF-8")?;
            // A quoted value that parses as a path with keys is a reference (DSP0207 §6).
            if s.contains('=') && s.contains('.') {
                if let Ok(p) = ObjectPath::parse(&s) {
                    if !p.keys.is_empty() {
                        return Ok(Value::Reference(p));
                    }
                }
            }
            return Ok(Value::String(s));
        }
        let start = self.pos;
        while self.s.get(self.pos).is_some_and(|b| *b != b',') {
            self.pos += 1;
        }
        let t = &self.text[start..self.pos];
        if t.eq_ignore_ascii_case("true") {
            Ok(Value::Boolean(true))
        } else if t.eq_ignore_ascii_case("false") {
            Ok(Value::Boolean(false))
        } else if let Some(v) = crate::value::parse_integer(t) {
            Ok(if v < 0 {
                Value::Sint64(v as i64)
            } else {
                Value::Uint64(v as u64)
            })
        } else if let Some(r) = crate::value::parse_real(t) {
            Ok(Value::Real64(r))
        } else {
            Err("unquoted key value is neither boolean nor number")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_wbem_uris() {
        let p = ObjectPath::parse(
            r#"//acme:5988/root/cimv2:DS_IISet.shadowVolume="/v/s\"1",setType="dependent""#,
        )
        .unwrap();
        assert_eq!(p.host.as_deref(), Some("acme:5988"));
        assert_eq!(p.namespace.as_deref(), Some("root/cimv2"));
        assert_eq!(p.class_name, CimName::new("ds_iiset"));
        assert_eq!(p.key_str("SHADOWVOLUME"), Some("/v/s\"1"));
        let again = ObjectPath::parse(&p.to_string()).unwrap();
        assert_eq!(p, again);
        let n = ObjectPath::parse("root/cimv2:CIM_X.a=5,b=TRUE,c=-3").unwrap();
        assert_eq!(n.key("a"), Some(&Value::Uint64(5)));
        assert_eq!(n.key("b"), Some(&Value::Boolean(true)));
        assert_eq!(n.key("c"), Some(&Value::Sint64(-3)));
        assert!(ObjectPath::parse("root/cimv2:").is_err());
        assert!(ObjectPath::parse("X.a=\"unterminated").is_err());
        // Non-ASCII text where a scheme could end must not panic (found by fuzzing).
        for text in ["abcdé", "abcdeé", "cimxml.wbeé:x", "ééééééé", "httpé"] {
            let _ = ObjectPath::parse(text);
        }
    }

    #[test]
    fn references_nest_and_compare_unordered() {
        let inner = ObjectPath::class(Some("root/cimv2"), "DS_IIGroup")
            .with_key("groupName", Value::String("g1".into()));
        let outer = ObjectPath::class(Some("root/cimv2"), "DS_IIGroupSetAssoc")
            .with_key("groups", Value::Reference(inner.clone()))
            .with_key("groupedby", Value::String("x".into()));
        let parsed = ObjectPath::parse(&outer.to_string()).unwrap();
        assert_eq!(parsed.key("groups"), Some(&Value::Reference(inner)));
        let mut swapped = outer.clone();
        swapped.keys.reverse();
        assert_eq!(outer, swapped);
    }
}
