//! Reading names and paths: `CLASSNAME`, `INSTANCENAME` with its key bindings,
//! the (local) namespace, class and instance paths and `OBJECTPATH`.

use super::parser::{Elem, Parser, Result};
use crate::name::CimName;
use crate::path::{KeyBinding, ObjectPath};
use crate::types::CimType;
use crate::value::{parse_integer, parse_real, Value};
use std::borrow::Cow;

impl<'a> Parser<'a> {
    /// Any of the path elements a `VALUE.REFERENCE` may hold.
    pub(in crate::xml) fn parse_any_path(&mut self, e: &Elem<'a>) -> Result<ObjectPath> {
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
    pub(in crate::xml) fn parse_object_path(&mut self, e: &Elem<'a>) -> Result<ObjectPath> {
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
    pub(in crate::xml) fn parse_class_name(&mut self, e: &Elem<'a>) -> Result<CimName> {
        self.expect(e, "CLASSNAME")?;
        let n = self.name_attr(e, "NAME")?;
        self.no_children(e)?;
        Ok(n)
    }

    /// `<!ELEMENT NAMESPACEPATH (HOST,LOCALNAMESPACEPATH)>` → (host, namespace)
    pub(super) fn parse_namespace_path(&mut self, e: &Elem<'a>) -> Result<(String, String)> {
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
    pub(in crate::xml) fn parse_local_namespace_path(&mut self, e: &Elem<'a>) -> Result<String> {
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
    pub(in crate::xml) fn parse_instance_path(&mut self, e: &Elem<'a>) -> Result<ObjectPath> {
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
    pub(in crate::xml) fn parse_local_instance_path(&mut self, e: &Elem<'a>) -> Result<ObjectPath> {
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
    pub(super) fn parse_class_path(&mut self, e: &Elem<'a>) -> Result<ObjectPath> {
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
    pub(in crate::xml) fn parse_local_class_path(&mut self, e: &Elem<'a>) -> Result<ObjectPath> {
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
    pub(in crate::xml) fn parse_instance_name(&mut self, e: &Elem<'a>) -> Result<ObjectPath> {
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
    pub(super) fn parse_key_binding(&mut self, e: &Elem<'a>) -> Result<KeyBinding> {
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
    pub(super) fn parse_key_value(&mut self, e: &Elem<'a>) -> Result<Value> {
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
}
