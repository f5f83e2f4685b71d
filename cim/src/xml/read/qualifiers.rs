//! Reading qualifiers: `QUALIFIER` with its flavors, and
//! `QUALIFIER.DECLARATION` with its `SCOPE`.

use super::parser::{Elem, Parser, Result};
use crate::name::CimName;
use crate::qualifier::{Flavors, Qualifier, QualifierDecl, Scopes};
use crate::value::Value;

impl<'a> Parser<'a> {
    pub(super) fn flavors(&self, e: &Elem<'_>, a: [Option<&str>; 4]) -> Result<Flavors> {
        let d = Flavors::default();
        Ok(Flavors {
            overridable: self.bool_attr(e, "OVERRIDABLE", a[0], d.overridable)?,
            to_subclass: self.bool_attr(e, "TOSUBCLASS", a[1], d.to_subclass)?,
            to_instance: self.bool_attr(e, "TOINSTANCE", a[2], d.to_instance)?,
            translatable: self.bool_attr(e, "TRANSLATABLE", a[3], d.translatable)?,
        })
    }

    /// `<!ELEMENT QUALIFIER ((VALUE|VALUE.ARRAY)?)> <!ATTLIST QUALIFIER %CIMName;
    /// %CIMType; #REQUIRED %Propagated; %QualifierFlavor; xml:lang>`
    pub(super) fn parse_qualifier(&mut self, e: &Elem<'a>) -> Result<Qualifier> {
        let [name, ty, prop, ov, ts, ti, tr] = self.attrs(
            e,
            [
                "NAME",
                "TYPE",
                "PROPAGATED",
                "OVERRIDABLE",
                "TOSUBCLASS",
                "TOINSTANCE",
                "TRANSLATABLE",
            ],
        )?;
        let name = CimName::from(
            name.ok_or_else(|| self.err(e, "missing attribute NAME"))?
                .into_owned(),
        );
        let ty = self.type_attr(e, ty.as_deref(), "TYPE")?;
        let propagated = self.bool_attr(e, "PROPAGATED", prop.as_deref(), false)?;
        let flavors = self.flavors(
            e,
            [ov.as_deref(), ts.as_deref(), ti.as_deref(), tr.as_deref()],
        )?;
        let mut value = Value::Null;
        if let Some(c) = self.child()? {
            value = match c.name {
                b"VALUE" => self.parse_value(&c, &ty)?,
                b"VALUE.ARRAY" => Value::Array(self.parse_value_array(&c, &ty)?),
                _ => return Err(self.err(&c, "not allowed in QUALIFIER")),
            };
            self.no_children(e)?;
        }
        Ok(Qualifier {
            name,
            ty,
            value,
            propagated,
            flavors,
        })
    }

    /// `<!ELEMENT QUALIFIER.DECLARATION (SCOPE?,(VALUE|VALUE.ARRAY)?)>
    /// <!ATTLIST QUALIFIER.DECLARATION %CIMName; %CIMType; #REQUIRED ISARRAY
    /// %ArraySize; %QualifierFlavor;>`
    pub(in crate::xml) fn parse_qualifier_decl(&mut self, e: &Elem<'a>) -> Result<QualifierDecl> {
        self.expect(e, "QUALIFIER.DECLARATION")?;
        let [name, ty, isarray, size, ov, ts, ti, tr] = self.attrs(
            e,
            [
                "NAME",
                "TYPE",
                "ISARRAY",
                "ARRAYSIZE",
                "OVERRIDABLE",
                "TOSUBCLASS",
                "TOINSTANCE",
                "TRANSLATABLE",
            ],
        )?;
        let name = CimName::from(
            name.ok_or_else(|| self.err(e, "missing attribute NAME"))?
                .into_owned(),
        );
        let ty = self.type_attr(e, ty.as_deref(), "TYPE")?;
        let mut is_array = self.bool_attr(e, "ISARRAY", isarray.as_deref(), false)?;
        let array_size = self.array_size_attr(e, size.as_deref())?;
        let flavors = self.flavors(
            e,
            [ov.as_deref(), ts.as_deref(), ti.as_deref(), tr.as_deref()],
        )?;
        let mut scopes = Scopes::default();
        let mut default = Value::Null;
        let mut seen_value = false;
        while let Some(c) = self.child()? {
            match c.name {
                b"SCOPE" if !seen_value => {
                    scopes = self.parse_scope(&c)?;
                }
                b"VALUE" if !seen_value => {
                    default = self.parse_value(&c, &ty)?;
                    seen_value = true;
                }
                b"VALUE.ARRAY" if !seen_value => {
                    default = Value::Array(self.parse_value_array(&c, &ty)?);
                    is_array = true;
                    seen_value = true;
                }
                _ => return Err(self.err(&c, "not allowed in QUALIFIER.DECLARATION")),
            }
        }
        Ok(QualifierDecl {
            name,
            ty,
            is_array,
            array_size,
            default,
            scopes,
            flavors,
        })
    }

    /// `<!ELEMENT SCOPE EMPTY> <!ATTLIST SCOPE CLASS ASSOCIATION REFERENCE
    /// PROPERTY METHOD PARAMETER INDICATION (true|false) "false">`
    pub(super) fn parse_scope(&mut self, e: &Elem<'a>) -> Result<Scopes> {
        let a = self.attrs(
            e,
            [
                "CLASS",
                "ASSOCIATION",
                "REFERENCE",
                "PROPERTY",
                "METHOD",
                "PARAMETER",
                "INDICATION",
            ],
        )?;
        let b = |i: usize, n: &str| self.bool_attr(e, n, a[i].as_deref(), false);
        let s = Scopes {
            class: b(0, "CLASS")?,
            association: b(1, "ASSOCIATION")?,
            reference: b(2, "REFERENCE")?,
            property: b(3, "PROPERTY")?,
            method: b(4, "METHOD")?,
            parameter: b(5, "PARAMETER")?,
            indication: b(6, "INDICATION")?,
        };
        self.no_children(e)?;
        Ok(s)
    }
}
