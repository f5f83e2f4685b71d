//! Reading values: `VALUE`, `VALUE.ARRAY`, `VALUE.REFERENCE`, `VALUE.REFARRAY`,
//! and the embedded instances and classes a string `VALUE` may carry.

use super::parser::{lossy, Elem, Parser, Result};
use crate::error::Error;
use crate::path::ObjectPath;
use crate::types::CimType;
use crate::value::Value;
use crate::xml::Limits;

impl<'a> Parser<'a> {
    /// Converts the text of a `VALUE` to a value of `ty`.
    pub(super) fn typed_value(&self, e: &Elem<'_>, text: &str, ty: &CimType) -> Result<Value> {
        match ty {
            CimType::EmbeddedObject | CimType::EmbeddedInstance => self.embedded(e, text, ty),
            _ => Value::parse_scalar(text, ty).map_err(|err| self.err(e, err.to_string())),
        }
    }

    /// Decodes escaped `INSTANCE`/`CLASS` XML carried in a string value, with
    /// what is left of the depth and element budgets.
    pub(super) fn embedded(&self, e: &Elem<'_>, text: &str, ty: &CimType) -> Result<Value> {
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        let limits = Limits {
            max_depth: self.limits.max_depth.saturating_sub(self.depth),
            max_elements: self.limits.max_elements.saturating_sub(self.elements),
            max_bytes: self.limits.max_bytes,
        };
        let wrap = |inner: Error| match inner {
            Error::Limit { .. } => inner,
            other => self.err(e, format!("embedded object: {other}")),
        };
        let mut p = Parser::new(text, &limits);
        let root = p.root().map_err(wrap)?;
        let v = match (root.name, ty) {
            (b"INSTANCE", _) => Value::Instance(Box::new(p.parse_instance(&root).map_err(wrap)?)),
            (b"CLASS", CimType::EmbeddedObject) => {
                Value::Class(Box::new(p.parse_class(&root).map_err(wrap)?))
            }
            _ => {
                return Err(self.err(
                    e,
                    format!(
                        "embedded object holds <{}>, expected {}",
                        lossy(root.name),
                        if *ty == CimType::EmbeddedObject {
                            "INSTANCE or CLASS"
                        } else {
                            "INSTANCE"
                        }
                    ),
                ))
            }
        };
        p.finish().map_err(wrap)?;
        Ok(v)
    }

    /// `<!ELEMENT VALUE (#PCDATA)>` converted to `ty`.
    pub(super) fn parse_value(&mut self, e: &Elem<'a>, ty: &CimType) -> Result<Value> {
        self.expect(e, "VALUE")?;
        let text = self.text()?;
        if *ty == CimType::String {
            // The common case: no conversion, and no second copy of owned text.
            return Ok(Value::String(text.into_owned()));
        }
        self.typed_value(e, &text, ty)
    }

    /// `<!ELEMENT VALUE.ARRAY (VALUE|VALUE.NULL)*>` converted to `ty`.
    pub(super) fn parse_value_array(&mut self, e: &Elem<'a>, ty: &CimType) -> Result<Vec<Value>> {
        self.expect(e, "VALUE.ARRAY")?;
        let mut items = Vec::new();
        while let Some(c) = self.child()? {
            match c.name {
                b"VALUE" => items.push(self.parse_value(&c, ty)?),
                b"VALUE.NULL" => {
                    self.no_children(&c)?;
                    items.push(Value::Null)
                }
                _ => return Err(self.err(&c, "not allowed in VALUE.ARRAY")),
            }
        }
        Ok(items)
    }

    /// `VALUE.ARRAY` of untyped strings (`None` for `VALUE.NULL`).
    pub(super) fn parse_string_array(&mut self, e: &Elem<'a>) -> Result<Vec<Option<String>>> {
        self.expect(e, "VALUE.ARRAY")?;
        let mut items = Vec::new();
        while let Some(c) = self.child()? {
            match c.name {
                b"VALUE" => items.push(Some(self.text()?.into_owned())),
                b"VALUE.NULL" => {
                    self.no_children(&c)?;
                    items.push(None)
                }
                _ => return Err(self.err(&c, "not allowed in VALUE.ARRAY")),
            }
        }
        Ok(items)
    }

    /// `<!ELEMENT VALUE.REFERENCE (CLASSPATH|LOCALCLASSPATH|CLASSNAME|
    /// INSTANCEPATH|LOCALINSTANCEPATH|INSTANCENAME)>`
    pub(in crate::xml) fn parse_value_reference(&mut self, e: &Elem<'a>) -> Result<ObjectPath> {
        self.expect(e, "VALUE.REFERENCE")?;
        let c = self.required_child(e, "path element")?;
        let p = self.parse_any_path(&c)?;
        self.no_children(e)?;
        Ok(p)
    }

    /// `<!ELEMENT VALUE.REFARRAY (VALUE.REFERENCE|VALUE.NULL)*>`
    pub(super) fn parse_value_refarray(&mut self, e: &Elem<'a>) -> Result<Vec<Value>> {
        let mut items = Vec::new();
        while let Some(c) = self.child()? {
            match c.name {
                b"VALUE.REFERENCE" => items.push(Value::Reference(self.parse_value_reference(&c)?)),
                b"VALUE.NULL" => {
                    self.no_children(&c)?;
                    items.push(Value::Null)
                }
                _ => return Err(self.err(&c, format!("not allowed in <{}>", lossy(e.name)))),
            }
        }
        Ok(items)
    }
}
