//! The MOF printer: renders qualifier declarations, classes (their local
//! features only: whatever is not `propagated`) and instances as MOF that
//! compiles back to an equal model (tested on the whole CIM Schema).
//!
//! Choices that make the round trip exact: every qualifier value is written
//! out (booleans `TRUE` as the bare name), flavors are written on a qualifier
//! only where they differ from its declaration's, reals use Rust's shortest
//! round-trip form, strings escape `"`, `\` and control characters (`\x` with
//! four hex digits), references are written as WBEM URI strings.

use crate::Compiled;
use cim::{CimType, Class, Flavors, Instance, Qualifier, QualifierDecl, Scopes, Value};
use std::collections::HashMap;
use std::fmt::Write;

/// Printer state: the qualifier declarations, to omit default flavors.
#[derive(Default)]
pub struct Printer {
    decl_flavors: HashMap<String, Flavors>,
}

/// The whole compilation as one MOF document: qualifier declarations, classes
/// (superclasses first), instances.
pub fn to_mof(compiled: &Compiled) -> String {
    let mut p = Printer::default();
    let mut out = String::with_capacity(1 << 20);
    for q in &compiled.qualifiers {
        p.qualifier_decl(q, &mut out);
    }
    for c in &compiled.classes {
        p.class(c, &mut out);
    }
    for i in &compiled.instances {
        p.instance(i, &mut out);
    }
    out
}

/// The whole compilation as a DSP0201 `DECLARATION` document (the form
/// OpenPegasus' `cimmof --xml` writes):
///
/// ```text
/// <?xml version="1.0" encoding="utf-8" ?>
/// <CIM CIMVERSION="2.0" DTDVERSION="2.0"><DECLARATION><DECLGROUP>
/// <QUALIFIER.DECLARATION .../>            (one per line)
/// <VALUE.OBJECT><CLASS ...></VALUE.OBJECT>  (classes, then instances)
/// </DECLGROUP></DECLARATION></CIM>
/// ```
pub fn to_xml(compiled: &Compiled) -> String {
    let mut out: Vec<u8> = Vec::with_capacity(1 << 22);
    out.extend_from_slice(
        b"<?xml version=\"1.0\" encoding=\"utf-8\" ?>\n<CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\">\n<DECLARATION>\n<DECLGROUP>\n",
    );
    for q in &compiled.qualifiers {
        cim::xml::write_qualifier_decl(q, &mut out);
        out.push(b'\n');
    }
    for c in &compiled.classes {
        out.extend_from_slice(b"<VALUE.OBJECT>");
        cim::xml::write_class(c, &mut out);
        out.extend_from_slice(b"</VALUE.OBJECT>\n");
    }
    for i in &compiled.instances {
        out.extend_from_slice(b"<VALUE.OBJECT>");
        cim::xml::write_instance(i, &mut out);
        out.extend_from_slice(b"</VALUE.OBJECT>\n");
    }
    out.extend_from_slice(b"</DECLGROUP>\n</DECLARATION>\n</CIM>\n");
    // The writer escapes from &str input, so the bytes are UTF-8.
    String::from_utf8_lossy(&out).into_owned()
}

/// Appends a qualifier declaration.
pub fn qualifier_decl(q: &QualifierDecl, out: &mut String) {
    Printer::default().qualifier_decl(q, out)
}

/// Appends a class declaration (local features only).
pub fn class(c: &Class, out: &mut String) {
    Printer::default().class(c, out)
}

/// Appends an instance declaration.
pub fn instance(i: &Instance, out: &mut String) {
    Printer::default().instance(i, out)
}

impl Printer {
    /// Appends a qualifier declaration and remembers its flavors.
    pub fn qualifier_decl(&mut self, q: &QualifierDecl, out: &mut String) {
        self.decl_flavors.insert(q.name.to_lowercase(), q.flavors);
        let _ = write!(out, "Qualifier {} : {}", q.name, q.ty);
        if q.is_array {
            array_suffix(q.array_size, out);
        }
        if !q.default.is_null() {
            out.push_str(" = ");
            value(&q.default, out, 0);
        }
        out.push_str(",\n    Scope(");
        out.push_str(&scopes(&q.scopes));
        out.push(')');
        let f = q.flavors;
        let _ = write!(
            out,
            ",\n    Flavor({}, {}{}{});\n\n",
            if f.overridable {
                "EnableOverride"
            } else {
                "DisableOverride"
            },
            if f.to_subclass {
                "ToSubclass"
            } else {
                "Restricted"
            },
            if f.translatable { ", Translatable" } else { "" },
            if f.to_instance { ", ToInstance" } else { "" },
        );
    }

    fn qualifiers(&self, quals: &[Qualifier], indent: &str, out: &mut String) {
        let mut first = true;
        for q in quals.iter().filter(|q| !q.propagated) {
            if first {
                out.push_str(indent);
                out.push('[');
                first = false;
            } else {
                out.push_str(",\n ");
                out.push_str(indent);
            }
            out.push_str(q.name.as_str());
            match &q.value {
                Value::Boolean(true) if q.ty == CimType::Boolean => {}
                Value::Array(_) => {
                    out.push(' ');
                    value(&q.value, out, indent.len() + 3);
                }
                v => {
                    out.push_str(" (");
                    value(v, out, indent.len() + 3);
                    out.push(')');
                }
            }
            let decl = self.decl_flavors.get(&q.name.to_lowercase()).copied();
            if decl != Some(q.flavors) {
                // Without the declaration at hand, spell every flavor out.
                let known = decl.is_some();
                let d = decl.unwrap_or_default();
                let f = q.flavors;
                let mut words = Vec::new();
                if f.overridable != d.overridable || !known {
                    words.push(if f.overridable {
                        "EnableOverride"
                    } else {
                        "DisableOverride"
                    });
                }
                if f.to_subclass != d.to_subclass || !known {
                    words.push(if f.to_subclass {
                        "ToSubclass"
                    } else {
                        "Restricted"
                    });
                }
                if f.translatable && !d.translatable {
                    words.push("Translatable");
                }
                if f.to_instance && !d.to_instance {
                    words.push("ToInstance");
                }
                if !words.is_empty() {
                    out.push_str(" : ");
                    out.push_str(&words.join(" "));
                }
            }
        }
        if !first {
            out.push_str("]\n");
        }
    }

    /// Appends a class declaration (local features only).
    pub fn class(&self, c: &Class, out: &mut String) {
        self.qualifiers(&c.qualifiers, "", out);
        let _ = write!(out, "class {}", c.name);
        if let Some(s) = &c.superclass {
            let _ = write!(out, " : {s}");
        }
        out.push_str(" {\n");
        for p in c.properties.iter().filter(|p| !p.propagated) {
            out.push('\n');
            self.qualifiers(&p.qualifiers, "   ", out);
            out.push_str("   ");
            type_and_name(&p.ty, p.name.as_str(), out);
            if p.is_array {
                array_suffix(p.array_size, out);
            }
            if !p.value.is_null() {
                out.push_str(" = ");
                value(&p.value, out, 6);
            }
            out.push_str(";\n");
        }
        for m in c.methods.iter().filter(|m| !m.propagated) {
            out.push('\n');
            self.qualifiers(&m.qualifiers, "   ", out);
            out.push_str("   ");
            type_and_name(&m.return_type, m.name.as_str(), out);
            out.push('(');
            for (i, p) in m.parameters.iter().enumerate() {
                out.push_str(if i == 0 { "\n" } else { ",\n" });
                self.qualifiers(&p.qualifiers, "      ", out);
                out.push_str("      ");
                type_and_name(&p.ty, p.name.as_str(), out);
                if p.is_array {
                    array_suffix(p.array_size, out);
                }
            }
            out.push_str(");\n");
        }
        out.push_str("};\n\n");
    }

    /// Appends an instance declaration.
    pub fn instance(&self, i: &Instance, out: &mut String) {
        self.qualifiers(&i.qualifiers, "", out);
        self.instance_body(i, "", out);
        out.push_str(";\n\n");
    }

    fn instance_body(&self, i: &Instance, indent: &str, out: &mut String) {
        let _ = writeln!(out, "instance of {} {{", i.class_name);
        let inner = format!("{indent}   ");
        for p in &i.properties {
            self.qualifiers(&p.qualifiers, &inner, out);
            let _ = write!(out, "{inner}{} = ", p.name);
            match &p.value {
                Value::Instance(e) => self.instance_body(e, &inner, out),
                Value::Array(items) if items.iter().any(|v| matches!(v, Value::Instance(_))) => {
                    out.push('{');
                    for (n, v) in items.iter().enumerate() {
                        if n > 0 {
                            out.push_str(", ");
                        }
                        match v {
                            Value::Instance(e) => self.instance_body(e, &inner, out),
                            other => value(other, out, inner.len()),
                        }
                    }
                    out.push('}');
                }
                v => value(v, out, inner.len() + 3),
            }
            out.push_str(";\n");
        }
        out.push_str(indent);
        out.push('}');
    }
}

fn array_suffix(size: Option<u32>, out: &mut String) {
    match size {
        Some(n) => {
            let _ = write!(out, "[{n}]");
        }
        None => out.push_str("[]"),
    }
}

fn type_and_name(ty: &CimType, name: &str, out: &mut String) {
    match ty {
        CimType::Reference(Some(c)) => {
            let _ = write!(out, "{c} REF {name}");
        }
        // An untyped reference cannot be written in MOF; the root class is the closest.
        CimType::Reference(None) => {
            let _ = write!(out, "CIM_ManagedElement REF {name}");
        }
        CimType::EmbeddedObject | CimType::EmbeddedInstance => {
            let _ = write!(out, "string {name}");
        }
        t => {
            let _ = write!(out, "{} {name}", t.xml_name());
        }
    }
}

fn scopes(s: &Scopes) -> String {
    if s.is_any() {
        return "any".into();
    }
    let mut v = Vec::new();
    for (on, name) in [
        (s.class, "class"),
        (s.association, "association"),
        (s.indication, "indication"),
        (s.property, "property"),
        (s.reference, "reference"),
        (s.method, "method"),
        (s.parameter, "parameter"),
    ] {
        if on {
            v.push(name);
        }
    }
    v.join(", ")
}

/// Writes a value; long string arrays are broken over lines at `indent`.
fn value(v: &Value, out: &mut String, indent: usize) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Boolean(b) => out.push_str(if *b { "TRUE" } else { "FALSE" }),
        Value::Char16(c) => {
            out.push('\'');
            escape_char(*c, '\'', out);
            out.push('\'');
        }
        Value::String(s) => string(s, out),
        Value::DateTime(d) => string(d.as_str(), out),
        Value::Uint8(n) => push_display(n, out),
        Value::Sint8(n) => push_display(n, out),
        Value::Uint16(n) => push_display(n, out),
        Value::Sint16(n) => push_display(n, out),
        Value::Uint32(n) => push_display(n, out),
        Value::Sint32(n) => push_display(n, out),
        Value::Uint64(n) => push_display(n, out),
        Value::Sint64(n) => push_display(n, out),
        Value::Real32(r) => real(format!("{r:?}"), out),
        Value::Real64(r) => real(format!("{r:?}"), out),
        Value::Reference(p) => string(&p.to_string(), out),
        Value::Instance(i) => {
            // Embedded instances outside instance bodies: rendered inline.
            let mut s = String::new();
            Printer::default().instance_body(i, "", &mut s);
            out.push_str(&s);
        }
        // An embedded class has no MOF value syntax; its MOF text as a string.
        Value::Class(c) => {
            let mut s = String::new();
            class(c, &mut s);
            string(&s, out);
        }
        Value::Array(items) => {
            out.push('{');
            let long = items.len() > 1 && items.iter().any(|i| matches!(i, Value::String(_)));
            for (n, it) in items.iter().enumerate() {
                if n > 0 {
                    out.push_str(", ");
                    if long {
                        out.push('\n');
                        out.push_str(&" ".repeat(indent));
                    }
                }
                value(it, out, indent);
            }
            out.push('}');
        }
    }
}

fn push_display(n: &dyn std::fmt::Display, out: &mut String) {
    let _ = write!(out, "{n}");
}

/// Reals always carry a `.` or exponent so they are read back as reals.
fn real(s: String, out: &mut String) {
    match s.as_str() {
        "NaN" | "inf" | "-inf" => out.push_str("null"),
        _ => out.push_str(&s),
    }
}

/// A string literal with escapes.
fn string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        escape_char(c, '"', out);
    }
    out.push('"');
}

fn escape_char(c: char, quote: char, out: &mut String) {
    match c {
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\t' => out.push_str("\\t"),
        '\r' => out.push_str("\\r"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        c if c == quote => {
            out.push('\\');
            out.push(c);
        }
        c if (c as u32) < 0x20 || c == '\u{7f}' => {
            let _ = write!(out, "\\x{:04X}", c as u32);
        }
        c => out.push(c),
    }
}
